// Executions, filtered by namespace, flow, state, start time and labels,
// updated live.
import { useEffect, useState } from 'preact/hooks';
import { config } from '../config.js';
import { enc, watchExecutions } from '../api.js';
import { ErrorBanner, Labels, State, useTick } from '../components/bits.jsx';
import { dateTime, duration, execStates, num, span } from '../format.js';
import { Link, setQuery, useLocation } from '../router.jsx';

export function ExecutionsTable({ query, showFlow = true }) {
  const [list, setList] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    setList(null);
    setError(null);
    return watchExecutions(query, (l) => {
      setError(null);
      setList(l);
    }, setError);
  }, [query]);
  useTick(1000, !!(list && list.some((e) => !e.endDate)));
  return (
    <>
      <p class="muted" aria-live="polite">
        {list ? `${list.length} execution${list.length === 1 ? '' : 's'}` : 'Loading…'}, updated live ({config.live === 'sse' ? 'server-sent events' : 'polling'})
      </p>
      <ErrorBanner error={error} />
      {list && list.length > 0 && (
        <table>
          <caption class="sr-only">Executions, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Execution</th>
              {showFlow && <th scope="col">Flow</th>}
              <th scope="col">State</th>
              <th scope="col">Started</th>
              <th scope="col" class="num">Duration</th>
              <th scope="col" class="num">Task runs</th>
              <th scope="col">Labels</th>
            </tr>
          </thead>
          <tbody>
            {list.map((e) => (
              <tr key={e.id} data-execution={e.id}>
                <td>
                  <Link href={`/executions/${enc(e.id)}`} class="mono">
                    {e.id}
                  </Link>
                </td>
                {showFlow && (
                  <td>
                    <Link href={`/flows/${enc(e.namespace)}/${enc(e.flowId)}`}>
                      {e.namespace}/{e.flowId}
                    </Link>{' '}
                    <span class="muted">r{e.revision}</span>
                  </td>
                )}
                <td>
                  <State state={e.state} />
                </td>
                <td>{dateTime(e.startDate)}</td>
                <td class="num">{duration(span(e.startDate, e.endDate))}</td>
                <td class="num">{num(e.taskRunCount)}</td>
                <td>
                  <Labels labels={e.labels} self={e.id} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {list && !list.length && <p>No executions match.</p>}
    </>
  );
}

// toInput and fromInput convert between RFC 3339 and datetime-local.
const pad = (n) => String(n).padStart(2, '0');
function toInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
const fromInput = (v) => (v ? new Date(v).toISOString() : '');

export function ExecutionsPage() {
  const { query } = useLocation();
  const q = new URLSearchParams();
  for (const k of ['namespace', 'flowId', 'state', 'after', 'before']) if (query.get(k)) q.set(k, query.get(k));
  for (const l of query.getAll('labels')) q.append('labels', l);
  q.set('limit', query.get('limit') || '100');
  const [labels, setLabels] = useState(query.getAll('labels').join(', '));
  const text = (name, label, placeholder) => (
    <div class="f">
      <label for={`f-${name}`}>{label}</label>
      <input id={`f-${name}`} type="search" value={query.get(name) || ''} placeholder={placeholder} onChange={(e) => setQuery({ [name]: e.currentTarget.value.trim() })} />
    </div>
  );
  return (
    <>
      <h1>Executions</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filters">
        {text('namespace', 'Namespace', 'any')}
        {text('flowId', 'Flow', 'any')}
        <div class="f">
          <label for="f-state">State</label>
          <select id="f-state" value={query.get('state') || ''} onChange={(e) => setQuery({ state: e.currentTarget.value })}>
            <option value="">any</option>
            {execStates.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        <div class="f">
          <label for="f-after">Started after</label>
          <input id="f-after" type="datetime-local" value={toInput(query.get('after'))} onChange={(e) => setQuery({ after: fromInput(e.currentTarget.value) })} />
        </div>
        <div class="f">
          <label for="f-before">Started before</label>
          <input id="f-before" type="datetime-local" value={toInput(query.get('before'))} onChange={(e) => setQuery({ before: fromInput(e.currentTarget.value) })} />
        </div>
        <div class="f">
          <label for="f-labels">Labels</label>
          <input
            id="f-labels"
            type="search"
            value={labels}
            placeholder="key:value, …"
            onInput={(e) => setLabels(e.currentTarget.value)}
            onChange={(e) =>
              setQuery({
                labels: e.currentTarget.value
                  .split(',')
                  .map((s) => s.trim())
                  .filter(Boolean),
              })
            }
          />
        </div>
      </form>
      <ExecutionsTable query={q.toString()} />
    </>
  );
}
