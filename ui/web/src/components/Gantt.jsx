// A Gantt chart of task runs, drawn by Chart.js as floating horizontal
// bars on a time axis from the execution's start: each attempt in the
// colour of its state, the wait before the first attempt and between
// attempts (retries) in their own colours, and flowable runs (ForEach,
// Parallel, Pause...) as one bar; a run whose outputs came from the task
// cache says "(cached)" beside its id. It is virtualised: the chart draws only
// the rows in view of a scrolling area as tall as all the runs, and asks
// for the pages of runs those rows need.
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { BarController, BarElement, CategoryScale, Chart, LinearScale, Tooltip } from 'chart.js';
import { duration, stateColour } from '../format.js';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Tooltip);

const ROW = 26;
const AXIS = 34;

function colours() {
  const s = getComputedStyle(document.documentElement);
  const v = (n) => s.getPropertyValue(n).trim();
  const c = { wait: v('--border'), retry: v('--retrying-bg'), flowable: v('--pending-bg'), fg: v('--fg'), soft: v('--fg-soft'), grid: v('--bg-hover'), light: {} };
  for (const [state, name] of Object.entries(stateColour)) {
    c[state] = v(`--${name}`);
    c.light[state] = v(`--${name}-bg`);
  }
  return c;
}

const ms = (iso, t0) => (iso ? new Date(iso).getTime() - t0 : null);

// series turns the runs in view into Chart.js datasets.
function series(runs, t0, now, c) {
  const maxAttempts = Math.max(1, ...runs.map((r) => (r && r.attempts ? r.attempts.length : 0)));
  const blank = () => runs.map(() => null);
  const sets = [
    { key: 'flowable', label: 'run', data: blank(), colors: blank(), borders: blank() },
    { key: 'wait', label: 'waiting for a worker', data: blank(), colors: blank() },
  ];
  for (let k = 0; k < maxAttempts; k++) {
    sets.push({ key: 'a' + k, label: `attempt ${k + 1}`, data: blank(), colors: blank(), attempt: k });
    if (k + 1 < maxAttempts) sets.push({ key: 'g' + k, label: `retry wait ${k + 1}`, data: blank(), colors: blank() });
  }
  const at = (key) => sets.find((s) => s.key === key);
  runs.forEach((r, i) => {
    if (!r || !r.startDate) return;
    const start = ms(r.startDate, t0);
    const end = r.endDate ? ms(r.endDate, t0) : now - t0;
    const attempts = r.attempts || [];
    if (!attempts.length) {
      at('flowable').data[i] = [start, Math.max(end, start + 1)];
      at('flowable').colors[i] = c.light[r.state] || c.flowable;
      at('flowable').borders[i] = c[r.state] || c.soft;
      return;
    }
    const first = ms(attempts[0].startDate, t0);
    if (first != null && first > start) {
      at('wait').data[i] = [start, first];
      at('wait').colors[i] = c.wait;
    }
    attempts.forEach((a, k) => {
      const as = ms(a.startDate, t0);
      if (as == null) return;
      const ae = a.endDate ? ms(a.endDate, t0) : now - t0;
      at('a' + k).data[i] = [as, Math.max(ae, as + 1)];
      at('a' + k).colors[i] = c[a.state] || c.RUNNING;
      const next = attempts[k + 1];
      if (next && next.startDate && a.endDate) {
        at('g' + k).data[i] = [ae, ms(next.startDate, t0)];
        at('g' + k).colors[i] = c.retry;
      }
    });
  });
  return sets.map((s) => ({
    label: s.label,
    data: s.data,
    backgroundColor: s.colors,
    borderColor: s.borders || s.colors,
    borderWidth: s.borders ? 1.5 : 0,
    borderSkipped: false,
    grouped: false,
    barPercentage: s.key === 'wait' || s.key.startsWith('g') ? 0.35 : 0.75,
    categoryPercentage: 1,
    minBarLength: 2,
  }));
}

