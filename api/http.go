package api

import (
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
	"github.com/relayflow/relay/triggers"
)

// MaxBody is the largest request body accepted (a flow document, inputs or
// a CloudEvent); larger ones get 413. API Gateway's own limit is 10 MB and
// Lambda's 6 MB; a Kafka record's default limit is 1 MB.
const MaxBody = 512 << 10

// Routes lists the HTTP API: method and path pattern, and what it does.
// docs/api.md is checked against it.
var Routes = []struct{ Pattern, Doc string }{
	{"POST /flows", "Deploy a flow: the YAML document is the body (`?file=` names it in errors). 201 with the stored revision; 400 with `diagnostics` (file, line, column, message) when it does not validate."},
	{"GET /flows", "The latest revision of every flow."},
	{"GET /flows/{namespace}/{id}", "A flow's latest revision (`?revision=N` for another), with its source."},
	{"POST /executions/{namespace}/{id}", "Start an execution of the flow's latest revision. Inputs as a JSON object, or as form fields; labels as `?labels=key:value` (repeatable). 201 with the execution id; 400 naming each bad input. With an `Idempotency-Key` header, the same request sent again within 24 hours answers 200 with the first execution (`\"replayed\": true`, header `Idempotent-Replayed: true`) and starts nothing new; the same key with another request is 422. `Relay-Execution-Id` chooses the execution's id (1 to 64 letters, digits, `.`, `_`, `-`), and makes the start idempotent on it."},
	{"GET /executions", "Executions, newest first, without task runs. Filters: `namespace`, `flowId`, `state`, `limit` (default 50)."},
	{"GET /executions/{id}", "An execution with a page of its task runs, attempts and outputs (the document of docs/execution.md): `?limit=N` task runs (default 1,000, at most 10,000) from `?cursor=` (the `nextCursor` of the page before); `?state=FAILED` keeps the runs in one state (such a page may come back short, with a cursor to go on from). `taskRunCount` and `taskRunCounts` count them all."},
	{"GET /executions/{id}/logs", "An execution's log lines after `?after=SEQ` (default 0), in order, at most `?limit=N` (default 1,000, at most 10,000): read on from the last line's `seq` until a page comes back empty."},
	{"POST /executions/{id}/resume", "Resume a PAUSED execution; onResume inputs as a JSON object or form fields. 202; 409 when it is not paused."},
	{"POST /executions/{id}/kill", "Kill an execution that has not ended. 202; 409 when it already ended."},
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
		"POST /flows":                               h.deployFlow,
		"GET /flows":                                h.flows,
		"GET /flows/{namespace}/{id}":               h.flow,
		"POST /executions/{namespace}/{id}":         h.start,
		"GET /executions":                           h.executions,
		"GET /executions/{id}":                      h.execution,
		"GET /executions/{id}/logs":                 h.logs,
		"POST /executions/{id}/resume":              h.resume,
		"POST /executions/{id}/kill":                h.kill,
		"POST /events":                              h.event,
		"POST /webhooks/{namespace}/{flowId}/{key}": h.webhook,
		"GET /triggers":                             h.triggers,
	}
	mux := http.NewServeMux()
	for _, r := range Routes {
		f := funcs[r.Pattern]
		if f == nil {
			panic("api: no handler for route " + r.Pattern)
		}
		mux.HandleFunc(r.Pattern, func(w http.ResponseWriter, req *http.Request) {
			req.Body = http.MaxBytesReader(w, req.Body, MaxBody)
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
}

// status maps an error to its HTTP status.
func status(err error) int {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
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
	if code == http.StatusInternalServerError {
		h.log.ErrorContext(r.Context(), "request failed", slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("error", err))
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
		body.Error = fmt.Sprintf("the body is larger than %d KB", MaxBody>>10)
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

func (h *handler) deployFlow(w http.ResponseWriter, r *http.Request) error {
	src, err := io.ReadAll(r.Body)
	if err != nil {
		return fmt.Errorf("reading the flow: %w", err)
	}
	file := r.URL.Query().Get("file")
	if file == "" {
		file = "flow.yaml"
	}
	rec, err := h.s.DeployFlow(r.Context(), file, src)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, rec)
	return nil
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

func (h *handler) flow(w http.ResponseWriter, r *http.Request) error {
	rev, err := intParam(r, "revision", 0)
	if err != nil {
		return err
	}
	rec, err := h.s.Flow(r.Context(), r.PathValue("namespace"), r.PathValue("id"), rev)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rec)
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
	inputs, err := readValues(r)
	if err != nil {
		return err
	}
	var labels []flow.Label
	for _, l := range r.URL.Query()["labels"] {
		k, v, ok := strings.Cut(l, ":")
		if !ok || k == "" {
			return Invalid(fmt.Errorf("label %q: want key:value", l))
		}
		labels = append(labels, flow.Label{Key: k, Value: v})
	}
	opts := StartOptions{IdempotencyKey: r.Header.Get(HeaderIdempotencyKey), ExecutionID: r.Header.Get(HeaderExecutionID)}
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

// readValues reads inputs from a JSON object body or from form fields (a
// field given several times is a list). An empty body is no inputs.
func readValues(r *http.Request) (map[string]any, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/x-www-form-urlencoded", "multipart/form-data":
		if err := r.ParseMultipartForm(MaxBody); err != nil && !errors.Is(err, http.ErrNotMultipart) {
			return nil, Invalid(fmt.Errorf("reading the form: %w", err))
		}
		if r.MultipartForm != nil && len(r.MultipartForm.File) > 0 {
			return nil, Invalid(errors.New("file inputs are not supported: send the content as a STRING or JSON input"))
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
	q := r.URL.Query()
	limit, err := intParam(r, "limit", 50)
	if err != nil {
		return err
	}
	f := engine.ExecutionFilter{Namespace: q.Get("namespace"), FlowID: q.Get("flowId"), State: statemachine.ExecState(strings.ToUpper(q.Get("state"))), Limit: limit}
	list, err := h.s.Executions(r.Context(), f)
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
