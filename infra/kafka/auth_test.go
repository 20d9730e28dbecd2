package kafka

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
)

// testPassword appears in no error and no printed configuration.
const testPassword = "pw-Never-Shown-42"

func clearAuthEnv(t *testing.T) {
	t.Helper()
	for _, v := range []string{EnvTLS, EnvSASL, EnvSecret, EnvUsername, EnvPassword} {
		t.Setenv(v, "")
	}
}

func TestAuthConfigFromEnv(t *testing.T) {
	const arnID = "arn:aws:secretsmanager:eu-west-3:123456789012:secret:relay-kafka-AbCdEf"
	tests := []struct {
		name    string
		env     map[string]string
		want    AuthConfig
		wantErr []string // words the error must contain
	}{
		{name: "nothingIsPlaintext"},
		{name: "tlsAlone", env: map[string]string{EnvTLS: "true"}, want: AuthConfig{TLS: true}},
		{name: "tlsOff", env: map[string]string{EnvTLS: "0"}},
		{name: "tlsNotABoolean", env: map[string]string{EnvTLS: "yes"}, wantErr: []string{EnvTLS, `"yes"`}},
		{name: "mskIAMDefaultsToTLS", env: map[string]string{EnvSASL: "aws-msk-iam"},
			want: AuthConfig{TLS: true, SASL: SASLAWSMSKIAM}},
		{name: "mskIAMWithTLSTurnedOff", env: map[string]string{EnvSASL: "aws-msk-iam", EnvTLS: "false"},
			want: AuthConfig{SASL: SASLAWSMSKIAM}},
		{name: "mskIAMTakesNoSecret", env: map[string]string{EnvSASL: "aws-msk-iam", EnvSecret: arnID},
			wantErr: []string{EnvSecret, SASLAWSMSKIAM}},
		{name: "mskIAMTakesNoPassword", env: map[string]string{EnvSASL: "aws-msk-iam", EnvUsername: "relay", EnvPassword: testPassword},
			wantErr: []string{EnvUsername, EnvPassword}},
		{name: "scram512FromASecret", env: map[string]string{EnvSASL: "scram-sha-512", EnvSecret: arnID},
			want: AuthConfig{SASL: SASLScramSHA512, Secret: arnID}},
		{name: "scram512OverTLS", env: map[string]string{EnvSASL: "scram-sha-512", EnvSecret: "relay/kafka", EnvTLS: "true"},
			want: AuthConfig{TLS: true, SASL: SASLScramSHA512, Secret: "relay/kafka"}},
		{name: "scram256FromUsernameAndPassword", env: map[string]string{EnvSASL: "scram-sha-256", EnvUsername: "relay", EnvPassword: testPassword},
			want: AuthConfig{SASL: SASLScramSHA256, Username: "relay", Password: testPassword}},
		{name: "mechanismInAnyCase", env: map[string]string{EnvSASL: " PLAIN ", EnvUsername: "relay", EnvPassword: testPassword},
			want: AuthConfig{SASL: SASLPlain, Username: "relay", Password: testPassword}},
		{name: "scramWithoutCredentials", env: map[string]string{EnvSASL: "scram-sha-512"},
			wantErr: []string{EnvSASL, EnvSecret, EnvUsername, EnvPassword}},
		{name: "usernameWithoutPassword", env: map[string]string{EnvSASL: "scram-sha-512", EnvUsername: "relay"},
			wantErr: []string{EnvPassword}},
		{name: "passwordWithoutUsername", env: map[string]string{EnvSASL: "plain", EnvPassword: testPassword},
			wantErr: []string{EnvUsername}},
		{name: "secretAndPassword", env: map[string]string{EnvSASL: "scram-sha-512", EnvSecret: arnID, EnvUsername: "relay", EnvPassword: testPassword},
			wantErr: []string{EnvSecret, EnvUsername}},
		{name: "unknownMechanism", env: map[string]string{EnvSASL: "gssapi"},
			wantErr: []string{EnvSASL, `"gssapi"`, SASLScramSHA512}},
		{name: "lambdaStyleName", env: map[string]string{EnvSASL: "SASL_SCRAM_512_AUTH", EnvSecret: arnID},
			wantErr: []string{EnvSASL, SASLScramSHA512}},
		{name: "credentialsWithoutMechanism", env: map[string]string{EnvUsername: "relay", EnvPassword: testPassword},
			wantErr: []string{EnvSASL, EnvUsername, EnvPassword}},
		{name: "secretWithoutMechanism", env: map[string]string{EnvSecret: arnID},
			wantErr: []string{EnvSASL, EnvSecret}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearAuthEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			got, err := AuthConfigFromEnv()
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("got %v, want an error naming %v", got, tc.wantErr)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %s", err, w)
					}
				}
				if strings.Contains(err.Error(), testPassword) {
					t.Errorf("error %q shows the password", err)
				}
				t.Log(err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

// fakeSecrets is Secrets Manager holding one secret.
type fakeSecrets struct {
	value  *string // SecretString
	err    error
	asked  []string // SecretIds asked for
	region string   // of the client
}

func (f *fakeSecrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.asked = append(f.asked, aws.ToString(in.SecretId))
	if f.err != nil {
		return nil, f.err
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: f.value}, nil
}

// fakeAWS returns an awsAccess with the region and credentials given
// (none when creds is nil) and the secrets of sm.
func fakeAWS(region string, creds aws.CredentialsProvider, sm *fakeSecrets) awsAccess {
	return awsAccess{
		config: func(context.Context) (aws.Config, error) {
			return aws.Config{Region: region, Credentials: creds}, nil
		},
		secrets: func(cfg aws.Config) secretReader {
			sm.region = cfg.Region
			return sm
		},
	}
}

var staticCreds = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"}, nil
})

