package functions_test

// The built Lambda functions, run as Lambda runs a custom runtime: each
// `bootstrap` from `make build-<Name>Function` is started with the
// environment Lambda sets, AWS_LAMBDA_RUNTIME_API pointing at a local
// Runtime API (internal/lambdaruntime), and Relay's variables pointing at
// Kafka, DynamoDB Local and an S3 bucket of this test. Each process lives
// across invocations (a warm execution environment) and is frozen between
// them, as Lambda freezes it. The events handed to them are the JSON Lambda
// sends (testdata/): API Gateway HTTP API requests, Kafka event source
// batches built from the records on the topics, an EventBridge schedule.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/infra/blob"
	"github.com/relayflow/relay/infra/dynamo"
	"github.com/relayflow/relay/infra/kafka"
	"github.com/relayflow/relay/internal/lambdaruntime"
	"github.com/relayflow/relay/internal/servicetest"
	"github.com/relayflow/relay/internal/testnet"
	"github.com/relayflow/relay/serverless"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/triggers"
)

// lambdaFunction is a function of template.yaml: its folder under
// functions/, its logical id (the Makefile target is build-<logicalID>),
// and the memory and timeout the template gives it.
type lambdaFunction struct {
	name, logicalID string
	memoryMB        int
	timeout         time.Duration
	// command starts the function's runtime, in its task root; nil runs
	// the task root's bootstrap (a custom runtime). handler is _HANDLER.
	command []string
	handler string
	// role is the role whose permissions its AWS calls are checked
	// against (default: name).
	role serverless.Role
}

var (
	executorFn  = lambdaFunction{name: "executor", logicalID: "ExecutorFunction", memoryMB: 512, timeout: 60 * time.Second}
	workerFn    = lambdaFunction{name: "worker", logicalID: "WorkerFunction", memoryMB: 1024, timeout: 900 * time.Second}
	routerFn    = lambdaFunction{name: "router", logicalID: "RouterFunction", memoryMB: 256, timeout: 60 * time.Second}
	schedulerFn = lambdaFunction{name: "scheduler", logicalID: "SchedulerFunction", memoryMB: 128, timeout: 70 * time.Second}
	apiFn       = lambdaFunction{name: "api", logicalID: "ApiFunction", memoryMB: 512, timeout: 29 * time.Second}
	allFns      = []lambdaFunction{executorFn, workerFn, routerFn, schedulerFn, apiFn}
)

// invokeWait bounds how long the test waits for one invocation, whatever
// the function's Lambda timeout (the worker's is 15 minutes).
const invokeWait = 60 * time.Second

// The deployed flow (testdata/hello.yaml).
const (
	flowNamespace = "lambda.test"
	flowID        = "hello"
)

var build struct {
	once sync.Once
	dir  string // <dir>/<function>/bootstrap
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	if runnerBuild.dir != "" {
		os.RemoveAll(runnerBuild.dir)
	}
	os.Exit(code)
}

// bootstraps builds the five functions, once per test binary, exactly as
// `sam build` does (make build-<LogicalId> ARTIFACTS_DIR=...), for this
// machine's architecture, two at a time, and returns the folder holding
// <function>/bootstrap.
func bootstraps(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the five Lambda functions and runs them against Kafka and DynamoDB Local: not with -short")
	}
	if runtime.GOOS != "linux" {
		t.Skipf("the functions are built for linux, this is %s", runtime.GOOS)
	}
	servicetest.Require(t, serverless.EnvBrokers, "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")
	build.once.Do(func() {
		start := time.Now()
		build.dir, build.err = buildAll()
		t.Logf("built the five bootstraps in %s", time.Since(start).Round(time.Millisecond))
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.dir
}

func buildAll() (string, error) {
	root, err := filepath.Abs("..")
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "relay-bootstraps-")
	if err != nil {
		return "", err
	}
	sem := make(chan struct{}, 2) // two cores: more builds at once only compete
	errs := make([]error, len(allFns))
	var wg sync.WaitGroup
	for i, f := range allFns {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			cmd := exec.Command("make", "-C", root, "build-"+f.logicalID, "ARTIFACTS_DIR="+filepath.Join(dir, f.name), "LAMBDA_ARCH="+runtime.GOARCH)
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("make build-%s: %v\n%s", f.logicalID, err, out)
			}
		})
	}
	wg.Wait()
	return dir, errors.Join(errs...)
}

