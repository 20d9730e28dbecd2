package functions_test

// The runner functions, run as Lambda's managed runtimes run them: the
// handler (functions/runner/python/relay_runner.py, node/index.mjs) under
// the real runtime interface client of its language (awslambdaric from
// PyPI, aws-lambda-ric from npm, installed by functions/runner/ric.sh),
// against the local Runtime API, with the relay-runner binary that
// `make build-<Name>RunnerFunction` puts beside it. The worker's bootstrap
// invokes them through a local Lambda Invoke endpoint, as it does on AWS.

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/infra/blob"
	"github.com/relayflow/relay/infra/dynamo"
	"github.com/relayflow/relay/infra/kafka"
	"github.com/relayflow/relay/infra/secretstore"
	"github.com/relayflow/relay/internal/servicetest"
	"github.com/relayflow/relay/internal/testnet"
	"github.com/relayflow/relay/secrets"
	"github.com/relayflow/relay/serverless"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/storage"
)

// ricCommand returns the command of a runner's runtime interface client,
// installed by functions/runner/ric.sh (make ric; make test runs it).
func ricCommand(t testing.TB, r serverless.Role) []string {
	t.Helper()
	root, _ := filepath.Abs("..")
	cache := filepath.Join(root, ".cache", "ric")
	if r == serverless.RolePythonRunner {
		py := filepath.Join(cache, "python", "bin", "python")
		if _, err := os.Stat(py); err != nil {
			ricMissing(t, "awslambdaric")
		}
		return []string{py, "-m", "awslambdaric", "relay_runner.handler"}
	}
	js := filepath.Join(cache, "node", "node_modules", "aws-lambda-ric", "bin", "index.mjs")
	if _, err := os.Stat(js); err != nil {
		ricMissing(t, "aws-lambda-ric")
	}
	return []string{"node", js, "index.handler"}
}

func ricMissing(t testing.TB, name string) {
	t.Helper()
	if os.Getenv("RELAY_REQUIRE_SERVICES") == "1" {
		t.Fatalf("%s is not installed: run `make ric` (make test does)", name)
	}
	t.Skipf("%s is not installed: run `make ric`", name)
}

var (
	pythonRunnerFn = lambdaFunction{name: "pythonRunner", logicalID: "PythonRunnerFunction", memoryMB: 1024, timeout: 900 * time.Second, handler: "relay_runner.handler"}
	nodeRunnerFn   = lambdaFunction{name: "nodeRunner", logicalID: "NodeRunnerFunction", memoryMB: 1024, timeout: 900 * time.Second, handler: "index.handler"}
)

var runnerBuild struct {
	once sync.Once
	dir  string
	err  error
}

// runnerDir builds both runner functions as sam build does, for this
// machine's architecture, once per test binary.
func runnerDir(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the runner functions and runs them against DynamoDB Local and S3: not with -short")
	}
	if runtime.GOOS != "linux" {
		t.Skipf("the functions are built for linux, this is %s", runtime.GOOS)
	}
	servicetest.Require(t, serverless.EnvBrokers, "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")
	runnerBuild.once.Do(func() {
		root, _ := filepath.Abs("..")
		runnerBuild.dir, runnerBuild.err = os.MkdirTemp("", "relay-runners-")
		for _, f := range []lambdaFunction{pythonRunnerFn, nodeRunnerFn} {
			cmd := exec.Command("make", "-C", root, "build-"+f.logicalID, "ARTIFACTS_DIR="+filepath.Join(runnerBuild.dir, f.name), "LAMBDA_ARCH="+runtime.GOARCH)
			if out, err := cmd.CombinedOutput(); err != nil {
				runnerBuild.err = fmt.Errorf("make build-%s: %v\n%s", f.logicalID, err, out)
				return
			}
		}
	})
	if runnerBuild.err != nil {
		t.Fatal(runnerBuild.err)
	}
	return runnerBuild.dir
}

// startRunner starts a runner function under its runtime interface
// client, with the runner's environment of template.yaml (no Kafka).
func startRunner(t testing.TB, dir string, f lambdaFunction, d *deployment) *function {
	t.Helper()
	f.command = ricCommand(t, serverless.Role(f.name))
	env := map[string]string{
		serverless.EnvTable:  d.env[serverless.EnvTable],
		serverless.EnvBucket: d.env[serverless.EnvBucket],
		// The interpreters of the managed runtime: this machine's.
		"PATH": os.Getenv("PATH"),
	}
	for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3"} {
		if v := d.env[k]; v != "" {
			env[k] = v
		}
	}
	fn := startFunction(t, dir, f, env)
	fn.waitReady(t)
	return fn
}

