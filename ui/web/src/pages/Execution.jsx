// An execution, live: its topology coloured by state, a Gantt chart and a
// table of its task runs (read a page at a time, drawn only in view), its
// logs with a level filter and search, inputs and outputs with secrets
// masked, where it came from and what it started, and the actions its
// state allows: kill; resume with the pause's onResume inputs; restart in
// place (FAILED and KILLED), followed live; replay from a task, which
// opens the new execution.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { enc, expectExecution, get, getExecutionHead, post, watchExecution } from '../api.js';
import { Cached, CORRELATION, Counts, ErrorBanner, Labels, Panel, State, Tabs, useTick, Value } from '../components/bits.jsx';
import { InputsForm } from '../components/InputsForm.jsx';
import { Topology } from '../components/Topology.jsx';
import { VirtualList } from '../components/VirtualList.jsx';
import { clock, dateTime, duration, num, restartable, runStates, span, terminal } from '../format.js';
import { Link, navigate, setQuery, useLocation } from '../router.jsx';
import { RunPages } from '../runs.js';

// The chart library is loaded with the Gantt tab, not with the page.
function useGantt() {
  const [mod, setMod] = useState(null);
  useEffect(() => {
    import('../components/Gantt.jsx').then((m) => setMod(() => m.default));
  }, []);
  return mod;
}

const tabs = [
  { id: 'topology', label: 'Topology' },
  { id: 'gantt', label: 'Gantt' },
  { id: 'runs', label: 'Task runs' },
  { id: 'logs', label: 'Logs' },
  { id: 'io', label: 'Inputs & outputs' },
];

const levels = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];
const SENSITIVE = /authorization|cookie|token|secret|password|passwd|api[-_]?key|signature/i;

// masker hides secret input values wherever they appear (outputs, log
// lines, trigger variables) and the values of sensitive-looking keys.
function masker(secrets) {
  const values = secrets.filter((s) => typeof s === 'string' && s.length >= 3);
  const text = (s) => values.reduce((acc, v) => acc.split(v).join('••••••••'), s);
  const deep = (v, key) => {
    if (key && SENSITIVE.test(key) && v != null && typeof v !== 'object') return '••••••••';
    if (typeof v === 'string') return text(v);
    if (Array.isArray(v)) return v.map((x) => deep(x));
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, deep(x, k)]));
    return v;
  };
  return { text, deep };
}

function useRuns(id, state, version) {
  const [, bump] = useState(0);
  const pages = useMemo(() => new RunPages(id, state, () => bump((x) => x + 1)), [id, state]);
  useEffect(() => () => pages.stop(), [pages]);
  useEffect(() => {
    if (version) pages.changed();
  }, [version]);
  return pages;
}