// TestBootstrap_runsAsLambdaCustomRuntime follows one execution through
// the five functions, each step's input being what the previous one left
// on Kafka, then checks the error paths.
func TestBootstrap_runsAsLambdaCustomRuntime(t *testing.T) {
	dir := bootstraps(t)
	d := newDeployment(t)
	fns := map[string]*function{}
	for _, f := range allFns {
		fns[f.name] = startFunction(t, dir, f, d.env)
	}
	for _, f := range allFns { // the five cold starts run meanwhile
		fns[f.name].waitReady(t)
	}
	api, executor, worker, router, scheduler := fns["api"], fns["executor"], fns["worker"], fns["router"], fns["scheduler"]

	var (
		execID                  string
		requested, scheduled    kafkago.Message
		taskFinished, execEnded kafkago.Message
		published               kafkago.Message
	)
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"api deploys a flow", func(t *testing.T) {
			flowYAML := readFile(t, "hello.yaml")
			req := fixture(t, "apigw-v2-deploy-flow.json")
			req["body"] = base64.StdEncoding.EncodeToString(flowYAML)
			req["headers"].(map[string]any)["content-length"] = strconv.Itoa(len(flowYAML))
			res := httpResponse(t, api.invoke(t, mustJSON(t, req)))
			if res.StatusCode != 201 {
				t.Fatalf("POST /flows: %d %s", res.StatusCode, res.Body)
			}
			var rec engine.FlowRecord
			if err := json.Unmarshal([]byte(res.Body), &rec); err != nil || rec.Namespace != flowNamespace || rec.ID != flowID || rec.Revision != 1 {
				t.Fatalf("POST /flows answered %s (%v)", res.Body, err)
			}
			stored, err := d.store.Flow(testCtx(t), flowNamespace, flowID, 0)
			if err != nil {
				t.Fatalf("the flow is not in the table: %v", err)
			}
			if stored.Revision != 1 || !bytes.Equal(stored.Source, flowYAML) {
				t.Errorf("table holds revision %d with source %q, want revision 1 with testdata/hello.yaml", stored.Revision, stored.Source)
			}
		}},
		{"api starts an execution", func(t *testing.T) {
			res := httpResponse(t, api.invoke(t, readFile(t, "apigw-v2-start-execution.json")))
			if res.StatusCode != 201 {
				t.Fatalf("POST /executions: %d %s", res.StatusCode, res.Body)
			}
			var st struct{ ID, Namespace, FlowID string }
			if err := json.Unmarshal([]byte(res.Body), &st); err != nil || st.ID == "" || st.FlowID != flowID {
				t.Fatalf("POST /executions answered %s (%v)", res.Body, err)
			}
			if loc := res.Headers["Location"]; loc != "/executions/"+st.ID {
				t.Errorf("Location %q, want /executions/%s", loc, st.ID)
			}
			execID = st.ID
			requested = d.waitRecord(t, engine.TopicExecutions, "execution.requested of "+execID, func(_ kafkago.Message, ev *cloudevents.Event) bool {
				return ev != nil && ev.ID() == execID+"/requested"
			})
		}},
		{"executor creates the execution and schedules its task", func(t *testing.T) {
			executor.invokeKafka(t, d, requested)
			ex := d.execution(t, execID)
			if ex.State != statemachine.ExecRunning || ex.Inputs["name"] != "Lambda" || !slices.ContainsFunc(ex.Labels, func(l flow.Label) bool { return l.Key == "source" && l.Value == "apigw" }) {
				t.Errorf("execution in the table: state %s, inputs %v, labels %v; want RUNNING, name Lambda, label source:apigw", ex.State, ex.Inputs, ex.Labels)
			}
			scheduled = d.waitRecord(t, engine.TopicTaskRuns, "taskrun.scheduled of "+execID, func(_ kafkago.Message, ev *cloudevents.Event) bool {
				return ev != nil && ev.Type() == engine.TypeTaskRunScheduled && ev.Subject() == execID
			})
		}},
		{"worker runs the task", func(t *testing.T) {
			worker.invokeKafka(t, d, scheduled)
			var fin statemachine.Event
			taskFinished = d.waitRecord(t, engine.TopicExecutions, "taskrun.finished of "+execID, func(_ kafkago.Message, ev *cloudevents.Event) bool {
				return ev != nil && ev.Type() == engine.TypePrefix+string(statemachine.EvTaskRunFinished) && ev.Subject() == execID && json.Unmarshal(ev.Data(), &fin) == nil
			})
			if fin.State != statemachine.RunSuccess || fin.TaskRunID != "greet" || fin.Outputs["value"] != "Hello, Lambda!" {
				t.Errorf("taskrun.finished: state %s, task run %s, outputs %v; want SUCCESS, greet, value \"Hello, Lambda!\"", fin.State, fin.TaskRunID, fin.Outputs)
			}
		}},
		{"executor ends the execution", func(t *testing.T) {
			executor.invokeKafka(t, d, taskFinished)
			if ex := d.execution(t, execID); ex.State != statemachine.ExecSuccess {
				t.Errorf("execution in the table is %s, want SUCCESS", ex.State)
			}
			execEnded = d.waitRecord(t, engine.TopicEvents, "execution.finished of "+execID, func(_ kafkago.Message, ev *cloudevents.Event) bool {
				return ev != nil && ev.Type() == engine.TypeExecutionFinished && ev.Subject() == execID
			})
		}},
		{"api publishes a CloudEvent", func(t *testing.T) {
			res := httpResponse(t, api.invoke(t, readFile(t, "apigw-v2-publish-event.json")))
			if res.StatusCode != 202 {
				t.Fatalf("POST /events: %d %s", res.StatusCode, res.Body)
			}
			published = d.waitRecord(t, engine.TopicEvents, "the published order event", func(_ kafkago.Message, ev *cloudevents.Event) bool {
				return ev != nil && ev.ID() == "order-o-1" && ev.Type() == "com.example.order.placed"
			})
		}},
		{"router starts the flow of the matching event trigger", func(t *testing.T) {
			// One batch, as the event source would deliver both: the end of
			// the execution (no flow trigger matches) and the order event.
			router.invokeKafka(t, d, execEnded, published)
			want := triggers.ExecutionID(triggers.Key(flowNamespace, flowID, "on-order"), triggers.EventCause(&triggers.Event{Source: "/shop/eu", ID: "order-o-1"}))
			var req statemachine.Event
			d.waitRecord(t, engine.TopicExecutions, "execution.requested by the event trigger", func(_ kafkago.Message, ev *cloudevents.Event) bool {
				return ev != nil && ev.ID() == want+"/requested" && json.Unmarshal(ev.Data(), &req) == nil
			})
			if req.Origin == nil || req.Origin.TriggerID != "on-order" || req.Inputs["name"] != "Ada" || req.FlowID != flowID {
				t.Errorf("execution.requested: origin %+v, flow %s, inputs %v; want trigger on-order, hello, name Ada", req.Origin, req.FlowID, req.Inputs)
			}
		}},
		{"scheduler starts the due schedule times and returns within its window", func(t *testing.T) {
			start := time.Now()
			res := scheduler.invoke(t, readFile(t, "eventbridge-scheduled-event.json"))
			took := time.Since(start)
			if p := strings.TrimSpace(string(res.Payload)); p != "null" && p != "" {
				t.Errorf("scheduler answered %q, want null", p)
			}
			// RELAY_SCHEDULER_WINDOW is 2s: it ticks that long, then returns,
			// long before the 70s the template gives it.
			if took < 2*time.Second || took > 10*time.Second {
				t.Errorf("the scheduler returned after %s, want its 2s window", took)
			}
			key := triggers.Key(flowNamespace, flowID, "every-minute")
			for _, date := range []string{"2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"} {
				at, _ := time.Parse(time.RFC3339, date)
				want := triggers.ExecutionID(key, triggers.ScheduleCause(at)) + "/requested"
				d.waitRecord(t, engine.TopicExecutions, "execution.requested for the schedule time "+date, func(_ kafkago.Message, ev *cloudevents.Event) bool {
					return ev != nil && ev.ID() == want
				})
			}
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			t.Fatalf("stopping: the next steps need what %q leaves", s.name)
		}
	}

	t.Run("a record that is not a CloudEvent is dead-lettered and the batch succeeds", func(t *testing.T) {
		ev := fixture(t, "kafka-not-a-cloudevent.json")
		topic := d.prefix + engine.TopicExecutions
		recs := ev["records"].(map[string]any)
		poison := recs["relay.executions-0"]
		ev["records"] = map[string]any{topic + "-0": poison}
		rec := poison.([]any)[0].(map[string]any)
		rec["topic"] = topic
		ev["bootstrapServers"] = strings.Join(d.brokers, ",")
		res := executor.invoke(t, mustJSON(t, ev))
		if p := strings.TrimSpace(string(res.Payload)); p != "null" {
			t.Errorf("executor answered %q, want null", p)
		}
		wantValue, _ := base64.StdEncoding.DecodeString(rec["value"].(string))
		dl := d.waitRecord(t, engine.TopicDLQ, "the dead letter", func(m kafkago.Message, _ *cloudevents.Event) bool {
			return bytes.Equal(m.Value, wantValue)
		})
		h := headerMap(dl.Headers)
		if string(dl.Key) != "o-1" || h[kafka.HeaderTopic] != engine.TopicExecutions || h[kafka.HeaderOffset] != "7" || h[kafka.HeaderPartition] != "0" ||
			!strings.Contains(h[kafka.HeaderError], "not a CloudEvent") || h["content-type"] != "application/json" {
			t.Errorf("dead letter: key %q, headers %v", dl.Key, h)
		}
		// AWS_LAMBDA_LOG_FORMAT=JSON: Lambda's log lines are JSON objects.
		if !executor.logged(`"level":"WARN"`, `"message":"record sent to the dead-letter topic"`) {
			t.Errorf("no JSON WARN line about the dead letter in the executor's output")
		}
	})

	t.Run("an unknown route is a 404 response, not a function error", func(t *testing.T) {
		res := httpResponse(t, api.invoke(t, readFile(t, "apigw-v2-unknown-route.json")))
		if res.StatusCode != 404 || !strings.Contains(res.Body, "no route GET /flowz") {
			t.Errorf("GET /flowz: %d %s", res.StatusCode, res.Body)
		}
	})

	t.Run("without RELAY_KAFKA_BROKERS a function reports an init error and exits", func(t *testing.T) {
		env := maps.Clone(d.env)
		delete(env, serverless.EnvBrokers)
		for _, f := range allFns {
			t.Run(f.name, func(t *testing.T) {
				t.Parallel()
				checkInitError(t, dir, f, env, serverless.EnvBrokers)
			})
		}
	})
}

