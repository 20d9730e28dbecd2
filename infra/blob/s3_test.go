package blob

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/engine/enginetest"
	"github.com/relayflow/relay/internal/servicetest"
	"github.com/relayflow/relay/storage"
	"github.com/relayflow/relay/storage/storagetest"
)

// newTestBucket returns a client and a new bucket on the S3 server that
// AWS_ENDPOINT_URL_S3 names (moto's in `make test`), emptied and deleted
// when the test ends. Without an endpoint the test is skipped, or fails
// when RELAY_REQUIRE_SERVICES=1 (as in `make test`).
func newTestBucket(t *testing.T) (*s3.Client, string) {
	t.Helper()
	servicetest.Require(t, "AWS_ENDPOINT_URL_S3")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := NewS3Client(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	bucket := fmt.Sprintf("relay-test-%d-%d", time.Now().UnixNano(), buckets.Add(1))
	servicetest.Bucket(t, client, bucket)
	return client, bucket
}

var buckets atomic.Int64

func TestS3(t *testing.T) {
	client, bucket := newTestBucket(t)
	for _, prefix := range []string{"", "deployment-a"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			enginetest.TestBlobs(t, func(t *testing.T) engine.Blobs { return NewS3(client, bucket, prefix) })
		})
	}
}

func TestS3_references(t *testing.T) {
	client, bucket := newTestBucket(t)
	ctx := context.Background()
	tests := []struct {
		prefix, key, want string
	}{
		{"", "executions/e1/a.json", "s3://" + bucket + "/executions/e1/a.json"},
		{"relay", "executions/e1/a.json", "s3://" + bucket + "/relay/executions/e1/a.json"},
		{"/relay/dev/", "x", "s3://" + bucket + "/relay/dev/x"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			s := NewS3(client, bucket, tc.prefix)
			ref, err := s.Put(ctx, tc.key, []byte(`"v"`))
			if err != nil {
				t.Fatal(err)
			}
			if ref != tc.want {
				t.Errorf("Put(%s) with prefix %q = %s, want %s", tc.key, tc.prefix, ref, tc.want)
			}
			// Any store on the bucket reads it, whatever its prefix.
			if got, err := NewS3(client, bucket, "").Get(ctx, ref); err != nil || string(got) != `"v"` {
				t.Errorf("Get(%s) = %s, %v", ref, got, err)
			}
		})
	}
}

func TestS3_missingBlob(t *testing.T) {
	client, bucket := newTestBucket(t)
	ref := "s3://" + bucket + "/executions/none/missing.json"
	_, err := NewS3(client, bucket, "").Get(context.Background(), ref)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), ref) {
		t.Errorf("Get of a missing object: %v; want ErrNotFound naming %s", err, ref)
	}
}

func TestS3_storageBackend(t *testing.T) {
	client, bucket := newTestBucket(t)
	storagetest.TestBackend(t, func(t *testing.T) storage.Backend { return NewS3(client, bucket, "deployment-a") })
}
