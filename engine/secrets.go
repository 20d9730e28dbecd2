package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/relayflow/relay/secrets"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/statemachine/inputs"
	"github.com/relayflow/relay/tasks"
)

// sealer is what the state machine seals secrets with (nil when no key is
// configured: a nil *Keyring must not become a non-nil interface).
func (e *Engine) sealer() statemachine.Sealer {
	if e.cfg.Secrets == nil {
		return nil
	}
	return e.cfg.Secrets
}

// openSecrets returns the properties of a scheduled attempt with their
// secret markers replaced by the clear values, at the last moment before
// the task runs, and the masker that hides those values in what the task
// logs and returns. cloudevents.emit publishes on Relay's own bus and
// kv.set writes to Relay's own store, which must never hold a secret in
// clear: their markers stay sealed (a flow of the same namespace that the
// event starts, or that reads the key, can still use them; one of another
// namespace cannot open them).
func (e *Engine) openSecrets(ctx context.Context, c statemachine.ScheduleTaskRun) (map[string]any, *secrets.Masker, error) {
	if c.Type == flow.TypeEmit || c.Type == flow.TypeKVSet || !secrets.ContainsValue(c.Props) {
		return c.Props, &secrets.Masker{}, nil
	}
	if e.cfg.Secrets == nil {
		return nil, nil, &tasks.Error{Kind: tasks.KindFatal, Type: "Secret", Message: "the task uses secrets, but this worker has no secret key configured"}
	}
	props, m, err := e.cfg.Secrets.Resolve(ctx, c.Namespace, c.Props, e.cfg.SecretLookup)
	if err != nil {
		if errors.Is(err, secrets.ErrNotSealed) {
			err = fmt.Errorf("a secret of the task's properties was not sealed by this deployment for namespace %s (was it copied from elsewhere, or the secret key changed?): %w", c.Namespace, err)
		}
		kind := tasks.KindRetryable // the backend may answer next time
		if errors.Is(err, secrets.ErrNotSealed) || errors.Is(err, secrets.ErrNotFound) {
			kind = tasks.KindFatal
		}
		return nil, nil, &tasks.Error{Kind: kind, Type: "Secret", Message: secrets.MaskText(err.Error())}
	}
	return props.(map[string]any), m, nil
}

// MaskResult hides the secrets of m in what an attempt returns: its
// outputs and metrics. Outputs are JSON values once published; they are
// made so first, so that any Go type a runner returned is masked too.
// A runner function masks its reply with it before answering, and the
// worker masks it again.
func MaskResult(m *secrets.Masker, res tasks.Result) tasks.Result {
	if m.Len() == 0 {
		return res
	}
	res.Outputs = maskOutputs(m, res.Outputs)
	if len(res.Metrics) > 0 {
		ms := make([]tasks.Metric, len(res.Metrics))
		for i, x := range res.Metrics {
			x.Name = m.Text(x.Name)
			if len(x.Tags) > 0 {
				tags := make(map[string]string, len(x.Tags))
				for k, v := range x.Tags {
					tags[m.Text(k)] = m.Text(v)
				}
				x.Tags = tags
			}
			ms[i] = x
		}
		res.Metrics = ms
	}
	return res
}

func maskOutputs(m *secrets.Masker, outputs map[string]any) map[string]any {
	if outputs == nil {
		return nil
	}
	raw, err := json.Marshal(outputs)
	if err != nil {
		return map[string]any{"error": "the outputs could not be encoded to hide secrets"}
	}
	plain, err := tasks.DecodeJSON(raw) // the kinds expressions compute with (int64)
	if _, ok := plain.(map[string]any); err != nil || !ok {
		return map[string]any{"error": "the outputs could not be encoded to hide secrets"}
	}
	return m.Value(plain).(map[string]any)
}

// maskDocument shows the secret markers of an execution's document as
// ******: the document is what people read (API, CLI).
func maskDocument(d ExecutionDoc) ExecutionDoc {
	d.Inputs, d.Outputs, d.Trigger = secrets.MaskMap(d.Inputs), secrets.MaskMap(d.Outputs), secrets.MaskMap(d.Trigger)
	d.Error = secrets.MaskText(d.Error)
	for k, v := range d.Labels {
		d.Labels[k] = secrets.MaskText(v)
	}
	for i := range d.TaskRuns {
		r := &d.TaskRuns[i]
		r.Value, r.Outputs, r.Error = secrets.MaskValue(r.Value), secrets.MaskMap(r.Outputs), maskTaskError(r.Error)
		for j := range r.Attempts {
			r.Attempts[j].Error = maskTaskError(r.Attempts[j].Error)
		}
	}
	return d
}

func maskTaskError(e *statemachine.TaskError) *statemachine.TaskError {
	if e == nil || !secrets.Contains(e.Message) {
		return e
	}
	c := *e
	c.Message = secrets.MaskText(c.Message)
	return &c
}

// SealInputs returns inputs with the values given for SECRET inputs
// (among decls) sealed for namespace, so that the request that carries
// them stores and publishes no clear value. The caller checks the inputs
// in clear first. Without a key, a SECRET value given is an error.
func SealInputs(k *secrets.Keyring, namespace string, decls []*inputs.Decl, values map[string]any) (map[string]any, error) {
	var s statemachine.Sealer
	if k != nil {
		s = k
	}
	return statemachine.SealInputs(s, namespace, decls, values)
}

// ResumeDecls lists the onResume inputs of the paused task runs of ex,
// which a resume request gives values for.
func ResumeDecls(f *flow.Flow, ex *statemachine.Execution) []*inputs.Decl {
	var decls []*inputs.Decl
	for _, r := range ex.TaskRuns {
		if r.State != statemachine.RunPaused {
			continue
		}
		if t, ok := f.Task(r.TaskID); ok {
			decls = append(decls, t.OnResume...)
		}
	}
	return decls
}
