// A list that renders only the rows in view, so that 10,000 or 100,000
// rows cost what 40 do. Rows have a fixed height. It is a focusable
// scrolling region (arrow and page keys scroll it) described as a table.
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';

export function VirtualList({ count, rowHeight = 30, height = 480, header, renderRow, onRange, follow = false, label, scrollTo }) {
  const ref = useRef(null);
  const [top, setTop] = useState(0);
  const headH = header ? rowHeight : 0;
  const first = Math.max(0, Math.floor(top / rowHeight) - 5);
  const last = Math.min(count, Math.ceil((top + height) / rowHeight) + 5);

  useEffect(() => {
    onRange && onRange(first, last);
  }, [first, last, count]);

  useLayoutEffect(() => {
    const el = ref.current;
    if (follow && el) el.scrollTop = el.scrollHeight;
  }, [count, follow]);

  useLayoutEffect(() => {
    const el = ref.current;
    if (el && scrollTo != null && scrollTo >= 0) el.scrollTop = scrollTo * rowHeight;
  }, [scrollTo]);

  const rows = [];
  for (let i = first; i < last; i++) {
    rows.push(
      <div role="row" aria-rowindex={i + 2} class="vrow" key={i} style={`top:${headH + i * rowHeight}px;height:${rowHeight}px`}>
        {renderRow(i)}
      </div>,
    );
  }
  return (
    <div
      ref={ref}
      class="vlist"
      style={`height:${Math.min(height, headH + count * rowHeight + 2)}px;min-height:${headH + rowHeight + 2}px`}
      tabIndex={0}
      role="table"
      aria-label={label}
      aria-rowcount={count + 1}
      onScroll={(e) => setTop(e.currentTarget.scrollTop)}
    >
      {header && (
        <div role="row" aria-rowindex={1} class="vhead" style={`height:${rowHeight}px`}>
          {header}
        </div>
      )}
      <div style={`height:${count * rowHeight}px`} />
      {rows}
    </div>
  );
}
