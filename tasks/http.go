package tasks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/relayflow/relay/statemachine/expr"
)

// Error types of http.request.
const (
	typeHTTPStatus   = "HTTPStatus"
	typeHTTPBody     = "HTTPBodyTooLarge"
	typeHTTPTransfer = "HTTPTransport"
)

// bodyExcerpt is how much of a failed response's body goes into the error
// message: enough to show an API's error text, not a whole page.
const bodyExcerpt = 256

// defaultHTTPClient bounds each step of a connection but not the whole
// exchange: an API may take minutes to answer, and the attempt deadline (the
// task's timeout) is what bounds a call as a whole.
func defaultHTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   10,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
			ResponseHeaderTimeout: 5 * time.Minute,
		},
	}
}

// NewHTTP returns the runner of http.request. client nil means the default
// client; maxBody <= 0 means DefaultMaxHTTPBody. Response bodies are read into
// memory as outputs, hence the limit.
func NewHTTP(client *http.Client, maxBody int64) Runner {
	if client == nil {
		client = defaultHTTPClient()
	}
	if maxBody <= 0 {
		maxBody = DefaultMaxHTTPBody
	}
	h := &httpRunner{client: client, maxBody: maxBody}
	return RunnerFunc(h.run)
}

type httpRunner struct {
	client  *http.Client
	maxBody int64
}

func (h *httpRunner) run(ctx context.Context, req Request) (Result, error) {
	hreq, allowFailed, err := buildHTTPRequest(ctx, req.Props)
	if err != nil {
		return Result{}, err
	}
	target := redactURL(hreq.URL)
	logger(req).Debug("sending HTTP request", "method", hreq.Method, "url", target)

	resp, err := h.client.Do(hreq)
	if err != nil {
		if terr := ctxError(ctx, "waiting for the response of "+hreq.Method+" "+target, err); terr != nil {
			return Result{}, terr
		}
		return Result{}, &Error{Kind: KindRetryable, Type: typeHTTPTransfer, Message: fmt.Sprintf("sending %s %s", hreq.Method, target), Err: unwrapURLError(err)}
	}
	defer func() { _ = resp.Body.Close() }()

	// A failed call whose body is over the limit is still a status error: a
	// large error page must not turn a retryable 503 into a fatal size error.
	failed := resp.StatusCode >= 400 && !allowFailed
	if resp.ContentLength > h.maxBody {
		if failed {
			head, _ := io.ReadAll(io.LimitReader(resp.Body, bodyExcerpt*4))
			return Result{}, statusError(hreq.Method, target, resp, head)
		}
		return Result{}, fatalf(typeHTTPBody, "response of %s %s is %d bytes, over the limit of %d bytes", hreq.Method, target, resp.ContentLength, h.maxBody)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, h.maxBody+1))
	switch {
	case err != nil && failed:
		return Result{}, statusError(hreq.Method, target, resp, raw)
	case err != nil:
		if terr := ctxError(ctx, "reading the response of "+hreq.Method+" "+target, err); terr != nil {
			return Result{}, terr
		}
		return Result{}, &Error{Kind: KindRetryable, Type: typeHTTPTransfer, Message: fmt.Sprintf("reading the response of %s %s", hreq.Method, target), Err: err}
	case int64(len(raw)) > h.maxBody && failed:
		return Result{}, statusError(hreq.Method, target, resp, raw)
	case int64(len(raw)) > h.maxBody:
		return Result{}, fatalf(typeHTTPBody, "response of %s %s is over the limit of %d bytes", hreq.Method, target, h.maxBody)
	}

	body := responseBody(resp.Header.Get("Content-Type"), raw, logger(req))
	res := Result{Outputs: map[string]any{
		"code":    int64(resp.StatusCode),
		"headers": responseHeaders(resp.Header),
		"body":    body,
	}}
	logger(req).Debug("received HTTP response", "method", hreq.Method, "url", target, "status", resp.StatusCode, "bytes", len(raw))
	if resp.StatusCode < 400 || allowFailed {
		return res, nil
	}
	// The outputs go along with the error so that errors tasks can read the
	// response of the failed call.
	return res, statusError(hreq.Method, target, resp, raw)
}

// statusError fails a call that got a 4xx or 5xx: 5xx, 408 and 429 are
// retryable, other 4xx fatal (the same request would be refused again).
func statusError(method, target string, resp *http.Response, raw []byte) *Error {
	kind := KindFatal
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests {
		kind = KindRetryable
	}
	msg := fmt.Sprintf("%s %s: status %s", method, target, resp.Status)
	if ex := excerpt(string(raw), bodyExcerpt); ex != "" {
		msg += ": " + ex
	}
	return &Error{Kind: kind, Type: typeHTTPStatus, Message: msg}
}

