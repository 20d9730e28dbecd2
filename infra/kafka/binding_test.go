package kafka

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
)

var t0 = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)

// fullEvent sets every attribute the binding maps.
func fullEvent(t testing.TB) cloudevents.Event {
	t.Helper()
	ev := cloudevents.New()
	ev.SetID("ev-1")
	ev.SetType("relay.execution.started")
	ev.SetSource("/relay/executions/e1")
	ev.SetSubject("demo/hello")
	ev.SetTime(t0)
	ev.SetDataSchema("https://relay.example/schemas/started.json")
	ev.SetExtension("relayexecution", "e1")
	ev.SetExtension("relayattempt", 3)
	ev.SetExtension("relayretry", true)
	if err := ev.SetData(cloudevents.ApplicationJSON, map[string]any{"n": 1}); err != nil {
		t.Fatal(err)
	}
	if err := ev.Validate(); err != nil {
		t.Fatal(err)
	}
	return ev
}

func hdrs(kv ...string) []Header {
	var hs []Header
	for i := 0; i < len(kv); i += 2 {
		hs = append(hs, Header{Key: kv[i], Value: []byte(kv[i+1])})
	}
	return hs
}

func TestEncodeMessageBinaryMode(t *testing.T) {
	headers, value, err := EncodeMessage(fullEvent(t))
	if err != nil {
		t.Fatal(err)
	}
	want := hdrs(
		"ce_specversion", "1.0",
		"ce_id", "ev-1",
		"ce_source", "/relay/executions/e1",
		"ce_type", "relay.execution.started",
		"ce_subject", "demo/hello",
		"ce_time", "2025-03-14T15:09:26.535897Z",
		"ce_dataschema", "https://relay.example/schemas/started.json",
		"ce_relayattempt", "3",
		"ce_relayexecution", "e1",
		"ce_relayretry", "true",
		"content-type", "application/json",
	)
	if got, w := fmt.Sprintf("%q", headers), fmt.Sprintf("%q", want); got != w {
		t.Errorf("headers\n%s\nwant\n%s", got, w)
	}
	if string(value) != `{"n":1}` {
		t.Errorf("value %q", value)
	}

	// The minimum: no optional attribute, no data, no content-type.
	ev := cloudevents.New()
	ev.SetID("x")
	ev.SetType("t")
	ev.SetSource("/s")
	headers, value, err = EncodeMessage(ev)
	if err != nil {
		t.Fatal(err)
	}
	if got, w := fmt.Sprintf("%q", headers), fmt.Sprintf("%q", hdrs("ce_specversion", "1.0", "ce_id", "x", "ce_source", "/s", "ce_type", "t")); got != w {
		t.Errorf("headers %s, want %s", got, w)
	}
	if value != nil {
		t.Errorf("value %q, want nil", value)
	}

	if _, _, err := EncodeMessage(cloudevents.New()); err == nil {
		t.Error("an event without id, source and type was encoded")
	}
}

func TestEncodeMessageCopiesData(t *testing.T) {
	ev := fullEvent(t)
	_, value, err := EncodeMessage(ev)
	if err != nil {
		t.Fatal(err)
	}
	ev.DataEncoded[0] = 'X'
	if string(value) != `{"n":1}` {
		t.Errorf("value changed with the event: %q", value)
	}
}

// sameEvent reports how got differs from want, comparing extension values
// in their canonical string form (binary mode carries them as strings).
func sameEvent(got, want cloudevents.Event) string {
	var diffs []string
	check := func(name, g, w string) {
		if g != w {
			diffs = append(diffs, fmt.Sprintf("%s = %q, want %q", name, g, w))
		}
	}
	check("specversion", got.SpecVersion(), cloudevents.CloudEventsVersionV1)
	check("id", got.ID(), want.ID())
	check("source", got.Source(), want.Source())
	check("type", got.Type(), want.Type())
	check("subject", got.Subject(), want.Subject())
	check("dataschema", got.DataSchema(), want.DataSchema())
	check("datacontenttype", got.DataContentType(), want.DataContentType())
	check("time", got.Time().UTC().Format(time.RFC3339Nano), want.Time().UTC().Format(time.RFC3339Nano))
	check("data", string(got.Data()), string(want.Data()))
	canon := func(ev cloudevents.Event) string {
		m := map[string]string{}
		for k, v := range ev.Extensions() {
			s, err := types.Format(v)
			if err != nil {
				s = fmt.Sprint(err)
			}
			m[k] = s
		}
		return fmt.Sprint(m)
	}
	check("extensions", canon(got), canon(want))
	return strings.Join(diffs, "; ")
}

