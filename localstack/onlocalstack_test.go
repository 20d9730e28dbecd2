package localstack_test

// The tests `make test-localstack` runs (test.sh), after `host.sh up` and
// `host.sh deploy`: on LocalStack's CloudFormation, DynamoDB, S3, Secrets
// Manager, EventBridge and SQS, and the Kafka of services/. Anywhere else
// they are skipped. Relay's own code is run as a user runs it: the relay
// binary (`relay dev`, `relay flows deploy`, `relay emit`) and the built
// scheduler function, each given the environment template.yaml gives the
// functions, from the stack's parameters and outputs, with LocalStack
// reached through AWS_ENDPOINT_URL alone.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dynamodbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"gopkg.in/yaml.v3"

	"github.com/relayflow/relay/api"
	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/infra/dynamo"
	"github.com/relayflow/relay/infra/embedded"
	"github.com/relayflow/relay/internal/lambdaruntime"
	"github.com/relayflow/relay/internal/testnet"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/tasks"
	"github.com/relayflow/relay/tasks/builtin"
)

// stackName is the stack host.sh deploy makes (samconfig.toml's local
// stack_name).
const stackName = "relay-local"

// scheduleRule is the logical id of the scheduler's EventBridge rule: SAM's
// name for the EveryMinute event of SchedulerFunction, which
// community-template keeps.
const scheduleRule = "SchedulerFunctionEveryMinute"

type onLocalStack struct {
	aws       aws.Config
	outputs   map[string]string
	params    map[string]string
	physical  map[string]string // logical id -> physical id
	bin       string            // folder of the built relay and scheduler
	functions map[string]string // the functions' environment, from the stack
}

// TestOnLocalStack checks the stack, then runs relay dev on it, then the
// scheduler function from the stack's EventBridge rule.
func TestOnLocalStack(t *testing.T) {
	if os.Getenv("RELAY_LOCALSTACK_TEST") != "1" {
		t.Skip("run by `make test-localstack` (localstack/test.sh), with LocalStack up and the stack deployed")
	}
	ls := setUp(t)
	if !t.Run("stack", ls.testStack) {
		return
	}
	t.Run("relay dev", ls.testDev)
	t.Run("schedule", ls.testSchedule)
}

func setUp(t *testing.T) *onLocalStack {
	ctx := t.Context()
	if os.Getenv("AWS_ENDPOINT_URL") == "" {
		t.Fatal("AWS_ENDPOINT_URL is not set: source .cache/localstack/env")
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ls := &onLocalStack{aws: cfg, outputs: map[string]string{}, params: map[string]string{}, physical: map[string]string{}}
	cfn := cloudformation.NewFromConfig(cfg)
	out, err := cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(stackName)})
	if err != nil {
		t.Fatalf("the stack %s (make localstack-deploy makes it): %v", stackName, err)
	}
	st := out.Stacks[0]
	if s := string(st.StackStatus); s != "CREATE_COMPLETE" && s != "UPDATE_COMPLETE" {
		t.Fatalf("stack %s is %s", stackName, s)
	}
	for _, o := range st.Outputs {
		ls.outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	for _, p := range st.Parameters {
		ls.params[aws.ToString(p.ParameterKey)] = aws.ToString(p.ParameterValue)
	}
	res, err := cfn.DescribeStackResources(ctx, &cloudformation.DescribeStackResourcesInput{StackName: aws.String(stackName)})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.StackResources {
		ls.physical[aws.ToString(r.LogicalResourceId)] = aws.ToString(r.PhysicalResourceId)
	}

	// What template.yaml's Globals give every function, with the stack's
	// values: the table and bucket it made, the Kafka and the secret it was
	// given. TLS is off: services/' SASL listener is SASL_PLAINTEXT (the
	// template turns TLS on for AWS). AWS_ENDPOINT_URL is the one setting
	// that points at LocalStack; nothing Relay runs is told more.
	ls.functions = map[string]string{
		"AWS_ENDPOINT_URL":      os.Getenv("AWS_ENDPOINT_URL"),
		"AWS_REGION":            cfg.Region,
		"AWS_ACCESS_KEY_ID":     "test",
		"AWS_SECRET_ACCESS_KEY": "test",
		"RELAY_KAFKA_BROKERS":   ls.params["KafkaBootstrapServers"],
		"RELAY_KAFKA_TLS":       "false",
		"RELAY_KAFKA_SASL":      "scram-sha-512",
		"RELAY_KAFKA_SECRET":    ls.params["KafkaSecretArn"],
		"RELAY_TOPIC_PREFIX":    ls.params["TopicPrefix"],
		"RELAY_TABLE":           ls.outputs["TableName"],
		"RELAY_BUCKET":          ls.outputs["BucketName"],
		"RELAY_RETENTION":       ls.params["ExecutionRetentionDays"] + "d",
	}
	ls.bin = t.TempDir()
	build := func(out string, args ...string) {
		cmd := exec.Command("go", append([]string{"build", "-o", filepath.Join(ls.bin, out)}, args...)...)
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", out, err, b)
		}
	}
	build("relay", "./cmd/relay")
	build("scheduler/bootstrap", "-tags", "lambda.norpc", "./functions/scheduler")
	return ls
}

