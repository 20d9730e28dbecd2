package tasks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/relayflow/relay/statemachine/flow"
)

// memKV is a KV store in memory, with a clock.
type memKV struct {
	now     time.Time
	entries map[string]KVEntry
}

func newMemKV() *memKV {
	return &memKV{now: time.Date(2024, 1, 31, 10, 0, 0, 0, time.UTC), entries: map[string]KVEntry{}}
}

func (m *memKV) live(k string) (KVEntry, bool) {
	e, ok := m.entries[k]
	if ok && !e.Expires.IsZero() && !e.Expires.After(m.now) {
		return KVEntry{}, false
	}
	return e, ok
}

func (m *memKV) GetKV(_ context.Context, ns, key string) (KVEntry, bool, error) {
	e, ok := m.live(ns + "/" + key)
	return e, ok, nil
}

func (m *memKV) PutKV(_ context.Context, ns, key string, e KVEntry, overwrite bool) error {
	if _, ok := m.live(ns + "/" + key); ok && !overwrite {
		return ErrKVExists
	}
	m.entries[ns+"/"+key] = e
	return nil
}

func (m *memKV) DeleteKV(_ context.Context, ns, key string) (bool, error) {
	_, ok := m.live(ns + "/" + key)
	delete(m.entries, ns+"/"+key)
	return ok, nil
}

func (m *memKV) KVKeys(_ context.Context, ns, prefix string) ([]string, error) {
	var keys []string
	for k := range m.entries {
		if rest, ok := strings.CutPrefix(k, ns+"/"); ok && strings.HasPrefix(rest, prefix) {
			if _, live := m.live(k); live {
				keys = append(keys, rest)
			}
		}
	}
	sort.Strings(keys)
	return keys, nil
}

func kvRequest(kv KV, typ string, props map[string]any) Request {
	req := newRequest(typ, props)
	req.Namespace, req.FlowID, req.KV = "company.team", "f", kv
	return req
}