// checkInitError starts f with env, which its init must reject: it must
// post an init error naming want to the Runtime API, as a custom runtime
// does (Lambda then reports that error to the caller and in the logs),
// and exit with a non-zero status.
func checkInitError(t testing.TB, dir string, f lambdaFunction, env map[string]string, want string) {
	t.Helper()
	fn := startFunction(t, dir, f, env)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() {
		select {
		case <-fn.exited:
			cancel() // a runtime posts its init error before it exits, or never
		case <-ctx.Done():
		}
	}()
	fe, err := fn.rt.WaitInitError(ctx)
	select {
	case <-fn.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s still runs 10s after its init failed", f.name)
	}
	if fn.exitCode() == 0 {
		t.Errorf("%s exited with status 0, want non-zero", f.name)
	}
	if !fn.logged(want) {
		t.Errorf("%s's output does not name %s", f.name, want)
	}
	if err != nil {
		t.Errorf("%s exited (status %d) without posting to /%s/runtime/init/error (%v): Lambda then reports Runtime.ExitError instead of the cause. "+
			"functions/%s/main.go logs the error and calls os.Exit(1): it should post the error to the Runtime API first",
			f.name, fn.exitCode(), lambdaruntime.APIVersion, err, f.name)
		return
	}
	if !strings.Contains(fe.Message, want) {
		t.Errorf("init error %+v does not name %s", fe, want)
	}
}

