package lambdaruntime

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rig is a server with a client speaking the Runtime API over plain HTTP,
// as a runtime does, and a record of the Freeze and Thaw calls.
type rig struct {
	t    *testing.T
	s    *Server
	base string

	mu     sync.Mutex
	events []string      // "freeze", "thaw"
	frozen chan struct{} // receives at each freeze
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{t: t, frozen: make(chan struct{}, 16)}
	s, err := NewServer(Config{
		FunctionName: "relay-test",
		Region:       "eu-west-1",
		Freeze: func() {
			r.mu.Lock()
			r.events = append(r.events, "freeze")
			r.mu.Unlock()
			r.frozen <- struct{}{}
		},
		Thaw: func() {
			r.mu.Lock()
			r.events = append(r.events, "thaw")
			r.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r.s, r.base = s, "http://"+s.Addr()+"/"+APIVersion+"/runtime"
	return r
}

// invoke starts an invocation and returns where its outcome will arrive.
func (r *rig) invoke(payload string, deadline time.Time) <-chan outcome {
	out := make(chan outcome, 1)
	go func() {
		res, err := r.s.Invoke(context.Background(), []byte(payload), deadline)
		out <- outcome{res, err}
	}()
	return out
}

// next asks for the next invocation, as a runtime does.
func (r *rig) next() (*http.Response, string) {
	r.t.Helper()
	res, body, err := r.tryNext()
	if err != nil {
		r.t.Fatalf("GET next: %v", err)
	}
	return res, body
}

// tryNext is next for other goroutines than the test's.
func (r *rig) tryNext() (*http.Response, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/invocation/next", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res, string(b), err
}

// post posts body to path (after /runtime) and returns the status and
// the errorType of the answer.
func (r *rig) post(path, body string, header ...string) (int, string) {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatalf("POST %s: %v", path, err)
	}
	defer res.Body.Close()
	var fe FunctionError
	json.NewDecoder(res.Body).Decode(&fe)
	return res.StatusCode, fe.Type
}

func (r *rig) wait(c <-chan outcome) outcome {
	r.t.Helper()
	select {
	case o := <-c:
		return o
	case <-time.After(5 * time.Second):
		r.t.Fatal("Invoke did not return within 5s")
		return outcome{}
	}
}

func (r *rig) wantViolations(n int) {
	r.t.Helper()
	if v := r.s.Violations(); len(v) != n {
		r.t.Errorf("violations = %v, want %d", v, n)
	}
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestServer(t *testing.T) {
	soon := func() time.Time { return time.Now().Add(5 * time.Second) }
	tests := []struct {
		name string
		run  func(t *testing.T, r *rig)
	}{
		{"next hands over the invocation with Lambda's headers and a response ends it", func(t *testing.T, r *rig) {
			deadline := soon()
			c := r.invoke(`{"hello":"world"}`, deadline)
			res, body := r.next()
			h := res.Header
			id := h.Get(HeaderRequestID)
			if res.StatusCode != http.StatusOK || body != `{"hello":"world"}` {
				t.Fatalf("next = %d %q", res.StatusCode, body)
			}
			if !uuidRE.MatchString(id) {
				t.Errorf("request id %q is not a UUID", id)
			}
			if ms, _ := strconv.ParseInt(h.Get(HeaderDeadlineMs), 10, 64); ms != deadline.UnixMilli() {
				t.Errorf("deadline header %q, want %d", h.Get(HeaderDeadlineMs), deadline.UnixMilli())
			}
			if got, want := h.Get(HeaderInvokedFunctionArn), "arn:aws:lambda:eu-west-1:123456789012:function:relay-test"; got != want {
				t.Errorf("function ARN %q, want %q", got, want)
			}
			if !strings.HasPrefix(h.Get(HeaderTraceID), "Root=1-") {
				t.Errorf("trace id %q", h.Get(HeaderTraceID))
			}
			if code, _ := r.post("/invocation/"+id+"/response", `"done"`); code != http.StatusAccepted {
				t.Errorf("response: %d, want 202", code)
			}
			o := r.wait(c)
			if o.err != nil || string(o.res.Payload) != `"done"` || o.res.Error != nil || o.res.RequestID != id {
				t.Errorf("Invoke = %+v, %v", o.res, o.err)
			}
			r.wantViolations(0)
		}},
		{"an error with the error-type header is a function error", func(t *testing.T, r *rig) {
			c := r.invoke(`{}`, soon())
			res, _ := r.next()
			id := res.Header.Get(HeaderRequestID)
			code, _ := r.post("/invocation/"+id+"/error", `{"errorMessage":"boom","errorType":"fatalError"}`, HeaderFunctionErrorType, "Relay.Fatal")
			if code != http.StatusAccepted {
				t.Errorf("error: %d, want 202", code)
			}
			o := r.wait(c)
			if o.err != nil || o.res.ErrorType != "Relay.Fatal" || o.res.Error == nil || o.res.Error.Message != "boom" || o.res.Error.Type != "fatalError" {
				t.Errorf("Invoke = %+v (error %+v), %v", o.res, o.res.Error, o.err)
			}
		}},
		{"without the header the error type is the body's, as aws-lambda-go sends it", func(t *testing.T, r *rig) {
			c := r.invoke(`{}`, soon())
			res, _ := r.next()
			r.post("/invocation/"+res.Header.Get(HeaderRequestID)+"/error", `{"errorMessage":"no","errorType":"errorString"}`)
			if o := r.wait(c); o.res.ErrorType != "errorString" || o.res.Error.Message != "no" {
				t.Errorf("Invoke = %+v (error %+v)", o.res, o.res.Error)
			}
		}},
		{"an unknown request id is 400 InvalidRequestID", func(t *testing.T, r *rig) {
			for _, path := range []string{"/invocation/nope/response", "/invocation/nope/error"} {
				if code, typ := r.post(path, `{}`); code != http.StatusBadRequest || typ != ErrorTypeInvalidRequestID {
					t.Errorf("%s: %d %s, want 400 %s", path, code, typ, ErrorTypeInvalidRequestID)
				}
			}
			r.wantViolations(2)
		}},
		{"a second answer is 403 InvalidStateTransition and the first stands", func(t *testing.T, r *rig) {
			c := r.invoke(`{}`, soon())
			res, _ := r.next()
			id := res.Header.Get(HeaderRequestID)
			r.post("/invocation/"+id+"/response", `1`)
			for _, path := range []string{"/response", "/error"} {
				if code, typ := r.post("/invocation/"+id+path, `2`); code != http.StatusForbidden || typ != ErrorTypeInvalidStateTransition {
					t.Errorf("second %s: %d %s, want 403 %s", path, code, typ, ErrorTypeInvalidStateTransition)
				}
			}
			if o := r.wait(c); string(o.res.Payload) != `1` {
				t.Errorf("payload %q, want the first answer", o.res.Payload)
			}
			r.wantViolations(2)
		}},
		{"next blocks, the runtime frozen, until an invocation is queued", func(t *testing.T, r *rig) {
			got := make(chan string, 1)
			go func() {
				_, body, err := r.tryNext()
				if err != nil {
					body = err.Error()
				}
				got <- body
			}()
			select {
			case <-r.frozen:
			case <-time.After(5 * time.Second):
				t.Fatal("next did not block (no freeze)")
			}
			select {
			case body := <-got:
				t.Fatalf("next returned %q with nothing queued", body)
			default:
			}
			r.invoke(`"late"`, soon())
			if body := <-got; body != `"late"` {
				t.Errorf("next = %q", body)
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			if strings.Join(r.events, ",") != "freeze,thaw" {
				t.Errorf("hooks %v, want freeze then thaw", r.events)
			}
		}},
		{"a passed deadline is ErrTimeout and a late answer a violation", func(t *testing.T, r *rig) {
			c := r.invoke(`{}`, time.Now().Add(100*time.Millisecond))
			res, _ := r.next()
			if o := r.wait(c); !errors.Is(o.err, ErrTimeout) {
				t.Fatalf("Invoke error %v, want ErrTimeout", o.err)
			}
			if code, typ := r.post("/invocation/"+res.Header.Get(HeaderRequestID)+"/response", `{}`); code != http.StatusForbidden || typ != ErrorTypeInvalidStateTransition {
				t.Errorf("late response: %d %s", code, typ)
			}
			r.wantViolations(1)
		}},
		{"an init error is kept and fails invocations", func(t *testing.T, r *rig) {
			code, _ := r.post("/init/error", `{"errorMessage":"RELAY_KAFKA_BROKERS is not set","errorType":"Runtime.ConfigError"}`, HeaderFunctionErrorType, "Runtime.InitError")
			if code != http.StatusAccepted {
				t.Fatalf("init error: %d, want 202", code)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			fe, err := r.s.WaitInitError(ctx)
			if err != nil || fe.Type != "Runtime.InitError" || fe.Message != "RELAY_KAFKA_BROKERS is not set" {
				t.Errorf("WaitInitError = %+v, %v", fe, err)
			}
			if err := r.s.Ready(ctx); !errors.Is(err, ErrInitFailed) {
				t.Errorf("Ready = %v, want ErrInitFailed", err)
			}
			if o := r.wait(r.invoke(`{}`, soon())); !errors.Is(o.err, ErrInitFailed) {
				t.Errorf("Invoke = %v, want ErrInitFailed", o.err)
			}
			if code, typ := r.post("/init/error", `{}`); code != http.StatusForbidden || typ != ErrorTypeInvalidStateTransition {
				t.Errorf("second init error: %d %s", code, typ)
			}
		}},
		{"an init error posted before ctx ended is returned whatever ctx", func(t *testing.T, r *rig) {
			r.post("/init/error", `{"errorMessage":"no brokers","errorType":"Runtime.InitError"}`)
			ctx, cancel := context.WithCancel(context.Background())
			// As when the process exits right after posting; select
			// would choose at random between the two.
			cancel()
			for range 20 {
				if fe, err := r.s.WaitInitError(ctx); err != nil || fe.Message != "no brokers" {
					t.Fatalf("WaitInitError = %+v, %v", fe, err)
				}
			}
		}},
		{"an init error after init is 403, and WaitInitError says the runtime initialized", func(t *testing.T, r *rig) {
			c := r.invoke(`{}`, soon())
			res, _ := r.next()
			r.post("/invocation/"+res.Header.Get(HeaderRequestID)+"/response", `null`)
			r.wait(c)
			if code, typ := r.post("/init/error", `{}`); code != http.StatusForbidden || typ != ErrorTypeInvalidStateTransition {
				t.Errorf("init error after init: %d %s", code, typ)
			}
			if _, err := r.s.WaitInitError(context.Background()); err == nil {
				t.Error("WaitInitError succeeded after init")
			}
			r.wantViolations(1)
		}},
		{"next without answering ends the invocation in error", func(t *testing.T, r *rig) {
			c := r.invoke(`{}`, soon())
			r.next()
			go r.tryNext() // blocks until Close; its answer does not matter
			o := r.wait(c)
			if o.err == nil || !strings.Contains(o.err.Error(), "without answering") {
				t.Errorf("Invoke = %+v, %v", o.res, o.err)
			}
			r.wantViolations(1)
		}},
		{"a response over 6 MB is 413 and a function error", func(t *testing.T, r *rig) {
			c := r.invoke(`{}`, soon())
			res, _ := r.next()
			if code, typ := r.post("/invocation/"+res.Header.Get(HeaderRequestID)+"/response", strings.Repeat("x", MaxResponse+1)); code != http.StatusRequestEntityTooLarge || typ != ErrorTypeRequestEntityTooLarge {
				t.Errorf("large response: %d %s", code, typ)
			}
			if o := r.wait(c); o.res.ErrorType != "Function.ResponseSizeTooLarge" {
				t.Errorf("Invoke = %+v, %v", o.res, o.err)
			}
		}},
		{"an invocation given up before delivery is skipped", func(t *testing.T, r *rig) {
			ctx, cancel := context.WithCancel(context.Background())
			gone := make(chan error, 1)
			// The queue takes it at once; cancelling then ends it before
			// any runtime asked for it.
			go func() {
				_, err := r.s.Invoke(ctx, []byte(`"gone"`), soon())
				gone <- err
			}()
			cancel()
			if err := <-gone; !errors.Is(err, context.Canceled) {
				t.Fatalf("Invoke = %v, want context.Canceled", err)
			}
			c := r.invoke(`"kept"`, soon())
			res, body := r.next()
			if body != `"kept"` {
				t.Fatalf("next = %q, want the live invocation", body)
			}
			r.post("/invocation/"+res.Header.Get(HeaderRequestID)+"/response", `null`)
			r.wait(c)
		}},
		{"a path outside the Runtime API is 404", func(t *testing.T, r *rig) {
			if code, typ := r.post("/extension/register", `{}`); code != http.StatusNotFound || typ != ErrorTypeNotFound {
				t.Errorf("extension register: %d %s", code, typ)
			}
			r.wantViolations(1)
		}},
		{"Close ends a blocked next with 500 and pending invocations with ErrClosed", func(t *testing.T, r *rig) {
			got := make(chan int, 1)
			go func() {
				res, _, err := r.tryNext()
				if err != nil {
					got <- 0
					return
				}
				got <- res.StatusCode
			}()
			<-r.frozen
			r.s.Close()
			if code := <-got; code != http.StatusInternalServerError {
				t.Errorf("next after Close: %d, want 500", code)
			}
			if o := r.wait(r.invoke(`{}`, soon())); !errors.Is(o.err, ErrClosed) {
				t.Errorf("Invoke after Close = %v, want ErrClosed", o.err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, newRig(t))
		})
	}
}
