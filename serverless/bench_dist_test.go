package serverless_test

// Benchmarks of the distributed path: the executor handlers behind
// EventSources in this process, task-run workers in `relay dev --role
// worker` processes, Kafka and DynamoDB Local. `make bench-dist` runs them;
// docs/benchmarks.md has the figures and what each one means.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/infra/dynamo"
	"github.com/relayflow/relay/infra/kafka"
	"github.com/relayflow/relay/internal/servicetest"
	"github.com/relayflow/relay/internal/testnet"
	"github.com/relayflow/relay/serverless"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/tasks"
	"github.com/relayflow/relay/tasks/builtin"
	"github.com/relayflow/relay/triggers"
)

// Environment of the distributed benchmarks.
const (
	// envBenchDist must be 1 for them to run: each takes tens of seconds,
	// too long for `make bench`, which runs every other benchmark.
	envBenchDist = "RELAY_BENCH_DIST"
	// envBenchBin names a relay binary to run the workers with; without
	// it the benchmark builds ./cmd/relay.
	envBenchBin = "RELAY_BENCH_BIN"
)

// requireDist skips the benchmark unless it was asked for and Kafka and
// DynamoDB are there (it fails without them under RELAY_REQUIRE_SERVICES=1).
func requireDist(b *testing.B) {
	b.Helper()
	if os.Getenv(envBenchDist) != "1" {
		b.Skipf("%s=1 runs the distributed benchmarks (make bench-dist)", envBenchDist)
	}
	servicetest.Require(b, serverless.EnvBrokers, "AWS_ENDPOINT_URL")
}

// relayBinary returns the relay binary the worker processes run.
func relayBinary(b *testing.B) string {
	b.Helper()
	if bin := os.Getenv(envBenchBin); bin != "" {
		return bin
	}
	bin := filepath.Join(b.TempDir(), "relay")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/relay")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("building relay: %v\n%s", err, out)
	}
	return bin
}

// executorConsumers is what `relay dev` runs per role by default (--consumers).
const executorConsumers = 2

// rig is one deployment on a table and topics of its own: the executor in
// this process, as `relay dev --role executor` runs it, and worker processes.
type rig struct {
	cfg serverless.Config
	// rt runs the executor's handlers; its store counts their capacity.
	rt *serverless.Runtime
	// poll is the store of the executor's outbox-recovery and timer loops,
	// counted apart: their reads depend on time, not on work.
	poll *dynamo.Store
	// probe is the benchmark's own store (waiting, reading results):
	// its capacity is not counted.
	probe *dynamo.Store
	db    *dynamodb.Client
	// workerDB counts the workers' DynamoDB capacity (nil: not counted).
	workerDB *capacityProxy
	// workerPids are the worker processes, for their CPU time.
	workerPids []int

	mu       sync.Mutex
	finished map[string]chan struct{} // execution id -> closed at execution.finished

	// The executor's batches (what would be its Lambda invocations), the
	// records in them and the time spent handling them.
	execBatches, execRecords, execNanos atomic.Int64
}

