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
//
// The cache is bounded by executions and by task runs: a few executions of
// 100,000 task runs weigh as much as many small ones.
type execCache struct {
	mu      sync.Mutex
	max     int // executions
	maxRuns int // task runs of the executions kept
	runs    int
	m       map[string]*statemachine.Execution
}

// cacheRuns bounds the task runs of the executions an executor keeps in
// memory (about 1 KB each).
const cacheRuns = 1 << 20

func newExecCache(max int) *execCache {
	if max <= 0 {
		return nil
	}
	return &execCache{max: max, maxRuns: cacheRuns, m: map[string]*statemachine.Execution{}}
}

// take removes and returns the cached execution id, if any.
func (c *execCache) take(id string) *statemachine.Execution {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ex := c.m[id]
	if ex != nil {
		delete(c.m, id)
		c.runs -= len(ex.TaskRuns)
	}
	return ex
}

// put caches an execution just committed; ended ones are not kept.
func (c *execCache) put(ex *statemachine.Execution) {
	if c == nil || ex == nil || ex.State.Terminal() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[ex.ID]; old != nil {
		c.runs -= len(old.TaskRuns)
	}
	for id, old := range c.m { // any ones: map order is random
		if len(c.m) < c.max && c.runs+len(ex.TaskRuns) <= c.maxRuns {
			break
		}
		delete(c.m, id)
		c.runs -= len(old.TaskRuns)
	}
	c.m[ex.ID] = ex
	c.runs += len(ex.TaskRuns)
}