// env is the environment of a process of Relay: the functions' settings and
// extra, and nothing of this process's AWS or Relay settings.
func (ls *onLocalStack) env(extra map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "AWS_") && !strings.HasPrefix(k, "RELAY_") {
			env = append(env, kv)
		}
	}
	for _, m := range []map[string]string{ls.functions, extra} {
		for k, v := range m {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// ---------------------------------------------------------------- stack

// testStack checks that the stack holds what community-template makes of
// template.yaml, and that its table, bucket, rule and secret are those
// Relay is then given.
func (ls *onLocalStack) testStack(t *testing.T) {
	ctx := t.Context()
	cmd := exec.Command("go", "run", "./localstack/community-template", "template.yaml")
	cmd.Dir = ".."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	src, err := cmd.Output()
	if err != nil {
		t.Fatalf("community-template: %v\n%s", err, stderr.String())
	}
	var tmpl struct {
		Resources map[string]struct {
			Type       string    `yaml:"Type"`
			Condition  string    `yaml:"Condition"`
			Properties yaml.Node `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(src, &tmpl); err != nil {
		t.Fatal(err)
	}
	var want []string
	for id, r := range tmpl.Resources {
		if r.Condition == "" || r.Condition == "IsSelfManaged" { // the stack is SelfManagedKafka, AWS_IAM
			want = append(want, id)
		}
	}
	var got []string
	for id := range ls.physical {
		got = append(got, id)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("the stack's resources are not the transformed template's:\n got %v\nwant %v", got, want)
	}

	// The state table: infra/dynamo's definition, time to live on.
	table := ls.outputs["TableName"]
	if table == "" || ls.physical["StateTable"] != table {
		t.Fatalf("output TableName %q is not the StateTable %q", table, ls.physical["StateTable"])
	}
	db := dynamodb.NewFromConfig(ls.aws)
	desc, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	def := dynamo.TableDefinition(table)
	if !reflect.DeepEqual(keys(desc.Table.KeySchema), keys(def.KeySchema)) {
		t.Errorf("table %s keys %v, want %v", table, keys(desc.Table.KeySchema), keys(def.KeySchema))
	}
	var gotIdx, wantIdx []string
	for _, g := range desc.Table.GlobalSecondaryIndexes {
		gotIdx = append(gotIdx, fmt.Sprintf("%s%v/%s", aws.ToString(g.IndexName), keys(g.KeySchema), g.Projection.ProjectionType))
	}
	for _, g := range def.GlobalSecondaryIndexes {
		wantIdx = append(wantIdx, fmt.Sprintf("%s%v/%s", aws.ToString(g.IndexName), keys(g.KeySchema), g.Projection.ProjectionType))
	}
	slices.Sort(gotIdx)
	slices.Sort(wantIdx)
	if !slices.Equal(gotIdx, wantIdx) {
		t.Errorf("table %s indexes %v, want %v", table, gotIdx, wantIdx)
	}
	ttl, err := db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if d := ttl.TimeToLiveDescription; d == nil || aws.ToString(d.AttributeName) != dynamo.TTLAttribute || d.TimeToLiveStatus != "ENABLED" {
		t.Errorf("time to live of %s: %+v, want ENABLED on %s", table, d, dynamo.TTLAttribute)
	}

	// The bucket.
	bucket := ls.outputs["BucketName"]
	if bucket == "" || ls.physical["LargeValues"] != bucket {
		t.Fatalf("output BucketName %q is not the bucket LargeValues %q", bucket, ls.physical["LargeValues"])
	}
	if _, err := s3.NewFromConfig(ls.aws, func(o *s3.Options) { o.UsePathStyle = true }).HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Errorf("bucket %s: %v", bucket, err)
	}

	// The schedule: template.yaml's expression, delivering to the queue.
	var fn struct {
		Events map[string]struct {
			Type       string `yaml:"Type"`
			Properties struct {
				Schedule string `yaml:"Schedule"`
			} `yaml:"Properties"`
		} `yaml:"Events"`
	}
	templateFunction(t, "SchedulerFunction", &fn)
	ev := fn.Events[strings.TrimPrefix(scheduleRule, "SchedulerFunction")]
	rule, err := eventbridge.NewFromConfig(ls.aws).DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: aws.String(ls.outputs[scheduleRule+"Rule"])})
	if err != nil {
		t.Fatalf("rule %s: %v", ls.outputs[scheduleRule+"Rule"], err)
	}
	if aws.ToString(rule.ScheduleExpression) != ev.Properties.Schedule || ev.Properties.Schedule == "" || rule.State != "ENABLED" {
		t.Errorf("rule %s: %s %s, want template.yaml's %q ENABLED", aws.ToString(rule.Name), aws.ToString(rule.ScheduleExpression), rule.State, ev.Properties.Schedule)
	}
	targets, err := eventbridge.NewFromConfig(ls.aws).ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: rule.Name})
	if err != nil {
		t.Fatal(err)
	}
	queueArn := ls.queueArn(t)
	if len(targets.Targets) != 1 || aws.ToString(targets.Targets[0].Arn) != queueArn {
		t.Errorf("rule %s targets %+v, want the queue %s", aws.ToString(rule.Name), targets.Targets, queueArn)
	}

	// The secret: what the stack's Kafka policy lets the functions read is
	// the secret Relay is given (RELAY_KAFKA_SECRET), which exists.
	secret := ls.params["KafkaSecretArn"]
	if !strings.Contains(secret, ":secret:relay/kafka") {
		t.Errorf("KafkaSecretArn %q is not the secret relay/kafka", secret)
	}
	doc := ls.policyDocument(t, "KafkaProducePolicy")
	if !strings.Contains(doc, `"secretsmanager:GetSecretValue"`) || !strings.Contains(doc, `"`+secret+`"`) {
		t.Errorf("KafkaProducePolicy does not let the functions read %s:\n%s", secret, doc)
	}
}

func keys(ks []dynamodbtypes.KeySchemaElement) []string {
	var out []string
	for _, k := range ks {
		out = append(out, aws.ToString(k.AttributeName)+"/"+string(k.KeyType))
	}
	return out
}

// templateFunction decodes the Properties of the function id of
// template.yaml into v.
func templateFunction(t *testing.T, id string, v any) {
	t.Helper()
	var tmpl struct {
		Resources map[string]struct {
			Properties yaml.Node `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal([]byte(read(t, "../template.yaml")), &tmpl); err != nil {
		t.Fatal(err)
	}
	props := tmpl.Resources[id].Properties
	if err := props.Decode(v); err != nil {
		t.Fatalf("template.yaml %s: %v", id, err)
	}
}

func (ls *onLocalStack) queueArn(t *testing.T) string {
	t.Helper()
	attrs, err := sqs.NewFromConfig(ls.aws).GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(ls.outputs[scheduleRule+"QueueUrl"]), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatalf("queue %s: %v", ls.outputs[scheduleRule+"QueueUrl"], err)
	}
	return attrs.Attributes["QueueArn"]
}

// policyDocument is the document of the stack's managed policy id.
func (ls *onLocalStack) policyDocument(t *testing.T, id string) string {
	t.Helper()
	c := iam.NewFromConfig(ls.aws)
	arn := ls.physical[id]
	p, err := c.GetPolicy(t.Context(), &iam.GetPolicyInput{PolicyArn: aws.String(arn)})
	if err != nil {
		t.Fatalf("policy %s (%s): %v", id, arn, err)
	}
	v, err := c.GetPolicyVersion(t.Context(), &iam.GetPolicyVersionInput{PolicyArn: aws.String(arn), VersionId: p.Policy.DefaultVersionId})
	if err != nil {
		t.Fatal(err)
	}
	doc := aws.ToString(v.PolicyVersion.Document)
	if d, err := neturl.QueryUnescape(doc); err == nil { // IAM returns it URL-encoded
		doc = d
	}
	return doc
}

// ---------------------------------------------------------------- relay dev

// process is a Relay process run by a test.
type process struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
	err  error
}

func (ls *onLocalStack) start(t *testing.T, extra map[string]string, name string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(filepath.Join(ls.bin, name), args...), out: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd.Env = ls.env(extra)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	return p
}

// stop interrupts p as Ctrl-C does and expects a clean exit.
func (p *process) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("%s exited with %v:\n%s", p.cmd.Path, p.err, p.out)
		}
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		t.Errorf("%s did not stop 30s after SIGINT:\n%s", p.cmd.Path, p.out)
	}
}

