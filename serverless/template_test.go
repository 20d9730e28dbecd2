package serverless

// The drift test: template.yaml against the code it deploys. It fails when
// a function's build target, handler, event source, environment, topics,
// consumer groups, table or permissions differ from what the code says.

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/relayflow/relay/api"
	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/infra/awsclient"
	"github.com/relayflow/relay/infra/dynamo"
	"github.com/relayflow/relay/infra/secretstore"
	"github.com/relayflow/relay/tasks"
)

// cfn is a template node: map[string]any, []any, string, or nil. The
// short forms of intrinsic functions (!Ref X) are read as their long
// forms ({"Ref": "X"}).
type cfn = any

func loadTemplate(t *testing.T) map[string]any {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repoRoot(t), "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	v, err := fromNode(doc.Content[0])
	if err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	return v.(map[string]any)
}

func fromNode(n *yaml.Node) (cfn, error) {
	var v cfn
	switch n.Kind {
	case yaml.AliasNode:
		return fromNode(n.Alias)
	case yaml.ScalarNode:
		v = n.Value
	case yaml.SequenceNode:
		list := []any{}
		for _, c := range n.Content {
			cv, err := fromNode(c)
			if err != nil {
				return nil, err
			}
			list = append(list, cv)
		}
		v = list
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			cv, err := fromNode(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = cv
		}
		v = m
	default:
		return nil, fmt.Errorf("line %d: unexpected node", n.Line)
	}
	if tag, ok := strings.CutPrefix(n.Tag, "!"); ok && !strings.HasPrefix(n.Tag, "!!") {
		name := "Fn::" + tag
		if tag == "Ref" || tag == "Condition" {
			name = tag
		}
		if tag == "GetAtt" {
			if s, ok := v.(string); ok { // !GetAtt A.B
				a, b, _ := strings.Cut(s, ".")
				v = []any{a, b}
			}
		}
		v = map[string]any{name: v}
	}
	return v, nil
}

// resolve evaluates Fn::If with the conditions given and drops
// AWS::NoValue, so the result is the template as deployed with them.
func resolve(v cfn, cond map[string]bool) cfn {
	switch x := v.(type) {
	case map[string]any:
		if args, ok := x["Fn::If"].([]any); ok && len(x) == 1 {
			if cond[args[0].(string)] {
				return resolve(args[1], cond)
			}
			return resolve(args[2], cond)
		}
		out := map[string]any{}
		for k, e := range x {
			if r := resolve(e, cond); !isNoValue(r) {
				out[k] = r
			}
		}
		return out
	case []any:
		out := []any{}
		for _, e := range x {
			if r := resolve(e, cond); !isNoValue(r) {
				out = append(out, r)
			}
		}
		return out
	}
	return v
}

func isNoValue(v cfn) bool {
	m, ok := v.(map[string]any)
	return ok && len(m) == 1 && m["Ref"] == "AWS::NoValue"
}

