// Command community-template rewrites Relay's template.yaml into a plain
// CloudFormation template that LocalStack's community edition deploys
// without Docker (localstack/README.md, "Host mode"):
//
//	go run ./localstack/community-template template.yaml > community.yaml
//
// What it removes, because the community edition lacks it or cannot run it
// without a Docker daemon:
//
//   - the Transform and Globals of AWS SAM, and every
//     AWS::Serverless::Function: LocalStack runs a Lambda function only as a
//     container of a Docker daemon (`relay dev` and the built bootstrap
//     binaries stand in for the functions);
//   - AWS::Serverless::HttpApi and every AWS::ApiGatewayV2 resource: HTTP APIs
//     are in LocalStack's paid plans (`relay dev`'s api role serves the API);
//   - AWS::Lambda::EventSourceMapping (Kafka event sources are a Pro
//     feature; `relay dev` consumes the topics in the same consumer groups)
//     and AWS::Lambda::Permission (no function to permit);
//   - the outputs that name a removed resource (ApiUrl, WebhookUrl), and
//     the IAM policy statements whose resources are all removed ones (the
//     worker's permission to invoke the script runners), with the inline
//     policies left empty by that.
//
// What it adds: each Schedule event of a removed function becomes the
// AWS::Events::Rule that SAM would have made (same logical id, expression,
// description and state), delivering to a new SQS queue instead of the
// function, with the queue policy EventBridge needs. Whatever reads the queue
// hands each message, the EventBridge event itself, to the function's code.
// The outputs <Rule>Rule and <Rule>QueueUrl name them.
//
// Everything else (the state table, the bucket and its policy, log groups,
// roles and managed policies, parameters, conditions, rules) is kept as it
// is. A kept resource that refers to a removed one is an error: the
// transform never leaves a template that CloudFormation would reject.
//
// It parses and writes YAML with gopkg.in/yaml.v3's node API, which keeps
// CloudFormation's short-form tags (!Ref, !Sub, !If, ...) and the comments.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

func main() {
	var in io.Reader = os.Stdin
	name := "standard input"
	switch len(os.Args) {
	case 1:
	case 2:
		f, err := os.Open(os.Args[1])
		if err != nil {
			fail(err)
		}
		defer f.Close()
		in, name = f, os.Args[1]
	default:
		fmt.Fprintln(os.Stderr, "usage: community-template [template.yaml] > community.yaml")
		os.Exit(2)
	}
	src, err := io.ReadAll(in)
	if err != nil {
		fail(err)
	}
	out, rep, err := Transform(src)
	if err != nil {
		fail(fmt.Errorf("%s: %w", name, err))
	}
	os.Stdout.Write(out)
	fmt.Fprintf(os.Stderr, "community-template: removed %s; schedules to SQS: %s\n",
		orNone(rep.Removed), orNone(rep.Schedules))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "community-template:", err)
	os.Exit(1)
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// Report says what Transform did.
type Report struct {
	Removed   []string // logical ids of removed resources and outputs, sorted
	Schedules []string // logical ids of the rules made from Schedule events
}

// removedType says why resources of a type are removed, or "" to keep them.
func removedType(t string) string {
	switch {
	case t == "AWS::Serverless::Function":
		return "Lambda functions run only in Docker"
	case t == "AWS::Serverless::HttpApi", strings.HasPrefix(t, "AWS::ApiGatewayV2::"):
		return "HTTP APIs are a paid feature"
	case t == "AWS::Lambda::EventSourceMapping":
		return "Kafka event sources are a paid feature"
	case t == "AWS::Lambda::Permission":
		return "no function to permit"
	case strings.HasPrefix(t, "AWS::Serverless::"):
		return "a SAM resource with no plain CloudFormation equivalent here"
	}
	return ""
}