func TestAuthConfigOptions(t *testing.T) {
	const arnID = "arn:aws:secretsmanager:eu-west-3:123456789012:secret:relay-kafka-AbCdEf"
	errNotFound := errors.New("ResourceNotFoundException: Secrets Manager can't find the specified secret")
	tests := []struct {
		name       string
		auth       AuthConfig
		region     string
		creds      aws.CredentialsProvider
		secret     *string // nil: a secret without SecretString
		secretErr  error
		wantTLS    bool
		wantSASL   string // the mechanism's name, "" for none
		wantPlain  *plain.Mechanism
		wantAsked  string // the secret asked for
		wantRegion string // of the Secrets Manager client
		wantErr    []string
		wantIs     error
	}{
		{name: "none"},
		{name: "tls", auth: AuthConfig{TLS: true}, wantTLS: true},
		{name: "scram512", auth: AuthConfig{SASL: SASLScramSHA512, Username: "relay", Password: testPassword},
			wantSASL: "SCRAM-SHA-512"},
		{name: "scram256OverTLS", auth: AuthConfig{TLS: true, SASL: SASLScramSHA256, Username: "relay", Password: testPassword},
			wantTLS: true, wantSASL: "SCRAM-SHA-256"},
		{name: "plain", auth: AuthConfig{SASL: SASLPlain, Username: "relay", Password: testPassword},
			wantSASL: "PLAIN", wantPlain: &plain.Mechanism{Username: "relay", Password: testPassword}},
		{name: "mskIAM", auth: AuthConfig{TLS: true, SASL: SASLAWSMSKIAM}, region: "eu-west-1", creds: staticCreds,
			wantTLS: true, wantSASL: "AWS_MSK_IAM"},
		{name: "mskIAMWithoutRegion", auth: AuthConfig{TLS: true, SASL: SASLAWSMSKIAM}, creds: staticCreds,
			wantErr: []string{"AWS_REGION", SASLAWSMSKIAM}},
		{name: "mskIAMWithoutCredentials", auth: AuthConfig{TLS: true, SASL: SASLAWSMSKIAM}, region: "eu-west-1",
			wantErr: []string{"credentials", SASLAWSMSKIAM}},
		{name: "mskIAMCredentialsFail", auth: AuthConfig{TLS: true, SASL: SASLAWSMSKIAM}, region: "eu-west-1",
			creds: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{}, errNotFound
			}),
			wantErr: []string{"credentials", SASLAWSMSKIAM}, wantIs: errNotFound},
		{name: "secret", auth: AuthConfig{SASL: SASLPlain, Secret: "relay/kafka"}, region: "us-east-1",
			secret:   aws.String(`{"username": "relay", "password": "` + testPassword + `"}`),
			wantSASL: "PLAIN", wantPlain: &plain.Mechanism{Username: "relay", Password: testPassword},
			wantAsked: "relay/kafka", wantRegion: "us-east-1"},
		{name: "secretForSCRAM", auth: AuthConfig{SASL: SASLScramSHA512, Secret: "relay/kafka"}, region: "us-east-1",
			secret:   aws.String(`{"username": "relay", "password": "` + testPassword + `"}`),
			wantSASL: "SCRAM-SHA-512", wantAsked: "relay/kafka", wantRegion: "us-east-1"},
		{name: "secretWithOtherMembers", auth: AuthConfig{SASL: SASLPlain, Secret: "relay/kafka"}, region: "us-east-1",
			secret:   aws.String(`{"engine": "kafka", "username": "relay", "password": "` + testPassword + `"}`),
			wantSASL: "PLAIN", wantPlain: &plain.Mechanism{Username: "relay", Password: testPassword}, wantAsked: "relay/kafka"},
		{name: "regionFromTheSecretARN", auth: AuthConfig{SASL: SASLPlain, Secret: arnID},
			secret:   aws.String(`{"username": "relay", "password": "` + testPassword + `"}`),
			wantSASL: "PLAIN", wantAsked: arnID, wantRegion: "eu-west-3"},
		{name: "secretNameWithoutRegion", auth: AuthConfig{SASL: SASLPlain, Secret: "relay/kafka"},
			wantErr: []string{EnvSecret, "AWS_REGION"}},
		{name: "secretNotFound", auth: AuthConfig{SASL: SASLScramSHA512, Secret: "relay/kafka"}, region: "us-east-1",
			secretErr: errNotFound, wantErr: []string{EnvSecret, "relay/kafka"}, wantIs: errNotFound},
		{name: "binarySecret", auth: AuthConfig{SASL: SASLScramSHA512, Secret: "relay/kafka"}, region: "us-east-1",
			wantErr: []string{EnvSecret, "SecretString"}},
		{name: "secretNotJSON", auth: AuthConfig{SASL: SASLScramSHA512, Secret: "relay/kafka"}, region: "us-east-1",
			secret: aws.String(testPassword), wantErr: []string{EnvSecret, "not valid JSON", `"username"`}},
		{name: "secretAJSONString", auth: AuthConfig{SASL: SASLScramSHA512, Secret: "relay/kafka"}, region: "us-east-1",
			secret: aws.String(`"` + testPassword + `"`), wantErr: []string{EnvSecret, "not a JSON object"}},
		{name: "secretWithoutUsername", auth: AuthConfig{SASL: SASLScramSHA512, Secret: "relay/kafka"}, region: "us-east-1",
			secret: aws.String(`{"password": "` + testPassword + `"}`), wantErr: []string{EnvSecret, `no "username"`}},
		{name: "secretWithoutPassword", auth: AuthConfig{SASL: SASLScramSHA512, Secret: "relay/kafka"}, region: "us-east-1",
			secret: aws.String(`{"username": "relay", "password": ""}`), wantErr: []string{EnvSecret, `no "password"`}},
		{name: "secretPasswordNotAString", auth: AuthConfig{SASL: SASLScramSHA512, Secret: "relay/kafka"}, region: "us-east-1",
			secret: aws.String(`{"username": "relay", "password": 4242424242}`), wantErr: []string{EnvSecret, `"password" is not a string`}},
		{name: "lambdaStyleKeysInOtherCase", auth: AuthConfig{SASL: SASLPlain, Secret: "relay/kafka"}, region: "us-east-1",
			secret:   aws.String(`{"Username": "relay", "Password": "` + testPassword + `"}`),
			wantSASL: "PLAIN", wantPlain: &plain.Mechanism{Username: "relay", Password: testPassword}, wantAsked: "relay/kafka"},
		{name: "scramPasswordWithAControlCharacter", auth: AuthConfig{SASL: SASLScramSHA512, Username: "relay", Password: testPassword + "\a"},
			wantErr: []string{"password", "SCRAM"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sm := &fakeSecrets{value: tc.secret, err: tc.secretErr}
			opts, err := tc.auth.options(context.Background(), fakeAWS(tc.region, tc.creds, sm))
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error, want one saying %v", tc.wantErr)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %s", err, w)
					}
				}
				if strings.Contains(err.Error(), testPassword) || strings.Contains(err.Error(), "4242424242") {
					t.Errorf("error %q shows the password", err)
				}
				if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
					t.Errorf("error %q does not wrap %q", err, tc.wantIs)
				}
				t.Log(err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var c config
			for _, o := range opts {
				o(&c)
			}
			if got := c.tls != nil; got != tc.wantTLS {
				t.Errorf("TLS %v, want %v", got, tc.wantTLS)
			}
			if c.tls != nil && (c.tls.MinVersion != tls.VersionTLS12 || c.tls.RootCAs != nil || c.tls.ServerName != "" || c.tls.InsecureSkipVerify) {
				t.Errorf("TLS config %+v, want TLS 1.2 or newer, the system roots, and the broker's host name checked", c.tls)
			}
			switch {
			case tc.wantSASL == "" && c.sasl != nil:
				t.Errorf("SASL %s, want none", c.sasl.Name())
			case tc.wantSASL != "" && c.sasl == nil:
				t.Errorf("no SASL, want %s", tc.wantSASL)
			case tc.wantSASL != "" && c.sasl.Name() != tc.wantSASL:
				t.Errorf("SASL %s, want %s", c.sasl.Name(), tc.wantSASL)
			}
			if tc.wantPlain != nil && c.sasl != *tc.wantPlain {
				t.Errorf("mechanism %#v, want %#v", c.sasl, *tc.wantPlain)
			}
			if got := strings.Join(sm.asked, ","); got != tc.wantAsked {
				t.Errorf("secrets read: %q, want %q", got, tc.wantAsked)
			}
			if tc.wantRegion != "" && sm.region != tc.wantRegion {
				t.Errorf("Secrets Manager in region %q, want %q", sm.region, tc.wantRegion)
			}
		})
	}
}