// get walks a path of map keys.
func get(v cfn, path ...string) cfn {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func list(v cfn) []any {
	switch x := v.(type) {
	case []any:
		return x
	case nil:
		return nil
	}
	return []any{v}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// logical is the logical id prefix of a role: ExecutorFunction, ApiRole.
func logical(r Role) string { return strings.ToUpper(string(r[:1])) + string(r[1:]) }

// deployments are the parameter choices whose conditions change the
// template: each Kafka source, each API authorization.
var deployments = []struct {
	kafka   KafkaSource
	jwt     bool
	secrets SecretsBackend
}{{KafkaMSK, false, SecretsManager}, {KafkaSelfManaged, true, SecretsSSM}}

func conditions(k KafkaSource, jwt bool, s SecretsBackend) map[string]bool {
	return map[string]bool{"IsMSK": k == KafkaMSK, "IsSelfManaged": k == KafkaSelfManaged, "UseJwt": jwt, "UseSSM": s == SecretsSSM}
}

// resourcesWhen are the resources created with the conditions given.
func resourcesWhen(tpl map[string]any, cond map[string]bool) map[string]any {
	out := map[string]any{}
	for name, r := range tpl["Resources"].(map[string]any) {
		if c, ok := get(r, "Condition").(string); ok && !cond[c] {
			continue
		}
		out[name] = resolve(r, cond)
	}
	return out
}

func TestTemplateFunctions(t *testing.T) {
	tpl := loadTemplate(t)
	globals := get(tpl, "Globals", "Function")
	for k, want := range map[string]string{"Runtime": "provided.al2023", "Handler": "bootstrap", "CodeUri": "."} {
		if got := get(globals, k); got != want {
			t.Errorf("Globals.Function.%s = %v, want %s", k, got, want)
		}
	}
	if got := list(get(globals, "Architectures")); len(got) != 1 || got[0] != "arm64" {
		t.Errorf("Globals.Function.Architectures = %v, want [arm64]", got)
	}
	// What each main must call to be the function of its role.
	handlers := map[Role]string{
		RoleExecutor:  "serverless.LambdaHandler(context.Background(), serverless.RoleExecutor)",
		RoleWorker:    "serverless.LambdaHandler(context.Background(), serverless.RoleWorker)",
		RoleRouter:    "serverless.LambdaHandler(context.Background(), serverless.RoleRouter)",
		RoleScheduler: "serverless.SchedulerLambdaHandler(context.Background())",
		RoleAPI:       "serverless.APILambdaHandler(context.Background())",
	}
	res := tpl["Resources"].(map[string]any)
	var functions []string
	for name, r := range res {
		if get(r, "Type") == "AWS::Serverless::Function" {
			functions = append(functions, name)
		}
	}
	var want []string
	for _, r := range Roles {
		want = append(want, logical(r)+"Function")
	}
	sort.Strings(functions)
	sort.Strings(want)
	if !slices.Equal(functions, want) {
		t.Errorf("template functions %v, want one per role: %v", functions, want)
	}
	for _, r := range Roles {
		name := logical(r) + "Function"
		fn := res[name]
		if r.Runner() {
			checkRunnerFunction(t, r, name, fn)
			continue
		}
		if get(fn, "Metadata", "BuildMethod") != "makefile" {
			t.Errorf("%s: Metadata.BuildMethod is not makefile", name)
		}
		if got := fmt.Sprint(get(fn, "Properties", "Role")); got != fmt.Sprint(map[string]any{"Fn::GetAtt": []any{logical(r) + "Role", "Arn"}}) {
			t.Errorf("%s: Role = %s, want its own %sRole", name, got, logical(r))
		}
		if get(fn, "Properties", "LoggingConfig", "LogFormat") != "JSON" {
			t.Errorf("%s: LoggingConfig.LogFormat is not JSON", name)
		}
		out, err := exec.Command("make", "-s", "-n", "-C", repoRoot(t), "build-"+name, "ARTIFACTS_DIR=/artifacts").CombinedOutput()
		if err != nil {
			t.Errorf("make build-%s (what sam build runs): %v\n%s", name, err, out)
			continue
		}
		for _, part := range []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64", "-tags lambda.norpc", "-trimpath", "-o /artifacts/bootstrap", "./functions/" + string(r)} {
			if !strings.Contains(string(out), part) {
				t.Errorf("make build-%s does not build with %q:\n%s", name, part, out)
			}
		}
		main, err := os.ReadFile(filepath.Join(repoRoot(t), "functions", string(r), "main.go"))
		if err != nil {
			t.Error(err)
		} else if !strings.Contains(string(main), handlers[r]) || !strings.Contains(string(main), "lambda.Start(") {
			t.Errorf("functions/%s/main.go does not start %s", r, handlers[r])
		}
	}
}

// runnerRuntimes are each runner's managed runtime, handler and the file
// of the handler in functions/runner.
var runnerRuntimes = map[Role][3]string{
	RolePythonRunner: {"python3.13", "relay_runner.handler", "python/relay_runner.py"},
	RoleNodeRunner:   {"nodejs22.x", "index.handler", "node/index.mjs"},
}

// checkRunnerFunction checks a runner function: its managed runtime and
// handler, a build that puts the handler and the relay-runner binary side
// by side, its own role, no Kafka, and that the worker is told its name.
func checkRunnerFunction(t *testing.T, r Role, name string, fn cfn) {
	t.Helper()
	want := runnerRuntimes[r]
	p := get(fn, "Properties")
	if get(p, "Runtime") != want[0] || get(p, "Handler") != want[1] {
		t.Errorf("%s: runtime %v handler %v, want %s %s", name, get(p, "Runtime"), get(p, "Handler"), want[0], want[1])
	}
	if get(fn, "Metadata", "BuildMethod") != "makefile" {
		t.Errorf("%s: Metadata.BuildMethod is not makefile", name)
	}
	if got := fmt.Sprint(get(p, "Role")); got != fmt.Sprint(map[string]any{"Fn::GetAtt": []any{logical(r) + "Role", "Arn"}}) {
		t.Errorf("%s: Role = %s, want its own %sRole", name, got, logical(r))
	}
	if get(p, "Environment", "Variables", EnvBrokers) != "" {
		t.Errorf("%s: %s must be empty: a runner is invoked, it needs no Kafka", name, EnvBrokers)
	}
	out, err := exec.Command("make", "-s", "-n", "-C", repoRoot(t), "build-"+name, "ARTIFACTS_DIR=/artifacts").CombinedOutput()
	if err != nil {
		t.Errorf("make build-%s: %v\n%s", name, err, out)
		return
	}
	for _, part := range []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64", "-o /artifacts/relay-runner", "./functions/runner", "functions/runner/" + want[2] + " /artifacts/"} {
		if !strings.Contains(string(out), part) {
			t.Errorf("make build-%s does not do %q:\n%s", name, part, out)
		}
	}
	env := map[Role]string{RolePythonRunner: EnvRunnerPython, RoleNodeRunner: EnvRunnerNode}[r]
	res := get(loadTemplate(t), "Resources")
	if got := fmt.Sprint(get(res, "WorkerFunction", "Properties", "Environment", "Variables", env)); got != fmt.Sprint(map[string]any{"Ref": name}) {
		t.Errorf("WorkerFunction: %s = %s, want the name of %s", env, got, name)
	}
}