func TestKVSet_typesAsKestra(t *testing.T) {
	day := time.Date(2024, 1, 31, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		value   any
		kvType  string
		want    any
		typ     string
		errText string
	}{
		{"hello", "", "hello", KVString, ""},
		{int64(42), "", int64(42), KVNumber, ""},
		{2.5, "", 2.5, KVNumber, ""},
		{true, "", true, KVBoolean, ""},
		{map[string]any{"a": int64(1)}, "", map[string]any{"a": int64(1)}, KVJSON, ""},
		{[]any{"x"}, "", []any{"x"}, KVJSON, ""},
		{day, "", "2024-01-31T10:00:00Z", KVDateTime, ""},
		{int64(42), KVString, "42", KVString, ""},
		{"42", KVNumber, int64(42), KVNumber, ""},
		{" 1.5 ", KVNumber, 1.5, KVNumber, ""},
		{"many", KVNumber, nil, "", "kvType NUMBER: many is not a number"},
		{"true", KVBoolean, true, KVBoolean, ""},
		{"yes", KVBoolean, nil, "", "is not true or false"},
		{"2024-01-31T11:00:00+01:00", KVDateTime, "2024-01-31T10:00:00Z", KVDateTime, ""},
		{"2024-01-31", KVDateTime, nil, "", "is not an ISO 8601 date and time"},
		{"2024-01-31", KVDate, "2024-01-31", KVDate, ""},
		{"PT5M", KVDuration, "PT5M", KVDuration, ""},
		{"soon", KVDuration, nil, "", "is not a duration"},
		{`{"a": [1, 2]}`, KVJSON, map[string]any{"a": []any{int64(1), int64(2)}}, KVJSON, ""},
		{`{"a": `, KVJSON, nil, "", "kvType JSON"},
		{"x", "TEXT", nil, "", `unknown kvType "TEXT"`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v %s", tt.value, tt.kvType), func(t *testing.T) {
			kv := newMemKV()
			props := map[string]any{"key": "k", "value": tt.value}
			if tt.kvType != "" {
				props["kvType"] = tt.kvType
			}
			_, err := NewKVSet(func() time.Time { return kv.now }).Run(context.Background(), kvRequest(kv, flow.TypeKVSet, props))
			if tt.errText != "" {
				if e := wantTaskError(t, err, KindFatal, typeInvalidProperty); !strings.Contains(e.Message, tt.errText) {
					t.Errorf("error %q, want %q", e.Message, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			e := kv.entries["company.team/k"]
			if e.Type != tt.typ || fmt.Sprint(e.Value) != fmt.Sprint(tt.want) || fmt.Sprintf("%T", e.Value) != fmt.Sprintf("%T", tt.want) {
				t.Errorf("stored %s %#v, want %s %#v", e.Type, e.Value, tt.typ, tt.want)
			}
		})
	}
}

func TestKVTasks_setGetDeleteKeys(t *testing.T) {
	ctx := context.Background()
	kv := newMemKV()
	run := func(r Runner, typ string, props map[string]any) (map[string]any, error) {
		res, err := r.Run(ctx, kvRequest(kv, typ, props))
		return res.Outputs, err
	}
	set := NewKVSet(func() time.Time { return kv.now })
	if _, err := run(set, flow.TypeKVSet, map[string]any{"key": "a1", "value": "x", "ttl": "PT1M", "kvDescription": "first"}); err != nil {
		t.Fatal(err)
	}
	if e := kv.entries["company.team/a1"]; e.Description != "first" || !e.Expires.Equal(kv.now.Add(time.Minute)) {
		t.Errorf("entry %+v", e)
	}
	if _, err := run(set, flow.TypeKVSet, map[string]any{"key": "a2", "value": "y", "namespace": "other"}); err != nil {
		t.Fatal(err)
	}
	_, err := run(set, flow.TypeKVSet, map[string]any{"key": "a1", "value": "z", "overwrite": false})
	wantTaskError(t, err, KindFatal, "KVExists")
	big := strings.Repeat("x", MaxKVValue)
	for _, bad := range []map[string]any{{"key": "-x", "value": 1}, {"key": "a/b", "value": 1}, {"key": "a", "value": 1, "ttl": "later"}, {"key": "a"}, {"key": "a", "value": big}} {
		_, err := run(set, flow.TypeKVSet, bad)
		wantTaskError(t, err, KindFatal, typeInvalidProperty)
	}

	get := NewKVGet()
	if out, err := run(get, flow.TypeKVGet, map[string]any{"key": "a1"}); err != nil || out["value"] != "x" {
		t.Errorf("get a1 = %v %v", out, err)
	}
	if out, err := run(get, flow.TypeKVGet, map[string]any{"key": "a2", "namespace": "other"}); err != nil || out["value"] != "y" {
		t.Errorf("get other/a2 = %v %v", out, err)
	}
	if out, err := run(get, flow.TypeKVGet, map[string]any{"key": "nope"}); err != nil || out["value"] != nil {
		t.Errorf("get of a missing key = %v %v, want null", out, err)
	}
	_, err = run(get, flow.TypeKVGet, map[string]any{"key": "nope", "errorOnMissing": true})
	wantTaskError(t, err, KindFatal, "KVMissing")

	keys := NewKVGetKeys()
	if out, err := run(keys, flow.TypeKVGetKeys, map[string]any{"prefix": "a"}); err != nil || fmt.Sprint(out["keys"]) != "[a1]" {
		t.Errorf("keys = %v %v", out, err)
	}
	kv.now = kv.now.Add(time.Hour)
	if out, _ := run(get, flow.TypeKVGet, map[string]any{"key": "a1"}); out["value"] != nil {
		t.Errorf("an expired key reads %v", out["value"])
	}
	if out, _ := run(keys, flow.TypeKVGetKeys, nil); fmt.Sprint(out["keys"]) != "[]" {
		t.Errorf("keys after expiry = %v", out["keys"])
	}

	del := NewKVDelete()
	if out, err := run(del, flow.TypeKVDelete, map[string]any{"key": "a2", "namespace": "other"}); err != nil || out["deleted"] != true {
		t.Errorf("delete = %v %v", out, err)
	}
	if out, err := run(del, flow.TypeKVDelete, map[string]any{"key": "a2", "namespace": "other"}); err != nil || out["deleted"] != false {
		t.Errorf("delete again = %v %v", out, err)
	}
	_, err = run(del, flow.TypeKVDelete, map[string]any{"key": "a2", "namespace": "other", "errorOnMissing": true})
	wantTaskError(t, err, KindFatal, "KVMissing")

	_, err = NewKVGet().Run(ctx, newRequest(flow.TypeKVGet, map[string]any{"key": "a"}))
	wantTaskError(t, err, KindFatal, "NoKVStore")
}

type fakeLogs struct {
	lines []LogLine
	err   error
	asked []string
}

func (f *fakeLogs) ExecutionLogs(_ context.Context, ns, flowID, id string) ([]LogLine, error) {
	f.asked = append(f.asked, ns+"/"+flowID+"/"+id)
	return f.lines, f.err
}

func TestFetch_filtersByLevelAndTask(t *testing.T) {
	at := time.Date(2024, 1, 31, 10, 0, 0, 0, time.UTC)
	logs := &fakeLogs{lines: []LogLine{
		{Time: at, Level: "DEBUG", TaskID: "a", Message: "d"},
		{Time: at, Level: "INFO", TaskID: "a", TaskRunID: "a", Attempt: 1, Message: "i"},
		{Time: at, Level: "WARN", TaskID: "b", Message: "w"},
		{Time: at, Level: "ERROR", TaskID: "a", Message: "e"},
	}}
	tests := []struct {
		props map[string]any
		want  []string
		asked string
	}{
		{nil, []string{"i", "w", "e"}, "company.team/f/exec-1"},
		{map[string]any{"level": "WARN"}, []string{"w", "e"}, "company.team/f/exec-1"},
		{map[string]any{"level": "TRACE", "tasksId": []any{"a"}}, []string{"d", "i", "e"}, "company.team/f/exec-1"},
		{map[string]any{"executionId": "other"}, []string{"i", "w", "e"}, "company.team/f/other"},
		{map[string]any{"executionId": "other", "namespace": "n", "flowId": "g"}, []string{"i", "w", "e"}, "n/g/other"},
	}
	for _, tt := range tests {
		logs.asked = nil
		req := newRequest(flow.TypeLogFetch, tt.props)
		req.Namespace, req.FlowID, req.ExecutionID, req.Logs = "company.team", "f", "exec-1", logs
		res, err := NewFetch().Run(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range res.Outputs["logs"].([]any) {
			got = append(got, l.(map[string]any)["message"].(string))
		}
		if !slices.Equal(got, tt.want) || res.Outputs["size"] != int64(len(tt.want)) || logs.asked[0] != tt.asked {
			t.Errorf("%v: %v (size %v) of %v, want %v of %s", tt.props, got, res.Outputs["size"], logs.asked, tt.want, tt.asked)
		}
	}
	logs.err = errors.New("flow company.team.f has no execution x")
	req := newRequest(flow.TypeLogFetch, map[string]any{"executionId": "x"})
	req.Logs = logs
	_, err := NewFetch().Run(context.Background(), req)
	wantTaskError(t, err, KindFatal, "FetchLogs")
}