func TestDecodeMessage(t *testing.T) {
	structured, err := json.Marshal(fullEvent(t))
	if err != nil {
		t.Fatal(err)
	}
	binaryHeaders, binaryValue, err := EncodeMessage(fullEvent(t))
	if err != nil {
		t.Fatal(err)
	}
	minimal := func() cloudevents.Event {
		ev := cloudevents.New()
		ev.SetID("x")
		ev.SetType("t")
		ev.SetSource("/s")
		return ev
	}
	withData := func(ct, data string) cloudevents.Event {
		ev := minimal()
		ev.SetDataContentType(ct)
		ev.DataEncoded = []byte(data)
		return ev
	}
	base := []string{"ce_specversion", "1.0", "ce_id", "x", "ce_source", "/s", "ce_type", "t"}
	with := func(kv ...string) []Header { return hdrs(append(append([]string{}, base...), kv...)...) }

	tests := []struct {
		name    string
		headers []Header
		value   string
		want    cloudevents.Event
		wantErr string // substring of the error; "" for success
	}{
		{name: "binary: what EncodeMessage writes", headers: binaryHeaders, value: string(binaryValue), want: fullEvent(t)},
		{name: "binary: minimal", headers: with(), want: minimal()},
		{name: "binary: data and content type", headers: with("content-type", "text/plain"), value: "hi", want: withData("text/plain", "hi")},
		{name: "binary: header names in any case", headers: hdrs("CE_SpecVersion", "1.0", "ce_ID", "x", "ce_source", "/s", "Ce_Type", "t", "Content-Type", "text/plain"), value: "hi", want: withData("text/plain", "hi")},
		{name: "binary: ce_datacontenttype without content-type", headers: with("ce_datacontenttype", "text/plain"), value: "hi", want: withData("text/plain", "hi")},
		{name: "binary: other headers ignored", headers: with("traceparent", "00-abc", "relay_error", "x"), want: minimal()},
		{name: "binary: content-type of data that looks structured is not", headers: with("content-type", "application/json"), value: `{"specversion":"1.0"}`, want: withData("application/json", `{"specversion":"1.0"}`)},
		{name: "structured", headers: hdrs("content-type", ContentTypeStructuredJSON), value: string(structured), want: fullEvent(t)},
		{name: "structured: parameters and case", headers: hdrs("Content-Type", "Application/CloudEvents+JSON; charset=UTF-8"), value: string(structured), want: fullEvent(t)},
		{name: "structured: ce_ headers ignored", headers: hdrs("content-type", ContentTypeStructuredJSON, "ce_id", "other"), value: string(structured), want: fullEvent(t)},
		{name: "structured: data_base64", headers: hdrs("content-type", ContentTypeStructuredJSON),
			value: `{"specversion":"1.0","id":"x","source":"/s","type":"t","datacontenttype":"application/octet-stream","data_base64":"AAEC"}`,
			want:  withData("application/octet-stream", "\x00\x01\x02")},

		{name: "no headers", value: "hello", wantErr: "not a CloudEvent"},
		{name: "plain JSON", headers: hdrs("content-type", "application/json"), value: `{"a":1}`, wantErr: "not a CloudEvent"},
		{name: "binary: spec version 0.3", headers: hdrs("ce_specversion", "0.3", "ce_id", "x", "ce_source", "/s", "ce_type", "t"), wantErr: "unsupported spec version"},
		{name: "binary: no id", headers: hdrs("ce_specversion", "1.0", "ce_source", "/s", "ce_type", "t"), wantErr: "id"},
		{name: "binary: empty type", headers: hdrs("ce_specversion", "1.0", "ce_id", "x", "ce_source", "/s", "ce_type", ""), wantErr: "type"},
		{name: "binary: bad time", headers: with("ce_time", "yesterday"), wantErr: "ce_time"},
		{name: "binary: bad source", headers: hdrs("ce_specversion", "1.0", "ce_id", "x", "ce_source", "%zz", "ce_type", "t"), wantErr: "source"},
		{name: "binary: repeated attribute", headers: with("ce_id", "y"), wantErr: "twice"},
		{name: "binary: invalid extension name", headers: with("ce_relay-trace", "v"), wantErr: "not a valid attribute name"},
		{name: "binary: empty extension name", headers: with("ce_", "v"), wantErr: "not a valid attribute name"},
		{name: "binary: header not UTF-8", headers: with("ce_relaytrace", "\xff\xfe"), wantErr: "not UTF-8"},
		{name: "structured: not JSON", headers: hdrs("content-type", ContentTypeStructuredJSON), value: "{", wantErr: "decode structured event"},
		{name: "structured: empty", headers: hdrs("content-type", ContentTypeStructuredJSON), wantErr: "decode structured event"},
		{name: "structured: no type", headers: hdrs("content-type", ContentTypeStructuredJSON), value: `{"specversion":"1.0","id":"x","source":"/s"}`, wantErr: "type"},
		{name: "structured: spec version 0.3", headers: hdrs("content-type", ContentTypeStructuredJSON), value: `{"specversion":"0.3","id":"x","source":"/s","type":"t"}`, wantErr: "unsupported spec version"},
		{name: "structured: batch", headers: hdrs("content-type", "application/cloudevents-batch+json"), value: "[]", wantErr: "unsupported structured content type"},
		{name: "structured: other format", headers: hdrs("content-type", "application/cloudevents+avro"), value: "x", wantErr: "unsupported structured content type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var value []byte
			if tc.value != "" {
				value = []byte(tc.value)
			}
			got, err := DecodeMessage(tc.headers, value)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := sameEvent(got, tc.want); diff != "" {
				t.Errorf("decoded event differs: %s\n%v", diff, got)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("decoded event invalid: %v", err)
			}
		})
	}
}

