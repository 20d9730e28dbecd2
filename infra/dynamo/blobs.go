package dynamo

import (
	"cmp"
	"container/list"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/relayflow/relay/engine"
)

// Large values live in the Blobs (WithBlobs), not in the items: when an
// item's document is larger than the threshold, its largest value fields
// (below) move to blobs, largest first, until the rest is within the
// threshold. The item keeps their references in its `blobs` attribute (a
// map: field name -> reference) and reads put the values back before the
// document is decoded, so the engine and expressions see the real values.
// docs/state-table.md describes it.

// attrBlobs is the attribute holding the references of an item's fields
// kept in blobs.
const attrBlobs = "blobs"

// The fields of each item's document that may move to blobs: the values a
// flow produces, whose size the flow decides. The state machine's own
// bookkeeping stays in the item (it changes at every event and is bounded
// by the flow's shape).
var (
	execBlobFields   = []string{"inputs", "outputs", "vars", "trigger"}
	runBlobFields    = []string{"outputs", "items", "value"}
	itemsBlobFields  = []string{"items"}
	outboxBlobFields = []string{"payload"}
	logBlobFields    = []string{"message"}
)

// minBlob is the smallest field moved to a blob: smaller ones save too
// little to be worth a request.
const minBlob = 1024

// blobCache remembers, for one store, the blobs it wrote or read. Keys are
// content addressed (engine.BlobKey), so a value is never stale: a commit
// that writes a value the store already holds (an execution's inputs, at
// every event) reuses its reference instead of writing it again, and
// loading an execution again reads its blobs from memory.
type blobCache struct {
	mu    sync.Mutex
	known map[string]string // blob key -> reference
	refs  map[string]*list.Element
	lru   list.List // of *cachedBlob, most recently used first
	size  int
	max   int // bytes of data kept
}

type cachedBlob struct {
	ref  string
	data []byte
}

// maxKnown bounds the keys remembered; past it they are forgotten at once.
const maxKnown = 1 << 16

func newBlobCache(maxBytes int) *blobCache {
	return &blobCache{known: map[string]string{}, refs: map[string]*list.Element{}, max: maxBytes}
}

func (c *blobCache) ref(key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ref, ok := c.known[key]
	return ref, ok
}

func (c *blobCache) data(ref string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.refs[ref]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(el)
	return el.Value.(*cachedBlob).data, true
}

// add remembers that key is stored as ref with data (key may be empty when
// it is unknown).
func (c *blobCache) add(key, ref string, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if key != "" {
		if len(c.known) >= maxKnown {
			clear(c.known)
		}
		c.known[key] = ref
	}
	if _, ok := c.refs[ref]; ok || len(data) > c.max/4 {
		return
	}
	c.refs[ref] = c.lru.PushFront(&cachedBlob{ref: ref, data: data})
	c.size += len(data)
	for c.size > c.max {
		last := c.lru.Back()
		b := c.lru.Remove(last).(*cachedBlob)
		delete(c.refs, b.ref)
		c.size -= len(b.data)
	}
}

// putBlob stores one field's JSON as a blob of the execution, unless this
// store already did (or read it).
func (s *Store) putBlob(ctx context.Context, executionID string, data []byte) (string, error) {
	key := engine.BlobKey(executionID, data)
	if ref, ok := s.cache.ref(key); ok {
		return ref, nil
	}
	ref, err := s.blobs.Put(ctx, key, data)
	if err != nil {
		return "", err
	}
	s.cache.add(key, ref, data)
	return ref, nil
}

// getBlob reads a blob, from memory when this store has it. executionID,
// when known, lets a later commit of the same value skip writing it.
func (s *Store) getBlob(ctx context.Context, executionID, ref string) ([]byte, error) {
	if data, ok := s.cache.data(ref); ok {
		return data, nil
	}
	data, err := s.blobs.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	key := ""
	if executionID != "" {
		key = engine.BlobKey(executionID, data)
	}
	s.cache.add(key, ref, data)
	return data, nil
}

// putDoc encodes v as the item's body, moving its largest value fields
// among fields to blobs of the execution when the document is larger than
// the threshold.
func (s *Store) putDoc(ctx context.Context, item map[string]types.AttributeValue, executionID string, v any, fields []string) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.putJSON(ctx, item, executionID, b, fields)
}

// putJSON is putDoc for a document already encoded.
func (s *Store) putJSON(ctx context.Context, item map[string]types.AttributeValue, executionID string, b []byte, fields []string) error {
	if s.blobs == nil || len(b) <= s.threshold {
		return encodeBody(item, b)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		return err
	}
	movable := slices.DeleteFunc(slices.Clone(fields), func(f string) bool { return len(doc[f]) < minBlob })
	slices.SortFunc(movable, func(a, b string) int { return cmp.Compare(len(doc[b]), len(doc[a])) })
	refs := map[string]types.AttributeValue{}
	size := len(b)
	for _, f := range movable {
		if size <= s.threshold {
			break
		}
		ref, err := s.putBlob(ctx, executionID, doc[f])
		if err != nil {
			return fmt.Errorf("moving field %s (%d KB) to a blob: %w", f, len(doc[f])>>10, err)
		}
		size -= len(doc[f]) + len(f) + 4 // "f":value,
		delete(doc, f)
		refs[f] = avS(ref)
	}
	if len(refs) == 0 {
		return encodeBody(item, b)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	item[attrBlobs] = &types.AttributeValueMemberM{Value: refs}
	s.log.Debug("item fields stored as blobs", slog.String("item", str(item, attrPK)+"/"+str(item, attrSK)), slog.Int("fields", len(refs)))
	return encodeBody(item, b)
}

// getBody decodes an item's body into v, with the fields kept in blobs put
// back first.
func (s *Store) getBody(ctx context.Context, item map[string]types.AttributeValue, v any) error {
	b, err := decodeBody(item)
	if err != nil {
		return err
	}
	if refs, ok := item[attrBlobs].(*types.AttributeValueMemberM); ok && len(refs.Value) > 0 {
		if b, err = s.resolve(ctx, item, b, refs.Value); err != nil {
			return err
		}
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decoding item %s/%s: %w", str(item, attrPK), str(item, attrSK), err)
	}
	return nil
}

// resolve returns the document b with the fields refs names read from
// their blobs.
func (s *Store) resolve(ctx context.Context, item map[string]types.AttributeValue, b []byte, refs map[string]types.AttributeValue) ([]byte, error) {
	name := str(item, attrPK) + "/" + str(item, attrSK)
	if s.blobs == nil {
		return nil, fmt.Errorf("item %s keeps fields in blobs, but the store has no blob store (set RELAY_BUCKET or RELAY_BLOB_DIR)", name)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("decoding item %s: %w", name, err)
	}
	execID := ""
	if pk := str(item, attrPK); strings.HasPrefix(pk, pkExec) {
		execID = strings.TrimPrefix(pk, pkExec)
	}
	for _, f := range slices.Sorted(maps.Keys(refs)) {
		ref, ok := refs[f].(*types.AttributeValueMemberS)
		if !ok {
			return nil, fmt.Errorf("item %s: the blob reference of field %s is not a string", name, f)
		}
		data, err := s.getBlob(ctx, execID, ref.Value)
		if err != nil {
			return nil, fmt.Errorf("reading field %s of item %s: %w", f, name, err)
		}
		doc[f] = data
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("decoding item %s: %w", name, err)
	}
	return out, nil
}
