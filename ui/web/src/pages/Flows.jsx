// Flows by namespace, with their latest revision, triggers and last
// execution's state.
import { useEffect, useState } from 'preact/hooks';
import { enc, get } from '../api.js';
import { ErrorBanner, State, useAsync } from '../components/bits.jsx';
import { dateTime } from '../format.js';
import { Link } from '../router.jsx';

// limited runs fns at most n at a time.
async function limited(fns, n) {
  let i = 0;
  const worker = async () => {
    while (i < fns.length) await fns[i++]();
  };
  await Promise.all(Array.from({ length: Math.min(n, fns.length) }, worker));
}

export function FlowsPage() {
  const [data, error] = useAsync(() => Promise.all([get('/flows'), get('/triggers')]), []);
  const [last, setLast] = useState({});
  const [filter, setFilter] = useState('');
  const flows = data ? data[0] : null;
  const triggers = data ? data[1] : [];

  useEffect(() => {
    if (!flows) return;
    let live = true;
    limited(
      flows.map((f) => async () => {
        try {
          const list = await get(`/executions?namespace=${enc(f.namespace)}&flowId=${enc(f.id)}&limit=1`);
          if (live) setLast((m) => ({ ...m, [f.namespace + '/' + f.id]: list[0] || null }));
        } catch {
          /* the row says nothing */
        }
      }),
      6,
    );
    return () => {
      live = false;
    };
  }, [flows]);

  const byFlow = {};
  for (const t of triggers) (byFlow[t.namespace + '/' + t.flowId] ||= []).push(t);
  const shown = (flows || []).filter((f) => !filter || (f.namespace + '/' + f.id).toLowerCase().includes(filter.toLowerCase()));
  const namespaces = [...new Set(shown.map((f) => f.namespace))].sort();

  return (
    <>
      <div class="row">
        <h1 class="grow">Flows</h1>
        <Link class="button primary" href="/editor">
          New flow
        </Link>
      </div>
      <div class="filters">
        <div class="f">
          <label for="flow-filter">Filter</label>
          <input id="flow-filter" type="search" value={filter} placeholder="namespace or id" onInput={(e) => setFilter(e.currentTarget.value)} />
        </div>
      </div>
      <ErrorBanner error={error} />
      {!flows && !error && <p class="muted">Loading…</p>}
      {flows && !flows.length && (
        <p>
          No flows are deployed. Write one in the <Link href="/editor">editor</Link>, or run <code>relay flows deploy DIR</code>.
        </p>
      )}
      {shown.length > 0 && (
        <table>
          <caption class="sr-only">Flows by namespace</caption>
          <thead>
            <tr>
              <th scope="col">Flow</th>
              <th scope="col" class="num">Revision</th>
              <th scope="col">Triggers</th>
              <th scope="col">Last execution</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          {namespaces.map((ns) => (
            <tbody key={ns}>
              <tr class="ns-head">
                <td colSpan={5}>{ns}</td>
              </tr>
              {shown
                .filter((f) => f.namespace === ns)
                .map((f) => {
                  const key = f.namespace + '/' + f.id;
                  const l = last[key];
                  const trs = byFlow[key] || [];
                  return (
                    <tr key={key}>
                      <td>
                        <Link href={`/flows/${enc(f.namespace)}/${enc(f.id)}`}>{f.id}</Link>
                      </td>
                      <td class="num">
                        <Link href={`/flows/${enc(f.namespace)}/${enc(f.id)}?tab=revisions`} aria-label={`revision ${f.revision} of ${f.id}, see the revisions`}>
                          {f.revision}
                        </Link>
                      </td>
                      <td>
                        {trs.length ? (
                          trs.map((t) => (
                            <span class="labels" key={t.id}>
                              <span class="label" title={t.on}>
                                {t.id} ({t.type}){t.disabled ? ' disabled' : ''}
                              </span>
                            </span>
                          ))
                        ) : (
                          <span class="muted">none</span>
                        )}
                      </td>
                      <td>
                        {l === undefined ? (
                          <span class="muted">…</span>
                        ) : l === null ? (
                          <State state="NONE" />
                        ) : (
                          <Link href={`/executions/${enc(l.id)}`} aria-label={`last execution ${l.id}, ${l.state}`}>
                            <State state={l.state} /> <span class="muted">{dateTime(l.startDate)}</span>
                          </Link>
                        )}
                      </td>
                      <td>
                        <Link href={`/flows/${enc(f.namespace)}/${enc(f.id)}?tab=start`}>Start</Link>
                      </td>
                    </tr>
                  );
                })}
            </tbody>
          ))}
        </table>
      )}
    </>
  );
}