func runnerEvent(t testing.TB, typ string, props map[string]any) []byte {
	t.Helper()
	return mustJSON(t, serverless.RunnerEvent{Relay: serverless.RunnerProtocol, ExecutionID: "exec-r1", TaskRunID: "transform", TaskID: "transform",
		Namespace: "company.team", FlowID: "etl", Type: typ, Attempt: 1, Props: props})
}

func TestRunner_pythonAndNodeUnderTheirRuntimeInterfaceClients(t *testing.T) {
	dir := runnerDir(t)
	d := newDeployment(t)
	files := d.files(t)
	input, err := files.PutOutput(testCtx(t), storage.Run{Namespace: "company.team", FlowID: "etl", ExecutionID: "exec-r1", TaskID: "extract", TaskRunID: "extract"},
		"raw.csv", strings.NewReader("id,amount\n1,10\n2,\n3,5\n"), -1)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		fn     lambdaFunction
		typ    string
		script string
	}{
		{pythonRunnerFn, "python.script", `
import csv, json, os, sys
rows = [r for r in csv.DictReader(open("raw.csv")) if r["amount"]]
open("clean.csv", "w").write("".join(r["id"] + "\n" for r in rows))
print("kept", len(rows), "rows")
print("::" + json.dumps({"outputs": {"rows": len(rows), "python": sys.version_info[0],
    "attempt": os.environ["RELAY_ATTEMPT_KEY"] + " " + os.environ["RELAY_ATTEMPT"]}}) + "::")
`},
		{nodeRunnerFn, "node.script", `
const fs = require("fs");
const rows = fs.readFileSync("raw.csv", "utf8").trim().split("\n").slice(1).filter(l => l.split(",")[1]);
fs.writeFileSync("clean.csv", rows.map(r => r.split(",")[0] + "\n").join(""));
console.log("kept", rows.length, "rows");
console.log("::" + JSON.stringify({outputs: {rows: rows.length, node: process.versions.node.split(".")[0] > 0,
  attempt: process.env.RELAY_ATTEMPT_KEY + " " + process.env.RELAY_ATTEMPT}}) + "::");
`},
	}
	for _, tc := range tests {
		t.Run(tc.fn.name, func(t *testing.T) {
			fn := startRunner(t, dir, tc.fn, d)
			res := fn.invoke(t, runnerEvent(t, tc.typ, map[string]any{"script": tc.script, "warningOnStdErr": false,
				"inputFiles": map[string]any{"raw.csv": input}, "outputFiles": []any{"clean.csv"}}))
			var reply serverless.RunnerReply
			if err := json.Unmarshal(res.Payload, &reply); err != nil {
				t.Fatalf("answer %s: %v", res.Payload, err)
			}
			logs, err := d.store.Logs(testCtx(t), "exec-r1", 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if reply.Error != nil || fmt.Sprint(reply.Outputs["vars"].(map[string]any)["rows"]) != "2" || reply.Outputs["exitCode"] != float64(0) {
				t.Fatalf("reply %+v; logs %+v", reply, logs)
			}
			// The event names no key (a worker older than the key): the
			// runner makes it from the ids, as the worker does.
			if got := reply.Outputs["vars"].(map[string]any)["attempt"]; got != "exec-r1/transform/1 1" {
				t.Errorf("the script saw RELAY_ATTEMPT_KEY and RELAY_ATTEMPT %q, want \"exec-r1/transform/1 1\"", got)
			}
			uri := reply.Outputs["outputFiles"].(map[string]any)["clean.csv"].(string)
			if got, err := files.Read(testCtx(t), "company.team", uri, 0); err != nil || string(got) != "1\n3\n" {
				t.Errorf("clean.csv in the bucket holds %q (%v)", got, err)
			}
			if !slices.ContainsFunc(logs, func(l engine.LogEntry) bool {
				return l.Message == "kept 2 rows" && l.Level == "INFO" && l.TaskRunID == "transform"
			}) {
				t.Errorf("the script's line is not in the execution's logs: %+v", logs)
			}

			res = fn.invoke(t, runnerEvent(t, tc.typ, map[string]any{"script": failing[tc.typ]}))
			if err := json.Unmarshal(res.Payload, &reply); err != nil {
				t.Fatal(err)
			}
			if reply.Error == nil || reply.Error.Type != "ExitCode" || !strings.Contains(reply.Error.Message, "exit code 3") || !strings.Contains(reply.Error.Message, "bad input") {
				t.Errorf("a failing script: reply %+v, want an ExitCode error with the exit code and stderr", reply)
			}
		})
	}
}

