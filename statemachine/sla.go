package statemachine

import (
	"fmt"
	"slices"

	"github.com/relayflow/relay/statemachine/expr"
	"github.com/relayflow/relay/statemachine/flow"
)

// Flow SLAs (Kestra's `sla`). A MAX_DURATION SLA is a durable timer
// started when the execution starts running (again, after a restart); an
// EXECUTION_ASSERTION is rendered after every event that leaves the
// execution running or paused, which costs one render per event, not a
// scan of the execution. A violation is applied once: it adds the SLA's
// labels and, by its behavior, stops the execution as a kill does, ending
// FAILED or CANCELLED (NONE only labels it). As in Kestra, the first
// violation of an event decides.

// TimerSLA fires a MAX_DURATION SLA; its TaskRunID is the SLA id and its
// Attempt the execution's run (Restarts+1).
const TimerSLA TimerKind = "sla.maxDuration"

// startSLATimers starts the MAX_DURATION timers of a run of the
// execution: from its creation, as Kestra (time spent QUEUED counts), or
// from now for a restarted execution.
func (m *machine) startSLATimers() {
	from := m.ex.StartDate
	if m.ex.Restarts > 0 || from.IsZero() {
		from = m.now
	}
	for _, s := range m.f.SLAs {
		if s.Type == flow.SLAMaxDuration {
			m.emit(StartTimer{ExecutionID: m.ex.ID, TaskRunID: s.ID, Attempt: m.ex.Restarts + 1, Kind: TimerSLA, FireAt: from.Add(s.Duration)})
		}
	}
}

// slaTimer applies a MAX_DURATION SLA whose time has come.
func (m *machine) slaTimer() error {
	i := slices.IndexFunc(m.f.SLAs, func(s *flow.SLA) bool { return s.ID == m.ev.TaskRunID && s.Type == flow.SLAMaxDuration })
	if i < 0 {
		return fmt.Errorf("the flow has no MAX_DURATION SLA %q", m.ev.TaskRunID)
	}
	if !m.slaApplies(m.f.SLAs[i]) || m.ev.Attempt != m.ex.Restarts+1 {
		m.ignored = fmt.Sprintf("SLA %s no longer applies: the execution is %s", m.ev.TaskRunID, m.ex.State)
		return nil
	}
	s := m.f.SLAs[i]
	return m.violate(s, fmt.Sprintf("the execution ran longer than %s", s.Duration))
}

// slaApplies reports whether s may still be violated: the execution runs
// (or is paused) and has not violated s yet.
func (m *machine) slaApplies(s *flow.SLA) bool {
	return (m.ex.State == ExecRunning || m.ex.State == ExecPaused) && !slices.Contains(m.ex.SLAViolated, s.ID)
}

// checkAssertions renders the EXECUTION_ASSERTION SLAs of a running
// execution; a false one, or one that cannot be rendered, is violated.
func (m *machine) checkAssertions() {
	for _, s := range m.f.SLAs {
		if s.Type != flow.SLAAssertion || !m.slaApplies(s) {
			continue
		}
		v, err := s.Assert.Render(m.env(nil, nil, nil))
		switch {
		case err != nil:
			m.violate(s, fmt.Sprintf("the assertion could not be evaluated: %v", err))
		case !expr.Truthy(v):
			m.violate(s, "the assertion is false: "+s.Assert.String())
		}
	}
}

// violate applies a violated SLA: its labels, then its behavior.
func (m *machine) violate(s *flow.SLA, reason string) error {
	m.ex.SLAViolated = append(m.ex.SLAViolated, s.ID)
	for _, l := range s.Labels {
		setLabel(&m.ex.Labels, l.Key, l.Value)
	}
	msg := fmt.Sprintf("SLA %s violated: %s", s.ID, reason)
	switch s.Behavior {
	case flow.SLAFail:
		m.log("", "ERROR", "%s; the execution fails", msg)
		return m.stop(ExecFailed, msg)
	case flow.SLACancel:
		m.log("", "WARN", "%s; the execution is cancelled", msg)
		return m.stop(ExecCancelled, "")
	}
	m.log("", "WARN", "%s", msg)
	return nil
}