func TestDecodeMessageDoesNotShareValue(t *testing.T) {
	value := []byte("hello")
	ev, err := DecodeMessage(hdrs("ce_specversion", "1.0", "ce_id", "x", "ce_source", "/s", "ce_type", "t"), value)
	if err != nil {
		t.Fatal(err)
	}
	value[0] = 'J'
	if string(ev.Data()) != "hello" {
		t.Errorf("data changed with the record's buffer: %q", ev.Data())
	}
}

// FuzzDecodeMessage feeds DecodeMessage arbitrary records: it must never
// panic, whatever it decodes must be valid, and encoding that event again
// must decode to the same event.
func FuzzDecodeMessage(f *testing.F) {
	binaryHeaders, binaryValue, err := EncodeMessage(fullEvent(f))
	if err != nil {
		f.Fatal(err)
	}
	structured, err := json.Marshal(fullEvent(f))
	if err != nil {
		f.Fatal(err)
	}
	// The fuzzer varies a flat encoding of headers: "key=value" lines.
	flat := func(hs []Header) string {
		var b strings.Builder
		for _, h := range hs {
			fmt.Fprintf(&b, "%s=%s\n", h.Key, h.Value)
		}
		return b.String()
	}
	f.Add(flat(binaryHeaders), binaryValue)
	f.Add("content-type="+ContentTypeStructuredJSON+"\n", structured)
	f.Add("content-type=application/cloudevents+json; charset=utf-8\n", []byte(`{"specversion":"0.3","id":"x","source":"/s","type":"t","datacontentencoding":"base64","data":"AAE="}`))
	f.Add("ce_specversion=1.0\nce_id=x\nce_source=/s\nce_type=t\nce_time=2025-01-01T00:00:00+02:00\nce_x=1\n", []byte(nil))
	f.Add("", []byte("garbage"))
	f.Fuzz(func(t *testing.T, headerLines string, value []byte) {
		var headers []Header
		for line := range strings.SplitSeq(headerLines, "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				headers = append(headers, Header{Key: k, Value: []byte(v)})
			}
		}
		ev, err := DecodeMessage(headers, value)
		if err != nil {
			return
		}
		if err := ev.Validate(); err != nil {
			t.Fatalf("decoded an invalid event: %v", err)
		}
		h2, v2, err := EncodeMessage(ev)
		if err != nil {
			t.Fatalf("cannot encode a decoded event %v: %v", ev, err)
		}
		again, err := DecodeMessage(h2, v2)
		if err != nil {
			t.Fatalf("cannot decode the re-encoded event: %v\nheaders %q", err, h2)
		}
		if diff := sameEvent(again, ev); diff != "" {
			t.Fatalf("re-encoded event differs: %s", diff)
		}
	})
}
