package builtin

import (
	"testing"

	"github.com/relayflow/relay/statemachine/flow"
)

func TestRegistry_hasARunnerForEveryRunnableType(t *testing.T) {
	reg, err := Registry(Config{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	// flow.fail and execution.labels are not flowable but need no I/O:
	// the state machine runs them.
	for _, def := range flow.Builtin.Types(flow.CategoryTask) {
		if def.Flowable || def.Name == flow.TypeFail || def.Name == flow.TypeLabels {
			continue
		}
		n++
		if _, ok := reg.Lookup(def.Name); !ok {
			t.Errorf("no runner for %s", def.Name)
		}
	}
	if got := reg.Types(); len(got) != n {
		t.Errorf("Types() = %v, want the %d runnable types", got, n)
	}
}
