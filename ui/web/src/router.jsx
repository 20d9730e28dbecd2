// A small history router: paths below /ui/, links that navigate without a
// reload, and a hook that re-renders on navigation.
import { useEffect, useState } from 'preact/hooks';
import { uiRoot } from './config.js';

const listeners = new Set();
const notify = () => listeners.forEach((fn) => fn());
window.addEventListener('popstate', notify);

export function current() {
  let path = location.pathname.startsWith(uiRoot) ? location.pathname.slice(uiRoot.length) : location.pathname;
  if (!path) path = '/';
  return { path, query: new URLSearchParams(location.search) };
}

export function navigate(to, { replace = false } = {}) {
  const url = uiRoot + to;
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  window.scrollTo(0, 0);
  notify();
}

// setQuery changes the query string of the current page in place.
export function setQuery(params) {
  const q = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(params)) {
    q.delete(k);
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else if (v !== '' && v !== null && v !== undefined) q.set(k, v);
  }
  const s = q.toString();
  history.replaceState(null, '', location.pathname + (s ? '?' + s : ''));
  notify();
}

export function useLocation() {
  const [loc, setLoc] = useState(current);
  useEffect(() => {
    const fn = () => setLoc(current());
    listeners.add(fn);
    return () => listeners.delete(fn);
  }, []);
  return loc;
}

// match returns the path parameters of pattern (":name" segments) or null.
export function match(pattern, path) {
  const ps = pattern.split('/');
  const xs = path.split('/');
  if (ps.length !== xs.length) return null;
  const out = {};
  for (let i = 0; i < ps.length; i++) {
    if (ps[i].startsWith(':')) out[ps[i].slice(1)] = decodeURIComponent(xs[i]);
    else if (ps[i] !== xs[i]) return null;
  }
  return out;
}

export function Link({ href, children, ...rest }) {
  const onClick = (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(href);
  };
  return (
    <a href={uiRoot + href} onClick={onClick} {...rest}>
      {children}
    </a>
  );
}
