package secretstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/relayflow/relay/internal/servicetest"
	"github.com/relayflow/relay/secrets"
)

func TestLoadKey_createsOneKeyFileReadableByItsOwnerAndReusesIt(t *testing.T) {
	t.Setenv(EnvKey, "")
	t.Setenv(EnvKeySecret, "")
	dir := t.TempDir()
	k1, err := LoadKey(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}
	k2, err := LoadKey(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := k1.Seal("ns", "v")
	if o, err := k2.Open("ns", m); err != nil || o.Value != "v" {
		t.Fatalf("the second load has another key: %v", err)
	}
}

func TestLoadKey_prefersTheEnvironmentAndRefusesShortKeys(t *testing.T) {
	t.Setenv(EnvKeySecret, "")
	t.Setenv(EnvKey, "short")
	if _, err := LoadKey(context.Background(), t.TempDir()); err == nil || !strings.Contains(err.Error(), EnvKey) {
		t.Fatalf("err = %v", err)
	}
	t.Setenv(EnvKey, strings.Repeat("k", 40))
	dir := t.TempDir()
	if _, err := LoadKey(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a key file was created although the environment gives the key")
	}
}

func TestEnv_readsRelaySecretAndKestraBase64(t *testing.T) {
	t.Setenv("RELAY_SECRET_A", "plain")
	t.Setenv("SECRET_B", "aGVsbG8=")
	for name, want := range map[string]string{"A": "plain", "B": "hello"} {
		if v, err := Env(context.Background(), "ns", name); err != nil || v != want {
			t.Errorf("%s = %q, %v", name, v, err)
		}
	}
	if _, err := Env(context.Background(), "ns", "MISSING_X"); !errors.Is(err, secrets.ErrNotFound) || !strings.Contains(err.Error(), "RELAY_SECRET_MISSING_X") {
		t.Errorf("err = %v", err)
	}
}

func TestConfig_namesSecretsPerNamespaceUnderThePrefix(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Backend: BackendSecretsManager, Prefix: "relay/"}, "relay/shop.eu/TOKEN"},
		{Config{Backend: BackendSSM, Prefix: "relay/"}, "/relay/shop.eu/TOKEN"},
		{Config{Backend: BackendSSM, Prefix: "/team/"}, "/team/shop.eu/TOKEN"},
	} {
		if got := c.cfg.Name("shop.eu", "TOKEN"); got != c.want {
			t.Errorf("%+v: %s, want %s", c.cfg, got, c.want)
		}
	}
	t.Setenv(EnvBackend, "vault")
	if _, err := ConfigFromEnv(); err == nil {
		t.Error("an unknown backend was accepted")
	}
}

// TestAWSBackends_readSecretsOfTheirNamespaceOnly runs against the moto
// server of `make services-up` (its Secrets Manager and SSM).
func TestAWSBackends_readSecretsOfTheirNamespaceOnly(t *testing.T) {
	servicetest.Require(t, "AWS_ENDPOINT_URL_S3")
	// moto serves every AWS service it has on the one port.
	t.Setenv("AWS_ENDPOINT_URL", os.Getenv("AWS_ENDPOINT_URL_S3"))
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	prefix := "test-" + time.Now().Format("150405.000000") + "/"
	sm := secretsmanager.NewFromConfig(cfg)
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(prefix + "shop/TOKEN"), SecretString: aws.String("sm-value")}); err != nil {
		t.Fatal(err)
	}
	ps := ssm.NewFromConfig(cfg)
	if _, err := ps.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/" + prefix + "shop/TOKEN"), Value: aws.String("ssm-value"), Type: ssmtypes.ParameterTypeSecureString}); err != nil {
		t.Fatal(err)
	}
	for backend, want := range map[string]string{BackendSecretsManager: "sm-value", BackendSSM: "ssm-value"} {
		lookup, err := Config{Backend: backend, Prefix: prefix, CacheTTL: time.Minute}.Lookup(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if v, err := lookup(ctx, "shop", "TOKEN"); err != nil || v != want {
			t.Errorf("%s: %q, %v", backend, v, err)
		}
		if _, err := lookup(ctx, "other", "TOKEN"); !errors.Is(err, secrets.ErrNotFound) {
			t.Errorf("%s: another namespace's secret: err = %v, want ErrNotFound", backend, err)
		}
	}
}