// startDev runs `relay dev` with roles and returns a client of its API.
func (ls *onLocalStack) startDev(t *testing.T, extra map[string]string, roles string) (*api.Client, string, *process) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testnet.Port(t))
	extra["RELAY_DATA_DIR"] = t.TempDir()
	p := ls.start(t, extra, "relay", "dev", "--role", roles, "--addr", addr)
	url := "http://" + addr
	c, err := api.NewClient(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "relay dev's API", func() (bool, error) {
		select {
		case <-p.done:
			return false, fmt.Errorf("relay dev exited: %v\n%s", p.err, p.out)
		default:
		}
		_, err := c.Flows(t.Context())
		return err == nil, nil
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("relay dev's output:\n%s", p.out)
		}
	})
	return c, url, p
}

// checkDataPipeline checks the end of examples/flows/data_pipeline.yaml
// run on examples/data/orders.csv: two Python scripts, a file handed from
// one to the other, and a summary read from the second one's output file.
func checkDataPipeline(t *testing.T, got engine.ExecutionDoc) {
	t.Helper()
	if got.State != string(statemachine.ExecSuccess) {
		t.Fatalf("data_pipeline ended %s: %s", got.State, got.Error)
	}
	outputs := map[string]map[string]any{}
	for _, r := range got.TaskRuns {
		outputs[r.TaskID] = r.Outputs
	}
	vars := func(task string) map[string]any {
		m, _ := outputs[task]["vars"].(map[string]any)
		return m
	}
	if v := vars("transform-data"); v["rowCount"] != float64(5) || v["dropped"] != float64(3) {
		t.Errorf("transform-data's outputs: %v, want rowCount 5, dropped 3", outputs["transform-data"])
	}
	if v := vars("load-data"); v["revenue"] != 521.7 || v["topCustomer"] != "globex" {
		t.Errorf("load-data's outputs: %v, want revenue 521.7, topCustomer globex", outputs["load-data"])
	}
}

