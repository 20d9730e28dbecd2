// Package health tracks whether the services a Relay process depends on
// (Kafka, DynamoDB, the blob store) answer, logs each change of that state
// once, not once per failed call, and serves it on /healthz. Outages are
// waited out by the callers (they retry with backoff and jitter); this
// package only says what the process sees.
//
// One Registry per process, Default, is shared by every client of a
// dependency: a Kafka producer and a consumer both report on "kafka".
package health

import (
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// The dependencies Relay reports on.
const (
	Kafka    = "kafka"
	DynamoDB = "dynamodb"
	Blobs    = "blobs"
)

var (
	upGauge = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "relay_dependency_up",
		Help: "1 while the dependency answers, 0 during an outage this process saw.",
	}, []string{"dependency"})
	outages = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "relay_dependency_outages_total",
		Help: "Outages this process saw begin, by dependency.",
	}, []string{"dependency"})
)

// Registry holds the state of each dependency.
type Registry struct {
	mu   sync.Mutex
	log  *slog.Logger
	deps map[string]*state
	now  func() time.Time
}

type state struct {
	down    bool
	since   time.Time
	lastErr string
}

// Default is the process's registry.
var Default = New(nil)

// New returns a registry logging to log (nil: slog.Default() at the time
// of each change).
func New(log *slog.Logger) *Registry {
	return &Registry{log: log, deps: map[string]*state{}, now: time.Now}
}

// SetLogger sets where state changes are logged.
func (r *Registry) SetLogger(l *slog.Logger) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = l
}

func (r *Registry) logger() *slog.Logger {
	if r.log != nil {
		return r.log
	}
	return slog.Default()
}

func (r *Registry) get(dep string) *state {
	s := r.deps[dep]
	if s == nil {
		s = &state{since: r.now()}
		r.deps[dep] = s
		upGauge.WithLabelValues(dep).Set(1)
	}
	return s
}

// Fail records that a call to dep failed because dep is unavailable. The
// first failure after a success is logged (WARN), later ones are not.
func (r *Registry) Fail(dep string, err error) {
	r.mu.Lock()
	s := r.get(dep)
	if err != nil {
		s.lastErr = err.Error()
	}
	if s.down {
		r.mu.Unlock()
		return
	}
	s.down, s.since = true, r.now()
	log := r.logger()
	r.mu.Unlock()
	upGauge.WithLabelValues(dep).Set(0)
	outages.WithLabelValues(dep).Inc()
	log.Warn("dependency unavailable: waiting for it, retrying with backoff", slog.String("dependency", dep), slog.Any("error", err))
}

// OK records that a call to dep succeeded. The first success after a
// failure is logged (INFO) with how long the outage lasted.
func (r *Registry) OK(dep string) {
	r.mu.Lock()
	s := r.get(dep)
	if !s.down {
		r.mu.Unlock()
		return
	}
	lasted := r.now().Sub(s.since)
	s.down, s.since, s.lastErr = false, r.now(), ""
	log := r.logger()
	r.mu.Unlock()
	upGauge.WithLabelValues(dep).Set(1)
	log.Info("dependency available again", slog.String("dependency", dep), slog.Duration("after", lasted.Round(time.Millisecond)))
}

// Report records the outcome of a call to dep: Fail when err says dep is
// unavailable (see unavailable), OK when err is nil; other errors (a
// conflict, a bad request) say nothing about dep's health.
func (r *Registry) Report(dep string, err error, unavailable func(error) bool) {
	switch {
	case err == nil:
		r.OK(dep)
	case unavailable(err):
		r.Fail(dep, err)
	}
}

// Healthy reports whether every dependency seen answers.
func (r *Registry) Healthy() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.deps {
		if s.down {
			return false
		}
	}
	return true
}

// Status is the body of /healthz.
type Status struct {
	Status       string               `json:"status"` // "ok" or "unavailable"
	Dependencies map[string]DepStatus `json:"dependencies"`
}

// DepStatus is one dependency's state.
type DepStatus struct {
	Up    bool      `json:"up"`
	Since time.Time `json:"since"`
	Error string    `json:"error,omitempty"`
}

// Status returns the state of every dependency seen.
func (r *Registry) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := Status{Status: "ok", Dependencies: map[string]DepStatus{}}
	names := make([]string, 0, len(r.deps))
	for n := range r.deps {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := r.deps[n]
		st.Dependencies[n] = DepStatus{Up: !s.down, Since: s.since.UTC(), Error: s.lastErr}
		if s.down {
			st.Status = "unavailable"
		}
	}
	return st
}

// Handler serves the registry's Status as JSON: 200 when every dependency
// answers, 503 during an outage.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		st := r.Status()
		code := http.StatusOK
		if st.Status != "ok" {
			code = http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(st)
	})
}

// Backoff is an exponential backoff with full jitter: each wait is drawn
// at random between half and all of a cap that doubles from Min to Max,
// so that processes cut off by one outage do not all retry at once when
// it ends.
type Backoff struct {
	Min, Max time.Duration
	n        int
}

// Next returns the next wait.
func (b *Backoff) Next() time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = 100 * time.Millisecond
	}
	if hi < lo {
		hi = 5 * time.Second
	}
	d := lo
	for i := 0; i < b.n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	b.n++
	return d/2 + rand.N(d/2+1)
}

// Reset starts the backoff again from Min.
func (b *Backoff) Reset() { b.n = 0 }

// Wait sleeps for the next wait, or until ctx ends (then false).
func (b *Backoff) Wait(ctx context.Context) bool { return Sleep(ctx, b.Next()) }

// Sleep waits d, or until ctx ends (then false).
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
