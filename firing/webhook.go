package firing

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/triggers"
)

// ErrNoWebhook is returned for a webhook call that matches no enabled
// webhook trigger: the flow does not exist, has no such trigger, or the
// key is wrong. The three are not told apart, so a caller without the key
// learns nothing about the flow (the HTTP status is 404).
var ErrNoWebhook = fmt.Errorf("no webhook at this address: %w", engine.ErrNotFound)

// Webhook starts the flow of a webhook trigger whose key matches, with
// trigger.body, trigger.headers and trigger.parameters, and returns the
// new execution's id and the flow revision it runs. Each call starts one
// execution.
//
// A key given as an expression is rendered for the call with secret (nil:
// secret() fails); a trigger whose key does not render is skipped, with a
// warning.
func Webhook(ctx context.Context, st Store, bus Publisher, log *slog.Logger, secret func(string) (string, error), namespace, flowID, key string, vars map[string]any, now time.Time) (string, int, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	trs, err := newCompiled(st).revision(ctx, namespace, flowID, 0)
	if errors.Is(err, engine.ErrNotFound) {
		return "", 0, ErrNoWebhook
	}
	if err != nil {
		return "", 0, err
	}
	for _, t := range trs {
		if t.Type != flow.TriggerWebhook || t.Disabled {
			continue
		}
		want, err := t.RenderWebhookKey(secret, now)
		if err != nil {
			log.Warn("webhook trigger skipped", slog.Any("error", err))
			continue
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(key)) != 1 {
			continue
		}
		cause := "webhook\x00" + engine.NewID()
		started, err := start(ctx, st, bus, log, t, cause, vars, 0, now)
		switch {
		case !started && err == nil: // stopped by stopAfter
			return "", 0, ErrNoWebhook
		case !started:
			return "", 0, err
		case err != nil:
			log.Warn("recording a webhook's last call", slog.Any("error", err))
		}
		return triggers.ExecutionID(t.Key(), cause), t.Revision, nil
	}
	return "", 0, ErrNoWebhook
}
