// The topology of a flow: its tasks as boxes, flowable tasks (Parallel,
// If, Switch, ForEach, Dag, WaitFor, AllowFailure, Sequential) as groups
// around their blocks, and subflow tasks as groups around the tasks of
// the flow they start, laid out by dagre (a compound, layered graph
// layout) and drawn as SVG. Given counts by task, each box is coloured
// by the state that stands for its runs and says how many there are in
// each state: an execution of any size is drawn from its head alone. A
// subflow's tasks run in another execution, so they are drawn uncoloured
// and are not selectable.
import { useMemo } from 'preact/hooks';
import { graphlib, layout } from '@dagrejs/dagre';
import { dominant, num } from '../format.js';
import { Link } from '../router.jsx';

const PARALLEL = new Set(['flow.parallel']);
const LINE = 15;
const CHAR = 7.1;

function blockLabel(b) {
  if (b.name === 'case') return `case ${b.value}`;
  return b.name;
}

// Why a subflow's tasks are not drawn (api.SubflowView's status).
const subflowNotes = {
  'not-found': 'flow not found',
  cycle: 'flow drawn above: not repeated',
  'too-deep': 'nested too deep to draw',
  'too-many': 'too many subflows to draw',
};

const flowName = (sf) => `${sf.namespace}/${sf.id}`;

