// A form generated from typed input declarations (a flow's inputs, or a
// pause's onResume inputs): a field per input, of the kind its type asks
// for, with the API's problems shown by the field they are about.
import { useState } from 'preact/hooks';

function fieldKind(t) {
  switch (t) {
    case 'INT':
    case 'FLOAT':
      return 'number';
    case 'BOOLEAN':
      return 'boolean';
    case 'SELECT':
    case 'ENUM':
      return 'select';
    case 'MULTISELECT':
      return 'multi';
    case 'JSON':
    case 'ARRAY':
      return 'textarea';
    case 'SECRET':
      return 'password';
    case 'DATE':
      return 'date';
    case 'URI':
      return 'url';
    case 'EMAIL':
      return 'email';
    default:
      return 'text';
  }
}

const placeholders = {
  DATETIME: '2026-11-21T11:00:00Z',
  TIME: '11:00:00',
  DURATION: 'PT1H30M',
  JSON: '{"key": "value"}',
  ARRAY: '["a", "b"] or one item per line',
};

function initial(inputs) {
  const v = {};
  for (const d of inputs) {
    const def = d.default;
    const templ = typeof def === 'string' && def.includes('{{');
    if (def === undefined || def === null || templ) v[d.id] = d.type === 'MULTISELECT' ? [] : d.type === 'BOOLEAN' ? '' : '';
    else if (d.type === 'JSON' || d.type === 'ARRAY') v[d.id] = typeof def === 'string' ? def : JSON.stringify(def);
    else if (d.type === 'MULTISELECT') v[d.id] = Array.isArray(def) ? def.map(String) : [String(def)];
    else v[d.id] = String(def);
  }
  return v;
}

// values turns the form's fields into the inputs sent to the API; empty
// fields are left out, so defaults apply.
function values(inputs, form) {
  const out = {};
  for (const d of inputs) {
    const v = form[d.id];
    if (v === '' || v === undefined || (Array.isArray(v) && !v.length && d.type !== 'MULTISELECT')) continue;
    if (d.type === 'MULTISELECT') {
      if (v.length) out[d.id] = v;
      continue;
    }
    if (d.type === 'BOOLEAN') out[d.id] = v === 'true';
    else if (d.type === 'JSON') {
      try {
        out[d.id] = JSON.parse(v);
      } catch {
        out[d.id] = v; // the API says what is wrong with it
      }
    } else if (d.type === 'ARRAY') {
      const t = v.trim();
      if (t.startsWith('[')) {
        try {
          out[d.id] = JSON.parse(t);
          continue;
        } catch {
          /* sent as text, so the API reports it */
        }
      }
      out[d.id] = t.startsWith('[') ? t : t.split('\n').map((x) => x.trim()).filter(Boolean);
    } else out[d.id] = v;
  }
  return out;
}