export function ExecutionPage({ id }) {
  const { query } = useLocation();
  const tab = query.get('tab') || 'topology';
  const [doc, setDoc] = useState(null);
  const [graph, setGraph] = useState(null);
  const [error, setError] = useState(null);
  const [logs, setLogs] = useState([]);
  const [ended, setEnded] = useState(false);
  const [version, setVersion] = useState(0);
  const [selected, setSelected] = useState(null);
  const [run, setRun] = useState(null);
  const [started, setStarted] = useState([]);
  const logsRef = useRef([]);
  // While a restart is awaited: the restart count it moves on from, and
  // until when to wait for the engine to take it.
  const restarting = useRef(null);
  const reopen = useRef(() => {});

  useEffect(() => {
    let live = true;
    let stop = () => {};
    setDoc(null);
    setGraph(null);
    setLogs([]);
    logsRef.current = [];
    restarting.current = null;
    setEnded(false);
    setError(null);
    // follow opens the execution's stream, for the log lines after those
    // shown; it opens it again when the execution ended while a restart
    // is awaited (the engine had not taken it yet).
    const follow = () => {
      stop();
      setEnded(false);
      const last = logsRef.current[logsRef.current.length - 1];
      stop = watchExecution(id, {
        after: last ? last.seq : 0,
        onExecution: (d) => {
          if (!live) return;
          if (restarting.current && (d.restarts || 0) > restarting.current.from) restarting.current = null;
          setDoc(d);
          setVersion((v) => v + 1);
        },
        onLogs: (lines) => {
          if (!live) return;
          logsRef.current = logsRef.current.concat(lines);
          setLogs(logsRef.current);
        },
        onEnd: () => {
          if (!live) return;
          const r = restarting.current;
          if (r && Date.now() < r.until) {
            setTimeout(() => live && follow(), 250);
            return;
          }
          if (r) {
            restarting.current = null;
            setError(new Error('The restart was accepted, but the execution has not run again yet: reload the page to see whether it did.'));
          }
          setEnded(true);
        },
        onError: (e) => live && setError(e),
      });
    };
    reopen.current = (from) => {
      restarting.current = { from, until: Date.now() + 15000 };
      follow();
    };
    getExecutionHead(id, () => live).then(
      (d) => {
        if (!live) return;
        setDoc((cur) => cur || d);
        get(`/flows/${enc(d.namespace)}/${enc(d.flowId)}/graph?revision=${d.revision}`).then(
          (g) => live && setGraph(g),
          (e) => {
            if (!live) return;
            // Without the flow, which inputs are secrets is unknown: all
            // are masked.
            setError(e);
            setGraph({ namespace: d.namespace, id: d.flowId, revision: d.revision, inputs: Object.keys(d.inputs || {}).map((id) => ({ id, type: 'SECRET' })), blocks: [], triggers: [], outputs: [], failed: true });
          },
        );
        follow();
      },
      (e) => live && setError(e),
    );
    return () => {
      live = false;
      stop();
    };
  }, [id]);

  // What this execution started: subflows and executions its end
  // triggered. Read again as it moves on, at most every 2 s.
  const lastStarted = useRef(0);
  useEffect(() => {
    if (!doc) return undefined;
    const wait = Math.max(0, lastStarted.current + 2000 - Date.now());
    const t = setTimeout(() => {
      lastStarted.current = Date.now();
      get(`/executions?startedBy=${enc(id)}&limit=20`).then(setStarted, () => {});
    }, wait);
    return () => clearTimeout(t);
  }, [id, doc && doc.state, doc && doc.taskRunCount, ended]);

  const running = doc && !doc.endDate;
  useTick(1000, running);
  const secretIds = useMemo(() => new Set((graph ? graph.inputs : []).filter((i) => i.type === 'SECRET').map((i) => i.id)), [graph]);
  const mask = useMemo(() => masker(doc ? [...secretIds].map((k) => doc.inputs && doc.inputs[k]) : []), [doc && doc.inputs, secretIds]);

  if (error && !doc) return <ErrorBanner error={error} />;
  // Values are shown once the flow says which inputs are secrets, so a
  // secret is never on screen unmasked, not even for a moment.
  if (!doc || !graph) return <p class="muted">Loading…</p>;

  const flowHref = `/flows/${enc(doc.namespace)}/${enc(doc.flowId)}`;
  const correlation = (doc.labels || {})[CORRELATION];
  const upstream = doc.trigger && typeof doc.trigger.executionId === 'string' ? doc.trigger.executionId : null;
  return (
    <>
      <p class="muted">
        <Link href="/executions">Executions</Link> / <Link href={flowHref}>{doc.namespace}/{doc.flowId}</Link>
      </p>
      <div class="row">
        <h1 class="grow mono">{doc.id}</h1>
        <State state={doc.state} />
      </div>
      <ErrorBanner error={error} />
      {doc.error && (
        <div class="banner error" role="status">
          {doc.error}
        </div>
      )}
      <div class="split">
        <dl class="meta">
          <dt>Flow</dt>
          <dd>
            <Link href={flowHref}>
              {doc.namespace}/{doc.flowId}
            </Link>{' '}
            revision {doc.revision}
          </dd>
          <dt>Started</dt>
          <dd>{dateTime(doc.startDate)}</dd>
          <dt>Duration</dt>
          <dd>
            {duration(span(doc.startDate, doc.endDate))}
            {running ? ' so far' : ''}
          </dd>
          <dt>Task runs</dt>
          <dd>
            {num(doc.taskRunCount)} <Counts counts={doc.taskRunCounts} />
          </dd>
          <dt>Labels</dt>
          <dd>
            <Labels labels={doc.labels} self={doc.id} />
          </dd>
          {correlation && (correlation !== doc.id || started.length > 0) && (
            <>
              <dt>Chain</dt>
              <dd>
                {correlation !== doc.id && (
                  <>
                    begun by <Link href={`/executions/${enc(correlation)}`}>{correlation}</Link>;{' '}
                  </>
                )}
                <Link href={`/executions?labels=${enc(`${CORRELATION}:${correlation}`)}`}>its executions</Link> (the same {CORRELATION})
              </dd>
            </>
          )}
          <dt>Started by</dt>
          <dd>
            {doc.parent ? (
              <>
                subflow task <code>{doc.parent.taskRunId}</code> of <Link href={`/executions/${enc(doc.parent.executionId)}`}>{doc.parent.executionId}</Link>
              </>
            ) : doc.origin ? (
              <>
                trigger <strong>{doc.origin.triggerId}</strong> ({doc.origin.type})
                {upstream && (
                  <>
                    {' '}
                    after <Link href={`/executions/${enc(upstream)}`}>{upstream}</Link>
                  </>
                )}
              </>
            ) : (
              'a request (API, CLI or UI)'
            )}
          </dd>
          {doc.originalId && (
            <>
              <dt>Replay of</dt>
              <dd>
                <Link href={`/executions/${enc(doc.originalId)}`}>{doc.originalId}</Link>
              </dd>
            </>
          )}
          {doc.restarts > 0 && (
            <>
              <dt>Restarts</dt>
              <dd>{num(doc.restarts)}</dd>
            </>
          )}
          <dt>It started</dt>
          <dd>
            {started.length ? (
              started.map((e) => (
                <span key={e.id} style="margin-right:10px">
                  <Link href={`/executions/${enc(e.id)}`}>{e.id}</Link> <span class="muted">{e.namespace}/{e.flowId}</span> <State state={e.state} />
                </span>
              ))
            ) : (
              <span class="muted">no other executions</span>
            )}
          </dd>
        </dl>
        <Actions doc={doc} graph={graph} onRestarted={() => reopen.current(doc.restarts || 0)} />
      </div>
      <Tabs label="Execution" tabs={tabs} selected={tab} onSelect={(t) => setQuery({ tab: t })} />
      {tab === 'topology' && (
        <Panel id="topology">
          {graph ? (
            <div class="split">
              <Topology
                flow={graph}
                counts={doc.taskRunCountsByTask || {}}
                selected={selected}
                onSelect={setSelected}
                label={`Topology of ${doc.namespace}/${doc.flowId}, coloured by the state of each task's runs`}
              />
              <TaskDetail task={selected} graph={graph} doc={doc} />
            </div>
          ) : (
            <p class="muted">Loading the flow…</p>
          )}
        </Panel>
      )}
      {tab === 'gantt' && (
        <Panel id="gantt">
          <GanttPanel doc={doc} version={version} onSelect={(r) => setRun(r)} />
          {run && <RunDetail run={run} doc={doc} mask={mask} onClose={() => setRun(null)} />}
        </Panel>
      )}
      {tab === 'runs' && (
        <Panel id="runs">
          <RunsPanel doc={doc} version={version} selected={run} onSelect={setRun} />
          {run && <RunDetail run={run} doc={doc} mask={mask} onClose={() => setRun(null)} />}
        </Panel>
      )}
      {tab === 'logs' && (
        <Panel id="logs">
          <LogsPanel lines={logs} mask={mask} live={!ended} />
        </Panel>
      )}
      {tab === 'io' && (
        <Panel id="io">
          <h2>Inputs</h2>
          <Value value={mask.deep(doc.inputs)} secrets={secretIds} />
          <h2>Outputs</h2>
          {doc.endDate ? <Value value={mask.deep(doc.outputs)} /> : <p class="muted">Flow outputs are rendered when the execution ends.</p>}
          {doc.trigger && (
            <>
              <h2>Trigger variables</h2>
              <Value value={mask.deep(doc.trigger)} />
            </>
          )}
        </Panel>
      )}
    </>
  );
}

