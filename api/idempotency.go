package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/internal/metrics"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/flow"
	flowinputs "github.com/relayflow/relay/statemachine/inputs"
)

// Idempotent requests. A start or an event sent with an idempotency key is
// remembered in the state table, as a record of KindIdempotency, for
// IdempotencyWindow: the same request sent again with the same key (a
// client retrying after a lost answer, a process that died between
// publishing and answering) gets the first answer, the first execution id
// or event id, and starts nothing new. The request is published again with
// that identity, which the executor and the router recognise, so that a
// first attempt that died after remembering and before publishing is
// completed by the retry.

// HeaderIdempotencyKey is the request header of the key (POST
// /executions/{namespace}/{id}, POST /events).
const HeaderIdempotencyKey = "Idempotency-Key"

// HeaderExecutionID is the request header by which a client chooses the id
// of the execution it starts (POST /executions/{namespace}/{id}); a start
// with a chosen id and no key is idempotent on that id.
const HeaderExecutionID = "Relay-Execution-Id"

// HeaderReplayed is set to "true" on an answer given again to a request
// with a key seen before.
const HeaderReplayed = "Idempotent-Replayed"

// IdempotencyWindow is how long a key is remembered.
const IdempotencyWindow = 24 * time.Hour

// KindIdempotency is the kind of the records that remember keys; they are
// due when their window ends, and SweepIdempotency deletes them then.
const KindIdempotency = "idempotency"

// ErrIdempotencyMismatch: a key was sent again with another request. The
// HTTP status is 422.
var ErrIdempotencyMismatch = errors.New("idempotency key reused with a different request")

// StartOptions are the optional parts of a start.
type StartOptions struct {
	// IdempotencyKey makes the start idempotent (see HeaderIdempotencyKey).
	IdempotencyKey string
	// ExecutionID is the id the caller chose (default: a new one).
	ExecutionID string
	// Files are the contents of FILE inputs, by input id: each is stored
	// in internal storage under the execution, and the input's value is
	// its URI. A file for an input not declared FILE is refused.
	Files map[string]File
}

