package flow_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/relayflow/relay/statemachine/expr"
	"github.com/relayflow/relay/statemachine/flow"
)

// The committed reference and schema are generated; these tests fail when
// the code changes without `make docs`.
func TestReference_matchesCommittedDocs(t *testing.T) {
	checkGenerated(t, "../../docs/reference.md", []byte(flow.Reference()))
}

func TestJSONSchema_matchesCommittedSchema(t *testing.T) {
	checkGenerated(t, "../../docs/flow.schema.json", flow.JSONSchema())
}

func checkGenerated(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v (run `make docs`)", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is out of date: run `make docs` and commit the result", path)
	}
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(flow.JSONSchema()))
	if err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(flow.SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(flow.SchemaID)
	if err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
	return s
}

// yamlToJSONValue decodes YAML into the JSON data model the validator needs.
func yamlToJSONValue(t *testing.T, src []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(src, &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The schema and the decoder must agree: every example passes both, and
// documents the decoder rejects for their shape are rejected by the schema.
func TestJSONSchema_acceptsExamples(t *testing.T) {
	s := compileSchema(t)
	files, _ := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(yamlToJSONValue(t, src)); err != nil {
			t.Errorf("%s: schema rejects a valid example: %v", file, err)
		}
	}
}

func TestJSONSchema_rejectsBrokenShapes(t *testing.T) {
	s := compileSchema(t)
	tests := map[string]string{
		"unknown task type":  "id: f\nnamespace: n\ntasks:\n  - id: t\n    type: io.kestra.plugin.aws.s3.Download\n",
		"unknown property":   "id: f\nnamespace: n\ntasks:\n  - id: t\n    type: log\n    message: hi\n    colour: red\n",
		"missing message":    "id: f\nnamespace: n\ntasks:\n  - id: t\n    type: log\n",
		"wrong enum":         "id: f\nnamespace: n\ntasks:\n  - id: t\n    type: log\n    message: hi\n    level: LOUD\n",
		"no tasks":           "id: f\nnamespace: n\ntasks: []\n",
		"bad duration":       "id: f\nnamespace: n\ntasks:\n  - id: t\n    type: flow.sleep\n    duration: soon\n",
		"unknown input type": "id: f\nnamespace: n\ninputs:\n  - id: x\n    type: STRNG\ntasks:\n  - id: t\n    type: log\n    message: hi\n",
		"unknown flow key":   "id: f\nnamespace: n\nerrorHandling: []\ntasks:\n  - id: t\n    type: log\n    message: hi\n",
	}
	for name, src := range tests {
		t.Run(name, func(t *testing.T) {
			if err := s.Validate(yamlToJSONValue(t, []byte(src))); err == nil {
				t.Error("schema accepts the document")
			}
			if _, err := flow.Parse("t.yaml", []byte(src)); err == nil {
				t.Error("decoder accepts the document")
			}
		})
	}
}

func TestStatementDocs_examplesRenderAsDocumented(t *testing.T) {
	for _, d := range flow.StatementDocs {
		tmpl, err := expr.Parse(d.Example)
		if err != nil {
			t.Errorf("%s: %v", d.Example, err)
			continue
		}
		got, err := tmpl.RenderString(expr.DocsEnv())
		if err != nil || got != d.Result {
			t.Errorf("%s rendered %q, %v; documented %q", d.Example, got, err, d.Result)
		}
	}
}