// startRig starts the executor in this process and `workers` processes of
// `relay dev --role worker`, and returns once every consumer has its
// partitions. Everything stops, and the table and topics are deleted, when
// the benchmark ends.
func startRig(b *testing.B, workers int, countWorkers bool) *rig {
	b.Helper()
	requireDist(b)
	bin := relayBinary(b)
	cfg, err := serverless.ConfigFromEnv()
	if err != nil {
		b.Fatal(err)
	}
	name := fmt.Sprintf("b%d", time.Now().UnixNano())
	cfg.Table, cfg.TopicPrefix = "relay-"+name, name+"."
	log := benchLogger()
	ctx, cancel := context.WithCancel(context.Background())
	r := &rig{cfg: cfg, finished: map[string]chan struct{}{}}
	var (
		wg    sync.WaitGroup
		procs []*exec.Cmd
		outs  []*bytes.Buffer
	)
	rt, err := serverless.Open(ctx, cfg, log)
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	r.rt = rt
	b.Cleanup(func() {
		for _, p := range procs {
			p.Process.Signal(os.Interrupt) // a clean stop: the worker leaves its group
		}
		for i, p := range procs {
			exited := make(chan error, 1)
			go func() { exited <- p.Wait() }()
			select {
			case err := <-exited:
				if err != nil {
					b.Logf("worker %d: %v\n%s", i, err, outs[i])
				}
			case <-time.After(20 * time.Second):
				p.Process.Kill()
				<-exited
				b.Logf("worker %d did not stop within 20s\n%s", i, outs[i])
			}
		}
		if r.workerDB != nil {
			r.workerDB.srv.Close()
		}
		cancel()
		wg.Wait()
		rt.Close()
		ctx := context.Background()
		var notFound *types.ResourceNotFoundException
		if err := rt.Store.DeleteTable(ctx); err != nil && !errors.As(err, &notFound) {
			b.Log(err)
		}
		var topics []string
		for _, t := range []string{engine.TopicExecutions, engine.TopicTaskRuns, engine.TopicEvents, engine.TopicDLQ, floorTopic} {
			topics = append(topics, cfg.TopicPrefix+t)
		}
		client := &kafkago.Client{Addr: kafkago.TCP(cfg.Brokers...), Timeout: 10 * time.Second}
		client.DeleteTopics(ctx, &kafkago.DeleteTopicsRequest{Topics: topics}) // best effort: the broker is wiped when it stops
	})
	if err := rt.Store.CreateTable(ctx); err != nil {
		b.Fatal(err)
	}
	db, err := dynamo.NewClient(ctx)
	if err != nil {
		b.Fatal(err)
	}
	r.db, r.poll, r.probe = db, dynamo.New(db, cfg.Table, dynamo.WithLogger(log)), dynamo.New(db, cfg.Table, dynamo.WithLogger(log))

	// What `relay dev --role executor` runs besides its consumers: outbox
	// recovery at start and every 5s, and the timer loop (every 20ms), here
	// on an engine of their own so that their capacity is counted apart.
	reg, err := builtin.Registry(builtin.Config{Tasks: tasks.Config{Emitter: engine.BusEmitter{Bus: rt.Bus}}})
	if err != nil {
		b.Fatal(err)
	}
	pollers, err := engine.New(engine.Config{Store: r.poll, Bus: rt.Bus, Tasks: reg, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	wg.Go(func() {
		for {
			if err := pollers.Recover(ctx); err != nil && ctx.Err() == nil {
				log.Error("recovering the outbox", slog.Any("error", err))
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(5 * time.Second):
			}
		}
	})
	wg.Go(func() { pollers.RunTimers(ctx) })
	executor := rt.Executor().HandleKafka
	counted := func(ctx context.Context, batch events.KafkaEvent) error {
		start := time.Now()
		err := executor(ctx, batch)
		r.execBatches.Add(1)
		r.execNanos.Add(int64(time.Since(start)))
		for _, recs := range batch.Records {
			r.execRecords.Add(int64(len(recs)))
		}
		return err
	}
	for i := range executorConsumers {
		src := &serverless.EventSource{Brokers: cfg.Brokers, Topic: cfg.TopicPrefix + serverless.RoleExecutor.Topic(), Group: serverless.RoleExecutor.Group(cfg.TopicPrefix),
			Handler: counted, Log: log.With(slog.String("role", "executor"), slog.Int("consumer", i))}
		wg.Go(func() {
			if err := src.Run(ctx); err != nil {
				b.Errorf("executor: %v", err)
			}
		})
	}
	// The router, as `relay dev --role router` runs it.
	router := &serverless.EventSource{Brokers: cfg.Brokers, Topic: cfg.TopicPrefix + serverless.RoleRouter.Topic(), Group: serverless.RoleRouter.Group(cfg.TopicPrefix),
		Handler: rt.Router().HandleKafka, Log: log.With(slog.String("role", "router"))}
	wg.Go(func() {
		if err := router.Run(ctx); err != nil {
			b.Errorf("router: %v", err)
		}
	})
	// The benchmark's observer: execution.finished events tell it when an
	// execution ended, without polling the table.
	wg.Go(func() {
		err := rt.Bus.Subscribe(ctx, engine.TopicEvents, "bench-"+name, func(_ context.Context, ce cloudevents.Event) error {
			if ce.Type() == engine.TypeExecutionFinished {
				r.finish(ce.Subject())
			}
			return nil
		})
		if err != nil && ctx.Err() == nil && !errors.Is(err, engine.ErrBusClosed) {
			b.Errorf("observing %s: %v", engine.TopicEvents, err)
		}
	})

	env := append(os.Environ(), serverless.EnvTable+"="+cfg.Table, serverless.EnvTopicPrefix+"="+cfg.TopicPrefix)
	if countWorkers {
		r.workerDB = newCapacityProxy(b, os.Getenv("AWS_ENDPOINT_URL"))
		env = append(env, "AWS_ENDPOINT_URL_DYNAMODB="+r.workerDB.srv.URL)
	}
	for range workers {
		cmd := exec.Command(bin, "dev", "--role", string(serverless.RoleWorker), "--create-table=false")
		cmd.Env = env
		out := &bytes.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			b.Fatalf("starting a worker: %v", err)
		}
		procs, outs = append(procs, cmd), append(outs, out)
		r.workerPids = append(r.workerPids, cmd.Process.Pid)
	}
	r.waitGroup(b, serverless.RoleExecutor.Group(cfg.TopicPrefix), cfg.TopicPrefix+serverless.RoleExecutor.Topic(), executorConsumers)
	r.waitGroup(b, serverless.RoleWorker.Group(cfg.TopicPrefix), cfg.TopicPrefix+serverless.RoleWorker.Topic(), 2*workers) // relay dev: --consumers 2
	r.waitGroup(b, serverless.RoleRouter.Group(cfg.TopicPrefix), cfg.TopicPrefix+serverless.RoleRouter.Topic(), 1)
	return r
}

func benchLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.DiscardHandler)
}

