package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/flow"
)

// Concurrency slots. A flow with a `concurrency.limit` has one record
// (kind KindSlots, key namespace/flowId) listing the executions that hold
// its slots, written with conditional writes: the limit holds across every
// executor process. An execution takes a slot when it is created and gives
// it back when it ends; a slot whose holder ended without giving it back
// (its executor stopped in between) or was never created (stopped before
// its first commit) is taken back by the next admission that finds the
// slots full.

// KindSlots is the record kind of concurrency slots.
const KindSlots = "slots"

// orphanAfter is how long a slot may be held by an execution that does
// not exist before it is taken back: longer than the time between an
// admission and the execution's first commit.
const orphanAfter = time.Minute

type slots struct {
	Holders []slotHolder `json:"holders"`
}

type slotHolder struct {
	ExecutionID string    `json:"executionId"`
	Since       time.Time `json:"since"`
}

func (s *slots) holds(id string) bool {
	return slices.ContainsFunc(s.Holders, func(h slotHolder) bool { return h.ExecutionID == id })
}

func slotsKey(f *flow.Flow) string { return f.Namespace + "/" + f.ID }

func (e *Engine) readSlots(ctx context.Context, f *flow.Flow) (slots, int64, error) {
	var s slots
	rec, err := e.cfg.Store.Record(ctx, KindSlots, slotsKey(f))
	if errors.Is(err, ErrNotFound) {
		return s, 0, nil
	}
	if err != nil {
		return s, 0, fmt.Errorf("reading the concurrency slots of %s: %w", slotsKey(f), err)
	}
	if err := json.Unmarshal(rec.Value, &s); err != nil {
		return s, 0, fmt.Errorf("decoding the concurrency slots of %s: %w", slotsKey(f), err)
	}
	return s, rec.Version, nil
}

func (e *Engine) writeSlots(ctx context.Context, f *flow.Flow, s slots, expected int64) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if _, err := e.cfg.Store.PutRecord(ctx, Record{Kind: KindSlots, Key: slotsKey(f), Value: b}, expected); err != nil {
		return fmt.Errorf("writing the concurrency slots of %s: %w", slotsKey(f), err)
	}
	return nil
}

// acquireSlot gives execution id a slot of f if one is free (or it holds
// one already: a redelivered request) and reports whether it did.
func (e *Engine) acquireSlot(ctx context.Context, f *flow.Flow, id string) (bool, error) {
	for {
		s, version, err := e.readSlots(ctx, f)
		if err != nil {
			return false, err
		}
		if s.holds(id) {
			return true, nil
		}
		if len(s.Holders) >= f.Concurrency.Limit {
			freed, err := e.reclaim(ctx, &s)
			if err != nil {
				return false, err
			}
			if !freed {
				return false, nil
			}
		}
		s.Holders = append(s.Holders, slotHolder{ExecutionID: id, Since: e.cfg.Now()})
		err = e.writeSlots(ctx, f, s, version)
		if errors.Is(err, ErrConflict) {
			continue
		}
		return err == nil, err
	}
}

// reclaim drops the holders that ended or never came to exist, and reports
// whether it dropped any.
func (e *Engine) reclaim(ctx context.Context, s *slots) (bool, error) {
	kept := s.Holders[:0:0]
	for _, h := range s.Holders {
		ex, err := e.cfg.Store.ExecutionHead(ctx, h.ExecutionID)
		young := e.cfg.Now().Sub(h.Since) < orphanAfter
		switch {
		case errors.Is(err, ErrNotFound):
			if young { // admitted, not committed yet
				kept = append(kept, h)
			}
		case err != nil:
			return false, fmt.Errorf("checking the holder %s of a concurrency slot: %w", h.ExecutionID, err)
		case ex.State == statemachine.ExecQueued:
			if young { // being dequeued
				kept = append(kept, h)
			}
		case !ex.State.Terminal():
			kept = append(kept, h)
		}
	}
	freed := len(kept) < len(s.Holders)
	s.Holders = kept
	return freed, nil
}

// releaseSlot gives back the slot of an execution that ended.
func (e *Engine) releaseSlot(ctx context.Context, f *flow.Flow, id string) error {
	for {
		s, version, err := e.readSlots(ctx, f)
		if err != nil || !s.holds(id) {
			return err
		}
		s.Holders = slices.DeleteFunc(s.Holders, func(h slotHolder) bool { return h.ExecutionID == id })
		err = e.writeSlots(ctx, f, s, version)
		if !errors.Is(err, ErrConflict) {
			return err
		}
	}
}
