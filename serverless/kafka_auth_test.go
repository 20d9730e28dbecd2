package serverless

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/relayflow/relay/infra/kafka"
	"github.com/relayflow/relay/internal/servicetest"
)

func TestConfigFromEnv_kafkaAuth(t *testing.T) {
	const secret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:relay-kafka-AbCdEf"
	tests := []struct {
		name    string
		env     map[string]string
		want    kafka.AuthConfig
		wantErr string
	}{
		{name: "plaintextByDefault"},
		{name: "mskIAM", env: map[string]string{EnvKafkaSASL: "aws-msk-iam"},
			want: kafka.AuthConfig{TLS: true, SASL: kafka.SASLAWSMSKIAM}},
		{name: "scramFromTheEventSourceSecret", env: map[string]string{EnvKafkaSASL: "scram-sha-512", EnvKafkaSecret: secret, EnvKafkaTLS: "true"},
			want: kafka.AuthConfig{TLS: true, SASL: kafka.SASLScramSHA512, Secret: secret}},
		{name: "devCredentials", env: map[string]string{EnvKafkaSASL: "scram-sha-512", EnvKafkaUsername: "relay", EnvKafkaPassword: "relay-secret"},
			want: kafka.AuthConfig{SASL: kafka.SASLScramSHA512, Username: "relay", Password: "relay-secret"}},
		{name: "unknownMechanism", env: map[string]string{EnvKafkaSASL: "kerberos"}, wantErr: EnvKafkaSASL},
		{name: "tlsNotABoolean", env: map[string]string{EnvKafkaTLS: "on"}, wantErr: EnvKafkaTLS},
		{name: "missingCredentials", env: map[string]string{EnvKafkaSASL: "plain"}, wantErr: EnvKafkaSecret},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{EnvKafkaTLS, EnvKafkaSASL, EnvKafkaSecret, EnvKafkaUsername, EnvKafkaPassword} {
				t.Setenv(k, "")
			}
			t.Setenv(EnvBrokers, "127.0.0.1:9092")
			t.Setenv(EnvBlobDir, t.TempDir())
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			c, err := ConfigFromEnv()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.KafkaAuth != tc.want {
				t.Errorf("KafkaAuth %#v, want %#v", c.KafkaAuth, tc.want)
			}
		})
	}
}

// TestOpen_kafkaSASL opens the runtime on the test broker's SASL/SCRAM
// listener (see infra/kafka's sasl_test.go): with the right password it
// creates Relay's topics; with a wrong one Open says that Kafka refused it.
func TestOpen_kafkaSASL(t *testing.T) {
	vars := []string{"RELAY_TEST_KAFKA_SASL_BROKERS", "RELAY_TEST_KAFKA_SASL_USERNAME", "RELAY_TEST_KAFKA_SASL_PASSWORD"}
	servicetest.Require(t, vars...)
	brokers, user, password := strings.Split(os.Getenv(vars[0]), ","), os.Getenv(vars[1]), os.Getenv(vars[2])
	for _, tc := range []struct {
		name     string
		password string
		wantErr  string
	}{
		{name: "rightPassword", password: password},
		{name: "wrongPassword", password: password + "-wrong", wantErr: "SASL Authentication Failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cfg := Config{
				Brokers:     brokers,
				KafkaAuth:   kafka.AuthConfig{SASL: kafka.SASLScramSHA512, Username: user, Password: tc.password},
				Table:       "relay-sasl",
				TopicPrefix: fmt.Sprintf("t%d-sasl.", time.Now().UnixNano()),
				Workers:     1,
				BlobDir:     t.TempDir(),
			}
			rt, err := Open(ctx, cfg, testLogger(t))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				rt.Close()
				return
			}
			if err == nil {
				rt.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q, want one saying %s", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), tc.password) {
				t.Errorf("error %q shows the password", err)
			}
			t.Log(err)
		})
	}
}