// TestMSKIAMSignsTheBrokerHost checks the aws-msk-iam mechanism with the
// SDK in go.mod: its first message is the SigV4 presigned request for
// the broker, signed with the configured credentials and region.
func TestMSKIAMSignsTheBrokerHost(t *testing.T) {
	opts, err := AuthConfig{TLS: true, SASL: SASLAWSMSKIAM}.options(context.Background(), fakeAWS("eu-west-1", staticCreds, &fakeSecrets{}))
	if err != nil {
		t.Fatal(err)
	}
	var c config
	for _, o := range opts {
		o(&c)
	}
	const host = "b-1.relay.abc123.c2.kafka.eu-west-1.amazonaws.com"
	ctx := sasl.WithMetadata(context.Background(), &sasl.Metadata{Host: host, Port: 9098})
	_, first, err := c.sasl.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var msg map[string]string
	if err := json.Unmarshal(first, &msg); err != nil {
		t.Fatalf("first message %s: %v", first, err)
	}
	for k, want := range map[string]string{
		"host":   host,
		"action": "kafka-cluster:Connect",
	} {
		if msg[k] != want {
			t.Errorf("%s = %q, want %q", k, msg[k], want)
		}
	}
	if cred := msg["x-amz-credential"]; !strings.HasPrefix(cred, "AKIDEXAMPLE/") || !strings.Contains(cred, "/eu-west-1/kafka-cluster/aws4_request") {
		t.Errorf("x-amz-credential = %q, want the access key, region and service", cred)
	}
	if msg["x-amz-signature"] == "" {
		t.Error("no x-amz-signature")
	}
}

