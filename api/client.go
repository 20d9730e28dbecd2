package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/firing"
	"github.com/relayflow/relay/statemachine/flow"
)

// Client calls Relay's HTTP API. Its methods mirror Service's and return
// the same errors (errors.Is with engine.ErrNotFound, ErrInvalid, ErrState).
type Client struct {
	base     string
	http     *http.Client
	retryFor time.Duration
	retrySet bool
}

// NewClient returns a client of the API at base (for example
// http://127.0.0.1:8080 or an API Gateway URL). hc may be nil; pass one
// whose Transport signs requests for an API behind IAM auth.
func NewClient(base string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("API URL %q: want http(s)://host[:port][/stage]", base)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{base: strings.TrimSuffix(base, "/"), http: hc}, nil
}

// Error is an error response of the API.
type Error struct {
	Status int
	ErrorBody
}

func (e *Error) Error() string {
	if len(e.Diagnostics) > 0 {
		return e.Diagnostics.Error()
	}
	return e.ErrorBody.Error
}

// Unwrap maps the status back to the error the service returned.
func (e *Error) Unwrap() []error {
	var errs []error
	switch e.Status {
	case http.StatusBadRequest:
		errs = append(errs, ErrInvalid)
	case http.StatusNotFound:
		errs = append(errs, engine.ErrNotFound)
	case http.StatusConflict:
		errs = append(errs, ErrState)
	case http.StatusUnprocessableEntity:
		errs = append(errs, ErrIdempotencyMismatch)
	case http.StatusServiceUnavailable:
		errs = append(errs, engine.ErrUnavailable)
	}
	if len(e.Diagnostics) > 0 {
		errs = append(errs, e.Diagnostics)
	}
	return errs
}

// do sends a request and decodes a JSON response into out (unless nil).
func (c *Client) do(ctx context.Context, method, path string, contentType string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building %s %s: %w", method, path, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return c.send(req, out)
}

