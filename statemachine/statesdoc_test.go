package statemachine_test

import (
	"flag"
	"os"
	"testing"

	sm "github.com/relayflow/relay/statemachine"
)

var update = flag.Bool("update", false, "rewrite generated docs and golden files")

func TestStatesDoc_matchesCommittedDocs(t *testing.T) {
	got := sm.StatesDoc()
	const path = "../docs/states.md"
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil || string(want) != got {
		t.Errorf("%s is out of date: run `make docs` (%v)", path, err)
	}
}
