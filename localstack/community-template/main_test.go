package main

import (
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type template struct {
	Transform any                 `yaml:"Transform"`
	Globals   any                 `yaml:"Globals"`
	Resources map[string]resource `yaml:"Resources"`
	Outputs   map[string]any      `yaml:"Outputs"`
}

type resource struct {
	Type       string    `yaml:"Type"`
	Properties yaml.Node `yaml:"Properties"`
}

func transformFile(t *testing.T, path string) (template, string, Report) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out, rep, err := Transform(src)
	if err != nil {
		t.Fatalf("Transform(%s): %v", path, err)
	}
	var tmpl template
	if err := yaml.Unmarshal(out, &tmpl); err != nil {
		t.Fatalf("the output is not YAML: %v\n%s", err, out)
	}
	return tmpl, string(out), rep
}

func TestTransform_relaysTemplateKeepsStateAndScheduleOnly(t *testing.T) {
	var before template
	src, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(src, &before); err != nil {
		t.Fatal(err)
	}
	after, out, rep := transformFile(t, "../../template.yaml")

	if after.Transform != nil || after.Globals != nil {
		t.Errorf("Transform or Globals left in:\n%s", out)
	}
	for id, r := range after.Resources {
		if why := removedType(r.Type); why != "" {
			t.Errorf("%s (%s) is left in: %s", id, r.Type, why)
		}
	}
	for id, r := range before.Resources {
		_, kept := after.Resources[id]
		if want := removedType(r.Type) == ""; kept != want {
			t.Errorf("%s (%s): kept %v, want %v", id, r.Type, kept, want)
		}
		if !kept && !slices.Contains(rep.Removed, id) {
			t.Errorf("%s was removed but the report does not say so: %v", id, rep.Removed)
		}
	}
	for _, id := range []string{"StateTable", "LargeValues", "LargeValuesPolicy", "KafkaProducePolicy"} {
		if _, ok := after.Resources[id]; !ok {
			t.Errorf("%s was removed", id)
		}
	}

	// The scheduler's schedule: SAM's rule, delivering to a queue.
	var ev struct {
		Events map[string]struct {
			Properties struct {
				Schedule    string `yaml:"Schedule"`
				Description string `yaml:"Description"`
			} `yaml:"Properties"`
		} `yaml:"Events"`
	}
	props := before.Resources["SchedulerFunction"].Properties
	if err := props.Decode(&ev); err != nil {
		t.Fatal(err)
	}
	rule := after.Resources["SchedulerFunctionEveryMinute"]
	var rp struct {
		ScheduleExpression string `yaml:"ScheduleExpression"`
		Description        string `yaml:"Description"`
		State              string `yaml:"State"`
		Targets            []struct {
			Arn string `yaml:"Arn"`
		} `yaml:"Targets"`
	}
	if err := rule.Properties.Decode(&rp); err != nil {
		t.Fatal(err)
	}
	want := ev.Events["EveryMinute"].Properties
	if rule.Type != "AWS::Events::Rule" || rp.ScheduleExpression != want.Schedule || rp.Description != want.Description || rp.State != "ENABLED" {
		t.Errorf("SchedulerFunctionEveryMinute: %s %+v, want a rule of %q", rule.Type, rp, want.Schedule)
	}
	if len(rp.Targets) != 1 || rp.Targets[0].Arn != "SchedulerFunctionEveryMinuteQueue.Arn" {
		t.Errorf("the rule's targets %+v, want the queue", rp.Targets)
	}
	if after.Resources["SchedulerFunctionEveryMinuteQueue"].Type != "AWS::SQS::Queue" ||
		after.Resources["SchedulerFunctionEveryMinuteQueuePolicy"].Type != "AWS::SQS::QueuePolicy" {
		t.Errorf("no queue or queue policy for the rule")
	}
	if !slices.Equal(rep.Schedules, []string{"SchedulerFunctionEveryMinute"}) {
		t.Errorf("report's schedules %v", rep.Schedules)
	}
	// YAML 1.1 reads an unquoted 2012-10-17 as a date.
	if strings.Contains(out, "Version: 2012-10-17") {
		t.Errorf("a policy Version is not quoted:\n%s", out)
	}

	for _, o := range []string{"ApiUrl", "WebhookUrl"} {
		if _, ok := after.Outputs[o]; ok {
			t.Errorf("output %s, of the removed HTTP API, is left in", o)
		}
	}
	for _, o := range []string{"TableName", "BucketName", "SchedulerFunctionEveryMinuteRule", "SchedulerFunctionEveryMinuteQueueUrl"} {
		if _, ok := after.Outputs[o]; !ok {
			t.Errorf("no output %s", o)
		}
	}
}

func TestTransform_refusesAKeptResourceThatNeedsARemovedOne(t *testing.T) {
	for name, src := range map[string]string{
		"Ref": `
Resources:
  Fn: {Type: AWS::Serverless::Function, Properties: {}}
  Alarm: {Type: AWS::CloudWatch::Alarm, Properties: {Dimensions: [{Name: F, Value: !Ref Fn}]}}
`,
		"GetAtt long form": `
Resources:
  Fn: {Type: AWS::Serverless::Function, Properties: {}}
  Alarm: {Type: AWS::CloudWatch::Alarm, Properties: {Arn: {"Fn::GetAtt": [Fn, Arn]}}}
`,
		"Sub": `
Resources:
  Fn: {Type: AWS::Serverless::Function, Properties: {}}
  Alarm: {Type: AWS::CloudWatch::Alarm, Properties: {Name: !Sub "${Fn.Arn}-alarm"}}
`,
		"DependsOn": `
Resources:
  Fn: {Type: AWS::Serverless::Function, Properties: {}}
  Alarm: {Type: AWS::CloudWatch::Alarm, DependsOn: [Fn], Properties: {}}
`,
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := Transform([]byte(src))
			if err == nil || !strings.Contains(err.Error(), "Alarm refers to Fn") {
				t.Errorf("Transform = %v, want an error saying Alarm refers to Fn", err)
			}
		})
	}
}

func TestTransform_refsIgnorePseudoParametersAndSubVariables(t *testing.T) {
	src := `
Resources:
  Fn: {Type: AWS::Serverless::Function, Properties: {}}
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: !Sub ["${AWS::StackName}-${Fn}-${!Literal}", {Fn: x}]
`
	if _, _, err := Transform([]byte(src)); err != nil {
		t.Errorf("Transform: %v (a Sub variable, a pseudo parameter and a literal are not references)", err)
	}
}

func TestTransform_refusesAnotherTransform(t *testing.T) {
	_, _, err := Transform([]byte("Transform: AWS::LanguageExtensions\nResources: {}\n"))
	if err == nil || !strings.Contains(err.Error(), "AWS::Serverless-2016-10-31") {
		t.Errorf("Transform = %v, want an error naming the transform it handles", err)
	}
}
