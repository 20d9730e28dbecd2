// Package secretstore is where secrets come from: the deployment's key,
// which seals and opens secret markers (package secrets), and the backends
// that hold the named secrets of each namespace, read by the worker when a
// task runs: the environment locally, AWS Secrets Manager or SSM Parameter
// Store on AWS.
package secretstore

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/relayflow/relay/secrets"
)

// Environment variables.
const (
	// EnvKey is the deployment's secret key itself: any text of 32 bytes
	// or more (e.g. `openssl rand -base64 32`). Every process of a
	// deployment needs the same one.
	EnvKey = "RELAY_SECRET_KEY"
	// EnvKeySecret names (ARN or name) the Secrets Manager secret whose
	// SecretString is the key: how the Lambda functions get it
	// (template.yaml generates it).
	EnvKeySecret = "RELAY_SECRET_KEY_SECRET"
	// EnvBackend is where named secrets are read: env (the default),
	// secretsmanager or ssm.
	EnvBackend = "RELAY_SECRETS_BACKEND"
	// EnvPrefix is the prefix of the names under which the AWS backends
	// keep each namespace's secrets: secret('NAME') of namespace NS is
	// PREFIX + NS + "/" + NAME (default DefaultPrefix; an SSM name gets a
	// leading "/").
	EnvPrefix = "RELAY_SECRETS_PREFIX"
	// EnvCacheTTL is how long the worker keeps a secret read from AWS (a
	// Go duration, default 1m; 0 reads it for every attempt).
	EnvCacheTTL = "RELAY_SECRETS_CACHE_TTL"
)

// Backends of EnvBackend.
const (
	BackendEnv            = "env"
	BackendSecretsManager = "secretsmanager"
	BackendSSM            = "ssm"
)

// DefaultPrefix: see EnvPrefix.
const DefaultPrefix = "relay/"

// KeyFile is the file of the data directory that holds the key of the
// processes of one machine (relay run, server, dev), created on first use.
const KeyFile = "secret.key"

// LoadKey returns the deployment's keyring: from EnvKey, else the Secrets
// Manager secret EnvKeySecret names, else the KeyFile of dataDir (created
// with a random key, readable by its owner only, when missing; dataDir
// "" means none).
func LoadKey(ctx context.Context, dataDir string) (*secrets.Keyring, error) {
	if v := os.Getenv(EnvKey); v != "" {
		k, err := secrets.NewKeyring([]byte(v))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvKey, err)
		}
		return k, nil
	}
	if id := os.Getenv(EnvKeySecret); id != "" {
		cfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("loading the AWS configuration to read the secret key: %w", err)
		}
		out, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		if err != nil {
			return nil, fmt.Errorf("reading the secret key from Secrets Manager (%s=%s): %w", EnvKeySecret, id, err)
		}
		k, err := secrets.NewKeyring([]byte(aws.ToString(out.SecretString)))
		if err != nil {
			return nil, fmt.Errorf("the secret key in %s: %w", id, err)
		}
		return k, nil
	}
	if dataDir == "" {
		return nil, fmt.Errorf("no secret key: set %s (32 bytes or more) or %s", EnvKey, EnvKeySecret)
	}
	return keyFile(filepath.Join(dataDir, KeyFile))
}

// keyFile reads the key of path, or creates it. Creation is exclusive, so
// that two processes starting at once agree on one key.
func keyFile(path string) (*secrets.Keyring, error) {
	for range 2 {
		b, err := os.ReadFile(path)
		if err == nil {
			k, err := secrets.NewKeyring([]byte(strings.TrimSpace(string(b))))
			if err != nil {
				return nil, fmt.Errorf("the secret key in %s: %w", path, err)
			}
			return k, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("reading the secret key: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("creating the data directory for the secret key: %w", err)
		}
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			time.Sleep(10 * time.Millisecond) // another process is writing it
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("creating the secret key: %w", err)
		}
		_, werr := f.WriteString(base64.StdEncoding.EncodeToString(raw) + "\n")
		if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
			return nil, fmt.Errorf("writing the secret key %s: %w", path, err)
		}
	}
	return keyFile(path)
}

// Env reads secret('NAME') from RELAY_SECRET_NAME, or from SECRET_NAME
// base64-encoded as Kestra's open-source edition does: the same for every
// namespace, for one machine.
func Env(_ context.Context, _ string, name string) (string, error) {
	if v, ok := os.LookupEnv("RELAY_SECRET_" + name); ok {
		return v, nil
	}
	if v, ok := os.LookupEnv("SECRET_" + name); ok {
		if b, err := base64.StdEncoding.DecodeString(v); err == nil {
			return string(b), nil
		}
		return v, nil
	}
	return "", fmt.Errorf("set RELAY_SECRET_%s: %w", name, secrets.ErrNotFound)
}