// deployment is a Relay deployment of the test's own: a table, topics
// under a prefix and a bucket, deleted at the end.
type deployment struct {
	brokers []string
	prefix  string
	store   *dynamo.Store
	// env is what template.yaml sets on every function, pointed at the
	// local services (plaintext Kafka: no TLS, no SASL), and the AWS SDK's
	// endpoints of those services.
	env map[string]string
}

func newDeployment(t testing.TB) *deployment {
	t.Helper()
	ctx := testCtx(t)
	name := fmt.Sprintf("lambda%d", time.Now().UnixNano())
	d := &deployment{brokers: kafka.BrokersFromEnv(), prefix: name + "."}
	db, err := dynamo.NewClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	table := "relay-" + name
	d.store = dynamo.New(db, table)
	if err := d.store.CreateTable(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.store.DeleteTable(context.Background()); err != nil {
			t.Errorf("deleting the table: %v", err)
		}
	})
	s3c, err := blob.NewS3Client(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	bucket := "relay-" + name
	servicetest.Bucket(t, s3c, bucket)
	t.Cleanup(func() {
		var topics []string
		for _, tp := range []string{engine.TopicExecutions, engine.TopicTaskRuns, engine.TopicEvents, engine.TopicDLQ} {
			topics = append(topics, d.prefix+tp)
		}
		client := &kafkago.Client{Addr: kafkago.TCP(d.brokers...), Timeout: 10 * time.Second}
		client.DeleteTopics(context.Background(), &kafkago.DeleteTopicsRequest{Topics: topics}) // best effort
	})
	d.env = map[string]string{
		serverless.EnvBrokers:         strings.Join(d.brokers, ","),
		serverless.EnvTable:           table,
		serverless.EnvTopicPrefix:     d.prefix,
		serverless.EnvBucket:          bucket,
		serverless.EnvSchedulerWindow: "2s",
	}
	for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3"} {
		if v := os.Getenv(k); v != "" {
			d.env[k] = v
		}
	}
	return d
}

