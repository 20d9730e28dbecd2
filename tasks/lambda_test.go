package tasks

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/relayflow/relay/internal/testnet"
	"github.com/relayflow/relay/statemachine/flow"
)

// invocation is what the fake Lambda service received.
type invocation struct {
	Function, Qualifier, InvocationType, Payload string
	Signed                                       bool
	// AttemptKey is the client context's custom relayAttemptKey.
	AttemptKey string
}

// fakeLambda speaks the Lambda Invoke REST API
// (POST /2015-03-31/functions/{FunctionName}/invocations) with a few
// functions:
//   - echo: answers {"event": <payload>}, executed version = qualifier or $LATEST
//   - text: answers a body that is not JSON
//   - fails: a function error, as the runtimes report it
//   - slow: answers after 10 s
//   - throttled, denied: service errors (429, 403)
//   - anything else: 404 ResourceNotFoundException
type fakeLambda struct {
	*httptest.Server
	mu   sync.Mutex
	seen []invocation
}

func newFakeLambda(t *testing.T) *fakeLambda {
	t.Helper()
	f := &fakeLambda{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2015-03-31/functions/{name}/invocations", f.invoke)
	f.Server = testnet.Server(t, mux)
	t.Cleanup(f.Close)
	return f
}

func serviceError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.Header().Set("X-Amzn-RequestId", "req-1")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"Type": "User", "Message": msg})
}

func (f *fakeLambda) invoke(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	inv := invocation{
		Function:       r.PathValue("name"),
		Qualifier:      r.URL.Query().Get("Qualifier"),
		InvocationType: r.Header.Get("X-Amz-Invocation-Type"),
		Payload:        string(body),
		Signed:         strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 "),
	}
	if cc, err := base64.StdEncoding.DecodeString(r.Header.Get("X-Amz-Client-Context")); err == nil {
		var doc struct{ Custom map[string]string }
		_ = json.Unmarshal(cc, &doc)
		inv.AttemptKey = doc.Custom[LambdaAttemptKey]
	}
	f.mu.Lock()
	f.seen = append(f.seen, inv)
	f.mu.Unlock()

	version := inv.Qualifier
	if version == "" {
		version = "$LATEST"
	}
	w.Header().Set("X-Amzn-RequestId", "req-1")
	switch inv.Function {
	case "echo", "arn:aws:lambda:us-east-1:123456789012:function:echo":
		w.Header().Set("X-Amz-Executed-Version", version)
		var event any = nil
		if len(body) > 0 {
			event = json.RawMessage(body)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"event": event})
	case "text":
		w.Header().Set("X-Amz-Executed-Version", version)
		_, _ = io.WriteString(w, "plain words")
	case "fails":
		w.Header().Set("X-Amz-Executed-Version", version)
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		_, _ = io.WriteString(w, `{"errorType":"ValueError","errorMessage":"order 42 has no lines","stackTrace":["  File \"/var/task/app.py\", line 3"]}`)
	case "oom":
		w.Header().Set("X-Amz-Executed-Version", version)
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		_, _ = io.WriteString(w, `{"errorType":"Runtime.OutOfMemory","errorMessage":"RequestId: 1 Error: Runtime exited with error: signal: killed"}`)
	case "slow":
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	case "throttled":
		serviceError(w, http.StatusTooManyRequests, "TooManyRequestsException", "Rate exceeded")
	case "denied":
		serviceError(w, http.StatusForbidden, "AccessDeniedException", "not authorized to perform lambda:InvokeFunction")
	default:
		serviceError(w, http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+inv.Function)
	}
}

func (f *fakeLambda) invocations() []invocation {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]invocation(nil), f.seen...)
}

// client is a real SDK client pointed at the fake, with static credentials
// and without SDK retries, so that each attempt is one call.
func (f *fakeLambda) client() *lambda.Client {
	return lambda.New(lambda.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(f.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		HTTPClient:       f.Client(),
		RetryMaxAttempts: 1,
	})
}

func TestLambdaInvoke(t *testing.T) {
	fake := newFakeLambda(t)
	run := NewLambda(fake.client())
	tests := []struct {
		name        string
		props       map[string]any
		wantSent    invocation
		wantOutputs map[string]any
	}{
		{
			name:        "JSON payload",
			props:       map[string]any{"function": "echo", "payload": map[string]any{"orderId": int64(42), "lines": []any{"a"}}},
			wantSent:    invocation{Function: "echo", Payload: `{"lines":["a"],"orderId":42}`},
			wantOutputs: map[string]any{"statusCode": int64(200), "executedVersion": "$LATEST", "payload": map[string]any{"event": map[string]any{"lines": []any{"a"}, "orderId": int64(42)}}},
		},
		{
			name:        "qualifier and ARN",
			props:       map[string]any{"function": "arn:aws:lambda:us-east-1:123456789012:function:echo", "qualifier": "live", "payload": `{"already":"json"}`},
			wantSent:    invocation{Function: "arn:aws:lambda:us-east-1:123456789012:function:echo", Qualifier: "live", Payload: `{"already":"json"}`},
			wantOutputs: map[string]any{"statusCode": int64(200), "executedVersion": "live", "payload": map[string]any{"event": map[string]any{"already": "json"}}},
		},
		{
			name:        "text payload is JSON-encoded",
			props:       map[string]any{"function": "echo", "payload": "hello"},
			wantSent:    invocation{Function: "echo", Payload: `"hello"`},
			wantOutputs: map[string]any{"statusCode": int64(200), "executedVersion": "$LATEST", "payload": map[string]any{"event": "hello"}},
		},
		{
			name:        "no payload",
			props:       map[string]any{"function": "echo"},
			wantSent:    invocation{Function: "echo"},
			wantOutputs: map[string]any{"statusCode": int64(200), "executedVersion": "$LATEST", "payload": map[string]any{"event": nil}},
		},
		{
			name:        "response that is not JSON",
			props:       map[string]any{"function": "text"},
			wantSent:    invocation{Function: "text"},
			wantOutputs: map[string]any{"statusCode": int64(200), "executedVersion": "$LATEST", "payload": "plain words"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(fake.invocations())
			res, err := run.Run(context.Background(), newRequest(flow.TypeLambdaInvoke, tt.props))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.Outputs, tt.wantOutputs) {
				t.Errorf("outputs %#v, want %#v", res.Outputs, tt.wantOutputs)
			}
			seen := fake.invocations()[before:]
			if len(seen) != 1 {
				t.Fatalf("%d invocations", len(seen))
			}
			want := tt.wantSent
			want.InvocationType, want.Signed = "RequestResponse", true
			want.AttemptKey = "exec-1/tr-1/1" // the attempt's key, in the client context
			if seen[0] != want {
				t.Errorf("sent %+v, want %+v", seen[0], want)
			}
		})
	}
}

