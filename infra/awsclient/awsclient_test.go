package awsclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
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