// build turns a FlowGraph into dagre nodes, clusters and edges. The
// layout depends on the flow alone (withCounts reserves a line for the
// counts), so an execution's changes redraw the boxes without laying the
// graph out again.
function build(flow, withCounts) {
  const g = new graphlib.Graph({ compound: true, multigraph: false });
  g.setGraph({ rankdir: 'TB', nodesep: 22, ranksep: 34, marginx: 18, marginy: 18 });
  g.setDefaultEdgeLabel(() => ({}));

  // scope is '' for the flow's own tasks and, for the tasks of a flow a
  // subflow task starts, the path of subflow task ids down to it ending
  // in '/' (ids are unique within a flow only).
  const addNode = (t, parent, header, scope) => {
    const id = 't:' + scope + t.id;
    const lines = [t.id, t.subflow ? `${t.type} → ${flowName(t.subflow)}` : t.type];
    const note = t.subflow && subflowNotes[t.subflow.status];
    if (note) lines.push(note);
    const width = Math.max(withCounts ? 190 : 130, ...lines.map((l) => l.length * CHAR + 24));
    const counted = withCounts && !scope;
    g.setNode(id, { kind: 'node', task: t, header, scope, note, width, height: (lines.length + (counted ? 1 : 0)) * LINE + 14, lines });
    if (parent) g.setParent(id, parent);
    return id;
  };

  // addTask adds a task (and, for a flowable or a drawn subflow, its
  // group) and returns the ids of its entry and of its exits.
  const addTask = (t, parent, scope) => {
    const sub = t.subflow && t.subflow.blocks && t.subflow.blocks.length ? t.subflow : null;
    const blocks = t.blocks || [];
    if (!blocks.length && !sub) {
      const id = addNode(t, parent, false, scope);
      return { entry: id, exits: [id] };
    }
    const cluster = 'c:' + scope + t.id;
    g.setNode(cluster, { kind: 'cluster', label: '' });
    if (parent) g.setParent(cluster, parent);
    const head = addNode(t, cluster, true, scope);
    if (sub) {
      const inner = 's:' + scope + t.id;
      const label = `${flowName(sub)} · revision ${sub.revision}`;
      g.setNode(inner, { kind: 'cluster', label, block: true, subflow: sub, scope: scope + t.id });
      g.setParent(inner, cluster);
      const exits = addFlow(sub.blocks, inner, scope + t.id + '/', head);
      return { entry: head, exits: exits.length ? exits : [head] };
    }
    const exits = [];
    const single = blocks.length === 1 && (blocks[0].name === 'tasks' || blocks[0].name === 'dag');
    blocks.forEach((b, i) => {
      let inner = cluster;
      if (!single) {
        inner = `b:${scope}${t.id}:${i}`;
        g.setNode(inner, { kind: 'cluster', label: blockLabel(b), block: true });
        g.setParent(inner, cluster);
      }
      const r = addBlock(b, inner, PARALLEL.has(t.type) ? 'parallel' : b.name === 'dag' ? 'dag' : 'sequential', scope);
      r.entries.forEach((e) => g.setEdge(head, e, { dashed: b.name === 'errors' }));
      if (b.name !== 'errors') exits.push(...r.exits);
    });
    return { entry: head, exits: exits.length ? exits : [head] };
  };

  // addBlock adds a block's tasks, chained as they run, and returns its
  // entries and exits.
  const addBlock = (b, parent, mode, scope) => {
    const added = b.tasks.map((t) => ({ t, ...addTask(t, parent, scope) }));
    if (!added.length) return { entries: [], exits: [] };
    if (mode === 'parallel') {
      return { entries: added.map((a) => a.entry), exits: added.flatMap((a) => a.exits) };
    }
    if (mode === 'dag') {
      const byId = new Map(added.map((a) => [a.t.id, a]));
      const needed = new Set();
      for (const a of added) {
        for (const d of a.t.dependsOn || []) {
          const from = byId.get(d);
          if (from) {
            from.exits.forEach((x) => g.setEdge(x, a.entry, {}));
            needed.add(d);
          }
        }
      }
      return {
        entries: added.filter((a) => !(a.t.dependsOn || []).length).map((a) => a.entry),
        exits: added.filter((a) => !needed.has(a.t.id)).flatMap((a) => a.exits),
      };
    }
    for (let i = 1; i < added.length; i++) added[i - 1].exits.forEach((x) => g.setEdge(x, added[i].entry, {}));
    return { entries: [added[0].entry], exits: added[added.length - 1].exits };
  };

  // addFlow adds a flow's blocks (tasks, errors, finally) inside parent,
  // the errors and finally blocks as groups of their own, and returns the
  // exits of its tasks; from, when given, leads into its tasks.
  const addFlow = (blocks, parent, scope, from) => {
    let exits = [];
    for (const b of blocks || []) {
      let inner = parent;
      if (b.name !== 'tasks') {
        inner = 'f:' + scope + b.name;
        g.setNode(inner, { kind: 'cluster', label: b.name, block: true });
        if (parent) g.setParent(inner, parent);
      }
      const r = addBlock(b, inner, 'sequential', scope);
      if (b.name === 'tasks') {
        if (from) r.entries.forEach((e) => g.setEdge(from, e, {}));
        exits = r.exits;
      }
    }
    return exits;
  };

  addFlow(flow.blocks, null, '', null);
  layout(g);
  return g;
}

const short = {
  SUCCESS: 'success', FAILED: 'failed', RUNNING: 'running', WARNING: 'warning', KILLED: 'killed', PAUSED: 'paused',
  RETRYING: 'retrying', SUBMITTED: 'submitted', CREATED: 'created', SKIPPED: 'skipped', CRASHED: 'crashed',
};

function countText(c) {
  return Object.keys(c)
    .sort((a, b) => c[b] - c[a])
    .map((s) => `${num(c[s])} ${short[s] || s.toLowerCase()}`)
    .join(' · ');
}

// fit cuts text to what a box of width px shows.
function fit(text, width) {
  const max = Math.floor((width - 20) / 6.3);
  return text.length > max ? text.slice(0, max - 1) + '…' : text;
}

