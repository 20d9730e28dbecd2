package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/statemachine/inputs"
	"github.com/relayflow/relay/triggers"
)

// MaxBody is the largest request body accepted (a flow document, inputs or
// a CloudEvent); larger ones get 413. API Gateway's own limit is 10 MB and
// Lambda's 6 MB; a Kafka record's default limit is 1 MB.
const MaxBody = 512 << 10

// MaxUpload is the largest multipart/form-data body of a start with FILE
// inputs: under Lambda's 6 MB request payload (in base64). Larger files go
// through `relay run`, or an S3 bucket and s3.download.
const MaxUpload = 4 << 20

// Routes lists the HTTP API: method and path pattern, and what it does.
// docs/api.md is checked against it.
var Routes = []struct{ Pattern, Doc string }{
	{"POST /flows", "Deploy a flow: the YAML document is the body (`?file=` names it in errors). 201 with the stored revision; 400 with `diagnostics` (file, line, column, message) when it does not validate."},
	{"GET /flows", "The latest revision of every flow."},
	{"GET /flows/{namespace}/{id}", "A flow's latest revision (`?revision=N` for another), with its source."},
	{"POST /flows/validate", "Check a flow document (the body; `?file=` names it) as deploying does, storing nothing: 200 with `valid`, the `diagnostics` (file, line, column, message) and, when valid, its graph."},
	{"GET /flows/{namespace}/{id}/graph", "A flow revision (`?revision=N`, default the latest) as parsed: its tasks as a tree of blocks (what a topology draws), each subflow task holding the blocks of the flow it starts (the revision it names, else the latest; 3 levels deep at most, a `status` of `not-found`, `cycle`, `too-deep` or `too-many` when not drawn), its typed inputs (what a start form asks), its triggers and outputs."},
	{"POST /flows/{namespace}/{id}/triggers/{trigger}/disable", "Disable a trigger: deploys a new revision of the flow whose source says `disabled: true` on it. 201 with the revision."},
	{"POST /flows/{namespace}/{id}/triggers/{trigger}/enable", "Enable a disabled trigger: a new revision whose source says `disabled: false`. 201 with the revision."},
	{"POST /executions/{namespace}/{id}", "Start an execution of the flow's latest revision. Inputs as a JSON object, or as form fields; the files of FILE inputs as multipart/form-data file fields (4 MB in all at most), stored in internal storage, each input's value being its relay:/// URI; labels as `?labels=key:value` (repeatable). 201 with the execution id; 400 naming each bad input. With an `Idempotency-Key` header, the same request (inputs, labels, files by name and content) sent again within 24 hours answers 200 with the first execution (`\"replayed\": true`, header `Idempotent-Replayed: true`) and starts nothing new; the same key with another request is 422. `Relay-Execution-Id` chooses the execution's id (1 to 64 letters, digits, `.`, `_`, `-`), and makes the start idempotent on it."},
	{"GET /executions", "Executions, newest first, without task runs. Filters: `namespace`, `flowId`, `state`, `limit` (default 50); `labels=key:value` (repeatable), `after` and `before` (RFC 3339 start times), `startedBy=ID` (the subflows and flow-triggered executions another started) look at the newest limit×10 executions the others match, so such a list may come back short."},
	{"GET /executions/stream", "The list GET /executions returns for the same query, as Server-Sent Events: an `executions` event whenever it changes. 501 where responses cannot be streamed (behind API Gateway): poll GET /executions with If-None-Match there."},
	{"GET /executions/{id}", "An execution with a page of its task runs, attempts and outputs (the document of docs/execution.md): `?limit=N` task runs (default 1,000, at most 10,000) from `?cursor=` (the `nextCursor` of the page before); `?state=FAILED` keeps the runs in one state (such a page may come back short, with a cursor to go on from). `taskRunCount` and `taskRunCounts` count them all."},
	{"GET /executions/{id}/stream", "An execution as Server-Sent Events: `execution` (its head and counts, no task runs) whenever it changes, `logs` with new log lines after `?after=SEQ` (or Last-Event-ID), `end` once it ended and every line was sent. 501 where responses cannot be streamed (behind API Gateway): poll there."},
	{"GET /executions/{id}/logs", "An execution's log lines after `?after=SEQ` (default 0), in order, at most `?limit=N` (default 1,000, at most 10,000): read on from the last line's `seq` until a page comes back empty."},
	{"POST /executions/{id}/resume", "Resume a PAUSED execution; onResume inputs as a JSON object or form fields. 202; 409 when it is not paused."},
	{"POST /executions/{id}/kill", "Kill an execution that has not ended. 202; 409 when it already ended."},
	{"POST /executions/{id}/restart", "Restart a FAILED or KILLED execution in place: its failed and killed task runs run again (attempts go on), the others keep their outputs; the revision it ran. 202; 409 in any other state."},
	{"POST /executions/{id}/replay", "Replay an execution from a task (`?from=TASK`, a task run id or a task id): a new execution of the revision it ran that reuses the outputs of the task runs before it. 201 with the new execution id; 400 when there is no such task."},
	{"POST /events", "Publish a CloudEvent (HTTP binary or structured mode) to relay.events, where triggers match it. 202. With an `Idempotency-Key` header, the same event sent again within 24 hours is published again with the id it had the first time (triggers start nothing twice for one id) and the answer says `\"replayed\": true`; the same key with another event is 422."},
	{"GET /triggers", "The triggers of every flow's latest revision: type, what fires it, when it last fired and (schedules) when it fires next, and whether stopAfter stopped it."},
	{"POST /webhooks/{namespace}/{flowId}/{key}", "Start the flow of its webhook trigger with this key: the body (JSON, form fields or text) is `trigger.body`, the headers `trigger.headers`, the query parameters `trigger.parameters`. 201 with the execution id; 404, the same for a wrong key as for a flow that does not exist. Needs no API credentials: the key is the secret."},
}

