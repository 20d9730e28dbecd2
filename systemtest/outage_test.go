package systemtest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/relayflow/relay/internal/servicetest"
	"github.com/relayflow/relay/serverless"
)

// Tests of issue 19's first promise: every long-lived role of `relay dev`
// rides through an outage of Kafka or DynamoDB of any length. It backs off
// (with jitter), logs once per change of state, reports 503 on /healthz
// meanwhile, resumes by itself and loses nothing.

// portNear returns RELAY_<name>_PORT (or def) plus offset: the tests that
// run servers of their own (a broker they kill, a proxy they cut) take
// ports beside the services', so that checkouts side by side do not meet.
func portNear(name string, def, offset int) int {
	base, err := strconv.Atoi(os.Getenv("RELAY_" + name + "_PORT"))
	if err != nil || base <= 0 {
		base = def
	}
	return base + offset
}

// broker is a Kafka broker of a test's own (services.sh broker), which the
// test kills with SIGKILL and starts again on the same data.
type broker struct {
	t     *testing.T
	dir   string
	ports [3]int
	p     *proc
	n     int
}

func startBroker(t *testing.T) *broker {
	t.Helper()
	servicetest.Require(t, serverless.EnvBrokers)
	b := &broker{t: t, dir: t.TempDir()}
	for i := range b.ports {
		b.ports[i] = portNear("KAFKA", 19092, 10+i)
		if portOpen(b.ports[i]) {
			t.Fatalf("port %d, for the test's own broker, is in use", b.ports[i])
		}
	}
	b.start()
	return b
}

func (b *broker) addr() string { return fmt.Sprintf("127.0.0.1:%d", b.ports[0]) }

func portOpen(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// start runs the broker and waits until it answers a metadata request.
func (b *broker) start() {
	b.t.Helper()
	b.n++
	cmd := exec.Command("bash", filepath.Join("..", "services", "services.sh"), "broker", b.dir,
		strconv.Itoa(b.ports[0]), strconv.Itoa(b.ports[1]), strconv.Itoa(b.ports[2]))
	b.p = startProc(b.t, fmt.Sprintf("broker-%d", b.n), cmd)
	deadline := time.Now().Add(90 * time.Second)
	for {
		conn, err := kafkago.DialContext(context.Background(), "tcp", b.addr())
		if err == nil {
			_, err = conn.Brokers()
			conn.Close()
			if err == nil {
				return
			}
		}
		select {
		case <-b.p.exited:
			b.t.Fatalf("the broker exited while starting:\n%s", b.p.String())
		default:
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("the broker did not answer within 90s: %v\n%s", err, b.p.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// kill sends the broker SIGKILL.
func (b *broker) kill() {
	b.p.kill()
	for portOpen(b.ports[0]) {
		time.Sleep(50 * time.Millisecond)
	}
}

// healthz returns the status code of a process's /healthz (0: no answer).
func healthz(addr string) int {
	c := http.Client{Timeout: 2 * time.Second}
	res, err := c.Get("http://" + addr + "/healthz")
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

// waitHealth waits until every address's /healthz answers code.
func waitHealth(t *testing.T, code int, timeout time.Duration, addrs ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for _, a := range addrs {
		for got := healthz(a); got != code; got = healthz(a) {
			if time.Now().After(deadline) {
				t.Fatalf("%s/healthz answers %d, want %d, after %s", a, got, code, timeout)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// alive fails the test for each process that exited.
func alive(t *testing.T, ps ...*proc) {
	t.Helper()
	for _, p := range ps {
		select {
		case <-p.exited:
			t.Errorf("%s exited during the outage:\n%s", p.name, p.String())
		default:
		}
	}
}

// changesLogged counts the lines of a process's output that say a
// dependency became unavailable, and those that say it is back.
func changesLogged(p *proc, dep string) (down, up int) {
	for _, line := range strings.Split(p.String(), "\n") {
		if !strings.Contains(line, "dependency="+dep) {
			continue
		}
		switch {
		case strings.Contains(line, "dependency unavailable"):
			down++
		case strings.Contains(line, "dependency available again"):
			up++
		}
	}
	return down, up
}

// checkLoggedOnce checks that each process logged the outage of dep at
// least once, and once per change of state rather than once per retry.
func checkLoggedOnce(t *testing.T, dep string, ps ...*proc) {
	t.Helper()
	for _, p := range ps {
		down, up := changesLogged(p, dep)
		if down == 0 || up == 0 {
			t.Errorf("%s logged %d outages and %d recoveries of %s, want at least one each", p.name, down, up, dep)
		}
		if down > 3 || down-up > 1 || up > down {
			t.Errorf("%s logged %d outages and %d recoveries of %s: want one line per change of state", p.name, down, up, dep)
		}
		if n := strings.Count(p.String(), "level=ERROR"); n > 3 {
			t.Errorf("%s logged %d errors during an outage of %s, want the outage logged once:\n%s", p.name, n, dep, p.String())
		}
	}
}

// The broker is killed with SIGKILL while executions run, stays down
// longer than any client's own retries, and starts again on its data. No
// `relay dev` process exits (not even one started while the broker is
// down), each reports 503 on /healthz meanwhile and logs the outage once,
// they resume by themselves, and every execution, started before, during
// or after the outage, succeeds with each task run once.
func TestOutage_kafkaBrokerKilledAndRestarted(t *testing.T) {
	faultTest(t)
	b := startBroker(t)
	d := newDeploymentOn(t, []string{b.addr()})
	d.deploy(chainFlow)
	health := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", portNear("KAFKA", 19092, 20+i)) }
	procs := []*proc{
		d.start("executor", "executor", "--health-addr", health(0)),
		d.start("worker", "worker", "--health-addr", health(1)),
		d.start("router", "router,scheduler", "--health-addr", health(2)),
	}
	for i, p := range procs {
		p.waitOutput("consuming", 60*time.Second)
		waitHealth(t, http.StatusOK, 30*time.Second, health(i))
	}
	before := d.submit("systemtest", "chain", 10)
	d.waitEnded(before[:3], 90*time.Second)

	b.kill()
	waitHealth(t, http.StatusServiceUnavailable, 60*time.Second, health(0), health(1), health(2))
	late := d.start("worker-late", "worker", "--health-addr", health(3))
	waitHealth(t, http.StatusServiceUnavailable, 60*time.Second, health(3))
	time.Sleep(12 * time.Second) // past the producer's retries and the group's session
	alive(t, append(procs, late)...)

	b.start()
	waitHealth(t, http.StatusOK, 90*time.Second, health(0), health(1), health(2), health(3))
	after := d.submit("systemtest", "chain", 5)
	checkOnce(t, d, d.waitEnded(append(before, after...), 120*time.Second), "one", "two", "three", "four")
	alive(t, append(procs, late)...)
	checkLoggedOnce(t, "kafka", append(procs, late)...)
}