// buildHTTPRequest turns the properties into a request; every problem is a
// fatal error naming the property.
func buildHTTPRequest(ctx context.Context, props map[string]any) (*http.Request, bool, error) {
	uri, err := reqString(props, "uri")
	if err != nil {
		return nil, false, err
	}
	u, err := url.Parse(uri)
	if err != nil {
		return nil, false, propError("uri", "%v", unwrapURLError(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, false, propError("uri", "scheme must be http or https, got %q", u.Scheme)
	}
	if u.Host == "" {
		return nil, false, propError("uri", "has no host")
	}
	method, err := optString(props, "method")
	if err != nil {
		return nil, false, err
	}
	method = strings.ToUpper(method)
	if method == "" {
		method = http.MethodGet
	}
	headers, err := optStringMap(props, "headers")
	if err != nil {
		return nil, false, err
	}
	contentType, err := optString(props, "contentType")
	if err != nil {
		return nil, false, err
	}
	allowFailed, err := optBool(props, "allowFailed", false)
	if err != nil {
		return nil, false, err
	}

	var body io.Reader
	var bodyType string
	switch {
	case props["body"] != nil && props["formData"] != nil:
		return nil, false, propError("formData", "cannot be given together with body")
	case props["formData"] != nil:
		form, err := formValues(props["formData"])
		if err != nil {
			return nil, false, err
		}
		body, bodyType = strings.NewReader(form.Encode()), "application/x-www-form-urlencoded"
	case props["body"] != nil:
		if s, ok := props["body"].(string); ok {
			body = strings.NewReader(s)
		} else {
			b, err := json.Marshal(props["body"])
			if err != nil {
				return nil, false, propError("body", "cannot be sent as JSON: %v", err)
			}
			body, bodyType = bytes.NewReader(b), "application/json"
		}
	}

	hreq, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, false, propError("method", "%v", err)
	}
	for k, v := range headers {
		if k == "" {
			return nil, false, propError("headers", "a header name is empty")
		}
		if strings.EqualFold(k, "Host") {
			hreq.Host = v
			continue
		}
		hreq.Header.Set(k, v)
	}
	switch {
	case contentType != "":
		hreq.Header.Set("Content-Type", contentType)
	case bodyType != "" && hreq.Header.Get("Content-Type") == "":
		hreq.Header.Set("Content-Type", bodyType)
	}
	if hreq.Header.Get("User-Agent") == "" {
		hreq.Header.Set("User-Agent", "relay")
	}
	return hreq, allowFailed, nil
}

// formValues encodes formData; a list value repeats its field.
func formValues(v any) (url.Values, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, propError("formData", "want a map, got %s", kindOf(v))
	}
	form := url.Values{}
	for k, e := range m {
		items, isList := e.([]any)
		if !isList {
			items = []any{e}
		}
		for _, item := range items {
			if item != nil && !isScalar(item) {
				return nil, propError("formData", "field %q: want a string or a list of strings, got %s", k, kindOf(item))
			}
			form.Add(k, expr.Stringify(item))
		}
	}
	return form, nil
}

// responseHeaders flattens repeated headers the way HTTP allows combining
// them, keyed by canonical name.
func responseHeaders(h http.Header) map[string]any {
	out := make(map[string]any, len(h))
	for k, vs := range h {
		out[http.CanonicalHeaderKey(k)] = strings.Join(vs, ", ")
	}
	return out
}

// responseBody decodes a JSON response so that later tasks can read its
// fields; a body that claims to be JSON but is not stays text, with a warning.
func responseBody(contentType string, raw []byte, log *slog.Logger) any {
	if isJSONType(contentType) && len(bytes.TrimSpace(raw)) > 0 {
		v, err := decodeJSON(raw)
		if err == nil {
			return v
		}
		log.Warn("response body is not valid JSON; kept as text", "contentType", contentType, "error", err.Error())
	}
	return strings.ToValidUTF8(string(raw), "\uFFFD")
}

// isJSONType recognises application/json and the +json types
// (application/problem+json...).
func isJSONType(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// redactURL is the URL for messages and logs: no credentials, no query
// (API keys often travel there).
func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	c.RawQuery = ""
	c.ForceQuery = false
	c.Fragment = ""
	return c.String()
}

// unwrapURLError drops *url.Error's "Get \"http://...\":" prefix, which would
// repeat the full URL (query included) in messages.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
