package tasks

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
)

// Error types of lambda.invoke that are not AWS error codes (those are used
// as they are: "ResourceNotFoundException", "TooManyRequestsException"...).
const (
	typeFunctionError = "FunctionError"
	typeAWSConfig     = "AWSConfig"
	typeLambdaInvoke  = "LambdaInvoke"
)

// LambdaInvoker is the part of *lambda.Client that lambda.invoke uses, so
// that a deployment can hand over a client configured its own way.
type LambdaInvoker interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, opts ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// NewLambda returns the runner of lambda.invoke. A nil client is built at the
// first invocation from the default AWS configuration (environment, shared
// files, instance role; AWS_ENDPOINT_URL for LocalStack), so that workers
// that never invoke a function need no AWS configuration at all.
func NewLambda(client LambdaInvoker) Runner {
	l := &lambdaRunner{client: client}
	return RunnerFunc(l.run)
}

type lambdaRunner struct {
	mu     sync.Mutex
	client LambdaInvoker
}

// invoker returns the client, loading the default one on first use. A failed
// load is not remembered: the environment may be fixed by the next attempt.
func (l *lambdaRunner) invoker(ctx context.Context) (LambdaInvoker, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.client != nil {
		return l.client, nil
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		if terr := ctxError(ctx, "loading the AWS configuration", err); terr != nil {
			return nil, terr
		}
		return nil, &Error{Kind: KindFatal, Type: typeAWSConfig, Message: "loading the AWS configuration", Err: err}
	}
	if cfg.Region == "" {
		return nil, &Error{Kind: KindFatal, Type: typeAWSConfig, Message: "no AWS region is configured (set AWS_REGION)"}
	}
	l.client = lambda.NewFromConfig(cfg)
	return l.client, nil
}

func (l *lambdaRunner) run(ctx context.Context, req Request) (Result, error) {
	fn, err := reqString(req.Props, "function")
	if err != nil {
		return Result{}, err
	}
	qualifier, err := optString(req.Props, "qualifier")
	if err != nil {
		return Result{}, err
	}
	payload, err := lambdaPayload(req.Props["payload"])
	if err != nil {
		return Result{}, err
	}
	client, err := l.invoker(ctx)
	if err != nil {
		return Result{}, err
	}
	in := &lambda.InvokeInput{
		FunctionName:   aws.String(fn),
		InvocationType: types.InvocationTypeRequestResponse,
		Payload:        payload,
	}
	if qualifier != "" {
		in.Qualifier = aws.String(qualifier)
	}
	if req.AttemptKey != "" {
		// The function reads it from its context's client context
		// (lambdacontext.FromContext(ctx).ClientContext.Custom in Go):
		// the payload is the flow's to shape.
		cc, err := json.Marshal(map[string]any{"custom": map[string]string{LambdaAttemptKey: req.AttemptKey}})
		if err != nil {
			return Result{}, err
		}
		in.ClientContext = aws.String(base64.StdEncoding.EncodeToString(cc))
	}
	log := logger(req)
	log.Debug("invoking function", "function", fn, "qualifier", qualifier, "bytes", len(payload))
	out, err := client.Invoke(ctx, in)
	if err != nil {
		return Result{}, classifyLambdaError(ctx, fn, err)
	}

	res := Result{Outputs: map[string]any{
		"statusCode":      int64(out.StatusCode),
		"payload":         lambdaResponse(out.Payload),
		"executedVersion": aws.ToString(out.ExecutedVersion),
	}}
	if out.FunctionError != nil {
		ferr := functionError(aws.ToString(out.FunctionError), out.Payload)
		log.Error("function failed", "function", fn, "errorType", strings.TrimPrefix(ferr.Type, typeFunctionError+":"), "errorMessage", ferr.Message)
		// The outputs go along so that errors tasks can read the payload.
		return res, ferr
	}
	return res, nil
}

// LambdaAttemptKey is the key of the attempt's Request.AttemptKey in the
// custom client context of a lambda.invoke call.
const LambdaAttemptKey = "relayAttemptKey"

