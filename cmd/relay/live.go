package main

import (
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/relayflow/relay/statemachine"
)

// Progress modes of `relay run` and `relay executions resume`.
const (
	progressAuto  = "auto"  // live on a terminal, plain otherwise
	progressLive  = "live"  // a status block redrawn in place under the log lines
	progressPlain = "plain" // one line per state change and per log line
)

// liveMode decides whether progress on w is drawn live.
func liveMode(mode string, w io.Writer) (bool, error) {
	switch mode {
	case progressPlain:
		return false, nil
	case progressLive:
		return true, nil
	case progressAuto, "":
		f, ok := w.(*os.File)
		return ok && term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb", nil
	}
	return false, fmt.Errorf("unknown progress mode %q: use auto, live or plain", mode)
}

// liveRow is what the live view knows of one task run; it is copied out of
// the execution when a commit reports the run changed, so drawing never
// reads state the engine is still writing.
type liveRow struct {
	id       string
	depth    int
	state    statemachine.RunState
	attempts int
	start    time.Time
	end      time.Time
	ord      int // creation order
	seq      int // order of the last change, to keep the most recent runs in view
}

// keepFinished is how many finished runs the live view keeps to show: the
// block shows unfinished runs first, then the most recently finished.
const keepFinished = 64

// liveStatus is the data of the status block. It keeps the unfinished runs
// and the last finished ones, and counts every run by state, so that an
// update costs what changed and a redraw what is shown, however many runs
// the execution has.
type liveStatus struct {
	title  string
	state  statemachine.ExecState
	start  time.Time
	active map[string]*liveRow // unfinished runs
	recent []*liveRow          // the last finished runs, oldest first
	states map[string]statemachine.RunState
	counts map[statemachine.RunState]int
	depth  map[string]int // of runs that have children
	seq    int
}

func newLiveStatus(title string) *liveStatus {
	return &liveStatus{title: title, active: map[string]*liveRow{}, states: map[string]statemachine.RunState{},
		counts: map[statemachine.RunState]int{}, depth: map[string]int{}}
}

// total is how many task runs the status knows.
func (s *liveStatus) total() int { return len(s.states) }

// update records the changed runs of one commit; prefix names a subflow's
// execution.
func (s *liveStatus) update(prefix string, changed []*statemachine.TaskRun) {
	for _, r := range changed {
		id := prefix + r.ID
		old, known := s.states[id]
		if known {
			s.counts[old]--
		}
		s.states[id] = r.State
		s.counts[r.State]++
		row := s.active[id]
		if row == nil {
			row = &liveRow{id: id, ord: len(s.states)}
			if known { // a finished run that changes again
				for _, f := range s.recent {
					if f.id == id {
						row = f
					}
				}
			}
			if r.ParentID != "" {
				if d, ok := s.depth[prefix+r.ParentID]; ok {
					row.depth = d + 1
				}
			}
		}
		s.seq++
		row.state, row.attempts, row.start, row.end, row.seq = r.State, len(r.Attempts), r.StartDate, r.EndDate, s.seq
		if !r.State.Terminal() {
			s.active[id] = row
			s.depth[id] = row.depth
			continue
		}
		delete(s.active, id)
		delete(s.depth, id)
		s.recent = slices.DeleteFunc(s.recent, func(f *liveRow) bool { return f == row })
		if s.recent = append(s.recent, row); len(s.recent) > keepFinished {
			s.recent = slices.Delete(s.recent, 0, len(s.recent)-keepFinished)
		}
	}
}

// render draws the status block in at most height lines of width columns.
// When the runs do not fit, unfinished runs are kept first, then the most
// recently changed; a last line counts what is left out, by state.
func (s *liveStatus) render(now time.Time, width, height int, color bool) []string {
	lines := []string{fmt.Sprintf("%s  %s  %s", s.title, paint(color, execColor(s.state), string(s.state)), since(s.start, time.Time{}, now))}
	room := height - 1
	if s.total() > room {
		room-- // the line that counts the others
	}
	shown := s.pick(max(room, 0))
	frame := int(now.UnixMilli()/100) % len(spinner)
	for _, r := range shown {
		icon := stateIcon(r.state, frame)
		attempt := ""
		if r.attempts > 1 {
			attempt = fmt.Sprintf("  attempt %d", r.attempts)
		}
		dur := ""
		if !r.start.IsZero() {
			dur = "  " + since(r.start, r.end, now)
		}
		name := strings.Repeat("  ", r.depth) + r.id
		line := fmt.Sprintf("  %s %-30s %s%s%s", paint(color, runColor(r.state), icon), name, paint(color, runColor(r.state), fmt.Sprintf("%-9s", r.state)), attempt, dur)
		lines = append(lines, line)
	}
	if hidden := s.total() - len(shown); hidden > 0 {
		lines = append(lines, "  … "+s.countHidden(shown, hidden))
	}
	for i, l := range lines {
		lines[i] = truncate(l, width)
	}
	return lines
}

