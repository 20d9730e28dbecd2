package health

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestRegistry_logsEachChangeOfStateOnce(t *testing.T) {
	var logs bytes.Buffer
	r := New(slog.New(slog.NewTextHandler(&logs, nil)))
	r.OK(Kafka)
	for range 50 { // an outage: many failed calls
		r.Fail(Kafka, errors.New("connection refused"))
	}
	if r.Healthy() {
		t.Error("healthy during an outage")
	}
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "connection refused") {
		t.Errorf("/healthz during an outage: %d %s", rec.Code, rec.Body)
	}
	for range 50 {
		r.OK(Kafka)
	}
	rec = httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("/healthz after the outage: %d %s", rec.Code, rec.Body)
	}
	if down, up := strings.Count(logs.String(), "dependency unavailable"), strings.Count(logs.String(), "dependency available again"); down != 1 || up != 1 {
		t.Errorf("logged %d outages and %d recoveries, want 1 and 1:\n%s", down, up, logs.String())
	}
	r.Report(DynamoDB, errors.New("conditional check failed"), func(error) bool { return false })
	if !r.Healthy() {
		t.Error("a refused request made DynamoDB unhealthy")
	}
}

func TestBackoff_staysWithinItsBoundsWithJitter(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	caps := []time.Duration{100, 200, 400, 800, 1000, 1000}
	seen := map[time.Duration]bool{}
	for i, c := range caps {
		c *= time.Millisecond
		d := b.Next()
		if d < c/2 || d > c {
			t.Errorf("wait %d = %s, want within [%s, %s]", i+1, d, c/2, c)
		}
		seen[d] = true
	}
	if len(seen) < 3 {
		t.Errorf("waits %v: no jitter", seen)
	}
	b.Reset()
	if d := b.Next(); d > 100*time.Millisecond {
		t.Errorf("after Reset: %s", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Error("Sleep outlived its context")
	}
}