var (
	keyPattern = regexp.MustCompile(`^[\x21-\x7e]{1,255}$`)
	idPattern  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

// CheckStartOptions reports a key or an execution id that is not valid.
func CheckStartOptions(o StartOptions) error {
	if o.IdempotencyKey != "" && !keyPattern.MatchString(o.IdempotencyKey) {
		return Invalid(fmt.Errorf("%s: want 1 to 255 printable ASCII characters without spaces", HeaderIdempotencyKey))
	}
	if o.ExecutionID != "" && !idPattern.MatchString(o.ExecutionID) {
		return Invalid(fmt.Errorf("%s %q: want 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", HeaderExecutionID, o.ExecutionID))
	}
	return nil
}

// remembered is the value of a KindIdempotency record.
type remembered struct {
	Request     string `json:"request"` // hash of the request: the same key with another request is refused
	ExecutionID string `json:"executionId,omitempty"`
	Revision    int    `json:"revision,omitempty"`
	EventID     string `json:"eventId,omitempty"`
}

// remember looks key up and, when it is not remembered (or its window
// ended), remembers first as the answer to request. It returns what is
// remembered now and whether it was there before.
func (s *Service) remember(ctx context.Context, key, request string, first remembered) (remembered, bool, error) {
	for try := 0; ; try++ {
		now := s.now()
		rec, err := s.store.Record(ctx, KindIdempotency, key)
		expected := int64(0)
		switch {
		case err == nil && now.Before(rec.Due):
			var r remembered
			if err := json.Unmarshal(rec.Value, &r); err != nil {
				return r, false, fmt.Errorf("reading idempotency record %s: %w", key, err)
			}
			if r.Request != request {
				return r, false, fmt.Errorf("%w: key %q", ErrIdempotencyMismatch, key)
			}
			return r, true, nil
		case err == nil:
			expected = rec.Version // expired: remembered anew
		case !errors.Is(err, engine.ErrNotFound):
			return first, false, fmt.Errorf("reading idempotency record %s: %w", key, err)
		}
		first.Request = request
		value, err := json.Marshal(first)
		if err != nil {
			return first, false, err
		}
		_, err = s.store.PutRecord(ctx, engine.Record{Kind: KindIdempotency, Key: key, Value: value, Due: now.Add(IdempotencyWindow)}, expected)
		if errors.Is(err, engine.ErrConflict) && try < 3 {
			continue // the same key at the same time: read what the other remembered
		}
		if err != nil {
			return first, false, fmt.Errorf("remembering idempotency key %s: %w", key, err)
		}
		return first, false, nil
	}
}

// hashOf is a digest of the parts of a request.
func hashOf(parts ...any) string {
	b, _ := json.Marshal(parts) // maps marshal with sorted keys
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// StartWith is Start with options: an idempotency key, an execution id of
// the caller's choice, the files of FILE inputs. Started.Replayed is true
// when the key (or the id) was seen before: the execution is the first
// one. A request is the same as the first when its inputs, labels, chosen
// id and files (by name and content) are; the files of a replayed start
// are stored again under the first execution, with the same content, so
// that a first try that died before storing them or publishing is
// completed by the retry.
func (s *Service) StartWith(ctx context.Context, namespace, id string, inputs map[string]any, labels []flow.Label, o StartOptions) (Started, error) {
	if err := CheckStartOptions(o); err != nil {
		return Started{}, err
	}
	f, err := s.flows.Get(ctx, namespace, id, 0)
	if errors.Is(err, engine.ErrNotFound) {
		return Started{}, fmt.Errorf("no flow %s/%s is deployed (see `relay flows deploy`): %w", namespace, id, engine.ErrNotFound)
	}
	if err != nil {
		return Started{}, err
	}
	if err := s.checkInputs(f, inputs, o.Files); err != nil {
		return Started{}, err
	}
	sealed, err := engine.SealInputs(s.secrets, namespace, f.Inputs, inputs)
	if err != nil {
		return Started{}, err
	}
	st := Started{ID: o.ExecutionID, Namespace: namespace, FlowID: id, Revision: f.Revision}
	if st.ID == "" {
		st.ID = engine.NewID()
	}
	key := o.IdempotencyKey
	if key == "" && o.ExecutionID != "" {
		key = "execution:" + o.ExecutionID
	}
	files := o.Files
	if key != "" {
		var digests map[string][2]string
		if files, digests, err = digestFiles(files); err != nil {
			return Started{}, err
		}
		parts := []any{namespace, id, s.secretDigests(f, inputs), labels, o.ExecutionID}
		if len(digests) > 0 {
			parts = append(parts, digests)
		}
		r, seen, err := s.remember(ctx, "start/"+namespace+"/"+id+"/"+key, hashOf(parts...),
			remembered{ExecutionID: st.ID, Revision: st.Revision})
		if err != nil {
			return Started{}, err
		}
		st.ID, st.Revision, st.Replayed = r.ExecutionID, r.Revision, seen
		if seen {
			metrics.IdempotentReplay("execution")
		}
	}
	if len(files) > 0 {
		if sealed, err = s.storeFiles(ctx, f, st.ID, sealed, files); err != nil {
			return Started{}, err
		}
	}
	ev := statemachine.Event{ID: st.ID + "/requested", Type: statemachine.EvExecutionRequested, ExecutionID: st.ID,
		Namespace: namespace, FlowID: id, Revision: st.Revision, Inputs: sealed, Labels: labels}
	if err := s.send(ctx, ev); err != nil {
		return Started{}, err
	}
	engine.Fault("api-after-publish")
	return st, nil
}

// secretDigests returns inputs with the value of each SECRET input of f
// replaced by its keyed digest (secrets.Keyring.Digest), for the hash of an
// idempotent start: the idempotency record then holds neither a secret
// nor a hash of it that could be checked against a guess, and the same
// secret sent again still makes the same request. Without a keyring the
// only SECRET values a start accepts are markers, sealed already.
func (s *Service) secretDigests(f *flow.Flow, inputs map[string]any) map[string]any {
	if s.secrets == nil {
		return inputs
	}
	out, copied := inputs, false
	for _, d := range f.Inputs {
		v, ok := inputs[d.ID].(string)
		if d.Type != flowinputs.TypeSecret || !ok {
			continue
		}
		if !copied {
			out, copied = maps.Clone(inputs), true
		}
		out[d.ID] = "hmac-sha256:" + s.secrets.Digest(f.Namespace, v)
	}
	return out
}

// digestFiles returns each file's name and SHA-256, for the hash of an
// idempotent request, with the files ready to be read again: a body that
// can seek is rewound (the API's multipart parts, the CLI's files); any
// other is read into memory.
func digestFiles(files map[string]File) (map[string]File, map[string][2]string, error) {
	if len(files) == 0 {
		return files, nil, nil
	}
	out := make(map[string]File, len(files))
	digests := make(map[string][2]string, len(files))
	for name, file := range files {
		h := sha256.New()
		if rs, ok := file.Body.(io.ReadSeeker); ok {
			if _, err := io.Copy(h, rs); err != nil {
				return nil, nil, fmt.Errorf("reading the file of input %s: %w", name, err)
			}
			if _, err := rs.Seek(0, io.SeekStart); err != nil {
				return nil, nil, fmt.Errorf("rewinding the file of input %s: %w", name, err)
			}
		} else {
			b, err := io.ReadAll(file.Body)
			if err != nil {
				return nil, nil, fmt.Errorf("reading the file of input %s: %w", name, err)
			}
			h.Write(b)
			file.Body = bytes.NewReader(b)
		}
		out[name] = file
		digests[name] = [2]string{file.Filename, hex.EncodeToString(h.Sum(nil))}
	}
	return out, digests, nil
}

// PublishEventWith is PublishEvent with an idempotency key: the event sent
// again with the same key is published again with the id it had the first
// time (the router starts nothing twice for one event id), and that id is
// returned, with whether the key was seen before.
func (s *Service) PublishEventWith(ctx context.Context, ev cloudevents.Event, key string) (string, bool, error) {
	if key == "" {
		return ev.ID(), false, s.PublishEvent(ctx, ev)
	}
	if err := CheckStartOptions(StartOptions{IdempotencyKey: key}); err != nil {
		return "", false, err
	}
	if err := ev.Validate(); err != nil {
		return "", false, Invalid(fmt.Errorf("the CloudEvent is not valid: %w", err))
	}
	r, seen, err := s.remember(ctx, "event/"+key, hashOf(ev.Type(), ev.Source(), ev.Subject(), ev.DataContentType(), string(ev.Data()), ev.Extensions()),
		remembered{EventID: ev.ID()})
	if err != nil {
		return "", false, err
	}
	if seen {
		metrics.IdempotentReplay("event")
		ev.SetID(r.EventID)
	}
	if err := s.PublishEvent(ctx, ev); err != nil {
		return "", false, err
	}
	engine.Fault("api-after-publish")
	return r.EventID, seen, nil
}

// SweepIdempotency deletes the idempotency records whose window ended
// before now, up to limit of them; the scheduler calls it on its ticks.
func SweepIdempotency(ctx context.Context, st engine.RecordStore, now time.Time, limit int) error {
	due, err := st.DueRecords(ctx, KindIdempotency, now, limit)
	if err != nil {
		return fmt.Errorf("listing expired idempotency keys: %w", err)
	}
	for _, r := range due {
		if err := st.DeleteRecord(ctx, KindIdempotency, r.Key, r.Version); err != nil && !errors.Is(err, engine.ErrConflict) {
			return fmt.Errorf("deleting expired idempotency key %s: %w", r.Key, err)
		}
	}
	return nil
}
