package firing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/triggers"
)

// Scheduler starts the executions of due schedules. Each schedule is a
// record due at its next time; a tick reads the due ones only.
type Scheduler struct {
	store Store
	bus   Publisher
	log   *slog.Logger
	now   func() time.Time
	trs   *compiled
	// MissedAfter: a schedule time older than this when a tick sees it was
	// missed, and the trigger's recoverMissedSchedules decides (default 1
	// minute: a scheduler invoked every minute is never late by more).
	MissedAfter time.Duration
}

// SchedulerConfig configures a Scheduler.
type SchedulerConfig struct {
	Store Store
	Bus   Publisher
	Log   *slog.Logger
	Now   func() time.Time
}

// NewScheduler returns a Scheduler.
func NewScheduler(cfg SchedulerConfig) *Scheduler {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Scheduler{store: cfg.Store, bus: cfg.Bus, log: cfg.Log, now: cfg.Now, trs: newCompiled(cfg.Store), MissedAfter: time.Minute}
}

// maxFiresPerTick bounds the executions one schedule starts in one tick
// (a long backfill goes on in the next ticks).
const maxFiresPerTick = 100

// Tick starts the executions of every due schedule and returns how many
// it requested. Two schedulers ticking at once start each schedule time
// once: their requests have the same ids, and the conditional write of
// the schedule's state lets one of them move it on.
func (s *Scheduler) Tick(ctx context.Context) (int, error) {
	now := s.now()
	started := 0
	for {
		due, err := s.store.DueRecords(ctx, KindSchedule, now, 100)
		if err != nil {
			return started, fmt.Errorf("reading due schedules: %w", err)
		}
		moved := 0
		for _, rec := range due {
			n, ok, err := s.run(ctx, rec, now)
			started += n
			if err != nil {
				return started, err
			}
			if ok {
				moved++
			}
		}
		if len(due) < 100 || moved == 0 {
			return started, nil
		}
	}
}

// run plans one due schedule and starts its fires. ok reports that the
// schedule moved on (by this scheduler or another).
func (s *Scheduler) run(ctx context.Context, rec engine.Record, now time.Time) (int, bool, error) {
	var e scheduleEntry
	if err := json.Unmarshal(rec.Value, &e); err != nil {
		return 0, false, fmt.Errorf("decoding schedule %s: %w", rec.Key, err)
	}
	ns, flowID, id, _ := splitKey(rec.Key)
	t, err := s.trs.trigger(ctx, ns, flowID, e.Revision, id)
	if err != nil && !errors.Is(err, engine.ErrNotFound) {
		return 0, false, err
	}
	if t == nil || t.Schedule == nil {
		// The flow or the trigger is gone and Index did not get to remove
		// the schedule: do it here.
		s.log.WarnContext(ctx, "removing a schedule whose trigger is gone", slog.String("trigger", rec.Key))
		return 0, true, ignoreConflict(s.store.DeleteRecord(ctx, KindSchedule, rec.Key, rec.Version))
	}
	fires, next, due := t.Schedule.Plan(e.ScheduleState, now, s.MissedAfter, maxFiresPerTick)
	for _, f := range fires {
		if err := publishRequest(ctx, s.bus, s.log, t, triggers.ScheduleCause(f.Date), f.Vars(), 0, now); err != nil {
			return 0, false, err
		}
	}
	e.ScheduleState = next
	err = putJSON(ctx, s.store, KindSchedule, rec.Key, e, due, rec.Version)
	if errors.Is(err, engine.ErrConflict) {
		return len(fires), true, nil // another scheduler moved it; its requests have the same ids
	}
	return len(fires), err == nil, err
}

func ignoreConflict(err error) error {
	if errors.Is(err, engine.ErrConflict) {
		return nil
	}
	return err
}

// Run ticks every `every` until ctx ends, logging errors. also, when not
// nil, runs after each tick (the durable timers of the serverless path).
func (s *Scheduler) Run(ctx context.Context, every time.Duration, also func(context.Context) error) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.log.Log(ctx, engine.LogLevel(err), "starting due schedules", slog.Any("error", err))
		}
		if also != nil {
			if err := also(ctx); err != nil && ctx.Err() == nil {
				s.log.Log(ctx, engine.LogLevel(err), "scheduler tick", slog.Any("error", err))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
