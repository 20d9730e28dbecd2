package dynamo

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The table's key attributes and its one index. docs/state-table.md
// describes every item and the access pattern behind each key.
const (
	attrPK     = "PK"
	attrSK     = "SK"
	attrGSI1PK = "GSI1PK"
	attrGSI1SK = "GSI1SK"
	indexGSI1  = "GSI1"
	// GSI2 lists a flow's executions. It projects the keys only, so that
	// a commit, which rewrites the execution item but never its GSI2 keys,
	// writes nothing to the index.
	attrGSI2PK = "GSI2PK"
	attrGSI2SK = "GSI2SK"
	indexGSI2  = "GSI2"

	attrBody     = "body"     // the item's document, JSON, gzip-compressed when large
	attrEnc      = "enc"      // "gzip" when body is compressed
	attrVersion  = "version"  // an execution's version, for conditional writes
	attrState    = "state"    // an execution's state, for listing filters
	attrNS       = "ns"       // namespace
	attrFlow     = "flowId"   // flow id
	attrStart    = "start"    // an execution's start date (RFC 3339, fixed width)
	attrRevision = "revision" // a flow's revision
	attrSeq      = "n"        // a log sequence counter
	attrPaged    = "paged"    // on an execution item whose task runs are items of their own
	attrExpires  = "expiresAt"
)

// Key prefixes.
const (
	pkFlow    = "FLOW#"     // FLOW#<ns>#<id>: SK LATEST, REV#<revision>
	pkExec    = "EXEC#"     // EXEC#<id>: SK EXEC, RUN#<position>, ITEMS#<position>
	pkLogs    = "LOGS#"     // LOGS#<execution id>: SK SEQ, LOG#<seq>
	pkOutbox  = "OUTBOX#"   // OUTBOX#<entry id>: SK OUTBOX
	pkTimer   = "TIMER#"    // TIMER#<timer id>: SK TIMER
	skLatest  = "LATEST"    //
	skExec    = "EXEC"      //
	skRun     = "RUN#"      //
	skItems   = "ITEMS#"    //
	skLogSeq  = "SEQ"       //
	skLog     = "LOG#"      //
	skOutbox  = "OUTBOX"    //
	skTimer   = "TIMER"     //
	gsiFlows  = "FLOWS"     // GSI1: the latest revision of every flow, by ns#id
	gsiOutbox = "OUTBOX"    // GSI1: pending outbox entries in commit order
	gsiTimers = "TIMERS"    // GSI1: timers by due time
	gsiExecs  = "FLOWEXEC#" // GSI2: FLOWEXEC#<ns>#<flow>: a flow's executions by start date
)

func flowPK(ns, id string) string  { return pkFlow + ns + "#" + id }
func revSK(rev int) string         { return fmt.Sprintf("REV#%010d", rev) }
func runSK(pos int) string         { return fmt.Sprintf("%s%08d", skRun, pos) }
func itemsSK(pos int) string       { return fmt.Sprintf("%s%08d", skItems, pos) }
func logSK(seq int64) string       { return fmt.Sprintf("%s%012d", skLog, seq) }
func fixedTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

func avS(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func avN(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

// compressAbove is the body size from which bodies are stored compressed:
// write units are counted per KB of the item, and JSON compresses several
// times. It is well under 1 KB because an execution item's other
// attributes (keys, index keys, state, dates) take some 160 bytes: with a
// threshold of 1 KB, an 870-byte body made a new three-step execution a
// 1,027-byte item, two write units for its creation and two more for the
// next commit (a conditional put is billed on the larger of the old and
// the new item). TestCommit_threeStepFlowCostsFiveWriteUnits holds it.
const compressAbove = 512

// putBody encodes v as the item's body (items whose size Relay bounds:
// flows, timers; the others go through Store.putDoc).
func putBody(item map[string]types.AttributeValue, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return encodeBody(item, b)
}

// gzipWriters and gzipReaders keep compressors for reuse: a new gzip
// writer allocates over 1 MB, more than compressing an execution costs.
var (
	gzipWriters = sync.Pool{New: func() any {
		zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
		return zw
	}}
	gzipReaders sync.Pool
)

// encodeBody sets the item's body to the JSON document b, compressed when
// large.
func encodeBody(item map[string]types.AttributeValue, b []byte) error {
	if len(b) > compressAbove {
		var buf bytes.Buffer
		zw := gzipWriters.Get().(*gzip.Writer)
		zw.Reset(&buf)
		zw.Write(b)
		err := zw.Close()
		gzipWriters.Put(zw)
		if err != nil {
			return err
		}
		b = buf.Bytes()
		item[attrEnc] = avS("gzip")
	}
	item[attrBody] = &types.AttributeValueMemberB{Value: b}
	return nil
}

// decodeBody returns an item's body as the JSON document it was given,
// decompressed (fields kept in blobs are still missing: see
// Store.getBody).
func decodeBody(item map[string]types.AttributeValue) ([]byte, error) {
	raw, ok := item[attrBody].(*types.AttributeValueMemberB)
	if !ok {
		return nil, fmt.Errorf("item %s/%s has no body", str(item, attrPK), str(item, attrSK))
	}
	b := raw.Value
	if str(item, attrEnc) == "gzip" {
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(bytes.NewReader(b))
		} else {
			err = zr.Reset(bytes.NewReader(b))
		}
		if err == nil {
			b, err = io.ReadAll(zr)
			gzipReaders.Put(zr)
		}
		if err != nil {
			return nil, fmt.Errorf("decompressing item %s/%s: %w", str(item, attrPK), str(item, attrSK), err)
		}
	}
	return b, nil
}

func str(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func num(item map[string]types.AttributeValue, name string) int64 {
	if v, ok := item[name].(*types.AttributeValueMemberN); ok {
		i, _ := strconv.ParseInt(v.Value, 10, 64)
		return i
	}
	return 0
}

// ItemSize estimates an item's stored size as DynamoDB counts it (names
// plus values, maps included), to refuse items over the 400 KB limit with
// a clear error.
func ItemSize(item map[string]types.AttributeValue) int {
	size := 0
	for k, v := range item {
		size += len(k)
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			size += len(v.Value)
		case *types.AttributeValueMemberB:
			size += len(v.Value)
		case *types.AttributeValueMemberN:
			size += len(v.Value)
		case *types.AttributeValueMemberM:
			size += ItemSize(v.Value)
		}
	}
	return size
}
