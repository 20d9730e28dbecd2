// Relay's web UI: a single-page app on the HTTP API of the page's origin.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import './styles.css';
import { config, prefix } from './config.js';
import { token } from './api.js';
import { Link, match, navigate, useLocation } from './router.jsx';
import { FlowsPage } from './pages/Flows.jsx';
import { FlowPage } from './pages/Flow.jsx';
import { ExecutionsPage } from './pages/Executions.jsx';
import { ExecutionPage } from './pages/Execution.jsx';
import { TriggersPage } from './pages/Triggers.jsx';
import { EditorPage } from './pages/Editor.jsx';

const THEME = 'relay-theme';
function initialTheme() {
  const saved = localStorage.getItem(THEME);
  if (saved === 'dark' || saved === 'light') return saved;
  return window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}
document.documentElement.dataset.theme = initialTheme();

const routes = [
  ['/flows', () => <FlowsPage />, 'Flows'],
  ['/flows/:namespace/:id', (p) => <FlowPage namespace={p.namespace} id={p.id} />, 'Flow'],
  ['/executions', () => <ExecutionsPage />, 'Executions'],
  ['/executions/:id', (p) => <ExecutionPage id={p.id} />, 'Execution'],
  ['/triggers', () => <TriggersPage />, 'Triggers'],
  ['/editor', () => <EditorPage />, 'Editor'],
];

const nav = [
  ['/flows', 'Flows'],
  ['/executions', 'Executions'],
  ['/triggers', 'Triggers'],
  ['/editor', 'Editor'],
];

function TokenDialog({ onClose }) {
  const [value, setValue] = useState(token.get());
  return (
    <dialog open aria-labelledby="token-title">
      <form
        method="dialog"
        onSubmit={(e) => {
          e.preventDefault();
          token.set(value.trim());
          onClose();
          location.reload();
        }}
      >
        <h2 id="token-title">API token</h2>
        <p class="muted">This API takes a JWT (ApiAuth JWT). It is kept in this browser tab only and sent as a bearer token.</p>
        <div class="field">
          <label for="token">Token</label>
          <input id="token" type="password" autocomplete="off" value={value} onInput={(e) => setValue(e.currentTarget.value)} />
        </div>
        <div class="row">
          <button type="submit" class="primary">
            Save
          </button>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
        </div>
      </form>
    </dialog>
  );
}

function App() {
  const { path } = useLocation();
  const [theme, setTheme] = useState(document.documentElement.dataset.theme);
  const [asking, setAsking] = useState(config.auth === 'token' && !token.get());
  useEffect(() => {
    const fn = () => config.auth === 'token' && setAsking(true);
    window.addEventListener('relay-auth', fn);
    return () => window.removeEventListener('relay-auth', fn);
  }, []);
  useEffect(() => {
    if (path === '/' || path === '') navigate('/executions', { replace: true });
  }, [path]);
  const toggle = () => {
    const next = theme === 'dark' ? 'light' : 'dark';
    document.documentElement.dataset.theme = next;
    localStorage.setItem(THEME, next);
    setTheme(next);
  };
  let page = null;
  let title = 'Not found';
  for (const [pattern, fn, t] of routes) {
    const p = match(pattern, path);
    if (p) {
      page = fn(p);
      title = t;
      break;
    }
  }
  useEffect(() => {
    document.title = `${title} · Relay`;
  }, [title, path]);
  return (
    <>
      <header class="top">
        <Link href="/executions" class="brand" aria-label="Relay home">
          <svg width="22" height="22" viewBox="0 0 24 24" aria-hidden="true">
            <circle cx="5" cy="12" r="3" fill="currentColor" />
            <circle cx="19" cy="6" r="3" fill="currentColor" />
            <circle cx="19" cy="18" r="3" fill="currentColor" />
            <path d="M8 12h4l4-6M12 12l4 6" stroke="currentColor" stroke-width="2" fill="none" />
          </svg>
          Relay
        </Link>
        <nav aria-label="Main">
          <ul>
            {nav.map(([href, label]) => (
              <li key={href}>
                <Link href={href} aria-current={path === href || path.startsWith(href + '/') ? 'page' : undefined}>
                  {label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <span class="spacer" />
        {config.auth === 'token' && <button onClick={() => setAsking(true)}>API token</button>}
        <button onClick={toggle} aria-label={`Switch to ${theme === 'dark' ? 'light' : 'dark'} mode`} aria-pressed={theme === 'dark' ? 'true' : 'false'}>
          {theme === 'dark' ? '☀ Light' : '☾ Dark'}
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        {config.auth === 'iam' && (
          <div class="banner error" role="alert">
            This API takes AWS IAM (SigV4) requests only, which a browser cannot sign. Run <code>relay ui --api {location.origin + prefix}</code> on your machine: it serves
            these pages on 127.0.0.1 and signs their requests with your AWS credentials.
          </div>
        )}
        {page || (
          <>
            <h1>Not found</h1>
            <p>
              No page at {path}. <Link href="/executions">Executions</Link>
            </p>
          </>
        )}
      </main>
      {asking && <TokenDialog onClose={() => setAsking(false)} />}
    </>
  );
}

render(<App />, document.getElementById('app'));
