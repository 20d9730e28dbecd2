package api_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/relayflow/relay/api"
	"github.com/relayflow/relay/statemachine"
)

// A big execution is read a page of task runs at a time: the pages follow
// one another by cursor and hold every run once, a state filter keeps the
// runs in that state, counts cover every run, and log lines come a page
// at a time too.
func TestAPI_executionPagesTaskRunsAndLogs(t *testing.T) {
	s := start(t)
	ctx := context.Background()
	src := `id: pages
namespace: paging
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: "{{ range(1, 25) }}"
    concurrencyLimit: 5
    tasks:
      - id: check
        type: io.kestra.plugin.core.flow.If
        condition: "{{ taskrun.value % 5 == 0 }}"
        then:
          - id: fail
            type: io.kestra.plugin.core.execution.Fail
            allowFailure: true
        else:
          - id: say
            type: io.kestra.plugin.core.log.Log
            message: "item {{ taskrun.value }}"
`
	if _, err := s.client.DeployFlow(ctx, "pages.yaml", []byte(src)); err != nil {
		t.Fatal(err)
	}
	st, err := s.client.Start(ctx, "paging", "pages", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	whole := waitState(t, s.client, st.ID, "WARNING")
	total := 1 + 25*2 // the ForEach, then an If and its branch's task per item
	if whole.TaskRunCount != total || len(whole.TaskRuns) != total || whole.NextCursor != "" {
		t.Fatalf("the first page of a small execution: %d of %d runs, cursor %q; want all %d", len(whole.TaskRuns), whole.TaskRunCount, whole.NextCursor, total)
	}

	var ids []string
	cursor := ""
	for pages := 0; ; pages++ {
		doc, err := s.client.ExecutionPage(ctx, st.ID, api.RunPage{Limit: 10, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		if len(doc.TaskRuns) > 10 || doc.TaskRunCount != total {
			t.Fatalf("page %d: %d runs, count %d", pages, len(doc.TaskRuns), doc.TaskRunCount)
		}
		for _, r := range doc.TaskRuns {
			ids = append(ids, r.ID)
		}
		if cursor = doc.NextCursor; cursor == "" {
			break
		}
	}
	for i, r := range whole.TaskRuns {
		if i >= len(ids) || ids[i] != r.ID {
			t.Fatalf("paged runs differ at %d: %v", i, ids)
		}
	}
	if len(ids) != total {
		t.Fatalf("paged through %d runs, want %d", len(ids), total)
	}

	failed, err := s.client.ExecutionPage(ctx, st.ID, api.RunPage{Limit: 100, State: statemachine.RunWarning})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, i := range []int{4, 9, 14, 19, 24} { // the items 5, 10, 15, 20 and 25
		want[fmt.Sprintf("fail[%d]", i)] = true
		want[fmt.Sprintf("check[%d]", i)] = true // ends WARNING with its child
	}
	want["each"] = true
	for _, r := range failed.TaskRuns {
		if !want[r.ID] || r.State != "WARNING" {
			t.Errorf("the WARNING page holds %s (%s)", r.ID, r.State)
		}
	}
	if failed.TaskRunCounts["WARNING"] != 11 || len(failed.TaskRuns) != 11 {
		t.Errorf("WARNING runs: %d listed, counts %v", len(failed.TaskRuns), failed.TaskRunCounts)
	}
	byTask := map[string]map[string]int{
		"each":  {"WARNING": 1},
		"check": {"WARNING": 5, "SUCCESS": 20},
		"fail":  {"WARNING": 5},
		"say":   {"SUCCESS": 20},
	}
	if !reflect.DeepEqual(failed.TaskRunCountsByTask, byTask) {
		t.Errorf("counts by task %v, want %v", failed.TaskRunCountsByTask, byTask)
	}

	for _, bad := range []api.RunPage{{Cursor: "x"}, {Cursor: "-3"}, {Limit: api.MaxRunPage + 1}} {
		if _, err := s.client.ExecutionPage(ctx, st.ID, bad); !errors.Is(err, api.ErrInvalid) {
			t.Errorf("page %+v: %v, want a 400", bad, err)
		}
	}

	var lines int
	for after := int64(0); ; {
		page, err := s.client.Logs(ctx, st.ID, after, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 7 {
			t.Fatalf("%d log lines with limit 7", len(page))
		}
		if len(page) == 0 {
			break
		}
		lines += len(page)
		after = page[len(page)-1].Seq
	}
	if lines < 20 {
		t.Errorf("read %d log lines 7 at a time, want at least the 20 of the items", lines)
	}
}