// Handler serves the HTTP API on s. log may be nil.
func Handler(s *Service, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &handler{s: s, log: log}
	funcs := map[string]func(w http.ResponseWriter, r *http.Request) error{
		"POST /flows":                       h.deployFlow,
		"GET /flows":                        h.flows,
		"GET /flows/{namespace}/{id}":       flowRevision(h.s.Flow),
		"POST /flows/validate":              h.validateFlow,
		"GET /flows/{namespace}/{id}/graph": flowRevision(h.s.FlowGraph),
		"POST /flows/{namespace}/{id}/triggers/{trigger}/disable": h.toggleTrigger(true),
		"POST /flows/{namespace}/{id}/triggers/{trigger}/enable":  h.toggleTrigger(false),
		"GET /executions/stream":                                  h.executionsStream,
		"GET /executions/{id}/stream":                             h.executionStream,
		"POST /executions/{namespace}/{id}":                       h.start,
		"GET /executions":                                         h.executions,
		"GET /executions/{id}":                                    h.execution,
		"GET /executions/{id}/logs":                               h.logs,
		"POST /executions/{id}/resume":                            h.resume,
		"POST /executions/{id}/kill":                              h.kill,
		"POST /executions/{id}/restart":                           h.restart,
		"POST /executions/{id}/replay":                            h.replay,
		"POST /events":                                            h.event,
		"POST /webhooks/{namespace}/{flowId}/{key}":               h.webhook,
		"GET /triggers":                                           h.triggers,
	}
	mux := http.NewServeMux()
	for _, r := range Routes {
		f := funcs[r.Pattern]
		if f == nil {
			panic("api: no handler for route " + r.Pattern)
		}
		if strings.HasPrefix(r.Pattern, "GET ") && !strings.HasSuffix(r.Pattern, "/stream") {
			f = etagged(f)
		}
		mux.HandleFunc(r.Pattern, func(w http.ResponseWriter, req *http.Request) {
			limit := int64(MaxBody)
			if isMultipart(req) {
				limit = MaxUpload
			}
			req.Body = http.MaxBytesReader(w, req.Body, limit)
			if err := f(w, req); err != nil {
				h.fail(w, req, err)
			}
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, ErrorBody{Error: fmt.Sprintf("no route %s %s (see docs/api.md)", r.Method, r.URL.Path)})
	})
	return mux
}