// Transform rewrites a SAM template as the package comment says.
func Transform(src []byte) ([]byte, Report, error) {
	var rep Report
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, rep, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, rep, errors.New("not a template: want a YAML mapping")
	}
	root := doc.Content[0]
	if t := get(root, "Transform"); t != nil {
		if t.Kind != yaml.ScalarNode || t.Value != "AWS::Serverless-2016-10-31" {
			return nil, rep, fmt.Errorf("line %d: only the transform AWS::Serverless-2016-10-31 is handled", t.Line)
		}
		del(root, "Transform")
	}
	del(root, "Globals")
	resources := get(root, "Resources")
	if resources == nil || resources.Kind != yaml.MappingNode {
		return nil, rep, errors.New("no Resources mapping")
	}

	removed := map[string]bool{}
	var added []*yaml.Node // key, value pairs
	var outputs []*yaml.Node
	for i := 0; i < len(resources.Content); i += 2 {
		id, res := resources.Content[i].Value, resources.Content[i+1]
		typ := get(res, "Type")
		if typ == nil || typ.Kind != yaml.ScalarNode {
			return nil, rep, fmt.Errorf("line %d: resource %s has no Type", resources.Content[i].Line, id)
		}
		if removedType(typ.Value) == "" {
			continue
		}
		removed[id] = true
		if typ.Value != "AWS::Serverless::Function" {
			continue
		}
		evs := get(get(res, "Properties"), "Events")
		if evs == nil {
			continue
		}
		for j := 0; j < len(evs.Content); j += 2 {
			ev := evs.Content[j+1]
			if t := get(ev, "Type"); t == nil || t.Value != "Schedule" {
				continue
			}
			rule := id + evs.Content[j].Value // SAM's logical id for the rule
			kv, outs, err := scheduleToQueue(rule, get(ev, "Properties"))
			if err != nil {
				return nil, rep, fmt.Errorf("line %d: schedule %s of %s: %w", evs.Content[j].Line, evs.Content[j].Value, id, err)
			}
			added = append(added, kv...)
			outputs = append(outputs, outs...)
			rep.Schedules = append(rep.Schedules, rule)
		}
	}
	var kept []*yaml.Node
	for i := 0; i < len(resources.Content); i += 2 {
		if !removed[resources.Content[i].Value] {
			kept = append(kept, resources.Content[i], resources.Content[i+1])
		}
	}
	for i := 0; i < len(added); i += 2 {
		if get(resources, added[i].Value) != nil {
			return nil, rep, fmt.Errorf("the resource %s the transform adds is already in the template", added[i].Value)
		}
	}
	resources.Content = append(kept, added...)
	for i := 0; i < len(resources.Content); i += 2 {
		rep.Removed = append(rep.Removed, dropStatements(resources.Content[i].Value, resources.Content[i+1], removed)...)
	}
	for i := 0; i < len(resources.Content); i += 2 {
		for _, r := range refs(resources.Content[i+1]) {
			if removed[r] {
				return nil, rep, fmt.Errorf("line %d: %s refers to %s, which is removed", resources.Content[i].Line, resources.Content[i].Value, r)
			}
		}
	}

	var gone []string
	if outs := get(root, "Outputs"); outs != nil {
		var keep []*yaml.Node
		for i := 0; i < len(outs.Content); i += 2 {
			if slices.ContainsFunc(refs(outs.Content[i+1]), func(r string) bool { return removed[r] }) {
				gone = append(gone, "output "+outs.Content[i].Value)
				continue
			}
			keep = append(keep, outs.Content[i], outs.Content[i+1])
		}
		outs.Content = append(keep, outputs...)
	} else if len(outputs) > 0 {
		root.Content = append(root.Content, scalar("Outputs"), mapping(outputs...))
	}
	for id := range removed {
		rep.Removed = append(rep.Removed, id)
	}
	sort.Strings(rep.Removed)
	rep.Removed = append(rep.Removed, gone...)

	var b bytes.Buffer
	fmt.Fprintf(&b, "# Made from template.yaml by localstack/community-template for LocalStack's\n"+
		"# community edition without Docker; do not edit. Removed: %s.\n", strings.Join(rep.Removed, ", "))
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, rep, err
	}
	return b.Bytes(), rep, nil
}

