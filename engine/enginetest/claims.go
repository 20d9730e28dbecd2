package enginetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relayflow/relay/engine"
)

var claimTests = []storeTest{
	{"Lease/grantedOnceUntilItEnds", func(t *testing.T, s engine.Store) {
		ctx := context.Background()
		until := time.Now().Add(time.Hour).Truncate(time.Millisecond)
		steps := []struct {
			holder      string
			wantGranted bool
			wantHolder  string // before the call
		}{
			{"w1", true, ""},
			{"w2", false, "w1"},
			{"w1", true, "w1"}, // a renewal
			{"w3", false, "w1"},
		}
		for i, st := range steps {
			res, err := s.Lease(ctx, "attempt/e1/a/1", st.holder, until)
			if err != nil || res.Granted != st.wantGranted || res.Holder != st.wantHolder {
				t.Fatalf("step %d, %s: %+v, %v; want granted %v, held by %q", i+1, st.holder, res, err, st.wantGranted, st.wantHolder)
			}
			if st.wantHolder != "" && !res.Until.Equal(until) {
				t.Errorf("step %d: lease until %v, want %v", i+1, res.Until, until)
			}
		}
		if res, err := s.Lease(ctx, "attempt/e1/a/2", "w2", until); err != nil || !res.Granted || res.Holder != "" {
			t.Errorf("another key: %+v, %v; want granted, never held", res, err)
		}
	}},
	{"Lease/concurrent", func(t *testing.T, s engine.Store) {
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := s.Lease(context.Background(), "attempt/race/a/1", fmt.Sprint("w", i), time.Now().Add(time.Hour))
				if err != nil {
					t.Error(err)
				}
				if res.Granted {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Errorf("%d of 8 concurrent holders got the lease, want exactly 1", wins.Load())
		}
	}},
	{"Lease/takenOverOnceItLapsed", func(t *testing.T, s engine.Store) {
		ctx := context.Background()
		lapsed := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
		if res, err := s.Lease(ctx, "attempt/old/a/1", "dead", lapsed); err != nil || !res.Granted {
			t.Fatalf("first lease: %+v, %v", res, err)
		}
		res, err := s.Lease(ctx, "attempt/old/a/1", "alive", time.Now().Add(time.Hour))
		if err != nil || !res.Granted || res.Holder != "dead" || !res.Until.Equal(lapsed) {
			t.Errorf("taking over a lapsed lease: %+v, %v; want granted, held by dead until %v", res, err, lapsed)
		}
		if res, err := s.Lease(ctx, "attempt/old/a/1", "dead", time.Now().Add(time.Hour)); err != nil || res.Granted || res.Holder != "alive" {
			t.Errorf("the old holder renewing: %+v, %v; want refused, held by alive", res, err)
		}
	}},
}
