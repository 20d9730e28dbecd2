package enginetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/tasks"
)

// TestRecords checks an engine.RecordStore (every engine.Store is one)
// against the contract in engine/contracts.go. TestStore runs these tests
// too; TestRecords is for running them alone. newStore returns a fresh,
// empty store for each subtest, which the suite closes when the subtest
// ends.
func TestRecords(t *testing.T, newStore func(t *testing.T) engine.Store) {
	for _, tc := range recordTests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.run(t, s)
		})
	}
}

// ----------------------------------------------------------------- helpers

func putRecord(t *testing.T, s engine.Store, r engine.Record, expected int64) int64 {
	t.Helper()
	v, err := s.PutRecord(t.Context(), r, expected)
	if err != nil {
		t.Fatalf("PutRecord %s/%s expected %d: %v", r.Kind, r.Key, expected, err)
	}
	return v
}

func mustRecord(t *testing.T, s engine.Store, kind, key string) engine.Record {
	t.Helper()
	r, err := s.Record(t.Context(), kind, key)
	if err != nil {
		t.Fatalf("Record %s/%s: %v", kind, key, err)
	}
	return r
}

func recordKeys(t *testing.T, s engine.Store, kind, prefix string) []string {
	t.Helper()
	rs, err := s.Records(t.Context(), kind, prefix)
	if err != nil {
		t.Fatalf("Records %q prefix %q: %v", kind, prefix, err)
	}
	keys := []string{}
	for _, r := range rs {
		if r.Kind != kind {
			t.Errorf("Records %q returned %s/%s of another kind", kind, r.Kind, r.Key)
		}
		keys = append(keys, r.Key)
	}
	return keys
}

func dueRecordKeys(t *testing.T, s engine.Store, kind string, now time.Time, limit int) []string {
	t.Helper()
	rs, err := s.DueRecords(t.Context(), kind, now, limit)
	if err != nil {
		t.Fatalf("DueRecords %q at %v: %v", kind, now, err)
	}
	keys := []string{}
	for _, r := range rs {
		if r.Kind != kind {
			t.Errorf("DueRecords %q returned %s/%s of another kind", kind, r.Kind, r.Key)
		}
		if r.Due.IsZero() || r.Due.After(now) {
			t.Errorf("DueRecords at %v returned %s due %v", now, r.Key, r.Due)
		}
		keys = append(keys, r.Key)
	}
	return keys
}

// equalRecord compares records field by field (times with Equal, a nil
// value and an empty one alike).
func equalRecord(t *testing.T, what string, got, want engine.Record) {
	t.Helper()
	if got.Kind != want.Kind || got.Key != want.Key || !bytes.Equal(got.Value, want.Value) ||
		got.Version != want.Version || !got.Due.Equal(want.Due) {
		t.Errorf("%s: record = %+v, want %+v", what, got, want)
	}
}

// allBytes is a value with every byte value, NUL included.
func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// ------------------------------------------------------------------ tests

