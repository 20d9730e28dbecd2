// The topology of a flow: its tasks as boxes, flowable tasks (Parallel,
// If, Switch, ForEach, Dag, WaitFor, AllowFailure, Sequential) as groups
// around their blocks, laid out by dagre (a compound, layered graph
// layout) and drawn as SVG. Given counts by task, each box is coloured
// by the state that stands for its runs and says how many there are in
// each state: an execution of any size is drawn from its head alone.
import { useMemo } from 'preact/hooks';
import { graphlib, layout } from '@dagrejs/dagre';
import { dominant, num } from '../format.js';

const PARALLEL = new Set(['flow.parallel']);
const LINE = 15;
const CHAR = 7.1;

function blockLabel(b) {
  if (b.name === 'case') return `case ${b.value}`;
  return b.name;
}

// build turns a FlowGraph into dagre nodes, clusters and edges. The
// layout depends on the flow alone (withCounts reserves a line for the
// counts), so an execution's changes redraw the boxes without laying the
// graph out again.
function build(flow, withCounts) {
  const g = new graphlib.Graph({ compound: true, multigraph: false });
  g.setGraph({ rankdir: 'TB', nodesep: 22, ranksep: 34, marginx: 18, marginy: 18 });
  g.setDefaultEdgeLabel(() => ({}));
  const tasks = new Map();

  const addNode = (t, parent, header) => {
    const id = 't:' + t.id;
    const lines = [t.id, t.subflow ? `${t.type} → ${t.subflow.namespace}/${t.subflow.id}` : t.type];
    const width = Math.max(withCounts ? 190 : 130, ...lines.map((l) => l.length * CHAR + 24));
    g.setNode(id, { kind: 'node', task: t, header, width, height: (lines.length + (withCounts ? 1 : 0)) * LINE + 14, lines });
    if (parent) g.setParent(id, parent);
    tasks.set(t.id, t);
    return id;
  };

  // addTask adds a task (and, for a flowable, its group) and returns the
  // ids of its entry and of its exits.
  const addTask = (t, parent) => {
    const blocks = t.blocks || [];
    if (!blocks.length) {
      const id = addNode(t, parent, false);
      return { entry: id, exits: [id] };
    }
    const cluster = 'c:' + t.id;
    g.setNode(cluster, { kind: 'cluster', label: '' });
    if (parent) g.setParent(cluster, parent);
    const head = addNode(t, cluster, true);
    const exits = [];
    const single = blocks.length === 1 && (blocks[0].name === 'tasks' || blocks[0].name === 'dag');
    blocks.forEach((b, i) => {
      let inner = cluster;
      if (!single) {
        inner = `b:${t.id}:${i}`;
        g.setNode(inner, { kind: 'cluster', label: blockLabel(b), block: true });
        g.setParent(inner, cluster);
      }
      const r = addBlock(b, inner, PARALLEL.has(t.type) ? 'parallel' : b.name === 'dag' ? 'dag' : 'sequential');
      r.entries.forEach((e) => g.setEdge(head, e, { dashed: b.name === 'errors' }));
      if (b.name !== 'errors') exits.push(...r.exits);
    });
    return { entry: head, exits: exits.length ? exits : [head] };
  };

  // addBlock adds a block's tasks, chained as they run, and returns its
  // entries and exits.
  const addBlock = (b, parent, mode) => {
    const added = b.tasks.map((t) => ({ t, ...addTask(t, parent) }));
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

  for (const b of flow.blocks || []) {
    let parent = null;
    if (b.name !== 'tasks') {
      parent = 'f:' + b.name;
      g.setNode(parent, { kind: 'cluster', label: b.name, block: true });
    }
    addBlock(b, parent, 'sequential');
  }
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
      const c = counts && counts[n.task.id];
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
          <g class="cluster" key={c.id}>
            <rect x={c.x - c.width / 2} y={c.y - c.height / 2} width={c.width} height={c.height} rx="8" />
            {c.label && (
              <text x={c.x - c.width / 2 + 8} y={c.y - c.height / 2 + 13}>
                {c.label}
              </text>
            )}
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
          const cls = `node ${n.header ? 'header' : ''} ${state ? 's-' + state : ''} ${selected === n.task.id ? 'selected' : ''}`;
          const aria = `${n.task.id}, ${n.task.type}${n.counts ? ', ' + countText(n.counts) : ''}`;
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
              {n.lines.map((l, i) => (
                <text key={i} x={x + 10} y={y + 18 + i * LINE} class={i === 1 ? 'type' : i === 2 ? `count c-${state}` : ''} font-weight={i === 0 ? 700 : undefined}>
                  {l}
                </text>
              ))}
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
