package enginetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relayflow/relay/engine"
)

var claimTests = []storeTest{
	{"Claim/once", func(t *testing.T, s engine.Store) {
		ctx := context.Background()
		for i, want := range []bool{true, false, false} {
			got, err := s.Claim(ctx, "attempt/e1/a/1", time.Hour)
			if err != nil || got != want {
				t.Fatalf("claim %d: %v, %v; want %v", i+1, got, err, want)
			}
		}
		if got, err := s.Claim(ctx, "attempt/e1/a/2", time.Hour); err != nil || !got {
			t.Errorf("another key: %v, %v; want true", got, err)
		}
	}},
	{"Claim/concurrent", func(t *testing.T, s engine.Store) {
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.Claim(context.Background(), "attempt/race/a/1", time.Hour)
				if err != nil {
					t.Error(err)
				}
				if ok {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Errorf("%d of 8 concurrent claims won, want exactly 1", wins.Load())
		}
	}},
	{"Claim/expires", func(t *testing.T, s engine.Store) {
		ctx := context.Background()
		if ok, err := s.Claim(ctx, "attempt/old/a/1", -time.Minute); err != nil || !ok {
			t.Fatalf("first claim: %v, %v", ok, err)
		}
		if ok, err := s.Claim(ctx, "attempt/old/a/1", time.Hour); err != nil || !ok {
			t.Errorf("claiming an expired claim: %v, %v; want true", ok, err)
		}
	}},
}