// done returns the channel closed when execution id finishes.
func (r *rig) done(id string) chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.finished[id]
	if c == nil {
		c = make(chan struct{})
		r.finished[id] = c
	}
	return c
}

// finish marks execution id finished (the event may come twice).
func (r *rig) finish(id string) {
	c := r.done(id)
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-c:
	default:
		close(c)
	}
}

// waitGroup waits until want members of group consume topic and the group
// is stable. The group ids are the roles' (relay-executor, relay-worker),
// shared with any other deployment on the broker, so members of other
// topics are not counted.
func (r *rig) waitGroup(b *testing.B, group, topic string, want int) {
	b.Helper()
	client := &kafkago.Client{Addr: kafkago.TCP(r.cfg.Brokers...), Timeout: 5 * time.Second}
	deadline := time.Now().Add(90 * time.Second)
	var state string
	var got int
	for time.Now().Before(deadline) {
		res, err := client.DescribeGroups(context.Background(), &kafkago.DescribeGroupsRequest{GroupIDs: []string{group}})
		if err == nil && len(res.Groups) == 1 {
			g := res.Groups[0]
			state, got = g.GroupState, 0
			for _, m := range g.Members {
				for _, t := range m.MemberAssignments.Topics {
					if t.Topic == topic && len(t.Partitions) > 0 {
						got++
					}
				}
			}
			if state == "Stable" && got == want {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.Fatalf("group %s on %s: %d of %d members with partitions (state %s) after 90s", group, topic, got, want, state)
}

// submit submits an execution of f and returns its id. Like the API, it
// names the revision, which it has at hand.
func (r *rig) submit(ctx context.Context, f *flow.Flow) (string, error) {
	id := engine.NewID()
	r.done(id)
	return id, r.rt.Engine.Submit(ctx, statemachine.Event{ExecutionID: id, Namespace: f.Namespace, FlowID: f.ID, Revision: f.Revision})
}

// wait waits for the execution.finished event of id, then reads the
// execution with the benchmark's own store.
func (r *rig) wait(ctx context.Context, id string, timeout time.Duration) (*statemachine.Execution, error) {
	select {
	case <-r.done(id):
	case <-time.After(timeout):
		return nil, fmt.Errorf("execution %s did not finish within %s", id, timeout)
	}
	ex, err := r.probe.Execution(ctx, id)
	if err != nil {
		return nil, err
	}
	if ex.State != statemachine.ExecSuccess {
		return nil, fmt.Errorf("execution %s ended %s", id, ex.State)
	}
	return ex, nil
}

// units is capacity consumed, by whom: the executor's handlers, its
// recovery and timer loops, the workers.
type units struct{ execWrite, execRead, pollWrite, pollRead, workerWrite, workerRead float64 }

func (r *rig) units() units {
	u := units{execWrite: r.rt.Store.WriteUnits(), execRead: r.rt.Store.ReadUnits(), pollWrite: r.poll.WriteUnits(), pollRead: r.poll.ReadUnits()}
	if r.workerDB != nil {
		u.workerWrite, u.workerRead = r.workerDB.units()
	}
	return u
}

func (u units) add(v units) units {
	return units{u.execWrite + v.execWrite, u.execRead + v.execRead, u.pollWrite + v.pollWrite, u.pollRead + v.pollRead,
		u.workerWrite + v.workerWrite, u.workerRead + v.workerRead}
}

func (u units) sub(v units) units {
	return units{u.execWrite - v.execWrite, u.execRead - v.execRead, u.pollWrite - v.pollWrite, u.pollRead - v.pollRead,
		u.workerWrite - v.workerWrite, u.workerRead - v.workerRead}
}

// capacityProxy passes HTTP requests on to DynamoDB and sums the capacity
// DynamoDB reports in its answers. The worker processes reach DynamoDB
// through it (AWS_ENDPOINT_URL_DYNAMODB), so that their writes (a claim
// per attempt, log lines) are counted with the executor's.
type capacityProxy struct {
	srv                   *httptest.Server
	writeMilli, readMilli atomic.Int64
}

func newCapacityProxy(b *testing.B, target string) *capacityProxy {
	u, err := url.Parse(target)
	if err != nil || target == "" {
		b.Fatalf("DynamoDB endpoint %q: %v", target, err)
	}
	p := &capacityProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(res *http.Response) error {
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return fmt.Errorf("reading a DynamoDB answer: %w", err)
		}
		res.Body = io.NopCloser(bytes.NewReader(body))
		p.count(res.Request.Header.Get("X-Amz-Target"), body)
		return nil
	}
	p.srv = testnet.Server(b, rp)
	return p
}

// count adds the ConsumedCapacity of an answer to operation op (the
// X-Amz-Target header, such as DynamoDB_20120810.PutItem).
func (p *capacityProxy) count(op string, body []byte) {
	var doc struct{ ConsumedCapacity json.RawMessage }
	if json.Unmarshal(body, &doc) != nil || len(doc.ConsumedCapacity) == 0 {
		return
	}
	type capacity struct{ CapacityUnits float64 }
	var total float64
	var many []capacity
	var one capacity
	if json.Unmarshal(doc.ConsumedCapacity, &many) == nil {
		for _, c := range many {
			total += c.CapacityUnits
		}
	} else if json.Unmarshal(doc.ConsumedCapacity, &one) == nil {
		total = one.CapacityUnits
	}
	milli := int64(total * 1000)
	switch strings.TrimPrefix(op, "DynamoDB_20120810.") {
	case "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems":
		p.writeMilli.Add(milli)
	default:
		p.readMilli.Add(milli)
	}
}

func (p *capacityProxy) units() (write, read float64) {
	return float64(p.writeMilli.Load()) / 1000, float64(p.readMilli.Load()) / 1000
}

// settle waits until the outbox is empty: acknowledgements run in the
// background, and their deletes are part of the work.
func (r *rig) settle(ctx context.Context) error {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		left, err := r.probe.Outbox(ctx, 1)
		if err != nil {
			return err
		}
		if len(left) == 0 {
			return nil
		}
	}
	return errors.New("the outbox is still not empty after 30s")
}

// topicEvents reads every record of a topic (a Relay name) and decodes it.
func (r *rig) topicEvents(ctx context.Context, topic string) ([]cloudevents.Event, error) {
	var out []cloudevents.Event
	err := r.readTopic(ctx, topic, func(m kafkago.Message) {
		if ev, err := kafka.DecodeMessage(plainHeaders(m.Headers), m.Value); err == nil {
			out = append(out, ev)
		}
	})
	return out, err
}

// traffic is what Relay's topics hold: records, and bytes of keys, values
// and headers.
type traffic struct{ records, bytes int }

func (t traffic) sub(u traffic) traffic { return traffic{t.records - u.records, t.bytes - u.bytes} }

// traffic sums the records of the topics Relay's functions consume and
// produce (executions, task runs, events).
func (r *rig) traffic(ctx context.Context) (traffic, error) {
	var t traffic
	for _, topic := range []string{engine.TopicExecutions, engine.TopicTaskRuns, engine.TopicEvents} {
		err := r.readTopic(ctx, topic, func(m kafkago.Message) {
			t.records++
			t.bytes += len(m.Key) + len(m.Value)
			for _, h := range m.Headers {
				t.bytes += len(h.Key) + len(h.Value)
			}
		})
		if err != nil {
			return t, err
		}
	}
	return t, nil
}

// readTopic calls fn with every record of the topic.
func (r *rig) readTopic(ctx context.Context, topic string, fn func(kafkago.Message)) error {
	return servicetest.ReadTopic(ctx, r.cfg.Brokers[0], r.cfg.TopicPrefix+topic, fn)
}

// floorTopic is the topic of the Kafka round trips (behind the prefix).
const floorTopic = "bench.floor"

// floor measures what one step cannot do without: a Kafka round trip
// (the project's bus, from Publish called to the subscriber's handler
// called, on a topic of its own) and a conditional PutItem through the
// DynamoDB client. It keeps samples of each.
type floor struct {
	r       *rig
	arrived chan string
	kafka   []time.Duration
	put     []time.Duration
	version int64
}

func newFloor(ctx context.Context, b *testing.B, r *rig) *floor {
	f := &floor{r: r, arrived: make(chan string, 1)}
	go func() {
		err := r.rt.Bus.Subscribe(ctx, floorTopic, "bench-floor-"+r.cfg.TopicPrefix, func(_ context.Context, ce cloudevents.Event) error {
			f.arrived <- ce.ID()
			return nil
		})
		if err != nil && ctx.Err() == nil && !errors.Is(err, engine.ErrBusClosed) {
			b.Errorf("subscribing to %s: %v", floorTopic, err)
		}
	}()
	// The first round trip waits for the group to form.
	if _, err := f.roundTrip(ctx, 60*time.Second); err != nil {
		b.Fatal(err)
	}
	if _, err := f.conditionalPut(ctx); err != nil {
		b.Fatal(err)
	}
	return f
}

func (f *floor) roundTrip(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	id := engine.NewID()
	ce, err := engine.NewEvent(id, "io.relayflow.bench.ping", "relay/bench", id, time.Now(), map[string]string{"id": id})
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := f.r.rt.Bus.Publish(ctx, floorTopic, id, ce); err != nil {
		return 0, err
	}
	for {
		select {
		case got := <-f.arrived:
			if got == id {
				return time.Since(start), nil
			}
		case <-time.After(timeout):
			return 0, fmt.Errorf("kafka round trip: %s not delivered within %s", id, timeout)
		}
	}
}

// conditionalPut writes an item the size of a small execution item,
// conditional on its version, as Store.Commit does.
func (f *floor) conditionalPut(ctx context.Context) (time.Duration, error) {
	body := strings.Repeat("x", 400)
	cond, values := "attribute_not_exists(PK)", map[string]types.AttributeValue(nil)
	if f.version > 0 {
		cond, values = "version = :expected", map[string]types.AttributeValue{":expected": &types.AttributeValueMemberN{Value: fmt.Sprint(f.version)}}
	}
	start := time.Now()
	_, err := f.r.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(f.r.cfg.Table),
		Item: map[string]types.AttributeValue{
			"PK": &types.AttributeValueMemberS{Value: "BENCH#floor"}, "SK": &types.AttributeValueMemberS{Value: "FLOOR"},
			"version": &types.AttributeValueMemberN{Value: fmt.Sprint(f.version + 1)}, "body": &types.AttributeValueMemberS{Value: body},
		},
		ConditionExpression: aws.String(cond), ExpressionAttributeValues: values,
	})
	if err != nil {
		return 0, fmt.Errorf("conditional put: %w", err)
	}
	f.version++
	return time.Since(start), nil
}

