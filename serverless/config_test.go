package serverless

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/relayflow/relay/engine"
)

func TestConfigFromEnv_blobs(t *testing.T) {
	home := t.TempDir()
	tests := []struct {
		name    string
		env     map[string]string
		want    Config // only the blob fields are compared
		wantErr string
	}{
		{name: "devDefaultsToTheHomeFolder",
			want: Config{BlobDir: filepath.Join(home, ".relay", "blobs")}},
		{name: "devDefaultsToTheDataDir", env: map[string]string{"RELAY_DATA_DIR": "/data"},
			want: Config{BlobDir: "/data/blobs"}},
		{name: "folder", env: map[string]string{EnvBlobDir: "/tmp/b"},
			want: Config{BlobDir: "/tmp/b"}},
		{name: "bucket", env: map[string]string{EnvBucket: "my-bucket"},
			want: Config{Bucket: "my-bucket"}},
		{name: "bucketAndPrefix", env: map[string]string{EnvBucket: "my-bucket/relay/dev"},
			want: Config{Bucket: "my-bucket", BucketPrefix: "relay/dev"}},
		{name: "lambdaHasNoDefaultFolder", env: map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "relay-executor"},
			want: Config{}},
		{name: "lambdaWithABucket", env: map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "relay-executor", EnvBucket: "b"},
			want: Config{Bucket: "b"}},
		{name: "pathStyleWithALocalEndpoint", env: map[string]string{EnvBucket: "b", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:18001"},
			want: Config{Bucket: "b", S3PathStyle: true}},
		{name: "pathStyleTurnedOff", env: map[string]string{EnvBucket: "b", "AWS_ENDPOINT_URL": "http://localhost:4566", EnvS3PathStyle: "false"},
			want: Config{Bucket: "b"}},
		{name: "pathStyleTurnedOn", env: map[string]string{EnvBucket: "b", EnvS3PathStyle: "1"},
			want: Config{Bucket: "b", S3PathStyle: true}},
		{name: "threshold", env: map[string]string{EnvBucket: "b", EnvBlobThreshold: "32768"},
			want: Config{Bucket: "b", BlobThreshold: 32768}},
		{name: "thresholdTooLarge", env: map[string]string{EnvBlobThreshold: "400000"}, wantErr: EnvBlobThreshold},
		{name: "thresholdNotANumber", env: map[string]string{EnvBlobThreshold: "64KB"}, wantErr: EnvBlobThreshold},
		{name: "pathStyleNotABoolean", env: map[string]string{EnvS3PathStyle: "yes please"}, wantErr: EnvS3PathStyle},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{EnvBucket, EnvBlobDir, EnvBlobThreshold, EnvS3PathStyle, "RELAY_DATA_DIR", "AWS_LAMBDA_FUNCTION_NAME", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"} {
				t.Setenv(k, "")
			}
			t.Setenv("HOME", home)
			t.Setenv(EnvBrokers, "127.0.0.1:9092")
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
			got := Config{Bucket: c.Bucket, BucketPrefix: c.BucketPrefix, BlobDir: c.BlobDir, S3PathStyle: c.S3PathStyle, BlobThreshold: c.BlobThreshold}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("blob settings %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestConfigFromEnv_durations(t *testing.T) {
	tests := []struct {
		name                   string
		env                    map[string]string
		timeout, lease, report time.Duration
		wantErr                string
	}{
		{name: "defaults", lease: engine.DefaultAttemptLease, report: DefaultStartedAfter},
		{name: "set", env: map[string]string{EnvAttemptTimeout: "2m", EnvAttemptLease: "10s", EnvStartedAfter: "250ms"}, timeout: 2 * time.Minute, lease: 10 * time.Second, report: 250 * time.Millisecond},
		{name: "zeroTurnsThemOff", env: map[string]string{EnvAttemptTimeout: "0", EnvStartedAfter: "0s"}, lease: engine.DefaultAttemptLease},
		{name: "notADuration", env: map[string]string{EnvStartedAfter: "1"}, wantErr: EnvStartedAfter},
		{name: "negative", env: map[string]string{EnvAttemptTimeout: "-1m"}, wantErr: EnvAttemptTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvBrokers, "127.0.0.1:9092")
			t.Setenv(EnvBlobDir, t.TempDir())
			for _, k := range []string{EnvAttemptTimeout, EnvAttemptLease, EnvStartedAfter} {
				t.Setenv(k, tc.env[k])
			}
			c, err := ConfigFromEnv()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil || c.AttemptTimeout != tc.timeout || c.AttemptLease != tc.lease || c.StartedAfter != tc.report {
				t.Errorf("attempt timeout %v, lease %v, started after %v (error %v); want %v, %v and %v", c.AttemptTimeout, c.AttemptLease, c.StartedAfter, err, tc.timeout, tc.lease, tc.report)
			}
		})
	}
}

func TestConfigFromEnv_retention(t *testing.T) {
	for _, tc := range []struct {
		value   string
		want    time.Duration
		wantErr bool
	}{
		{"", 0, false},
		{"30d", 30 * 24 * time.Hour, false},
		{"720h", 720 * time.Hour, false},
		{"90m", 90 * time.Minute, false},
		{"0d", 0, true},
		{"-1d", 0, true},
		{"thirty days", 0, true},
	} {
		t.Setenv(EnvBrokers, "127.0.0.1:9092")
		t.Setenv(EnvBlobDir, t.TempDir())
		t.Setenv(EnvRetention, tc.value)
		c, err := ConfigFromEnv()
		if tc.wantErr {
			if err == nil || !strings.Contains(err.Error(), EnvRetention) {
				t.Errorf("%s=%q: error %v, want one naming the variable", EnvRetention, tc.value, err)
			}
			continue
		}
		if err != nil || c.Retention != tc.want {
			t.Errorf("%s=%q: %v, %v; want %v", EnvRetention, tc.value, c.Retention, err, tc.want)
		}
	}
}
