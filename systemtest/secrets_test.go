package systemtest

// Secrets never in clear: a known SECRET input and a known secret('NAME')
// go through every path a deployment has (relay run on the embedded
// store, relay server's API, relay dev on Kafka, DynamoDB Local and S3),
// then every byte Relay stored and printed is searched for them.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/infra/blob"
	"github.com/relayflow/relay/infra/dynamo"
	"github.com/relayflow/relay/internal/servicetest"
	"github.com/relayflow/relay/internal/testnet"
	"github.com/relayflow/relay/serverless"
)

const (
	secretInput = "hunter2-Pw-7c1e"  // given as the SECRET input pw
	secretToken = "tok-Named-5e2f9a" // RELAY_SECRET_TOKEN, read by secret('TOKEN')
)

// secretFlowSrc uses both secrets in every way a task can: in a log
// message, in outputs (one larger than the blob threshold, so that it is
// stored and published by reference), in scripts' environment, input
// files, stdout and stderr (a line of over 8 KiB cut with a secret
// across the cut), protocol outputs, metrics and logs, a protocol line
// that is not JSON, the last stderr lines of a failed script, and in an
// error message, and through the KV store (kv.set, kv.get, kv()). The
// scripts prove that they saw the clear values by
// printing their hashes.
func secretFlowSrc() string {
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	return fmt.Sprintf(`id: s
namespace: shop
inputs:
  - {id: pw, type: SECRET}
tasks:
  - id: log
    type: log
    message: "pw={{ inputs.pw }} token={{ secret('TOKEN') }}"
  - id: values
    type: output.values
    values:
      auth: "Bearer {{ secret('TOKEN') }}"
      pw: "{{ inputs.pw }}"
      big: "{{ range(1, 6000) | join(inputs.pw) }}"
  - id: script
    type: shell.commands
    env: {PW: "{{ inputs.pw }}", TOKEN: "{{ secret('TOKEN') }}"}
    commands:
      - test "$(printf %%s "$PW" | sha256sum | cut -c1-64)" = %[1]s && echo pw-hash-ok
      - test "$(printf %%s "$TOKEN" | sha256sum | cut -c1-64)" = %[2]s && echo token-hash-ok
      - echo "stdout $PW $TOKEN"
      - echo "stderr $PW $TOKEN" >&2
  - id: py
    type: io.kestra.plugin.scripts.python.Script
    warningOnStdErr: false
    env: {TOKEN: "{{ secret('TOKEN') }}"}
    inputFiles:
      pw.txt: "{{ inputs.pw }}"
    outputFiles: [done.txt]
    script: |
      import hashlib, json, os, sys
      pw, token = open("pw.txt").read(), os.environ["TOKEN"]
      sha = lambda s: hashlib.sha256(s.encode()).hexdigest()
      print("py-hashes-ok" if (sha(pw), sha(token)) == ("%[1]s", "%[2]s") else "py-hashes-wrong")
      print("py stdout", pw, token)
      print("py stderr", pw, token, file=sys.stderr)
      print("x" * 8187 + pw + " " + token)
      print("::" + json.dumps({"outputs": {"pw": pw, "auth": "Bearer " + token},
          "metrics": [{"name": "calls", "type": "counter", "value": 1, "tags": {"token": token}}],
          "logs": [{"level": "WARN", "message": "protocol log " + pw}]}) + "::")
      print("::{not json " + token + "}::")
      open("done.txt", "w").write("done")
  - id: cmds
    type: io.kestra.plugin.scripts.shell.Commands
    allowFailure: true
    env: {PW: "{{ inputs.pw }}", TOKEN: "{{ secret('TOKEN') }}"}
    commands:
      - echo "cmds stdout $PW $TOKEN"
      - 'echo "::{\"outputs\": {\"token\": \"$TOKEN\"}}::"'
      - echo "cmds failing with $PW $TOKEN" >&2
      - exit 3
  - id: kvset
    type: kv.set
    key: auth
    value: "Bearer {{ secret('TOKEN') }} {{ inputs.pw }}"
  - id: kvget
    type: kv.get
    key: auth
  - id: kvuse
    type: shell.commands
    env: {AUTH: "{{ kv('auth') }}"}
    commands:
      - test "$(printf %%s "$AUTH" | sha256sum | cut -c1-64)" = %[3]s && echo kv-hash-ok
  - id: fail
    type: flow.fail
    errorMessage: "failing with {{ secret('TOKEN') }}"
`, sum(secretInput), sum(secretToken), sum("Bearer "+secretToken+" "+secretInput))
}

// leaks collects what a path stored and printed, and fails the test on a
// clear secret.
type leaks struct {
	t       *testing.T
	markers int // sealed markers seen: the search looked where secrets are
}

