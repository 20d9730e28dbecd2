package flow_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/relayflow/relay/statemachine/flow"
)

// bigFlow builds a flow of n tasks: runnable tasks with expressions and
// retries, grouped into Parallel and If blocks as real flows are.
func bigFlow(n int) []byte {
	var b strings.Builder
	b.WriteString("id: big\nnamespace: bench\ninputs:\n  - id: name\n    type: STRING\n    defaults: relay\ntasks:\n")
	for i := 0; i < n; {
		fmt.Fprintf(&b, "  - id: group%d\n    type: io.kestra.plugin.core.flow.Parallel\n    tasks:\n", i)
		i++
		for j := 0; j < 8 && i < n; j, i = j+1, i+1 {
			fmt.Fprintf(&b, `      - id: t%d
        type: io.kestra.plugin.core.log.Log
        message: "step %d for {{ inputs.name | upper }} at {{ execution.startDate }}"
        timeout: PT1M
        retry:
          type: exponential
          maxAttempts: 3
          interval: PT1S
          maxInterval: PT30S
`, i, i)
		}
		if i < n {
			fmt.Fprintf(&b, "  - id: check%d\n    type: flow.if\n    condition: \"{{ outputs.t%d is defined }}\"\n    then:\n      - id: ret%d\n        type: debug.return\n        format: \"{{ inputs.name }}\"\n", i, i-1, i)
			i += 2
		}
	}
	return []byte(b.String())
}

func BenchmarkParse_500Tasks(b *testing.B) {
	src := bigFlow(500)
	f, err := flow.Parse("big.yaml", src)
	if err != nil {
		b.Fatal(err)
	}
	if n := len(f.AllTasks()); n < 500 {
		b.Fatalf("flow has %d tasks", n)
	}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := flow.Parse("big.yaml", src); err != nil {
			b.Fatal(err)
		}
	}
}