func TestLambdaInvokeFailures(t *testing.T) {
	fake := newFakeLambda(t)
	run := NewLambda(fake.client())
	tests := []struct {
		name     string
		props    map[string]any
		kind     Kind
		typ      string
		contains string
		outputs  bool
	}{
		{"function error", map[string]any{"function": "fails"}, KindRetryable, "FunctionError:ValueError", "order 42 has no lines", true},
		{"function's process died: crashed", map[string]any{"function": "oom"}, KindCrashed, "FunctionError:Runtime.OutOfMemory", "signal: killed", true},
		{"function not found", map[string]any{"function": "missing"}, KindFatal, "ResourceNotFoundException", "Function not found: missing", false},
		{"access denied", map[string]any{"function": "denied"}, KindFatal, "AccessDeniedException", "not authorized", false},
		{"throttled", map[string]any{"function": "throttled"}, KindRetryable, "TooManyRequestsException", "Rate exceeded", false},
		{"missing function property", map[string]any{}, KindFatal, typeInvalidProperty, "property function", false},
		{"payload that is not JSON-able", map[string]any{"function": "echo", "payload": map[string]any{"x": func() {}}}, KindFatal, typeInvalidProperty, "property payload", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder()
			req := newRequest(flow.TypeLambdaInvoke, tt.props)
			req.Log = rec.Logger()
			res, err := run.Run(context.Background(), req)
			te := wantTaskError(t, err, tt.kind, tt.typ)
			if !strings.Contains(te.Message, tt.contains) {
				t.Errorf("message %q does not contain %q", te.Message, tt.contains)
			}
			if got := res.Outputs != nil; got != tt.outputs {
				t.Errorf("outputs returned = %v, want %v", got, tt.outputs)
			}
		})
	}

	t.Run("function error payload is in the outputs and the log", func(t *testing.T) {
		rec := newRecorder()
		req := newRequest(flow.TypeLambdaInvoke, map[string]any{"function": "fails"})
		req.Log = rec.Logger()
		res, _ := run.Run(context.Background(), req)
		if p, _ := res.Outputs["payload"].(map[string]any); p["errorType"] != "ValueError" {
			t.Errorf("outputs %v", res.Outputs)
		}
		logged := rec.WithMsg("function failed")
		if len(logged) != 1 || logged[0].Attrs["errorType"] != "ValueError" {
			t.Errorf("logged %v", rec.All())
		}
	})

	t.Run("deadline is a timeout", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := run.Run(ctx, newRequest(flow.TypeLambdaInvoke, map[string]any{"function": "slow"}))
		wantTaskError(t, err, KindTimeout, typeTimeout)
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("returned after %v", d)
		}
	})
}

// isolateAWSConfig keeps the developer's own AWS files and instance role out
// of the default-configuration tests.
func isolateAWSConfig(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LAMBDA"} {
		t.Setenv(k, "")
	}
}

func TestLambdaDefaultConfig(t *testing.T) {
	t.Run("built lazily from the environment, AWS_ENDPOINT_URL honoured", func(t *testing.T) {
		fake := newFakeLambda(t)
		isolateAWSConfig(t)
		t.Setenv("AWS_ENDPOINT_URL", fake.URL)
		t.Setenv("AWS_REGION", "eu-west-1")
		t.Setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
		reg, err := Builtin(Config{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := reg.Run(context.Background(), newRequest(flow.TypeLambdaInvoke, map[string]any{"function": "echo", "payload": map[string]any{"a": int64(1)}}))
		if err != nil {
			t.Fatal(err)
		}
		if res.Outputs["statusCode"] != int64(200) || len(fake.invocations()) != 1 {
			t.Errorf("outputs %v, invocations %v", res.Outputs, fake.invocations())
		}
	})
	t.Run("no region is fatal", func(t *testing.T) {
		isolateAWSConfig(t)
		_, err := NewLambda(nil).Run(context.Background(), newRequest(flow.TypeLambdaInvoke, map[string]any{"function": "echo"}))
		te := wantTaskError(t, err, KindFatal, typeAWSConfig)
		if !strings.Contains(te.Message, "AWS_REGION") {
			t.Errorf("message %q", te.Message)
		}
	})
}
