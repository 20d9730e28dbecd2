package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/relayflow/relay/engine"
)

// How often a stream reads the store again, and how long one lasts before
// the client is asked to reconnect (EventSource does, with Last-Event-ID).
var (
	streamExecutionEvery  = 250 * time.Millisecond
	streamExecutionsEvery = time.Second
	streamPing            = 15 * time.Second
	streamFor             = 10 * time.Minute
)

// errNoStreaming: the response cannot be streamed (the API behind API
// Gateway, whose Lambda returns a response whole). Clients poll instead.
var errNoStreaming = errors.New("this deployment cannot stream responses (API Gateway and Lambda return them whole): poll the route instead, with If-None-Match")

// sse writes Server-Sent Events.
type sse struct {
	w  http.ResponseWriter
	rc *http.ResponseController
	// until is when the stream ends (the client reconnects), ping when a
	// comment is due if nothing was sent.
	until, ping time.Time
	last        map[string][]byte // what sendChanged sent last, by event
}

// startSSE sends the headers of an event stream, or returns
// errNoStreaming, having written nothing, when w cannot flush.
func startSSE(w http.ResponseWriter) (*sse, error) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // a proxy in front must not hold events back
	if err := rc.Flush(); errors.Is(err, http.ErrNotSupported) {
		for _, k := range []string{"Content-Type", "Cache-Control", "X-Accel-Buffering"} {
			h.Del(k)
		}
		return nil, errNoStreaming
	}
	_ = rc.SetWriteDeadline(time.Time{}) // a server's write timeout is for requests, not streams
	s := &sse{w: w, rc: rc, until: time.Now().Add(streamFor), ping: time.Now().Add(streamPing), last: map[string][]byte{}}
	return s, s.write("retry: 2000\n\n")
}

func (s *sse) write(text string) error {
	if _, err := s.w.Write([]byte(text)); err != nil {
		return err
	}
	return s.rc.Flush()
}

// send writes one event; id, when set, is what EventSource sends back as
// Last-Event-ID when it reconnects.
func (s *sse) send(event, id string, data []byte) error {
	var b strings.Builder
	b.WriteString("event: " + event + "\n")
	if id != "" {
		b.WriteString("id: " + id + "\n")
	}
	for _, line := range bytes.Split(data, []byte("\n")) { // JSON without indentation has none; to be safe
		b.WriteString("data: ")
		b.Write(line)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	s.ping = time.Now().Add(streamPing)
	return s.write(b.String())
}

// sendChanged sends v as JSON unless it is what the last event of that
// name carried.
func (s *sse) sendChanged(event string, v any) error {
	b, err := json.Marshal(v)
	if err != nil || bytes.Equal(b, s.last[event]) {
		return err
	}
	s.last[event] = b
	return s.send(event, "", b)
}

// wait waits every, sending a comment when nothing was sent for a while
// (so proxies keep the connection); false when the stream should end:
// the client went away, the server is stopping, or it lasted long enough
// (the client reconnects).
func (s *sse) wait(ctx context.Context, every time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(every):
	}
	if time.Now().After(s.until) {
		return false
	}
	if time.Now().After(s.ping) {
		s.ping = time.Now().Add(streamPing)
		return s.write(": ping\n\n") == nil
	}
	return true
}

// ExecutionSummary returns an execution's head, with its counts and no
// task runs: one read, whatever the execution's size.
func (s *Service) ExecutionSummary(ctx context.Context, id string) (engine.ExecutionDoc, error) {
	head, err := s.store.ExecutionHead(ctx, id)
	if err != nil {
		return engine.ExecutionDoc{}, fmt.Errorf("reading execution %s: %w", id, err)
	}
	return engine.DocumentPage(head, nil, ""), nil
}

// executionStream streams an execution: an `execution` event (its head,
// counts, no task runs) whenever it changes, `logs` events with new log
// lines (the id is the last line's seq), and `end` once it has ended and
// every line was sent.
func (h *handler) executionStream(w http.ResponseWriter, r *http.Request) error {
	ctx, id := r.Context(), r.PathValue("id")
	after, err := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	if err != nil && r.URL.Query().Get("after") != "" {
		return Invalid(fmt.Errorf("?after=%q: want a number", r.URL.Query().Get("after")))
	}
	if last, err := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64); err == nil && last > after {
		after = last
	}
	doc, err := h.s.ExecutionSummary(ctx, id)
	if err != nil {
		return err
	}
	out, err := startSSE(w)
	if err != nil {
		return err
	}
	for {
		if out.sendChanged("execution", doc) != nil {
			return nil
		}
		lines, err := h.s.Logs(ctx, id, after, DefaultLogPage)
		if err != nil {
			h.streamFailed(ctx, out, err)
			return nil
		}
		if len(lines) > 0 {
			after = lines[len(lines)-1].Seq
			b, _ := json.Marshal(lines)
			if out.send("logs", strconv.FormatInt(after, 10), b) != nil {
				return nil
			}
			if len(lines) == DefaultLogPage {
				continue // more are waiting
			}
		}
		if doc.EndDate != nil && len(lines) == 0 {
			_ = out.send("end", "", []byte("{}"))
			return nil
		}
		if !out.wait(ctx, streamExecutionEvery) {
			return nil
		}
		if doc, err = h.s.ExecutionSummary(ctx, id); err != nil {
			h.streamFailed(ctx, out, err)
			return nil
		}
	}
}

// executionsStream streams the list GET /executions returns for the same
// query: an `executions` event whenever it changes.
func (h *handler) executionsStream(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q, err := executionQuery(r)
	if err != nil {
		return err
	}
	list, err := h.s.FindExecutions(ctx, q)
	if err != nil {
		return err
	}
	out, err := startSSE(w)
	if err != nil {
		return err
	}
	for {
		if out.sendChanged("executions", list) != nil || !out.wait(ctx, streamExecutionsEvery) {
			return nil
		}
		if list, err = h.s.FindExecutions(ctx, q); err != nil {
			h.streamFailed(ctx, out, err)
			return nil
		}
	}
}

func (h *handler) streamFailed(ctx context.Context, out *sse, err error) {
	if ctx.Err() != nil {
		return
	}
	h.log.ErrorContext(ctx, "stream failed", "error", err)
	b, _ := json.Marshal(ErrorBody{Error: err.Error()})
	_ = out.send("failure", "", b)
}

// etagged serves a GET route's JSON with an ETag (a hash of the body) and
// answers 304, without the body, to a request whose If-None-Match names
// it: a client polling for changes (behind API Gateway, which cannot
// stream) moves a body only when it changed.
func etagged(f func(w http.ResponseWriter, r *http.Request) error) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		buf := &bufferedResponse{header: w.Header()}
		if err := f(buf, r); err != nil {
			return err
		}
		buf.WriteHeader(http.StatusOK)
		if buf.code == http.StatusOK {
			sum := sha256.Sum256(buf.body.Bytes())
			tag := `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
			w.Header().Set("ETag", tag)
			w.Header().Set("Cache-Control", "no-cache")
			if matches(r.Header.Get("If-None-Match"), tag) {
				w.Header().Del("Content-Type")
				w.WriteHeader(http.StatusNotModified)
				return nil
			}
		}
		w.WriteHeader(buf.code)
		_, _ = w.Write(buf.body.Bytes())
		return nil
	}
}

// matches reports whether an If-None-Match header names tag.
func matches(header, tag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == tag || t == "*" {
			return true
		}
	}
	return false
}