// check searches one stored or printed thing, decompressing gzip.
func (l *leaks) check(where string, b []byte) {
	l.t.Helper()
	if len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b {
		if zr, err := gzip.NewReader(bytes.NewReader(b)); err == nil {
			if plain, err := io.ReadAll(zr); err == nil {
				b = plain
			}
		}
	}
	for _, s := range []string{secretInput, secretToken} {
		if bytes.Contains(b, []byte(s)) {
			i := bytes.Index(b, []byte(s))
			l.t.Errorf("%s holds the secret %q in clear: ...%s...", where, s, b[max(0, i-80):min(len(b), i+80)])
		}
	}
	l.markers += bytes.Count(b, []byte("[[relay-secret:"))
}

// checkDir searches every file under dir.
func (l *leaks) checkDir(dir string) {
	l.t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		l.check(p, b)
		return nil
	})
	if err != nil || n == 0 {
		l.t.Errorf("searching %s: %d files, %v", dir, n, err)
	}
}

// relayCmd runs the relay CLI and returns what it printed.
func relayCmd(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(relayBinary(t), args...)
	cmd.Env = env
	out, _ := cmd.CombinedOutput() // several of them fail on purpose
	return string(out)
}

// checkResult checks that the execution ended as the flow says, that the
// secrets reached the scripts in clear, and that what the scripts returned
// shows them masked.
func checkResult(t *testing.T, doc engine.ExecutionDoc) {
	t.Helper()
	if doc.State != "FAILED" {
		t.Fatalf("state %s, want FAILED (flow.fail)", doc.State)
	}
	runs := map[string]engine.TaskRunDoc{}
	for _, r := range doc.TaskRuns {
		runs[r.TaskID] = r
	}
	if out := fmt.Sprint(runs["script"].Outputs["stdout"]); !strings.Contains(out, "pw-hash-ok") || !strings.Contains(out, "token-hash-ok") || !strings.Contains(out, "stdout ****** ******") {
		t.Errorf("script stdout %q: the task did not get the secrets, or they were not masked", out)
	}
	py := runs["py"]
	vars, _ := py.Outputs["vars"].(map[string]any)
	files, _ := py.Outputs["outputFiles"].(map[string]any)
	if py.State != "SUCCESS" || vars["pw"] != "******" || vars["auth"] != "Bearer ******" || files["done.txt"] == nil {
		t.Errorf("python.Script: %s, outputs %v: want SUCCESS, vars masked and done.txt stored", py.State, py.Outputs)
	}
	if len(py.Metrics) != 1 || py.Metrics[0].Tags["token"] != "******" {
		t.Errorf("python.Script metrics %+v: want the tag masked", py.Metrics)
	}
	if out := fmt.Sprint(runs["kvuse"].Outputs["stdout"]); !strings.Contains(out, "kv-hash-ok") {
		t.Errorf("kvuse stdout %q: the value kv.set stored did not reach the task as the secrets", out)
	}
	if v := runs["kvget"].Outputs["value"]; v != "Bearer ****** ******" {
		t.Errorf("kv.get output %v, want the secrets masked", v)
	}
	cmds := runs["cmds"]
	if cmds.State != "WARNING" || len(cmds.Attempts) == 0 || cmds.Attempts[0].Error == nil || !strings.Contains(cmds.Attempts[0].Error.Message, "cmds failing with ****** ******") {
		t.Errorf("shell.Commands: %s, attempts %+v: want WARNING (allowFailure), its error quoting stderr masked", cmds.State, cmds.Attempts)
	}
	if v, _ := cmds.Outputs["vars"].(map[string]any); v != nil && v["token"] != "******" {
		t.Errorf("shell.Commands vars %v: want the secret masked", v)
	}
}

// checkScriptLogs checks that the scripts' lines reached the logs, masked,
// and that the python script saw the secrets.
func checkScriptLogs(t *testing.T, logs string) {
	t.Helper()
	for _, want := range []string{"py-hashes-ok", "py stdout ****** ******", "py stderr ****** ******", "protocol log ******", "cmds stdout ****** ******", "cmds failing with ****** ******"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the logs lack %q", want)
		}
	}
}

func secretEnv(dataDir string) []string {
	return append(os.Environ(), "RELAY_SECRET_TOKEN="+secretToken, "RELAY_DATA_DIR="+dataDir, "NO_COLOR=1")
}

