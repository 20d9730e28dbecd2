package awsclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/relayflow/relay/internal/testnet"
)

func TestOutage_tellsAnOutageFromARefusal(t *testing.T) {
	status := func(code int) error {
		return &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: code}}, Err: errors.New("boom")}
	}
	refused := &url.Error{Op: "Post", URL: "http://127.0.0.1:1", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"throughput exceeded", &types.ProvisionedThroughputExceededException{Message: new(string)}, true},
		{"throttling", &smithy.GenericAPIError{Code: "ThrottlingException"}, true},
		{"500", status(500), true},
		{"503", status(503), true},
		{"connection refused", refused, true},
		{"attempts spent", &retry.MaxAttemptsError{Attempt: 8, Err: refused}, true},
		{"deadline", fmt.Errorf("put: %w", context.DeadlineExceeded), true},
		{"conditional check failed", &types.ConditionalCheckFailedException{Message: new(string)}, false},
		{"validation", &smithy.GenericAPIError{Code: "ValidationException"}, false},
		{"400", status(400), false},
		{"canceled", context.Canceled, false},
	}
	for _, tt := range tests {
		if got := Outage(tt.err); got != tt.want {
			t.Errorf("%s: Outage = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// S3's objects stream for as long as they take: a download that keeps
// coming is not cut by the attempt timeout, one that stalls is.
func TestStreamingHTTPClient_timesOutStallsNotLongDownloads(t *testing.T) {
	t.Setenv(EnvAttemptTimeout, "300ms")
	srv := testnet.Server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pause := 100 * time.Millisecond
		if strings.HasSuffix(r.URL.Path, "/stalls") {
			pause = time.Second
		}
		w.Header().Set("Content-Length", "8")
		w.WriteHeader(http.StatusOK)
		for range 8 { // 800 ms in all for the one that keeps coming
			w.Write([]byte("x"))
			w.(http.Flusher).Flush()
			select {
			case <-time.After(pause):
			case <-r.Context().Done():
				return
			}
		}
	}))
	client := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials:      credentials.NewStaticCredentialsProvider("k", "s", ""),
		HTTPClient:       StreamingHTTPClient(),
		RetryMaxAttempts: 1,
	})
	get := func(key string) error {
		out, err := client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String(key)})
		if err != nil {
			return err
		}
		defer out.Body.Close()
		_, err = io.ReadAll(out.Body)
		return err
	}
	if err := get("keeps-coming"); err != nil {
		t.Errorf("a download that keeps coming for longer than the timeout: %v", err)
	}
	if err := get("stalls"); err == nil {
		t.Error("a download that stalls past the timeout succeeded")
	}
}
