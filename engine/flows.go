package engine

import (
	"context"
	"fmt"
	"sync"

	"github.com/relayflow/relay/statemachine/flow"
)

// Flows reads stored flow revisions, parsed, through a cache: a revision
// never changes once stored, so each is parsed once per process.
type Flows struct {
	store FlowReader
	m     sync.Map // "ns/id/rev" -> *flow.Flow
}

// FlowReader reads stored flow revisions (a Store does).
type FlowReader interface {
	Flow(ctx context.Context, namespace, id string, revision int) (FlowRecord, error)
}

// NewFlows returns a cache of the flows of st.
func NewFlows(st FlowReader) *Flows { return &Flows{store: st} }

func flowKey(ns, id string, rev int) string { return fmt.Sprintf("%s/%s/%d", ns, id, rev) }

// Add records a flow just saved as its revision.
func (c *Flows) Add(f *flow.Flow) { c.m.Store(flowKey(f.Namespace, f.ID, f.Revision), f) }

// Get returns a revision of a stored flow (0: the latest), parsed.
func (c *Flows) Get(ctx context.Context, ns, id string, rev int) (*flow.Flow, error) {
	if rev > 0 {
		if f, ok := c.m.Load(flowKey(ns, id, rev)); ok {
			return f.(*flow.Flow), nil
		}
	}
	rec, err := c.store.Flow(ctx, ns, id, rev)
	if err != nil {
		return nil, fmt.Errorf("loading flow %s/%s: %w", ns, id, err)
	}
	if f, ok := c.m.Load(flowKey(ns, id, rec.Revision)); ok {
		return f.(*flow.Flow), nil
	}
	f, err := flow.Parse(fmt.Sprintf("%s/%s@%d", ns, id, rec.Revision), rec.Source)
	if err != nil {
		return nil, fmt.Errorf("stored flow %s/%s revision %d no longer validates: %w", ns, id, rec.Revision, err)
	}
	f.Revision = rec.Revision
	c.Add(f)
	return f, nil
}