func TestRunner_stopsTheScriptAtTheAttemptsDeadline(t *testing.T) {
	dir := runnerDir(t)
	d := newDeployment(t)
	fn := startRunner(t, dir, pythonRunnerFn, d)
	ev := serverless.RunnerEvent{Relay: serverless.RunnerProtocol, ExecutionID: "exec-r2", TaskRunID: "slow", TaskID: "slow", Namespace: "company.team", FlowID: "etl",
		Type: "python.script", Attempt: 1, Props: map[string]any{"script": "import time\nprint('started', flush=True)\ntime.sleep(60)\n"},
		Deadline: time.Now().Add(3 * time.Second)}
	start := time.Now()
	res := fn.invoke(t, mustJSON(t, ev))
	var reply serverless.RunnerReply
	if err := json.Unmarshal(res.Payload, &reply); err != nil {
		t.Fatal(err)
	}
	if reply.Error == nil || reply.Error.Kind != "timeout" {
		t.Errorf("reply %+v, want a timeout", reply)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("the runner answered after %s: the attempt's 3 s deadline was not applied", took)
	}
}

var failing = map[string]string{
	"python.script": "import sys\nprint('bad input', file=sys.stderr)\nsys.exit(3)\n",
	"node.script":   "console.error('bad input'); process.exit(3);\n",
}

// files is the internal storage on the deployment's bucket.
func (d *deployment) files(t testing.TB) *storage.Storage {
	t.Helper()
	c, err := blob.NewS3Client(testCtx(t), true)
	if err != nil {
		t.Fatal(err)
	}
	return storage.New(blob.NewS3(c, d.env[serverless.EnvBucket], ""))
}

