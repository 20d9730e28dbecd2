// Package ui is Relay's web UI: a single-page app built from ui/web (by
// `make ui`, into dist/, which is committed and embedded here) that calls
// the HTTP API of the origin it is served from. Handler serves the pages
// under /ui/ and the API beside them, as one http.Handler: `relay server`,
// `relay dev --role api` and the api Lambda function serve it in front of
// api.Handler, and `relay ui` in front of a proxy to a deployed API.
//
// The pages never talk to anything but that API, so they have the API's
// auth: none on loopback, IAM through `relay ui`, which signs requests,
// or a bearer token the page asks for. Handler protects the API against
// cross-site requests (a page of another site making the browser post to
// it) and, on loopback, against DNS rebinding. The package must never
// serve anything but the embedded files from /ui/: behind API Gateway
// that route needs no credentials.
package ui

import (
	"bytes"
	"compress/gzip"
	"embed"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"path"
	"strings"
	"sync"
)

//go:embed all:dist
var dist embed.FS

// Live is how pages get updates.
type Live string

const (
	// LiveSSE: Server-Sent Events from the API's stream routes.
	LiveSSE Live = "sse"
	// LivePoll: GET again every second or two, with If-None-Match (behind
	// API Gateway, which cannot stream).
	LivePoll Live = "poll"
)

// Auth is how pages authenticate to the API.
type Auth string

const (
	// AuthNone: pages send no credentials (the API needs none, or `relay
	// ui` signs for them).
	AuthNone Auth = "none"
	// AuthToken: the API takes a bearer token (a JWT authorizer), which
	// pages ask the user for and send.
	AuthToken Auth = "token"
	// AuthIAM: the API takes IAM (SigV4) requests only, which a browser
	// cannot sign: pages say to run `relay ui --api URL`.
	AuthIAM Auth = "iam"
)

// Options configure Handler.
type Options struct {
	// Live is how pages get updates (default LiveSSE).
	Live Live
	// Auth is how the browser authenticates to the API: AuthNone (no
	// credentials, or ones a proxy adds), AuthToken or AuthIAM.
	Auth Auth
	// LocalOnly refuses requests whose Host is not a loopback name or
	// address (webhooks excepted): set it when listening on loopback,
	// where a page of another site could otherwise reach the API through a
	// name that resolves to 127.0.0.1 (DNS rebinding).
	LocalOnly bool
	// PublicURL is where others call the API (webhook URLs), when it is
	// not where the pages are (`relay ui` proxies a deployed API).
	PublicURL string
}

// Handler serves the UI at /ui/ and api everywhere else, protected
// against cross-origin requests: a state-changing request (POST) that a
// browser sends from another origin is refused with 403, while clients
// that are not browsers (the CLI, curl, webhooks' callers) send neither
// Origin nor Sec-Fetch-Site and pass. Webhooks are exempt: other sites'
// servers and browsers may call them, and their key is their secret.
// GET / redirects to /ui/.
func Handler(api http.Handler, o Options) http.Handler {
	if o.Live == "" {
		o.Live = LiveSSE
	}
	csrf := http.NewCrossOriginProtection()
	csrf.AddInsecureBypassPattern("POST /webhooks/{namespace}/{flowId}/{key}")
	mux := http.NewServeMux()
	pages := newPages(o)
	mux.Handle("GET /ui/", pages)
	mux.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusFound))
	mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusFound))
	mux.Handle("/", csrf.Handler(api))
	if !o.LocalOnly {
		return mux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Webhooks are called by other machines, possibly through a tunnel
		// to this one under another name; their key is their secret.
		if !loopbackHost(r.Host) && !strings.HasPrefix(r.URL.Path, "/webhooks/") {
			http.Error(w, "this server answers only to localhost and 127.0.0.1 names", http.StatusMisdirectedRequest)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether a Host header names this machine.
func loopbackHost(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Security headers of every page and asset: scripts only from this origin
// (no inline script, so a value that escaped its escaping still cannot
// run), no framing, no sniffing, no referrer. Styles allow inline style
// attributes, which the editor and chart set.
const csp = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; " +
	"font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

type pages struct {
	files fs.FS
	index []byte
	mu    sync.Mutex
	gz    map[string][]byte
}

func newPages(o Options) *pages {
	files, err := fs.Sub(dist, "dist")
	if err != nil {
		panic("ui: the embedded dist folder is missing: " + err.Error())
	}
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		panic("ui: dist/index.html is missing (run `make ui`): " + err.Error())
	}
	var meta bytes.Buffer
	t := template.Must(template.New("meta").Parse(`<meta name="relay-live" content="{{.Live}}">
<meta name="relay-auth" content="{{.Auth}}">
{{if .PublicURL}}<meta name="relay-public-url" content="{{.PublicURL}}">{{end}}`))
	auth := o.Auth
	if auth == "" {
		auth = AuthNone
	}
	if err := t.Execute(&meta, map[string]any{"Live": o.Live, "Auth": auth, "PublicURL": strings.TrimSuffix(o.PublicURL, "/")}); err != nil {
		panic("ui: " + err.Error())
	}
	index = bytes.Replace(index, []byte("<!--relay-config-->"), meta.Bytes(), 1)
	return &pages{files: files, index: index, gz: map[string][]byte{}}
}

func (p *pages) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/ui")
	name = strings.TrimPrefix(name, "/")
	if strings.HasPrefix(name, "assets/") {
		b, err := fs.ReadFile(p.files, name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		// Asset names carry a hash of their content.
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		p.write(w, r, name, b)
		return
	}
	// Every other path is a page of the app, which routes it itself.
	h.Set("Cache-Control", "no-cache")
	p.write(w, r, "index.html", p.index)
}

// write sends b, gzipped when the client takes it (each file is
// compressed once).
func (p *pages) write(w http.ResponseWriter, r *http.Request, name string, b []byte) {
	h := w.Header()
	ext := path.Ext(name)
	types := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".html": "text/html; charset=utf-8", ".txt": "text/plain; charset=utf-8"}
	if ct, ok := types[ext]; ok {
		h.Set("Content-Type", ct)
	}
	h.Add("Vary", "Accept-Encoding")
	if len(b) < 1024 || !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		w.Write(b)
		return
	}
	p.mu.Lock()
	z, ok := p.gz[name]
	if !ok {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(b)
		zw.Close()
		z = buf.Bytes()
		p.gz[name] = z
	}
	p.mu.Unlock()
	h.Set("Content-Encoding", "gzip")
	w.Write(z)
}
