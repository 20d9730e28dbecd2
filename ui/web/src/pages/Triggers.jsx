// Triggers of every flow's latest revision: state, last and next fire,
// webhook URLs, and enabling or disabling them (a new revision of the
// flow).
import { useState } from 'preact/hooks';
import { enc, get, post } from '../api.js';
import { ErrorBanner, useAsync } from '../components/bits.jsx';
import { dateTime } from '../format.js';
import { Link } from '../router.jsx';
import { webhookBase } from './Flow.jsx';

export function TriggersPage() {
  const [list, error, reload] = useAsync(() => get('/triggers'), []);
  const [busy, setBusy] = useState('');
  const [msg, setMsg] = useState(null);
  const [failure, setFailure] = useState(null);
  const toggle = async (t) => {
    const key = `${t.namespace}/${t.flowId}/${t.id}`;
    setBusy(key);
    setFailure(null);
    setMsg(null);
    try {
      const rec = await post(`/flows/${enc(t.namespace)}/${enc(t.flowId)}/triggers/${enc(t.id)}/${t.disabled ? 'enable' : 'disable'}`);
      setMsg(`${t.id} of ${t.namespace}/${t.flowId} ${t.disabled ? 'enabled' : 'disabled'}: revision ${rec.revision}`);
      reload();
    } catch (e) {
      setFailure(e);
    } finally {
      setBusy('');
    }
  };
  return (
    <>
      <h1>Triggers</h1>
      <p class="muted">
        Enabling or disabling a trigger deploys a new revision of its flow whose source says so. Flows that <code>relay server --flows DIR</code> deploys from files
        get the file's content again when the file changes.
      </p>
      <ErrorBanner error={error || failure} />
      {msg && (
        <div class="banner info" role="status">
          {msg}
        </div>
      )}
      {!list && !error && <p class="muted">Loading…</p>}
      {list && !list.length && <p>No flow has triggers.</p>}
      {list && list.length > 0 && (
        <table>
          <caption class="sr-only">Triggers</caption>
          <thead>
            <tr>
              <th scope="col">Flow</th>
              <th scope="col">Trigger</th>
              <th scope="col">Fires on</th>
              <th scope="col">State</th>
              <th scope="col">Last fired</th>
              <th scope="col">Next</th>
              <th scope="col">
                <span class="sr-only">Action</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {list.map((t) => {
              const key = `${t.namespace}/${t.flowId}/${t.id}`;
              return (
                <tr key={key} data-trigger={key}>
                  <td>
                    <Link href={`/flows/${enc(t.namespace)}/${enc(t.flowId)}`}>
                      {t.namespace}/{t.flowId}
                    </Link>{' '}
                    <span class="muted">r{t.revision}</span>
                  </td>
                  <td>
                    <strong>{t.id}</strong> <span class="muted">{t.type}</span>
                  </td>
                  <td>
                    {t.type === 'webhook' ? (
                      <code>
                        POST {webhookBase()}/webhooks/{t.namespace}/{t.flowId}/&lt;key&gt;
                      </code>
                    ) : (
                      <code>{t.on}</code>
                    )}
                  </td>
                  <td>{t.stopped ? 'stopped (stopAfter)' : t.disabled ? 'disabled' : 'enabled'}</td>
                  <td>{t.last ? dateTime(t.last) : <span class="muted">never</span>}</td>
                  <td>{t.next ? dateTime(t.next) : <span class="muted">—</span>}</td>
                  <td>
                    <button onClick={() => toggle(t)} disabled={busy === key} aria-label={`${t.disabled ? 'Enable' : 'Disable'} trigger ${t.id} of ${t.namespace}/${t.flowId}`}>
                      {t.disabled ? 'Enable' : 'Disable'}
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </>
  );
}
