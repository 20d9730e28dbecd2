package engine

import (
	"sync"

	"github.com/relayflow/relay/statemachine"
)

// execCache keeps the executions this executor committed last, so that
// the next event of an execution is applied without reading it back:
// events of one execution arrive on one partition, mostly at the executor
// that committed the previous one. An entry is taken out while an event is
// applied to it (Apply changes it in place) and put back once the commit
// succeeded. A stale entry (another executor moved the execution on) is
// harmless: its commit conflicts, or its event is ignored or rejected, and
// the event is applied again to the stored execution.
type execCache struct {
	mu  sync.Mutex
	max int
	m   map[string]*statemachine.Execution
}

func newExecCache(max int) *execCache {
	if max <= 0 {
		return nil
	}
	return &execCache{max: max, m: map[string]*statemachine.Execution{}}
}

// take removes and returns the cached execution id, if any.
func (c *execCache) take(id string) *statemachine.Execution {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ex := c.m[id]
	delete(c.m, id)
	return ex
}

// put caches an execution just committed; ended ones are not kept.
func (c *execCache) put(ex *statemachine.Execution) {
	if c == nil || ex == nil || ex.State.Terminal() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for id := range c.m { // any one: map order is random
			delete(c.m, id)
			break
		}
	}
	c.m[ex.ID] = ex
}
