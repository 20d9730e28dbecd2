package embedded

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	"go.etcd.io/bbolt"
)

// bucketClaims: claim key -> expiry (unix seconds, 8 bytes).
var bucketClaims = []byte("claims")

var errClaimed = errors.New("already claimed")

// Claim records key once: true for the first caller, false afterwards.
// Claims expire after ttl; an expired claim can be taken again.
func (s *Store) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	k := []byte(key)
	now := time.Now()
	check := func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketClaims).Get(k); len(v) == 8 && int64(binary.BigEndian.Uint64(v)) > now.Unix() {
			return errClaimed
		}
		return nil
	}
	write := func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketClaims).Put(k, binary.BigEndian.AppendUint64(nil, uint64(now.Add(ttl).Unix())))
	}
	switch err := s.update(check, write); {
	case errors.Is(err, errClaimed):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}
