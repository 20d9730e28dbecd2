// Package localstack_test checks that the LocalStack setup of this folder
// (README.md) creates what the code and samconfig.toml name: the state
// table of infra/dynamo with its time to live, the topics of engine, and
// the secret, subnets and security group of the `local` environment. It
// runs no container.
package localstack_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/infra/dynamo"
)

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash(path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestStateTable_isInfraDynamosTableDefinition(t *testing.T) {
	dec := json.NewDecoder(bytes.NewReader([]byte(read(t, "init/relay-table.json"))))
	dec.DisallowUnknownFields()
	var got dynamodb.CreateTableInput
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("init/relay-table.json: %v", err)
	}
	want := dynamo.TableDefinition(dynamo.DefaultTable)
	if !reflect.DeepEqual(&got, want) {
		g, _ := json.MarshalIndent(&got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("init/relay-table.json is not dynamo.TableDefinition(%q):\ngot  %s\nwant %s", dynamo.DefaultTable, g, w)
	}
}

func TestStateTable_hookTurnsOnTimeToLive(t *testing.T) {
	hook := read(t, "init/ready.d/10-state.sh")
	if want := "AttributeName=" + dynamo.TTLAttribute; !strings.Contains(hook, want) {
		t.Errorf("init/ready.d/10-state.sh does not enable time to live with %s", want)
	}
}

func TestKafkaInit_createsEngineTopics(t *testing.T) {
	script := read(t, "kafka/kafka-init.sh")
	for _, topic := range []string{engine.TopicExecutions, engine.TopicTaskRuns, engine.TopicEvents, engine.TopicDLQ} {
		if !regexp.MustCompile(`\b` + regexp.QuoteMeta(topic) + `\b`).MatchString(script) {
			t.Errorf("kafka/kafka-init.sh does not create %s", topic)
		}
	}
}

func TestSamconfigLocal_namesWhatTheHooksCreate(t *testing.T) {
	samconfig := read(t, "../samconfig.toml")
	_, local, ok := strings.Cut(samconfig, "[local.deploy.parameters]")
	if !ok {
		t.Fatal("samconfig.toml has no [local.deploy.parameters]")
	}
	network := read(t, "init/ready.d/30-network.sh")
	ids := regexp.MustCompile(`\b(?:subnet|sg)-[0-9a-f]{17}\b`).FindAllString(network, -1)
	if len(ids) != 3 {
		t.Fatalf("init/ready.d/30-network.sh: want 2 subnets and a security group, found %v", ids)
	}
	for _, id := range ids {
		if !strings.Contains(local, id) {
			t.Errorf("samconfig.toml's local environment does not name %s, which init/ready.d/30-network.sh creates", id)
		}
	}
	secret := regexp.MustCompile(`(?m)^name=(\S+)$`).FindStringSubmatch(read(t, "init/ready.d/20-kafka-secret.sh"))
	if secret == nil {
		t.Fatal("init/ready.d/20-kafka-secret.sh: no name=")
	}
	if want := "KafkaSecretArn=arn:aws:secretsmanager:us-east-1:000000000000:secret:" + secret[1] + " "; !strings.Contains(local, want) {
		t.Errorf("samconfig.toml's local KafkaSecretArn does not name the secret %s of init/ready.d/20-kafka-secret.sh", secret[1])
	}
}