// invokeEndpoint serves Lambda's Invoke API (POST
// /2015-03-31/functions/{name}/invocations) for the runner functions
// given, by their name, on their local Runtime APIs: what
// AWS_ENDPOINT_URL_LAMBDA points the worker at.
func invokeEndpoint(t testing.TB, fns map[string]*function) string {
	t.Helper()
	srv := testnet.Server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
		if len(parts) != 4 || parts[1] != "functions" || parts[3] != "invocations" {
			http.Error(w, `{"message":"not an Invoke call"}`, http.StatusNotFound)
			return
		}
		fn := fns[parts[2]]
		if fn == nil {
			w.Header().Set("X-Amzn-Errortype", "ResourceNotFoundException")
			http.Error(w, `{"message":"no function `+parts[2]+`"}`, http.StatusNotFound)
			return
		}
		payload, _ := io.ReadAll(r.Body)
		res, err := fn.rt.Invoke(r.Context(), payload, time.Now().Add(fn.timeout))
		if err != nil {
			http.Error(w, `{"message":"`+err.Error()+`"}`, http.StatusInternalServerError)
			return
		}
		if res.Error != nil {
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(res.Payload)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// workerWithRunner starts the Python runner and the worker's bootstrap,
// told to invoke it (RELAY_RUNNER_PYTHON) through a local Invoke endpoint,
// and returns both.
func workerWithRunner(t testing.TB, dir, rdir string, d *deployment) (worker, runner *function) {
	t.Helper()
	py := startRunner(t, rdir, pythonRunnerFn, d)
	env := maps.Clone(d.env)
	env["AWS_ENDPOINT_URL_LAMBDA"] = invokeEndpoint(t, map[string]*function{"relay-python-runner": py})
	env[serverless.EnvRunnerPython] = "relay-python-runner"
	worker = startFunction(t, dir, workerFn, env)
	worker.waitReady(t)
	return worker, py
}

// scheduleAttempt publishes a taskrun.scheduled event for one attempt of
// a script task and returns its record, as the executor would.
func (d *deployment) scheduleAttempt(t testing.TB, execID, typ string, props map[string]any) kafkago.Message {
	t.Helper()
	bus, err := kafka.New(testCtx(t), d.brokers, kafka.WithTopicPrefix(d.prefix))
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	c := statemachine.ScheduleTaskRun{ExecutionID: execID, TaskRunID: "transform", TaskID: "transform", Type: typ, Attempt: 1, Props: props, Namespace: "company.team", FlowID: "etl"}
	// Dated a little ahead: the record is read back before the worker gets
	// it, and a delivery that looks a second old is checked against its
	// execution, which this test does not create.
	ev, err := engine.NewEvent(execID+"/transform/1/scheduled", engine.TypeTaskRunScheduled, "relay/executor", execID, time.Now().Add(10*time.Second), c)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Publish(testCtx(t), engine.TopicTaskRuns, execID+"/transform", ev); err != nil {
		t.Fatal(err)
	}
	return d.waitRecord(t, engine.TopicTaskRuns, "the scheduled attempt of "+execID, func(_ kafkago.Message, e *cloudevents.Event) bool {
		return e != nil && e.ID() == ev.ID()
	})
}

// finished waits for the taskrun.finished event of execID.
func (d *deployment) finished(t testing.TB, execID string) statemachine.Event {
	t.Helper()
	var fin statemachine.Event
	d.waitRecord(t, engine.TopicExecutions, "taskrun.finished of "+execID, func(_ kafkago.Message, ev *cloudevents.Event) bool {
		return ev != nil && ev.Subject() == execID && ev.Type() == engine.TypePrefix+string(statemachine.EvTaskRunFinished) && json.Unmarshal(ev.Data(), &fin) == nil
	})
	return fin
}

func TestRunner_theWorkerInvokesTheRunner(t *testing.T) {
	dir := bootstraps(t)
	rdir := runnerDir(t)
	d := newDeployment(t)
	worker, _ := workerWithRunner(t, dir, rdir, d)

	execID := fmt.Sprintf("exec-w%d", time.Now().UnixNano())
	rec := d.scheduleAttempt(t, execID, "python.script", map[string]any{"script": "import json, os\nprint('::' + json.dumps({'outputs': {'where': 'runner', 'key': os.environ['RELAY_ATTEMPT_KEY']}}) + '::')\nprint('hello from the runner')\n"})
	worker.invokeKafka(t, d, rec)
	fin := d.finished(t, execID)
	if fin.State != statemachine.RunSuccess || fin.Outputs["vars"].(map[string]any)["where"] != "runner" {
		t.Errorf("taskrun.finished: %s %v %+v", fin.State, fin.Outputs, fin.Error)
	}
	if key := fin.Outputs["vars"].(map[string]any)["key"]; key != execID+"/transform/1" {
		t.Errorf("the script on the runner saw RELAY_ATTEMPT_KEY %v, want %s/transform/1", key, execID)
	}
	logs, err := d.store.Logs(testCtx(t), execID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(logs, func(l engine.LogEntry) bool { return l.Message == "hello from the runner" }) {
		t.Errorf("the runner's line is not in the logs: %+v", logs)
	}
	if !worker.logged(`"message":"script tasks run on a runner function"`, "relay-python-runner") {
		t.Error("the worker did not route python.script to the runner")
	}
	var calls []string
	for a := range worker.calls.seen {
		calls = append(calls, a)
	}
	sort.Strings(calls)
	t.Logf("worker calls: %v", calls)
}

// The worker opens the secrets of a script attempt and invokes the runner
// with their values; the runner, which writes the attempt's log lines to
// the table itself, masks them there and in its answer. Nothing the
// runner or the worker stores, publishes or prints holds them in clear.
func TestRunner_theRunnerMasksTheSecretsTheWorkerOpened(t *testing.T) {
	dir := bootstraps(t)
	rdir := runnerDir(t)
	d := newDeployment(t)
	const pw, token = "pw-Runner-3f9d1c", "tok-Runner-8a2e77"
	keyText := "a key of this test, 32 bytes or more"
	keys, err := secrets.NewKeyring([]byte(keyText))
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := keys.Seal("company.team", pw)         // a SECRET input
	ref, _ := keys.Ref("company.team", "RUNNER_TOKEN") // secret('RUNNER_TOKEN')
	d.env[secretstore.EnvKey] = keyText
	d.env["RELAY_SECRET_RUNNER_TOKEN"] = token
	worker, runner := workerWithRunner(t, dir, rdir, d)

	execID := fmt.Sprintf("exec-s%d", time.Now().UnixNano())
	script := `
import json, os, sys
pw, token = open("pw.txt").read(), os.environ["TOKEN"]
print("stdout", pw, token)
print("stderr", pw, token, file=sys.stderr)
print("x" * 8187 + pw + " " + token)
print("::" + json.dumps({"outputs": {"pw": pw, "auth": "Bearer " + token},
    "metrics": [{"name": "calls", "type": "counter", "value": 1, "tags": {"token": token}}],
    "logs": [{"level": "WARN", "message": "protocol " + pw}]}) + "::")
print("::{not json " + token + "}::")
sys.exit(3)
`
	rec := d.scheduleAttempt(t, execID, "python.script", map[string]any{"script": script, "env": map[string]any{"TOKEN": ref}, "inputFiles": map[string]any{"pw.txt": sealed}})
	if strings.Contains(string(rec.Value), pw) || strings.Contains(string(rec.Value), token) {
		t.Fatal("the scheduled attempt holds a secret in clear: the test set it up wrong")
	}
	worker.invokeKafka(t, d, rec)
	fin := d.finished(t, execID)
	if fin.State != statemachine.RunFailed || fin.Error == nil || !strings.Contains(fin.Error.Message, "stderr ****** ******") {
		t.Errorf("taskrun.finished: %s %+v: want FAILED with the last stderr line, masked", fin.State, fin.Error)
	}
	if v := fin.Outputs["vars"].(map[string]any); v["pw"] != secrets.Mask || v["auth"] != "Bearer "+secrets.Mask {
		t.Errorf("vars %v: want the secrets masked", v)
	}
	if len(fin.Metrics) != 1 || fin.Metrics[0].Tags["token"] != secrets.Mask {
		t.Errorf("metrics %+v: want the tag masked", fin.Metrics)
	}
	logs, err := d.store.Logs(testCtx(t), execID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(logs, func(l engine.LogEntry) bool { return l.Message == "stdout ****** ******" }) {
		var msgs []string
		for _, l := range logs {
			msgs = append(msgs, l.Message[:min(len(l.Message), 120)])
		}
		t.Errorf("the script's line, masked, is not in the logs: %q", msgs)
	}

	clear := func(where string, b []byte) {
		t.Helper()
		for _, s := range []string{pw, token} {
			// Any 6 bytes of a secret: a line cut at 8 KiB must not leave part of one.
			for i := 0; i+6 <= len(s); i++ {
				if j := strings.Index(string(b), s[i:i+6]); j >= 0 {
					t.Errorf("%s holds %q of a secret: ...%s...", where, s[i:i+6], b[max(0, j-60):min(len(b), j+60)])
					return
				}
			}
		}
	}
	for _, l := range logs {
		clear("log line "+fmt.Sprint(l.Seq), []byte(l.Message))
	}
	for i, it := range d.scanTable(t) {
		clear(fmt.Sprintf("table item %d", i), it)
	}
	msgs, err := readTopic(testCtx(t), d.brokers[0], d.prefix+engine.TopicExecutions)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		clear("a record of relay.executions", m.Value)
	}
	clear("the worker's output (CloudWatch)", []byte(worker.out.String()))
	clear("the runner's output (CloudWatch)", []byte(runner.out.String()))
}

// scanTable returns every attribute of every item of the deployment's
// table: binary ones as their bytes (unzipped), the others as JSON.
func (d *deployment) scanTable(t testing.TB) [][]byte {
	t.Helper()
	db, err := dynamo.NewClient(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	pages := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(d.env[serverless.EnvTable])})
	for pages.HasMorePages() {
		page, err := pages.NextPage(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			for _, v := range it {
				b, ok := v.(*ddbtypes.AttributeValueMemberB)
				if !ok {
					out = append(out, mustJSON(t, v))
					continue
				}
				if zr, err := gzip.NewReader(bytes.NewReader(b.Value)); err == nil {
					if plain, err := io.ReadAll(zr); err == nil {
						out = append(out, plain)
						continue
					}
				}
				out = append(out, b.Value)
			}
		}
	}
	return out
}
