package blob

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/engine/enginetest"
	"github.com/relayflow/relay/storage"
	"github.com/relayflow/relay/storage/storagetest"
)

func TestDir(t *testing.T) {
	enginetest.TestBlobs(t, func(t *testing.T) engine.Blobs {
		d, err := NewDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

func TestDir_createsTheFolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b")
	if _, err := NewDir(path); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
		t.Fatalf("NewDir did not create %s: %v", path, err)
	}
	if _, err := NewDir(""); err == nil {
		t.Error("NewDir(\"\") succeeded")
	}
}

func TestDir_referencesAreFileURLs(t *testing.T) {
	root := filepath.Join(t.TempDir(), "with space")
	d, err := NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := d.Put(context.Background(), "executions/e1/abc.json", []byte(`"x"`))
	if err != nil {
		t.Fatal(err)
	}
	want := "file://" + filepath.ToSlash(strings.ReplaceAll(root, " ", "%20")) + "/executions/e1/abc.json"
	if ref != want {
		t.Errorf("reference %s, want %s", ref, want)
	}
	data, err := os.ReadFile(filepath.Join(root, "executions", "e1", "abc.json"))
	if err != nil || string(data) != `"x"` {
		t.Errorf("the file holds %q (%v), want the data put", data, err)
	}
	if tmp, _ := filepath.Glob(filepath.Join(root, "executions", "e1", ".put-*")); len(tmp) > 0 {
		t.Errorf("temporary files left behind: %v", tmp)
	}
}

func TestDir_keysStayInsideTheFolder(t *testing.T) {
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key string
		ok  bool
	}{
		{"a.json", true},
		{"executions/e1/abc.json", true},
		{"", false},
		{"/etc/x", false},
		{"../x", false},
		{"a/../../x", false},
		{"..", false},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			_, err := d.Put(context.Background(), tc.key, []byte(`1`))
			if (err == nil) != tc.ok {
				t.Errorf("Put(%q) error = %v, want ok=%v", tc.key, err, tc.ok)
			}
		})
	}
}

func TestDir_getRefusesOtherFiles(t *testing.T) {
	parent := t.TempDir()
	d, err := NewDir(filepath.Join(parent, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(parent, "secret")
	if err := os.WriteFile(secret, []byte("s"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, ref string }{
		{"sibling", "file://" + filepath.ToSlash(secret)},
		{"dotdot", "file://" + filepath.ToSlash(d.Root()) + "/../secret"},
		{"prefixOfTheRoot", "file://" + filepath.ToSlash(d.Root()) + "x/y"},
		{"relative", "file:secret"},
		{"otherHost", "file://host" + filepath.ToSlash(d.Root()) + "/x"},
		{"s3", "s3://bucket/key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, err := d.Get(context.Background(), tc.ref)
			if err == nil {
				t.Fatalf("Get(%s) returned %q", tc.ref, data)
			}
			if errors.Is(err, ErrNotFound) {
				t.Errorf("Get(%s): %v; want a refusal, not a missing blob", tc.ref, err)
			}
		})
	}
}

func TestDir_missingBlob(t *testing.T) {
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ref, err := d.Put(context.Background(), "executions/e1/a.json", []byte(`1`))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(d.Root(), "executions", "e1", "a.json")); err != nil {
		t.Fatal(err)
	}
	_, err = d.Get(context.Background(), ref)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), ref) {
		t.Errorf("Get of a removed blob: %v; want ErrNotFound naming %s", err, ref)
	}
}

func TestDir_storageBackend(t *testing.T) {
	storagetest.TestBackend(t, func(t *testing.T) storage.Backend {
		d, err := NewDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}
