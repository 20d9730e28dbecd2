package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/relayflow/relay/engine"
)

// Records (engine.RecordStore). Both buckets are created on open, so a
// file written before records existed gains them the first time it is
// opened.
var (
	// bucketRecords: kind NUL key -> engine.Record, JSON. A kind has no
	// NUL, so no kind's keys run into another's, and bbolt's order is the
	// order Records returns.
	bucketRecords = []byte("records")
	// bucketRecordDue: kind NUL timeKey(due) (12 bytes) key -> nothing:
	// the records of a kind with a Due, earliest first and then by key, so
	// DueRecords is one cursor seek.
	bucketRecordDue = []byte("recorddue")
)

// recordPrefix is the key prefix of a kind's records in bucketRecords and
// bucketRecordDue.
func recordPrefix(kind string) []byte {
	k := make([]byte, 0, len(kind)+1+timeKeyLen+32)
	k = append(k, kind...)
	return append(k, 0)
}

func recordKey(kind, key string) []byte {
	return append(recordPrefix(kind), key...)
}

func recordDueKey(kind string, due time.Time, key string) []byte {
	tk := timeKey(due)
	return append(append(recordPrefix(kind), tk[:]...), key...)
}

// storedRecord reads a record in tx; ok is false when there is none.
func storedRecord(tx *bbolt.Tx, kind, key string) (r engine.Record, ok bool, err error) {
	v := tx.Bucket(bucketRecords).Get(recordKey(kind, key))
	if v == nil {
		return engine.Record{}, false, nil
	}
	if err := json.Unmarshal(v, &r); err != nil {
		return engine.Record{}, false, fmt.Errorf("decode record: %w", err)
	}
	return r, true, nil
}

// checkVersion refuses a write whose expected version is not the stored
// one (0: none stored, -1: anything).
func checkVersion(tx *bbolt.Tx, kind, key string, expected int64) error {
	if expected < 0 {
		return nil
	}
	old, ok, err := storedRecord(tx, kind, key)
	switch {
	case err != nil:
		return err
	case !ok && expected == 0:
		return nil
	case !ok:
		return fmt.Errorf("expected version %d, none stored: %w", expected, engine.ErrConflict)
	case expected == 0:
		return fmt.Errorf("record already exists (version %d): %w", old.Version, engine.ErrConflict)
	case old.Version != expected:
		return fmt.Errorf("expected version %d, stored %d: %w", expected, old.Version, engine.ErrConflict)
	}
	return nil
}

func checkExpected(expected int64) error {
	if expected < -1 {
		return fmt.Errorf("expected version %d: want -1, 0 or a version", expected)
	}
	return nil
}

// Record returns the stored record or engine.ErrNotFound.
func (s *Store) Record(ctx context.Context, kind, key string) (engine.Record, error) {
	if err := ctx.Err(); err != nil {
		return engine.Record{}, fmt.Errorf("read record %s/%s: %w", kind, key, err)
	}
	if err := engine.CheckRecordName(kind, key); err != nil {
		return engine.Record{}, fmt.Errorf("read record %q/%q: %w", kind, key, err)
	}
	var r engine.Record
	err := s.db.View(func(tx *bbolt.Tx) error {
		var ok bool
		var err error
		if r, ok, err = storedRecord(tx, kind, key); err == nil && !ok {
			err = engine.ErrNotFound
		}
		return err
	})
	if err != nil {
		return engine.Record{}, fmt.Errorf("read record %s/%s: %w", kind, key, err)
	}
	return r, nil
}

// Records returns the records of kind whose keys start with prefix, by key.
func (s *Store) Records(ctx context.Context, kind, prefix string) ([]engine.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list records %s: %w", kind, err)
	}
	if err := engine.CheckRecordKind(kind); err != nil {
		return nil, fmt.Errorf("list records %q: %w", kind, err)
	}
	var out []engine.Record
	err := s.db.View(func(tx *bbolt.Tx) error {
		start := recordKey(kind, prefix)
		c := tx.Bucket(bucketRecords).Cursor()
		n := 0
		for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, start); k, v = c.Next() {
			if n++; n%256 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			var r engine.Record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode record %q: %w", k[len(kind)+1:], err)
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list records %s: %w", kind, err)
	}
	return out, nil
}

