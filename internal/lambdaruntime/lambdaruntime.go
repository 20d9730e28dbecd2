// Package lambdaruntime serves the AWS Lambda Runtime API (version
// 2018-06-01) on 127.0.0.1, so that a test can run a built `bootstrap`
// binary as Lambda runs a custom runtime: the binary finds the API in
// AWS_LAMBDA_RUNTIME_API, asks for invocations, and posts their responses,
// errors, or its init error.
//
// A Server stands for one execution environment: one runtime process, one
// invocation at a time. It is strict where Lambda is, so that a runtime
// that breaks the protocol fails its test: an unknown request id gets 400
// InvalidRequestID, a second response to an invocation or an init error
// after init 403 InvalidStateTransition, and every such call is kept
// (Violations). It implements neither the Extensions nor the Telemetry
// API, nor response streaming, and must never be used outside tests.
package lambdaruntime

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/relayflow/relay/internal/testnet"
)

// APIVersion is the version of the Runtime API served, the first segment
// of every path.
const APIVersion = "2018-06-01"

// Headers of the Runtime API.
const (
	HeaderRequestID          = "Lambda-Runtime-Aws-Request-Id"
	HeaderDeadlineMs         = "Lambda-Runtime-Deadline-Ms"
	HeaderInvokedFunctionArn = "Lambda-Runtime-Invoked-Function-Arn"
	HeaderTraceID            = "Lambda-Runtime-Trace-Id"
	HeaderFunctionErrorType  = "Lambda-Runtime-Function-Error-Type"
	// HeaderFunctionErrorBody is the trailer aws-lambda-go sends (base64
	// JSON) when reading its response body failed half-way.
	HeaderFunctionErrorBody = "Lambda-Runtime-Function-Error-Body"
)

// Error types of the Runtime API's own answers (as Lambda names them).
const (
	ErrorTypeInvalidRequestID       = "InvalidRequestID"
	ErrorTypeInvalidStateTransition = "InvalidStateTransition"
	ErrorTypeRequestEntityTooLarge  = "RequestEntityTooLarge"
	ErrorTypeNotFound               = "NotFound"
)

// MaxResponse is the largest response payload of a synchronous invocation
// (6 MB); a larger one gets 413 and the invocation fails with
// Function.ResponseSizeTooLarge, as in Lambda.
const MaxResponse = 6 << 20

// Errors of Invoke; test with errors.Is.
var (
	// ErrTimeout: the deadline passed before the runtime answered (Lambda:
	// "Task timed out").
	ErrTimeout = errors.New("lambdaruntime: the invocation timed out")
	// ErrInitFailed: the runtime posted an init error; it takes no
	// invocation.
	ErrInitFailed = errors.New("lambdaruntime: the runtime failed to initialize")
	// ErrClosed: the server was closed.
	ErrClosed = errors.New("lambdaruntime: server closed")
)

// FunctionError is the JSON body a runtime posts to /error or
// /init/error.
type FunctionError struct {
	Type       string          `json:"errorType"`
	Message    string          `json:"errorMessage"`
	StackTrace json.RawMessage `json:"stackTrace,omitempty"`
}

func (e *FunctionError) Error() string { return e.Type + ": " + e.Message }

// Result is how an invocation ended.
type Result struct {
	RequestID string
	// Payload is the body the runtime posted: the response, or for a
	// function error the error document.
	Payload     []byte
	ContentType string
	// ErrorType is set for a function error: the
	// Lambda-Runtime-Function-Error-Type header, else the body's errorType.
	ErrorType string
	// Error is the function error's body (nil when the invocation
	// succeeded); when the body is not JSON, its Message holds the body.
	Error *FunctionError
	// Duration runs from the invocation's delivery (its /next answer) to
	// its response.
	Duration time.Duration
}

// Config describes the function the server stands for.
type Config struct {
	// FunctionName, Region and Account make the invoked function's ARN
	// (defaults: "function", "us-east-1", "123456789012").
	FunctionName, Region, Account string
	// Freeze, when set, is called when the runtime waits for an
	// invocation and none is queued, and Thaw before the next one is handed
	// to it: Lambda freezes the execution environment between invocations,
	// so work a function leaves running in the background stops until the
	// next invocation.
	Freeze, Thaw func()
}

// invocation states.
const (
	queued = iota
	inFlight
	done
)