func (c *Client) send(req *http.Request, out any) error {
	req.Header.Set("Accept", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("calling the Relay API: %w", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading the response to %s %s: %w", req.Method, req.URL.Path, err)
	}
	if res.StatusCode >= 300 {
		e := &Error{Status: res.StatusCode}
		if json.Unmarshal(b, &e.ErrorBody) != nil || e.ErrorBody.Error == "" {
			e.ErrorBody.Error = fmt.Sprintf("%s %s: %s: %s", req.Method, req.URL.Path, res.Status, strings.TrimSpace(string(b)))
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decoding the response to %s %s: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

func jsonBody(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding the request: %w", err)
	}
	return b, nil
}

// DeployFlow stores a flow document as a new revision.
func (c *Client) DeployFlow(ctx context.Context, file string, source []byte) (engine.FlowRecord, error) {
	var rec engine.FlowRecord
	err := c.do(ctx, http.MethodPost, "/flows?file="+url.QueryEscape(file), "application/yaml", source, &rec)
	return rec, err
}

// Flow returns a revision of a flow (0: the latest).
func (c *Client) Flow(ctx context.Context, namespace, id string, revision int) (engine.FlowRecord, error) {
	var rec engine.FlowRecord
	path := "/flows/" + url.PathEscape(namespace) + "/" + url.PathEscape(id)
	if revision > 0 {
		path += "?revision=" + strconv.Itoa(revision)
	}
	err := c.do(ctx, http.MethodGet, path, "", nil, &rec)
	return rec, err
}

// Flows returns the latest revision of every flow.
func (c *Client) Flows(ctx context.Context) ([]engine.FlowRecord, error) {
	var list []engine.FlowRecord
	err := c.do(ctx, http.MethodGet, "/flows", "", nil, &list)
	return list, err
}

// Start requests an execution of a flow's latest revision.
func (c *Client) Start(ctx context.Context, namespace, id string, inputs map[string]any, labels []flow.Label) (Started, error) {
	return c.StartWith(ctx, namespace, id, inputs, labels, StartOptions{})
}

// DefaultRetryFor is how long a client retries an idempotent request (one
// with a key or a chosen execution id) that met a connection error or a
// 502, 503 or 504, unless SetRetry says otherwise.
const DefaultRetryFor = time.Minute

// SetRetry sets how long idempotent requests are retried (0: not at all).
func (c *Client) SetRetry(d time.Duration) { c.retryFor, c.retrySet = d, true }

// StartWith is Start with options. The files of FILE inputs go, with the
// inputs, as multipart/form-data (inputs as form fields, so each is a
// string the service converts to its declared type); without files the
// inputs go as JSON. With an idempotency key or an execution id the
// request is retried on connection errors and on 502, 503 and 504
// answers, with backoff and jitter, for DefaultRetryFor, files and all:
// the API answers a retry with the execution the first try started.
func (c *Client) StartWith(ctx context.Context, namespace, id string, inputs map[string]any, labels []flow.Label, o StartOptions) (Started, error) {
	var st Started
	contentType, body, err := startBody(inputs, o.Files)
	if err != nil {
		return st, err
	}
	path := startPath(namespace, id, labels)
	err = c.retry(ctx, o.IdempotencyKey != "" || o.ExecutionID != "", func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("building POST %s: %w", path, err)
		}
		req.Header.Set("Content-Type", contentType)
		if o.IdempotencyKey != "" {
			req.Header.Set(HeaderIdempotencyKey, o.IdempotencyKey)
		}
		if o.ExecutionID != "" {
			req.Header.Set(HeaderExecutionID, o.ExecutionID)
		}
		return c.send(req, &st)
	})
	return st, err
}

// startPath is the path that starts an execution of namespace/id.
func startPath(namespace, id string, labels []flow.Label) string {
	q := url.Values{}
	for _, l := range labels {
		q.Add("labels", l.Key+":"+l.Value)
	}
	path := "/executions/" + url.PathEscape(namespace) + "/" + url.PathEscape(id)
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return path
}

// startBody encodes the body of a start: the inputs as JSON, or, with
// files, the inputs and the files as multipart/form-data, held in memory
// (at most MaxUpload) so that a retry sends it again.
func startBody(inputs map[string]any, files map[string]File) (string, []byte, error) {
	if len(files) == 0 {
		body, err := jsonBody(inputs)
		return "application/json", body, err
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range inputs {
		text, ok := v.(string)
		if !ok {
			b, err := json.Marshal(v)
			if err != nil {
				return "", nil, fmt.Errorf("encoding input %s: %w", k, err)
			}
			text = string(b)
		}
		if err := mw.WriteField(k, text); err != nil {
			return "", nil, err
		}
	}
	for k, f := range files {
		w, err := mw.CreateFormFile(k, f.Filename)
		if err != nil {
			return "", nil, err
		}
		if _, err := io.Copy(w, io.LimitReader(f.Body, MaxUpload+1)); err != nil {
			return "", nil, fmt.Errorf("reading the file of input %s: %w", k, err)
		}
	}
	if err := mw.Close(); err != nil {
		return "", nil, err
	}
	if buf.Len() > MaxUpload {
		return "", nil, Invalid(fmt.Errorf("the files are larger than the %d MB the API accepts: run the flow with `relay run`, or put the file in a bucket and read it with s3.download", MaxUpload>>20))
	}
	return mw.FormDataContentType(), buf.Bytes(), nil
}

// retry calls f until it succeeds, fails for a reason a retry cannot mend,
// or the retry time is spent; only when idempotent.
func (c *Client) retry(ctx context.Context, idempotent bool, f func() error) error {
	limit := DefaultRetryFor
	if c.retrySet {
		limit = c.retryFor
	}
	deadline := time.Now().Add(limit)
	wait := 100 * time.Millisecond
	for {
		err := f()
		if err == nil || !idempotent || !retriable(err) || ctx.Err() != nil {
			return err
		}
		d := wait/2 + time.Duration(rand.Int64N(int64(wait/2)+1))
		if time.Now().Add(d).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(d):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// retriable: the request may not have reached the API, or the API could
// not reach Kafka or DynamoDB: worth sending again with the same key.
func retriable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		switch e.Status {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}

// Execution returns an execution with the first page of its task runs.
func (c *Client) Execution(ctx context.Context, id string) (engine.ExecutionDoc, error) {
	return c.ExecutionPage(ctx, id, RunPage{})
}

// ExecutionPage returns an execution with a page of its task runs.
func (c *Client) ExecutionPage(ctx context.Context, id string, p RunPage) (engine.ExecutionDoc, error) {
	q := url.Values{}
	if p.Cursor != "" {
		q.Set("cursor", p.Cursor)
	}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.State != "" {
		q.Set("state", string(p.State))
	}
	path := "/executions/" + url.PathEscape(id)
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var doc engine.ExecutionDoc
	err := c.do(ctx, http.MethodGet, path, "", nil, &doc)
	return doc, err
}

// Executions lists executions, newest first.
func (c *Client) Executions(ctx context.Context, f engine.ExecutionFilter) ([]engine.ExecutionDoc, error) {
	q := url.Values{}
	for k, v := range map[string]string{"namespace": f.Namespace, "flowId": f.FlowID, "state": string(f.State)} {
		if v != "" {
			q.Set(k, v)
		}
	}
	q.Set("limit", strconv.Itoa(f.Limit))
	var list []engine.ExecutionDoc
	err := c.do(ctx, http.MethodGet, "/executions?"+q.Encode(), "", nil, &list)
	return list, err
}

// Logs returns an execution's log lines after seq after, at most limit
// (0: the API's default).
func (c *Client) Logs(ctx context.Context, id string, after int64, limit int) ([]engine.LogEntry, error) {
	path := "/executions/" + url.PathEscape(id) + "/logs?after=" + strconv.FormatInt(after, 10)
	if limit > 0 {
		path += "&limit=" + strconv.Itoa(limit)
	}
	var lines []engine.LogEntry
	err := c.do(ctx, http.MethodGet, path, "", nil, &lines)
	return lines, err
}

// Resume continues a paused execution.
func (c *Client) Resume(ctx context.Context, id string, inputs map[string]any) error {
	body, err := jsonBody(inputs)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, "/executions/"+url.PathEscape(id)+"/resume", "application/json", body, nil)
}

// Kill stops an execution.
func (c *Client) Kill(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, "/executions/"+url.PathEscape(id)+"/kill", "", nil, nil)
}

// Restart runs a FAILED or KILLED execution again, in place.
func (c *Client) Restart(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, "/executions/"+url.PathEscape(id)+"/restart", "", nil, nil)
}

// Replay starts a new execution replaying id from a task.
func (c *Client) Replay(ctx context.Context, id, from string) (Started, error) {
	var st Started
	err := c.do(ctx, http.MethodPost, "/executions/"+url.PathEscape(id)+"/replay?from="+url.QueryEscape(from), "", nil, &st)
	return st, err
}

// PublishEvent sends a CloudEvent in HTTP binary mode.
func (c *Client) PublishEvent(ctx context.Context, ev cloudevents.Event) error {
	_, err := c.PublishEventWith(ctx, ev, "")
	return err
}

// PublishEventWith sends a CloudEvent with an idempotency key (none: "").
// With a key it is retried as StartWith is. It returns the API's answer:
// the event's id (the first one's, when the key was seen before).
func (c *Client) PublishEventWith(ctx context.Context, ev cloudevents.Event, key string) (Published, error) {
	var out Published
	if err := ev.Validate(); err != nil {
		return out, Invalid(fmt.Errorf("the CloudEvent is not valid: %w", err))
	}
	err := c.retry(ctx, key != "", func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/events", nil)
		if err != nil {
			return fmt.Errorf("building POST /events: %w", err)
		}
		if err := cehttp.WriteRequest(ctx, binding.ToMessage(&ev), req); err != nil {
			return fmt.Errorf("encoding event %s for HTTP: %w", ev.ID(), err)
		}
		if key != "" {
			req.Header.Set(HeaderIdempotencyKey, key)
		}
		return c.send(req, &out)
	})
	return out, err
}