function TaskDetail({ task, graph, doc }) {
  if (!task) return <p class="muted">Select a task to see its runs by state.</p>;
  const counts = (doc.taskRunCountsByTask || {})[task] || {};
  return (
    <div class="card" aria-live="polite">
      <h3>{task}</h3>
      <Counts counts={counts} />
      <ul>
        {Object.keys(counts).map((s) => (
          <li key={s}>
            <Link href={`/executions/${enc(doc.id)}?tab=runs&state=${s}`}>
              {s} runs of the execution
            </Link>
          </li>
        ))}
      </ul>
      <p class="muted">
        Source: <Link href={`/flows/${enc(graph.namespace)}/${enc(graph.id)}?tab=source`}>revision {graph.revision}</Link>
      </p>
    </div>
  );
}

function Actions({ doc, graph, onRestarted }) {
  const [confirming, setConfirming] = useState('');
  const [msg, setMsg] = useState(null);
  const [error, setError] = useState(null);
  const [pause, setPause] = useState(null);
  const paused = doc.state === 'PAUSED';
  useEffect(() => {
    setPause(null);
    if (!paused) return;
    get(`/executions/${enc(doc.id)}?state=PAUSED&limit=20`).then((d) => {
      const r = d.taskRuns.find((x) => x.state === 'PAUSED');
      setPause(r || null);
    }, setError);
  }, [doc.id, paused]);
  const act = async (what, body, done) => {
    setError(null);
    setMsg(null);
    try {
      await post(`/executions/${enc(doc.id)}/${what}`, body);
      setMsg(done || `${what} requested`);
    } catch (e) {
      setError(e);
      throw e;
    }
  };
  // confirm is a button that asks before it acts.
  const confirm = (key, label, question, yes, onYes, cls) => (
    <div class="row">
      {confirming !== key ? (
        <button class={cls} onClick={() => setConfirming(key)}>
          {label}
        </button>
      ) : (
        <>
          <span>{question}</span>
          <button class={cls || 'primary'} onClick={() => onYes().then(() => setConfirming(''), () => {})}>
            {yes}
          </button>
          <button onClick={() => setConfirming('')}>Cancel</button>
        </>
      )}
    </div>
  );
  const task = pause && graph ? findTask(graph, pause.taskId) : null;
  return (
    <section aria-label="Actions" class="card">
      <h2 style="margin-top:0">Actions</h2>
      {!terminal.has(doc.state) &&
        doc.state !== 'KILLING' &&
        confirm('kill', 'Kill', 'Kill this execution? Running attempts are cancelled.', 'Yes, kill it', () => act('kill'), 'danger')}
      {paused && (
        <div>
          <h3>Resume</h3>
          {pause ? (
            <p class="muted">
              Paused at <code>{pause.id}</code>.
            </p>
          ) : null}
          <InputsForm inputs={(task && task.onResume) || []} submitLabel="Resume" idPrefix="resume" onSubmit={(inputs) => act('resume', inputs)} />
        </div>
      )}
      {terminal.has(doc.state) && <p class="muted">The execution has ended.</p>}
      {restartable.has(doc.state) &&
        confirm(
          'restart',
          'Restart',
          `Restart this execution? Its failed and killed task runs run again, in this execution, with revision ${doc.revision}; the others keep their outputs.`,
          'Yes, restart it',
          () => act('restart', undefined, 'Restart requested: following the execution live.').then(onRestarted),
        )}
      {terminal.has(doc.state) && <ReplayForm doc={doc} graph={graph} />}
      {msg && (
        <p role="status" class="muted">
          {msg}
        </p>
      )}
      <ErrorBanner error={error} />
    </section>
  );
}