type invocation struct {
	id        string
	payload   []byte
	deadline  time.Time
	state     int
	delivered time.Time
	// outcome receives exactly once, under Server.mu, as state becomes
	// done; buffered, so that the sender never waits.
	outcome chan outcome
}

type outcome struct {
	res Result
	err error
}

// Server is one execution environment's Runtime API.
type Server struct {
	cfg      Config
	arn      string
	listener net.Listener
	srv      *http.Server

	queue  chan *invocation
	closed chan struct{}

	mu          sync.Mutex
	invocations map[string]*invocation
	current     *invocation // in flight
	waiting     bool        // a /next is blocked
	frozen      bool
	ready       chan struct{} // closed at the first /next
	isReady     bool
	initErr     chan struct{} // closed at the init error
	initFailure *FunctionError
	violations  []error
	closeOnce   sync.Once
}

// NewServer starts a server on a free port of 127.0.0.1.
func NewServer(cfg Config) (*Server, error) {
	if cfg.FunctionName == "" {
		cfg.FunctionName = "function"
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Account == "" {
		cfg.Account = "123456789012"
	}
	l, err := testnet.ListenLow()
	if err != nil {
		return nil, fmt.Errorf("lambdaruntime: listening on 127.0.0.1: %w", err)
	}
	s := &Server{
		cfg:         cfg,
		arn:         fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", cfg.Region, cfg.Account, cfg.FunctionName),
		listener:    l,
		queue:       make(chan *invocation, 64),
		closed:      make(chan struct{}),
		invocations: map[string]*invocation{},
		ready:       make(chan struct{}),
		initErr:     make(chan struct{}),
	}
	mux := http.NewServeMux()
	base := "/" + APIVersion + "/runtime"
	mux.HandleFunc("GET "+base+"/invocation/next", s.next)
	mux.HandleFunc("POST "+base+"/invocation/{id}/response", s.response)
	mux.HandleFunc("POST "+base+"/invocation/{id}/error", s.invocationError)
	mux.HandleFunc("POST "+base+"/init/error", s.postInitError)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.violate(w, http.StatusNotFound, ErrorTypeNotFound, fmt.Sprintf("%s %s is not part of the Runtime API", r.Method, r.URL.Path))
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(l) // returns at Close
	return s, nil
}

// Addr is the value of AWS_LAMBDA_RUNTIME_API: host:port, no scheme.
func (s *Server) Addr() string { return s.listener.Addr().String() }

// FunctionARN is the ARN sent with every invocation.
func (s *Server) FunctionARN() string { return s.arn }

// Close stops the server: a blocked /next gets 500 (the runtime then
// exits, as aws-lambda-go does) and pending Invoke calls return ErrClosed.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = s.srv.Close()
	}
	return err
}

// Ready returns once the runtime asked for its first invocation: its
// initialization is over.
func (s *Server) Ready(ctx context.Context) error {
	select {
	case <-s.ready:
	case <-s.initErr:
	case <-s.closed:
	case <-ctx.Done():
	}
	// What happened first to the runtime wins over ctx and Close.
	select {
	case <-s.ready:
		return nil
	case <-s.initErr:
		return fmt.Errorf("%w: %v", ErrInitFailed, s.InitError())
	default:
	}
	if ctx.Err() != nil {
		return fmt.Errorf("waiting for the runtime's first /next: %w", ctx.Err())
	}
	return ErrClosed
}

// InitError returns the init error the runtime posted, or nil.
func (s *Server) InitError() *FunctionError {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.initFailure
}

// WaitInitError waits until the runtime posts an init error and returns
// it. It fails when the runtime asks for an invocation instead (its
// init succeeded), or when ctx ends first: a test can cancel ctx when the
// runtime process exits, since a runtime posts its init error before it
// exits.
func (s *Server) WaitInitError(ctx context.Context) (*FunctionError, error) {
	select {
	case <-s.initErr:
	case <-s.ready:
	case <-s.closed:
	case <-ctx.Done():
	}
	select {
	case <-s.initErr:
		return s.InitError(), nil
	case <-s.ready:
		return nil, errors.New("lambdaruntime: the runtime initialized (it asked for an invocation) instead of posting an init error")
	default:
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("no init error: %w", ctx.Err())
	}
	return nil, ErrClosed
}

