package kafka

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/aws_msk_iam_v2"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// Environment variables AuthConfigFromEnv reads: how every Relay process
// that talks to Kafka itself (the functions producing, `relay dev`,
// `relay emit --kafka`) encrypts its connections and signs in.
const (
	// EnvTLS (true or false) encrypts the connections with TLS, checking
	// the brokers' certificates against the system's roots and their host
	// names. Default false, but true with aws-msk-iam.
	EnvTLS = "RELAY_KAFKA_TLS"
	// EnvSASL is the SASL mechanism: empty for none, or one of the SASL*
	// names below.
	EnvSASL = "RELAY_KAFKA_SASL"
	// EnvSecret is the ARN or name of a Secrets Manager secret whose
	// SecretString is {"username": "...", "password": "..."}: the SCRAM or
	// PLAIN credentials, in the format Lambda's Kafka event source reads
	// for its own SASL authentication, so that one secret serves both.
	EnvSecret = "RELAY_KAFKA_SECRET"
	// EnvUsername and EnvPassword are the SCRAM or PLAIN credentials
	// themselves, instead of EnvSecret (`relay dev` on a laptop).
	EnvUsername = "RELAY_KAFKA_USERNAME"
	EnvPassword = "RELAY_KAFKA_PASSWORD"
)

// SASL mechanisms, as EnvSASL names them.
const (
	// SASLAWSMSKIAM signs in to Amazon MSK with the AWS credentials (IAM
	// access control), in the region of AWS_REGION.
	SASLAWSMSKIAM   = "aws-msk-iam"
	SASLScramSHA512 = "scram-sha-512"
	SASLScramSHA256 = "scram-sha-256"
	// SASLPlain sends the password as it is: use it over TLS only.
	SASLPlain = "plain"
)

// AuthConfig says how the bus encrypts its connections and signs in to
// the brokers. The zero AuthConfig is plaintext without authentication.
// Printed with fmt, it shows no password.
type AuthConfig struct {
	TLS  bool
	SASL string // "" or one of the SASL* mechanisms
	// Secret names the Secrets Manager secret with the SCRAM or PLAIN
	// credentials (see EnvSecret); without it Username and Password are
	// them.
	Secret   string
	Username string
	Password string `json:"-"`
}

// AuthConfigFromEnv reads AuthConfig from EnvTLS, EnvSASL, EnvSecret,
// EnvUsername and EnvPassword, and checks that they go together. It makes
// no request: Options reads the secret.
func AuthConfigFromEnv() (AuthConfig, error) {
	a := AuthConfig{
		SASL:     strings.ToLower(strings.TrimSpace(os.Getenv(EnvSASL))),
		Secret:   strings.TrimSpace(os.Getenv(EnvSecret)),
		Username: os.Getenv(EnvUsername),
		Password: os.Getenv(EnvPassword),
	}
	// The variables set that the mechanism does not use: setting them is
	// a mistake, and ignoring them could connect without authentication.
	var credentials []string
	for _, v := range []string{EnvSecret, EnvUsername, EnvPassword} {
		if os.Getenv(v) != "" {
			credentials = append(credentials, v)
		}
	}
	switch a.SASL {
	case "":
		if len(credentials) > 0 {
			verb := "is"
			if len(credentials) > 1 {
				verb = "are"
			}
			return AuthConfig{}, fmt.Errorf("%s %s set but %s is not: set %s to %s, %s or %s to sign in with them",
				strings.Join(credentials, " and "), verb, EnvSASL, EnvSASL, SASLScramSHA512, SASLScramSHA256, SASLPlain)
		}
	case SASLAWSMSKIAM:
		if len(credentials) > 0 {
			return AuthConfig{}, fmt.Errorf("%s=%s signs in with the AWS credentials, not with %s: unset it",
				EnvSASL, SASLAWSMSKIAM, strings.Join(credentials, " and "))
		}
		a.TLS = true // MSK's IAM listener is TLS only
	case SASLScramSHA512, SASLScramSHA256, SASLPlain:
		switch {
		case a.Secret != "" && (a.Username != "" || a.Password != ""):
			return AuthConfig{}, fmt.Errorf("both %s and %s/%s are set: give the credentials one way only", EnvSecret, EnvUsername, EnvPassword)
		case a.Secret != "":
		case a.Username == "" && a.Password == "":
			return AuthConfig{}, fmt.Errorf("%s=%s needs credentials: set %s (a Secrets Manager secret {\"username\": ..., \"password\": ...}), or %s and %s",
				EnvSASL, a.SASL, EnvSecret, EnvUsername, EnvPassword)
		case a.Password == "":
			return AuthConfig{}, fmt.Errorf("%s is set but %s is not", EnvUsername, EnvPassword)
		case a.Username == "":
			return AuthConfig{}, fmt.Errorf("%s is set but %s is not", EnvPassword, EnvUsername)
		}
	default:
		return AuthConfig{}, fmt.Errorf("%s=%q: want %s, %s, %s, %s, or nothing for no authentication",
			EnvSASL, os.Getenv(EnvSASL), SASLAWSMSKIAM, SASLScramSHA512, SASLScramSHA256, SASLPlain)
	}
	if v := strings.TrimSpace(os.Getenv(EnvTLS)); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return AuthConfig{}, fmt.Errorf("%s=%q: want true or false", EnvTLS, v)
		}
		a.TLS = on
	}
	return a, nil
}

