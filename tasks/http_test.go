package tasks

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relayflow/relay/internal/testnet"
	"github.com/relayflow/relay/statemachine/flow"
)

// echoServer answers what it received, as JSON, and serves a few fixed
// responses by path.
func echoServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"method":      r.Method,
			"contentType": r.Header.Get("Content-Type"),
			"token":       r.Header.Get("X-Token"),
			"body":        string(body),
			"query":       r.URL.RawQuery,
			"count":       3,
			"ratio":       0.5,
		})
	})
	mux.HandleFunc("/form", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"contentType": r.Header.Get("Content-Type"), "form": r.PostForm})
	})
	mux.HandleFunc("/text", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "plain text\n")
	})
	mux.HandleFunc("/not-json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{oops")
	})
	mux.HandleFunc("/problem", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = io.WriteString(w, `{"title":"invalid order","status":422}`)
	})
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.PathValue("code"))
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(code)
		n := 300
		if r.URL.Query().Get("big") != "" {
			n = 5000
		}
		_, _ = io.WriteString(w, "upstream says "+http.StatusText(code)+strings.Repeat(".", n))
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		_, _ = w.Write([]byte(strings.Repeat("x", n)))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	srv := testnet.Server(t, mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTPRequest(t *testing.T) {
	srv := echoServer(t)
	run := NewHTTP(srv.Client(), 1024)
	tests := []struct {
		name  string
		props map[string]any
		check func(t *testing.T, out map[string]any)
	}{
		{
			name:  "GET with JSON response",
			props: map[string]any{"uri": srv.URL + "/echo?q=1", "headers": map[string]any{"X-Token": "s3cret"}},
			check: func(t *testing.T, out map[string]any) {
				body := out["body"].(map[string]any)
				want := map[string]any{"method": "GET", "contentType": "", "token": "s3cret", "body": "", "query": "q=1", "count": int64(3), "ratio": 0.5}
				if !reflect.DeepEqual(body, want) {
					t.Errorf("body %#v, want %#v", body, want)
				}
				if out["code"] != int64(200) {
					t.Errorf("code %#v", out["code"])
				}
				h := out["headers"].(map[string]any)
				if h["X-Multi"] != "a, b" || !strings.HasPrefix(h["Content-Type"].(string), "application/json") {
					t.Errorf("headers %v", h)
				}
			},
		},
		{
			name:  "text response",
			props: map[string]any{"uri": srv.URL + "/text"},
			check: func(t *testing.T, out map[string]any) {
				if out["body"] != "plain text\n" {
					t.Errorf("body %#v", out["body"])
				}
			},
		},
		{
			name:  "string body sent as is",
			props: map[string]any{"uri": srv.URL + "/echo", "method": "post", "body": "raw <data>"},
			check: func(t *testing.T, out map[string]any) {
				body := out["body"].(map[string]any)
				if body["method"] != "POST" || body["body"] != "raw <data>" || body["contentType"] != "" {
					t.Errorf("server got %v", body)
				}
			},
		},
		{
			name:  "value body sent as JSON",
			props: map[string]any{"uri": srv.URL + "/echo", "method": "PUT", "body": map[string]any{"id": int64(7), "tags": []any{"a"}}},
			check: func(t *testing.T, out map[string]any) {
				body := out["body"].(map[string]any)
				if body["method"] != "PUT" || body["body"] != `{"id":7,"tags":["a"]}` || body["contentType"] != "application/json" {
					t.Errorf("server got %v", body)
				}
			},
		},
		{
			name:  "contentType wins",
			props: map[string]any{"uri": srv.URL + "/echo", "method": "POST", "body": map[string]any{"a": true}, "contentType": "application/vnd.acme+json"},
			check: func(t *testing.T, out map[string]any) {
				if ct := out["body"].(map[string]any)["contentType"]; ct != "application/vnd.acme+json" {
					t.Errorf("content type %v", ct)
				}
			},
		},
		{
			name:  "form data",
			props: map[string]any{"uri": srv.URL + "/form", "method": "POST", "formData": map[string]any{"name": "Ada Lovelace", "n": int64(2), "tag": []any{"x", "y"}}},
			check: func(t *testing.T, out map[string]any) {
				body := out["body"].(map[string]any)
				want := map[string]any{"name": []any{"Ada Lovelace"}, "n": []any{"2"}, "tag": []any{"x", "y"}}
				if body["contentType"] != "application/x-www-form-urlencoded" || !reflect.DeepEqual(body["form"], want) {
					t.Errorf("server got %v", body)
				}
			},
		},
		{
			name:  "invalid JSON kept as text",
			props: map[string]any{"uri": srv.URL + "/not-json"},
			check: func(t *testing.T, out map[string]any) {
				if out["body"] != "{oops" {
					t.Errorf("body %#v", out["body"])
				}
			},
		},
		{
			name:  "4xx allowed with allowFailed, +json decoded",
			props: map[string]any{"uri": srv.URL + "/problem", "allowFailed": true},
			check: func(t *testing.T, out map[string]any) {
				if out["code"] != int64(422) || out["body"].(map[string]any)["title"] != "invalid order" {
					t.Errorf("outputs %v", out)
				}
			},
		},
		{
			name:  "body at the limit",
			props: map[string]any{"uri": srv.URL + "/big?n=1024"},
			check: func(t *testing.T, out map[string]any) {
				if len(out["body"].(string)) != 1024 {
					t.Errorf("body of %d bytes", len(out["body"].(string)))
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder()
			req := newRequest(flow.TypeHTTPRequest, tt.props)
			req.Log = rec.Logger()
			res, err := run.Run(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, res.Outputs)
			warned := len(rec.WithMsg("response body is not valid JSON; kept as text")) > 0
			if want := tt.name == "invalid JSON kept as text"; warned != want {
				t.Errorf("warning logged = %v, want %v", warned, want)
			}
		})
	}
}

func TestHTTPRequestFailures(t *testing.T) {
	srv := echoServer(t)
	closed := testnet.Server(t, http.NotFoundHandler())
	closed.Close()
	run := NewHTTP(srv.Client(), 1024)
	tests := []struct {
		name     string
		props    map[string]any
		kind     Kind
		typ      string
		contains []string
		outputs  bool // the response's outputs come along with the error
	}{
		{"404 is fatal", map[string]any{"uri": srv.URL + "/status/404"}, KindFatal, typeHTTPStatus, []string{"404 Not Found", "upstream says Not Found"}, true},
		{"400 is fatal", map[string]any{"uri": srv.URL + "/status/400"}, KindFatal, typeHTTPStatus, []string{"400"}, true},
		{"408 is retryable", map[string]any{"uri": srv.URL + "/status/408"}, KindRetryable, typeHTTPStatus, []string{"408"}, true},
		{"429 is retryable", map[string]any{"uri": srv.URL + "/status/429"}, KindRetryable, typeHTTPStatus, []string{"429"}, true},
		{"500 is retryable", map[string]any{"uri": srv.URL + "/status/500"}, KindRetryable, typeHTTPStatus, []string{"500 Internal Server Error"}, true},
		{"503 is retryable", map[string]any{"uri": srv.URL + "/status/503", "allowFailed": false}, KindRetryable, typeHTTPStatus, []string{"503"}, true},
		{"503 with a large error page stays retryable", map[string]any{"uri": srv.URL + "/status/503?big=1"}, KindRetryable, typeHTTPStatus, []string{"503", "upstream says"}, false},
		{"oversized body with length", map[string]any{"uri": srv.URL + "/big?n=1025"}, KindFatal, typeHTTPBody, []string{"limit of 1024 bytes"}, false},
		{"oversized chunked body", map[string]any{"uri": srv.URL + "/big?n=5000&chunked=1"}, KindFatal, typeHTTPBody, []string{"limit of 1024 bytes"}, false},
		{"connection refused is retryable", map[string]any{"uri": closed.URL}, KindRetryable, typeHTTPTransfer, []string{"sending GET"}, false},
		{"unsupported scheme", map[string]any{"uri": "ftp://example.com/x"}, KindFatal, typeInvalidProperty, []string{"property uri", "http or https"}, false},
		{"missing uri", map[string]any{}, KindFatal, typeInvalidProperty, []string{"property uri"}, false},
		{"headers not a map", map[string]any{"uri": srv.URL, "headers": []any{"a"}}, KindFatal, typeInvalidProperty, []string{"property headers"}, false},
		{"body and formData", map[string]any{"uri": srv.URL, "body": "x", "formData": map[string]any{}}, KindFatal, typeInvalidProperty, []string{"property formData"}, false},
		{"allowFailed not a boolean", map[string]any{"uri": srv.URL, "allowFailed": []any{}}, KindFatal, typeInvalidProperty, []string{"property allowFailed"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := run.Run(context.Background(), newRequest(flow.TypeHTTPRequest, tt.props))
			te := wantTaskError(t, err, tt.kind, tt.typ)
			for _, c := range tt.contains {
				if !strings.Contains(te.Error(), c) {
					t.Errorf("error %q does not contain %q", te, c)
				}
			}
			if len(te.Message) > 600 {
				t.Errorf("message of %d bytes: the body excerpt is not short", len(te.Message))
			}
			if got := res.Outputs != nil; got != tt.outputs {
				t.Errorf("outputs returned = %v, want %v", got, tt.outputs)
			}
		})
	}
}

func TestHTTPRequestDeadline(t *testing.T) {
	srv := echoServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := NewHTTP(nil, 0).Run(ctx, newRequest(flow.TypeHTTPRequest, map[string]any{"uri": srv.URL + "/slow"}))
	wantTaskError(t, err, KindTimeout, typeTimeout)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("returned after %v", d)
	}
}

func TestHTTPRequestRedactsURL(t *testing.T) {
	srv := echoServer(t)
	u := strings.Replace(srv.URL, "http://", "http://user:pw@", 1) + "/status/500?apiKey=s3cret"
	_, err := NewHTTP(nil, 0).Run(context.Background(), newRequest(flow.TypeHTTPRequest, map[string]any{"uri": u}))
	te := wantTaskError(t, err, KindRetryable, typeHTTPStatus)
	if strings.Contains(te.Error(), "s3cret") || strings.Contains(te.Error(), "pw@") {
		t.Errorf("error %q leaks credentials", te)
	}
}