// TestTemplateEventSources checks each consuming function's Kafka mapping
// under both sources (topic, consumer group), the scheduler's schedule and
// the API's routes.
func TestTemplateEventSources(t *testing.T) {
	tpl := loadTemplate(t)
	for _, d := range deployments {
		res := resourcesWhen(tpl, conditions(d.kafka, d.jwt, d.secrets))
		mappings := map[string]any{} // function -> mapping
		for name, r := range res {
			if get(r, "Type") != "AWS::Lambda::EventSourceMapping" {
				continue
			}
			fn, _ := get(r, "Properties", "FunctionName", "Ref").(string)
			if _, dup := mappings[fn]; dup {
				t.Errorf("%s: two mappings for %s", d.kafka, fn)
			}
			mappings[fn] = r
			if d.kafka == KafkaMSK && get(r, "Properties", "EventSourceArn", "Ref") != "MSKClusterArn" {
				t.Errorf("%s: %s does not read the MSK cluster", d.kafka, name)
			}
			if d.kafka == KafkaSelfManaged && get(r, "Properties", "SelfManagedEventSource", "Endpoints", "KafkaBootstrapServers", "Ref") != "KafkaBootstrapServers" {
				t.Errorf("%s: %s does not read KafkaBootstrapServers", d.kafka, name)
			}
		}
		for _, r := range Roles {
			fn := logical(r) + "Function"
			m, ok := mappings[fn]
			delete(mappings, fn)
			if r.Topic() == "" {
				if ok {
					t.Errorf("%s: %s consumes no topic but has a mapping", d.kafka, fn)
				}
				continue
			}
			if !ok {
				t.Errorf("%s: %s has no Kafka mapping", d.kafka, fn)
				continue
			}
			p := get(m, "Properties")
			if got := fmt.Sprint(list(get(p, "Topics"))); got != fmt.Sprint([]any{map[string]any{"Fn::Sub": "${TopicPrefix}" + r.Topic()}}) {
				t.Errorf("%s: %s topics %s, want ${TopicPrefix}%s", d.kafka, fn, got, r.Topic())
			}
			cfg := "AmazonManagedKafkaEventSourceConfig"
			if d.kafka == KafkaSelfManaged {
				cfg = "SelfManagedKafkaEventSourceConfig"
			}
			if got := get(p, cfg, "ConsumerGroupId", "Fn::Sub"); got != r.Group("${TopicPrefix}") {
				t.Errorf("%s: %s consumer group %v, want %s (the group relay dev joins)", d.kafka, fn, got, r.Group("${TopicPrefix}"))
			}
			if get(p, "StartingPosition") != "TRIM_HORIZON" {
				t.Errorf("%s: %s starts at %v: records published before the first deploy would be lost", d.kafka, fn, get(p, "StartingPosition"))
			}
			if get(p, "MaximumBatchingWindowInSeconds") != "0" {
				t.Errorf("%s: %s waits %v s for batches: every step would wait", d.kafka, fn, get(p, "MaximumBatchingWindowInSeconds"))
			}
			if fn == "WorkerFunction" && get(p, "BatchSize") != fmt.Sprint(WorkerConcurrency) {
				t.Errorf("%s: WorkerFunction's batches hold %v records, but a worker runs %d attempts at once (WorkerConcurrency)", d.kafka, get(p, "BatchSize"), WorkerConcurrency)
			}
		}
		for fn := range mappings {
			t.Errorf("%s: a mapping for %s, which is not a consuming function", d.kafka, fn)
		}
	}
	res := tpl["Resources"].(map[string]any)
	tick := get(res["SchedulerFunction"], "Properties", "Events", "EveryMinute")
	if get(tick, "Type") != "Schedule" || get(tick, "Properties", "Schedule") != "rate(1 minute)" {
		t.Errorf("SchedulerFunction is not invoked every minute: %v", tick)
	}
	if get(res["SchedulerFunction"], "Properties", "Environment", "Variables", EnvSchedulerWindow) != DefaultSchedulerWindow.String() {
		t.Errorf("SchedulerFunction: %s is not %s", EnvSchedulerWindow, DefaultSchedulerWindow)
	}
	// The webhook's route is the API's, unauthenticated; every other route
	// is the authorized $default.
	var webhook string
	for _, r := range api.Routes {
		if strings.Contains(r.Pattern, "/webhooks/") {
			webhook = r.Pattern
		}
	}
	hook := get(res["ApiFunction"], "Properties", "Events", "Webhook", "Properties")
	if got := fmt.Sprint(get(hook, "Method"), " ", get(hook, "Path")); got != webhook {
		t.Errorf("the template's webhook route is %q, the API's %q", got, webhook)
	}
	if get(hook, "Auth") != nil || get(res["Api"], "Properties", "Auth") != nil {
		t.Error("the webhook route must need no credentials (the key is the secret)")
	}
	// The UI's pages take no credentials either: the function serves
	// nothing but its embedded files under /ui (ui.Handler).
	for event, path := range map[string]string{"UIRoot": "/ui", "UIPages": "/ui/{proxy+}"} {
		p := get(res["ApiFunction"], "Properties", "Events", event, "Properties")
		if get(p, "Method") != "GET" || get(p, "Path") != path || get(p, "Auth") != nil {
			t.Errorf("the UI route %s is %v, want an unauthenticated GET %s", event, p, path)
		}
	}
	if got := fmt.Sprint(get(res["ApiFunction"], "Properties", "Environment", "Variables", EnvAPIAuthorizer)); got != "map[Ref:ApiAuth]" {
		t.Errorf("ApiFunction: %s = %s, want the ApiAuth parameter", EnvAPIAuthorizer, got)
	}
	route := get(res["ApiDefaultRoute"], "Properties")
	if get(route, "RouteKey") != "$default" {
		t.Errorf("ApiDefaultRoute is %v, want $default", get(route, "RouteKey"))
	}
	for _, jwt := range []bool{false, true} {
		r := resolve(route, conditions(KafkaMSK, jwt, SecretsManager))
		want := map[bool]string{false: "AWS_IAM", true: "JWT"}[jwt]
		if get(r, "AuthorizationType") != want {
			t.Errorf("with ApiAuth %s the default route authorizes with %v", want, get(r, "AuthorizationType"))
		}
	}
}