// sample takes n of each measurement, alternating them.
func (f *floor) sample(ctx context.Context, n int) error {
	for range n {
		d, err := f.roundTrip(ctx, 10*time.Second)
		if err != nil {
			return err
		}
		f.kafka = append(f.kafka, d)
		if d, err = f.conditionalPut(ctx); err != nil {
			return err
		}
		f.put = append(f.put, d)
	}
	return nil
}

// quantile returns the q-quantile of ds (sorted in place).
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(int(q*float64(len(ds))), len(ds)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// linearFlow is a flow of n debug.return tasks, one after the other.
func linearFlow(id string, n int) []byte {
	var src strings.Builder
	fmt.Fprintf(&src, "id: %s\nnamespace: bench\ntasks:\n", id)
	for i := range n {
		fmt.Fprintf(&src, "  - {id: s%02d, type: debug.return, format: \"%d\"}\n", i, i)
	}
	return []byte(src.String())
}

// BenchmarkDist_stepOverhead measures the step-to-step overhead of the
// distributed path: a task run finished -> the next one started, on a
// 20-step linear flow of no-op tasks, one execution at a time, with one
// worker process. Both dates are the worker's: when it published run N's
// taskrun.finished (the event's time) and when it started run N+1 (the
// start date that event carries, stored with the run). In the same run it
// measures the floor, a Kafka round trip plus a conditional PutItem,
// alternating with the executions; a step must do the floor twice (two
// hops, the commit and the lease), and overhead/io compares it with that.
func BenchmarkDist_stepOverhead(b *testing.B) {
	const executions = 15      // 19 steps each
	r := startRig(b, 1, false) // the workers reach DynamoDB directly
	ctx := context.Background()
	_, linear, err := r.rt.Engine.Deploy(ctx, "linear.yaml", linearFlow("linear", 20))
	if err != nil {
		b.Fatal(err)
	}
	for range 2 { // warm up: connections, flow cache, partition leaders
		id, err := r.submit(ctx, linear)
		if err == nil {
			_, err = r.wait(ctx, id, 2*time.Minute)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	fl := newFloor(ctx, b, r)
	var runs []*statemachine.Execution
	b.ResetTimer()
	for range b.N {
		for range executions {
			id, err := r.submit(ctx, linear)
			if err != nil {
				b.Fatal(err)
			}
			ex, err := r.wait(ctx, id, time.Minute)
			if err != nil {
				b.Fatal(err)
			}
			runs = append(runs, ex)
			if err := fl.sample(ctx, 10); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	split, err := r.stepSplit(ctx, runs)
	if err != nil {
		b.Fatal(err)
	}
	p50, p99 := quantile(split.step, 0.50), quantile(split.step, 0.99)
	kafkaP50, putP50 := quantile(fl.kafka, 0.5), quantile(fl.put, 0.5)
	floorP50 := kafkaP50 + putP50
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(p99), "p99-ms")
	b.ReportMetric(ms(floorP50), "floor-ms")
	b.ReportMetric(ms(kafkaP50), "kafka-ms")
	b.ReportMetric(ms(putP50), "put-ms")
	b.ReportMetric(float64(p50)/float64(floorP50), "overhead/floor")
	// The I/O a step cannot do without: two hops (worker -> executor ->
	// worker) and two conditional writes (the commit, the attempt's lease).
	b.ReportMetric(float64(p50)/float64(2*floorP50), "overhead/io")
	b.ReportMetric(ms(quantile(split.toExecutor, 0.5)), "to-executor-ms")
	b.ReportMetric(ms(quantile(split.commit, 0.5)), "commit-ms")
	b.ReportMetric(ms(quantile(split.toWorker, 0.5)), "to-worker-ms")
}

// split is a step's time, whole and in three parts, from the times the
// events and the stored task runs carry (one machine, one clock).
type split struct {
	// step: the worker published run N's finished -> it started run N+1.
	step []time.Duration
	// toExecutor: finished published -> applied by the executor (run N's
	// end date): Kafka to the executor, the EventSource window.
	toExecutor []time.Duration
	// commit: applied -> run N+1's taskrun.scheduled stamped: the rest of
	// the apply and the commit, one conditional PutItem.
	commit []time.Duration
	// toWorker: scheduled -> run N+1 started (its start date): the
	// publish, Kafka to the worker, the window, the attempt's lease.
	toWorker []time.Duration
}

func (r *rig) stepSplit(ctx context.Context, runs []*statemachine.Execution) (split, error) {
	var s split
	scheduled, finished := map[string]time.Time{}, map[string]time.Time{}
	evs, err := r.topicEvents(ctx, engine.TopicTaskRuns)
	if err != nil {
		return s, err
	}
	for _, ce := range evs {
		var c statemachine.ScheduleTaskRun
		if ce.Type() == engine.TypeTaskRunScheduled && json.Unmarshal(ce.Data(), &c) == nil {
			earliest(scheduled, c.ExecutionID+"/"+c.TaskRunID, ce.Time())
		}
	}
	if evs, err = r.topicEvents(ctx, engine.TopicExecutions); err != nil {
		return s, err
	}
	for _, ce := range evs {
		ev, err := engine.DecodeMachineEvent(ce)
		if err == nil && ev.Type == statemachine.EvTaskRunFinished {
			earliest(finished, ev.ExecutionID+"/"+ev.TaskRunID, ce.Time())
		}
	}
	for _, ex := range runs {
		for k := 1; k < len(ex.TaskRuns); k++ {
			prev, next := ex.TaskRuns[k-1], ex.TaskRuns[k]
			fin, ok1 := finished[ex.ID+"/"+prev.ID]
			sch, ok2 := scheduled[ex.ID+"/"+next.ID]
			if !ok1 || !ok2 {
				return s, fmt.Errorf("no finished event for %s or no scheduled one for %s in %s", prev.ID, next.ID, ex.ID)
			}
			s.step = append(s.step, next.StartDate.Sub(fin))
			s.toExecutor = append(s.toExecutor, prev.EndDate.Sub(fin))
			s.commit = append(s.commit, sch.Sub(prev.EndDate))
			s.toWorker = append(s.toWorker, next.StartDate.Sub(sch))
		}
	}
	return s, nil
}

// earliest keeps the earliest time of a key (an event published twice).
func earliest(m map[string]time.Time, key string, t time.Time) {
	if old, ok := m[key]; !ok || t.Before(old) {
		m[key] = t
	}
}

// BenchmarkDist_throughput runs 1,000 executions of a 3-step no-op flow,
// submitted at once, with one and with two worker processes, and reports
// task runs per second and the DynamoDB capacity consumed per task run.
// burst submits n executions of f at once (32 publishes in flight) and
// waits until they have all finished; it returns their ids.
func (r *rig) burst(ctx context.Context, f *flow.Flow, n int) ([]string, error) {
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 32) // publishes in flight
	for i := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			var err error
			if ids[i], err = r.submit(ctx, f); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	deadline := time.After(4 * time.Minute)
	for _, id := range ids {
		select {
		case <-r.done(id):
		case <-deadline:
			return nil, fmt.Errorf("executions still running after 4 minutes")
		}
	}
	return ids, nil
}

func BenchmarkDist_throughput(b *testing.B) {
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) { benchThroughput(b, workers) })
	}
}