// relay runs the CLI and returns its output; it fails the test unless it
// exits 0.
func (ls *onLocalStack) relay(t *testing.T, args ...string) string {
	t.Helper()
	out, err := ls.relayWith(t, nil, args...)
	if err != nil {
		t.Fatalf("relay %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// relayWith runs the CLI with extra settings.
func (ls *onLocalStack) relayWith(t *testing.T, extra map[string]string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(ls.bin, "relay"), args...)
	env := map[string]string{"RELAY_DATA_DIR": t.TempDir()}
	for k, v := range extra {
		env[k] = v
	}
	cmd.Env = ls.env(env)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// testDev runs relay dev, all roles, on the stack's table and bucket: every
// example ends as on the embedded engine, scheduled_etl's end starts
// event_driven_flow (a flow trigger), and an event emitted through the API
// starts on_order (an event trigger).
func (ls *onLocalStack) testDev(t *testing.T) {
	ctx := t.Context()
	// Values over 256 bytes go to the bucket (64 KB by default, which no
	// example reaches): the examples then read their inputs and outputs
	// back from S3.
	c, url, dev := ls.startDev(t, map[string]string{"RELAY_BLOB_THRESHOLD": "256"}, "all")
	defer dev.stop(t)

	// scheduled_etl's schedule backfills from 2024-01-01 (a thousand
	// executions and more): its trigger is disabled here; the test starts it
	// once, by hand.
	flows := t.TempDir()
	files, _ := filepath.Glob("../examples/flows/*.yaml")
	for _, f := range files {
		src := read(t, f)
		if filepath.Base(f) == "scheduled_etl.yaml" {
			const schedule = "type: io.kestra.plugin.core.schedule.Schedule\n"
			if !strings.Contains(src, schedule) {
				t.Fatalf("%s has no %q", f, schedule)
			}
			src = strings.Replace(src, schedule, schedule+"    disabled: true\n", 1)
		}
		if err := os.WriteFile(filepath.Join(flows, filepath.Base(f)), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := ls.relay(t, "flows", "deploy", flows, "--api", url)
	if !strings.Contains(out, "deployed getting_started/hello_world") {
		t.Fatalf("flows deploy:\n%s", out)
	}

	httpAPI := testnet.Server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok": true}`))
	}))
	defer httpAPI.Close()
	inputs := map[string]map[string]any{
		"resilient":           {"api_url": httpAPI.URL},
		"switch":              {"environment": "sandbox"},
		"parameterized":       {"processing_mode": "hybrid"},
		"data_loading":        {"rows": []any{1, 2}},
		"data_transformation": {"rows": []any{3, 1, 2}},
	}
	skip := map[string]string{
		"pause":        "waits for a person (the CLI deployment test resumes it)",
		"event_driven": "started by scheduled_etl's end, below",
	}

	// Started on relay dev all at once through the API.
	type run struct {
		name, namespace, flowID, id string
		inputs                      map[string]any
	}
	var runs []run
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		if skip[name] != "" {
			continue
		}
		var head struct{ ID, Namespace string }
		if err := yaml.Unmarshal([]byte(read(t, f)), &head); err != nil {
			t.Fatal(err)
		}
		var files map[string]api.File
		if name == "data_pipeline" { // its FILE input goes up as a form file
			f, err := os.Open("../examples/data/orders.csv")
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			files = map[string]api.File{"raw_data": {Filename: "orders.csv", Body: f, Size: -1}}
		}
		st, err := c.StartWith(ctx, head.Namespace, head.ID, inputs[name], nil, api.StartOptions{Files: files})
		if err != nil {
			t.Fatalf("starting %s: %v", name, err)
		}
		runs = append(runs, run{name, head.Namespace, head.ID, st.ID, inputs[name]})
	}

	local := newEmbedded(t, files)
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			if r.name == "data_pipeline" {
				// Its scripts hand files on through internal storage, which
				// the embedded engine here has not got: checked on its own.
				checkDataPipeline(t, waitEnded(t, c, r.id))
				return
			}
			want := summary(local.run(t, r.namespace, r.flowID, statemachine.Event{Inputs: r.inputs}))
			got := summary(waitEnded(t, c, r.id))
			if got != want {
				t.Errorf("relay dev and the embedded engine differ:\nembedded: %s\n     dev: %s", want, got)
			}
		})
	}
	t.Run("event_driven", func(t *testing.T) {
		// scheduled_etl ended above; its end fires event_driven_flow's flow
		// trigger on the router.
		i := slices.IndexFunc(runs, func(r run) bool { return r.name == "scheduled_etl" })
		if i < 0 {
			t.Fatal("scheduled_etl did not run")
		}
		var id string
		waitFor(t, 60*time.Second, "event_driven_flow, started by scheduled_etl's end", func() (bool, error) {
			list, err := c.Executions(ctx, engine.ExecutionFilter{Namespace: "real_time_processing", FlowID: "event_driven_flow"})
			for _, e := range list {
				if e.Trigger["executionId"] == runs[i].id {
					id = e.ID
				}
			}
			return id != "", err
		})
		got := waitEnded(t, c, id)
		if got.Trigger["flowId"] != "scheduled_etl" {
			t.Errorf("event_driven_flow's trigger: %v", got.Trigger)
		}
		want := summary(local.run(t, "real_time_processing", "event_driven_flow", statemachine.Event{
			Trigger: map[string]any{"namespace": "data_processing", "flowId": "scheduled_etl"}}))
		if summary(got) != want {
			t.Errorf("relay dev and the embedded engine differ:\nembedded: %s\n     dev: %s", want, summary(got))
		}
	})

	t.Run("emit", func(t *testing.T) {
		before, err := c.Executions(ctx, engine.ExecutionFilter{Namespace: "shop", FlowID: "on_order"})
		if err != nil {
			t.Fatal(err)
		}
		ls.relay(t, "emit", "--type", "com.acme.order.created", "--source", "/shop", "--subject", "order-7",
			"--data", `{"total": 12}`, "--api", url)
		var id string
		waitFor(t, 60*time.Second, "on_order, started by the event", func() (bool, error) {
			list, err := c.Executions(ctx, engine.ExecutionFilter{Namespace: "shop", FlowID: "on_order"})
			for _, e := range list {
				if e.Trigger != nil && !slices.ContainsFunc(before, func(b engine.ExecutionDoc) bool { return b.ID == e.ID }) {
					id = e.ID
				}
			}
			return id != "", err
		})
		if ex := waitEnded(t, c, id); ex.State != string(statemachine.ExecSuccess) {
			t.Fatalf("on_order ended %s", ex.State)
		}
		if out := ls.relay(t, "logs", id, "--api", url); !strings.Contains(out, "order order-7 from /shop: 12") {
			t.Errorf("relay logs %s:\n%s", id, out)
		}
	})

	// The Kafka user and password come from the secret: the same
	// command, given a secret of the same user with another password, is
	// refused by the broker.
	t.Run("kafka credentials from Secrets Manager", func(t *testing.T) {
		sm := secretsmanager.NewFromConfig(ls.aws)
		v, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(ls.params["KafkaSecretArn"])})
		if err != nil {
			t.Fatal(err)
		}
		var cred map[string]string
		if err := json.Unmarshal([]byte(aws.ToString(v.SecretString)), &cred); err != nil || cred["username"] == "" {
			t.Fatalf("secret %s: %v %v", ls.params["KafkaSecretArn"], cred["username"], err)
		}
		wrong, err := json.Marshal(map[string]string{"username": cred["username"], "password": cred["password"] + "-not"})
		if err != nil {
			t.Fatal(err)
		}
		other, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
			Name: aws.String(fmt.Sprintf("relay/kafka-wrong-%d", time.Now().UnixNano())), SecretString: aws.String(string(wrong))})
		if err != nil {
			t.Fatal(err)
		}
		emit := []string{"emit", "--type", "com.acme.nothing", "--source", "/localstack", "--kafka", ls.functions["RELAY_KAFKA_BROKERS"]}
		if out, err := ls.relayWith(t, nil, emit...); err != nil {
			t.Errorf("relay emit --kafka with the stack's secret: %v\n%s", err, out)
		}
		out, err := ls.relayWith(t, map[string]string{"RELAY_KAFKA_SECRET": aws.ToString(other.ARN)}, emit...)
		if err == nil || !strings.Contains(strings.ToLower(out), "authentication") {
			t.Errorf("relay emit --kafka with a wrong password in the secret: %v, want an authentication failure\n%s", err, out)
		}
	})

	// Everything above is in the stack's table and bucket.
	t.Run("in the stack's table and bucket", func(t *testing.T) {
		st := dynamo.New(dynamodb.NewFromConfig(ls.aws), ls.outputs["TableName"])
		for _, r := range runs {
			if _, err := st.Execution(ctx, r.id); err != nil {
				t.Errorf("execution %s (%s) in table %s: %v", r.id, r.name, ls.outputs["TableName"], err)
			}
		}
		objects, err := s3.NewFromConfig(ls.aws, func(o *s3.Options) { o.UsePathStyle = true }).ListObjectsV2(ctx,
			&s3.ListObjectsV2Input{Bucket: aws.String(ls.outputs["BucketName"])})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToInt32(objects.KeyCount) == 0 {
			t.Errorf("no large value in bucket %s", ls.outputs["BucketName"])
		}
		t.Logf("bucket %s holds %d large values", ls.outputs["BucketName"], aws.ToInt32(objects.KeyCount))
	})
}

