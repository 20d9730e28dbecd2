package browser_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/relayflow/relay/api"
	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/ui"
)

// run returns the task run of a task in an execution.
func run(t *testing.T, doc engine.ExecutionDoc, taskID string) engine.TaskRunDoc {
	t.Helper()
	for _, r := range doc.TaskRuns {
		if r.TaskID == taskID {
			return r
		}
	}
	t.Fatalf("execution %s has no run of %s: %+v", doc.ID, taskID, doc.TaskRuns)
	return engine.TaskRunDoc{}
}

func (s *system) execution(t *testing.T, id string) engine.ExecutionDoc {
	t.Helper()
	doc, err := s.client.Execution(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// flaky starts the flow that fails the first time only (a file counts its
// runs) and waits for it to fail.
func (s *system) flaky(t *testing.T) string {
	t.Helper()
	id := s.start(t, "flaky", map[string]any{"counter": filepath.Join(t.TempDir(), "runs")})
	s.waitState(t, id, "FAILED")
	return id
}

// recordStates keeps, in window.__states, every state the execution
// page's badge shows from now on.
const recordStates = `(() => { window.__states = [document.querySelector('h1 + .state').textContent];
	new MutationObserver(() => { const b = document.querySelector('h1 + .state'); const s = b ? b.textContent : '';
	if (s && window.__states[window.__states.length - 1] !== s) window.__states.push(s); }).observe(document.querySelector('main'), {subtree: true, childList: true, characterData: true});
	return true; })()`

// Restart on a FAILED execution's page, after a confirmation, runs it
// again in place, and the page follows it live, without a reload, from
// FAILED through RUNNING to SUCCESS (with Server-Sent Events and with
// polling); the task that had succeeded keeps its run, the failed one
// gets a second attempt.
func TestUI_restartAFailedExecutionAndWatchItSucceed(t *testing.T) {
	for _, live := range []ui.Live{ui.LiveSSE, ui.LivePoll} {
		t.Run(string(live), func(t *testing.T) {
			s := start(t, live)
			s.deploy(t, "testdata/flaky.yaml")
			id := s.flaky(t)
			p := newPage(t)
			p.open(s.url + "/ui/executions/" + id + "?tab=logs")
			p.waitText(stateBadge, "FAILED")
			p.waitText(`section[aria-label="Actions"]`, "Replay")
			// The page's stream of the execution ended with it (the Logs tab no
			// longer says live): the restart is followed by a stream opened anew.
			p.waitFor(`document.querySelectorAll('.log-row').length > 0 && !document.querySelector('#panel-logs').textContent.includes(', live')`)
			eval[bool](p, recordStates)
			eval[chromedp.Void](p, `window.__samePage = true`)
			p.clickButton("Restart")
			p.waitText(`section[aria-label="Actions"]`, "Restart this execution?")
			p.clickButton("Yes, restart it")
			p.waitText(stateBadge, "SUCCESS")
			if states := eval[[]string](p, `window.__states`); strings.Join(states, " ") != "FAILED RUNNING SUCCESS" {
				t.Errorf("the page showed the states %v, want FAILED RUNNING SUCCESS", states)
			}
			if !eval[bool](p, `window.__samePage === true`) {
				t.Error("the page was reloaded: it should follow the restart live")
			}
			p.waitText(".meta", "Restarts")
			if n := eval[int](p, `[...document.querySelectorAll('button')].filter(b => b.textContent.trim() === 'Restart').length`); n != 0 {
				t.Error("a SUCCESS execution still offers Restart")
			}
			doc := s.execution(t, id)
			if doc.Restarts != 1 || doc.Labels["system.restarted"] != "true" {
				t.Errorf("restarts %d, labels %v: want one restart", doc.Restarts, doc.Labels)
			}
			if r := run(t, doc, "prepare"); len(r.Attempts) != 1 {
				t.Errorf("prepare ran %d times: a restart keeps the runs that succeeded", len(r.Attempts))
			}
			if r := run(t, doc, "flaky"); r.State != "SUCCESS" || len(r.Attempts) != 2 || r.Attempts[0].State != "FAILED" {
				t.Errorf("flaky: %s after %d attempts, want SUCCESS on its second", r.State, len(r.Attempts))
			}
			p.waitText(".vlist", "run 2")
			p.waitText(".vlist", "prepared in "+id)
			p.waitFor(`!document.querySelector('#panel-logs').textContent.includes(', live')`)
			if n := eval[int](p, `[...document.querySelectorAll('.log-row .m')].filter(m => m.textContent === 'run 1').length`); n != 1 {
				t.Errorf("the line of the first run shows %d times, want once", n)
			}
			p.noErrors()
		})
	}
}

// A page acting on what it showed a moment ago (its live updates held
// back while the execution was restarted elsewhere and succeeded) shows
// the API's refusal where the action was asked for.
func TestUI_restartRefusedIsShown(t *testing.T) {
	s := start(t, ui.LiveSSE)
	s.deploy(t, "testdata/flaky.yaml")
	id := s.flaky(t)
	p := newPage(t)
	p.hold("*/executions/" + id + "/stream*")
	p.open(s.url + "/ui/executions/" + id)
	p.waitText(stateBadge, "FAILED")
	if err := s.client.Restart(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	s.waitState(t, id, "SUCCESS")
	p.clickButton("Restart")
	p.clickButton("Yes, restart it")
	p.waitText(`section[aria-label="Actions"] [role=alert]`, "only FAILED and KILLED executions restart")
	p.waitText(stateBadge, "FAILED") // what the page read; it never claims the restart happened
	if msg := eval[string](p, `(document.querySelector('section[aria-label="Actions"] [role=status]') || {}).textContent || ''`); msg != "" {
		t.Errorf("the page says %q after a refused restart", msg)
	}
	p.noErrors()
}

// Replay, from a task chosen on the execution's page or from a task run's
// details, opens a new execution that reuses the runs before that task
// (their outputs come from the replayed execution) and runs the rest.
func TestUI_replayFromATask(t *testing.T) {
	s := start(t, ui.LiveSSE)
	s.deploy(t, "testdata/flaky.yaml")
	id := s.flaky(t)
	if err := s.client.Restart(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	s.waitState(t, id, "SUCCESS")
	p := newPage(t)
	p.open(s.url + "/ui/executions/" + id)
	p.waitFor(`!!document.querySelector('#replay-from')`)
	options := eval[[]string](p, `[...document.querySelectorAll('#replay-from option')].map(o => o.value)`)
	if strings.Join(options, " ") != "prepare flaky report" {
		t.Errorf("replay offers the tasks %v, want the flow's, in order", options)
	}
	p.choose("#replay-from", "flaky")
	p.clickButton("Replay")
	p.waitFor(`location.pathname.startsWith('/ui/executions/') && !location.pathname.endsWith('/` + id + `')`)
	replayed := eval[string](p, `location.pathname.split('/').pop()`)
	p.waitText(stateBadge, "SUCCESS")
	p.waitText(".meta", "Replay of")
	if href := eval[string](p, `[...document.querySelectorAll('.meta dt')].find(d => d.textContent === 'Replay of').nextElementSibling.querySelector('a').getAttribute('href')`); href != "/ui/executions/"+id {
		t.Errorf("the replay links to %q, want the execution it replays", href)
	}
	doc := s.execution(t, replayed)
	if doc.OriginalID != id {
		t.Errorf("the new execution replays %q, want %s", doc.OriginalID, id)
	}
	if r := run(t, doc, "flaky"); r.State != "SUCCESS" {
		t.Errorf("flaky in the replay: %s", r.State)
	}
	p.clickButton("Logs")
	p.waitText(".vlist", "run 3")
	p.waitText(".vlist", "prepared in "+id) // prepare's output, reused from the replayed execution

	// From a task run's details: the run of report, so flaky is reused.
	p.open(s.url + "/ui/executions/" + id + "?tab=runs")
	p.run(chromedp.Click(`//button[normalize-space()="report"]`, chromedp.NodeVisible))
	p.clickButton("Replay from this run")
	p.waitFor(`location.pathname.startsWith('/ui/executions/') && !location.pathname.endsWith('/` + id + `') && !location.pathname.endsWith('/` + replayed + `')`)
	again := eval[string](p, `location.pathname.split('/').pop()`)
	p.waitText(stateBadge, "SUCCESS")
	doc = s.execution(t, again)
	if r := run(t, doc, "flaky"); len(r.Attempts) != 2 || doc.OriginalID != id {
		t.Errorf("replayed from report: flaky has %d attempts (want the 2 it had, reused), original %q", len(r.Attempts), doc.OriginalID)
	}
	if lines, _ := s.client.Logs(context.Background(), again, 0, 100); strings.Contains(logText(lines), "run 4") {
		t.Error("replaying from report ran flaky again")
	}
	p.noErrors()
}

func logText(lines []engine.LogEntry) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.Message + "\n")
	}
	return b.String()
}

// A task run whose process the OS killed (signal 9, as the OOM killer
// sends) is shown CRASHED everywhere: the counts, the topology, the state
// filter of the task runs, its attempts; a run whose outputs came from the
// task cache is marked cached.
func TestUI_crashedAndCachedRunsAreShown(t *testing.T) {
	s := start(t, ui.LiveSSE)
	s.deploy(t, "testdata/crash.yaml")
	first := s.start(t, "crash", nil)
	s.waitState(t, first, "FAILED")
	id := s.start(t, "crash", nil)
	s.waitState(t, id, "FAILED")
	doc := s.execution(t, id)
	if r := run(t, doc, "oom"); r.State != "CRASHED" {
		t.Fatalf("oom: %s, want CRASHED", r.State)
	}
	if r := run(t, doc, "lookup"); !r.Cached {
		t.Fatal("lookup's second run is not cached")
	}
	p := newPage(t)
	p.open(s.url + "/ui/executions/" + id)
	p.waitFor(`!!document.querySelector('.topology g.node.s-CRASHED[data-task="oom"]')`)
	if label := eval[string](p, `document.querySelector('.topology g.node[data-task="oom"]').getAttribute('aria-label')`); !strings.Contains(label, "1 crashed") {
		t.Errorf("oom's box says %q", label)
	}
	p.waitText(".meta .counts", "CRASHED 1")
	if title := eval[string](p, `document.querySelector('.meta .st-CRASHED').getAttribute('title')`); !strings.Contains(title, "OS killed") {
		t.Errorf("the CRASHED badge explains %q", title)
	}
	p.clickButton("Task runs")
	p.waitFor(`[...document.querySelectorAll('#runs-state option')].some(o => o.value === 'CRASHED')`)
	p.waitText(`.vlist .vrow .tag.cached`, "cached")
	if cached := eval[string](p, `document.querySelector('.vlist .vrow .tag.cached').closest('.vrow').querySelector('.c-id').textContent`); cached != "lookup" {
		t.Errorf("the run marked cached is %q, want lookup", cached)
	}
	p.choose("#runs-state", "CRASHED")
	p.waitFor(`document.querySelectorAll('.vlist .vrow button').length === 1 && document.querySelector('.vlist .vrow button').textContent === 'oom'`)
	p.run(chromedp.Click(`//button[normalize-space()="oom"]`, chromedp.NodeVisible))
	p.waitText(`section[aria-label="Task run oom"] table`, "CRASHED")
	p.waitText(`section[aria-label="Task run oom"] table`, "crashed: the process was killed by signal KILL")
	p.open(s.url + "/ui/executions/" + id + "?tab=runs")
	p.run(chromedp.Click(`//button[normalize-space()="lookup"]`, chromedp.NodeVisible))
	p.waitText(`section[aria-label="Task run lookup"]`, "reused from the task cache")
	p.open(s.url + "/ui/executions/" + id + "?tab=gantt")
	p.waitFor(`!!document.querySelector('canvas') && document.querySelector('canvas').width > 0`)
	p.noErrors()
}

// An execution its retry policy runs again later waits RETRYING: the
// executions' state filter finds it, its page shows it and offers Kill,
// and once killed it can be restarted.
func TestUI_retryingExecutionIsListedAndKilled(t *testing.T) {
	s := start(t, ui.LiveSSE)
	s.deploy(t, "testdata/again.yaml")
	id := s.start(t, "again", nil)
	s.waitState(t, id, "RETRYING")
	p := newPage(t)
	p.open(s.url + "/ui/executions")
	p.waitFor(`[...document.querySelectorAll('#f-state option')].some(o => o.value === 'RETRYING')`)
	p.choose("#f-state", "RETRYING")
	p.waitFor(`location.search.includes('state=RETRYING') && document.querySelectorAll('tbody tr').length === 1 && !!document.querySelector('tbody tr[data-execution="` + id + `"] .st-RETRYING')`)
	p.run(chromedp.Click(chromedp.CSS(`tbody tr[data-execution="` + id + `"] a`)))
	p.waitText(stateBadge, "RETRYING")
	p.clickButton("Kill")
	p.clickButton("Yes, kill it")
	p.waitText(stateBadge, "KILLED")
	p.waitFor(`[...document.querySelectorAll('button')].some(b => b.textContent.trim() === 'Restart')`)
	if doc, err := s.client.ExecutionPage(context.Background(), id, api.RunPage{Limit: 1}); err != nil || doc.State != "KILLED" {
		t.Errorf("the execution is %s (%v), want KILLED", doc.State, err)
	}
	p.noErrors()
}