// lambdaPayload is the event as JSON: a string that already is JSON is sent
// as it is (a rendered `{{ inputs.event }}` often is), any other value is
// encoded.
func lambdaPayload(v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		if json.Valid([]byte(x)) {
			return []byte(x), nil
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, propError("payload", "cannot be sent as JSON: %v", err)
	}
	return b, nil
}

// lambdaResponse decodes the function's response when it is JSON (it almost
// always is) and keeps it as text otherwise.
func lambdaResponse(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	if v, err := decodeJSON(b); err == nil {
		return v
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// functionError turns the error document a runtime returns for a failed
// invocation ({"errorType", "errorMessage", "stackTrace"}) into an error.
// Retryable: a function's own failure is often transient (a dependency down),
// and the retry policy is the user's to set.
func functionError(header string, payload []byte) *Error {
	var doc struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}
	_ = json.Unmarshal(payload, &doc)
	typ := doc.ErrorType
	if typ == "" {
		typ = header // "Unhandled" or "Handled"
	}
	msg := doc.ErrorMessage
	if msg == "" {
		msg = excerpt(string(payload), bodyExcerpt)
	}
	kind := KindRetryable
	if crashedRuntimeErrors[typ] {
		kind = KindCrashed // the function's process died, not its code's failure
	}
	return &Error{Kind: kind, Type: typeFunctionError + ":" + typ, Message: msg}
}

// crashedRuntimeErrors are the error types Lambda reports when the
// function's process ended under it: the invocation CRASHED.
var crashedRuntimeErrors = map[string]bool{
	"Runtime.ExitError":   true,
	"Runtime.OutOfMemory": true,
}

// fatalLambdaCodes are errors of the function's configuration that come back
// as 5xx but that no retry fixes.
var fatalLambdaCodes = map[string]bool{
	"KMSAccessDeniedException":                 true,
	"KMSDisabledException":                     true,
	"KMSInvalidStateException":                 true,
	"KMSNotFoundException":                     true,
	"InvalidRuntimeException":                  true,
	"InvalidZipFileException":                  true,
	"InvalidSecurityGroupIDException":          true,
	"InvalidSubnetIDException":                 true,
	"EC2AccessDeniedException":                 true,
	"InvalidCodeSignatureException":            true,
	"CodeVerificationFailedException":          true,
	"RecursiveInvocationException":             true,
	"RequestTooLargeException":                 true,
	"UnsupportedMediaTypeException":            true,
	"InvalidRequestContentException":           true,
	"InvalidParameterValueException":           true,
	"SerializedRequestEntityTooLargeException": true,
	"ResourceNotFoundException":                true,
	"AccessDeniedException":                    true,
	"UnrecognizedClientException":              true,
	"InvalidSignatureException":                true,
	"ValidationException":                      true,
}

// classifyLambdaError: throttling, 5xx and a function that is being updated
// (409 ResourceConflictException) are retryable; a missing function, denied
// access and invalid requests (other 4xx) are fatal.
func classifyLambdaError(ctx context.Context, fn string, err error) *Error {
	if terr := ctxError(ctx, "invoking "+fn, err); terr != nil {
		return terr
	}
	code, msg := "", ""
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code, msg = apiErr.ErrorCode(), apiErr.ErrorMessage()
	}
	status := 0
	var se interface{ HTTPStatusCode() int }
	if errors.As(err, &se) {
		status = se.HTTPStatusCode()
	}
	kind := KindRetryable
	switch {
	case fatalLambdaCodes[code]:
		kind = KindFatal
	case status == 429 || status == 409 || status >= 500:
		kind = KindRetryable
	case status >= 400:
		kind = KindFatal
	}
	typ := code
	if typ == "" {
		typ = typeLambdaInvoke
	}
	if msg == "" {
		msg = err.Error()
	}
	return &Error{Kind: kind, Type: typ, Message: fmt.Sprintf("invoking %s: %s", fn, msg), Err: err}
}
