// A flow: its topology, source, triggers, start form, executions and the
// diff between two of its revisions.
import { useEffect, useState } from 'preact/hooks';
import { config, prefix } from '../config.js';
import { decodeSource, enc, expectExecution, formData, get, post } from '../api.js';
import { ErrorBanner, Labels, Panel, Tabs, useAsync } from '../components/bits.jsx';
import { InputsForm } from '../components/InputsForm.jsx';
import { Topology } from '../components/Topology.jsx';
import { Diff, YamlView } from '../components/Yaml.jsx';
import { dateTime } from '../format.js';
import { Link, navigate, setQuery, useLocation } from '../router.jsx';
import { ExecutionsTable } from './Executions.jsx';

const tabs = [
  { id: 'overview', label: 'Overview' },
  { id: 'source', label: 'Source' },
  { id: 'start', label: 'Start' },
  { id: 'executions', label: 'Executions' },
  { id: 'revisions', label: 'Revisions' },
];

// webhookBase is where the API that others call is: the deployed API's
// URL when this page is served by `relay ui`, else this origin.
export const webhookBase = () => config.publicURL || location.origin + prefix;

function parseLabels(text) {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export function Webhook({ namespace, flowId, hook }) {
  const [shown, setShown] = useState(false);
  const url = `${webhookBase()}/webhooks/${enc(namespace)}/${enc(flowId)}/`;
  return (
    <span>
      <code>POST {url}{shown ? enc(hook.webhookKey || '') : '••••••••'}</code>{' '}
      <button class="link" onClick={() => setShown(!shown)} aria-pressed={shown ? 'true' : 'false'}>
        {shown ? 'hide key' : 'show key'}
      </button>
    </span>
  );
}

export function FlowPage({ namespace, id }) {
  const { query } = useLocation();
  const tab = query.get('tab') || 'overview';
  const base = `/flows/${enc(namespace)}/${enc(id)}`;
  const [data, error] = useAsync(() => Promise.all([get(base), get(`${base}/graph`), get('/triggers')]), [namespace, id]);
  const [labels, setLabels] = useState('');
  const [selected, setSelected] = useState(null);
  if (error) return <ErrorBanner error={error} />;
  if (!data) return <p class="muted">Loading…</p>;
  const [rec, graph, allTriggers] = data;
  const triggers = allTriggers.filter((t) => t.namespace === namespace && t.flowId === id);
  const source = decodeSource(rec.source);

  const start = async (inputs, files) => {
    const q = parseLabels(labels)
      .map((l) => 'labels=' + enc(l))
      .join('&');
    // With files, the inputs go as a multipart form beside them.
    const body = Object.keys(files).length ? formData(inputs, files) : inputs;
    const st = await post(`/executions/${enc(namespace)}/${enc(id)}${q ? '?' + q : ''}`, body);
    expectExecution(st.id);
    navigate(`/executions/${enc(st.id)}`);
  };

  return (
    <>
      <p class="muted">
        <Link href="/flows">Flows</Link> / {namespace}
      </p>
      <div class="row">
        <h1 class="grow">
          {id} <span class="muted">revision {rec.revision}</span>
        </h1>
        <Link class="button" href={`/editor?namespace=${enc(namespace)}&id=${enc(id)}`}>
          Edit
        </Link>
        <button class="primary" onClick={() => setQuery({ tab: 'start' })}>
          Start
        </button>
      </div>
      {graph.description && <p>{graph.description}</p>}
      <Tabs label="Flow" tabs={tabs} selected={tab} onSelect={(t) => setQuery({ tab: t })} />
      {tab === 'overview' && (
        <Panel id="overview">
          <div class="split">
            <div>
              <h2>Topology</h2>
              <Topology flow={graph} selected={selected} onSelect={setSelected} label={`Topology of ${namespace}/${id}`} />
            </div>
            <div>
              <h2>Triggers</h2>
              {!triggers.length && <p class="muted">No triggers: executions start from the API, the CLI or the Start tab.</p>}
              {triggers.length > 0 && (
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Trigger</th>
                      <th scope="col">State</th>
                      <th scope="col">Last fired</th>
                      <th scope="col">Next</th>
                    </tr>
                  </thead>
                  <tbody>
                    {triggers.map((t) => {
                      const view = graph.triggers.find((x) => x.id === t.id) || {};
                      return (
                        <tr key={t.id}>
                          <td>
                            <strong>{t.id}</strong> <span class="muted">{t.type}</span>
                            <div class="muted">{t.type === 'webhook' ? <Webhook namespace={namespace} flowId={id} hook={view} /> : t.on}</div>
                          </td>
                          <td>{t.stopped ? 'stopped' : t.disabled ? 'disabled' : 'enabled'}</td>
                          <td>{t.last ? dateTime(t.last) : <span class="muted">never</span>}</td>
                          <td>{t.next ? dateTime(t.next) : <span class="muted">—</span>}</td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              )}
              <h2>Inputs</h2>
              {graph.inputs.length ? (
                <ul>
                  {graph.inputs.map((i) => (
                    <li key={i.id}>
                      <code>{i.id}</code> {i.type}
                      {i.required ? ', required' : ''} {i.description && <span class="muted">— {i.description}</span>}
                    </li>
                  ))}
                </ul>
              ) : (
                <p class="muted">none</p>
              )}
              <h2>Labels</h2>
              <Labels labels={graph.labels} />
            </div>
          </div>
        </Panel>
      )}
      {tab === 'source' && (
        <Panel id="source">
          <YamlView source={source} label={`Source of ${namespace}/${id} revision ${rec.revision}`} />
        </Panel>
      )}
      {tab === 'start' && (
        <Panel id="start">
          <h2>Start an execution of revision {rec.revision}</h2>
          {graph.disabled && <div class="banner error">This flow is disabled: it cannot be started.</div>}
          <div class="field">
            <label for="start-labels">
              Labels <span class="hint">key:value, comma-separated</span>
            </label>
            <input id="start-labels" value={labels} onInput={(e) => setLabels(e.currentTarget.value)} placeholder="team:data, env:dev" />
          </div>
          <InputsForm inputs={graph.inputs} submitLabel="Start execution" onSubmit={start} />
        </Panel>
      )}
      {tab === 'executions' && (
        <Panel id="executions">
          <ExecutionsTable query={`namespace=${enc(namespace)}&flowId=${enc(id)}&limit=50`} showFlow={false} />
        </Panel>
      )}
      {tab === 'revisions' && (
        <Panel id="revisions">
          <Revisions base={base} latest={rec.revision} />
        </Panel>
      )}
    </>
  );
}

function Revisions({ base, latest }) {
  const { query } = useLocation();
  const b = Number(query.get('b')) || latest;
  const a = Number(query.get('a')) || Math.max(1, b - 1);
  const [sources, setSources] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let live = true;
    setError(null);
    Promise.all([get(`${base}?revision=${a}`), get(`${base}?revision=${b}`)]).then(
      ([x, y]) => live && setSources([decodeSource(x.source), decodeSource(y.source)]),
      (e) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [a, b]);
  const options = Array.from({ length: latest }, (_, i) => i + 1);
  return (
    <>
      <div class="filters">
        <RevisionSelect id="rev-a" label="From revision" value={a} options={options} onChange={(v) => setQuery({ a: v })} />
        <RevisionSelect id="rev-b" label="To revision" value={b} options={options} onChange={(v) => setQuery({ b: v })} />
      </div>
      {latest === 1 && <p class="muted">This flow has one revision.</p>}
      <ErrorBanner error={error} />
      {sources && <Diff a={sources[0]} b={sources[1]} />}
    </>
  );
}

function RevisionSelect({ id, label, value, options, onChange }) {
  return (
    <div class="f">
      <label for={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        {options.map((r) => (
          <option key={r} value={r}>
            {r}
          </option>
        ))}
      </select>
    </div>
  );
}
