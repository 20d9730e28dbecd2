package api_test

import (
	"context"
	"path/filepath"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/relayflow/relay/api"
	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/infra/embedded"
)

// published keeps what a Service publishes.
type published []cloudevents.Event

func (p *published) Publish(_ context.Context, _, _ string, ev cloudevents.Event) error {
	*p = append(*p, ev)
	return nil
}

// TestStart_namesTheRevision: the request names the revision whose inputs
// were checked and whose number the caller was told, so a revision stored
// before the executor reads the request does not run instead.
func TestStart_namesTheRevision(t *testing.T) {
	ctx := context.Background()
	st, err := embedded.OpenStore(filepath.Join(t.TempDir(), "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var sent published
	svc := api.NewService(st, &sent)
	v1 := "id: pinned\nnamespace: test\ntasks:\n  - id: a\n    type: io.kestra.plugin.core.debug.Return\n    format: one\n"
	v2 := "id: pinned\nnamespace: test\ntasks:\n  - id: a\n    type: io.kestra.plugin.core.debug.Return\n    format: two\n"
	if _, err := svc.DeployFlow(ctx, "pinned.yaml", []byte(v1)); err != nil {
		t.Fatal(err)
	}
	started, err := svc.Start(ctx, "test", "pinned", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.DeployFlow(ctx, "pinned.yaml", []byte(v2)); err != nil {
		t.Fatal(err)
	}
	if len(sent) != 1 {
		t.Fatalf("published %d events, want 1", len(sent))
	}
	ev, err := engine.DecodeMachineEvent(sent[0])
	if err != nil {
		t.Fatal(err)
	}
	if started.Revision != 1 || ev.Revision != started.Revision {
		t.Errorf("told revision %d, requested revision %d; want 1 and 1", started.Revision, ev.Revision)
	}
}