func benchThroughput(b *testing.B, workers int) {
	const executions = 1000
	r := startRig(b, workers, true)
	ctx := context.Background()
	_, noop, err := r.rt.Engine.Deploy(ctx, "noop.yaml", linearFlow("noop", 3))
	if err != nil {
		b.Fatal(err)
	}
	// Warm up with a burst of its own: DynamoDB Local and Kafka are JVMs,
	// whose compilers otherwise spend the first measured burst's cores.
	const warmUp = 200
	if _, err = r.burst(ctx, noop, warmUp); err == nil {
		err = r.settle(ctx)
	}
	if err != nil {
		b.Fatal(err)
	}
	var elapsed time.Duration
	var used units
	taskRuns := 0
	trafficBefore, err := r.traffic(ctx)
	if err != nil {
		b.Fatal(err)
	}
	batchesBefore, recordsBefore, nanosBefore := r.execBatches.Load(), r.execRecords.Load(), r.execNanos.Load()
	cpuBefore := r.cpu()
	b.ResetTimer()
	for range b.N {
		before := r.units()
		start := time.Now()
		ids, err := r.burst(ctx, noop, executions)
		if err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(start)
		b.StopTimer()
		if err := r.settle(ctx); err != nil {
			b.Fatal(err)
		}
		used = used.add(r.units().sub(before))
		for _, id := range ids {
			ex, err := r.probe.Execution(ctx, id)
			if err != nil {
				b.Fatal(err)
			}
			if ex.State != statemachine.ExecSuccess {
				b.Fatalf("execution %s ended %s", id, ex.State)
			}
			taskRuns += len(ex.TaskRuns)
		}
		b.StartTimer()
	}
	b.StopTimer()
	// Attempts scheduled more than once: the outbox recovery loop carries
	// out entries whose acknowledgement has not landed yet.
	evs, err := r.topicEvents(ctx, engine.TopicTaskRuns)
	if err != nil {
		b.Fatal(err)
	}
	moved, err := r.traffic(ctx)
	if err != nil {
		b.Fatal(err)
	}
	moved = moved.sub(trafficBefore)
	batches, records := float64(r.execBatches.Load()-batchesBefore), float64(r.execRecords.Load()-recordsBefore)
	tr := float64(taskRuns)
	b.ReportMetric(tr/elapsed.Seconds(), "taskruns/s")
	// Records on relay.executions, relay.taskruns and relay.events per
	// task run, and their size: what Kafka carries, and (one invocation
	// per record when nothing batches, the worst case) what Lambda is
	// invoked for.
	b.ReportMetric(float64(moved.records)/tr, "records/taskrun")
	b.ReportMetric(float64(moved.bytes)/float64(moved.records), "bytes/record")
	b.ReportMetric(records/batches, "exec-records/batch")
	b.ReportMetric(float64(r.execNanos.Load()-nanosBefore)/1e6/batches, "exec-ms/batch")
	b.ReportMetric((used.execWrite+used.pollWrite+used.workerWrite)/tr, "wcu/taskrun")
	b.ReportMetric(used.workerWrite/tr, "worker-wcu/taskrun")
	b.ReportMetric((used.execRead+used.workerRead)/tr, "rcu/taskrun")
	b.ReportMetric(used.workerRead/tr, "worker-rcu/taskrun")
	b.ReportMetric(used.pollRead/elapsed.Seconds(), "poll-rcu/s")
	b.ReportMetric(float64(len(evs)-3*warmUp)/tr, "scheduled/taskrun") // less the warm-up's
	// Where the two cores went: CPU seconds per second of the run, by
	// process (2 would be both cores).
	// And CPU per task run, by process: what the run rate is bound by on a
	// machine of n cores is n / the sum of these.
	cpu := r.cpu()
	var total float64
	for _, name := range slices.Sorted(maps.Keys(cpu)) {
		used := cpu[name] - cpuBefore[name]
		total += used
		b.ReportMetric(used/elapsed.Seconds(), "cores-"+name)
		b.ReportMetric(used*1000/tr, "cpu-ms/taskrun-"+name)
	}
	b.ReportMetric(total*1000/tr, "cpu-ms/taskrun")
}