// PutRecord writes r if the stored version is expected (0: none, -1:
// anything) and returns its new version, one more than the stored one.
func (s *Store) PutRecord(ctx context.Context, r engine.Record, expected int64) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("put record %s/%s: %w", r.Kind, r.Key, err)
	}
	if err := engine.CheckRecordName(r.Kind, r.Key); err != nil {
		return 0, fmt.Errorf("put record %q/%q: %w", r.Kind, r.Key, err)
	}
	if err := checkExpected(expected); err != nil {
		return 0, fmt.Errorf("put record %s/%s: %w", r.Kind, r.Key, err)
	}
	r.Value = bytes.Clone(r.Value)
	check := func(tx *bbolt.Tx) error { return checkVersion(tx, r.Kind, r.Key, expected) }
	var version int64
	write := func(tx *bbolt.Tx) error {
		old, ok, err := storedRecord(tx, r.Kind, r.Key)
		if err != nil {
			return err
		}
		due := tx.Bucket(bucketRecordDue)
		if ok && !old.Due.IsZero() {
			if err := due.Delete(recordDueKey(r.Kind, old.Due, r.Key)); err != nil {
				return fmt.Errorf("move due entry: %w", err)
			}
		}
		rec := r
		rec.Version = old.Version + 1 // old is the zero Record when none is stored
		v, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("encode record: %w", err)
		}
		if err := tx.Bucket(bucketRecords).Put(recordKey(r.Kind, r.Key), v); err != nil {
			return err
		}
		if !rec.Due.IsZero() {
			if err := due.Put(recordDueKey(r.Kind, rec.Due, r.Key), nil); err != nil {
				return fmt.Errorf("index due record: %w", err)
			}
		}
		version = rec.Version
		return nil
	}
	if err := s.update(check, write); err != nil {
		return 0, fmt.Errorf("put record %s/%s: %w", r.Kind, r.Key, err)
	}
	return version, nil
}

// DeleteRecord removes a record if its version is expected (-1: any).
// Deleting a missing record with expected -1 or 0 does nothing.
func (s *Store) DeleteRecord(ctx context.Context, kind, key string, expected int64) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete record %s/%s: %w", kind, key, err)
	}
	if err := engine.CheckRecordName(kind, key); err != nil {
		return fmt.Errorf("delete record %q/%q: %w", kind, key, err)
	}
	if err := checkExpected(expected); err != nil {
		return fmt.Errorf("delete record %s/%s: %w", kind, key, err)
	}
	check := func(tx *bbolt.Tx) error { return checkVersion(tx, kind, key, expected) }
	write := func(tx *bbolt.Tx) error {
		old, ok, err := storedRecord(tx, kind, key)
		if err != nil || !ok {
			return err
		}
		if !old.Due.IsZero() {
			if err := tx.Bucket(bucketRecordDue).Delete(recordDueKey(kind, old.Due, key)); err != nil {
				return fmt.Errorf("delete due entry: %w", err)
			}
		}
		return tx.Bucket(bucketRecords).Delete(recordKey(kind, key))
	}
	if err := s.update(check, write); err != nil {
		return fmt.Errorf("delete record %s/%s: %w", kind, key, err)
	}
	return nil
}

// DueRecords returns up to limit records of kind (all when limit <= 0)
// with a Due at or before now, earliest first, then by key.
func (s *Store) DueRecords(ctx context.Context, kind string, now time.Time, limit int) ([]engine.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read due records %s: %w", kind, err)
	}
	if err := engine.CheckRecordKind(kind); err != nil {
		return nil, fmt.Errorf("read due records %q: %w", kind, err)
	}
	prefix := recordPrefix(kind)
	nowKey := timeKey(now)
	var out []engine.Record
	err := s.db.View(func(tx *bbolt.Tx) error {
		records := tx.Bucket(bucketRecords)
		c := tx.Bucket(bucketRecordDue).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && (limit <= 0 || len(out) < limit); k, _ = c.Next() {
			rest := k[len(prefix):]
			if len(rest) < timeKeyLen {
				return fmt.Errorf("corrupt due entry %q", k)
			}
			if bytes.Compare(rest[:timeKeyLen], nowKey[:]) > 0 {
				break
			}
			key := rest[timeKeyLen:]
			v := records.Get(append(bytes.Clone(prefix), key...))
			if v == nil {
				return fmt.Errorf("due entry names record %q, which is missing", key)
			}
			var r engine.Record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode record %q: %w", key, err)
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read due records %s: %w", kind, err)
	}
	return out, nil
}
