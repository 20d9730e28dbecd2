// What the server told the page (meta tags it writes into index.html):
// how updates arrive, whether the API needs a token, and which optional
// features the API has.
function meta(name, fallback) {
  const el = document.querySelector(`meta[name="${name}"]`);
  return el ? el.getAttribute('content') : fallback;
}

export const config = {
  // "sse": Server-Sent Events from the API; "poll": GET with If-None-Match.
  live: meta('relay-live', 'sse'),
  // "token": the API wants a bearer token (a JWT authorizer), which the
  // page asks for and keeps for the browser tab only.
  auth: meta('relay-auth', 'none'),
  features: new Set((meta('relay-features', '') || '').split(',').filter(Boolean)),
};

// The API and the pages may sit under a prefix (an API Gateway stage).
const p = location.pathname;
const i = p.indexOf('/ui/');
export const prefix = i > 0 ? p.slice(0, i) : '';
export const uiRoot = prefix + '/ui';
