// What the server told the page (meta tags it writes into index.html):
// how updates arrive, how to authenticate to the API, and where others
// call it.
function meta(name, fallback) {
  const el = document.querySelector(`meta[name="${name}"]`);
  return el ? el.getAttribute('content') : fallback;
}

export const config = {
  // "sse": Server-Sent Events from the API; "poll": GET with If-None-Match.
  live: meta('relay-live', 'sse'),
  // "token": the API wants a bearer token (a JWT authorizer), which the
  // page asks for and keeps for the browser tab only.
  // "iam": the API takes SigV4 only, which a browser cannot sign: the
  // pages say to use `relay ui`.
  auth: meta('relay-auth', 'none'),
  // The deployed API's URL when `relay ui` serves the pages (webhook URLs).
  publicURL: meta('relay-public-url', ''),
};

// The API and the pages may sit under a prefix (an API Gateway stage).
const p = location.pathname;
const i = p.indexOf('/ui/');
export const prefix = i > 0 ? p.slice(0, i) : '';
export const uiRoot = prefix + '/ui';
