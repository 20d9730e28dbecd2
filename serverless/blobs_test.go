package serverless

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/infra/blob"
	"github.com/relayflow/relay/infra/dynamo"
	"github.com/relayflow/relay/internal/servicetest"
	"github.com/relayflow/relay/statemachine"
)

// bigOutputFlow returns ~288 KB of random ids (text that does not
// compress) from one task, reads it in the next one and in the flow's
// outputs.
const bigOutputFlow = `
id: big_output
namespace: blobs
tasks:
  - id: big
    type: debug.return
    format: "{% for i in range(1, 8192) %}{{ uuid() }}{% endfor %}"
  - id: check
    type: output.values
    values:
      length: "{{ outputs.big.value | length }}"
      head: "{{ outputs.big.value | slice(0, 36) }}"
outputs:
  - id: big
    type: STRING
    value: "{{ outputs.big.value }}"
`

// TestLargeOutputs_stayOutOfItemsAndMessages runs a flow whose task
// returns ~288 KB through the serverless handlers on Kafka and DynamoDB
// Local, with the blobs in a folder and, when an S3 server is configured,
// in a bucket: the task run's item stays small, no Kafka record carries
// more than the threshold, and the next task and the flow's outputs read
// the real value.
func TestLargeOutputs_stayOutOfItemsAndMessages(t *testing.T) {
	backends := []struct {
		name      string
		configure func(t *testing.T, c *Config)
		refPrefix func(c Config) string
	}{
		{"folder", func(t *testing.T, c *Config) { c.Bucket, c.BlobDir = "", t.TempDir() },
			func(c Config) string { return "file://" + c.BlobDir + "/executions/" }},
		{"s3", func(t *testing.T, c *Config) {
			c.Bucket, c.BucketPrefix, c.BlobDir, c.S3PathStyle = testBucket(t), "relay", "", true
		},
			func(c Config) string { return "s3://" + c.Bucket + "/relay/executions/" }},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			rt := startDevWith(t, func(c *Config) { b.configure(t, c) })
			ctx := context.Background()
			_, f, err := rt.Engine.Deploy(ctx, "big_output.yaml", []byte(bigOutputFlow))
			if err != nil {
				t.Fatal(err)
			}
			id := engine.NewID()
			if err := rt.Engine.Submit(ctx, statemachine.Event{ExecutionID: id, Namespace: f.Namespace, FlowID: f.ID}); err != nil {
				t.Fatal(err)
			}
			ex := waitEnded(t, rt.Store, id, time.Minute)
			if ex.State != statemachine.ExecSuccess {
				t.Fatalf("execution ended %s: %s", ex.State, ex.Error)
			}

			big, _ := ex.Outputs["big"].(string)
			if want := 8192 * 36; len(big) != want {
				t.Fatalf("the flow output is %d bytes, want %d", len(big), want)
			}
			first, _ := ex.Run(ex.TaskRuns[0].ID)
			if v, _ := first.Outputs["value"].(string); v != big {
				t.Errorf("task big's output (%d bytes) differs from the flow output", len(v))
			}
			check, _ := ex.Run(ex.TaskRuns[1].ID)
			values, _ := check.Outputs["values"].(map[string]any)
			if values["length"] != int64(len(big)) || values["head"] != big[:36] {
				t.Errorf("the next task read length %v and head %v; want %d and %q", values["length"], values["head"], len(big), big[:36])
			}

			// The item of task run big: small, with its outputs in a blob.
			item := taskRunItem(t, rt.Config.Table, id, 0)
			if size := dynamo.ItemSize(item); size > 8<<10 {
				t.Errorf("the item of task run big is %d bytes; want it small", size)
			}
			var ref *types.AttributeValueMemberS
			if refs, ok := item["blobs"].(*types.AttributeValueMemberM); ok {
				ref, _ = refs.Value["outputs"].(*types.AttributeValueMemberS)
			}
			if ref == nil || !strings.HasPrefix(ref.Value, b.refPrefix(rt.Config)) {
				t.Errorf("the item's blob references are %v; want outputs under %s", item["blobs"], b.refPrefix(rt.Config))
			}

			// No record on the topics carries the value itself.
			records := readTopics(t, rt.Config, id)
			withRef := 0
			for _, r := range records {
				if len(r.Value) > engine.DefaultBlobThreshold {
					t.Errorf("a record on %s carries %d bytes", r.Topic, len(r.Value))
				}
				for _, h := range r.Headers {
					if h.Key == "ce_"+engine.ExtensionDataRef {
						withRef++
					}
				}
			}
			// At least: the scheduled attempt of big (its rendered format),
			// its taskrun.finished and execution.finished (the flow's
			// outputs).
			t.Logf("%d records, %d with their data in a blob", len(records), withRef)
			if withRef < 3 {
				t.Errorf("%d of %d records refer to a blob, want at least 3", withRef, len(records))
			}
		})
	}
}

// testBucket creates a bucket on the S3 server AWS_ENDPOINT_URL_S3 names,
// or skips the test without one (fails it when RELAY_REQUIRE_SERVICES=1).
func testBucket(t *testing.T) string {
	t.Helper()
	servicetest.Require(t, "AWS_ENDPOINT_URL_S3")
	ctx := context.Background()
	client, err := blob.NewS3Client(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	bucket := fmt.Sprintf("relay-test-%d", time.Now().UnixNano())
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("creating bucket %s: %v", bucket, err)
	}
	return bucket
}

// taskRunItem reads the raw item of an execution's task run at position
// pos (docs/state-table.md: PK EXEC#<id>, SK RUN#<8 digits>).
func taskRunItem(t *testing.T, table, execID string, pos int) map[string]types.AttributeValue {
	t.Helper()
	db, err := dynamo.NewClient(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{
			"PK": &types.AttributeValueMemberS{Value: "EXEC#" + execID},
			"SK": &types.AttributeValueMemberS{Value: fmt.Sprintf("RUN#%08d", pos)},
		},
	})
	if err != nil || out.Item == nil {
		t.Fatalf("reading the item of task run %d of %s: %v", pos, execID, err)
	}
	return out.Item
}

// readTopics returns the records of the runtime's topics about execution
// id, once its execution.finished record is among them.
func readTopics(t *testing.T, cfg Config, id string) []kafkago.Message {
	t.Helper()
	topics := []string{cfg.TopicPrefix + engine.TopicExecutions, cfg.TopicPrefix + engine.TopicTaskRuns, cfg.TopicPrefix + engine.TopicEvents}
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: cfg.Brokers, GroupTopics: topics, GroupID: "reader-" + id,
		StartOffset: kafkago.FirstOffset, MaxWait: 100 * time.Millisecond, HeartbeatInterval: 500 * time.Millisecond, JoinGroupBackoff: 200 * time.Millisecond,
		MaxBytes: 4 << 20})
	defer r.Close()
	var out []kafkago.Message
	finished := false
	deadline := time.Now().Add(45 * time.Second)
	for {
		wait := time.Until(deadline)
		if finished {
			wait = 2 * time.Second // then whatever else is there
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		m, err := r.ReadMessage(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && finished {
			return out
		}
		if err != nil {
			t.Fatalf("reading the topics (%d records read, execution.finished seen: %v): %v", len(out), finished, err)
		}
		if !strings.HasPrefix(string(m.Key), id) {
			continue
		}
		out = append(out, m)
		for _, h := range m.Headers {
			if h.Key == "ce_type" && string(h.Value) == engine.TypeExecutionFinished {
				finished = true
			}
		}
	}
}
