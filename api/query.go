package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/flow"
)

// ExecutionQuery selects executions: the store's filter, and filters the
// service applies to what the store returns.
type ExecutionQuery struct {
	engine.ExecutionFilter
	// Labels the executions must all have.
	Labels []flow.Label
	// Started at or after After, before Before (zero: no bound).
	After, Before time.Time
	// StartedBy keeps the executions another one started: its subflows
	// (their parent) and those its end triggered (flow triggers).
	StartedBy string
}

// scanned reports whether the query has filters the store does not apply.
func (q ExecutionQuery) scanned() bool {
	return len(q.Labels) > 0 || !q.After.IsZero() || !q.Before.IsZero() || q.StartedBy != ""
}

func (q ExecutionQuery) keeps(d *engine.ExecutionDoc) bool {
	for _, l := range q.Labels {
		if v, ok := d.Labels[l.Key]; !ok || v != l.Value {
			return false
		}
	}
	if !q.After.IsZero() && d.StartDate.Before(q.After) {
		return false
	}
	if q.StartedBy != "" && (d.Parent == nil || d.Parent.ExecutionID != q.StartedBy) && d.Trigger["executionId"] != q.StartedBy {
		return false
	}
	return q.Before.IsZero() || d.StartDate.Before(q.Before)
}

// FindExecutions lists executions, newest first, without their task
// runs. Label and time filters look at the newest Limit×10 executions the
// store's filters match, so such a list may come back short.
func (s *Service) FindExecutions(ctx context.Context, q ExecutionQuery) ([]engine.ExecutionDoc, error) {
	f := q.ExecutionFilter
	if q.scanned() && f.Limit > 0 {
		f.Limit *= runScan
	}
	docs, err := s.Executions(ctx, f)
	if err != nil || !q.scanned() {
		return docs, err
	}
	out := docs[:0]
	for i := range docs {
		if q.keeps(&docs[i]) && (q.Limit <= 0 || len(out) < q.Limit) {
			out = append(out, docs[i])
		}
	}
	return out, nil
}

// executionQuery reads the query of GET /executions.
func executionQuery(r *http.Request) (ExecutionQuery, error) {
	q := r.URL.Query()
	limit, err := intParam(r, "limit", 50)
	if err != nil {
		return ExecutionQuery{}, err
	}
	out := ExecutionQuery{ExecutionFilter: engine.ExecutionFilter{Namespace: q.Get("namespace"), FlowID: q.Get("flowId"),
		State: statemachine.ExecState(strings.ToUpper(q.Get("state"))), Limit: limit}, StartedBy: q.Get("startedBy")}
	if out.Labels, err = labelsParam(q["labels"]); err != nil {
		return out, err
	}
	for name, t := range map[string]*time.Time{"after": &out.After, "before": &out.Before} {
		if v := q.Get(name); v != "" {
			if *t, err = time.Parse(time.RFC3339, v); err != nil {
				return out, Invalid(fmt.Errorf("?%s=%q: want an RFC 3339 time, e.g. 2026-11-21T11:00:00Z", name, v))
			}
		}
	}
	return out, nil
}

// labelsParam reads key:value labels.
func labelsParam(vs []string) ([]flow.Label, error) {
	var labels []flow.Label
	for _, l := range vs {
		k, v, ok := strings.Cut(l, ":")
		if !ok || k == "" {
			return nil, Invalid(fmt.Errorf("label %q: want key:value", l))
		}
		labels = append(labels, flow.Label{Key: k, Value: v})
	}
	return labels, nil
}