// ---------------------------------------------------------------- schedule

// testSchedule runs Relay as template.yaml lays it out on AWS, where the
// scheduler is a function that EventBridge invokes every minute: relay dev
// runs every role but the scheduler, and the stack's rule, delivering to its
// queue, is what runs the built scheduler function (under a local Lambda
// Runtime API), with the event the rule sent. Nothing else fires schedules
// or timers, so a flow with a backfilled schedule and a sleep (a durable
// timer) runs only when that event has reached the scheduler's code.
func (ls *onLocalStack) testSchedule(t *testing.T) {
	ctx := t.Context()
	c, url, dev := ls.startDev(t, map[string]string{}, "executor,worker,router,api")
	defer dev.stop(t)
	// A namespace of this run's: the stack may have run the test before.
	namespace := fmt.Sprintf("localstack.run%d", time.Now().UnixNano())
	flowFile := filepath.Join(t.TempDir(), "ticked.yaml")
	// Two days of backfill, fixed in the past, and no recovery of the days
	// since: the same two executions whatever today's date (but for a
	// midnight inside the scheduler's window, which would add today's).
	if err := os.WriteFile(flowFile, []byte(`id: ticked
namespace: `+namespace+`
triggers:
  - id: daily
    type: io.kestra.plugin.core.schedule.Schedule
    cron: "0 0 * * *"
    recoverMissedSchedules: NONE
    backfill:
      start: "2024-01-01T00:00:00Z"
      end: "2024-01-02T12:00:00Z"
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT1S
  - id: done
    type: io.kestra.plugin.core.log.Log
    message: "ticked for {{ trigger.date }}"
`), 0o644); err != nil {
		t.Fatal(err)
	}
	ls.relay(t, "flows", "deploy", flowFile, "--api", url)
	filter := engine.ExecutionFilter{Namespace: namespace, FlowID: "ticked"}
	time.Sleep(3 * time.Second) // what a scheduler would have started by now
	if list, err := c.Executions(ctx, filter); err != nil || len(list) != 0 {
		t.Fatalf("executions of ticked before the scheduler ran: %d (%v)", len(list), err)
	}

	q := sqs.NewFromConfig(ls.aws)
	queue := ls.outputs[scheduleRule+"QueueUrl"]
	var msg *sqsMessage
	waitFor(t, 90*time.Second, "the rule's event in "+queue, func() (bool, error) {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queue), MaxNumberOfMessages: 1, WaitTimeSeconds: 10})
		if err != nil || len(out.Messages) == 0 {
			return false, err
		}
		msg = &sqsMessage{body: aws.ToString(out.Messages[0].Body), receipt: aws.ToString(out.Messages[0].ReceiptHandle)}
		return true, nil
	})
	var ev events.EventBridgeEvent
	if err := json.Unmarshal([]byte(msg.body), &ev); err != nil {
		t.Fatalf("the queue's message is not an EventBridge event: %v\n%s", err, msg.body)
	}
	ruleArn := "arn:aws:events:" + ls.aws.Region + ":000000000000:rule/" + ls.outputs[scheduleRule+"Rule"]
	if ev.DetailType != "Scheduled Event" || ev.Source != "aws.events" || !slices.Equal(ev.Resources, []string{ruleArn}) {
		t.Errorf("event %s from %s, resources %v: want a Scheduled Event of aws.events from %s", ev.DetailType, ev.Source, ev.Resources, ruleArn)
	}

	// The scheduler function, with the template's environment but a
	// shorter window than its 58 s.
	var fn struct {
		Environment struct {
			Variables map[string]string `yaml:"Variables"`
		} `yaml:"Environment"`
	}
	templateFunction(t, "SchedulerFunction", &fn)
	if fn.Environment.Variables["RELAY_SCHEDULER_WINDOW"] == "" {
		t.Fatal("template.yaml's SchedulerFunction sets no RELAY_SCHEDULER_WINDOW")
	}
	sched := ls.startFunction(t, "scheduler", map[string]string{"RELAY_SCHEDULER_WINDOW": "12s"})
	start := time.Now()
	res, err := sched.rt.Invoke(ctx, []byte(msg.body), time.Now().Add(70*time.Second))
	if err != nil || res.Error != nil {
		t.Fatalf("invoking the scheduler: %v %+v\n%s", err, res.Error, sched.out)
	}
	t.Logf("the scheduler function ticked for %s", time.Since(start).Round(time.Millisecond))
	if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queue), ReceiptHandle: aws.String(msg.receipt)}); err != nil {
		t.Error(err)
	}

	list, err := c.Executions(ctx, filter)
	if err != nil {
		t.Fatal(err)
	}
	var dates []string
	for _, e := range list {
		if d := fmt.Sprint(e.Trigger["date"]); d < "2025" {
			dates = append(dates, d)
		}
		if e.State != string(statemachine.ExecSuccess) {
			t.Errorf("execution %s of ticked is %s: its sleep's timer was not fired in the scheduler's window", e.ID, e.State)
		}
	}
	slices.Sort(dates)
	if want := []string{"2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"}; !slices.Equal(dates, want) {
		t.Errorf("ticked ran for %v, want %v", dates, want)
	}
}

