package systemtest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/infra/kafka"
	"github.com/relayflow/relay/internal/servicetest"
	"github.com/relayflow/relay/statemachine"
)

// Records that decode but cannot apply, and one that does not decode, go
// to relay.dlq with the reason in their headers, and are counted in the
// processes' metrics; none is dropped with only a log line, and the
// partitions go on (an execution started after them succeeds).
func TestDeadLetters_recordsThatCannotApplyGoToTheDLQWithTheReason(t *testing.T) {
	d := newDeployment(t)
	d.deploy(chainFlow)
	metricsAddr := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", portNear("DYNAMODB", 18000, 40+i)) }
	d.start("executor", "executor", "--health-addr", metricsAddr(0)).waitOutput("consuming", 60*time.Second)
	d.start("worker", "worker", "--health-addr", metricsAddr(1)).waitOutput("consuming", 60*time.Second)
	d.start("router", "router", "--health-addr", metricsAddr(2)).waitOutput("consuming", 60*time.Second)

	ctx := context.Background()
	now := time.Now()
	publish := func(topic, key string, id, typ string, data any) {
		t.Helper()
		ev, err := engine.NewEvent(id, typ, "/systemtest", key, now, data)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.rt.Bus.Publish(ctx, topic, key, ev); err != nil {
			t.Fatal(err)
		}
	}
	// A well-formed taskrun.scheduled with meaningless data.
	publish(engine.TopicTaskRuns, "nonsense", "bad-scheduled", engine.TypeTaskRunScheduled, map[string]any{"foo": 1})
	// A taskrun.finished for an execution that does not exist.
	publish(engine.TopicExecutions, "no-such-execution", "bad-finished", engine.TypePrefix+string(statemachine.EvTaskRunFinished),
		statemachine.Event{ID: "bad-finished", Type: statemachine.EvTaskRunFinished, ExecutionID: "no-such-execution", TaskRunID: "one", Attempt: 1, State: statemachine.RunSuccess})
	// An execution.finished that names no execution.
	publish(engine.TopicEvents, "x", "bad-ended", engine.TypeExecutionFinished, map[string]any{"state": "SUCCESS"})
	// A record that is not a CloudEvent at all.
	if err := d.writeRecords(ctx, d.rt.Config.TopicPrefix+engine.TopicExecutions, kafkago.Message{Key: []byte("raw"), Value: []byte("not an event")}); err != nil {
		t.Fatal(err)
	}
	ids := d.submit("systemtest", "chain", 2) // behind them on the same topics
	checkOnce(t, d, d.waitEnded(ids, 90*time.Second), "one", "two", "three", "four")

	want := map[string]string{ // dead letter -> words of its reason
		"bad-scheduled": "lacks an execution",
		"bad-finished":  "does not exist",
		"bad-ended":     "names no execution",
		"raw":           "cloudevent",
	}
	got := map[string]string{}
	deadline := time.Now().Add(60 * time.Second)
	for len(got) < len(want) && time.Now().Before(deadline) {
		got = map[string]string{}
		err := servicetest.ReadTopic(ctx, d.rt.Config.Brokers[0], d.rt.Config.TopicPrefix+engine.TopicDLQ, func(m kafkago.Message) {
			name := header(m, "ce_id")
			if name == "" {
				name = string(m.Key)
			}
			got[name] = header(m, kafka.HeaderError) + " (from " + header(m, kafka.HeaderTopic) + ")"
		})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for name, words := range want {
		if reason, ok := got[name]; !ok {
			t.Errorf("%s is not in relay.dlq (dead letters: %v)", name, got)
		} else if !strings.Contains(strings.ToLower(reason), words) {
			t.Errorf("%s dead-lettered with reason %q, want it to say %q", name, reason, words)
		}
	}
	for i, want := range []map[string]string{
		{"cannot_apply": engine.TopicExecutions, "undecodable": engine.TopicExecutions},
		{"cannot_apply": engine.TopicTaskRuns},
		{"cannot_apply": engine.TopicEvents},
	} {
		page := scrape(t, metricsAddr(i))
		for reason, topic := range want {
			line := fmt.Sprintf(`relay_dead_letters_total{reason="%s",topic="%s%s"} 1`, reason, d.rt.Config.TopicPrefix, topic)
			if !strings.Contains(page, line) {
				t.Errorf("the metrics of process %d lack %s:\n%s", i, line, grepLines(page, "relay_dead_letters_total"))
			}
		}
	}
}

func scrape(t *testing.T, addr string) string {
	t.Helper()
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

func grepLines(s, word string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
