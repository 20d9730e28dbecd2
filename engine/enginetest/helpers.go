// Package enginetest holds conformance suites for engine.Store and
// engine.Bus. Every implementation (the embedded bbolt store and in-memory
// bus, DynamoDB, Kafka) runs the same suites from its own tests, so the
// engine can rely on the contracts in engine/contracts.go and nothing more:
//
//	func TestStore(t *testing.T) {
//		enginetest.TestStore(t, func(t *testing.T) engine.Store { ... })
//	}
//
// Subtests are named after the behaviour they check ("Commit/
// conflictOnStaleVersion"), so a failure reads as the clause broken.
package enginetest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"
)

// pollInterval is how often eventually and never look at their condition.
const pollInterval = 5 * time.Millisecond

// waitTimeout bounds every wait for something asynchronous to happen.
// Generous, because a wait that succeeds returns as soon as it can.
const waitTimeout = 5 * time.Second

// eventually polls cond until it holds, failing the test after timeout.
// Tests wait for outcomes this way instead of sleeping, so they are as
// fast as the implementation and not flaky on a slow machine.
func eventually(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until "+format, append([]any{timeout}, args...)...)
		}
		time.Sleep(pollInterval)
	}
}

// never checks that cond stays false for d: the one kind of check that has
// to take time, kept short.
func never(t testing.TB, d time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			t.Fatalf("unexpectedly "+format, args...)
		}
		time.Sleep(pollInterval)
	}
}

// unique returns a random name, so that tests sharing a backend (a Kafka
// cluster, a DynamoDB table) never see each other's data.
func unique(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// mustJSON encodes v for comparisons that should ignore how a value is
// held in memory (time locations, numbers in maps, caches).
func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode %T: %v", v, err)
	}
	return string(b)
}
