package engine

import (
	"context"
	"log/slog"
	"strings"
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
	// The lease ends now, and passes to a holder whose name says it was
	// handed back: the next worker then runs the attempt, where a lease
	// that lapsed (a worker that died) would make it CRASHED. The stores
	// compare leases with their own clock.
	ended := time.Now().Add(-time.Second)
	_, err := e.cfg.Store.Lease(ctx, l.key, l.holder, ended)
	if err == nil {
		_, err = e.cfg.Store.Lease(ctx, l.key, l.holder+handedBackSuffix, ended)
	}
	if err != nil {
		e.log.Warn("handing back the lease of an attempt: it may end CRASHED, its retry policy deciding", append(attrs, slog.Any("error", err))...)
	}
	e.log.Info("the process is stopping: attempt handed back", attrs...)
}

// handedBackSuffix ends the name of the holder of a lease that a stopping
// worker handed back.
const handedBackSuffix = "/handed-back"

// wasHandedBack tells whether holder is the holder handBack leaves.
func wasHandedBack(holder string) bool { return strings.HasSuffix(holder, handedBackSuffix) }