// AuthFromEnv returns the bus options that the environment asks for
// (AuthConfigFromEnv, then Options): none when it asks for nothing.
func AuthFromEnv(ctx context.Context) ([]Option, error) {
	a, err := AuthConfigFromEnv()
	if err != nil {
		return nil, err
	}
	return a.Options(ctx)
}

// Options returns WithTLS and WithSASL as a says. For aws-msk-iam it loads
// the AWS configuration (region and credentials, from the environment);
// with a Secret it reads the secret from Secrets Manager.
func (a AuthConfig) Options(ctx context.Context) ([]Option, error) {
	return a.options(ctx, awsAccess{
		config:  func(ctx context.Context) (aws.Config, error) { return awsconfig.LoadDefaultConfig(ctx) },
		secrets: func(cfg aws.Config) secretReader { return secretsmanager.NewFromConfig(cfg) },
	})
}

// secretReader reads a secret: the part of *secretsmanager.Client that
// Options uses.
type secretReader interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// awsAccess is where Options gets what it needs from AWS (replaced in
// tests).
type awsAccess struct {
	config  func(context.Context) (aws.Config, error)
	secrets func(aws.Config) secretReader
}

func (a AuthConfig) options(ctx context.Context, acc awsAccess) ([]Option, error) {
	var opts []Option
	if a.TLS {
		// No RootCAs: the system's. No ServerName: kafka-go sets each
		// broker's host name.
		opts = append(opts, WithTLS(&tls.Config{MinVersion: tls.VersionTLS12}))
	}
	var (
		m   sasl.Mechanism
		err error
	)
	switch a.SASL {
	case "":
		return opts, nil
	case SASLAWSMSKIAM:
		m, err = mskIAM(ctx, acc)
	case SASLScramSHA512, SASLScramSHA256, SASLPlain:
		user, password := a.Username, a.Password
		if a.Secret != "" {
			if user, password, err = readCredentials(ctx, acc, a.Secret); err != nil {
				return nil, err
			}
		}
		m, err = passwordMechanism(a.SASL, user, password)
	default:
		err = fmt.Errorf("%s=%q: unknown SASL mechanism", EnvSASL, a.SASL)
	}
	if err != nil {
		return nil, err
	}
	return append(opts, WithSASL(m)), nil
}

// mskIAM returns the AWS_MSK_IAM mechanism, signing with the credentials
// of the AWS configuration. It gets them once here, so that missing
// credentials show now rather than as a failure to connect.
func mskIAM(ctx context.Context, acc awsAccess) (sasl.Mechanism, error) {
	cfg, err := acc.config(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading the AWS configuration for %s=%s: %w", EnvSASL, SASLAWSMSKIAM, err)
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("%s=%s needs the cluster's region: set AWS_REGION", EnvSASL, SASLAWSMSKIAM)
	}
	if cfg.Credentials == nil {
		return nil, fmt.Errorf("%s=%s: no AWS credentials to sign in with", EnvSASL, SASLAWSMSKIAM)
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return nil, fmt.Errorf("getting the AWS credentials for %s=%s: %w", EnvSASL, SASLAWSMSKIAM, err)
	}
	return aws_msk_iam_v2.NewMechanism(cfg), nil
}

