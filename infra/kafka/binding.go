package kafka

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
)

// This file is the CloudEvents Kafka protocol binding
// (https://github.com/cloudevents/spec/blob/main/cloudevents/bindings/kafka-protocol-binding.md),
// written on plain headers so that it needs no Kafka client: the bus uses
// it on kafka-go records, and code that receives records some other way
// (an AWS Lambda Kafka event source, for one) can decode them the same way.
//
// Relay writes binary mode: every attribute in a `ce_<name>` header, the
// data content type in `content-type`, the data as the record value. It
// reads binary mode and structured mode (`content-type:
// application/cloudevents+json`, the whole event as JSON in the value).

// Header is one Kafka record header. It has the shape of kafka-go's
// kafka.Header without depending on it.
type Header struct {
	Key   string
	Value []byte
}

const (
	// HeaderContentType is the header holding the data content type in
	// binary mode and the event format in structured mode.
	HeaderContentType = "content-type"
	// ContentTypeStructuredJSON is the content type of a structured-mode
	// record holding the event as JSON.
	ContentTypeStructuredJSON = "application/cloudevents+json"

	// headerPrefix starts the header of each attribute in binary mode.
	headerPrefix = "ce_"
	// structuredPrefix starts the content type of every structured or
	// batched format.
	structuredPrefix = "application/cloudevents"
)

// EncodeMessage returns the headers and value of the binary-mode record for
// ev: `ce_specversion`, `ce_id`, `ce_source`, `ce_type`, then `ce_subject`,
// `ce_time` (RFC 3339), `ce_dataschema` when set, one `ce_<name>` header
// per extension (by name, values in their canonical string form), and
// `content-type` when the event has a data content type. The value is a
// copy of the event's data (nil without data). Events of spec version 0.3
// are written as 1.0.
func EncodeMessage(ev cloudevents.Event) ([]Header, []byte, error) {
	if err := ev.Validate(); err != nil {
		return nil, nil, fmt.Errorf("encode event: invalid event: %w", err)
	}
	c := ev.Context.AsV1()
	h := make([]Header, 0, 8+len(c.Extensions))
	add := func(name, value string) {
		h = append(h, Header{Key: name, Value: []byte(value)})
	}
	add(headerPrefix+"specversion", cloudevents.CloudEventsVersionV1)
	add(headerPrefix+"id", c.ID)
	add(headerPrefix+"source", c.Source.String())
	add(headerPrefix+"type", c.Type)
	if c.Subject != nil {
		add(headerPrefix+"subject", *c.Subject)
	}
	if c.Time != nil {
		add(headerPrefix+"time", types.FormatTime(c.Time.Time))
	}
	if c.DataSchema != nil {
		add(headerPrefix+"dataschema", c.DataSchema.String())
	}
	names := make([]string, 0, len(c.Extensions))
	for name := range c.Extensions {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		v, err := types.Format(c.Extensions[name])
		if err != nil {
			return nil, nil, fmt.Errorf("encode event %s: extension %s: %w", c.ID, name, err)
		}
		add(headerPrefix+name, v)
	}
	if c.DataContentType != nil {
		add(HeaderContentType, *c.DataContentType)
	}
	return h, bytes.Clone(ev.Data()), nil
}

// DecodeMessage returns the event a record holds, in structured mode when
// its `content-type` header says application/cloudevents+json and in
// binary mode otherwise. It fails when the record is not a valid
// CloudEvent (ev.Validate) of spec version 1.0, is in a structured format
// other than JSON or in batched mode, or its binary headers are not UTF-8, repeat an
// attribute or hold a malformed one. Headers not named `ce_*` or
// `content-type` are ignored, as is the record key. The event does not
// share memory with value.
func DecodeMessage(headers []Header, value []byte) (cloudevents.Event, error) {
	ct, _ := header(headers, HeaderContentType)
	var (
		ev  cloudevents.Event
		err error
	)
	if mt := mediaType(ct); strings.HasPrefix(mt, structuredPrefix) {
		ev, err = decodeStructured(mt, value)
	} else {
		ev, err = decodeBinary(headers, ct, value)
	}
	if err != nil {
		return cloudevents.Event{}, err
	}
	if err := ev.Validate(); err != nil {
		return cloudevents.Event{}, fmt.Errorf("decode event: invalid event: %w", err)
	}
	return ev, nil
}

