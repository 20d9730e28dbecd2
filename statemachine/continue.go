package statemachine

import "slices"

// canStart reports whether this event may start one more task run or
// iteration (MaxStartsPerEvent).
func (m *machine) canStart() bool { return m.starts < MaxStartsPerEvent }

// count counts one more task run started by this event in frame fr, or,
// when this event has started as many as it may, defers the frame and
// reports false. The first task of a ForEach iteration was counted when
// the iteration started.
func (m *machine) count(fr *Frame) bool {
	if fr.Role == "iter" && fr.Next == 0 && fr.Running == 0 {
		return true
	}
	if !m.canStart() {
		m.deferWork("f:" + fr.ID)
		return false
	}
	m.starts++
	return true
}

// deferWork records that a block (f:frame id) or a ForEach run (r:run id)
// has task runs left to start by an execution.continued event.
func (m *machine) deferWork(key string) {
	if !slices.Contains(m.ex.Deferred, key) {
		m.ex.Deferred = append(m.ex.Deferred, key)
	}
}

// continued goes on with the work events left: blocks and ForEach runs
// start what they may again, up to this event's own limit, and what is
// still left waits for the next execution.continued.
func (m *machine) continued() {
	work := m.ex.Deferred
	m.ex.Deferred = nil
	for _, key := range work {
		if len(key) < 2 {
			continue
		}
		switch id := key[2:]; key[:2] {
		case "f:":
			if _, ok := m.ex.Frames[id]; ok {
				m.pending = append(m.pending, id)
			}
		case "r:":
			if r, ok := m.ex.Run(id); ok && r.State == RunRunning && !r.State.Terminal() {
				m.nextIterations(r, m.ctxOf(r))
			}
		}
	}
}
