// Small shared components.
import { useEffect, useRef, useState } from 'preact/hooks';
import { meaning } from '../format.js';

export function State({ state }) {
  const s = state || 'NONE';
  return (
    <span class={`state st-${s}`} title={meaning[s]}>
      {s === 'NONE' ? 'never run' : s}
    </span>
  );
}

// Cached marks a task run whose outputs came from the task cache.
export function Cached({ run }) {
  if (!run || !run.cached) return null;
  return (
    <span class="tag cached" title="outputs reused from the task cache: the task did not run">
      cached
    </span>
  );
}

export function Counts({ counts }) {
  const keys = Object.keys(counts || {}).sort();
  if (!keys.length) return <span class="muted">no task runs</span>;
  return (
    <span class="counts">
      {keys.map((k) => (
        <span key={k} class={`state st-${k}`} title={meaning[k]}>
          {k} {counts[k].toLocaleString('en-US')}
        </span>
      ))}
    </span>
  );
}

// Labels shows labels as key: value; Relay's own (system.*) are set
// apart. An execution's system.correlationId that is its own id (it began
// its chain) says nothing: given self, it is left out.
export function Labels({ labels, self }) {
  const entries = (Array.isArray(labels) ? labels.map((l) => [l.key, l.value]) : Object.entries(labels || {})).filter(
    ([k, v]) => !(self && k === CORRELATION && v === self),
  );
  if (!entries.length) return <span class="muted">none</span>;
  return (
    <span class="labels">
      {entries.map(([k, v]) => (
        <span class={k.startsWith('system.') ? 'label system' : 'label'} key={k}>
          {k}: {v}
        </span>
      ))}
    </span>
  );
}

export const CORRELATION = 'system.correlationId';

export function ErrorBanner({ error }) {
  if (!error) return null;
  return (
    <div class="banner error" role="alert">
      {String(error.message || error)}
    </div>
  );
}

// Tabs follows the WAI-ARIA tabs pattern: arrow keys move between tabs.
export function Tabs({ tabs, selected, onSelect, label }) {
  const refs = useRef({});
  const keys = tabs.map((t) => t.id);
  const onKey = (e) => {
    const i = keys.indexOf(selected);
    let j = -1;
    if (e.key === 'ArrowRight') j = (i + 1) % keys.length;
    if (e.key === 'ArrowLeft') j = (i - 1 + keys.length) % keys.length;
    if (e.key === 'Home') j = 0;
    if (e.key === 'End') j = keys.length - 1;
    if (j >= 0) {
      e.preventDefault();
      onSelect(keys[j]);
      refs.current[keys[j]] && refs.current[keys[j]].focus();
    }
  };
  return (
    <div class="tabs" role="tablist" aria-label={label} onKeyDown={onKey}>
      {tabs.map((t) => (
        <button
          key={t.id}
          role="tab"
          id={`tab-${t.id}`}
          aria-selected={selected === t.id ? 'true' : 'false'}
          aria-controls={`panel-${t.id}`}
          tabIndex={selected === t.id ? 0 : -1}
          ref={(el) => (refs.current[t.id] = el)}
          onClick={() => onSelect(t.id)}
        >
          {t.label}
        </button>
      ))}
    </div>
  );
}

export function Panel({ id, children }) {
  return (
    <div role="tabpanel" id={`panel-${id}`} aria-labelledby={`tab-${id}`}>
      {children}
    </div>
  );
}

// Value shows a JSON value; keys listed in secrets are masked.
export function Value({ value, secrets }) {
  let shown = value;
  if (secrets && secrets.size && value && typeof value === 'object' && !Array.isArray(value)) {
    shown = {};
    for (const [k, v] of Object.entries(value)) shown[k] = secrets.has(k) ? '••••••••' : v;
  }
  const text = JSON.stringify(shown, null, 2);
  return <pre class="json">{text}</pre>;
}

// Ticker re-renders every `every` ms, for running durations.
export function useTick(every, active) {
  const [, set] = useState(0);
  useEffect(() => {
    if (!active) return undefined;
    const t = setInterval(() => set((x) => x + 1), every);
    return () => clearInterval(t);
  }, [every, active]);
}

// useAsync runs fn when deps change and returns [value, error, reload].
export function useAsync(fn, deps) {
  const [state, setState] = useState({ value: undefined, error: null });
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ value: s.value, error: null }));
    fn().then(
      (value) => live && setState({ value, error: null }),
      (error) => live && setState({ value: undefined, error }),
    );
    return () => {
      live = false;
    };
  }, [...deps, n]);
  return [state.value, state.error, () => setN((x) => x + 1)];
}
