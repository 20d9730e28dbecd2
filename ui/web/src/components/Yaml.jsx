// YAML shown with CodeMirror (loaded on demand), read-only.
import { useEffect, useRef } from 'preact/hooks';

export function YamlView({ source, label = 'Flow source' }) {
  const ref = useRef(null);
  useEffect(() => {
    let view = null;
    let live = true;
    import('../cm.js').then((m) => {
      if (live && ref.current) view = m.createViewer(ref.current, source);
    });
    return () => {
      live = false;
      view && view.destroy();
    };
  }, [source]);
  return <div class="source editor" ref={ref} aria-label={label} />;
}

export function Diff({ a, b }) {
  const ref = useRef(null);
  useEffect(() => {
    let view = null;
    let live = true;
    import('../cm.js').then((m) => {
      if (live && ref.current) view = m.createMerge(ref.current, a, b);
    });
    return () => {
      live = false;
      view && view.destroy();
    };
  }, [a, b]);
  return <div class="merge editor" ref={ref} />;
}