// dropStatements removes from an IAM role's inline policies, or a managed
// policy's document, the statements whose Resource names only removed
// resources, and the inline policies left with none; it returns what it
// removed, for the report.
func dropStatements(id string, res *yaml.Node, removed map[string]bool) []string {
	typ := get(res, "Type")
	props := get(res, "Properties")
	if typ == nil || props == nil {
		return nil
	}
	var gone []string
	prune := func(doc *yaml.Node, where string) bool { // reports whether statements are left
		st := get(doc, "Statement")
		if st == nil || st.Kind != yaml.SequenceNode {
			return true
		}
		var keep []*yaml.Node
		for _, s := range st.Content {
			var rs []string
			if r := get(s, "Resource"); r != nil {
				rs = refs(r)
			}
			if len(rs) > 0 && !slices.ContainsFunc(rs, func(r string) bool { return !removed[r] }) {
				sid := ""
				if n := get(s, "Sid"); n != nil {
					sid = " " + n.Value
				}
				gone = append(gone, fmt.Sprintf("statement%s of %s", sid, where))
				continue
			}
			keep = append(keep, s)
		}
		st.Content = keep
		return len(keep) > 0
	}
	switch typ.Value {
	case "AWS::IAM::ManagedPolicy":
		prune(get(props, "PolicyDocument"), id)
	case "AWS::IAM::Role":
		pols := get(props, "Policies")
		if pols == nil || pols.Kind != yaml.SequenceNode {
			return nil
		}
		var keep []*yaml.Node
		for _, p := range pols.Content {
			name := id
			if n := get(p, "PolicyName"); n != nil {
				name = id + "." + n.Value
			}
			if prune(get(p, "PolicyDocument"), name) {
				keep = append(keep, p)
			}
		}
		pols.Content = keep
		if len(keep) == 0 {
			del(props, "Policies")
		}
	}
	return gone
}

// scheduleToQueue returns the rule, queue and queue policy (as key, value
// pairs of Resources) and the outputs for the Schedule event props.
func scheduleToQueue(rule string, props *yaml.Node) (resources, outputs []*yaml.Node, err error) {
	expr := get(props, "Schedule")
	if expr == nil {
		return nil, nil, errors.New("no Schedule expression")
	}
	queue, policy := rule+"Queue", rule+"QueuePolicy"
	state := scalar("ENABLED")
	if s := get(props, "State"); s != nil {
		state = s
	} else if e := get(props, "Enabled"); e != nil && e.Value == "false" {
		state = scalar("DISABLED")
	}
	ruleProps := []*yaml.Node{scalar("ScheduleExpression"), expr}
	for _, k := range []string{"Description", "Name"} {
		if v := get(props, k); v != nil {
			ruleProps = append(ruleProps, scalar(k), v)
		}
	}
	ruleProps = append(ruleProps, scalar("State"), state,
		scalar("Targets"), sequence(mapping(
			scalar("Id"), scalar(queue),
			scalar("Arn"), tagged("!GetAtt", queue+".Arn"))))
	statement := mapping(
		scalar("Effect"), scalar("Allow"),
		scalar("Principal"), mapping(scalar("Service"), scalar("events.amazonaws.com")),
		scalar("Action"), scalar("sqs:SendMessage"),
		scalar("Resource"), tagged("!GetAtt", queue+".Arn"),
		scalar("Condition"), mapping(scalar("ArnEquals"), mapping(scalar("aws:SourceArn"), tagged("!GetAtt", rule+".Arn"))))
	policyProps := mapping(
		scalar("Queues"), sequence(tagged("!Ref", queue)),
		scalar("PolicyDocument"), mapping(scalar("Version"), quoted("2012-10-17"), scalar("Statement"), sequence(statement)))
	resources = []*yaml.Node{
		scalar(rule), mapping(scalar("Type"), scalar("AWS::Events::Rule"), scalar("Properties"), mapping(ruleProps...)),
		scalar(queue), mapping(scalar("Type"), scalar("AWS::SQS::Queue")),
		scalar(policy), mapping(scalar("Type"), scalar("AWS::SQS::QueuePolicy"), scalar("Properties"), policyProps),
	}
	outputs = []*yaml.Node{
		scalar(rule + "Rule"), mapping(
			scalar("Description"), scalar("The EventBridge rule of the schedule "+rule+" (delivering to "+queue+")"),
			scalar("Value"), tagged("!Ref", rule)),
		scalar(rule + "QueueUrl"), mapping(
			scalar("Description"), scalar("The SQS queue that receives the events of "+rule),
			scalar("Value"), tagged("!Ref", queue)),
	}
	return resources, outputs, nil
}

