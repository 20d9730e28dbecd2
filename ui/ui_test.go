package ui_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/relayflow/relay/ui"
)

// api stands for the HTTP API: it answers every request with its path.
var api = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"api":"`+r.Method+" "+r.URL.Path+`"}`)
})

func do(h http.Handler, method, target string, headers map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for k, v := range headers {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestHandler_servesPagesWithTheirConfigAndSecurityHeaders(t *testing.T) {
	h := ui.Handler(api, ui.Options{Live: ui.LivePoll, Auth: ui.AuthToken, PublicURL: `https://x.example/prod"><script>`})
	for _, path := range []string{"/ui/", "/ui/executions/abc", "/ui/flows/a.b/c?tab=source"} {
		w := do(h, "GET", path, nil)
		body := w.Body.String()
		if w.Code != 200 || !strings.Contains(body, `<div id="app">`) {
			t.Fatalf("GET %s: %d %s", path, w.Code, body)
		}
		for _, want := range []string{`<meta name="relay-live" content="poll">`, `<meta name="relay-auth" content="token">`,
			`content="https://x.example/prod&#34;&gt;&lt;script&gt;"`} {
			if !strings.Contains(body, want) {
				t.Errorf("GET %s: the page lacks %s:\n%s", path, want, body)
			}
		}
		csp := w.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-eval") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
		if w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("Cache-Control") != "no-cache" {
			t.Errorf("GET %s: headers %v", path, w.Header())
		}
	}
	if w := do(h, "GET", "/", nil); w.Code != http.StatusFound || w.Header().Get("Location") != "/ui/" {
		t.Errorf("GET /: %d %s, want a redirect to /ui/", w.Code, w.Header().Get("Location"))
	}
}

func TestHandler_servesAssetsCachedAndCompressed(t *testing.T) {
	h := ui.Handler(api, ui.Options{})
	page := do(h, "GET", "/ui/", nil).Body.String()
	i := strings.Index(page, `src="/ui/assets/`)
	if i < 0 {
		t.Fatalf("no script in the page:\n%s", page)
	}
	src := page[i+5 : i+5+strings.Index(page[i+5:], `"`)]
	plain := do(h, "GET", src, nil)
	if plain.Code != 200 || plain.Header().Get("Content-Type") != "text/javascript; charset=utf-8" || !strings.Contains(plain.Header().Get("Cache-Control"), "immutable") {
		t.Fatalf("GET %s: %d %v", src, plain.Code, plain.Header())
	}
	gz := do(h, "GET", src, map[string]string{"Accept-Encoding": "gzip, br"})
	if gz.Header().Get("Content-Encoding") != "gzip" || gz.Body.Len() >= plain.Body.Len() {
		t.Errorf("gzip: %s, %d bytes of %d", gz.Header().Get("Content-Encoding"), gz.Body.Len(), plain.Body.Len())
	}
	if w := do(h, "GET", "/ui/assets/nope.js", nil); w.Code != 404 {
		t.Errorf("a missing asset: %d", w.Code)
	}
	if w := do(h, "GET", "/ui/assets/../../ui.go", nil); w.Code == 200 && strings.Contains(w.Body.String(), "package ui") {
		t.Error("a path out of the assets served a file that is not one")
	}
}

// State-changing requests from another site's page are refused; the CLI,
// the page's own requests and webhooks pass. GET requests the pages never
// send to the API from other origins pass (they change nothing).
func TestHandler_refusesCrossSiteRequests(t *testing.T) {
	h := ui.Handler(api, ui.Options{})
	for _, c := range []struct {
		name, method, path string
		headers            map[string]string
		want               int
	}{
		{"the CLI", "POST", "/executions/x/kill", nil, 200},
		{"the page itself", "POST", "/executions/x/kill", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://example.com"}, 200},
		{"another site", "POST", "/executions/x/kill", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"}, 403},
		{"another site, old browser", "POST", "/flows", map[string]string{"Origin": "http://evil.example"}, 403},
		{"another site restarting", "POST", "/executions/x/restart", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"}, 403},
		{"another site replaying", "POST", "/executions/x/replay?from=a", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"}, 403},
		{"the page restarting", "POST", "/executions/x/restart", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://example.com"}, 200},
		{"a webhook from anywhere", "POST", "/webhooks/ns/flow/key", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"}, 200},
		{"a read", "GET", "/executions", map[string]string{"Sec-Fetch-Site": "cross-site"}, 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			if w := do(h, c.method, c.path, c.headers); w.Code != c.want {
				t.Errorf("%s %s: %d, want %d (%s)", c.method, c.path, w.Code, c.want, w.Body.String())
			}
		})
	}
}

// On loopback, only loopback host names are answered: a name of another
// site that resolves to 127.0.0.1 (DNS rebinding) is not.
func TestHandler_localOnlyAnswersLoopbackNames(t *testing.T) {
	h := ui.Handler(api, ui.Options{LocalOnly: true})
	for host, want := range map[string]int{"127.0.0.1:8080": 200, "localhost:8080": 200, "[::1]:8080": 200, "relay.localhost": 200, "evil.example:8080": 421, "127.0.0.1.evil.example": 421} {
		for _, path := range []string{"/flows", "/ui/"} {
			if w := do(h, "GET", path, map[string]string{"Host": host}); w.Code != want {
				t.Errorf("GET %s, Host %s: %d, want %d", path, host, w.Code, want)
			}
		}
	}
	// A webhook through a tunnel arrives under the tunnel's name.
	if w := do(h, "POST", "/webhooks/ns/flow/key", map[string]string{"Host": "abc.tunnel.example"}); w.Code != 200 {
		t.Errorf("a webhook under another name: %d, want it served", w.Code)
	}
}

// A path under /ui is never passed to the API: behind API Gateway that
// route takes no credentials.
func TestHandler_neverPassesUIPathsToTheAPI(t *testing.T) {
	h := ui.Handler(api, ui.Options{})
	for _, path := range []string{"/ui/../flows", "/ui/%2e%2e/flows", "/ui/./executions", "/ui//flows"} {
		w := do(h, "GET", path, nil)
		if strings.Contains(w.Body.String(), `"api"`) {
			t.Errorf("GET %s reached the API: %d %s", path, w.Code, w.Body.String())
		}
	}
}