// replay asks for a new execution that replays doc from a task or a task
// run, and opens it.
async function replay(doc, from) {
  const st = await post(`/executions/${enc(doc.id)}/replay?from=${enc(from)}`);
  expectExecution(st.id);
  navigate(`/executions/${enc(st.id)}`);
}

// ReplayForm chooses the task to replay an execution from: the tasks of
// its flow that have runs, in the flow's order, the first that did not
// end well chosen.
function ReplayForm({ doc, graph }) {
  const byTask = doc.taskRunCountsByTask;
  const ids = useMemo(() => tasks(graph).map((t) => t.id).filter((t) => !byTask || byTask[t]), [graph, byTask]);
  const bad = ids.find((t) => byTask && ['FAILED', 'CRASHED', 'KILLED'].some((s) => byTask[t][s] > 0));
  const [from, setFrom] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const chosen = from || bad || ids[0] || '';
  if (!ids.length) return null;
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await replay(doc, chosen);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit} aria-label="Replay">
      <h3>Replay</h3>
      <p class="muted">
        A new execution of revision {doc.revision}: the task runs before the chosen task keep their outputs; it and the tasks after it run again.
      </p>
      <div class="row">
        <label for="replay-from">From task</label>
        <select id="replay-from" value={chosen} onChange={(e) => setFrom(e.currentTarget.value)}>
          {ids.map((t) => (
            <option key={t} value={t}>
              {t}
            </option>
          ))}
        </select>
        <button type="submit" disabled={busy}>
          Replay
        </button>
      </div>
      <ErrorBanner error={error} />
    </form>
  );
}

