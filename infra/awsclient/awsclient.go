// Package awsclient makes the AWS SDK clients of Relay (DynamoDB, S3) ride
// through outages: each call is retried by the SDK's standard retryer
// (exponential backoff with jitter) on throttling
// (ProvisionedThroughputExceededException, ThrottlingException...), 5xx
// answers, refused or reset connections and timeouts, with a timeout on
// each attempt so that a service that stops answering is retried rather
// than waited for; and what still fails for one of those reasons is
// wrapped as engine.ErrUnavailable, which handlers retry for as long as it
// takes and never dead-letter, and reported to the process's health
// registry.
//
// Why the SDK's retryer and not a loop of our own: it already knows which
// answers are throttles and which are retryable, adds jitter, and
// re-signs each attempt.
package awsclient

import (
	"context"
	"errors"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go/middleware"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/internal/health"
)

// EnvAttemptTimeout bounds each attempt of a call to DynamoDB or S3 (a
// Go duration, default DefaultAttemptTimeout): a service that accepts a
// request and does not answer is tried again after it.
const EnvAttemptTimeout = "RELAY_AWS_ATTEMPT_TIMEOUT"

// DefaultAttemptTimeout: see EnvAttemptTimeout. DynamoDB answers in
// milliseconds; 10 s is far past any healthy answer.
const DefaultAttemptTimeout = 10 * time.Second

// MaxAttempts is how many times the SDK tries one call before the error
// goes back to the caller (as ErrUnavailable when it is an outage's).
const MaxAttempts = 8

// MaxBackoff caps the SDK's wait between two attempts.
const MaxBackoff = 2 * time.Second

// Retryer is the retryer of Relay's AWS clients: the standard one with
// more attempts and no retry quota (the quota fails calls fast once many
// have been retried, which during an outage is every call; the callers
// back off themselves).
func Retryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = MaxAttempts
		o.MaxBackoff = MaxBackoff
		o.RateLimiter = ratelimit.None
	})
}

// HTTPClient is the SDK's HTTP client with a timeout on each attempt
// (EnvAttemptTimeout): the whole exchange, for DynamoDB, whose requests
// and answers are small.
func HTTPClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTimeout(attemptTimeout())
}

// StreamingHTTPClient is the HTTP client of S3, whose objects (the files
// of internal storage, up to gigabytes) stream for as long as they take:
// the timeout (EnvAttemptTimeout) bounds the wait for an answer once the
// request is sent, and each wait for more of a body, not the whole
// exchange. A server that stops answering or stalls mid-object is still
// given up on and retried.
func StreamingHTTPClient() *awshttp.BuildableClient {
	d := attemptTimeout()
	return awshttp.NewBuildableClient().
		WithTransportOptions(func(tr *http.Transport) { tr.ResponseHeaderTimeout = d }).
		WithReadTimeout(d)
}

func attemptTimeout() time.Duration {
	if v, err := time.ParseDuration(os.Getenv(EnvAttemptTimeout)); err == nil && v > 0 {
		return v
	}
	return DefaultAttemptTimeout
}

// Outage reports whether err says the service is unavailable for now
// rather than that the request is wrong: what the SDK retries (throttling,
// 5xx, connection errors), timeouts, and the error left when its attempts
// ran out on those.
func Outage(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, engine.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var maxAttempts *retry.MaxAttemptsError
	var quota *ratelimit.QuotaExceededError
	if errors.As(err, &maxAttempts) || errors.As(err, &quota) {
		return true
	}
	if retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary {
		return true
	}
	return retry.IsErrorTimeouts(retry.DefaultTimeouts).IsErrorTimeout(err) == aws.TrueTernary
}

// Classify returns an APIOptions entry that wraps the errors of a client's
// calls that Outage recognises as engine.ErrUnavailable, and reports each
// call's outcome on dependency dep of health.Default.
func Classify(dep string) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("RelayClassifyOutage",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleInitialize(ctx, in)
				switch {
				case err == nil:
					health.Default.OK(dep)
				case ctx.Err() != nil:
					// The caller gave up (the process stops, an invocation
					// ends): this says nothing about the service.
				case Outage(err):
					health.Default.Fail(dep, err)
					err = engine.Unavailable(err)
				default:
					health.Default.OK(dep) // it answered: the request was refused
				}
				return out, md, err
			}), middleware.Before)
	}
}
