package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/relayflow/relay/statemachine/expr"
	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/statemachine/inputs"
)

// The KV store (Kestra's): values kept by namespace and key, each with a
// type and an optional expiry, shared by every flow and execution. The
// kv.* tasks write and read it, and kv('key') reads it in expressions.
// The engine keeps it in its store (engine.RecordKV).

// KV types, as Kestra names them (kvType).
const (
	KVString   = "STRING"
	KVNumber   = "NUMBER"
	KVBoolean  = "BOOLEAN"
	KVDateTime = "DATETIME"
	KVDate     = "DATE"
	KVDuration = "DURATION"
	KVJSON     = "JSON"
)

// KVTypes lists the KV types.
var KVTypes = flow.KVTypes

// KVEntry is a value of the KV store.
type KVEntry struct {
	Type        string    `json:"type"`
	Value       any       `json:"value"`
	Description string    `json:"description,omitempty"`
	Updated     time.Time `json:"updated"`
	// Expires, when not zero, is when the entry goes: reads ignore it
	// from then on.
	Expires time.Time `json:"expires,omitzero"`
}

// ExprValue is the entry's value as expressions see it: a DATETIME is a
// date, the rest as stored.
func (e KVEntry) ExprValue() any {
	if e.Type == KVDateTime {
		if s, ok := e.Value.(string); ok {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return t
			}
		}
	}
	return e.Value
}

// MaxKVValue bounds a KV value, in bytes of JSON: an entry is one record
// of the store (one DynamoDB item).
const MaxKVValue = 256 << 10

// ErrKVExists is PutKV's error when the key exists and overwrite is off.
var ErrKVExists = errors.New("the key exists")

// KV is the KV store. Reads ignore expired entries.
type KV interface {
	GetKV(ctx context.Context, namespace, key string) (KVEntry, bool, error)
	// PutKV writes e, or fails with ErrKVExists when overwrite is false
	// and a live entry is there.
	PutKV(ctx context.Context, namespace, key string, e KVEntry, overwrite bool) error
	// DeleteKV removes a key and says whether a live entry was there.
	DeleteKV(ctx context.Context, namespace, key string) (bool, error)
	// KVKeys lists the live keys of a namespace that start with prefix,
	// sorted.
	KVKeys(ctx context.Context, namespace, prefix string) ([]string, error)
}