type sqsMessage struct{ body, receipt string }

// function is a built Lambda function running under a local Runtime API.
type function struct {
	rt  *lambdaruntime.Server
	out *lockedBuffer
}

// startFunction starts the bootstrap of the function name as Lambda
// starts a custom runtime: the functions' environment, Lambda's variables,
// and a Runtime API of its own; it returns once the function is initialized.
func (ls *onLocalStack) startFunction(t *testing.T, name string, extra map[string]string) *function {
	t.Helper()
	rt, err := lambdaruntime.NewServer(lambdaruntime.Config{FunctionName: "relay-" + name, Region: ls.aws.Region, Account: "000000000000"})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"AWS_LAMBDA_RUNTIME_API":          rt.Addr(),
		"AWS_LAMBDA_FUNCTION_NAME":        "relay-" + name,
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
		"AWS_LAMBDA_LOG_FORMAT":           "JSON",
		"AWS_LAMBDA_LOG_LEVEL":            "INFO",
		"AWS_DEFAULT_REGION":              ls.aws.Region,
		"_HANDLER":                        "bootstrap",
		"LAMBDA_TASK_ROOT":                filepath.Join(ls.bin, name),
	}
	for k, v := range extra {
		env[k] = v
	}
	p := ls.start(t, env, filepath.Join(name, "bootstrap"))
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		rt.Close()
		if t.Failed() {
			t.Logf("output of the %s function:\n%s", name, p.out)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := rt.Ready(ctx); err != nil {
		t.Fatalf("the %s function did not initialize: %v\n%s", name, err, p.out)
	}
	return &function{rt: rt, out: p.out}
}

