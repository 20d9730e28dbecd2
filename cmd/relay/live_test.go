package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/statemachine"
)

func TestLiveStatus_render(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	now := t0.Add(2500 * time.Millisecond)
	run := func(id, parent string, st statemachine.RunState, attempts int, start, end time.Duration) *statemachine.TaskRun {
		r := &statemachine.TaskRun{ID: id, ParentID: parent, State: st, StartDate: t0.Add(start)}
		if end > 0 {
			r.EndDate = t0.Add(end)
		}
		r.Attempts = make([]statemachine.Attempt, attempts)
		return r
	}
	tests := []struct {
		name   string
		runs   []*statemachine.TaskRun
		width  int
		height int
		want   []string
	}{{
		name: "everything fits, children indented",
		runs: []*statemachine.TaskRun{
			run("loop", "", statemachine.RunRunning, 0, 0, 0),
			run("item[a]", "loop", statemachine.RunSuccess, 1, 0, 300*time.Millisecond),
			run("item[b]", "loop", statemachine.RunRetrying, 2, 0, 0),
		},
		width: 100, height: 10,
		want: []string{
			"ns/flow  RUNNING  2.5s",
			"  ⠴ loop                           RUNNING    2.5s",
			"  ✓   item[a]                      SUCCESS    300ms",
			"  ↻   item[b]                      RETRYING   attempt 2  2.5s",
		},
	}, {
		name: "too many runs: unfinished and most recent kept, the rest counted",
		runs: []*statemachine.TaskRun{
			run("a", "", statemachine.RunSuccess, 1, 0, time.Second),
			run("b", "", statemachine.RunSuccess, 1, 0, time.Second),
			run("c", "", statemachine.RunFailed, 1, 0, time.Second),
			run("d", "", statemachine.RunRunning, 1, 0, 0),
			run("e", "", statemachine.RunSuccess, 1, 0, time.Second),
		},
		width: 100, height: 4,
		want: []string{
			"ns/flow  RUNNING  2.5s",
			"  ⠴ d                              RUNNING    2.5s",
			"  ✓ e                              SUCCESS    1s",
			"  … 3 more task runs: 1 FAILED, 2 SUCCESS",
		},
	}, {
		name:  "lines are cut to the width",
		runs:  []*statemachine.TaskRun{run("a-very-long-task-run-id", "", statemachine.RunSuccess, 1, 0, time.Second)},
		width: 22, height: 5,
		want: []string{
			"ns/flow  RUNNING  2.5s",
			"  ✓ a-very-long-task-…",
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newLiveStatus("ns/flow")
			s.state, s.start = statemachine.ExecRunning, t0
			s.update("", tt.runs)
			got := s.render(now, tt.width, tt.height, false)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("render:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			for _, l := range got {
				if n := visibleLen(l); n > tt.width {
					t.Errorf("line %q is %d columns, wider than %d", l, n, tt.width)
				}
			}
		})
	}
}

func TestTruncate_keepsEscapesAndCountsColumns(t *testing.T) {
	colored := paint(true, ansiGreen, "SUCCESS") + " and more text"
	got := truncate(colored, 10)
	if visibleLen(got) != 10 || !strings.HasPrefix(got, "\x1b[32mSUCCESS\x1b[0m") || !strings.HasSuffix(got, "…\x1b[0m") {
		t.Errorf("truncate = %q (%d columns)", got, visibleLen(got))
	}
	if got := truncate("short", 10); got != "short" {
		t.Errorf("truncate(short) = %q", got)
	}
}

// TestRun_liveProgress runs a flow that lasts long enough for several
// redraws: the block is drawn and erased in place, the log lines and the
// summary stay, and no state-change lines are printed.
func TestRun_liveProgress(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "slow.yaml")
	src := "id: slow\nnamespace: live\ntasks:\n  - id: hello\n    type: log\n    message: hi there\n  - id: nap\n    type: flow.sleep\n    duration: PT0.4S\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "run", "--data-dir", dir, "--progress", "live", file)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"live/slow  RUNNING", "\x1b[J", "hi there", "nap"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%q", want, out)
		}
	}
	// The summary names the execution; ids are time-ordered, so only
	// their shape is fixed.
	if !regexp.MustCompile(`live/slow [0-9a-z]{12,} +SUCCESS in `).MatchString(out) {
		t.Errorf("output lacks the summary line:\n%q", out)
	}
	if strings.Contains(out, "SUBMITTED") {
		t.Errorf("live output has plain state-change lines:\n%s", out)
	}
	// Every block drawn is erased: as many erase sequences as blocks.
	if draws, erases := strings.Count(out, "live/slow  "), strings.Count(out, "\x1b[J"); draws != erases || draws < 2 {
		t.Errorf("%d blocks drawn, %d erased; want equal and at least 2", draws, erases)
	}
}

func TestRun_unknownProgressModeExitsTwo(t *testing.T) {
	code, _, errOut := runCLI(t, "run", "--data-dir", t.TempDir(), "--progress", "fancy", "../../examples/flows/hello.yaml")
	if code != 2 || !strings.Contains(errOut, `unknown progress mode "fancy"`) {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestPlainPrinter_aRunStartedAndEndedInOneCommitPrintsItsStartAndLinesBeforeItsEnd(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 10, 0, 0, 0, time.Local)
	var b strings.Builder
	p := newPrinter(&b, false)
	p.begin("ex", "", "")
	ex := &statemachine.Execution{ID: "ex", State: statemachine.ExecRunning}
	p.commit(ex, []*statemachine.TaskRun{{ID: "a", State: statemachine.RunSubmitted}})
	p.logLine(engine.LogEntry{ExecutionID: "ex", TaskRunID: "a", Time: t0.Add(time.Millisecond), Level: "INFO", Message: "hello"})
	done := &statemachine.TaskRun{ID: "a", State: statemachine.RunSuccess, EndDate: t0.Add(2 * time.Millisecond),
		Attempts: []statemachine.Attempt{{Number: 1, State: statemachine.RunSuccess, StartDate: t0}}}
	p.commit(ex, []*statemachine.TaskRun{done})
	var got []string
	for _, line := range strings.Split(b.String(), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[1] == "a" {
			got = append(got, f[0]+" "+f[2])
		}
	}
	want := []string{"SUBMITTED", "10:00:00.000 RUNNING", "10:00:00.001 INFO", "10:00:00.002 SUCCESS"}
	if len(got) != 4 || !strings.HasSuffix(got[0], want[0]) || strings.Join(got[1:], "|") != strings.Join(want[1:], "|") {
		t.Errorf("printed %q, want %q", got, want)
	}
}
