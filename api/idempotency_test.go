package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/relayflow/relay/infra/blob"
	"github.com/relayflow/relay/infra/embedded"
	"github.com/relayflow/relay/secrets"
	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/storage"
)

type sent []cloudevents.Event

func (p *sent) Publish(_ context.Context, _, _ string, ev cloudevents.Event) error {
	*p = append(*p, ev)
	return nil
}

func idempotencyService(t *testing.T) (*Service, *sent, *time.Time) {
	t.Helper()
	st, err := embedded.OpenStore(filepath.Join(t.TempDir(), "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var out sent
	svc := NewService(st, &out)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	svc.now = func() time.Time { return now }
	src := "id: f\nnamespace: test\ninputs:\n  - {id: n, type: INT, defaults: 1}\ntasks:\n  - {id: a, type: io.kestra.plugin.core.debug.Return, format: x}\n"
	if _, err := svc.DeployFlow(context.Background(), "f.yaml", []byte(src)); err != nil {
		t.Fatal(err)
	}
	return svc, &out, &now
}

func TestStartWith_aRetriedKeyReturnsTheFirstExecution(t *testing.T) {
	ctx := context.Background()
	svc, out, now := idempotencyService(t)
	in := map[string]any{"n": 2}
	first, err := svc.StartWith(ctx, "test", "f", in, nil, StartOptions{IdempotencyKey: "k1"})
	if err != nil || first.Replayed {
		t.Fatalf("first start: %+v, %v", first, err)
	}
	again, err := svc.StartWith(ctx, "test", "f", in, nil, StartOptions{IdempotencyKey: "k1"})
	if err != nil || again.ID != first.ID || !again.Replayed {
		t.Fatalf("retried start: %+v, %v; want %s replayed", again, err, first.ID)
	}
	// Published again with the same event id: the executor recognises it.
	if len(*out) != 2 || (*out)[0].ID() != (*out)[1].ID() {
		t.Errorf("published %d events, ids %v", len(*out), ids(*out))
	}
	if _, err := svc.StartWith(ctx, "test", "f", map[string]any{"n": 3}, nil, StartOptions{IdempotencyKey: "k1"}); !errors.Is(err, ErrIdempotencyMismatch) {
		t.Errorf("the key with other inputs: %v, want ErrIdempotencyMismatch", err)
	}
	other, err := svc.StartWith(ctx, "test", "f", in, nil, StartOptions{IdempotencyKey: "k2"})
	if err != nil || other.ID == first.ID {
		t.Errorf("another key: %+v, %v", other, err)
	}
	// Past the window, the key starts a new execution; the sweep forgets it.
	*now = now.Add(IdempotencyWindow + time.Second)
	if err := SweepIdempotency(ctx, svc.store, *now, 10); err != nil {
		t.Fatal(err)
	}
	if recs, _ := svc.store.Records(ctx, KindIdempotency, ""); len(recs) != 0 {
		t.Errorf("%d idempotency records left after the window", len(recs))
	}
	later, err := svc.StartWith(ctx, "test", "f", in, nil, StartOptions{IdempotencyKey: "k1"})
	if err != nil || later.ID == first.ID || later.Replayed {
		t.Errorf("after the window: %+v, %v", later, err)
	}
}

func TestStartWith_aChosenExecutionIDIsIdempotent(t *testing.T) {
	ctx := context.Background()
	svc, _, _ := idempotencyService(t)
	a, err := svc.StartWith(ctx, "test", "f", nil, nil, StartOptions{ExecutionID: "order-42"})
	if err != nil || a.ID != "order-42" {
		t.Fatalf("%+v, %v", a, err)
	}
	b, err := svc.StartWith(ctx, "test", "f", nil, nil, StartOptions{ExecutionID: "order-42"})
	if err != nil || b.ID != "order-42" || !b.Replayed {
		t.Fatalf("%+v, %v", b, err)
	}
	for _, bad := range []StartOptions{{ExecutionID: "../x"}, {ExecutionID: "a b"}, {IdempotencyKey: "has space"}} {
		if _, err := svc.StartWith(ctx, "test", "f", nil, nil, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", bad, err)
		}
	}
}

// A start with FILE inputs and a key: a retry (a reader the API cannot
// rewind, as another caller might pass) stores the files again under the
// first execution and publishes the same request; the same key with
// another file's content is another request.
func TestStartWith_filesAndAKeyStartOneExecution(t *testing.T) {
	ctx := context.Background()
	svc, out, _ := idempotencyService(t)
	dir, err := blob.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	WithFiles(storage.New(dir))(svc)
	src := "id: g\nnamespace: test\ninputs:\n  - {id: data, type: FILE}\ntasks:\n  - {id: a, type: io.kestra.plugin.core.debug.Return, format: x}\n"
	if _, err := svc.DeployFlow(ctx, "g.yaml", []byte(src)); err != nil {
		t.Fatal(err)
	}
	start := func(content string, o StartOptions) (Started, error) {
		o.Files = map[string]File{"data": {Filename: "orders.csv", Body: io.MultiReader(strings.NewReader(content)), Size: -1}}
		return svc.StartWith(ctx, "test", "g", nil, nil, o)
	}
	first, err := start("a,b\n1,2\n", StartOptions{IdempotencyKey: "upload-1"})
	if err != nil || first.Replayed {
		t.Fatalf("first start: %+v, %v", first, err)
	}
	again, err := start("a,b\n1,2\n", StartOptions{IdempotencyKey: "upload-1"})
	if err != nil || again.ID != first.ID || !again.Replayed {
		t.Fatalf("retried start: %+v, %v; want %s replayed", again, err, first.ID)
	}
	uri := "relay:///test/g/executions/" + first.ID + "/inputs/data/orders.csv"
	for i, ce := range *out {
		var ev struct{ Inputs map[string]any }
		if err := ce.DataAs(&ev); err != nil {
			t.Fatal(err)
		}
		if ce.ID() != first.ID+"/requested" || ev.Inputs["data"] != uri {
			t.Errorf("event %d: %s with inputs %v, want %s/requested with data %s", i, ce.ID(), ev.Inputs, first.ID, uri)
		}
	}
	got, err := svc.files.Read(ctx, "", uri, 0)
	if err != nil || string(got) != "a,b\n1,2\n" {
		t.Errorf("stored file %q, %v", got, err)
	}
	if _, err := start("other", StartOptions{IdempotencyKey: "upload-1"}); !errors.Is(err, ErrIdempotencyMismatch) {
		t.Errorf("the key with another file: %v, want ErrIdempotencyMismatch", err)
	}
	chosen, err := start("x", StartOptions{ExecutionID: "upload-2"})
	if err != nil || chosen.ID != "upload-2" {
		t.Fatalf("a chosen id: %+v, %v", chosen, err)
	}
	if _, err := svc.files.Read(ctx, "", "relay:///test/g/executions/upload-2/inputs/data/orders.csv", 0); err != nil {
		t.Errorf("the file of a start with a chosen id: %v", err)
	}
	if _, err := svc.StartWith(ctx, "test", "f", nil, nil, StartOptions{IdempotencyKey: "upload-3",
		Files: map[string]File{"n": {Filename: "x", Body: strings.NewReader("x"), Size: 1}}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a file for an input that is not FILE: %v, want ErrInvalid", err)
	}
	if _, err := svc.store.Record(ctx, KindIdempotency, "start/test/f/upload-3"); err == nil {
		t.Error("a refused start used up its key")
	}
}

// An idempotent start with a SECRET input: the record that remembers the
// key holds neither the secret nor a hash of it anyone could compute (its
// SHA-256, or the request's hash with the secret in clear), yet the same
// secret sent again is the same request and another secret is not. The
// published request carries the secret sealed.
func TestStartWith_aSecretInputIsKeptOutOfTheIdempotencyRecord(t *testing.T) {
	ctx := context.Background()
	svc, out, _ := idempotencyService(t)
	src := "id: h\nnamespace: test\ninputs:\n  - {id: token, type: SECRET}\ntasks:\n  - {id: a, type: io.kestra.plugin.core.debug.Return, format: x}\n"
	if _, err := svc.DeployFlow(ctx, "h.yaml", []byte(src)); err != nil {
		t.Fatal(err)
	}
	const secret = "correct-horse-battery-staple"
	in := map[string]any{"token": secret}
	if _, err := svc.StartWith(ctx, "test", "h", in, nil, StartOptions{IdempotencyKey: "no-key"}); err == nil {
		t.Fatal("a SECRET input was accepted by a service without a key")
	}
	if _, err := svc.store.Record(ctx, KindIdempotency, "start/test/h/no-key"); err == nil {
		t.Error("a start refused for its SECRET input used up its key")
	}
	keys, err := secrets.NewKeyring([]byte("the idempotency test's key, 32 bytes at least"))
	if err != nil {
		t.Fatal(err)
	}
	WithSecrets(keys)(svc)
	first, err := svc.StartWith(ctx, "test", "h", in, nil, StartOptions{IdempotencyKey: "s1"})
	if err != nil || first.Replayed {
		t.Fatalf("first start: %+v, %v", first, err)
	}
	rec, err := svc.store.Record(ctx, KindIdempotency, "start/test/h/s1")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(secret))
	plain := hex.EncodeToString(sum[:])
	value := strings.ToLower(string(rec.Value))
	for what, bad := range map[string]string{
		"the secret":                         secret,
		"its SHA-256":                        plain,
		"its SHA-256, truncated":             plain[:32],
		"the request's hash with the secret": hashOf("test", "h", in, []flow.Label(nil), ""),
	} {
		if strings.Contains(value, strings.ToLower(bad)) {
			t.Errorf("the idempotency record %s holds %s", rec.Value, what)
		}
	}
	again, err := svc.StartWith(ctx, "test", "h", map[string]any{"token": secret}, nil, StartOptions{IdempotencyKey: "s1"})
	if err != nil || again.ID != first.ID || !again.Replayed {
		t.Fatalf("retried start with the same secret: %+v, %v; want %s replayed", again, err, first.ID)
	}
	if _, err := svc.StartWith(ctx, "test", "h", map[string]any{"token": secret + "!"}, nil, StartOptions{IdempotencyKey: "s1"}); !errors.Is(err, ErrIdempotencyMismatch) {
		t.Errorf("the key with another secret: %v, want ErrIdempotencyMismatch", err)
	}
	for i, ce := range *out {
		if strings.Contains(string(ce.Data()), secret) {
			t.Errorf("event %d carries the secret in clear: %s", i, ce.Data())
		}
		var ev struct{ Inputs map[string]any }
		if err := ce.DataAs(&ev); err != nil {
			t.Fatal(err)
		}
		if v, _ := ev.Inputs["token"].(string); !secrets.IsMarker(v) {
			t.Errorf("event %d: token %q, want a sealed marker", i, v)
		}
	}
	if len(*out) != 2 {
		t.Errorf("published %d events, want the start and its retry", len(*out))
	}
}

func TestPublishEventWith_aRetriedKeyPublishesTheFirstID(t *testing.T) {
	ctx := context.Background()
	svc, out, _ := idempotencyService(t)
	ev := func(id string) cloudevents.Event {
		e := cloudevents.New()
		e.SetID(id)
		e.SetType("com.acme.order.created")
		e.SetSource("/shop")
		_ = e.SetData(cloudevents.ApplicationJSON, map[string]any{"total": 12})
		return e
	}
	id, seen, err := svc.PublishEventWith(ctx, ev("e1"), "key")
	if err != nil || id != "e1" || seen {
		t.Fatalf("%s %v %v", id, seen, err)
	}
	id, seen, err = svc.PublishEventWith(ctx, ev("e2"), "key") // a client that made a new id
	if err != nil || id != "e1" || !seen {
		t.Fatalf("retry: %s %v %v, want e1 replayed", id, seen, err)
	}
	if got := ids(*out); len(got) != 2 || got[1] != "e1" {
		t.Errorf("published %v", got)
	}
	other := ev("e3")
	other.SetType("com.acme.order.cancelled")
	if _, _, err := svc.PublishEventWith(ctx, other, "key"); !errors.Is(err, ErrIdempotencyMismatch) {
		t.Errorf("another event under the key: %v", err)
	}
}

func ids(evs []cloudevents.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.ID())
	}
	return out
}