// ---------------------------------------------------------------- the embedded engine

// embeddedEngine is the reference: the flows run in this process on the
// embedded store and bus, as `relay run` runs them.
type embeddedEngine struct {
	eng   *engine.Engine
	store engine.Store
}

func newEmbedded(t *testing.T, files []string) *embeddedEngine {
	t.Helper()
	st, err := embedded.OpenStore(filepath.Join(t.TempDir(), "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	bus := embedded.NewBus()
	reg, err := builtin.Registry(builtin.Config{Tasks: tasks.Config{Emitter: engine.BusEmitter{Bus: bus}}})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Config{Store: st, Bus: bus, Tasks: reg, TimerPoll: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { bus.Close(); eng.Wait(); cancel(); st.Close() })
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, _, err := eng.Deploy(ctx, f, []byte(read(t, f))); err != nil {
			t.Fatal(err)
		}
	}
	return &embeddedEngine{eng: eng, store: st}
}

func (e *embeddedEngine) run(t *testing.T, namespace, flowID string, ev statemachine.Event) engine.ExecutionDoc {
	t.Helper()
	ev.ExecutionID, ev.Namespace, ev.FlowID = engine.NewID(), namespace, flowID
	if err := e.eng.Submit(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	var ex *statemachine.Execution
	waitFor(t, 60*time.Second, "the embedded execution of "+flowID, func() (bool, error) {
		var err error
		ex, err = e.store.Execution(t.Context(), ev.ExecutionID)
		return err == nil && ex.State.Terminal(), nil
	})
	return engine.Document(ex)
}

// waitEnded polls the API until the execution ends.
func waitEnded(t *testing.T, c *api.Client, id string) engine.ExecutionDoc {
	t.Helper()
	var doc engine.ExecutionDoc
	waitFor(t, 90*time.Second, "execution "+id+" to end", func() (bool, error) {
		var err error
		doc, err = c.Execution(t.Context(), id)
		return err == nil && statemachine.ExecState(doc.State).Terminal(), nil
	})
	return doc
}

// summary is what must match between two runs of one flow: the final
// state, the outputs and each task run's state and attempts.
func summary(ex engine.ExecutionDoc) string {
	var b strings.Builder
	out, _ := json.Marshal(ex.Outputs)
	fmt.Fprintf(&b, "%s outputs=%s runs:", ex.State, out)
	for _, r := range ex.TaskRuns {
		fmt.Fprintf(&b, " %s=%s/%d", r.ID, r.State, len(r.Attempts))
	}
	return b.String()
}

// ---------------------------------------------------------------- helpers

// waitFor polls cond until it holds, fails, or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ok, err := cond()
		if ok {
			return
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) || t.Context().Err() != nil {
			t.Fatalf("waited %s for %s (last error: %v)", timeout, what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

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
