package engine

import (
	"context"
	"log/slog"
	"time"

	"github.com/relayflow/relay/statemachine"
)

// Requeuer is a Store that can put commands back in its outbox without a
// commit, to be carried out at the next start. The embedded store is one:
// its in-process bus keeps nothing once the process stops. A store on a
// durable bus needs none: the record of an attempt that was not
// acknowledged is delivered again.
type Requeuer interface {
	Requeue(ctx context.Context, entries []OutboxEntry) error
}

// handBack gives back an attempt that was running when the process was
// asked to stop (relay server, relay dev on SIGTERM or Ctrl-C): its lease
// ends now, so the next worker need not wait for it to lapse, and on the
// embedded store its command goes back to the outbox, so that the next
// start runs it again.
func (e *Engine) handBack(c statemachine.ScheduleTaskRun, l *attemptLease) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	attrs := []any{slog.String("execution", c.ExecutionID), slog.String("taskrun", c.TaskRunID), slog.Int("attempt", c.Attempt)}
	if rq, ok := e.cfg.Store.(Requeuer); ok {
		entry, err := encodeCommand(c, l.key+"/handback", c.ExecutionID, e.cfg.Now())
		if err == nil {
			err = rq.Requeue(ctx, []OutboxEntry{entry})
		}
		if err != nil {
			e.log.Error("handing back an attempt: it waits for its timeout", append(attrs, slog.Any("error", err))...)
			return
		}
	}
	if _, err := e.cfg.Store.Lease(ctx, l.key, l.holder, e.cfg.Now()); err != nil {
		e.log.Warn("ending the lease of an attempt handed back: the next worker waits for it to lapse", append(attrs, slog.Any("error", err))...)
	}
	e.log.Info("the process is stopping: attempt handed back", attrs...)
}