// envRead collects the RELAY_ variables named in the non-test Go files of
// the packages the functions link.
func envRead(t *testing.T) map[string]string {
	t.Helper()
	// The files each package compiles for Lambda (build constraints
	// applied).
	list := exec.Command("go", "list", "-deps", "-tags", "lambda.norpc", "-f", `{{if .Module}}{{if .Module.Main}}{{range .GoFiles}}{{$.Dir}}/{{.}} {{end}}{{end}}{{end}}`, "../functions/...")
	list.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64")
	out, err := list.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	re := regexp.MustCompile(`^"(RELAY_[A-Z0-9_]+)"$`)
	found := map[string]string{}
	for _, file := range strings.Fields(string(out)) {
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if m := re.FindStringSubmatch(lit.Value); m != nil {
					rel, _ := filepath.Rel(repoRoot(t), file)
					found[m[1]] = rel
				}
			}
			return true
		})
	}
	return found
}

// envDefaults are the variables the functions read that the template
// leaves unset, and why their default is right on Lambda.
var envDefaults = map[string]string{
	EnvWorkers:                  "8 attempts per worker invocation",
	EnvAttemptTimeout:           "tasks set their own timeout",
	EnvAttemptLease:             "30s",
	EnvStartedAfter:             "1s",
	EnvBlobThreshold:            "64 KB",
	EnvBlobDir:                  "Lambda uses the bucket",
	EnvS3PathStyle:              "false against AWS",
	"RELAY_DATA_DIR":            "read only outside Lambda",
	"RELAY_KAFKA_USERNAME":      "Lambda reads the credentials from RELAY_KAFKA_SECRET",
	"RELAY_KAFKA_PASSWORD":      "Lambda reads the credentials from RELAY_KAFKA_SECRET",
	api.EnvAPIAuth:              "read by API clients (the relay CLI), not by the function",
	api.EnvAPIToken:             "read by API clients (the relay CLI), not by the function",
	"RELAY_EXECUTION_ID":        "set by Relay for script tasks, not read",
	"RELAY_TASKRUN_ID":          "set by Relay for script tasks, not read",
	"RELAY_TASK_ID":             "set by Relay for script tasks, not read",
	"RELAY_NAMESPACE":           "set by Relay for script tasks, not read",
	"RELAY_FLOW_ID":             "set by Relay for script tasks, not read",
	"RELAY_ATTEMPT":             "set by Relay for script tasks, not read",
	tasks.EnvAttemptKey:         "set by Relay for script tasks, not read",
	awsclient.EnvAttemptTimeout: "10s per attempt at a DynamoDB or S3 call, far past a healthy answer",
	EnvSchedulerWindow + "*":    "set on the scheduler only (checked above)",
	secretstore.EnvKey:          "Lambda reads the key from the secret RELAY_SECRET_KEY_SECRET names",
	secretstore.EnvCacheTTL:     "1m: a warm worker reads a secret once a minute",
	"RELAY_SECRET_":             "the env backend of named secrets, for one machine (relay run, dev)",
	"RELAY_GLOBALS":             "Kestra's globals (`globals.*` in expressions): none unless the deployment sets them",
}

