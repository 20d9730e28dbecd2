package systemtest

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relayflow/relay/api"
	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/statemachine"
)

// The soak (make soak, not in CI): `relay dev` as separate processes (1
// executor, 2 workers, router, scheduler, api) under a steady load of
// executions for SOAK_DURATION (default 2m), started through the HTTP API
// at SOAK_RATE a second (default 2), while a random process is killed with
// SIGKILL every SOAK_KILL_EVERY (default 5s) and started again. It reports
// executions per second, lost executions (must be 0), duplicated
// executions (must be 0: one downstream execution per upstream one, none
// the client did not ask for), attempts that ran twice (must be 0: an
// attempt runs at most once), CRASHED attempts (a worker killed mid-attempt)
// and the side effects their retries made again (reported: side effects are
// at least once), and the memory of each process over time.

const soakFlows = `
id: soak
namespace: soak
tasks:
  - {id: first, type: io.kestra.plugin.core.log.Log, message: "start {{ execution.id }}"}
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: "{{ range(1, 10) }}"
    tasks:
      - id: side
        type: io.kestra.plugin.scripts.shell.Commands
        commands: ['echo "side $RELAY_EXECUTION_ID/$RELAY_TASKRUN_ID $RELAY_ATTEMPT_KEY" >> %[1]s']
        retry: {type: constant, interval: PT1S, maxAttempts: 3}
  - id: flaky
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ['echo "flaky $RELAY_EXECUTION_ID/$RELAY_TASKRUN_ID $RELAY_ATTEMPT_KEY" >> %[1]s', '[ "$RELAY_ATTEMPT" -ge 2 ]']
    retry: {type: constant, interval: PT1S, maxAttempts: 4}
  - {id: last, type: io.kestra.plugin.core.debug.Return, format: done}
---
id: after
namespace: soak
tasks:
  - {id: log, type: io.kestra.plugin.core.log.Log, message: "after {{ trigger.executionId }}"}
triggers:
  - id: upstream
    type: io.kestra.plugin.core.trigger.Flow
    states: [SUCCESS]
    conditions:
      - {type: io.kestra.plugin.core.condition.ExecutionFlow, namespace: soak, flowId: soak}
`

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}

// role is one process of the soak, started again after each kill.
type role struct {
	name, roles string
	extra       []string
	mu          sync.Mutex
	p           *proc
	incarnation int
	rss         []string // "elapsed:MB" samples
}

