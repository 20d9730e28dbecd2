package dynamo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// execBody is a JSON document shaped like an execution of a few task runs.
func execBody(runs int) []byte {
	type run struct {
		ID, TaskID, State, Started, Ended string
		Attempt                           int
		Outputs                           map[string]any
	}
	doc := map[string]any{"id": "e1", "namespace": "company.team", "flowId": "steps", "state": "RUNNING"}
	var rs []run
	for i := range runs {
		rs = append(rs, run{ID: fmt.Sprintf("t%04d", i), TaskID: fmt.Sprintf("step%d", i), State: "SUCCESS",
			Started: "2026-11-21T16:54:24.123456Z", Ended: "2026-11-21T16:54:24.223456Z", Attempt: 1, Outputs: map[string]any{"value": i}})
	}
	doc["taskRuns"] = rs
	b, _ := json.Marshal(doc)
	return b
}

// TestBody_roundTrips: bodies, compressed or not, decode to what was
// encoded, with writers and readers reused.
func TestBody_roundTrips(t *testing.T) {
	for _, runs := range []int{0, 1, 20, 500, 3, 500} {
		b := execBody(runs)
		item := map[string]types.AttributeValue{}
		if err := encodeBody(item, b); err != nil {
			t.Fatal(err)
		}
		if _, compressed := item[attrEnc]; compressed != (len(b) > compressAbove) {
			t.Errorf("%d bytes: compressed %v", len(b), compressed)
		}
		got, err := decodeBody(item)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, b) {
			t.Errorf("%d task runs: body changed in the round trip", runs)
		}
	}
}

func BenchmarkEncodeBody(b *testing.B) {
	body := execBody(20)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := encodeBody(map[string]types.AttributeValue{}, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeBody(b *testing.B) {
	item := map[string]types.AttributeValue{}
	body := execBody(20)
	if err := encodeBody(item, body); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeBody(item); err != nil {
			b.Fatal(err)
		}
	}
}