// Violations returns the calls that broke the protocol, in order: unknown
// paths, unknown request ids, answers to invocations that were not in
// flight, init errors after init.
func (s *Server) Violations() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.violations...)
}

// Invoke queues an invocation with payload and waits for its result. The
// runtime sees deadline in Lambda-Runtime-Deadline-Ms; when it passes
// first, Invoke returns ErrTimeout (a later answer is a violation). A
// function error is a Result with Error set, not an error: err is for
// invocations that did not end (timeout, init error, closed server, ctx).
func (s *Server) Invoke(ctx context.Context, payload []byte, deadline time.Time) (Result, error) {
	inv := &invocation{id: newRequestID(), payload: bytes.Clone(payload), deadline: deadline, outcome: make(chan outcome, 1)}
	select {
	case <-s.initErr:
		return Result{RequestID: inv.id}, fmt.Errorf("%w: %v", ErrInitFailed, s.InitError())
	case <-s.closed:
		return Result{RequestID: inv.id}, ErrClosed
	default:
	}
	s.mu.Lock()
	s.invocations[inv.id] = inv
	s.mu.Unlock()
	select {
	case s.queue <- inv:
	case <-ctx.Done():
		s.end(inv, outcome{})
		return Result{RequestID: inv.id}, ctx.Err()
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	var err error
	select {
	case o := <-inv.outcome:
		return o.res, o.err
	case <-timer.C:
		err = fmt.Errorf("%w: request %s, deadline %s", ErrTimeout, inv.id, deadline.Format(time.RFC3339Nano))
	case <-s.initErr:
		err = fmt.Errorf("%w: %v", ErrInitFailed, s.InitError())
	case <-s.closed:
		err = ErrClosed
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.end(inv, outcome{res: Result{RequestID: inv.id}, err: err})
	o := <-inv.outcome // err, unless an answer came first
	return o.res, o.err
}

// end ends inv with o, unless it already ended. The caller must not hold
// s.mu.
func (s *Server) end(inv *invocation, o outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endLocked(inv, o)
}

func (s *Server) endLocked(inv *invocation, o outcome) {
	if inv.state == done {
		return
	}
	inv.state = done
	if s.current == inv {
		s.current = nil
	}
	inv.outcome <- o
}

func (s *Server) next(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.waiting {
		s.mu.Unlock()
		s.violate(w, http.StatusForbidden, ErrorTypeInvalidStateTransition, "a second /next while one is waiting: one invocation at a time")
		return
	}
	if cur := s.current; cur != nil {
		// Lambda ends an invocation the runtime left unanswered when it
		// asks for the next; here that is a broken runtime.
		err := fmt.Errorf("lambdaruntime: the runtime asked for the next invocation without answering %s", cur.id)
		s.violations = append(s.violations, err)
		s.endLocked(cur, outcome{res: Result{RequestID: cur.id}, err: err})
	}
	if !s.isReady {
		s.isReady = true
		close(s.ready)
	}
	s.waiting = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.waiting = false
		s.mu.Unlock()
	}()

	var inv *invocation
	for inv == nil {
		select {
		case inv = <-s.queue:
		default:
			s.freeze()
			select {
			case inv = <-s.queue:
			case <-s.closed:
				s.thaw()
				writeError(w, http.StatusInternalServerError, "ServiceClosed", "the Runtime API is shutting down")
				return
			case <-r.Context().Done():
				s.thaw()
				return
			}
		}
		s.thaw()
		s.mu.Lock()
		if inv.state != queued { // its Invoke gave up while it waited
			inv = nil
		} else {
			inv.state, inv.delivered, s.current = inFlight, time.Now(), inv
		}
		s.mu.Unlock()
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set(HeaderRequestID, inv.id)
	h.Set(HeaderDeadlineMs, strconv.FormatInt(inv.deadline.UnixMilli(), 10))
	h.Set(HeaderInvokedFunctionArn, s.arn)
	h.Set(HeaderTraceID, newTraceID())
	w.WriteHeader(http.StatusOK)
	w.Write(inv.payload)
}

// answer reads a /response or /error body and ends the invocation with it.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, isError bool) {
	id := r.PathValue("id")
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxResponse+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "TruncatedHTTPRequest", err.Error())
		return
	}
	s.mu.Lock()
	inv := s.invocations[id]
	switch {
	case inv == nil:
		s.mu.Unlock()
		s.violate(w, http.StatusBadRequest, ErrorTypeInvalidRequestID, fmt.Sprintf("no invocation has request id %q", id))
		return
	case inv.state != inFlight:
		s.mu.Unlock()
		what := "is not in flight"
		if inv.state == done {
			what = "already ended (answered, timed out or abandoned)"
		}
		s.violate(w, http.StatusForbidden, ErrorTypeInvalidStateTransition, fmt.Sprintf("invocation %s %s", id, what))
		return
	}
	res := Result{RequestID: id, Payload: body, ContentType: r.Header.Get("Content-Type"), Duration: time.Since(inv.delivered)}
	status, errType, errMsg := http.StatusAccepted, "", ""
	switch {
	case len(body) > MaxResponse:
		res.Payload = nil
		res.ErrorType = "Function.ResponseSizeTooLarge"
		res.Error = &FunctionError{Type: res.ErrorType, Message: fmt.Sprintf("response payload over %d bytes", MaxResponse)}
		status, errType, errMsg = http.StatusRequestEntityTooLarge, ErrorTypeRequestEntityTooLarge, res.Error.Message
	case isError:
		res.ErrorType = r.Header.Get(HeaderFunctionErrorType)
		res.Error = decodeFunctionError(body)
		if res.ErrorType == "" {
			res.ErrorType = res.Error.Type
		}
	case r.Trailer.Get(HeaderFunctionErrorType) != "":
		// The runtime's body reader failed after the headers went out.
		res.ErrorType = r.Trailer.Get(HeaderFunctionErrorType)
		res.Error = &FunctionError{Type: res.ErrorType, Message: r.Trailer.Get(HeaderFunctionErrorBody)}
	}
	s.endLocked(inv, outcome{res: res})
	s.mu.Unlock()
	if status != http.StatusAccepted {
		writeError(w, status, errType, errMsg)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "OK"})
}