func decodeStructured(mt string, value []byte) (cloudevents.Event, error) {
	if mt != ContentTypeStructuredJSON {
		return cloudevents.Event{}, fmt.Errorf("decode event: unsupported structured content type %q (only %s)", mt, ContentTypeStructuredJSON)
	}
	ev := cloudevents.New()
	if err := json.Unmarshal(value, &ev); err != nil {
		return cloudevents.Event{}, fmt.Errorf("decode structured event: %w", err)
	}
	if v := ev.SpecVersion(); v != cloudevents.CloudEventsVersionV1 {
		return cloudevents.Event{}, fmt.Errorf("decode structured event: unsupported spec version %q", v)
	}
	return ev, nil
}

func decodeBinary(headers []Header, ct string, value []byte) (cloudevents.Event, error) {
	ev := cloudevents.New()
	var specVersion, altContentType string
	seen := make(map[string]bool, len(headers))
	for _, h := range headers {
		name := strings.ToLower(h.Key)
		if !strings.HasPrefix(name, headerPrefix) {
			continue
		}
		attr := name[len(headerPrefix):]
		if seen[attr] {
			return cloudevents.Event{}, fmt.Errorf("decode event: header %s appears twice", h.Key)
		}
		seen[attr] = true
		if !utf8.Valid(h.Value) {
			return cloudevents.Event{}, fmt.Errorf("decode event: header %s is not UTF-8", h.Key)
		}
		v := string(h.Value)
		switch attr {
		case "specversion":
			specVersion = v
		case "id":
			ev.SetID(v)
		case "source":
			ev.SetSource(v)
		case "type":
			ev.SetType(v)
		case "subject":
			ev.SetSubject(v)
		case "dataschema":
			ev.SetDataSchema(v)
		case "datacontenttype":
			// Binary mode carries it in content-type; tolerated here.
			altContentType = v
		case "time":
			t, err := types.ParseTime(v)
			if err != nil {
				return cloudevents.Event{}, fmt.Errorf("decode event: header %s: %w", h.Key, err)
			}
			ev.SetTime(t)
		default:
			if !cloudevents.IsExtensionNameValid(attr) {
				return cloudevents.Event{}, fmt.Errorf("decode event: header %s: %q is not a valid attribute name", h.Key, attr)
			}
			ev.SetExtension(attr, v)
		}
	}
	switch specVersion {
	case cloudevents.CloudEventsVersionV1:
	case "":
		return cloudevents.Event{}, errors.New("decode event: not a CloudEvent: no ce_specversion header and no structured content type")
	default:
		return cloudevents.Event{}, fmt.Errorf("decode event: unsupported spec version %q in binary mode", specVersion)
	}
	if ct == "" {
		ct = altContentType
	}
	if ct != "" {
		ev.SetDataContentType(ct)
	}
	if len(value) > 0 {
		ev.DataEncoded = bytes.Clone(value)
		// As the SDK does: data that is not text goes to JSON as data_base64.
		ev.DataBase64 = !textual(mediaType(ct))
	}
	return ev, nil
}

// header returns the value of the last header named name (ignoring case).
func header(headers []Header, name string) (string, bool) {
	for i := len(headers) - 1; i >= 0; i-- {
		if strings.EqualFold(headers[i].Key, name) {
			return string(headers[i].Value), true
		}
	}
	return "", false
}

// mediaType returns a content type without parameters, in lower case.
func mediaType(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

// textual reports whether data of media type mt is text (JSON included).
func textual(mt string) bool {
	return mt == "" || strings.HasPrefix(mt, "text/") || mt == "application/json" ||
		strings.HasSuffix(mt, "+json") || mt == "application/xml" || strings.HasSuffix(mt, "+xml")
}