func writeFlow(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "s.yaml")
	if err := os.WriteFile(p, []byte(secretFlowSrc()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSecrets_neverInClear_relayRun(t *testing.T) {
	dir := t.TempDir()
	env := secretEnv(dir)
	l := &leaks{t: t}
	out := relayCmd(t, env, "run", writeFlow(t), "--input", "pw="+secretInput, "--progress", "plain", "--output", "json")
	l.check("relay run's output", []byte(out))
	var doc engine.ExecutionDoc
	if err := json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1][strings.Index(out, "{\n"):]), &doc); err != nil {
		t.Fatalf("relay run --output json: %v\n%s", err, out)
	}
	checkResult(t, doc)
	for _, args := range [][]string{{"executions", "show", doc.ID}, {"executions", "show", doc.ID, "-o", "json"}, {"logs", doc.ID}, {"executions", "list"}} {
		out := relayCmd(t, env, args...)
		l.check("relay "+strings.Join(args, " "), []byte(out))
		if args[0] == "logs" {
			checkScriptLogs(t, out)
		}
	}
	l.checkDir(dir)
	if l.markers == 0 {
		t.Error("no sealed marker anywhere: the search did not look where the secrets are")
	}
}

func TestSecrets_neverInClear_relayServerAPI(t *testing.T) {
	dir := t.TempDir()
	env := secretEnv(dir)
	port := testnet.Port(t)
	cmd := exec.Command(relayBinary(t), "server", "--port", fmt.Sprint(port))
	cmd.Env = env
	p := startProc(t, "server", cmd)
	sys := &system{url: fmt.Sprintf("http://127.0.0.1:%d", port)}
	waitAPI(t, sys, p)
	l := &leaks{t: t}
	runThroughAPI(t, l, env, sys.url)
	p.kill()
	l.check("relay server's output", []byte(p.String()))
	l.checkDir(dir)
	if l.markers == 0 {
		t.Error("no sealed marker anywhere: the search did not look where the secrets are")
	}
}

// runThroughAPI deploys and starts the flow with the CLI on the API at
// url, waits for it, and searches what the CLI and the API return.
func runThroughAPI(t *testing.T, l *leaks, env []string, url string) {
	t.Helper()
	api := []string{"--api", url}
	l.check("relay flows deploy", []byte(relayCmd(t, env, append([]string{"flows", "deploy", writeFlow(t)}, api...)...)))
	out := relayCmd(t, env, append([]string{"executions", "start", "shop/s", "--input", "pw=" + secretInput, "--wait", "--progress", "plain"}, api...)...)
	l.check("relay executions start --wait", []byte(out))
	id := executionID(t, out)
	var doc engine.ExecutionDoc
	for _, path := range []string{"/executions/" + id, "/executions/" + id + "/logs", "/executions"} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		l.check("GET "+path, b)
		if path == "/executions/"+id+"/logs" {
			checkScriptLogs(t, string(b))
			// The line of over 8 KiB is logged cut, and no part of the
			// secret across the cut is left.
			if !strings.Contains(string(b), strings.Repeat("x", 8187)+"******") {
				t.Error("the logs lack the head of the long line, cut with the secret masked")
			}
		}
		if path == "/executions/"+id {
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
		}
	}
	checkResult(t, doc)
	for _, args := range [][]string{{"executions", "show", id}, {"logs", id}} {
		l.check("relay "+strings.Join(args, " "), []byte(relayCmd(t, env, append(args, api...)...)))
	}
	// A bad SECRET input is refused without echoing it.
	l.check("a refused start", []byte(relayCmd(t, env, append([]string{"executions", "start", "shop/s", "--input", "nope=" + secretInput}, api...)...)))
	throughTheUIsAPI(t, l, url, id)
}