// InputsForm calls onSubmit(values, files): files holds the File of each
// FILE input that was given one, by input id.
export function InputsForm({ inputs, submitLabel, onSubmit, idPrefix = 'in' }) {
  const [form, setForm] = useState(() => initial(inputs));
  const [files, setFiles] = useState({});
  const [errors, setErrors] = useState({});
  const [general, setGeneral] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (id, v) => setForm((f) => ({ ...f, [id]: v }));

  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setErrors({});
    setGeneral(null);
    try {
      await onSubmit(values(inputs.filter((d) => d.type !== 'FILE'), form), files);
    } catch (err) {
      const byField = {};
      for (const p of err.inputs || []) byField[p.id] = p.message;
      setErrors(byField);
      const known = new Set(inputs.map((d) => d.id));
      const stray = (err.inputs || []).filter((p) => !known.has(p.id));
      if (!Object.keys(byField).length || stray.length) setGeneral(err.message);
      const first = inputs.find((d) => byField[d.id]);
      if (first) document.getElementById(`${idPrefix}-${first.id}`)?.focus();
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={submit} noValidate>
      {inputs.length === 0 && <p class="muted">This flow has no inputs.</p>}
      {inputs.map((d) => {
        const id = `${idPrefix}-${d.id}`;
        const err = errors[d.id];
        const kind = fieldKind(d.type);
        const common = {
          id,
          name: d.id,
          'aria-invalid': err ? 'true' : 'false',
          'aria-describedby': `${id}-hint${err ? ` ${id}-err` : ''}`,
          'aria-required': d.required ? 'true' : undefined,
        };
        let control;
        if (d.type === 'FILE') {
          control = (
            <input
              {...common}
              type="file"
              onChange={(e) => {
                const f = e.currentTarget.files[0];
                setFiles((m) => {
                  const next = { ...m };
                  if (f) next[d.id] = f;
                  else delete next[d.id];
                  return next;
                });
              }}
            />
          );
        } else if (kind === 'boolean') {
          control = (
            <select {...common} value={form[d.id]} onChange={(e) => set(d.id, e.currentTarget.value)}>
              <option value="">{d.required ? 'choose…' : '(default)'}</option>
              <option value="true">true</option>
              <option value="false">false</option>
            </select>
          );
        } else if (kind === 'select' && !d.allowCustomValue) {
          control = (
            <select {...common} value={form[d.id]} onChange={(e) => set(d.id, e.currentTarget.value)}>
              <option value="">{d.required ? 'choose…' : '(default)'}</option>
              {(d.values || []).map((v) => (
                <option key={v} value={v}>
                  {v}
                </option>
              ))}
            </select>
          );
        } else if (kind === 'multi') {
          control = (
            <fieldset {...common} style="border:0;padding:0;margin:0">
              <legend class="sr-only">{d.id}</legend>
              {(d.values || []).map((v) => (
                <label key={v} style="font-weight:400;margin-right:12px">
                  <input
                    type="checkbox"
                    checked={form[d.id].includes(v)}
                    onChange={(e) => set(d.id, e.currentTarget.checked ? [...form[d.id], v] : form[d.id].filter((x) => x !== v))}
                  />{' '}
                  {v}
                </label>
              ))}
            </fieldset>
          );
        } else if (kind === 'textarea') {
          control = <textarea {...common} value={form[d.id]} placeholder={placeholders[d.type]} onInput={(e) => set(d.id, e.currentTarget.value)} />;
        } else {
          const list = kind === 'select' ? `${id}-values` : undefined;
          control = (
            <>
              <input
                {...common}
                type={kind === 'select' ? 'text' : kind}
                list={list}
                value={form[d.id]}
                min={d.min}
                max={d.max}
                step={d.type === 'FLOAT' ? 'any' : undefined}
                placeholder={placeholders[d.type]}
                autocomplete={kind === 'password' ? 'off' : undefined}
                onInput={(e) => set(d.id, e.currentTarget.value)}
              />
              {list && (
                <datalist id={list}>
                  {(d.values || []).map((v) => (
                    <option key={v} value={v} />
                  ))}
                </datalist>
              )}
            </>
          );
        }
        return (
          <div class="field" key={d.id}>
            <label for={id}>
              {d.id}
              {d.required ? ' *' : ''} <span class="hint">{d.type}</span>
            </label>
            {control}
            <span class="hint" id={`${id}-hint`}>
              {d.description || ''}
              {d.default !== undefined && d.default !== null && d.type !== 'SECRET' ? ` Default: ${typeof d.default === 'string' ? d.default : JSON.stringify(d.default)}.` : ''}
            </span>
            {err && (
              <span class="error" id={`${id}-err`} role="alert">
                {err}
              </span>
            )}
          </div>
        );
      })}
      {general && (
        <div class="banner error" role="alert">
          {general}
        </div>
      )}
      <button type="submit" class="primary" disabled={busy}>
        {busy ? 'Sending…' : submitLabel}
      </button>
    </form>
  );
}