type handler struct {
	s   *Service
	log *slog.Logger
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error string `json:"error"`
	// Diagnostics locate the problems of a flow that does not validate.
	Diagnostics flow.Diagnostics `json:"diagnostics,omitempty"`
	// Inputs are the problems of the inputs given to start or resume an
	// execution, one per input, so that a form shows each by its field.
	Inputs []InputProblem `json:"inputs,omitempty"`
}

// InputProblem is what is wrong with one input.
type InputProblem struct {
	ID      string `json:"id"`
	Message string `json:"message"`
}

// inputProblems collects the input errors in err's tree.
func inputProblems(err error) []InputProblem {
	var out []InputProblem
	var walk func(error)
	walk = func(err error) {
		if ie, ok := err.(*inputs.InputError); ok {
			out = append(out, InputProblem{ID: ie.ID, Message: ie.Msg})
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			if e := u.Unwrap(); e != nil {
				walk(e)
			}
		}
	}
	walk(err)
	return out
}

// status maps an error to its HTTP status.
func status(err error) int {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, errNoStreaming):
		return http.StatusNotImplemented
	case errors.Is(err, engine.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrState), errors.Is(err, engine.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, engine.ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrIdempotencyMismatch):
		return http.StatusUnprocessableEntity
	}
	return http.StatusInternalServerError
}

// logPath is the path of a request as logs show it: a webhook's key is a
// secret (it may be one of secret()), so it is shown as ******.
func logPath(r *http.Request) string {
	if key := r.PathValue("key"); key != "" && strings.HasPrefix(r.URL.Path, "/webhooks/") {
		return strings.TrimSuffix(r.URL.Path, key) + "******"
	}
	return r.URL.Path
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := status(err)
	body := ErrorBody{Error: err.Error()}
	var diags flow.Diagnostics
	var diag flow.Diagnostic
	switch {
	case errors.As(err, &diags):
		body.Diagnostics = diags
	case errors.As(err, &diag):
		body.Diagnostics = flow.Diagnostics{diag}
	}
	body.Inputs = inputProblems(err)
	if code == http.StatusInternalServerError {
		h.log.ErrorContext(r.Context(), "request failed", slog.String("method", r.Method), slog.String("path", logPath(r)), slog.Any("error", err))
		body.Error = "internal error: " + err.Error()
	}
	if code == http.StatusServiceUnavailable {
		// Kafka or DynamoDB is down or throttling: nothing was done that
		// a retry with the same Idempotency-Key would repeat.
		h.log.DebugContext(r.Context(), "request met an outage", slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("error", err))
		body.Error = "service unavailable, retry later: " + err.Error()
		w.Header().Set("Retry-After", "1")
	}
	if code == http.StatusRequestEntityTooLarge {
		var mbe *http.MaxBytesError
		errors.As(err, &mbe)
		body.Error = fmt.Sprintf("the body is larger than %d KB", mbe.Limit>>10)
	}
	writeJSON(w, code, body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to do
}

// readFlow reads a flow document from the body, and the name ?file= gives
// it in messages.
func readFlow(r *http.Request) (string, []byte, error) {
	src, err := io.ReadAll(r.Body)
	if err != nil {
		return "", nil, fmt.Errorf("reading the flow: %w", err)
	}
	file := r.URL.Query().Get("file")
	if file == "" {
		file = "flow.yaml"
	}
	return file, src, nil
}

func (h *handler) deployFlow(w http.ResponseWriter, r *http.Request) error {
	file, src, err := readFlow(r)
	if err != nil {
		return err
	}
	rec, err := h.s.DeployFlow(r.Context(), file, src)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, rec)
	return nil
}