// throughTheUIsAPI searches what the web UI reads and does: the flow's
// graph, the Server-Sent Events of the list and of an execution, a start
// from the form (multipart, as the UI sends it), a restart and a replay.
func throughTheUIsAPI(t *testing.T, l *leaks, url, id string) {
	t.Helper()
	get := func(path string) []byte {
		t.Helper()
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s %s", path, resp.Status, b)
		}
		l.check("GET "+path, b)
		return b
	}
	post := func(path, contentType string, body io.Reader, want int) []byte {
		t.Helper()
		resp, err := http.Post(url+path, contentType, body)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		l.check("POST "+path, b)
		if resp.StatusCode != want {
			t.Fatalf("POST %s: %s %s, want %d", path, resp.Status, b, want)
		}
		return b
	}
	// stream reads Server-Sent Events up to the first event named until.
	stream := func(path, until string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got strings.Builder
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			got.WriteString(sc.Text() + "\n")
			if sc.Text() == "event: "+until {
				break
			}
		}
		l.check("GET "+path, []byte(got.String()))
		if !strings.Contains(got.String(), "event: "+until) {
			t.Fatalf("GET %s: no %s event in\n%.2000s", path, until, got.String())
		}
		return got.String()
	}
	wait := func(id string) engine.ExecutionDoc {
		t.Helper()
		// A start is taken (201) before the execution is stored.
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
			resp, err := http.Get(url + "/executions/" + id)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("execution %s: %s", id, resp.Status)
			}
		}
		events := stream("/executions/"+id+"/stream", "end")
		if !strings.Contains(events, "py stdout ****** ******") {
			t.Errorf("the execution's stream of %s lacks the masked log lines", id)
		}
		var doc engine.ExecutionDoc
		if err := json.Unmarshal(get("/executions/"+id), &doc); err != nil {
			t.Fatal(err)
		}
		return doc
	}

	get("/flows/shop/s/graph")
	stream("/executions/stream?namespace=shop", "executions")

	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	mw.WriteField("pw", secretInput)
	mw.Close()
	var started struct{ ID string }
	if err := json.Unmarshal(post("/executions/shop/s", mw.FormDataContentType(), &form, http.StatusCreated), &started); err != nil || started.ID == "" {
		t.Fatalf("starting from the form: %v", err)
	}
	checkResult(t, wait(started.ID))

	var replay struct{ ID string }
	if err := json.Unmarshal(post("/executions/"+id+"/replay?from=log", "", nil, http.StatusCreated), &replay); err != nil || replay.ID == "" {
		t.Fatalf("replaying: %v", err)
	}
	checkResult(t, wait(replay.ID))

	post("/executions/"+id+"/restart", "", nil, http.StatusAccepted)
	deadline := time.Now().Add(time.Minute)
	for {
		var doc engine.ExecutionDoc
		if err := json.Unmarshal(get("/executions/"+id), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.EndDate != nil && doc.State == "FAILED" && restarted(doc) {
			checkResult(t, doc)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restarted execution did not end FAILED again: %s", doc.State)
		}
		time.Sleep(100 * time.Millisecond)
	}
	stream("/executions/"+id+"/stream", "end")
}

// restarted says whether a task run of doc ran more than once.
func restarted(doc engine.ExecutionDoc) bool {
	for _, r := range doc.TaskRuns {
		if len(r.Attempts) > 1 {
			return true
		}
	}
	return false
}

func TestSecrets_neverInClear_relayDev(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("RELAY_DATA_DIR", dir) // the test's own runtime shares the key file of relay dev
	d := newDeployment(t)
	ctx := context.Background()
	s3c, err := blob.NewS3Client(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	bucket := fmt.Sprintf("relay-secrets-%d", time.Now().UnixNano())
	servicetest.Bucket(t, s3c, bucket)
	port := testnet.Port(t)
	env := append(secretEnv(dir), serverless.EnvBucket+"="+bucket, serverless.EnvBlobThreshold+"=4096")
	d.env = append(d.env, env[len(os.Environ()):]...)
	p := d.startArgs("dev", "dev", "--role", "all", "--consumers", "1", "--create-table=false", "--addr", fmt.Sprintf("127.0.0.1:%d", port))
	sys := &system{url: fmt.Sprintf("http://127.0.0.1:%d", port)}
	waitAPI(t, sys, p)
	l := &leaks{t: t}
	runThroughAPI(t, l, d.env, sys.url)
	l.check("relay executions list --direct", []byte(relayCmd(t, d.env, "executions", "list", "--direct")))
	p.kill()
	l.check("relay dev's output", []byte(p.String()))

	// Every item of the table.
	db, err := dynamo.NewClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	table := d.rt.Config.Table
	items := 0
	pages := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(table)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			items++
			for name, v := range it {
				where := fmt.Sprintf("table item %v attribute %s", it["PK"], name)
				switch x := v.(type) {
				case *ddbtypes.AttributeValueMemberB:
					l.check(where, x.Value)
				default:
					b, _ := json.Marshal(v)
					l.check(where, b)
				}
			}
		}
	}
	// Every record of every topic.
	records := 0
	for _, topic := range []string{engine.TopicExecutions, engine.TopicTaskRuns, engine.TopicEvents, engine.TopicDLQ} {
		err := servicetest.ReadTopic(ctx, d.rt.Config.Brokers[0], d.rt.Config.TopicPrefix+topic, func(m kafkago.Message) {
			records++
			l.check("topic "+topic+" key", m.Key)
			l.check("topic "+topic+" value", m.Value)
			for _, h := range m.Headers {
				l.check("topic "+topic+" header "+h.Key, h.Value)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Every object of the bucket.
	objects := 0
	list := s3.NewListObjectsV2Paginator(s3c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for list.HasMorePages() {
		page, err := list.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(obj.Body)
			obj.Body.Close()
			objects++
			l.check("s3://"+bucket+"/"+aws.ToString(o.Key), b)
		}
	}
	t.Logf("searched %d items, %d records, %d objects; %d markers seen", items, records, objects, l.markers)
	if items == 0 || records == 0 || objects == 0 {
		t.Errorf("searched %d items, %d records and %d objects: each should be some", items, records, objects)
	}
	l.checkDir(dir)
	if l.markers == 0 {
		t.Error("no sealed marker anywhere: the search did not look where the secrets are")
	}
}