func TestAuthConfigPrintsNoPassword(t *testing.T) {
	a := AuthConfig{TLS: true, SASL: SASLScramSHA512, Username: "relay", Password: testPassword}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "auth", a)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "auth", a)
	wrapped := struct{ Auth AuthConfig }{a}
	for _, s := range []string{
		fmt.Sprint(a), fmt.Sprintf("%v %+v %#v %s", a, a, a, a),
		fmt.Sprintf("%v %+v %#v", wrapped, wrapped, wrapped),
		logged.String(),
	} {
		if strings.Contains(s, testPassword) {
			t.Errorf("%s shows the password", s)
		}
	}
	if got, want := a.String(), "SASL scram-sha-512 as relay over TLS"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// TestNewBusConnectsWithTheAuthOptions checks that every client of the bus
// (producer, admin, consumers) gets the TLS and SASL options.
func TestNewBusConnectsWithTheAuthOptions(t *testing.T) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	m := plain.Mechanism{Username: "relay", Password: testPassword}
	var c config
	for _, o := range []Option{WithLogger(testLogger()), WithTLS(tc), WithSASL(m)} {
		o(&c)
	}
	b := newBus(c, []string{"127.0.0.1:1"})
	defer b.stop()
	if b.transport.TLS != tc || b.transport.SASL != m {
		t.Errorf("transport TLS %p SASL %v, want %p and %v", b.transport.TLS, b.transport.SASL, tc, m)
	}
	if b.client.Transport != b.transport || b.writer.Transport != b.transport {
		t.Error("the admin client or the producer does not use the bus's transport")
	}
	if b.dialer.TLS != tc || b.dialer.SASLMechanism != m {
		t.Errorf("dialer TLS %p SASL %v, want %p and %v", b.dialer.TLS, b.dialer.SASLMechanism, tc, m)
	}
	if d := b.Dialer(); d == b.dialer || d.TLS != tc || d.SASLMechanism != m {
		t.Error("Dialer() is not a copy of the consumers' dialer")
	}
}
