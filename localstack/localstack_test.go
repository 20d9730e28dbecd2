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
	hook := read(t, "init/ready.d/10-state.py")
	if want := `"AttributeName": "` + dynamo.TTLAttribute + `"`; !strings.Contains(hook, want) {
		t.Errorf("init/ready.d/10-state.py does not enable time to live with %s", want)
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
	ids := networkIDs(t)
	for _, id := range ids {
		if !strings.Contains(local, id) {
			t.Errorf("samconfig.toml's local environment does not name %s, which init/ready.d/30-network.py creates", id)
		}
	}
	secret := secretName(t)
	if want := "KafkaSecretArn=arn:aws:secretsmanager:us-east-1:000000000000:secret:" + secret + " "; !strings.Contains(local, want) {
		t.Errorf("samconfig.toml's local KafkaSecretArn does not name the secret %s of init/ready.d/20-kafka-secret.py", secret)
	}
}

func TestHostDeploy_namesWhatTheHooksCreate(t *testing.T) {
	host := read(t, "host.sh")
	for _, id := range networkIDs(t) {
		if !strings.Contains(host, id) {
			t.Errorf("host.sh deploy does not name %s, which init/ready.d/30-network.py creates", id)
		}
	}
	if want := "--secret-id " + secretName(t); !strings.Contains(host, want) {
		t.Errorf("host.sh does not look the secret up with %s", want)
	}
}

// networkIDs are the ids of the subnets and the security group that
// init/ready.d/30-network.py creates.
func networkIDs(t *testing.T) []string {
	t.Helper()
	ids := regexp.MustCompile(`\b(?:subnet|sg)-[0-9a-f]{17}\b`).FindAllString(read(t, "init/ready.d/30-network.py"), -1)
	if len(ids) != 3 {
		t.Fatalf("init/ready.d/30-network.py: want 2 subnets and a security group, found %v", ids)
	}
	return ids
}

// secretName is the name of the secret init/ready.d/20-kafka-secret.py
// creates.
func secretName(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^name = "([^"]+)"$`).FindStringSubmatch(read(t, "init/ready.d/20-kafka-secret.py"))
	if m == nil {
		t.Fatal(`init/ready.d/20-kafka-secret.py: no name = "..."`)
	}
	return m[1]
}