func TestTemplateEnvironment(t *testing.T) {
	tpl := loadTemplate(t)
	set := map[string]bool{}
	for k := range get(tpl, "Globals", "Function", "Environment", "Variables").(map[string]any) {
		set[k] = true
	}
	for _, r := range tpl["Resources"].(map[string]any) {
		if vars, ok := get(r, "Properties", "Environment", "Variables").(map[string]any); ok {
			for k := range vars {
				set[k] = true
			}
		}
	}
	read := envRead(t)
	for v, where := range read {
		if !set[v] && envDefaults[v] == "" && envDefaults[v+"*"] == "" {
			t.Errorf("%s (read in %s) is not set in template.yaml: set it, or add it to envDefaults with why its default is right", v, where)
		}
	}
	for v := range set {
		if _, ok := read[v]; !ok {
			t.Errorf("template.yaml sets %s, which no function reads", v)
		}
	}
	for v := range envDefaults {
		if _, ok := read[strings.TrimSuffix(v, "*")]; !ok {
			t.Errorf("envDefaults lists %s, which no function reads", v)
		}
	}
	vars := get(tpl, "Globals", "Function", "Environment", "Variables")
	for v, want := range map[string]string{EnvTable: "map[Ref:StateTable]", EnvBucket: "map[Ref:LargeValues]", EnvTopicPrefix: "map[Ref:TopicPrefix]"} {
		if got := fmt.Sprint(get(vars, v)); got != want {
			t.Errorf("%s = %s, want %s", v, got, want)
		}
	}
	for name, topic := range map[string]string{"ExecutionsTopic": engine.TopicExecutions, "TaskRunsTopic": engine.TopicTaskRuns, "EventsTopic": engine.TopicEvents, "DLQTopic": engine.TopicDLQ} {
		if got := get(tpl, "Outputs", name, "Value", "Fn::Sub"); got != "${TopicPrefix}"+topic {
			t.Errorf("output %s = %v, want ${TopicPrefix}%s", name, got, topic)
		}
	}
}