// tasks lists a flow graph's tasks in the order the flow declares them
// (errors and finally blocks included).
function tasks(graph) {
  const out = [];
  const walk = (blocks) => {
    for (const b of blocks || []) {
      for (const t of b.tasks) {
        out.push(t);
        walk(t.blocks);
      }
    }
  };
  walk(graph && graph.blocks);
  return out;
}

const findTask = (graph, id) => tasks(graph).find((t) => t.id === id) || null;

function GanttPanel({ doc, version, onSelect }) {
  const pages = useRuns(doc.id, '', version);
  const Gantt = useGantt();
  const legend = [
    ['attempt (by state)', 'var(--success)'],
    ['waiting for a worker', 'var(--border)'],
    ['retry wait', 'var(--retrying-bg)'],
    ['flowable run: ForEach, Parallel, Sleep, Pause… (light, by state)', 'var(--success-bg)'],
  ];
  return (
    <>
      <div class="gantt-legend" aria-hidden="true">
        {legend.map(([l, c]) => (
          <span key={l} style={`--sw:${c}`}>
            {l}
          </span>
        ))}
      </div>
      {!Gantt && <p class="muted">Loading the chart…</p>}
      {Gantt && (
        <Gantt
          count={doc.taskRunCount}
          run={(i) => pages.at(i)}
          ensure={(a, b) => pages.ensure(a, b)}
          startDate={doc.startDate}
          endDate={doc.endDate}
          onSelect={onSelect}
        />
      )}
    </>
  );
}

function RunsPanel({ doc, version, selected, onSelect }) {
  const { query } = useLocation();
  const state = query.get('state') || '';
  const pages = useRuns(doc.id, state, version);
  const count = state ? (doc.taskRunCounts || {})[state] || 0 : doc.taskRunCount;
  return (
    <>
      <div class="filters">
        <div class="f">
          <label for="runs-state">State</label>
          <select id="runs-state" value={state} onChange={(e) => setQuery({ state: e.currentTarget.value })}>
            <option value="">any ({num(doc.taskRunCount)})</option>
            {runStates
              .filter((s) => (doc.taskRunCounts || {})[s])
              .map((s) => (
                <option key={s} value={s}>
                  {s} ({num(doc.taskRunCounts[s])})
                </option>
              ))}
          </select>
        </div>
      </div>
      <VirtualList
        label="Task runs"
        count={count}
        rowHeight={30}
        height={520}
        onRange={(a, b) => pages.ensure(a, b)}
        header={
          <>
            <span class="c-id" role="columnheader">
              Task run
            </span>
            <span class="c-state" role="columnheader">
              State
            </span>
            <span class="c-att" role="columnheader">
              Attempts
            </span>
            <span class="c-start" role="columnheader">
              Started
            </span>
            <span class="c-dur" role="columnheader">
              Duration
            </span>
            <span class="c-rest" role="columnheader">
              Error
            </span>
          </>
        }
        renderRow={(i) => {
          const r = pages.at(i);
          if (!r)
            return (
              <span class="muted" role="cell">
                …
              </span>
            );
          return (
            <>
              <span class="c-id" role="cell">
                <button class="link mono" onClick={() => onSelect(r)} aria-pressed={selected && selected.id === r.id ? 'true' : 'false'}>
                  {r.id}
                </button>
              </span>
              <span class="c-state" role="cell">
                <State state={r.state} />
                <Cached run={r} />
              </span>
              <span class="c-att" role="cell">
                {r.attempts.length}
              </span>
              <span class="c-start" role="cell">
                {clock(r.startDate)}
              </span>
              <span class="c-dur" role="cell">
                {duration(span(r.startDate, r.endDate))}
              </span>
              <span class="c-rest" role="cell" title={r.error ? r.error.message : ''}>
                {r.error ? r.error.message : ''}
              </span>
            </>
          );
        }}
      />
    </>
  );
}