// Triggers describes the triggers of every flow's latest revision.
func (c *Client) Triggers(ctx context.Context) ([]firing.Info, error) {
	var out []firing.Info
	return out, c.do(ctx, http.MethodGet, "/triggers", "", nil, &out)
}

// ValidateFlow checks a flow document, storing nothing.
func (c *Client) ValidateFlow(ctx context.Context, file string, source []byte) (Validation, error) {
	var v Validation
	err := c.do(ctx, http.MethodPost, "/flows/validate?file="+url.QueryEscape(file), "application/yaml", source, &v)
	return v, err
}

// FlowGraph returns a revision (0: the latest) of a flow as parsed.
func (c *Client) FlowGraph(ctx context.Context, namespace, id string, revision int) (FlowGraph, error) {
	var g FlowGraph
	path := "/flows/" + url.PathEscape(namespace) + "/" + url.PathEscape(id) + "/graph"
	if revision > 0 {
		path += "?revision=" + strconv.Itoa(revision)
	}
	err := c.do(ctx, http.MethodGet, path, "", nil, &g)
	return g, err
}

// SetTriggerDisabled disables or enables a trigger with a new revision of
// its flow.
func (c *Client) SetTriggerDisabled(ctx context.Context, namespace, flowID, triggerID string, disabled bool) (engine.FlowRecord, error) {
	verb := "enable"
	if disabled {
		verb = "disable"
	}
	var rec engine.FlowRecord
	path := "/flows/" + url.PathEscape(namespace) + "/" + url.PathEscape(flowID) + "/triggers/" + url.PathEscape(triggerID) + "/" + verb
	err := c.do(ctx, http.MethodPost, path, "", nil, &rec)
	return rec, err
}

// FindExecutions lists executions with the filters of ExecutionQuery.
func (c *Client) FindExecutions(ctx context.Context, q ExecutionQuery) ([]engine.ExecutionDoc, error) {
	v := url.Values{}
	for k, s := range map[string]string{"namespace": q.Namespace, "flowId": q.FlowID, "state": string(q.State), "startedBy": q.StartedBy} {
		if s != "" {
			v.Set(k, s)
		}
	}
	for _, l := range q.Labels {
		v.Add("labels", l.Key+":"+l.Value)
	}
	if !q.After.IsZero() {
		v.Set("after", q.After.Format(time.RFC3339Nano))
	}
	if !q.Before.IsZero() {
		v.Set("before", q.Before.Format(time.RFC3339Nano))
	}
	v.Set("limit", strconv.Itoa(q.Limit))
	var list []engine.ExecutionDoc
	err := c.do(ctx, http.MethodGet, "/executions?"+v.Encode(), "", nil, &list)
	return list, err
}