// pick chooses at most n rows: unfinished first, then the most recently
// changed, shown in creation order.
func (s *liveStatus) pick(n int) []*liveRow {
	ranked := make([]*liveRow, 0, len(s.active)+len(s.recent))
	for _, r := range s.active {
		ranked = append(ranked, r)
	}
	sort.Slice(ranked, func(i, j int) bool { return ranked[i].seq > ranked[j].seq })
	for i := len(s.recent) - 1; i >= 0; i-- {
		ranked = append(ranked, s.recent[i])
	}
	if len(ranked) > n {
		ranked = ranked[:n]
	}
	sort.Slice(ranked, func(i, j int) bool { return ranked[i].ord < ranked[j].ord })
	return ranked
}

func (s *liveStatus) countHidden(shown []*liveRow, hidden int) string {
	counts := maps.Clone(s.counts)
	for _, r := range shown {
		counts[r.state]--
	}
	return fmt.Sprintf("%d more task runs: %s", hidden, formatCounts(counts))
}

// formatCounts writes counts by state, states in alphabetical order.
func formatCounts[S ~string](counts map[S]int) string {
	var parts []string
	for _, st := range slices.Sorted(maps.Keys(counts)) {
		if n := counts[st]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, st))
		}
	}
	return strings.Join(parts, ", ")
}

func since(start, end, now time.Time) string {
	if start.IsZero() {
		return ""
	}
	if end.IsZero() {
		end = now
	}
	d := end.Sub(start)
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

func stateIcon(st statemachine.RunState, frame int) string {
	switch st {
	case statemachine.RunSuccess:
		return "✓"
	case statemachine.RunWarning:
		return "!"
	case statemachine.RunFailed, statemachine.RunKilled, statemachine.RunCrashed:
		return "✗"
	case statemachine.RunSkipped:
		return "-"
	case statemachine.RunPaused:
		return "‖"
	case statemachine.RunRetrying:
		return "↻"
	case statemachine.RunRunning:
		return spinner[frame]
	}
	return "·"
}

const (
	ansiRed    = "31"
	ansiGreen  = "32"
	ansiYellow = "33"
	ansiBlue   = "34"
	ansiDim    = "2"
)

func runColor(st statemachine.RunState) string {
	switch st {
	case statemachine.RunSuccess:
		return ansiGreen
	case statemachine.RunWarning, statemachine.RunRetrying, statemachine.RunPaused:
		return ansiYellow
	case statemachine.RunFailed, statemachine.RunKilled, statemachine.RunCrashed:
		return ansiRed
	case statemachine.RunRunning, statemachine.RunSubmitted:
		return ansiBlue
	}
	return ansiDim
}

func execColor(st statemachine.ExecState) string {
	switch st {
	case statemachine.ExecSuccess:
		return ansiGreen
	case statemachine.ExecWarning, statemachine.ExecPaused, statemachine.ExecKilling:
		return ansiYellow
	case statemachine.ExecFailed, statemachine.ExecKilled, statemachine.ExecCancelled:
		return ansiRed
	}
	return ansiBlue
}

func paint(color bool, code, s string) string {
	if !color {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// truncate cuts a line to width visible columns (escape sequences take
// none), so that no line wraps and the redraw can count lines.
func truncate(s string, width int) string {
	if width <= 0 || visibleLen(s) <= width {
		return s
	}
	var b strings.Builder
	cols := 0
	for i := 0; i < len(s) && cols < width-1; {
		if s[i] == 0x1b {
			j := strings.IndexByte(s[i:], 'm')
			if j < 0 {
				break
			}
			b.WriteString(s[i : i+j+1])
			i += j + 1
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r)
		cols++
		i += n
	}
	b.WriteString("…")
	if strings.Contains(s, "\x1b[") {
		b.WriteString("\x1b[0m")
	}
	return b.String()
}

func visibleLen(s string) int {
	n := 0
	for i := 0; i < len(s); {
		if s[i] == 0x1b {
			if j := strings.IndexByte(s[i:], 'm'); j >= 0 {
				i += j + 1
				continue
			}
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		n++
		i += size
	}
	return n
}

// liveView redraws the status block in place: log lines scroll above it,
// the block is erased and drawn again on every tick.
type liveView struct {
	w      io.Writer
	status *liveStatus
	color  bool
	size   func() (width, height int)
	drawn  int      // lines of the block now on screen
	logs   []string // log lines written since the last draw
}

func newLiveView(w io.Writer, title string) *liveView {
	v := &liveView{w: w, status: newLiveStatus(title), color: os.Getenv("NO_COLOR") == "", size: func() (int, int) { return 100, 30 }}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		v.size = func() (int, int) {
			if w, h, err := term.GetSize(int(f.Fd())); err == nil {
				return w, h
			}
			return 100, 30
		}
	} else {
		v.color = false
	}
	return v
}

// draw writes the pending log lines, then, unless the view is closing, the
// block, in one write; the block drawn before is erased first.
func (v *liveView) draw(now time.Time, closing bool) {
	var b strings.Builder
	if v.drawn > 0 {
		fmt.Fprintf(&b, "\r\x1b[%dA\x1b[J", v.drawn)
		v.drawn = 0
	}
	for _, l := range v.logs {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	v.logs = v.logs[:0]
	if !closing {
		width, height := v.size()
		lines := v.status.render(now, width, max(3, min(height/2, height-6)), v.color)
		for _, l := range lines {
			b.WriteString(l)
			b.WriteByte('\n')
		}
		v.drawn = len(lines)
	}
	io.WriteString(v.w, b.String())
}