export default function Gantt({ count, run, ensure, startDate, endDate, onSelect, height = 520 }) {
  const canvas = useRef(null);
  const chart = useRef(null);
  const [top, setTop] = useState(0);
  const visible = Math.max(1, Math.floor((Math.min(height, AXIS + count * ROW + 8) - AXIS) / ROW));
  const first = Math.min(Math.max(0, count - visible), Math.floor(top / ROW));
  const last = Math.min(count, first + visible);
  const [theme, setTheme] = useState(document.documentElement.dataset.theme);

  useEffect(() => {
    const o = new MutationObserver(() => setTheme(document.documentElement.dataset.theme));
    o.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });
    return () => o.disconnect();
  }, []);

  useEffect(() => {
    ensure(first, last);
  }, [first, last, count]);

  useLayoutEffect(() => {
    const c = colours();
    const t0 = new Date(startDate).getTime();
    const now = Date.now();
    const runs = [];
    for (let i = first; i < last; i++) runs.push(run(i));
    const total = (endDate ? new Date(endDate).getTime() : now) - t0;
    const data = { labels: runs.map((r, i) => (r ? r.id + (r.cached ? ' (cached)' : '') : `… ${first + i + 1}`)), datasets: series(runs, t0, now, c) };
    if (!chart.current) {
      chart.current = new Chart(canvas.current, {
        type: 'bar',
        data,
        options: {
          indexAxis: 'y',
          animation: false,
          responsive: true,
          maintainAspectRatio: false,
          layout: { padding: { right: 12 } },
          scales: {
            x: { type: 'linear', position: 'top', min: 0, max: Math.max(total, 1), ticks: { color: c.soft, callback: (v) => duration(v) }, grid: { color: c.grid } },
            y: { ticks: { color: c.fg, autoSkip: false, font: { size: 11 } }, grid: { display: false } },
          },
          plugins: {
            legend: { display: false },
            tooltip: {
              filter: (item) => item.raw != null,
              callbacks: {
                label: (item) => {
                  const [a, b] = item.raw;
                  const r = chart.current.$runs[item.dataIndex];
                  let text = `${item.dataset.label}: ${duration(b - a)} (from +${duration(a)})`;
                  const k = /^attempt (\d+)$/.exec(item.dataset.label);
                  if (r && k) {
                    const at = r.attempts[Number(k[1]) - 1];
                    text += ` ${at.state}${at.error ? ': ' + at.error.message : ''}`;
                  } else if (r && item.dataset.label === 'run') text += ` ${r.state}`;
                  if (r && r.cached) text += ' (outputs from the task cache)';
                  return text;
                },
              },
            },
          },
          onClick: (_, els) => {
            if (!els.length) return;
            const r = chart.current.$runs[els[0].index];
            if (r && onSelect) onSelect(r);
          },
        },
      });
    } else {
      const ch = chart.current;
      ch.data = data;
      ch.options.scales.x.max = Math.max(total, 1);
      ch.options.scales.x.ticks.color = c.soft;
      ch.options.scales.x.grid.color = c.grid;
      ch.options.scales.y.ticks.color = c.fg;
      ch.update('none');
    }
    chart.current.$runs = runs;
  });

  useEffect(() => () => chart.current && chart.current.destroy(), []);

  const content = AXIS + Math.max(count, 1) * ROW;
  const view = Math.min(height, content + 8);
  return (
    <div class="gantt">
      <div class="scroller" style={`height:${view}px`} onScroll={(e) => setTop(e.currentTarget.scrollTop)} tabIndex={0} aria-label="Gantt chart, scroll for more task runs">
        <div class="canvas-wrap" style={`height:${view}px`}>
          <canvas ref={canvas} role="img" aria-label={`Gantt chart of task runs ${first + 1} to ${last} of ${count}: the Task runs tab lists them as a table`} />
        </div>
        <div style={`height:${Math.max(0, content - view)}px`} />
      </div>
    </div>
  );
}