// cpu returns the CPU seconds (user and system) used so far by the
// benchmark process (the executor and the router), the worker processes,
// and Kafka and DynamoDB Local when services/ started them (their pid
// files).
func (r *rig) cpu() map[string]float64 {
	out := map[string]float64{"executor": procCPU(os.Getpid())}
	for _, pid := range r.workerPids {
		out["worker"] += procCPU(pid)
	}
	for _, svc := range []string{"kafka", "dynamodb"} {
		b, err := os.ReadFile(filepath.Join("..", ".cache", "services", svc+".pid")) // the tests run in serverless/
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			out[svc] = procCPU(pid)
		}
	}
	return out
}

// procCPU reads a process's user and system time from /proc, in seconds;
// 0 when it cannot.
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command (in parentheses, which may hold spaces):
	// utime and stime are the 12th and 13th of them, in clock ticks.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100 // USER_HZ is 100 on Linux
}

// BenchmarkDist_eventToFirstTask measures the latency from a CloudEvent
// published on relay.events to the start of the first task run of the
// flow whose event trigger matches it: the router (index read, match,
// execution.requested), the executor (create, schedule) and the worker.
// One event at a time, 100 per iteration, one worker process. The start is
// the worker's start date of the task run; both clocks are this machine's.
func BenchmarkDist_eventToFirstTask(b *testing.B) {
	const events = 100
	r := startRig(b, 1, false)
	ctx := context.Background()
	flowSrc := "id: onevent\nnamespace: bench\ntasks:\n  - {id: first, type: io.kestra.plugin.core.debug.Return, format: \"{{ trigger.event.id }}\"}\n" +
		"triggers:\n  - id: on\n    type: cloudevents.trigger\n    filters:\n      - exact: {type: com.acme.bench}\n"
	if _, err := r.rt.API().DeployFlow(ctx, "onevent.yaml", []byte(flowSrc)); err != nil {
		b.Fatal(err)
	}
	var toExec []time.Duration // sent -> the execution's start (router, a hop, the executor)
	fire := func(i int) (time.Duration, error) {
		ev := cloudevents.New()
		ev.SetID(fmt.Sprintf("%s-%d", engine.NewID(), i))
		ev.SetType("com.acme.bench")
		ev.SetSource("/bench")
		id := triggers.ExecutionID(triggers.Key("bench", "onevent", "on"), triggers.EventCause(&triggers.Event{ID: ev.ID(), Source: "/bench"}))
		r.done(id)
		sent := time.Now()
		if err := r.rt.API().PublishEvent(ctx, ev); err != nil {
			return 0, err
		}
		ex, err := r.wait(ctx, id, time.Minute)
		if err != nil {
			return 0, err
		}
		toExec = append(toExec, ex.StartDate.Sub(sent))
		return ex.TaskRuns[0].StartDate.Sub(sent), nil
	}
	for i := range 5 { // warm up: connections, flow cache, partition leaders
		if _, err := fire(i); err != nil {
			b.Fatal(err)
		}
	}
	var lat []time.Duration
	toExec = nil
	b.ResetTimer()
	for range b.N {
		for i := range events {
			d, err := fire(i)
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, d)
		}
	}
	b.StopTimer()
	b.ReportMetric(ms(quantile(lat, 0.50)), "p50-ms")
	b.ReportMetric(ms(quantile(lat, 0.99)), "p99-ms")
	b.ReportMetric(ms(quantile(toExec, 0.50)), "to-execution-p50-ms")
}