// passwordMechanism returns the SCRAM or PLAIN mechanism for user and
// password.
func passwordMechanism(name, user, password string) (sasl.Mechanism, error) {
	var algo scram.Algorithm
	switch name {
	case SASLPlain:
		return plain.Mechanism{Username: user, Password: password}, nil
	case SASLScramSHA512:
		algo = scram.SHA512
	case SASLScramSHA256:
		algo = scram.SHA256
	default:
		return nil, fmt.Errorf("%s=%q: not a password mechanism", EnvSASL, name)
	}
	m, err := scram.Mechanism(algo, user, password)
	if err == nil {
		return m, nil
	}
	// The error quotes what it rejects, the password included: say which
	// one it is without it.
	if _, uerr := scram.Mechanism(algo, user, ""); uerr != nil {
		return nil, fmt.Errorf("%s=%s: the username is not valid SCRAM text: %w", EnvSASL, name, uerr)
	}
	return nil, fmt.Errorf("%s=%s: the password is not valid SCRAM text (SASLprep: it has prohibited characters)", EnvSASL, name)
}

// readCredentials reads the username and password in the secret named id
// (an ARN or a name).
func readCredentials(ctx context.Context, acc awsAccess, id string) (user, password string, err error) {
	cfg, err := acc.config(ctx)
	if err != nil {
		return "", "", fmt.Errorf("loading the AWS configuration to read %s=%s: %w", EnvSecret, id, err)
	}
	if cfg.Region == "" {
		// An ARN says its region.
		if a, perr := arn.Parse(id); perr == nil && a.Region != "" {
			cfg.Region = a.Region
		} else {
			return "", "", fmt.Errorf("reading %s=%s: no AWS region: set AWS_REGION, or give the secret's ARN", EnvSecret, id)
		}
	}
	out, err := acc.secrets(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return "", "", fmt.Errorf("reading %s=%s: %w", EnvSecret, id, err)
	}
	if out.SecretString == nil {
		return "", "", fmt.Errorf("%s=%s has no SecretString (a binary secret?): want JSON {\"username\": ..., \"password\": ...}", EnvSecret, id)
	}
	user, password, err = parseCredentials(*out.SecretString)
	if err != nil {
		return "", "", fmt.Errorf("%s=%s: %w", EnvSecret, id, err)
	}
	return user, password, nil
}

// parseCredentials reads {"username": ..., "password": ...}, other members
// ignored. Its errors quote nothing of s, which may hold a password.
func parseCredentials(s string) (user, password string, err error) {
	const want = `want JSON {"username": ..., "password": ...}`
	var c struct {
		Username *string `json:"username"`
		Password *string `json:"password"`
	}
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syntax):
			return "", "", fmt.Errorf("the secret is not valid JSON (at byte %d): %s", syntax.Offset, want)
		case errors.As(err, &typ) && typ.Field != "":
			return "", "", fmt.Errorf("the secret's %q is not a string: %s", typ.Field, want)
		default:
			return "", "", fmt.Errorf("the secret is not a JSON object: %s", want)
		}
	}
	switch {
	case c.Username == nil || *c.Username == "":
		return "", "", fmt.Errorf("the secret has no \"username\": %s", want)
	case c.Password == nil || *c.Password == "":
		return "", "", fmt.Errorf("the secret has no \"password\": %s", want)
	}
	return *c.Username, *c.Password, nil
}

// String describes a, without the password.
func (a AuthConfig) String() string {
	var b strings.Builder
	if a.SASL == "" {
		b.WriteString("no SASL")
	} else {
		b.WriteString("SASL " + a.SASL)
	}
	switch {
	case a.Secret != "":
		b.WriteString(" with the credentials in secret " + a.Secret)
	case a.Username != "":
		b.WriteString(" as " + a.Username)
	}
	if a.TLS {
		b.WriteString(" over TLS")
	} else {
		b.WriteString(" in plaintext")
	}
	return b.String()
}

// GoString is a as Go syntax (%#v), its password hidden.
func (a AuthConfig) GoString() string {
	password := ""
	if a.Password != "" {
		password = "[hidden]"
	}
	return fmt.Sprintf("kafka.AuthConfig{TLS:%t, SASL:%q, Secret:%q, Username:%q, Password:%q}",
		a.TLS, a.SASL, a.Secret, a.Username, password)
}