func (s *Server) response(w http.ResponseWriter, r *http.Request) { s.answer(w, r, false) }

func (s *Server) invocationError(w http.ResponseWriter, r *http.Request) { s.answer(w, r, true) }

func (s *Server) postInitError(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxResponse))
	if err != nil {
		writeError(w, http.StatusBadRequest, "TruncatedHTTPRequest", err.Error())
		return
	}
	s.mu.Lock()
	if s.isReady || s.initFailure != nil {
		s.mu.Unlock()
		s.violate(w, http.StatusForbidden, ErrorTypeInvalidStateTransition, "an init error after the runtime initialized or already reported one")
		return
	}
	fe := decodeFunctionError(body)
	if t := r.Header.Get(HeaderFunctionErrorType); t != "" {
		fe.Type = t
	}
	s.initFailure = fe
	close(s.initErr)
	s.mu.Unlock()
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "OK"})
}

// decodeFunctionError reads an error document; a body that is not one is
// kept whole as the message.
func decodeFunctionError(body []byte) *FunctionError {
	var fe FunctionError
	if err := json.Unmarshal(body, &fe); err != nil || fe.Type == "" && fe.Message == "" {
		return &FunctionError{Message: string(body)}
	}
	return &fe
}

func (s *Server) freeze() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.frozen && s.cfg.Freeze != nil {
		s.frozen = true
		s.cfg.Freeze()
	}
}

func (s *Server) thaw() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.frozen {
		s.frozen = false
		s.cfg.Thaw()
	}
}

// violate records a call that broke the protocol and answers it.
func (s *Server) violate(w http.ResponseWriter, status int, errType, msg string) {
	s.mu.Lock()
	s.violations = append(s.violations, fmt.Errorf("%s (%d): %s", errType, status, msg))
	s.mu.Unlock()
	writeError(w, status, errType, msg)
}

func writeError(w http.ResponseWriter, status int, errType, msg string) {
	writeJSON(w, status, FunctionError{Type: errType, Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) // the runtime went away: nothing to do
}

// newRequestID returns a random UUID (version 4), as Lambda's request ids
// are.
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// newTraceID returns an X-Ray trace header as Lambda sends it.
func newTraceID() string {
	var root [12]byte
	var parent [8]byte
	rand.Read(root[:])
	rand.Read(parent[:])
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0", time.Now().Unix(), hex.EncodeToString(root[:]), hex.EncodeToString(parent[:]))
}