// Config chooses a backend.
type Config struct {
	Backend string // EnvBackend
	Prefix  string // EnvPrefix
	// CacheTTL is how long a value read from AWS is kept (0: not kept).
	CacheTTL time.Duration
}

// ConfigFromEnv reads Config from the environment.
func ConfigFromEnv() (Config, error) {
	c := Config{Backend: strings.ToLower(os.Getenv(EnvBackend)), Prefix: DefaultPrefix, CacheTTL: time.Minute}
	if v, ok := os.LookupEnv(EnvPrefix); ok {
		c.Prefix = v
	}
	switch c.Backend {
	case "":
		c.Backend = BackendEnv
	case BackendEnv, BackendSecretsManager, BackendSSM:
	default:
		return c, fmt.Errorf("%s=%q: want %s, %s or %s", EnvBackend, c.Backend, BackendEnv, BackendSecretsManager, BackendSSM)
	}
	if v := os.Getenv(EnvCacheTTL); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return c, fmt.Errorf("%s=%q: want a duration such as 1m", EnvCacheTTL, v)
		}
		c.CacheTTL = d
	}
	return c, nil
}

// Lookup returns the backend c names.
func (c Config) Lookup(ctx context.Context) (secrets.Lookup, error) {
	if c.Backend == BackendEnv || c.Backend == "" {
		return Env, nil
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading the AWS configuration for the %s secrets backend: %w", c.Backend, err)
	}
	var read func(ctx context.Context, id string) (string, error)
	switch c.Backend {
	case BackendSecretsManager:
		read = secretsManagerReader(secretsmanager.NewFromConfig(cfg))
	case BackendSSM:
		read = ssmReader(ssm.NewFromConfig(cfg))
	default:
		return nil, fmt.Errorf("unknown secrets backend %q", c.Backend)
	}
	return cached(c.CacheTTL, func(ctx context.Context, namespace, name string) (string, error) {
		id := c.Name(namespace, name)
		v, err := read(ctx, id)
		if err != nil {
			return "", fmt.Errorf("reading %s from %s: %w", id, c.Backend, err)
		}
		return v, nil
	}), nil
}

// Name is where the backend keeps secret name of namespace.
func (c Config) Name(namespace, name string) string {
	id := c.Prefix + namespace + "/" + name
	if c.Backend == BackendSSM && !strings.HasPrefix(id, "/") {
		id = "/" + id
	}
	return id
}

// SecretsManagerAPI is the part of *secretsmanager.Client the backend uses.
type SecretsManagerAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

func secretsManagerReader(c SecretsManagerAPI) func(context.Context, string) (string, error) {
	return func(ctx context.Context, id string) (string, error) {
		out, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		var nf *smtypes.ResourceNotFoundException
		if errors.As(err, &nf) {
			return "", secrets.ErrNotFound
		}
		if err != nil {
			return "", err
		}
		if out.SecretString == nil {
			return string(out.SecretBinary), nil
		}
		return *out.SecretString, nil
	}
}

// SSMAPI is the part of *ssm.Client the backend uses.
type SSMAPI interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

func ssmReader(c SSMAPI) func(context.Context, string) (string, error) {
	return func(ctx context.Context, id string) (string, error) {
		out, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(id), WithDecryption: aws.Bool(true)})
		var nf *ssmtypes.ParameterNotFound
		if errors.As(err, &nf) {
			return "", secrets.ErrNotFound
		}
		if err != nil {
			return "", err
		}
		return aws.ToString(out.Parameter.Value), nil
	}
}

// cached keeps what read returns for ttl, so that a busy worker does not
// pay a request (and AWS's price for it) per attempt. Errors are not kept.
func cached(ttl time.Duration, read secrets.Lookup) secrets.Lookup {
	if ttl <= 0 {
		return read
	}
	type entry struct {
		v   string
		exp time.Time
	}
	var mu sync.Mutex
	m := map[string]entry{}
	return func(ctx context.Context, namespace, name string) (string, error) {
		key := namespace + "\x00" + name
		mu.Lock()
		e, ok := m[key]
		mu.Unlock()
		if ok && time.Now().Before(e.exp) {
			return e.v, nil
		}
		v, err := read(ctx, namespace, name)
		if err != nil {
			return "", err
		}
		mu.Lock()
		m[key] = entry{v, time.Now().Add(ttl)}
		mu.Unlock()
		return v, nil
	}
}
