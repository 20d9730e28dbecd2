// Write or change a flow in the browser: the validator's problems are
// underlined at their line and column as you type (the API checks the
// document as deploying would, storing nothing), the topology of the last
// valid document is drawn beside it, and Deploy stores a new revision.
import { useEffect, useRef, useState } from 'preact/hooks';
import { decodeSource, enc, get, post } from '../api.js';
import { ErrorBanner } from '../components/bits.jsx';
import { Topology } from '../components/Topology.jsx';
import { Link, useLocation } from '../router.jsx';

const template = `id: my_flow
namespace: company.team

inputs:
  - id: name
    type: STRING
    defaults: world

tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: "Hello, {{ inputs.name }}!"
`;

export function EditorPage() {
  const { query } = useLocation();
  const ns = query.get('namespace');
  const id = query.get('id');
  const host = useRef(null);
  const view = useRef(null);
  const cm = useRef(null);
  const [diags, setDiags] = useState(null);
  const [checkError, setCheckError] = useState(null);
  const [flow, setFlow] = useState(null);
  const [loadError, setLoadError] = useState(null);
  const [deployed, setDeployed] = useState(null);
  const [deployError, setDeployError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [base, setBase] = useState(null);

  useEffect(() => {
    let live = true;
    setDeployed(null);
    const load = ns && id ? get(`/flows/${enc(ns)}/${enc(id)}`).then((r) => ({ source: decodeSource(r.source), revision: r.revision })) : Promise.resolve({ source: template, revision: 0 });
    Promise.all([load, import('../cm.js')]).then(
      ([doc, m]) => {
        if (!live || !host.current) return;
        cm.current = m;
        setBase(doc);
        view.current && view.current.destroy();
        view.current = m.createEditor(host.current, doc.source, {
          validate: async (text) => {
            const v = await post('/flows/validate?file=' + enc(id ? `${id}.yaml` : 'flow.yaml'), text, 'application/yaml');
            if (v.valid) setFlow(v.flow); // the last valid topology stays while a mistake is fixed
            return v.diagnostics;
          },
          onDiagnostics: (d, err) => {
            setCheckError(err);
            if (d) setDiags(d);
          },
          onChange: () => setDeployed(null),
        });
      },
      (e) => live && setLoadError(e),
    );
    return () => {
      live = false;
      view.current && view.current.destroy();
      view.current = null;
    };
  }, [ns, id]);

  const deploy = async () => {
    setBusy(true);
    setDeployError(null);
    setDeployed(null);
    try {
      const text = view.current.state.doc.toString();
      const rec = await post('/flows?file=' + enc(id ? `${id}.yaml` : 'flow.yaml'), text, 'application/yaml');
      setDeployed(rec);
    } catch (e) {
      setDeployError(e);
      if (e.diagnostics.length) setDiags(e.diagnostics);
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <div class="row">
        <h1 class="grow">{ns && id ? `Edit ${ns}/${id}` : 'New flow'}</h1>
        {base && base.revision > 0 && <span class="muted">from revision {base.revision}</span>}
        <button class="primary" onClick={deploy} disabled={busy || !view.current || (diags && diags.length > 0)}>
          {busy ? 'Deploying…' : 'Deploy'}
        </button>
      </div>
      <ErrorBanner error={loadError || deployError} />
      {deployed && (
        <div class="banner info" role="status">
          Deployed{' '}
          <Link href={`/flows/${enc(deployed.namespace)}/${enc(deployed.id)}`}>
            {deployed.namespace}/{deployed.id}
          </Link>{' '}
          revision {deployed.revision}
          {base && deployed.revision === base.revision ? ' (unchanged)' : ''}.{' '}
          {deployed.revision > 1 && <Link href={`/flows/${enc(deployed.namespace)}/${enc(deployed.id)}?tab=revisions&a=${deployed.revision - 1}&b=${deployed.revision}`}>See the diff</Link>}
        </div>
      )}
      <div class="split">
        <div class="editor" ref={host} />
        <div>
          <h2>Problems</h2>
          <div aria-live="polite" id="problems">
            {checkError && <ErrorBanner error={checkError} />}
            {diags === null && <p class="muted">Checking…</p>}
            {diags && diags.length === 0 && <p>No problems: the flow is valid.</p>}
            {diags && diags.length > 0 && (
              <ul class="diags">
                {diags.map((d, i) => (
                  <li key={i}>
                    <button class="link" onClick={() => cm.current && cm.current.goTo(view.current, d.pos.line, d.pos.col)}>
                      {d.pos.line}:{d.pos.col}
                    </button>{' '}
                    {d.path && <code>{d.path}</code>} {d.message}
                    {d.hint && <span class="muted"> ({d.hint})</span>}
                  </li>
                ))}
              </ul>
            )}
          </div>
          <h2>Topology</h2>
          {flow && diags && diags.length > 0 && <p class="muted">As it was when last valid:</p>}
          {flow ? <Topology flow={flow} label="Topology of the flow being edited" /> : <p class="muted">Drawn once the flow is valid.</p>}
        </div>
      </div>
    </>
  );
}