func TestTemplateTable(t *testing.T) {
	tpl := loadTemplate(t)
	p := get(tpl, "Resources", "StateTable", "Properties")
	def := dynamo.TableDefinition("")
	if got := get(p, "BillingMode"); got != string(def.BillingMode) {
		t.Errorf("BillingMode %v, want %s", got, def.BillingMode)
	}
	var attrs []string
	for _, a := range def.AttributeDefinitions {
		attrs = append(attrs, fmt.Sprint(map[string]any{"AttributeName": *a.AttributeName, "AttributeType": string(a.AttributeType)}))
	}
	var got []string
	for _, a := range list(get(p, "AttributeDefinitions")) {
		got = append(got, fmt.Sprint(a))
	}
	if !slices.Equal(got, attrs) {
		t.Errorf("AttributeDefinitions\n got  %v\n want %v", got, attrs)
	}
	keys := func(v cfn) string {
		var s []string
		for _, k := range list(v) {
			s = append(s, fmt.Sprint(get(k, "AttributeName"), ":", get(k, "KeyType")))
		}
		return strings.Join(s, ",")
	}
	want := func(ks []struct{ n, t string }) string {
		var s []string
		for _, k := range ks {
			s = append(s, k.n+":"+k.t)
		}
		return strings.Join(s, ",")
	}
	codeKeys := func(i int) []struct{ n, t string } {
		ks := def.KeySchema
		if i >= 0 {
			ks = def.GlobalSecondaryIndexes[i].KeySchema
		}
		var out []struct{ n, t string }
		for _, k := range ks {
			out = append(out, struct{ n, t string }{*k.AttributeName, string(k.KeyType)})
		}
		return out
	}
	if keys(get(p, "KeySchema")) != want(codeKeys(-1)) {
		t.Errorf("KeySchema %s, want %s", keys(get(p, "KeySchema")), want(codeKeys(-1)))
	}
	gsis := list(get(p, "GlobalSecondaryIndexes"))
	if len(gsis) != len(def.GlobalSecondaryIndexes) {
		t.Fatalf("%d GSIs, want %d", len(gsis), len(def.GlobalSecondaryIndexes))
	}
	for i, g := range def.GlobalSecondaryIndexes {
		tg := gsis[i]
		if get(tg, "IndexName") != *g.IndexName || keys(get(tg, "KeySchema")) != want(codeKeys(i)) || get(tg, "Projection", "ProjectionType") != string(g.Projection.ProjectionType) {
			t.Errorf("GSI %d: %v, want %s %s %s", i, tg, *g.IndexName, want(codeKeys(i)), g.Projection.ProjectionType)
		}
	}
	if get(p, "TimeToLiveSpecification", "AttributeName") != dynamo.TTLAttribute || get(p, "TimeToLiveSpecification", "Enabled") != "true" {
		t.Errorf("TTL %v, want %s enabled", get(p, "TimeToLiveSpecification"), dynamo.TTLAttribute)
	}
	if get(p, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled") != "true" {
		t.Error("point-in-time recovery is off")
	}
}

