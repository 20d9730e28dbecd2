package flow_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/relayflow/relay/statemachine/flow"
)

// FuzzParse checks that no document makes the decoder panic, and that a
// document it accepts has the invariants the engine relies on.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{examplesDir, "testdata/invalid"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, file := range files {
			if src, err := os.ReadFile(file); err == nil {
				f.Add(src)
			}
		}
	}
	f.Add([]byte("id: f\nnamespace: n\ntasks:\n  - &a {id: t, type: log, message: hi}\n  - *a\n"))
	f.Add([]byte("<<: {id: f}\nnamespace: n\ntasks: [{id: t, type: flow.dag, tasks: [{task: {id: x, type: log, message: m}, dependsOn: [x]}]}]\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		fl, err := flow.Parse("fuzz.yaml", src)
		if err != nil {
			return
		}
		if fl.ID == "" || fl.Namespace == "" || len(fl.Tasks) == 0 {
			t.Fatalf("accepted a flow without id, namespace or tasks: %q", src)
		}
		seen := map[string]bool{}
		for _, task := range fl.AllTasks() {
			if task.Type == nil || seen[task.ID] {
				t.Fatalf("accepted task %q with type %v (duplicate: %v)", task.ID, task.Type, seen[task.ID])
			}
			seen[task.ID] = true
		}
	})
}
