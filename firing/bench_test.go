package firing

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/infra/embedded"
)

type countingBus struct{ n int }

func (b *countingBus) Publish(context.Context, string, string, cloudevents.Event) error {
	b.n++
	return nil
}

// BenchmarkRouterMatch routes one CloudEvent that one event trigger
// matches, among `registered` event triggers of other types: the cost
// must not grow with the triggers that do not match (the router reads
// the trigger index under the event's type only).
func BenchmarkRouterMatch(b *testing.B) {
	for _, registered := range []int{10, 10000} {
		b.Run(fmt.Sprintf("triggers=%d", registered), func(b *testing.B) {
			ctx := context.Background()
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			st := benchStore(b, registered, now)
			bus := &countingBus{}
			r := NewRouter(RouterConfig{Store: st, Bus: bus, Now: func() time.Time { return now }})
			ev := cloudevents.New()
			ev.SetType("com.acme.t7")
			ev.SetSource("/bench")
			b.ResetTimer()
			for i := range b.N {
				ev.SetID(fmt.Sprint(i))
				if err := r.Handle(ctx, ev); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if bus.n != b.N {
				b.Fatalf("%d executions requested for %d events, want one each", bus.n, b.N)
			}
		})
	}
}

// benchStores keeps the stores with registered triggers across the runs
// of -count: deploying 10,000 flows takes a while.
var benchStores = map[int]*embedded.Store{}

func benchStore(b *testing.B, registered int, now time.Time) *embedded.Store {
	if st := benchStores[registered]; st != nil {
		return st
	}
	ctx := context.Background()
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("relay-bench-triggers-%d", registered)) // one copy at most
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	st, err := embedded.OpenStore(filepath.Join(dir, "relay.db"))
	if err != nil {
		b.Fatal(err)
	}
	for i := range registered {
		src := fmt.Sprintf("id: f%d\nnamespace: bench\ntasks:\n  - {id: log, type: io.kestra.plugin.core.log.Log, message: hi}\ntriggers:\n  - id: on\n    type: cloudevents.trigger\n    filters:\n      - exact: {type: com.acme.t%d}\n", i, i)
		_, f, err := engine.SaveFlow(ctx, st, "f.yaml", []byte(src))
		if err != nil {
			b.Fatal(err)
		}
		if err := Index(ctx, st, f, now); err != nil {
			b.Fatal(err)
		}
	}
	benchStores[registered] = st
	return st
}
