package dynamo

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TestPutDoc_movesTheLargestValueFieldsFirst checks which fields go to
// blobs, without DynamoDB: the largest listed ones, until the document is
// within the threshold, never small ones nor unlisted ones; and reading
// the item back gives the document that was written.
func TestPutDoc_movesTheLargestValueFieldsFirst(t *testing.T) {
	const threshold = 10 << 10
	text := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name  string
		doc   map[string]any
		moved []string
	}{
		{"smallDocument", map[string]any{"a": text(100), "b": text(5000)}, nil},
		{"oneLargeField", map[string]any{"a": text(20 << 10), "b": text(100), "id": "x"}, []string{"a"}},
		{"largestFirstThenStop", map[string]any{"a": text(8 << 10), "b": text(6 << 10), "c": text(900)}, []string{"a"}},
		{"severalUntilWithin", map[string]any{"a": text(8 << 10), "b": text(7 << 10), "c": text(6 << 10)}, []string{"a", "b"}},
		{"unlistedFieldsStay", map[string]any{"a": text(2 << 10), "other": text(30 << 10)}, []string{"a"}},
		{"smallFieldsNeverMove", map[string]any{"a": text(900), "b": text(900), "other": text(30 << 10)}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			counting, _ := newBlobs(t)
			s := New(nil, "unused", WithBlobs(counting, threshold))
			item := map[string]types.AttributeValue{attrPK: avS(pkExec + "e1"), attrSK: avS(runSK(0))}
			if err := s.putDoc(context.Background(), item, "e1", tc.doc, []string{"a", "b", "c"}); err != nil {
				t.Fatal(err)
			}
			if got := blobFields(item); !reflect.DeepEqual(got, tc.moved) {
				t.Errorf("moved %v, want %v", got, tc.moved)
			}
			if n := counting.puts.Load(); n != int64(len(tc.moved)) {
				t.Errorf("%d blobs written, want %d", n, len(tc.moved))
			}
			var back map[string]any
			if err := s.getBody(context.Background(), item, &back); err != nil {
				t.Fatal(err)
			}
			want, _ := json.Marshal(tc.doc)
			got, _ := json.Marshal(back)
			if string(got) != string(want) {
				t.Errorf("read back %d bytes that differ from the %d written", len(got), len(want))
			}
		})
	}
}
