package systemtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relayflow/relay/statemachine"
)

// A fault-injecting HTTP proxy in front of DynamoDB Local: what the SDK
// meets when DynamoDB throttles, fails or stops answering, including
// failures after the request was applied (its answer lost), which a retry
// must not apply twice.

// fault is what the proxy does to one request.
type fault string

const (
	faultNone fault = ""
	// Answered without reaching DynamoDB.
	faultProvisioned fault = "ProvisionedThroughputExceededException"
	faultThrottling  fault = "ThrottlingException"
	fault500         fault = "500"
	fault503         fault = "503"
	faultTimeout     fault = "timeout" // no answer until the client gives up
	faultReset       fault = "reset"   // the connection closed without an answer
	// Applied by DynamoDB, the answer replaced or lost.
	faultApplied500     fault = "applied-500"
	faultAppliedTimeout fault = "applied-timeout"
)

// dynamoProxy forwards requests to DynamoDB Local, injecting faults.
type dynamoProxy struct {
	t       *testing.T
	target  string
	port    int
	hang    time.Duration // how long a timeout fault holds its request
	mu      sync.Mutex
	srv     *http.Server
	pick    func() fault // nil: no faults
	rng     *rand.Rand
	counts  map[fault]int
	total   atomic.Int64
	forward http.Client
}

func newDynamoProxy(t *testing.T, offset int, hang time.Duration) *dynamoProxy {
	t.Helper()
	target := os.Getenv("AWS_ENDPOINT_URL")
	if target == "" {
		t.Skip("AWS_ENDPOINT_URL not set")
	}
	p := &dynamoProxy{t: t, target: target, port: portNear("DYNAMODB", 18000, offset), hang: hang,
		rng: rand.New(rand.NewPCG(19, 5)), counts: map[fault]int{}, forward: http.Client{Timeout: 30 * time.Second}}
	p.up()
	t.Cleanup(p.down)
	return p
}

func (p *dynamoProxy) url() string { return fmt.Sprintf("http://127.0.0.1:%d", p.port) }

// up starts listening (again): connections are accepted.
func (p *dynamoProxy) up() {
	p.t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port may linger for a moment after down
		if ln, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p.port)); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("the DynamoDB proxy cannot listen: %v", err)
	}
	srv := &http.Server{Handler: p}
	p.mu.Lock()
	p.srv = srv
	p.mu.Unlock()
	go srv.Serve(ln)
}

// down stops listening and drops open connections: connections are
// refused, as when DynamoDB is down.
func (p *dynamoProxy) down() {
	p.mu.Lock()
	srv := p.srv
	p.srv = nil
	p.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// inject makes the proxy fail a share of the requests with the faults
// given, drawn at random (seeded: the same sequence each run).
func (p *dynamoProxy) inject(rate float64, faults ...fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(faults) == 0 {
		p.pick = nil
		return
	}
	p.pick = func() fault {
		if p.rng.Float64() >= rate {
			return faultNone
		}
		return faults[p.rng.IntN(len(faults))]
	}
}

func (p *dynamoProxy) injected() map[fault]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[fault]int{}
	for k, v := range p.counts {
		out[k] = v
	}
	return out
}

func (p *dynamoProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.total.Add(1)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	p.mu.Lock()
	f := faultNone
	if p.pick != nil {
		f = p.pick()
	}
	if f != faultNone {
		p.counts[f]++
	}
	p.mu.Unlock()
	switch f {
	case faultProvisioned, faultThrottling:
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":"injected by the test proxy"}`, f)
		return
	case fault500, fault503:
		code := http.StatusInternalServerError
		if f == fault503 {
			code = http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(code)
		fmt.Fprint(w, `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected by the test proxy"}`)
		return
	case faultTimeout:
		p.hold(r)
		return
	case faultReset:
		p.reset(w)
		return
	}
	res, err := p.send(r, body)
	if err != nil {
		p.reset(w)
		return
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	switch f {
	case faultApplied500:
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected after the request was applied"}`)
		return
	case faultAppliedTimeout:
		p.hold(r)
		return
	}
	for k, vs := range res.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(res.StatusCode)
	w.Write(out)
}

// hold keeps the request without an answer until the client gives up.
func (p *dynamoProxy) hold(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(p.hang):
	}
}

func (p *dynamoProxy) reset(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
			c.Close()
		}
	}
}