function RunDetail({ run, doc, mask, onClose }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const replayRun = async () => {
    setBusy(true);
    setError(null);
    try {
      await replay(doc, run.id);
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };
  return (
    <section class="card" style="margin-top:12px" aria-label={`Task run ${run.id}`}>
      <div class="row">
        <h3 class="grow mono">{run.id}</h3>
        <State state={run.state} />
        <Cached run={run} />
        {terminal.has(doc.state) && (
          <button onClick={replayRun} disabled={busy}>
            Replay from this run
          </button>
        )}
        <button onClick={onClose}>Close</button>
      </div>
      <ErrorBanner error={error} />
      {run.cached && <p class="muted">Its outputs were reused from the task cache: the task did not run again.</p>}
      <dl class="meta">
        <dt>Task</dt>
        <dd>{run.taskId}</dd>
        {run.value !== undefined && (
          <>
            <dt>Value</dt>
            <dd>
              <code>{JSON.stringify(mask.deep(run.value))}</code>
            </dd>
          </>
        )}
        {run.childExecutionId && (
          <>
            <dt>Subflow execution</dt>
            <dd>
              <Link href={`/executions/${enc(run.childExecutionId)}`}>{run.childExecutionId}</Link>
            </dd>
          </>
        )}
        <dt>Started</dt>
        <dd>{dateTime(run.startDate)}</dd>
        <dt>Duration</dt>
        <dd>{duration(span(run.startDate, run.endDate))}</dd>
      </dl>
      {run.error && <div class="banner error">{mask.text(run.error.message)}</div>}
      <h3>Attempts</h3>
      <table>
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">State</th>
            <th scope="col">Started</th>
            <th scope="col" class="num">Duration</th>
            <th scope="col">Error</th>
          </tr>
        </thead>
        <tbody>
          {run.attempts.map((a, i) => (
            <tr key={i}>
              <td>{i + 1}</td>
              <td>
                <State state={a.state} />
              </td>
              <td>{clock(a.startDate)}</td>
              <td class="num">{duration(span(a.startDate, a.endDate))}</td>
              <td>{a.error ? `${a.error.kind}: ${mask.text(a.error.message)}` : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Outputs</h3>
      <Value value={mask.deep(run.outputs)} />
    </section>
  );
}

function LogsPanel({ lines, mask, live }) {
  const [min, setMin] = useState('TRACE');
  const [search, setSearch] = useState('');
  const [follow, setFollow] = useState(true);
  const shown = useMemo(() => {
    const m = levels.indexOf(min);
    const s = search.toLowerCase();
    return lines.filter((l) => levels.indexOf(l.level) >= m && (!s || l.message.toLowerCase().includes(s) || (l.taskRunId || '').toLowerCase().includes(s)));
  }, [lines, min, search]);
  const hl = (text) => {
    if (!search) return text;
    const i = text.toLowerCase().indexOf(search.toLowerCase());
    if (i < 0) return text;
    return (
      <>
        {text.slice(0, i)}
        <mark>{text.slice(i, i + search.length)}</mark>
        {text.slice(i + search.length)}
      </>
    );
  };
  return (
    <>
      <div class="filters">
        <div class="f">
          <label for="log-level">Level at least</label>
          <select id="log-level" value={min} onChange={(e) => setMin(e.currentTarget.value)}>
            {levels.map((l) => (
              <option key={l} value={l}>
                {l}
              </option>
            ))}
          </select>
        </div>
        <div class="f">
          <label for="log-search">Search</label>
          <input id="log-search" type="search" value={search} onInput={(e) => setSearch(e.currentTarget.value)} placeholder="text or task run" />
        </div>
        <label style="font-weight:400">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.currentTarget.checked)} /> Follow new lines
        </label>
        <span class="muted" aria-live="polite">
          {num(shown.length)} of {num(lines.length)} lines{live ? ', live' : ''}
        </span>
      </div>
      <VirtualList
        label="Log lines"
        count={shown.length}
        rowHeight={24}
        height={560}
        follow={follow}
        renderRow={(i) => {
          const l = shown[i];
          const msg = mask.text(l.message);
          return (
            <span class="log-row" style="display:contents">
              <span class="t" role="cell">
                {clock(l.time)}
              </span>
              <span class={`lv lv-${l.level}`} role="cell">
                {l.level}
              </span>
              <span class="w" role="cell" title={l.taskRunId || 'execution'}>
                {l.taskRunId || 'execution'}
              </span>
              <span class="m" role="cell" title={msg}>
                {hl(msg)}
              </span>
            </span>
          );
        }}
      />
    </>
  );
}