func (h *handler) validateFlow(w http.ResponseWriter, r *http.Request) error {
	file, src, err := readFlow(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.s.ValidateFlow(file, src))
	return nil
}

// flowRevision serves what get returns for the path's flow and the
// revision ?revision= names (0: the latest).
func flowRevision[T any](get func(ctx context.Context, namespace, id string, revision int) (T, error)) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		rev, err := intParam(r, "revision", 0)
		if err != nil {
			return err
		}
		v, err := get(r.Context(), r.PathValue("namespace"), r.PathValue("id"), rev)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, v)
		return nil
	}
}

func (h *handler) toggleTrigger(disabled bool) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		rec, err := h.s.SetTriggerDisabled(r.Context(), r.PathValue("namespace"), r.PathValue("id"), r.PathValue("trigger"), disabled)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, rec)
		return nil
	}
}

func (h *handler) flows(w http.ResponseWriter, r *http.Request) error {
	list, err := h.s.Flows(r.Context())
	if err != nil {
		return err
	}
	if list == nil {
		list = []engine.FlowRecord{}
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

func intParam(r *http.Request, name string, def int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, Invalid(fmt.Errorf("?%s=%q: want a number >= 0", name, v))
	}
	return n, nil
}

func (h *handler) start(w http.ResponseWriter, r *http.Request) error {
	files, err := readFiles(r)
	if err != nil {
		return err
	}
	inputs, err := readValues(r)
	if err != nil {
		return err
	}
	labels, err := labelsParam(r.URL.Query()["labels"])
	if err != nil {
		return err
	}
	opts := StartOptions{IdempotencyKey: r.Header.Get(HeaderIdempotencyKey), ExecutionID: r.Header.Get(HeaderExecutionID), Files: files}
	st, err := h.s.StartWith(r.Context(), r.PathValue("namespace"), r.PathValue("id"), inputs, labels, opts)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/executions/"+st.ID)
	code := http.StatusCreated
	if st.Replayed {
		w.Header().Set(HeaderReplayed, "true")
		code = http.StatusOK
	}
	writeJSON(w, code, st)
	return nil
}

func isMultipart(r *http.Request) bool {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return ct == "multipart/form-data"
}

// readFiles returns the files of a multipart/form-data body, one per
// field, for FILE inputs; the fields that are not files are read by
// readValues. Parts past memory go to temporary files (net/http).
func readFiles(r *http.Request) (map[string]File, error) {
	if !isMultipart(r) {
		return nil, nil
	}
	if err := r.ParseMultipartForm(MaxBody); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, err
		}
		return nil, Invalid(fmt.Errorf("reading the form: %w", err))
	}
	files := map[string]File{}
	for name, fhs := range r.MultipartForm.File {
		if len(fhs) != 1 {
			return nil, Invalid(fmt.Errorf("input %s: %d files sent, want one", name, len(fhs)))
		}
		f, err := fhs[0].Open()
		if err != nil {
			return nil, fmt.Errorf("reading the file of input %s: %w", name, err)
		}
		files[name] = File{Filename: fhs[0].Filename, Body: f, Size: fhs[0].Size}
	}
	return files, nil
}

// readValues reads inputs from a JSON object body or from form fields (a
// field given several times is a list). An empty body is no inputs.
func readValues(r *http.Request) (map[string]any, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/x-www-form-urlencoded", "multipart/form-data":
		if err := r.ParseMultipartForm(MaxBody); err != nil && !errors.Is(err, http.ErrNotMultipart) {
			return nil, Invalid(fmt.Errorf("reading the form: %w", err))
		}
		out := map[string]any{}
		for k, vs := range r.PostForm {
			if len(vs) == 1 {
				out[k] = vs[0]
				continue
			}
			list := make([]any, len(vs))
			for i, v := range vs {
				list[i] = v
			}
			out[k] = list
		}
		return out, nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the body: %w", err)
	}
	if strings.TrimSpace(string(b)) == "" {
		return map[string]any{}, nil
	}
	out := map[string]any{}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, Invalid(fmt.Errorf("the body is not a JSON object of inputs: %w", err))
	}
	return out, nil
}

