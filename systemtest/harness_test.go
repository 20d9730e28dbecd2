package systemtest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/internal/servicetest"
	"github.com/relayflow/relay/serverless"
	"github.com/relayflow/relay/statemachine"
)

var binDir string // where TestMain builds the relay binaries

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "relay-systemtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var builds sync.Map // tags -> *build

type build struct {
	once sync.Once
	path string
	err  error
}

// relayBinary builds cmd/relay once per test binary, with the fault
// injection points of the relayfaults tag.
func relayBinary(t *testing.T) string {
	t.Helper()
	v, _ := builds.LoadOrStore("relayfaults", &build{})
	b := v.(*build)
	b.once.Do(func() {
		b.path = filepath.Join(binDir, "relay")
		cmd := exec.Command("go", "build", "-tags", "relayfaults", "-o", b.path, "./cmd/relay")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("building relay: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// deployment is a table and topics of a test's own, with a runtime in the
// test process to deploy flows, submit executions and read state.
type deployment struct {
	t   *testing.T
	rt  *serverless.Runtime
	env []string // the environment of `relay dev` processes on it
}

// faultTest skips a test of the fault suite unless RELAY_FAULT_TESTS=1:
// `make test-faults` runs them, and CI runs it after `make test`. They
// kill a broker, cut DynamoDB off and keep the machine busy for minutes,
// so they do not run beside the other packages' tests (whose timing
// checks they would upset).
func faultTest(t *testing.T) {
	t.Helper()
	if os.Getenv("RELAY_FAULT_TESTS") != "1" {
		t.Skip("a fault test: run by `make test-faults`")
	}
}

// writeRecords writes raw records to topic of the deployment's brokers,
// through a writer with a transport of its own: kafka-go's shared default
// transport caches topic metadata, and would not know the topics of a
// deployment created after an earlier test used it (Unknown Topic Or
// Partition).
func (d *deployment) writeRecords(ctx context.Context, topic string, records ...kafkago.Message) error {
	transport := &kafkago.Transport{}
	defer transport.CloseIdleConnections()
	w := &kafkago.Writer{Addr: kafkago.TCP(d.rt.Config.Brokers...), Topic: topic, Balancer: &kafkago.Hash{}, Transport: transport}
	defer w.Close()
	return w.WriteMessages(ctx, records...)
}

func newDeployment(t *testing.T) *deployment {
	t.Helper()
	return newDeploymentOn(t, nil)
}

// newDeploymentOn is newDeployment on other brokers than the services'
// (nil: theirs).
func newDeploymentOn(t *testing.T, brokers []string) *deployment {
	t.Helper()
	servicetest.Require(t, serverless.EnvBrokers, "AWS_ENDPOINT_URL")
	name := fmt.Sprintf("s%d", time.Now().UnixNano())
	cfg, err := serverless.ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if brokers != nil {
		cfg.Brokers = brokers
	}
	cfg.Table, cfg.TopicPrefix = "relay-"+name, name+"."
	ctx := context.Background()
	rt, err := serverless.Open(ctx, cfg, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Store.CreateTable(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rt.Close()
		rt.Store.DeleteTable(context.Background())
	})
	env := append(os.Environ(), serverless.EnvTable+"="+cfg.Table, serverless.EnvTopicPrefix+"="+cfg.TopicPrefix,
		serverless.EnvBrokers+"="+strings.Join(cfg.Brokers, ","))
	return &deployment{t: t, rt: rt, env: env}
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

// deploy stores a flow document.
func (d *deployment) deploy(src string) {
	d.t.Helper()
	if _, _, err := d.rt.Engine.Deploy(context.Background(), "test.yaml", []byte(src)); err != nil {
		d.t.Fatal(err)
	}
}

// submit requests n executions of a flow and returns their ids.
func (d *deployment) submit(namespace, flowID string, n int) []string {
	d.t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = engine.NewID()
		if err := d.rt.Engine.Submit(context.Background(), statemachine.Event{ExecutionID: ids[i], Namespace: namespace, FlowID: flowID}); err != nil {
			d.t.Fatal(err)
		}
	}
	return ids
}

// waitEnded polls the table until every execution has ended.
func (d *deployment) waitEnded(ids []string, timeout time.Duration) []*statemachine.Execution {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	out := make([]*statemachine.Execution, len(ids))
	for i, id := range ids {
		for {
			ex, err := d.rt.Store.Execution(context.Background(), id)
			if err == nil && ex.State.Terminal() {
				out[i] = ex
				break
			}
			if time.Now().After(deadline) {
				state := "not created"
				if ex != nil {
					state = string(ex.State)
				}
				d.t.Fatalf("execution %s still %s after %s (%v)", id, state, timeout, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return out
}

// logCounts counts an execution's log messages.
func (d *deployment) logCounts(id string) map[string]int {
	d.t.Helper()
	lines, err := d.rt.Store.Logs(context.Background(), id, 0, 0)
	if err != nil {
		d.t.Fatal(err)
	}
	n := map[string]int{}
	for _, l := range lines {
		n[l.Message]++
	}
	return n
}

// proc is a `relay dev` process.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	name   string
	mu     sync.Mutex
	output bytes.Buffer
	exited chan struct{}
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.output.Write(b)
}

func (p *proc) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.output.String()
}

// start runs `relay dev --role ROLE` on the deployment, in a process group
// of its own, with extra environment variables (NAME=value) and flags
// (--flag, then its value if it has one).
func (d *deployment) start(name, role string, extra ...string) *proc {
	d.t.Helper()
	args := []string{"dev", "--role", role, "--consumers", "1", "--create-table=false"}
	env := append([]string(nil), d.env...)
	for i := 0; i < len(extra); i++ {
		if strings.HasPrefix(extra[i], "--") {
			args = append(args, extra[i])
			if i+1 < len(extra) && !strings.HasPrefix(extra[i+1], "--") && !strings.Contains(extra[i+1], "=") {
				args = append(args, extra[i+1])
				i++
			}
			continue
		}
		env = append(env, extra[i])
	}
	cmd := exec.Command(relayBinary(d.t), args...)
	cmd.Env = env
	return startProc(d.t, name, cmd)
}

// startArgs runs `relay ARGS...` on the deployment.
func (d *deployment) startArgs(name string, args ...string) *proc {
	d.t.Helper()
	cmd := exec.Command(relayBinary(d.t), args...)
	cmd.Env = d.env
	return startProc(d.t, name, cmd)
}

// startProc starts cmd in a process group of its own, killed (with its
// children) when the test ends.
func startProc(t *testing.T, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{t: t, name: name, cmd: cmd, exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() || testing.Verbose() {
			t.Logf("output of %s:\n%s", name, p.String())
		}
	})
	return p
}

// kill sends SIGKILL to the process and its children (kill -9).
func (p *proc) kill() {
	if p.cmd.Process == nil {
		return
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.t.Errorf("%s did not exit after SIGKILL", p.name)
	}
}

// waitOutput waits until the process has printed s.
func (p *proc) waitOutput(s string, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.String(), s) {
		select {
		case <-p.exited:
			p.t.Fatalf("%s exited before printing %q:\n%s", p.name, s, p.String())
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s did not print %q within %s:\n%s", p.name, s, timeout, p.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