// subVar is a ${Name} or ${Name.Attribute} of Fn::Sub (${!Literal} is not).
var subVar = regexp.MustCompile(`\$\{([^!}][^}]*)\}`)

// refs returns the logical ids that n refers to through Ref, Fn::GetAtt,
// Fn::Sub or DependsOn, in either the short or the long form. Pseudo
// parameters (AWS::Region) are left out; parameters are not.
func refs(n *yaml.Node) []string {
	var out []string
	add := func(name string) {
		name, _, _ = strings.Cut(name, ".")
		if name != "" && !strings.Contains(name, "::") {
			out = append(out, name)
		}
	}
	sub := func(n *yaml.Node) {
		s, vars := n, map[string]bool{}
		if n.Kind == yaml.SequenceNode && len(n.Content) == 2 {
			s = n.Content[0]
			for i := 0; i < len(n.Content[1].Content); i += 2 {
				vars[n.Content[1].Content[i].Value] = true
			}
		}
		if s.Kind != yaml.ScalarNode {
			return
		}
		for _, m := range subVar.FindAllStringSubmatch(s.Value, -1) {
			if !vars[m[1]] {
				add(m[1])
			}
		}
	}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		switch n.Tag {
		case "!Ref":
			add(n.Value)
		case "!GetAtt":
			if n.Kind == yaml.ScalarNode {
				add(n.Value)
			} else if len(n.Content) > 0 {
				add(n.Content[0].Value)
			}
		case "!Sub":
			sub(n)
		}
		if n.Kind == yaml.MappingNode {
			for i := 0; i < len(n.Content); i += 2 {
				k, v := n.Content[i].Value, n.Content[i+1]
				switch {
				case k == "Ref" && v.Kind == yaml.ScalarNode:
					add(v.Value)
				case k == "Fn::GetAtt" && v.Kind == yaml.SequenceNode && len(v.Content) > 0:
					add(v.Content[0].Value)
				case k == "Fn::GetAtt" && v.Kind == yaml.ScalarNode:
					add(v.Value)
				case k == "Fn::Sub":
					sub(v)
				case k == "DependsOn" && v.Kind == yaml.ScalarNode:
					add(v.Value)
				case k == "DependsOn":
					for _, d := range v.Content {
						add(d.Value)
					}
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	return out
}

// get returns the value of key in the mapping m, or nil.
func get(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// del removes key from the mapping m.
func del(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = slices.Delete(m.Content, i, i+2)
			return
		}
	}
}

func scalar(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: v} }

// quoted is a scalar written in double quotes: a policy's Version, which
// YAML 1.1 readers (CloudFormation's among them) would otherwise take for a
// date.
func quoted(v string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Style: yaml.DoubleQuotedStyle, Value: v}
}

func tagged(tag, v string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v}
}

func mapping(kv ...*yaml.Node) *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Content: kv} }

func sequence(items ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Content: items}
}