var recordTests = []storeTest{
	{"PutRecord/conditionalWrites", func(t *testing.T, s engine.Store) {
		steps := []struct {
			name     string
			key      string
			expected int64
			value    string
			want     int64 // the version written; 0: a conflict
			stored   string
		}{
			{"create", "r", 0, "v1", 1, "v1"},
			{"create again", "r", 0, "other", 0, "v1"},
			{"update", "r", 1, "v2", 2, "v2"},
			{"stale version", "r", 1, "other", 0, "v2"},
			{"future version", "r", 3, "other", 0, "v2"},
			{"update again", "r", 2, "v3", 3, "v3"},
			{"unconditional", "r", -1, "v4", 4, "v4"},
			{"after unconditional", "r", 4, "v5", 5, "v5"},
			{"unconditional create", "new", -1, "n1", 1, "n1"},
			{"missing with a version", "missing", 1, "other", 0, ""},
		}
		for _, st := range steps {
			v, err := s.PutRecord(t.Context(), engine.Record{Kind: "k", Key: st.key, Value: []byte(st.value)}, st.expected)
			if st.want == 0 {
				if !errors.Is(err, engine.ErrConflict) {
					t.Errorf("%s: PutRecord expected %d = %d, %v; want ErrConflict", st.name, st.expected, v, err)
				}
			} else if err != nil || v != st.want {
				t.Errorf("%s: PutRecord expected %d = %d, %v; want version %d", st.name, st.expected, v, err, st.want)
			}
			r, err := s.Record(t.Context(), "k", st.key)
			if st.stored == "" {
				if !errors.Is(err, engine.ErrNotFound) {
					t.Errorf("%s: a lost create stored %+v, %v", st.name, r, err)
				}
				continue
			}
			if err != nil || string(r.Value) != st.stored {
				t.Errorf("%s: stored %+v, %v; want value %q", st.name, r, err, st.stored)
			}
		}
	}},
	{"PutRecord/roundTrip", func(t *testing.T, s engine.Store) {
		due := t0.Add(time.Hour)
		in := engine.Record{Kind: "k", Key: "all/bytes#1", Value: allBytes(), Due: due, Version: 42}
		if v := putRecord(t, s, in, 0); v != 1 {
			t.Errorf("PutRecord of a new record = version %d, want 1 (whatever r.Version says)", v)
		}
		want := in
		want.Version = 1
		equalRecord(t, "read back", mustRecord(t, s, "k", "all/bytes#1"), want)
		if got := mustRecord(t, s, "k", "all/bytes#1"); got.Due.UnixNano() != due.UnixNano() {
			t.Errorf("due %v, want %v to the nanosecond", got.Due, due)
		}
		putRecord(t, s, engine.Record{Kind: "k", Key: "empty"}, 0)
		equalRecord(t, "no value, no due", mustRecord(t, s, "k", "empty"), engine.Record{Kind: "k", Key: "empty", Version: 1})
		// Replacing a record replaces all of it: the value and the due time
		// go when the new record has none.
		putRecord(t, s, engine.Record{Kind: "k", Key: "all/bytes#1"}, 1)
		equalRecord(t, "replaced by an empty record", mustRecord(t, s, "k", "all/bytes#1"), engine.Record{Kind: "k", Key: "all/bytes#1", Version: 2})
		putRecord(t, s, engine.Record{Kind: "k", Key: "all/bytes#1", Value: []byte("x"), Due: due}, -1)
		putRecord(t, s, engine.Record{Kind: "k", Key: "all/bytes#1"}, -1)
		equalRecord(t, "replaced unconditionally by an empty record", mustRecord(t, s, "k", "all/bytes#1"), engine.Record{Kind: "k", Key: "all/bytes#1", Version: 4})
	}},
	{"PutRecord/rejectsBadNames", func(t *testing.T, s engine.Store) {
		ctx := t.Context()
		for _, r := range []engine.Record{
			{Kind: "", Key: "k"},
			{Kind: "k", Key: ""},
			{Kind: "a\x00b", Key: "k"},
			{Kind: "k", Key: "a\x00b"},
		} {
			if _, err := s.PutRecord(ctx, r, -1); err == nil {
				t.Errorf("PutRecord kind %q key %q succeeded", r.Kind, r.Key)
			}
			if _, err := s.Record(ctx, r.Kind, r.Key); err == nil || errors.Is(err, engine.ErrNotFound) {
				t.Errorf("Record kind %q key %q = %v, want an error other than ErrNotFound", r.Kind, r.Key, err)
			}
			if err := s.DeleteRecord(ctx, r.Kind, r.Key, -1); err == nil {
				t.Errorf("DeleteRecord kind %q key %q succeeded", r.Kind, r.Key)
			}
		}
		for _, kind := range []string{"", "a\x00b"} {
			if _, err := s.Records(ctx, kind, ""); err == nil {
				t.Errorf("Records kind %q succeeded", kind)
			}
			if _, err := s.DueRecords(ctx, kind, t0, 0); err == nil {
				t.Errorf("DueRecords kind %q succeeded", kind)
			}
		}
		if _, err := s.PutRecord(ctx, engine.Record{Kind: "k", Key: "k"}, -2); err == nil {
			t.Error("PutRecord with expected -2 succeeded")
		}
	}},
	{"Records/cancelledContextFailsEveryMethod", func(t *testing.T, s engine.Store) {
		putRecord(t, s, engine.Record{Kind: "k", Key: "r", Value: []byte("v1"), Due: t0}, 0)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		calls := map[string]func() error{
			"Record":  func() error { _, err := s.Record(ctx, "k", "r"); return err },
			"Records": func() error { _, err := s.Records(ctx, "k", ""); return err },
			"PutRecord": func() error {
				_, err := s.PutRecord(ctx, engine.Record{Kind: "k", Key: "r", Value: []byte("v2")}, 1)
				return err
			},
			"PutRecord new": func() error {
				_, err := s.PutRecord(ctx, engine.Record{Kind: "k", Key: "new"}, 0)
				return err
			},
			"DeleteRecord": func() error { return s.DeleteRecord(ctx, "k", "r", -1) },
			"DueRecords":   func() error { _, err := s.DueRecords(ctx, "k", t0, 10); return err },
		}
		for name, call := range calls {
			if err := call(); !errors.Is(err, context.Canceled) {
				t.Errorf("%s with a cancelled ctx: err = %v, want context.Canceled", name, err)
			}
		}
		equalRecord(t, "after the cancelled calls", mustRecord(t, s, "k", "r"), engine.Record{Kind: "k", Key: "r", Value: []byte("v1"), Version: 1, Due: t0})
		if _, err := s.Record(t.Context(), "k", "new"); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("a cancelled PutRecord stored a record: %v", err)
		}
	}},
	{"Record/notFound", func(t *testing.T, s engine.Store) {
		if _, err := s.Record(t.Context(), "k", "missing"); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("Record of a missing key = %v, want ErrNotFound", err)
		}
		putRecord(t, s, engine.Record{Kind: "k", Key: "there"}, 0)
		if _, err := s.Record(t.Context(), "other", "there"); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("Record of another kind's key = %v, want ErrNotFound", err)
		}
		if rs, err := s.Records(t.Context(), "none", ""); err != nil || len(rs) != 0 {
			t.Errorf("Records of a kind without records = %v, %v; want none", rs, err)
		}
	}},
	{"Records/byKeyWithPrefixAndKindIsolation", func(t *testing.T, s engine.Store) {
		byKind := map[string][]string{
			"a":    {"z", "b", "a#2", "a/x", "a", "ab", "a#1", "a#1#x", "A", "é", "a b", "~"},
			"ab":   {"c", "a#1"},
			"a#":   {"1"},
			"a/":   {"x"},
			"b":    {"a#1"},
			"a#1":  {"x"},
			"REC#": {"a"},
		}
		// Put in an order unrelated to the keys.
		for _, kind := range slices.Sorted(func(yield func(string) bool) {
			for k := range byKind {
				if !yield(k) {
					return
				}
			}
		}) {
			for _, key := range byKind[kind] {
				putRecord(t, s, engine.Record{Kind: kind, Key: key, Value: []byte(kind + "|" + key)}, 0)
			}
		}
		tests := []struct {
			kind, prefix string
		}{
			{"a", ""}, {"a", "a"}, {"a", "a#"}, {"a", "a#1"}, {"a", "a/"}, {"a", "b"}, {"a", "zz"}, {"a", "A"},
			{"ab", ""}, {"ab", "a"}, {"a#", ""}, {"a/", ""}, {"b", ""}, {"a#1", ""}, {"REC#", ""}, {"none", ""},
		}
		for _, tc := range tests {
			want := []string{}
			for _, key := range byKind[tc.kind] {
				if strings.HasPrefix(key, tc.prefix) {
					want = append(want, key)
				}
			}
			slices.Sort(want) // byte order
			equalIDs(t, fmt.Sprintf("Records(%q, %q)", tc.kind, tc.prefix), recordKeys(t, s, tc.kind, tc.prefix), want)
		}
		rs, err := s.Records(t.Context(), "a", "a#1")
		if err != nil || len(rs) != 2 {
			t.Fatalf("Records(a, a#1) = %+v, %v", rs, err)
		}
		equalRecord(t, "listed", rs[0], engine.Record{Kind: "a", Key: "a#1", Value: []byte("a|a#1"), Version: 1})
	}},
	{"DeleteRecord/conditionalAndIdempotent", func(t *testing.T, s engine.Store) {
		putRecord(t, s, engine.Record{Kind: "k", Key: "r", Value: []byte("v1")}, 0)
		putRecord(t, s, engine.Record{Kind: "k", Key: "r", Value: []byte("v2")}, 1) // version 2
		steps := []struct {
			name      string
			key       string
			expected  int64
			conflict  bool
			remaining bool // r is still stored afterwards
		}{
			{"stale version", "r", 1, true, true},
			{"future version", "r", 3, true, true},
			{"expecting none", "r", 0, true, true},
			{"right version", "r", 2, false, false},
			{"again, any version", "r", -1, false, false},
			{"again, expecting none", "r", 0, false, false},
			{"again, a version", "r", 2, true, false},
			{"never stored, any version", "never", -1, false, false},
			{"never stored, expecting none", "never", 0, false, false},
		}
		for _, st := range steps {
			err := s.DeleteRecord(t.Context(), "k", st.key, st.expected)
			if st.conflict && !errors.Is(err, engine.ErrConflict) {
				t.Errorf("%s: DeleteRecord expected %d = %v, want ErrConflict", st.name, st.expected, err)
			} else if !st.conflict && err != nil {
				t.Errorf("%s: DeleteRecord expected %d = %v", st.name, st.expected, err)
			}
			_, err = s.Record(t.Context(), "k", "r")
			if st.remaining && err != nil {
				t.Errorf("%s: Record after = %v, want it still stored", st.name, err)
			} else if !st.remaining && !errors.Is(err, engine.ErrNotFound) {
				t.Errorf("%s: Record after = %v, want ErrNotFound", st.name, err)
			}
		}
		// Deleting any version, and creating the record anew.
		putRecord(t, s, engine.Record{Kind: "k", Key: "r"}, 0)
		putRecord(t, s, engine.Record{Kind: "k", Key: "other"}, 0)
		if err := s.DeleteRecord(t.Context(), "k", "r", -1); err != nil {
			t.Fatalf("DeleteRecord any version: %v", err)
		}
		equalIDs(t, "after deleting r", recordKeys(t, s, "k", ""), []string{"other"})
		if v := putRecord(t, s, engine.Record{Kind: "k", Key: "r"}, 0); v != 1 {
			t.Errorf("a deleted record created again has version %d, want 1", v)
		}
	}},
	{"DueRecords/dueUpToNowEarliestFirst", func(t *testing.T, s engine.Store) {
		at := func(d time.Duration) time.Time { return t0.Add(d) }
		for _, r := range []engine.Record{
			{Kind: "sched", Key: "k4", Due: at(3 * time.Second)},
			{Kind: "sched", Key: "k1", Due: at(2 * time.Second)},
			{Kind: "sched", Key: "k3", Due: at(time.Second)},
			{Kind: "sched", Key: "k2", Due: at(time.Second)}, // same due time: by key
			{Kind: "sched", Key: "never"},
			{Kind: "sched", Key: "old", Due: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)},
			{Kind: "schedx", Key: "other kind", Due: at(0)},
			{Kind: "sche", Key: "dx", Due: at(0)},
		} {
			r.Value = []byte(r.Key)
			putRecord(t, s, r, 0)
		}
		now := at(2 * time.Second)
		tests := []struct {
			name  string
			now   time.Time
			limit int
			want  []string
		}{
			{"before any", at(0), 0, []string{"old"}},
			{"1ns before k2", at(time.Second - 1), 0, []string{"old"}},
			{"exactly k2's due", at(time.Second), 0, []string{"old", "k2", "k3"}},
			{"at 2s, inclusive", now, 0, []string{"old", "k2", "k3", "k1"}},
			{"at 2s, limit 2", now, 2, []string{"old", "k2"}},
			{"at 2s, limit 10", now, 10, []string{"old", "k2", "k3", "k1"}},
			{"1ms before k4", at(3*time.Second - time.Millisecond), 0, []string{"old", "k2", "k3", "k1"}},
			{"an hour later", at(time.Hour), 0, []string{"old", "k2", "k3", "k1", "k4"}},
			{"in another time zone", at(time.Second).In(time.FixedZone("UTC+5", 5*3600)), 0, []string{"old", "k2", "k3"}},
		}
		for _, tc := range tests {
			equalIDs(t, tc.name, dueRecordKeys(t, s, "sched", tc.now, tc.limit), tc.want)
		}
		equalIDs(t, "another kind", dueRecordKeys(t, s, "schedx", at(time.Hour), 0), []string{"other kind"})
		equalIDs(t, "a kind without records", dueRecordKeys(t, s, "none", at(time.Hour), 0), []string{})
		rs, err := s.DueRecords(t.Context(), "sched", at(time.Second), 0)
		if err != nil || len(rs) != 3 {
			t.Fatalf("DueRecords = %+v, %v", rs, err)
		}
		equalRecord(t, "a due record", rs[1], engine.Record{Kind: "sched", Key: "k2", Value: []byte("k2"), Version: 1, Due: at(time.Second)})
	}},
	{"DueRecords/dueAtNowAndNotAfter", func(t *testing.T, s engine.Store) {
		now := time.Now().UTC()
		putRecord(t, s, engine.Record{Kind: "k", Key: "now", Due: now}, 0)
		putRecord(t, s, engine.Record{Kind: "k", Key: "later", Due: now.Add(time.Millisecond)}, 0)
		putRecord(t, s, engine.Record{Kind: "k", Key: "earlier", Due: now.Add(-time.Millisecond)}, 0)
		equalIDs(t, "at now", dueRecordKeys(t, s, "k", now, 0), []string{"earlier", "now"})
		equalIDs(t, "at now+1ms", dueRecordKeys(t, s, "k", now.Add(time.Millisecond), 0), []string{"earlier", "now", "later"})
	}},
	{"DueRecords/followsPutAndDelete", func(t *testing.T, s engine.Store) {
		at := func(d time.Duration) time.Time { return t0.Add(d) }
		late := at(time.Hour)
		putRecord(t, s, engine.Record{Kind: "k", Key: "a", Due: at(time.Second)}, 0)
		putRecord(t, s, engine.Record{Kind: "k", Key: "b", Due: at(2 * time.Second)}, 0)
		equalIDs(t, "at first", dueRecordKeys(t, s, "k", late, 0), []string{"a", "b"})

		steps := []struct {
			name     string
			r        engine.Record
			expected int64
			at2s     []string // due at 2s
			atLate   []string // due an hour later
		}{
			{"a moves later", engine.Record{Key: "a", Due: at(10 * time.Second)}, 1, []string{"b"}, []string{"b", "a"}},
			{"a moves earlier, unconditionally", engine.Record{Key: "a", Due: at(500 * time.Millisecond)}, -1, []string{"a", "b"}, []string{"a", "b"}},
			{"a has no due time", engine.Record{Key: "a"}, 3, []string{"b"}, []string{"b"}},
			{"a is due again", engine.Record{Key: "a", Due: at(time.Second)}, 4, []string{"a", "b"}, []string{"a", "b"}},
			{"a has no due time, unconditionally", engine.Record{Key: "a"}, -1, []string{"b"}, []string{"b"}},
			{"a is due again, unconditionally", engine.Record{Key: "a", Due: at(3 * time.Second)}, -1, []string{"b"}, []string{"b", "a"}},
			{"a lost race does not move it", engine.Record{Key: "a", Due: at(0)}, 1, []string{"b"}, []string{"b", "a"}},
			{"b keeps its due time", engine.Record{Key: "b", Due: at(2 * time.Second), Value: []byte("x")}, 1, []string{"b"}, []string{"b", "a"}},
		}
		for _, st := range steps {
			st.r.Kind = "k"
			_, err := s.PutRecord(t.Context(), st.r, st.expected)
			if strings.HasPrefix(st.name, "a lost race") {
				if !errors.Is(err, engine.ErrConflict) {
					t.Fatalf("%s: PutRecord = %v, want ErrConflict", st.name, err)
				}
			} else if err != nil {
				t.Fatalf("%s: PutRecord: %v", st.name, err)
			}
			equalIDs(t, st.name+", at 2s", dueRecordKeys(t, s, "k", at(2*time.Second), 0), st.at2s)
			equalIDs(t, st.name+", an hour later", dueRecordKeys(t, s, "k", late, 0), st.atLate)
		}

		if err := s.DeleteRecord(t.Context(), "k", "b", 1); !errors.Is(err, engine.ErrConflict) {
			t.Fatalf("DeleteRecord b at a stale version = %v, want ErrConflict", err)
		}
		equalIDs(t, "after a lost delete", dueRecordKeys(t, s, "k", late, 0), []string{"b", "a"})
		if err := s.DeleteRecord(t.Context(), "k", "b", 2); err != nil {
			t.Fatal(err)
		}
		equalIDs(t, "after deleting b", dueRecordKeys(t, s, "k", late, 0), []string{"a"})
		if err := s.DeleteRecord(t.Context(), "k", "a", -1); err != nil {
			t.Fatal(err)
		}
		equalIDs(t, "after deleting a", dueRecordKeys(t, s, "k", late, 0), []string{})
		// A record created anew under a deleted key is due by its new time
		// only.
		putRecord(t, s, engine.Record{Kind: "k", Key: "a", Due: at(time.Minute)}, 0)
		equalIDs(t, "a created again, at 2s", dueRecordKeys(t, s, "k", at(2*time.Second), 0), []string{})
		equalIDs(t, "a created again, an hour later", dueRecordKeys(t, s, "k", late, 0), []string{"a"})
	}},
	{"Concurrent/putRecordOneWinner", func(t *testing.T, s engine.Store) {
		const n = 8
		for _, expected := range []int64{0, 1} { // create, then update
			wins := make([]bool, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					r := engine.Record{Kind: "race", Key: "r", Value: []byte(fmt.Sprint("writer ", i)), Due: t0.Add(time.Duration(i) * time.Second)}
					v, err := s.PutRecord(context.Background(), r, expected)
					switch {
					case err == nil:
						if v != expected+1 {
							t.Errorf("writer %d: version %d, want %d", i, v, expected+1)
						}
						wins[i] = true
					case !errors.Is(err, engine.ErrConflict):
						t.Errorf("writer %d: %v", i, err)
					}
				})
			}
			wg.Wait()
			winner := slices.Index(wins, true)
			if c := len(slices.DeleteFunc(slices.Clone(wins), func(w bool) bool { return !w })); c != 1 {
				t.Fatalf("expected %d: %d of %d writers won, want exactly 1", expected, c, n)
			}
			got := mustRecord(t, s, "race", "r")
			if string(got.Value) != fmt.Sprint("writer ", winner) || got.Version != expected+1 {
				t.Errorf("expected %d: stored %+v, want writer %d's at version %d", expected, got, winner, expected+1)
			}
			// Only the winner's due time is listed.
			equalIDs(t, "due records after the race", dueRecordKeys(t, s, "race", t0.Add(time.Hour), 0), []string{"r"})
			rs, err := s.DueRecords(t.Context(), "race", t0.Add(time.Hour), 0)
			if err != nil || len(rs) != 1 || !rs[0].Due.Equal(t0.Add(time.Duration(winner)*time.Second)) {
				t.Errorf("due records after the race: %+v, %v; want writer %d's", rs, err, winner)
			}
		}
	}},
	{"Concurrent/unconditionalPutsAllCount", func(t *testing.T, s engine.Store) {
		const n = 8
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				if _, err := s.PutRecord(context.Background(), engine.Record{Kind: "k", Key: "counter"}, -1); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if got := mustRecord(t, s, "k", "counter"); got.Version != n {
			t.Errorf("after %d unconditional puts, version %d, want %d", n, got.Version, n)
		}
	}},
	{"KV/setGetKeysDeleteAndExpiry", func(t *testing.T, s engine.Store) {
		ctx := t.Context()
		now := time.Date(2024, 1, 31, 10, 0, 0, 0, time.UTC)
		kv := engine.RecordKV{Store: s, Now: func() time.Time { return now }}
		put := func(ns, key string, v any, overwrite bool, ttl time.Duration) error {
			e := tasks.KVEntry{Type: tasks.KVJSON, Value: v, Updated: now}
			if ttl > 0 {
				e.Expires = now.Add(ttl)
			}
			return kv.PutKV(ctx, ns, key, e, overwrite)
		}
		for _, p := range []struct {
			ns, key string
			v       any
			ttl     time.Duration
		}{{"a.b", "x1", map[string]any{"n": int64(1)}, 0}, {"a.b", "x2", "two", time.Minute}, {"a.b", "y", true, 0}, {"a.bc", "x3", 3.5, 0}} {
			if err := put(p.ns, p.key, p.v, true, p.ttl); err != nil {
				t.Fatalf("PutKV %s/%s: %v", p.ns, p.key, err)
			}
		}
		if err := put("a.b", "x1", "again", false, 0); !errors.Is(err, tasks.ErrKVExists) {
			t.Errorf("PutKV without overwrite over a live key: %v, want ErrKVExists", err)
		}
		if e, ok, err := kv.GetKV(ctx, "a.b", "x1"); err != nil || !ok || fmt.Sprint(e.Value) != "map[n:1]" {
			t.Errorf("GetKV x1 = %+v %v %v", e, ok, err)
		}
		if keys, err := kv.KVKeys(ctx, "a.b", "x"); err != nil || !slices.Equal(keys, []string{"x1", "x2"}) {
			t.Errorf("KVKeys a.b x = %v %v, want [x1 x2] (not a.bc's)", keys, err)
		}
		now = now.Add(time.Hour) // x2 expired
		if _, ok, err := kv.GetKV(ctx, "a.b", "x2"); ok || err != nil {
			t.Errorf("GetKV of an expired key: found %v, %v", ok, err)
		}
		if keys, _ := kv.KVKeys(ctx, "a.b", ""); !slices.Equal(keys, []string{"x1", "y"}) {
			t.Errorf("KVKeys after expiry = %v", keys)
		}
		if err := put("a.b", "x2", "new", false, 0); err != nil {
			t.Errorf("PutKV without overwrite over an expired key: %v", err)
		}
		if due := dueRecordKeys(t, s, engine.KindKV, now, 10); len(due) != 0 {
			t.Errorf("due KV records %v after x2 was put again without a ttl", due)
		}
		if ok, err := kv.DeleteKV(ctx, "a.b", "y"); !ok || err != nil {
			t.Errorf("DeleteKV y = %v %v", ok, err)
		}
		if ok, err := kv.DeleteKV(ctx, "a.b", "y"); ok || err != nil {
			t.Errorf("DeleteKV y again = %v %v", ok, err)
		}
		if err := put("a.b", "../x", 1, true, 0); err == nil {
			t.Errorf("PutKV accepted the key ../x")
		}
	}},
}