// execution reads an execution back from the table.
func (d *deployment) execution(t testing.TB, id string) *statemachine.Execution {
	t.Helper()
	ex, err := d.store.Execution(testCtx(t), id)
	if err != nil {
		t.Fatalf("execution %s is not in the table: %v", id, err)
	}
	return ex
}

// waitRecord polls a topic (a Relay name) until a record matches, and
// returns it. ev is the record's CloudEvent, nil when it holds none.
func (d *deployment) waitRecord(t testing.TB, topic, what string, match func(m kafkago.Message, ev *cloudevents.Event) bool) kafkago.Message {
	t.Helper()
	name := d.prefix + topic
	ctx := testCtx(t)
	deadline := time.Now().Add(20 * time.Second)
	var lastErr error
	seen := 0
	for {
		msgs, err := readTopic(ctx, d.brokers[0], name)
		lastErr, seen = err, len(msgs)
		for _, m := range msgs {
			var evp *cloudevents.Event
			if ev, err := kafka.DecodeMessage(plainHeaders(m.Headers), m.Value); err == nil {
				evp = &ev
			}
			if match(m, evp) {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no record on %s is %s after 20s (%d records; last error %v)", name, what, seen, lastErr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// readTopic reads every record of every partition of topic.
func readTopic(ctx context.Context, broker, topic string) ([]kafkago.Message, error) {
	var out []kafkago.Message
	err := servicetest.ReadTopic(ctx, broker, topic, func(m kafkago.Message) { out = append(out, m) })
	return out, err
}

func headerMap(hs []kafkago.Header) map[string]string {
	m := map[string]string{}
	for _, h := range hs {
		m[h.Key] = string(h.Value)
	}
	return m
}

// kafkaEvent is the event Lambda's Kafka event source delivers for msgs:
// testdata/kafka-self-managed-event.json with these records, keyed
// "topic-partition", key and value in base64, headers as lists of signed
// bytes. Every record has the fields of the fixture's record.
func (d *deployment) kafkaEvent(t testing.TB, msgs ...kafkago.Message) []byte {
	t.Helper()
	ev := fixture(t, "kafka-self-managed-event.json")
	var shape map[string]any
	for _, recs := range ev["records"].(map[string]any) {
		shape = recs.([]any)[0].(map[string]any)
	}
	records := map[string][]map[string]any{}
	for _, m := range msgs {
		headers := make([]map[string][]int8, 0, len(m.Headers))
		for _, h := range m.Headers {
			signed := make([]int8, len(h.Value))
			for i, b := range h.Value {
				signed[i] = int8(b)
			}
			headers = append(headers, map[string][]int8{h.Key: signed})
		}
		rec := map[string]any{
			"topic": m.Topic, "partition": m.Partition, "offset": m.Offset,
			"timestamp": m.Time.UnixMilli(), "timestampType": shape["timestampType"],
			"key": base64.StdEncoding.EncodeToString(m.Key), "value": base64.StdEncoding.EncodeToString(m.Value),
			"headers": headers,
		}
		if got, want := slices.Sorted(maps.Keys(rec)), slices.Sorted(maps.Keys(shape)); !slices.Equal(got, want) {
			t.Fatalf("record fields %v, the fixture's %v", got, want)
		}
		k := m.Topic + "-" + strconv.Itoa(m.Partition)
		records[k] = append(records[k], rec)
	}
	ev["records"] = records
	ev["bootstrapServers"] = strings.Join(d.brokers, ",")
	return mustJSON(t, ev)
}

// function is one running bootstrap: a warm execution environment.
type function struct {
	calls *awsRecorder
	lambdaFunction
	rt  *lambdaruntime.Server
	cmd *exec.Cmd
	// proc is cmd.Process for the Runtime API's goroutines (Freeze, Thaw).
	proc atomic.Pointer[os.Process]
	out  *lockedBuffer // stdout and stderr, as CloudWatch gets both

	exited  chan struct{}
	exitErr error
}

// startFunction starts f's bootstrap as Lambda does: in its task root,
// with only the environment Lambda sets plus the function's variables
// (env), and AWS_LAMBDA_RUNTIME_API on a Runtime API of its own. The
// process is frozen (SIGSTOP) while it waits for an invocation.
func startFunction(t testing.TB, dir string, f lambdaFunction, env map[string]string) *function {
	t.Helper()
	fn := &function{lambdaFunction: f, out: &lockedBuffer{}, exited: make(chan struct{})}
	region := orDefault(os.Getenv("AWS_REGION"), "us-east-1")
	signal := func(s syscall.Signal) func() {
		return func() {
			if p := fn.proc.Load(); p != nil {
				p.Signal(s)
			}
		}
	}
	rt, err := lambdaruntime.NewServer(lambdaruntime.Config{FunctionName: "relay-" + f.name, Region: region,
		Freeze: signal(syscall.SIGSTOP), Thaw: signal(syscall.SIGCONT)})
	if err != nil {
		t.Fatal(err)
	}
	fn.rt = rt
	root := filepath.Join(dir, f.name)
	lambdaEnv := map[string]string{
		"AWS_LAMBDA_RUNTIME_API":          rt.Addr(),
		"AWS_LAMBDA_FUNCTION_NAME":        "relay-" + f.name,
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(f.memoryMB),
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/relay-" + f.name,
		"AWS_LAMBDA_LOG_STREAM_NAME":      time.Now().UTC().Format("2006/01/02") + "/[$LATEST]0123456789abcdef0123456789abcdef",
		"AWS_LAMBDA_LOG_FORMAT":           "JSON",
		"AWS_LAMBDA_LOG_LEVEL":            "INFO",
		"AWS_REGION":                      region,
		"AWS_DEFAULT_REGION":              region,
		"AWS_ACCESS_KEY_ID":               "ASIAIOSFODNN7EXAMPLE",
		"AWS_SECRET_ACCESS_KEY":           "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		"AWS_SESSION_TOKEN":               "IQoJb3JpZ2luX2VjEXAMPLETOKEN",
		"_HANDLER":                        orDefault(f.handler, "bootstrap"),
		"LAMBDA_TASK_ROOT":                root,
		"LAMBDA_RUNTIME_DIR":              "/var/runtime",
		"TZ":                              ":UTC",
		"LANG":                            "en_US.UTF-8",
		"PATH":                            "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
		"LD_LIBRARY_PATH":                 "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
	}
	maps.Copy(lambdaEnv, env)
	// Every DynamoDB and S3 call goes through a recorder, checked against
	// what template.yaml allows the function (serverless.Permissions).
	fn.calls = newAWSRecorder(t, f.name, lambdaEnv)
	if f.command != nil {
		fn.cmd = exec.Command(f.command[0], f.command[1:]...)
	} else {
		fn.cmd = exec.Command(filepath.Join(root, "bootstrap"))
	}
	fn.cmd.Dir = root
	for _, k := range slices.Sorted(maps.Keys(lambdaEnv)) {
		fn.cmd.Env = append(fn.cmd.Env, k+"="+lambdaEnv[k])
	}
	fn.cmd.Stdout, fn.cmd.Stderr = fn.out, fn.out
	if err := fn.cmd.Start(); err != nil {
		rt.Close()
		t.Fatalf("starting %s: %v", f.name, err)
	}
	fn.proc.Store(fn.cmd.Process)
	go func() {
		fn.exitErr = fn.cmd.Wait()
		close(fn.exited)
	}()
	t.Cleanup(func() {
		for _, v := range rt.Violations() {
			t.Errorf("%s broke the Runtime API protocol: %v", f.name, v)
		}
		fn.calls.check(t, serverless.Role(orDefault(string(f.role), f.name)))
		fn.cmd.Process.Signal(syscall.SIGCONT) // Kill works on a frozen process; the runtime's last words need it thawed
		fn.cmd.Process.Kill()
		select {
		case <-fn.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("%s did not exit 10s after SIGKILL", f.name)
		}
		rt.Close()
		if t.Failed() {
			t.Logf("output of %s:\n%s", f.name, fn.out)
		}
	})
	return fn
}

// waitReady waits until the function asks for its first invocation (its
// init is over), as Lambda does before it invokes.
func (f *function) waitReady(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		select {
		case <-f.exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := f.rt.Ready(ctx); err != nil {
		t.Fatalf("%s did not initialize (exit: %v): %v\n%s", f.name, f.exitError(), err, f.out)
	}
	// Idle, it is frozen until its first invocation.
	for deadline := time.Now().Add(5 * time.Second); f.procState() != "T"; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s is not stopped while it waits for an invocation (state %q)", f.name, f.procState())
		}
	}
}

// procState is the process's state letter in /proc (T: stopped).
func (f *function) procState() string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", f.cmd.Process.Pid))
	i := bytes.LastIndexByte(b, ')') // the command name may hold spaces
	if err != nil || i < 0 || i+2 >= len(b) {
		return ""
	}
	return string(b[i+2])
}

// invoke runs one invocation with the function's Lambda timeout as its
// deadline, and fails the test unless it succeeded.
func (f *function) invoke(t testing.TB, payload []byte) lambdaruntime.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), invokeWait)
	defer cancel()
	go func() {
		select {
		case <-f.exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	start := time.Now()
	res, err := f.rt.Invoke(ctx, payload, time.Now().Add(f.timeout))
	if err != nil {
		t.Fatalf("invoking %s (exit: %v): %v", f.name, f.exitError(), err)
	}
	if res.Error != nil {
		t.Fatalf("%s failed invocation %s: %s: %s", f.name, res.RequestID, res.ErrorType, res.Error.Message)
	}
	t.Logf("%s answered invocation %s in %s", f.name, res.RequestID, time.Since(start).Round(time.Millisecond))
	return res
}

// invokeKafka invokes the function with a Kafka event holding msgs and
// checks that the batch succeeded (the handler returns only an error, so
// the response is null).
func (f *function) invokeKafka(t testing.TB, d *deployment, msgs ...kafkago.Message) {
	t.Helper()
	res := f.invoke(t, d.kafkaEvent(t, msgs...))
	if p := strings.TrimSpace(string(res.Payload)); p != "null" {
		t.Errorf("%s answered %q, want null", f.name, p)
	}
}

func (f *function) exitError() error {
	select {
	case <-f.exited:
		return f.exitErr
	default:
		return errors.New("still running")
	}
}

func (f *function) exitCode() int {
	<-f.exited
	return f.cmd.ProcessState.ExitCode()
}

// logged reports whether one line of the function's output holds every
// one of parts.
func (f *function) logged(parts ...string) bool {
	sc := bufio.NewScanner(strings.NewReader(f.out.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if all(sc.Text(), parts) {
			return true
		}
	}
	return false
}

func all(line string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(line, p) {
			return false
		}
	}
	return true
}

// apiResponse is what the api function answers API Gateway (payload 2.0).
type apiResponse struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers"`
	Body       string            `json:"body"`
}

