// Calls to Relay's HTTP API, from the same origin as the page (so the
// browser sends Sec-Fetch-Site: same-origin, which the API's cross-origin
// protection lets through), and live updates: Server-Sent Events, or
// polling with ETags where the API cannot stream.
import { config, prefix } from './config.js';

const TOKEN = 'relay-token';
export const token = {
  get: () => sessionStorage.getItem(TOKEN) || '',
  set: (t) => (t ? sessionStorage.setItem(TOKEN, t) : sessionStorage.removeItem(TOKEN)),
};

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error : `HTTP ${status}`);
    this.status = status;
    this.diagnostics = (body && body.diagnostics) || [];
    this.inputs = (body && body.inputs) || [];
  }
}

function headers(extra) {
  const h = { Accept: 'application/json', ...extra };
  const t = token.get();
  if (config.auth === 'token' && t) h.Authorization = 'Bearer ' + t;
  return h;
}

async function fail(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = { error: `${res.status} ${res.statusText}` };
  }
  if (res.status === 401 || res.status === 403) {
    window.dispatchEvent(new CustomEvent('relay-auth', { detail: body && body.error }));
  }
  throw new ApiError(res.status, body);
}

// get returns the JSON of a GET; with etag, it returns null when the
// resource has not changed (304), and sets etag.value to the new tag.
export async function get(path, { etag, signal } = {}) {
  const h = headers();
  if (etag && etag.value) h['If-None-Match'] = etag.value;
  const res = await fetch(prefix + path, { headers: h, signal, cache: 'no-store' });
  if (res.status === 304) return null;
  if (!res.ok) await fail(res);
  if (etag) etag.value = res.headers.get('ETag') || '';
  return res.json();
}

// post sends body as JSON, as text of contentType, or as a multipart
// form (a FormData, whose boundary the browser writes).
export async function post(path, body, contentType = 'application/json') {
  const form = typeof FormData !== 'undefined' && body instanceof FormData;
  const opts = { method: 'POST', headers: headers(contentType && !form ? { 'Content-Type': contentType } : {}) };
  if (body !== undefined) opts.body = contentType === 'application/json' && !form ? JSON.stringify(body) : body;
  const res = await fetch(prefix + path, opts);
  if (!res.ok) await fail(res);
  return res.status === 204 ? null : res.json();
}

export const enc = encodeURIComponent;

// formData turns inputs and files into a multipart form: FILE inputs as
// file fields, lists and objects as JSON text, the rest as text, which the
// API converts to the declared types.
export function formData(inputs, files) {
  const fd = new FormData();
  for (const [k, v] of Object.entries(inputs)) fd.append(k, v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v));
  for (const [k, f] of Object.entries(files)) fd.append(k, f, f.name);
  return fd;
}

// A poller calls fn every `every` ms until stopped; fn returns false to
// stop. Errors go to onError and polling goes on.
function poller(every, fn, onError) {
  let stopped = false;
  let timer = 0;
  const ctl = new AbortController();
  const tick = async () => {
    if (stopped) return;
    let more = true;
    try {
      more = (await fn(ctl.signal)) !== false;
    } catch (e) {
      if (!stopped && e.name !== 'AbortError') onError && onError(e);
    }
    if (!stopped && more) timer = setTimeout(tick, every);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
    ctl.abort();
  };
}

// stream opens an EventSource with listeners; when the API cannot stream
// (it answers 501, which EventSource sees as an error before it opens),
// fallback() is called instead.
function stream(path, listeners, fallback) {
  if (config.live !== 'sse' || typeof EventSource === 'undefined') return fallback();
  let opened = false;
  let stop = null;
  const es = new EventSource(prefix + path);
  es.onopen = () => (opened = true);
  es.onerror = () => {
    if (!opened && es.readyState === EventSource.CLOSED) {
      stop = fallback();
    }
  };
  for (const [name, fn] of Object.entries(listeners)) {
    es.addEventListener(name, (ev) => fn(JSON.parse(ev.data), es));
  }
  return () => {
    es.close();
    if (stop) stop();
  };
}

// watchExecution follows an execution: onExecution(head) with its counts
// whenever it changes, onLogs(lines) with new log lines (those after seq
// `after`), onEnd() once it ended and every line came.
export function watchExecution(id, { after = 0, onExecution, onLogs, onEnd, onError }) {
  const path = `/executions/${enc(id)}`;
  return stream(`${path}/stream${after ? `?after=${after}` : ''}`, {
    execution: onExecution,
    logs: onLogs,
    end: (_, es) => {
      es.close();
      onEnd && onEnd();
    },
    failure: (b) => onError && onError(new Error(b.error)),
  }, () => {
    const etag = { value: '' };
    let ended = false;
    return poller(1500, async (signal) => {
      const doc = await get(`${path}?limit=1`, { etag, signal });
      if (doc) {
        ended = !!doc.endDate;
        doc.taskRuns = [];
        delete doc.nextCursor;
        onExecution(doc);
      }
      let lines;
      do {
        lines = await get(`${path}/logs?after=${after}&limit=1000`, { signal });
        if (lines.length) {
          after = lines[lines.length - 1].seq;
          onLogs(lines);
        }
      } while (lines.length === 1000);
      if (ended && !lines.length) {
        onEnd && onEnd();
        return false;
      }
      return true;
    }, onError);
  });
}

// The API creates an execution a moment after it answers a start or a
// replay (the request goes through the bus): the page of an execution
// this page just asked for waits for it rather than say it does not
// exist.
const expected = new Set();
export function expectExecution(id) {
  expected.add(id);
}

// getExecutionHead reads an execution's head; one that expectExecution
// announced is waited for, up to 15 s.
export async function getExecutionHead(id, alive = () => true) {
  const until = Date.now() + 15000;
  for (;;) {
    try {
      const doc = await get(`/executions/${enc(id)}?limit=1`);
      expected.delete(id);
      return doc;
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 404 || !expected.has(id) || Date.now() > until || !alive()) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

// watchExecutions follows the list of executions of a query.
export function watchExecutions(query, onList, onError) {
  return stream(`/executions/stream?${query}`, { executions: onList, failure: (b) => onError && onError(new Error(b.error)) }, () => {
    const etag = { value: '' };
    return poller(2000, async (signal) => {
      const list = await get(`/executions?${query}`, { etag, signal });
      if (list) onList(list);
    }, onError);
  });
}

// decodeSource turns a flow record's source (JSON bytes: base64) into text.
export function decodeSource(b64) {
  return new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
}