// resourceOf names what a policy statement's resource expression is.
func resourceOf(v cfn) Resource {
	s := fmt.Sprint(v)
	switch {
	case v == "*":
		return ResNetwork
	case strings.Contains(s, "StateTable"):
		return ResTable
	case strings.Contains(s, "LargeValues.Arn}/*"):
		return ResBucket
	case strings.Contains(s, ":topic/"):
		return ResTopics
	case strings.Contains(s, ":group/"):
		return ResGroups
	case s == "map[Ref:MSKClusterArn]":
		return ResCluster
	case s == "map[Ref:KafkaSecretArn]":
		return ResSecret
	case s == "map[Ref:SecretKey]":
		return ResSecretKey
	case strings.Contains(s, ":secret:${SecretsPrefix}*") || strings.Contains(s, ":parameter/${SecretsPrefix}*"):
		return ResFlowSecrets
	case strings.Contains(s, "Logs.Arn}"):
		return ResLogs
	case strings.Contains(s, "RunnerFunction"):
		return ResRunners
	}
	return Resource("unknown: " + s)
}

// TestTemplatePermissions checks each role, under each Kafka source,
// against Permissions: nothing missing, nothing more.
func TestTemplatePermissions(t *testing.T) {
	tpl := loadTemplate(t)
	for _, d := range deployments {
		res := resourcesWhen(tpl, conditions(d.kafka, d.jwt, d.secrets))
		for _, r := range Roles {
			name := logical(r) + "Role"
			role := get(res[name], "Properties")
			if role == nil {
				t.Errorf("%s: no %s", d.kafka, name)
				continue
			}
			var statements []any
			for _, p := range list(get(role, "Policies")) {
				statements = append(statements, list(get(p, "PolicyDocument", "Statement"))...)
			}
			for _, ref := range list(get(role, "ManagedPolicyArns")) {
				pol, ok := get(ref, "Ref").(string)
				if !ok || get(res[pol], "Type") != "AWS::IAM::ManagedPolicy" {
					t.Errorf("%s: %s attaches %v, not a policy of the template", d.kafka, name, ref)
					continue
				}
				statements = append(statements, list(get(res[pol], "Properties", "PolicyDocument", "Statement"))...)
			}
			granted := map[Permission]bool{}
			for _, st := range statements {
				if get(st, "Effect") != "Allow" {
					continue
				}
				for _, a := range list(get(st, "Action")) {
					for _, rs := range list(get(st, "Resource")) {
						granted[Permission{a.(string), resourceOf(rs)}] = true
					}
				}
			}
			need := map[Permission]bool{}
			for _, p := range Permissions(r, d.kafka, d.secrets) {
				need[p] = true
				if !granted[p] {
					t.Errorf("%s: %s does not allow %s on %s", d.kafka, name, p.Action, p.Resource)
				}
			}
			for p := range granted {
				if !need[p] {
					t.Errorf("%s: %s allows %s on %s, which serverless.Permissions does not list", d.kafka, name, p.Action, p.Resource)
				}
			}
		}
	}
}

// TestPermissionsCoverCalls checks Permissions against the AWS calls in
// the code: every DynamoDB and S3 operation the stores call is listed.
func TestPermissionsCoverCalls(t *testing.T) {
	listed := map[string]bool{}
	for _, r := range Roles {
		for _, p := range Permissions(r, KafkaMSK, SecretsManager) {
			listed[p.Action] = true
		}
	}
	// Called only by `relay dev` and tests, never in Lambda: the template
	// creates the table and the bucket.
	notInLambda := map[string]bool{"dynamodb:CreateTable": true, "dynamodb:DeleteTable": true, "dynamodb:UpdateTimeToLive": true}
	calls := regexp.MustCompile(`\b(?:s\.db|db|client|s\.client)\.([A-Z][A-Za-z]+)\(ctx|\bdynamodb\.New([A-Z][A-Za-z]+)Paginator\(`)
	for dir, service := range map[string]string{"../infra/dynamo": "dynamodb", "../infra/blob": "s3"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		n := 0
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range calls.FindAllStringSubmatch(string(src), -1) {
				op := m[1] + m[2]
				action := service + ":" + op
				n++
				if !listed[action] && !notInLambda[action] {
					t.Errorf("%s calls %s, which serverless.Permissions does not list", filepath.Base(f), action)
				}
			}
		}
		if n == 0 {
			t.Errorf("found no %s calls in %s: the pattern no longer matches the code", service, dir)
		}
	}
}