// httpResponse reads an api function's response.
func httpResponse(t testing.TB, res lambdaruntime.Result) apiResponse {
	t.Helper()
	var r apiResponse
	if err := json.Unmarshal(res.Payload, &r); err != nil || r.StatusCode == 0 {
		t.Fatalf("not an API Gateway response: %s (%v)", res.Payload, err)
	}
	return r
}

// fixture reads testdata/name as generic JSON, to fill in its dynamic
// parts.
func fixture(t testing.TB, name string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(readFile(t, name), &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testCtx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// awsRecorder stands between a function and DynamoDB and S3, recording
// the actions it calls.
type awsRecorder struct {
	name string
	mu   sync.Mutex
	seen map[string]int
}

// newAWSRecorder points env's DynamoDB and S3 endpoints at recording
// proxies of the ones it names.
func newAWSRecorder(t testing.TB, name string, env map[string]string) *awsRecorder {
	t.Helper()
	r := &awsRecorder{name: name, seen: map[string]int{}}
	for _, svc := range []struct{ key, fallback, service string }{
		{"AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL", "dynamodb"},
		{"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "s3"},
	} {
		target := orDefault(env[svc.key], env[svc.fallback])
		if target == "" {
			continue
		}
		u, err := url.Parse(target)
		if err != nil {
			t.Fatal(err)
		}
		proxy := httputil.NewSingleHostReverseProxy(u)
		service := svc.service
		srv := testnet.Server(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			r.record(service, req)
			proxy.ServeHTTP(w, req)
		}))
		t.Cleanup(srv.Close)
		env[svc.key] = srv.URL
	}
	return r
}

func (r *awsRecorder) record(service string, req *http.Request) {
	var action string
	switch service {
	case "dynamodb": // X-Amz-Target: DynamoDB_20120810.PutItem
		_, op, _ := strings.Cut(req.Header.Get("X-Amz-Target"), ".")
		action = "dynamodb:" + op
	case "s3": // path style: /bucket/key
		ops := map[string]string{http.MethodGet: "GetObject", http.MethodHead: "GetObject", http.MethodPut: "PutObject", http.MethodDelete: "DeleteObject"}
		op, ok := ops[req.Method]
		if !ok || strings.Count(strings.Trim(req.URL.Path, "/"), "/") == 0 {
			op = req.Method + " " + req.URL.Path // a bucket-level call
		}
		action = "s3:" + op
	}
	r.mu.Lock()
	r.seen[action]++
	r.mu.Unlock()
}

// check fails the test for each action the function called that its role
// in template.yaml does not allow.
func (r *awsRecorder) check(t testing.TB, role serverless.Role) {
	t.Helper()
	allowed := map[string]bool{}
	for _, p := range serverless.Permissions(role, serverless.KafkaSelfManaged, serverless.SecretsManager) {
		allowed[p.Action] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for action, n := range r.seen {
		if !allowed[action] {
			t.Errorf("%s called %s (%d times), which its role does not allow (serverless.Permissions, template.yaml)", r.name, action, n)
		}
	}
}

func plainHeaders(hs []kafkago.Header) []kafka.Header {
	out := make([]kafka.Header, len(hs))
	for i, h := range hs {
		out[i] = kafka.Header{Key: h.Key, Value: h.Value}
	}
	return out
}