func rssMB(pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

func TestSoak(t *testing.T) {
	if os.Getenv("RELAY_SOAK") != "1" {
		t.Skip("the soak runs with `make soak` (RELAY_SOAK=1)")
	}
	duration := envDuration("SOAK_DURATION", 2*time.Minute)
	every := envDuration("SOAK_KILL_EVERY", 5*time.Second)
	rate, _ := strconv.ParseFloat(os.Getenv("SOAK_RATE"), 64)
	if rate <= 0 {
		rate = 2
	}
	d := newDeployment(t)
	effects := filepath.Join(t.TempDir(), "effects")
	for _, src := range strings.Split(fmt.Sprintf(soakFlows, effects), "---") {
		// Through the API, which indexes the flow trigger.
		if _, err := d.rt.API().DeployFlow(context.Background(), "soak.yaml", []byte(src)); err != nil {
			t.Fatal(err)
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", portNear("DYNAMODB", 18000, 50))
	roles := []*role{
		{name: "executor", roles: "executor"},
		{name: "worker-1", roles: "worker"},
		{name: "worker-2", roles: "worker"},
		{name: "router", roles: "router"},
		{name: "scheduler", roles: "scheduler"},
		{name: "api", roles: "api", extra: []string{"--addr", addr}},
	}
	var begin time.Time
	startRole := func(r *role) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.incarnation++
		r.p = d.start(fmt.Sprintf("%s#%d", r.name, r.incarnation), r.roles, r.extra...)
	}
	for _, r := range roles {
		startRole(r)
	}
	roles[5].p.waitOutput("serving the HTTP API", 60*time.Second)
	begin = time.Now()
	client, err := api.NewClient("http://"+addr, nil)
	if err != nil {
		t.Fatal(err)
	}

	ctx, stop := context.WithTimeout(context.Background(), duration)
	defer stop()
	var wg sync.WaitGroup
	var kills atomic.Int64
	wg.Go(func() { // random kills
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 19))
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(every):
			}
			r := roles[rng.IntN(len(roles))]
			r.mu.Lock()
			p := r.p
			r.mu.Unlock()
			p.kill()
			kills.Add(1)
			startRole(r)
		}
	})
	wg.Go(func() { // memory
		for {
			for _, r := range roles {
				r.mu.Lock()
				if r.p.cmd.Process != nil {
					r.rss = append(r.rss, fmt.Sprintf("%s:%.0f", time.Since(begin).Round(time.Second), rssMB(r.p.cmd.Process.Pid)))
				}
				r.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Second):
			}
		}
	})
	var mu sync.Mutex
	var ids []string
	var startErrors int
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
			wg.Go(func() {
				rctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				st, err := client.StartWith(rctx, "soak", "soak", nil, nil, api.StartOptions{IdempotencyKey: "soak-" + engine.NewID()})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					startErrors++
					t.Logf("start failed: %v", err)
					return
				}
				ids = append(ids, st.ID)
			})
		}
	}
	tick.Stop()
	wg.Wait()
	loaded := time.Since(begin)

	// Every execution asked for ends, lost being those that do not.
	runs := d.waitEndedOrNot(ids, 5*time.Minute)
	elapsed := time.Since(begin)
	lost, succeeded := 0, 0
	for i, ex := range runs {
		switch {
		case ex == nil || !ex.State.Terminal():
			lost++
			t.Logf("lost: %s", ids[i])
		case ex.State == statemachine.ExecSuccess:
			succeeded++
		default:
			t.Logf("execution %s ended %s: %s", ex.ID, ex.State, ex.Error)
		}
	}
	all, err := d.rt.Store.Executions(context.Background(), engine.ExecutionFilter{Namespace: "soak"})
	if err != nil {
		t.Fatal(err)
	}
	asked := map[string]bool{}
	for _, id := range ids {
		asked[id] = true
	}
	upstream, downstream, strangers := 0, 0, 0
	for _, ex := range all {
		switch {
		case ex.FlowID == "soak" && asked[ex.ID]:
			upstream++
		case ex.FlowID == "soak":
			strangers++ // started, but not by a request of the soak: a duplicate
		case ex.FlowID == "after":
			downstream++
		}
	}
	dupExecutions := strangers + max(0, downstream-succeeded)
	missingDownstream := max(0, succeeded-downstream)
	raw, _ := os.ReadFile(effects)
	seen := map[string]int{}                 // attempt key -> runs of its script
	sideKeys := map[string]map[string]bool{} // side's task run -> its attempts that ran
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		seen[f[2]]++
		if f[0] == "side" {
			if sideKeys[f[1]] == nil {
				sideKeys[f[1]] = map[string]bool{}
			}
			sideKeys[f[1]][f[2]] = true
		}
	}
	ranTwice, madeAgain, crashed := 0, 0, 0
	for _, n := range seen {
		ranTwice += n - 1
	}
	for _, keys := range sideKeys {
		madeAgain += len(keys) - 1
	}
	for _, ex := range runs {
		if ex == nil {
			continue
		}
		for _, r := range ex.TaskRuns {
			for _, a := range r.Attempts {
				if a.State == statemachine.RunCrashed {
					crashed++
				}
			}
		}
	}

	var report strings.Builder
	fmt.Fprintf(&report, "soak: %s of load at %.1f/s, %d kills (one every %s)\n", loaded.Round(time.Second), rate, kills.Load(), every)
	fmt.Fprintf(&report, "executions: %d asked (%d start requests failed), %d succeeded, %.2f executions/s over %s\n",
		len(ids), startErrors, succeeded, float64(succeeded)/elapsed.Seconds(), elapsed.Round(time.Second))
	fmt.Fprintf(&report, "lost: %d (must be 0)\n", lost)
	fmt.Fprintf(&report, "duplicated executions: %d (must be 0; %d not asked for, %d downstream for %d successes, %d missing)\n", dupExecutions, strangers, downstream, succeeded, missingDownstream)
	fmt.Fprintf(&report, "attempts run twice: %d of %d shell attempts (must be 0)\n", ranTwice, len(seen))
	fmt.Fprintf(&report, "CRASHED attempts: %d (a worker killed mid-attempt); side effects made again by their retries: %d of %d side task runs (at least once)\n", crashed, madeAgain, len(sideKeys))
	fmt.Fprintf(&report, "memory (RSS MB, elapsed:MB every 10s; a kill restarts a process):\n")
	sort.Slice(roles, func(i, j int) bool { return roles[i].name < roles[j].name })
	for _, r := range roles {
		fmt.Fprintf(&report, "  %-10s %d starts  %s\n", r.name, r.incarnation, strings.Join(r.rss, " "))
	}
	t.Log("\n" + report.String())
	if path := os.Getenv("SOAK_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(report.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
	if lost > 0 || dupExecutions > 0 || missingDownstream > 0 || startErrors > 0 || ranTwice > 0 {
		t.Errorf("lost %d, duplicated %d, downstream missing %d, failed starts %d, attempts run twice %d: want 0 each", lost, dupExecutions, missingDownstream, startErrors, ranTwice)
	}
}

// waitEndedOrNot polls the table until every execution has ended or the
// time is up, and returns each as last read (nil: never created).
func (d *deployment) waitEndedOrNot(ids []string, timeout time.Duration) []*statemachine.Execution {
	deadline := time.Now().Add(timeout)
	out := make([]*statemachine.Execution, len(ids))
	for i, id := range ids {
		for {
			ex, err := d.rt.Store.Execution(context.Background(), id)
			if err == nil {
				out[i] = ex
			}
			if err == nil && ex.State.Terminal() || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return out
}