func (h *handler) executions(w http.ResponseWriter, r *http.Request) error {
	q, err := executionQuery(r)
	if err != nil {
		return err
	}
	list, err := h.s.FindExecutions(r.Context(), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

func (h *handler) execution(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, err := intParam(r, "limit", 0)
	if err != nil {
		return err
	}
	page := RunPage{Cursor: q.Get("cursor"), Limit: limit, State: statemachine.RunState(strings.ToUpper(q.Get("state")))}
	doc, err := h.s.ExecutionPage(r.Context(), r.PathValue("id"), page)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, doc)
	return nil
}

func (h *handler) logs(w http.ResponseWriter, r *http.Request) error {
	after, err := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	if err != nil && r.URL.Query().Get("after") != "" {
		return Invalid(fmt.Errorf("?after=%q: want a number", r.URL.Query().Get("after")))
	}
	limit, err := intParam(r, "limit", 0)
	if err != nil {
		return err
	}
	lines, err := h.s.Logs(r.Context(), r.PathValue("id"), after, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, lines)
	return nil
}

func (h *handler) resume(w http.ResponseWriter, r *http.Request) error {
	inputs, err := readValues(r)
	if err != nil {
		return err
	}
	if err := h.s.Resume(r.Context(), r.PathValue("id"), inputs); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"id": r.PathValue("id")})
	return nil
}

func (h *handler) kill(w http.ResponseWriter, r *http.Request) error {
	if err := h.s.Kill(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"id": r.PathValue("id")})
	return nil
}

func (h *handler) restart(w http.ResponseWriter, r *http.Request) error {
	if err := h.s.Restart(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"id": r.PathValue("id")})
	return nil
}

func (h *handler) replay(w http.ResponseWriter, r *http.Request) error {
	st, err := h.s.Replay(r.Context(), r.PathValue("id"), r.URL.Query().Get("from"))
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/executions/"+st.ID)
	writeJSON(w, http.StatusCreated, st)
	return nil
}

func (h *handler) event(w http.ResponseWriter, r *http.Request) error {
	ev, err := cehttp.NewEventFromHTTPRequest(r)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return Invalid(fmt.Errorf("the request is not a CloudEvent in binary (ce-* headers) or structured (application/cloudevents+json) mode: %w", err))
	}
	id, replayed, err := h.s.PublishEventWith(r.Context(), *ev, r.Header.Get(HeaderIdempotencyKey))
	if err != nil {
		return err
	}
	if replayed {
		w.Header().Set(HeaderReplayed, "true")
	}
	writeJSON(w, http.StatusAccepted, Published{ID: id, Replayed: replayed})
	return nil
}

// Published is the answer to POST /events.
type Published struct {
	ID       string `json:"id"`
	Replayed bool   `json:"replayed,omitempty"`
}

func (h *handler) webhook(w http.ResponseWriter, r *http.Request) error {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return fmt.Errorf("reading the webhook's body: %w", err)
	}
	var body any
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case len(raw) == 0:
	case ct == "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(raw))
		if err != nil {
			return Invalid(fmt.Errorf("the form body does not parse: %w", err))
		}
		fields := map[string]any{}
		for k, v := range form {
			fields[k] = v[len(v)-1]
		}
		body = fields
	default:
		body = triggers.DecodeData(ct, raw)
	}
	st, err := h.s.Webhook(r.Context(), r.PathValue("namespace"), r.PathValue("flowId"), r.PathValue("key"), triggers.WebhookVars(body, r.Header, r.URL.Query()))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, st)
	return nil
}

func (h *handler) triggers(w http.ResponseWriter, r *http.Request) error {
	list, err := h.s.Triggers(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}
