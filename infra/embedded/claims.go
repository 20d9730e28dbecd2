package embedded

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/relayflow/relay/engine"
)

// bucketClaims: lease key -> the lease, JSON.
var bucketClaims = []byte("claims")

type storedLease struct {
	Holder string    `json:"holder"`
	Until  time.Time `json:"until"`
}

var errLeaseHeld = errors.New("lease held")

// Lease grants holder the lease on key until `until` unless another
// holder's lease is still running (engine.Store).
func (s *Store) Lease(ctx context.Context, key, holder string, until time.Time) (engine.LeaseResult, error) {
	if err := ctx.Err(); err != nil {
		return engine.LeaseResult{}, err
	}
	k := []byte(key)
	now := time.Now()
	var res engine.LeaseResult
	check := func(tx *bbolt.Tx) error {
		res = engine.LeaseResult{}
		if v := tx.Bucket(bucketClaims).Get(k); v != nil {
			var old storedLease
			if len(v) == 8 { // a claim of an earlier version: its expiry in unix seconds
				old.Until = time.Unix(int64(binary.BigEndian.Uint64(v)), 0)
			} else if err := json.Unmarshal(v, &old); err != nil {
				return fmt.Errorf("decoding lease %s: %w", key, err)
			}
			res.Holder, res.Until = old.Holder, old.Until
			if old.Holder != holder && old.Until.After(now) {
				return errLeaseHeld
			}
		}
		return nil
	}
	write := func(tx *bbolt.Tx) error {
		v, err := json.Marshal(storedLease{Holder: holder, Until: until})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketClaims).Put(k, v)
	}
	switch err := s.update(check, write); {
	case errors.Is(err, errLeaseHeld):
		return res, nil
	case err != nil:
		return engine.LeaseResult{}, fmt.Errorf("leasing %s: %w", key, err)
	}
	res.Granted = true
	return res, nil
}