// kvKeyPattern is Kestra's rule for KV keys.
var kvKeyPattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]*$`)

// CheckKVKey checks a KV key as Kestra does: letters, digits, '.', '_'
// and '-', not starting with a symbol.
func CheckKVKey(key string) error {
	if !kvKeyPattern.MatchString(key) {
		return fmt.Errorf("key %q: a key holds letters, digits, '.', '_' and '-', and starts with a letter or a digit", key)
	}
	return nil
}

// kvTarget reads the key and namespace properties of a kv.* task.
func kvTarget(req Request, keyProp string) (ns, key string, kv KV, err error) {
	if req.KV == nil {
		return "", "", nil, &Error{Kind: KindFatal, Type: "NoKVStore", Message: "no KV store is configured"}
	}
	ns, err = optString(req.Props, "namespace")
	if err != nil {
		return "", "", nil, err
	}
	if ns == "" {
		ns = req.Namespace
	}
	if keyProp == "" {
		return ns, "", req.KV, nil
	}
	key, err = reqString(req.Props, keyProp)
	if err != nil {
		return "", "", nil, err
	}
	if err := CheckKVKey(key); err != nil {
		return "", "", nil, propError(keyProp, "%s", err.Error())
	}
	return ns, key, req.KV, nil
}

// kvKeyTarget reads the key, namespace and errorOnMissing properties of
// kv.get and kv.delete.
func kvKeyTarget(req Request) (ns, key string, kv KV, errorOnMissing bool, err error) {
	if ns, key, kv, err = kvTarget(req, "key"); err != nil {
		return "", "", nil, false, err
	}
	errorOnMissing, err = optBool(req.Props, "errorOnMissing", false)
	return ns, key, kv, errorOnMissing, err
}

func kvMissing(ns, key string) error {
	return &Error{Kind: KindFatal, Type: "KVMissing", Message: fmt.Sprintf("namespace %s has no key %q", ns, key)}
}

// kvStoreError is a failure of the store itself: another attempt may
// succeed.
func kvStoreError(err error) error {
	return &Error{Kind: KindRetryable, Type: "KVStore", Message: err.Error(), Err: err}
}

// NewKVSet returns the runner of kv.set (Kestra's kv.Set).
func NewKVSet(now func() time.Time) Runner {
	return RunnerFunc(func(ctx context.Context, req Request) (Result, error) {
		ns, key, kv, err := kvTarget(req, "key")
		if err != nil {
			return Result{}, err
		}
		typ, err := optString(req.Props, "kvType")
		if err != nil {
			return Result{}, err
		}
		value, typ, err := kvValue(req.Props["value"], typ)
		if err != nil {
			return Result{}, propError("value", "%s", err.Error())
		}
		desc, err := optString(req.Props, "kvDescription")
		if err != nil {
			return Result{}, err
		}
		overwrite, err := optBool(req.Props, "overwrite", true)
		if err != nil {
			return Result{}, err
		}
		if b, err := json.Marshal(value); err != nil || len(b) > MaxKVValue {
			return Result{}, propError("value", "is %d bytes of JSON; the KV store keeps values of up to %d KiB (a record of the store)", len(b), MaxKVValue>>10)
		}
		e := KVEntry{Type: typ, Value: value, Description: desc, Updated: now()}
		ttl, err := optString(req.Props, "ttl")
		if err != nil {
			return Result{}, err
		}
		if ttl != "" {
			d, err := inputs.ParseDuration(ttl)
			if err != nil || d <= 0 {
				return Result{}, propError("ttl", "want a positive duration (PT1H, 10m), got %q", ttl)
			}
			e.Expires = e.Updated.Add(d)
		}
		if err := kv.PutKV(ctx, ns, key, e, overwrite); err != nil {
			if errors.Is(err, ErrKVExists) {
				return Result{}, &Error{Kind: KindFatal, Type: "KVExists", Message: fmt.Sprintf("namespace %s already has key %q and overwrite is false", ns, key)}
			}
			return Result{}, kvStoreError(err)
		}
		logger(req).Info(fmt.Sprintf("set key %q of namespace %s (%s)", key, ns, typ))
		return Result{}, nil
	})
}

// kvValue converts a rendered value to its KV type: with no kvType, the
// type follows the value (text, number, boolean, or JSON for lists and
// maps); with one, a text value is parsed as that type, as Kestra does.
func kvValue(v any, typ string) (any, string, error) {
	if v == nil {
		return nil, "", errors.New("is required")
	}
	if typ == "" {
		switch x := v.(type) {
		case string:
			return v, KVString, nil
		case int64, float64, int:
			return v, KVNumber, nil
		case bool:
			return v, KVBoolean, nil
		case time.Time:
			return x.UTC().Format(time.RFC3339Nano), KVDateTime, nil
		default:
			return v, KVJSON, nil
		}
	}
	text, isText := v.(string)
	switch typ {
	case KVString:
		return expr.Stringify(v), typ, nil
	case KVNumber:
		switch v.(type) {
		case int64, float64, int:
			return v, typ, nil
		}
		if isText {
			if i, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64); err == nil {
				return i, typ, nil
			}
			if f, err := strconv.ParseFloat(strings.TrimSpace(text), 64); err == nil {
				return f, typ, nil
			}
		}
		return nil, "", fmt.Errorf("kvType NUMBER: %s is not a number", expr.Stringify(v))
	case KVBoolean:
		if b, ok := v.(bool); ok {
			return b, typ, nil
		}
		if b, err := strconv.ParseBool(strings.TrimSpace(text)); isText && err == nil {
			return b, typ, nil
		}
		return nil, "", fmt.Errorf("kvType BOOLEAN: %s is not true or false", expr.Stringify(v))
	case KVDateTime:
		if t, ok := v.(time.Time); ok {
			return t.UTC().Format(time.RFC3339Nano), typ, nil
		}
		if t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(text)); isText && err == nil {
			return t.UTC().Format(time.RFC3339Nano), typ, nil
		}
		return nil, "", fmt.Errorf("kvType DATETIME: %s is not an ISO 8601 date and time with an offset (2024-01-31T10:00:00Z)", expr.Stringify(v))
	case KVDate:
		if _, err := time.Parse(time.DateOnly, strings.TrimSpace(text)); isText && err == nil {
			return strings.TrimSpace(text), typ, nil
		}
		return nil, "", fmt.Errorf("kvType DATE: %s is not a date (2024-01-31)", expr.Stringify(v))
	case KVDuration:
		if d, err := inputs.ParseDuration(strings.TrimSpace(text)); isText && err == nil && d >= 0 {
			return strings.TrimSpace(text), typ, nil
		}
		return nil, "", fmt.Errorf("kvType DURATION: %s is not a duration (PT5M)", expr.Stringify(v))
	case KVJSON:
		if isText {
			j, err := decodeJSON([]byte(text))
			if err != nil {
				return nil, "", fmt.Errorf("kvType JSON: %w", err)
			}
			return j, typ, nil
		}
		if _, err := json.Marshal(v); err != nil {
			return nil, "", fmt.Errorf("kvType JSON: %w", err)
		}
		return v, typ, nil
	}
	return nil, "", fmt.Errorf("unknown kvType %q (one of %s)", typ, strings.Join(KVTypes, ", "))
}

// NewKVGet returns the runner of kv.get (Kestra's kv.Get): the output
// value, null for a missing key unless errorOnMissing.
func NewKVGet() Runner {
	return RunnerFunc(func(ctx context.Context, req Request) (Result, error) {
		ns, key, kv, errorOnMissing, err := kvKeyTarget(req)
		if err != nil {
			return Result{}, err
		}
		e, found, err := kv.GetKV(ctx, ns, key)
		if err != nil {
			return Result{}, kvStoreError(err)
		}
		if !found {
			if errorOnMissing {
				return Result{}, kvMissing(ns, key)
			}
			return Result{Outputs: map[string]any{"value": nil}}, nil
		}
		return Result{Outputs: map[string]any{"value": e.Value}}, nil
	})
}

// NewKVDelete returns the runner of kv.delete (Kestra's kv.Delete): the
// output deleted says whether the key was there.
func NewKVDelete() Runner {
	return RunnerFunc(func(ctx context.Context, req Request) (Result, error) {
		ns, key, kv, errorOnMissing, err := kvKeyTarget(req)
		if err != nil {
			return Result{}, err
		}
		deleted, err := kv.DeleteKV(ctx, ns, key)
		if err != nil {
			return Result{}, kvStoreError(err)
		}
		if !deleted && errorOnMissing {
			return Result{}, kvMissing(ns, key)
		}
		return Result{Outputs: map[string]any{"deleted": deleted}}, nil
	})
}

// NewKVGetKeys returns the runner of kv.getkeys (Kestra's kv.GetKeys):
// the output keys, those of the namespace that start with prefix.
func NewKVGetKeys() Runner {
	return RunnerFunc(func(ctx context.Context, req Request) (Result, error) {
		ns, _, kv, err := kvTarget(req, "")
		if err != nil {
			return Result{}, err
		}
		prefix, err := optString(req.Props, "prefix")
		if err != nil {
			return Result{}, err
		}
		keys, err := kv.KVKeys(ctx, ns, prefix)
		if err != nil {
			return Result{}, kvStoreError(err)
		}
		out := make([]any, len(keys))
		for i, k := range keys {
			out[i] = k
		}
		return Result{Outputs: map[string]any{"keys": out}}, nil
	})
}
