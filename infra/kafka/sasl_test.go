package kafka

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/relayflow/relay/internal/health"
	"github.com/relayflow/relay/internal/servicetest"
)

// The tests in this file need a broker listener with SASL/SCRAM-SHA-512:
// RELAY_TEST_KAFKA_SASL_BROKERS names it and RELAY_TEST_KAFKA_SASL_USERNAME
// and RELAY_TEST_KAFKA_SASL_PASSWORD are a user of it (`make services-up`
// starts the test broker with one, on 127.0.0.1:19094). Without them they
// are skipped, unless RELAY_REQUIRE_SERVICES=1.
const (
	envTestSASLBrokers  = "RELAY_TEST_KAFKA_SASL_BROKERS"
	envTestSASLUsername = "RELAY_TEST_KAFKA_SASL_USERNAME"
	envTestSASLPassword = "RELAY_TEST_KAFKA_SASL_PASSWORD"
)

// testSASLBroker returns the SASL listener's brokers and user.
func testSASLBroker(t *testing.T) (brokers []string, user, password string) {
	t.Helper()
	servicetest.Require(t, envTestSASLBrokers, envTestSASLUsername, envTestSASLPassword)
	for b := range strings.SplitSeq(os.Getenv(envTestSASLBrokers), ",") {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	return brokers, os.Getenv(envTestSASLUsername), os.Getenv(envTestSASLPassword)
}

// saslEnv sets the environment AuthFromEnv reads to SCRAM-SHA-512 with
// user and password, over plaintext (the test listener has no TLS).
func saslEnv(t *testing.T, user, password string) {
	t.Helper()
	clearAuthEnv(t)
	t.Setenv(EnvSASL, SASLScramSHA512)
	t.Setenv(EnvUsername, user)
	t.Setenv(EnvPassword, password)
}

// deleteTopicsWith deletes the topics with prefix through a client with
// opts' TLS and SASL.
func deleteTopicsWith(t testing.TB, brokers []string, prefix string, opts []Option) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	transport := &kafkago.Transport{TLS: c.tls, SASL: c.sasl}
	defer transport.CloseIdleConnections()
	client := &kafkago.Client{Addr: kafkago.TCP(brokers...), Transport: transport}
	md, err := client.Metadata(ctx, &kafkago.MetadataRequest{})
	if err != nil {
		t.Logf("listing topics to delete: %v", err)
		return
	}
	var topics []string
	for _, tp := range md.Topics {
		if strings.HasPrefix(tp.Name, prefix) {
			topics = append(topics, tp.Name)
		}
	}
	if len(topics) > 0 {
		if _, err := client.DeleteTopics(ctx, &kafkago.DeleteTopicsRequest{Topics: topics}); err != nil {
			t.Logf("deleting topics %v: %v", topics, err)
		}
	}
}

// TestBusSCRAMSHA512 publishes and consumes through a SASL/SCRAM listener,
// signed in as the environment says: the producer, topic creation and the
// consumer group all authenticate (the listener answers nothing else).
func TestBusSCRAMSHA512(t *testing.T) {
	brokers, user, password := testSASLBroker(t)
	saslEnv(t, user, password)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	auth, err := AuthFromEnv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	prefix := "relaytest-sasl-" + rand.Text()[:8] + "."
	t.Cleanup(func() { deleteTopicsWith(t, brokers, prefix, auth) })
	b := newTestBus(t, brokers, prefix, auth...)
	defer b.Close()

	const n = 20
	var (
		mu  sync.Mutex
		got = map[string]bool{}
	)
	subscribe(t, b, "relay.sasl", "sasl-group", func(_ context.Context, ev cloudevents.Event) error {
		mu.Lock()
		defer mu.Unlock()
		got[ev.ID()] = true
		return nil
	})
	for i := range n {
		ev := cloudevents.New()
		ev.SetID(fmt.Sprintf("ev-%d", i))
		ev.SetType("com.example.sasl")
		ev.SetSource("/test")
		if err := b.Publish(ctx, "relay.sasl", fmt.Sprintf("key-%d", i%4), ev); err != nil {
			t.Fatalf("Publish %d: %v", i, err)
		}
	}
	for {
		mu.Lock()
		done := len(got) == n
		mu.Unlock()
		if done {
			break
		}
		if !health.Sleep(ctx, 20*time.Millisecond) {
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("received %d of %d events through SASL before the timeout", len(got), n)
		}
	}
}

// TestBusSCRAMSHA512Refused checks that wrong credentials fail New with
// the broker's refusal, soon, rather than retrying until the timeout.
func TestBusSCRAMSHA512Refused(t *testing.T) {
	brokers, user, password := testSASLBroker(t)
	tests := []struct {
		name string
		env  map[string]string
		want error // nil: any error
	}{
		{name: "wrongPassword", env: map[string]string{EnvSASL: SASLScramSHA512, EnvUsername: user, EnvPassword: password + "-wrong"},
			want: kafkago.SASLAuthenticationFailed},
		{name: "unknownUser", env: map[string]string{EnvSASL: SASLScramSHA512, EnvUsername: "nobody-" + user, EnvPassword: password},
			want: kafkago.SASLAuthenticationFailed},
		{name: "mechanismNotEnabled", env: map[string]string{EnvSASL: SASLScramSHA256, EnvUsername: user, EnvPassword: password},
			want: kafkago.UnsupportedSASLMechanism},
		{name: "noAuthentication"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearAuthEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			auth, err := AuthFromEnv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			b, err := New(ctx, brokers, append([]Option{WithLogger(testLogger())}, auth...)...)
			if err == nil {
				b.Close()
				t.Fatal("New succeeded")
			}
			t.Logf("after %v: %v", time.Since(start).Round(time.Millisecond), err)
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %q, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}