func plainHeaders(hs []kafkago.Header) []kafka.Header {
	out := make([]kafka.Header, len(hs))
	for i, h := range hs {
		out[i] = kafka.Header{Key: h.Key, Value: h.Value}
	}
	return out
}

// BenchmarkDist_forEach runs one execution of a ForEach of n `debug.return`
// items, ten at a time, on the distributed path with one worker process:
// the time and write units per task run must not grow with n, and no
// item of the table may approach DynamoDB's 400 KB limit.
func BenchmarkDist_forEach(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("items=%d", n), func(b *testing.B) { benchForEach(b, n) })
	}
}

func benchForEach(b *testing.B, n int) {
	r := startRig(b, 1, true)
	ctx := context.Background()
	src := fmt.Sprintf("id: wide\nnamespace: bench\ntasks:\n  - id: each\n    type: io.kestra.plugin.core.flow.ForEach\n    values: \"{{ range(1, %d) }}\"\n    concurrencyLimit: 10\n    tasks:\n      - id: ret\n        type: io.kestra.plugin.core.debug.Return\n        format: \"{{ taskrun.value }}\"\n", n)
	_, wide, err := r.rt.Engine.Deploy(ctx, "wide.yaml", []byte(src))
	if err != nil {
		b.Fatal(err)
	}
	var elapsed time.Duration
	var used units
	taskRuns := 0
	b.ResetTimer()
	for range b.N {
		before := r.units()
		start := time.Now()
		id, err := r.submit(ctx, wide)
		if err != nil {
			b.Fatal(err)
		}
		ex, err := r.wait(ctx, id, 30*time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(start)
		b.StopTimer()
		if err := r.settle(ctx); err != nil {
			b.Fatal(err)
		}
		used = used.add(r.units().sub(before))
		taskRuns += len(ex.TaskRuns)
		b.StartTimer()
	}
	b.StopTimer()
	largest, err := r.largestItem(ctx)
	if err != nil {
		b.Fatal(err)
	}
	tr := float64(taskRuns)
	b.ReportMetric(float64(elapsed.Microseconds())/tr, "µs/taskrun")
	b.ReportMetric(tr/elapsed.Seconds(), "taskruns/s")
	b.ReportMetric((used.execWrite+used.pollWrite+used.workerWrite)/tr, "wcu/taskrun")
	b.ReportMetric((used.execRead+used.workerRead)/tr, "rcu/taskrun")
	b.ReportMetric(float64(largest)/1024, "largest-item-KB")
}

// largestItem scans the rig's table for its largest item, in bytes as
// DynamoDB counts them.
func (r *rig) largestItem(ctx context.Context) (int, error) {
	largest := 0
	p := dynamodb.NewScanPaginator(r.db, &dynamodb.ScanInput{TableName: aws.String(r.cfg.Table)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return 0, fmt.Errorf("scanning %s: %w", r.cfg.Table, err)
		}
		for _, item := range page.Items {
			largest = max(largest, dynamo.ItemSize(item))
		}
	}
	return largest, nil
}
