// Formatting of times, durations, counts and states.
export function dateTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function clock(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return d.toLocaleTimeString(undefined, { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
}

export function duration(ms) {
  if (ms == null || isNaN(ms)) return '';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${Math.round(s % 60)}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

// span is the duration from start to end, or to now while running.
export function span(start, end, now = Date.now()) {
  if (!start) return null;
  return (end ? new Date(end).getTime() : now) - new Date(start).getTime();
}

export const num = (n) => (n ?? 0).toLocaleString('en-US');

// The order in which states stand for a group of runs: what needs
// attention first.
const weight = ['FAILED', 'CRASHED', 'RUNNING', 'RETRYING', 'PAUSED', 'KILLING', 'SUBMITTED', 'CREATED', 'QUEUED', 'WARNING', 'KILLED', 'CANCELLED', 'SUCCESS', 'SKIPPED'];

// dominant is the state that stands for a set of counts by state.
export function dominant(counts) {
  if (!counts) return 'NONE';
  for (const s of weight) if (counts[s] > 0) return s;
  const keys = Object.keys(counts);
  return keys.length ? keys[0] : 'NONE';
}

// The states of executions and of task runs (docs/states.md); a test
// (ui/states_test.go) fails when the state machine has one they lack.
export const terminal = new Set(['SUCCESS', 'WARNING', 'FAILED', 'KILLED', 'CANCELLED', 'SKIPPED', 'CRASHED']);
export const execStates = ['CREATED', 'QUEUED', 'RUNNING', 'PAUSED', 'RETRYING', 'KILLING', 'SUCCESS', 'WARNING', 'FAILED', 'KILLED', 'CANCELLED'];
export const runStates = ['CREATED', 'SUBMITTED', 'RUNNING', 'RETRYING', 'PAUSED', 'SUCCESS', 'WARNING', 'FAILED', 'CRASHED', 'SKIPPED', 'KILLED'];
// Executions in these states can be restarted in place.
export const restartable = new Set(['FAILED', 'KILLED']);

// The colours of each state: the variables --X and --X-bg of styles.css,
// for what is drawn on a canvas (the Gantt chart).
export const stateColour = {
  CREATED: 'pending', QUEUED: 'pending', SUBMITTED: 'pending', RUNNING: 'running', KILLING: 'running', PAUSED: 'paused', RETRYING: 'retrying',
  SUCCESS: 'success', WARNING: 'warning', FAILED: 'failed', CRASHED: 'crashed', KILLED: 'killed', CANCELLED: 'killed', SKIPPED: 'killed',
};

// What each state means, shown as the state badge's tooltip.
export const meaning = {
  CREATED: 'created, not started yet',
  QUEUED: "waiting for a slot under the flow's concurrency limit",
  SUBMITTED: 'an attempt is scheduled on a worker',
  RUNNING: 'running',
  PAUSED: 'paused, waiting to be resumed',
  RETRYING: 'failed, waiting for its retry policy to run it again',
  KILLING: 'being killed: running attempts are being stopped',
  SUCCESS: 'ended well',
  WARNING: 'ended with a warning',
  FAILED: 'failed',
  CRASHED: 'its worker died or the OS killed its process (a signal, out of memory)',
  KILLED: 'killed',
  CANCELLED: 'cancelled before it ended',
  SKIPPED: 'skipped: its runIf was false',
};
