package secrets

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func testKeyring(t *testing.T) *Keyring {
	t.Helper()
	k, err := NewKeyring([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestNewKeyring_refusesShortKeys(t *testing.T) {
	if _, err := NewKeyring([]byte("short")); err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Fatalf("err = %v, want a message naming the minimum length", err)
	}
}

func TestSeal_isDeterministicHidesTheValueAndOpensOnlyInItsNamespace(t *testing.T) {
	k := testKeyring(t)
	m1, _ := k.Seal("shop", "hunter2")
	m2, _ := k.Seal("shop", "hunter2")
	if m1 != m2 {
		t.Fatalf("sealing twice gave %q and %q: replays would differ", m1, m2)
	}
	if strings.Contains(m1, "hunter2") || !IsMarker(m1) {
		t.Fatalf("marker %q", m1)
	}
	if o, err := k.Open("shop", m1); err != nil || o.Value != "hunter2" || o.Name != "" {
		t.Fatalf("Open = %+v, %v", o, err)
	}
	if _, err := k.Open("other", m1); !errors.Is(err, ErrNotSealed) {
		t.Fatalf("opening in another namespace: err = %v, want ErrNotSealed", err)
	}
	other, _ := NewKeyring([]byte("another key of enough bytes, 32+"))
	if _, err := other.Open("shop", m1); !errors.Is(err, ErrNotSealed) {
		t.Fatalf("opening with another key: err = %v, want ErrNotSealed", err)
	}
	again, _ := k.Seal("shop", m1)
	if again != m1 {
		t.Fatal("sealing a marker sealed it twice")
	}
}

func TestOpen_refusesForgedAndDamagedMarkers(t *testing.T) {
	k := testKeyring(t)
	ref, _ := k.Ref("shop", "TOKEN")
	for _, s := range []string{
		"[[relay-secret:]]",
		"[[relay-secret:bm90IHNlYWxlZA]]",
		ref[:len(ref)-4] + "AAAA]]",
		"plain text",
	} {
		if _, err := k.Open("shop", s); !errors.Is(err, ErrNotSealed) {
			t.Errorf("Open(%q): err = %v, want ErrNotSealed", s, err)
		}
	}
}

func TestResolve_replacesMarkersInNestedValuesAndMasksThemAgain(t *testing.T) {
	k := testKeyring(t)
	ref, _ := k.Ref("shop", "TOKEN")
	val, _ := k.Seal("shop", "hunter2")
	props := map[string]any{
		"uri":     "https://x/?t=" + ref,
		"headers": map[string]any{"Authorization": "Bearer " + ref},
		"list":    []any{val, int64(3), "plain"},
	}
	lookups := 0
	out, m, err := k.Resolve(context.Background(), "shop", props, func(_ context.Context, ns, name string) (string, error) {
		lookups++
		if ns != "shop" || name != "TOKEN" {
			t.Errorf("lookup(%s, %s)", ns, name)
		}
		return "s3cr3t-token", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := out.(map[string]any)
	if got["uri"] != "https://x/?t=s3cr3t-token" || got["headers"].(map[string]any)["Authorization"] != "Bearer s3cr3t-token" || got["list"].([]any)[0] != "hunter2" {
		t.Fatalf("resolved = %#v", got)
	}
	if lookups != 1 {
		t.Errorf("looked the same secret up %d times", lookups)
	}
	if props["uri"] != "https://x/?t="+ref {
		t.Error("Resolve changed its input")
	}
	if s := m.Text("token s3cr3t-token, pw hunter2, ref " + ref); s != "token ******, pw ******, ref ******" {
		t.Errorf("masked = %q", s)
	}
	masked := m.Value(map[string]any{"out": []any{"x hunter2"}}).(map[string]any)
	if masked["out"].([]any)[0] != "x ******" {
		t.Errorf("masked value = %#v", masked)
	}
}

func TestResolve_reportsMissingSecretsAndForgedMarkers(t *testing.T) {
	k := testKeyring(t)
	ref, _ := k.Ref("shop", "NOPE")
	_, _, err := k.Resolve(context.Background(), "shop", "x "+ref, func(context.Context, string, string) (string, error) {
		return "", ErrNotFound
	})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "NOPE") {
		t.Fatalf("err = %v", err)
	}
	foreign, _ := k.Ref("other", "X")
	if _, _, err := k.Resolve(context.Background(), "shop", foreign, nil); !errors.Is(err, ErrNotSealed) {
		t.Fatalf("a marker of another namespace: err = %v", err)
	}
}

func TestMaskValue_hidesMarkersAndLeavesTheRest(t *testing.T) {
	k := testKeyring(t)
	ref, _ := k.Ref("shop", "TOKEN")
	in := map[string]any{"a": "pw=" + ref + "!", "b": int64(1), "c": []any{ref}}
	out := MaskMap(in)
	if out["a"] != "pw=******!" || out["c"].([]any)[0] != Mask || out["b"] != int64(1) {
		t.Fatalf("masked = %#v", out)
	}
	if in["a"] == out["a"] {
		t.Fatal("MaskMap changed its input")
	}
	plain := map[string]any{"a": "x"}
	if got := MaskMap(plain); got["a"] != "x" {
		t.Fatal("plain map changed")
	}
}

func TestRef_refusesNamesThatLeaveTheNamespace(t *testing.T) {
	k := testKeyring(t)
	for _, name := range []string{"", "../other/X", "a/b", ".hidden"} {
		if _, err := k.Ref("shop", name); err == nil {
			t.Errorf("Ref(%q) accepted", name)
		}
	}
	if _, err := k.Ref("shop", "DB_PASSWORD.v2"); err != nil {
		t.Error(err)
	}
}

func TestMasker_hidesEachLineOfAMultiLineSecretAndItsJSONForm(t *testing.T) {
	m := NewMasker("-----BEGIN KEY-----\nMIIEv0AB\n-----END KEY-----", `pa"ss\word`)
	for in, want := range map[string]string{
		"MIIEv0AB":                      Mask,
		"key: -----END KEY-----":        "key: " + Mask,
		`{"pw": "pa\"ss\\word"}`:        `{"pw": "` + Mask + `"}`,
		`pa"ss\word`:                    Mask,
		"nothing secret in this line":   "nothing secret in this line",
		"-----BEGIN KEY-----\nMIIEv0AB": Mask + "\n" + Mask,
	} {
		if got := m.Text(in); got != want {
			t.Errorf("Text(%q) = %q, want %q", in, got, want)
		}
	}
	if got := NewMasker(m.Values()...).Text("MIIEv0AB"); got != Mask {
		t.Errorf("a masker rebuilt from Values() left %q", got)
	}
}

func TestMaskerPiece_neverLeavesPartOfASecretAtACut(t *testing.T) {
	m := NewMasker("hunter2")
	for _, c := range []struct {
		in               string
		cutStart, cutEnd bool
		want             string
	}{
		{"pw=hunt", false, true, "pw=" + Mask},
		{"er2 and more", true, false, Mask + " and more"},
		{"r2 hunter2 hun", true, true, Mask + " " + Mask + " " + Mask},
		{"pw=hunt", false, false, "pw=hunt"},
		{"plain", true, true, "plain"},
	} {
		if got := m.Piece(c.in, c.cutStart, c.cutEnd); got != c.want {
			t.Errorf("Piece(%q, %v, %v) = %q, want %q", c.in, c.cutStart, c.cutEnd, got, c.want)
		}
	}
	var none *Masker
	if got := none.Piece("x", true, true); got != "x" {
		t.Errorf("a nil masker's Piece = %q", got)
	}
}

func TestDigest_isStableKeyedAndPerNamespace(t *testing.T) {
	k := testKeyring(t)
	other, err := NewKeyring([]byte("another deployment's key, 32 bytes"))
	if err != nil {
		t.Fatal(err)
	}
	d := k.Digest("shop", "hunter2")
	plain := sha256.Sum256([]byte("hunter2"))
	if again := k.Digest("shop", "hunter2"); again != d {
		t.Errorf("the same value again: %s, want %s", again, d)
	}
	for what, got := range map[string]string{
		"another value":       k.Digest("shop", "hunter3"),
		"another namespace":   k.Digest("bank", "hunter2"),
		"another key":         other.Digest("shop", "hunter2"),
		"the value's SHA-256": hex.EncodeToString(plain[:]),
	} {
		if got == d {
			t.Errorf("%s gives the same digest %s", what, d)
		}
	}
}
