package kafka

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/statemachine"
)

// A client that knows nothing of Relay, kcat (librdkafka), reads an event
// the bus published: every CloudEvents attribute is a ce_* header holding
// its value, content-type holds the data content type, the key is the one
// published, and the value is the JSON data.
//
// kcat comes from services/kcat.sh: the kcat on PATH, or one fetched from
// Debian's packages into .cache/kcat. When it cannot be had the test is
// skipped, unless RELAY_REQUIRE_SERVICES=1, which makes that a failure.
func TestKcatReadsRelayEvents(t *testing.T) {
	brokers := testBrokers(t)
	kcat := kcatPath(t)
	prefix := testPrefix(t, brokers)
	b := newTestBus(t, brokers, prefix)
	defer b.Close()

	const (
		execID = "0193f3a0-6c1e-7d4b-9a2f-5be1c7d8e901"
		trace  = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		// The time as ce_time carries it (RFC 3339, UTC).
		timeText = "2025-06-02T08:30:15.123456Z"
	)
	at, err := time.Parse(time.RFC3339Nano, timeText)
	if err != nil {
		t.Fatalf("parsing the event time: %v", err)
	}
	ev, err := engine.NewEvent(execID+"/finished", engine.TypeExecutionFinished, "relay/executor", execID, at,
		statemachine.ExecutionFinished{
			ExecutionID: execID,
			Namespace:   "company.team",
			FlowID:      "nightly-report",
			State:       statemachine.ExecSuccess,
			Outputs:     map[string]any{"rows": 1204, "file": "s3://reports/2025-06-02.csv"},
		})
	if err != nil {
		t.Fatalf("building the event: %v", err)
	}
	ev.SetExtension("relaytrace", trace)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Publish(ctx, engine.TopicEvents, execID, ev); err != nil {
		t.Fatalf("Publish: %v", err)
	}

	topic := prefix + engine.TopicEvents
	rec := kcatConsumeOne(t, kcat, brokers, topic)

	if rec.key != execID {
		t.Errorf("key: kcat shows %q, want %q", rec.key, execID)
	}
	want := []struct{ name, value string }{
		{"ce_specversion", "1.0"},
		{"ce_id", execID + "/finished"},
		{"ce_source", "relay/executor"},
		{"ce_type", "io.relayflow.execution.finished"},
		{"ce_subject", execID},
		{"ce_time", timeText},
		{"ce_relaytrace", trace},
		{"content-type", "application/json"},
	}
	for _, w := range want {
		got, ok := rec.headers[w.name]
		switch {
		case !ok:
			t.Errorf("header %s: not among the headers kcat shows: %q", w.name, rec.rawHeaders)
		case got != w.value:
			t.Errorf("header %s: kcat shows %q, want %q", w.name, got, w.value)
		}
	}

	if !bytes.Equal([]byte(rec.value), ev.Data()) {
		t.Errorf("value: kcat shows\n%s\nwant the event's data\n%s", rec.value, ev.Data())
	}
	var data map[string]any
	if err := json.Unmarshal([]byte(rec.value), &data); err != nil {
		t.Fatalf("value: not JSON (%v): %q", err, rec.value)
	}
	wantData := map[string]any{
		"executionId": execID,
		"namespace":   "company.team",
		"flowId":      "nightly-report",
		"state":       string(statemachine.ExecSuccess),
		"outputs":     map[string]any{"rows": float64(1204), "file": "s3://reports/2025-06-02.csv"},
	}
	if !reflect.DeepEqual(data, wantData) {
		t.Errorf("value: kcat shows data %v, want %v", data, wantData)
	}
}

// kcatRecord is one record as kcat prints it.
type kcatRecord struct {
	key        string
	rawHeaders string            // kcat's %h: name=value,name=value...
	headers    map[string]string // rawHeaders split
	value      string
}

// Field markers of kcatFormat, one field a line (values hold no newline).
const (
	kcatKey     = "KEY="
	kcatHeaders = "HEADERS="
	kcatValue   = "VALUE="
	kcatEnd     = "END"
)

// kcatFormat is kcat's -f: %k the key, %h the headers, %s the value.
const kcatFormat = kcatKey + "%k\n" + kcatHeaders + "%h\n" + kcatValue + "%s\n" + kcatEnd + "\n"