func (p *dynamoProxy) send(r *http.Request, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(context.WithoutCancel(r.Context()), r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = r.Header.Clone()
	res, err := p.forward.Do(req)
	if err != nil && !errors.Is(err, context.Canceled) {
		p.t.Logf("DynamoDB proxy: forwarding failed: %v", err)
	}
	return res, err
}

// DynamoDB throttles, answers 5xx, resets connections and stops answering
// (sometimes after applying a write, its answer lost) for a fifth of the
// requests of every role: the SDK retries each with backoff, what still
// fails is retried by the handlers, and every execution succeeds with each
// task run attempted once and each task's line logged once: nothing lost,
// nothing applied twice.
func TestDynamoFaults_retriedNeverLostNeverAppliedTwice(t *testing.T) {
	faultTest(t)
	d := newDeployment(t)
	d.deploy(chainFlow)
	proxy := newDynamoProxy(t, 10, 2*time.Second)
	env := []string{"AWS_ENDPOINT_URL=" + proxy.url(), "RELAY_AWS_ATTEMPT_TIMEOUT=500ms"}
	proxy.inject(0.2, faultProvisioned, faultThrottling, fault500, fault503, faultTimeout, faultReset, faultApplied500, faultAppliedTimeout)
	d.start("executor", "executor", env...)
	d.start("worker", "worker", env...)
	d.start("scheduler", "scheduler", env...)
	ids := d.submit("systemtest", "chain", 6)
	runs := d.waitEnded(ids, 240*time.Second)
	proxy.inject(0)
	checkOnce(t, d, runs, "one", "two", "three", "four")
	got := proxy.injected()
	t.Logf("%d requests through the proxy, faults injected: %v", proxy.total.Load(), got)
	for _, f := range []fault{faultProvisioned, faultThrottling, fault500, fault503, faultTimeout, faultReset, faultApplied500, faultAppliedTimeout} {
		if got[f] == 0 {
			t.Errorf("no %s fault was injected: the test proves less than it says", f)
		}
	}
}

// retriedChainFlow is chainFlow whose tasks retry: an attempt that an
// outage stopped (its worker could not renew its lease) is CRASHED, and
// runs again as a new attempt.
const retriedChainFlow = `
id: chain
namespace: systemtest
tasks:
  - {id: one, type: io.kestra.plugin.core.log.Log, message: "one {{ execution.id }}", retry: {type: constant, interval: PT1S, maxAttempts: 3}}
  - {id: two, type: io.kestra.plugin.core.log.Log, message: "two {{ execution.id }}", retry: {type: constant, interval: PT1S, maxAttempts: 3}}
  - {id: three, type: io.kestra.plugin.core.log.Log, message: "three {{ execution.id }}", retry: {type: constant, interval: PT1S, maxAttempts: 3}}
  - {id: four, type: io.kestra.plugin.core.log.Log, message: "four {{ execution.id }}", retry: {type: constant, interval: PT1S, maxAttempts: 3}}
`

// DynamoDB stops answering (connections refused) for longer than the
// SDK's retries last, while executions run, then comes back: the roles
// report 503 on /healthz meanwhile, log the outage once, and every
// execution succeeds, nothing lost and no attempt run twice.
func TestOutage_dynamoDBUnreachable(t *testing.T) {
	faultTest(t)
	d := newDeployment(t)
	d.deploy(retriedChainFlow)
	proxy := newDynamoProxy(t, 11, time.Second)
	env := []string{"AWS_ENDPOINT_URL=" + proxy.url(), "RELAY_AWS_ATTEMPT_TIMEOUT=1s"}
	health := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", portNear("DYNAMODB", 18000, 20+i)) }
	procs := []*proc{
		d.start("executor", "executor", append(env, "--health-addr", health(0))...),
		d.start("worker", "worker", append(env, "--health-addr", health(1))...),
		d.start("router", "router,scheduler", append(env, "--health-addr", health(2))...),
	}
	for i, p := range procs {
		p.waitOutput("consuming", 60*time.Second)
		waitHealth(t, http.StatusOK, 30*time.Second, health(i))
	}
	before := d.submit("systemtest", "chain", 10)
	d.waitEnded(before[:2], 90*time.Second)
	proxy.down()
	during := d.submit("systemtest", "chain", 5)
	waitHealth(t, http.StatusServiceUnavailable, 60*time.Second, health(0), health(1), health(2))
	time.Sleep(15 * time.Second) // past the SDK's own retries
	alive(t, procs...)
	proxy.up()
	waitHealth(t, http.StatusOK, 60*time.Second, health(0), health(1), health(2))
	// An attempt cut off for longer than its lease is CRASHED and retried:
	// its line may be logged again by the next attempt.
	checkAtLeastOnce(t, d, d.waitEnded(append(before, during...), 120*time.Second), "one", "two", "three", "four")
	alive(t, procs...)
	checkLoggedOnce(t, "dynamodb", procs...)
}

// The promise kept through a partition: a worker that cannot reach the
// table to renew its lease on a running attempt stops the attempt before
// the lease ends, so no other worker can hold the attempt while it still
// runs; once the table is back, the worker the attempt is delivered to
// next reports it CRASHED, and the task's retry policy runs a second
// attempt (side effects are at least once), after the first stopped,
// never alongside it.
func TestLease_aWorkerCutOffFromTheTableStopsItsAttemptBeforeTheLeaseEnds(t *testing.T) {
	faultTest(t)
	d := newDeployment(t)
	lines := filepath.Join(t.TempDir(), "lines")
	d.deploy(fmt.Sprintf(`
id: fenced
namespace: systemtest
tasks:
  - id: ticks
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - run=$(date +%%s%%N)
      - for i in $(seq 1 50); do echo "$run $(date +%%s%%N)" >> %s; sleep 0.1; done
    retry: {type: constant, interval: PT1S, maxAttempts: 2}
`, lines))
	proxy := newDynamoProxy(t, 12, time.Second)
	const lease = 3 * time.Second
	env := []string{"AWS_ENDPOINT_URL=" + proxy.url(), "RELAY_AWS_ATTEMPT_TIMEOUT=300ms", "RELAY_ATTEMPT_LEASE=" + lease.String()}
	d.start("executor", "executor")
	d.start("scheduler", "scheduler") // the retry's delay is a durable timer
	d.start("worker", "worker", env...)
	ids := d.submit("systemtest", "fenced", 1)
	deadline := time.Now().Add(60 * time.Second)
	for fi, err := os.Stat(lines); err != nil || fi.Size() == 0; fi, err = os.Stat(lines) {
		if time.Now().After(deadline) {
			t.Fatal("the attempt never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cut := time.Now()
	proxy.down()
	time.Sleep(lease + 2*time.Second)
	proxy.up()
	ex := d.waitEnded(ids, 120*time.Second)[0]
	r, _ := ex.Run("ticks")
	if ex.State != statemachine.ExecSuccess || r == nil || len(r.Attempts) != 2 {
		t.Fatalf("execution %s, task run %+v: want SUCCESS after two attempts", ex.State, r)
	}
	if a := r.Attempts[0]; a.State != statemachine.RunCrashed || a.Error == nil || a.Error.Type != "WorkerLost" {
		t.Errorf("first attempt %s (%+v), want CRASHED: its worker lost the lease", a.State, a.Error)
	}
	runs := map[string][2]int64{} // run -> first and last line, ns
	var order []string
	raw, err := os.ReadFile(lines)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var run string
		var at int64
		if _, err := fmt.Sscan(l, &run, &at); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		r, ok := runs[run]
		if !ok {
			order = append(order, run)
			r[0] = at
		}
		r[1] = at
		runs[run] = r
	}
	if len(order) != 2 {
		t.Fatalf("%d runs of the script, want 2 (the first attempt stopped, then the second): %v", len(order), runs)
	}
	first, second := runs[order[0]], runs[order[1]]
	if stopped := time.Unix(0, first[1]); stopped.After(cut.Add(lease)) {
		t.Errorf("the cut-off worker ran the attempt until %s after the cut, past its %s lease", stopped.Sub(cut), lease)
	}
	if second[0] <= first[1] {
		t.Errorf("the second run started %s before the first stopped", time.Duration(first[1]-second[0]))
	}
}

// checkAtLeastOnce asserts that every execution succeeded, each task run
// with one attempt, or CRASHED attempts (an outage outlasted their lease)
// and then one that succeeded, and each task's line logged at least once;
// it logs the CRASHED attempts and the lines logged more than once (side
// effects made again by a retry).
func checkAtLeastOnce(t *testing.T, d *deployment, runs []*statemachine.Execution, tasks ...string) {
	t.Helper()
	again, crashed := 0, 0
	for _, ex := range runs {
		if ex.State != statemachine.ExecSuccess {
			t.Errorf("execution %s ended %s: %s", ex.ID, ex.State, ex.Error)
		}
		for _, r := range ex.TaskRuns {
			for i, a := range r.Attempts {
				switch {
				case i == len(r.Attempts)-1 && a.State == statemachine.RunSuccess:
				case i < len(r.Attempts)-1 && a.State == statemachine.RunCrashed:
					crashed++
				default:
					t.Errorf("execution %s: %s attempt %d of %d is %s (%+v), want CRASHED ones, then one SUCCESS", ex.ID, r.ID, a.Number, len(r.Attempts), a.State, a.Error)
				}
			}
		}
		logs := d.logCounts(ex.ID)
		for _, task := range tasks {
			switch n := logs[task+" "+ex.ID]; {
			case n == 0:
				t.Errorf("execution %s: task %s logged nothing: lost", ex.ID, task)
			case n > 1:
				again += n - 1
			}
		}
	}
	t.Logf("%d attempts CRASHED, %d task lines logged more than once (side effects made again by a retry)", crashed, again)
}
