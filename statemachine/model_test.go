package statemachine

import (
	"encoding/json"
	"fmt"
	"testing"
)

// An execution stored with a longer ring of event ids keeps its newest
// ones, and still knows which event it applied last.
func TestExecution_longerSeenRingIsCutToItsNewestIDs(t *testing.T) {
	n := SeenLimit + 40
	seen := make([]string, n)
	for i := range seen {
		seen[i] = fmt.Sprintf("ev-%d", i)
	}
	// A full ring whose oldest id is at index 10: ev-10 .. ev-(n-1), then
	// ev-0 .. ev-9 were written last.
	rotated := append(append([]string{}, seen[n-10:]...), seen[:n-10]...)
	b, err := json.Marshal(map[string]any{"id": "x", "seen": rotated, "seenNext": 10, "taskRuns": []any{}})
	if err != nil {
		t.Fatal(err)
	}
	var ex Execution
	if err := json.Unmarshal(b, &ex); err != nil {
		t.Fatal(err)
	}
	if len(ex.Seen) != SeenLimit || ex.LastEvent() != seen[n-1] {
		t.Fatalf("%d ids, last %q; want %d and %q", len(ex.Seen), ex.LastEvent(), SeenLimit, seen[n-1])
	}
	if !ex.seen(seen[n-SeenLimit]) || ex.seen(seen[n-SeenLimit-1]) {
		t.Errorf("kept the wrong ids: %v", ex.Seen)
	}
}