function path(points) {
  return points.map((p, i) => `${i ? 'L' : 'M'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
}

export function Topology({ flow, counts, selected, onSelect, label }) {
  const g = useMemo(() => build(flow, !!counts), [flow, !!counts]);
  const { width, height } = g.graph();
  const clusters = [];
  const nodes = [];
  for (const id of g.nodes()) {
    const n = g.node(id);
    if (!n) continue;
    if (n.kind === 'cluster') clusters.push({ id, ...n, depth: depth(g, id) });
    else {
      const c = counts && !n.scope && counts[n.task.id];
      nodes.push({ id, ...n, counts: c, lines: c ? [...n.lines, fit(countText(c), n.width)] : n.lines });
    }
  }
  clusters.sort((a, b) => a.depth - b.depth);
  const activate = (t) => onSelect && onSelect(t.id);
  return (
    <div class="topology">
      <svg width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="group" aria-label={label || 'Topology of the flow'}>
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path class="arrow" d="M 0 0 L 10 5 L 0 10 z" />
          </marker>
        </defs>
        {clusters.map((c) => (
          <g class={c.subflow ? 'cluster subflow' : 'cluster'} key={c.id} data-subflow={c.subflow ? c.scope : undefined}>
            <rect x={c.x - c.width / 2} y={c.y - c.height / 2} width={c.width} height={c.height} rx="8" />
            {c.label &&
              (c.subflow ? (
                <Link href={`/flows/${encodeURIComponent(c.subflow.namespace)}/${encodeURIComponent(c.subflow.id)}`}>
                  <text x={c.x - c.width / 2 + 8} y={c.y - c.height / 2 + 13}>
                    {c.label}
                  </text>
                </Link>
              ) : (
                <text x={c.x - c.width / 2 + 8} y={c.y - c.height / 2 + 13}>
                  {c.label}
                </text>
              ))}
          </g>
        ))}
        {g.edges().map((e) => {
          const ed = g.edge(e);
          return <path key={e.v + '>' + e.w} class="edge" d={path(ed.points)} marker-end="url(#arrow)" stroke-dasharray={ed.dashed ? '5 4' : undefined} />;
        })}
        {nodes.map((n) => {
          const state = n.counts ? dominant(n.counts) : '';
          const x = n.x - n.width / 2;
          const y = n.y - n.height / 2;
          const sf = n.task.subflow;
          const aria = `${n.task.id}, ${n.task.type}${sf ? ' → ' + flowName(sf) : ''}${n.note ? ', ' + n.note : ''}${n.counts ? ', ' + countText(n.counts) : ''}`;
          const text = n.lines.map((l, i) => (
            <text
              key={i}
              x={x + 10}
              y={y + 18 + i * LINE}
              class={i === 1 ? 'type' : i === 2 && n.note ? 'note' : i >= 2 ? `count c-${state}` : ''}
              font-weight={i === 0 ? 700 : undefined}
            >
              {l}
            </text>
          ));
          if (n.scope) {
            // A task of a subflow: drawn, labelled, not selectable.
            const label = `${aria}, in the flow started by ${n.scope.replace(/\/$/, '')}`;
            return (
              <g key={n.id} class={`node sub ${n.header ? 'header' : ''}`} data-subflow-task={n.scope + n.task.id} role="img" aria-label={label}>
                <title>{label}</title>
                <rect x={x} y={y} width={n.width} height={n.height} rx="6" />
                {text}
              </g>
            );
          }
          const cls = `node ${n.header ? 'header' : ''} ${state ? 's-' + state : ''} ${n.note ? 'unresolved' : ''} ${selected === n.task.id ? 'selected' : ''}`;
          return (
            <g
              key={n.id}
              class={cls}
              data-task={n.task.id}
              tabIndex={0}
              role="button"
              aria-label={aria}
              aria-pressed={selected === n.task.id ? 'true' : 'false'}
              onClick={() => activate(n.task)}
              onKeyDown={(e) => {
                if (e.key === 'Enter' || e.key === ' ') {
                  e.preventDefault();
                  activate(n.task);
                }
              }}
            >
              <title>{aria}</title>
              <rect x={x} y={y} width={n.width} height={n.height} rx="6" />
              {text}
            </g>
          );
        })}
      </svg>
    </div>
  );
}

function depth(g, id) {
  let d = 0;
  for (let p = g.parent(id); p; p = g.parent(p)) d++;
  return d;
}