// kcatConsumeOne reads the first record of topic with kcat, as a consumer
// without a group, and fails t when it does not print one in time.
func kcatConsumeOne(t *testing.T, kcat string, brokers []string, topic string) kcatRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, "-C", "-b", strings.Join(brokers, ","), "-t", topic,
		"-o", "beginning", "-c", "1", "-e", "-q", "-f", kcatFormat)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("kcat did not print a record of %s within 30s (%v); stdout: %q; stderr: %s", topic, err, stdout.String(), stderr.String())
	}
	if err != nil {
		t.Fatalf("kcat consuming %s: %v; stdout: %q; stderr: %s", topic, err, stdout.String(), stderr.String())
	}
	t.Logf("kcat printed:\n%s", stdout.String())
	rec, err := parseKcatRecord(stdout.String())
	if err != nil {
		t.Fatalf("reading kcat's output for %s: %v; stdout: %q; stderr: %s", topic, err, stdout.String(), stderr.String())
	}
	return rec
}

// parseKcatRecord reads the output of kcatFormat for one record. kcat's %h
// separates headers with commas and names from values with "=", so it is
// read as such: the headers checked hold neither a comma nor a newline.
func parseKcatRecord(out string) (kcatRecord, error) {
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 || lines[3] != kcatEnd {
		return kcatRecord{}, fmt.Errorf("want one record of 4 lines (key, headers, value, %s), got %d lines", kcatEnd, len(lines))
	}
	var rec kcatRecord
	for i, f := range []struct {
		marker string
		dst    *string
	}{{kcatKey, &rec.key}, {kcatHeaders, &rec.rawHeaders}, {kcatValue, &rec.value}} {
		v, ok := strings.CutPrefix(lines[i], f.marker)
		if !ok {
			return kcatRecord{}, fmt.Errorf("line %d: want %s..., got %q", i+1, f.marker, lines[i])
		}
		*f.dst = v
	}
	rec.headers = map[string]string{}
	for h := range strings.SplitSeq(rec.rawHeaders, ",") {
		name, value, ok := strings.Cut(h, "=")
		if !ok {
			return kcatRecord{}, fmt.Errorf("header %q in %q: no '='", h, rec.rawHeaders)
		}
		if _, dup := rec.headers[name]; dup {
			return kcatRecord{}, fmt.Errorf("header %s appears twice in %q", name, rec.rawHeaders)
		}
		rec.headers[name] = value
	}
	return rec, nil
}

// kcatPath returns the kcat that services/kcat.sh provides. Fetching one
// takes a few seconds the first time, then none.
func kcatPath(t *testing.T) string {
	t.Helper()
	path, progress, err := runKcatScript()
	if progress != "" {
		t.Logf("services/kcat.sh:\n%s", progress)
	}
	if err != nil {
		if os.Getenv("RELAY_REQUIRE_SERVICES") == "1" {
			t.Fatalf("no kcat and RELAY_REQUIRE_SERVICES=1: %v", err)
		}
		t.Skipf("no kcat: %v", err)
	}
	return path
}

// runKcatScript runs services/kcat.sh and returns the path it prints and
// what it reported on stderr (its progress when it fetches kcat).
func runKcatScript() (path, progress string, err error) {
	root, err := repoRoot()
	if err != nil {
		return "", "", err
	}
	script := filepath.Join(root, "services", "kcat.sh")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Dir = root
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (gave up after 5 minutes)", ctx.Err())
		}
		return "", stderr.String(), fmt.Errorf("running %s: %w", script, err)
	}
	path = strings.TrimSpace(stdout.String())
	if path == "" || strings.Contains(path, "\n") {
		return "", stderr.String(), fmt.Errorf("running %s: want one path on stdout, got %q", script, stdout.String())
	}
	if _, err := os.Stat(path); err != nil {
		return "", stderr.String(), fmt.Errorf("checking the kcat %s printed: %w", script, err)
	}
	return path, stderr.String(), nil
}

// repoRoot is the directory holding go.mod, above the test's directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("finding the repository root: no go.mod above the test's directory")
		}
		dir = parent
	}
}
