// Example SPA: authorization code + PKCE against the local IdP, then cross-origin API calls
// through Envoy with the user's access token. The backend credential is added by the proxy and
// never reaches this page. The access token lives in a variable only: a reload signs you out.
'use strict';

const cfg = window.SPA_CONFIG;
const redirectUri = `${window.location.origin}/callback`;
let accessToken = null;

const $ = (id) => document.getElementById(id);

function b64url(bytes) {
  let s = '';
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomString() {
  return b64url(crypto.getRandomValues(new Uint8Array(32)));
}

async function login() {
  const verifier = randomString();
  const state = randomString();
  // Only the one-time PKCE verifier and state survive the redirect (they are not credentials
  // on their own: the code is bound to this redirect URI and expires within minutes).
  sessionStorage.setItem('pkce', JSON.stringify({ verifier, state }));
  const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  const q = new URLSearchParams({
    client_id: cfg.clientId,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: 'openid api:read',
    resource: cfg.resource,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
  });
  window.location.assign(`${cfg.idp}/auth?${q}`);
}

async function finishLogin() {
  const params = new URLSearchParams(window.location.search);
  const saved = JSON.parse(sessionStorage.getItem('pkce') ?? 'null');
  sessionStorage.removeItem('pkce');
  history.replaceState(null, '', '/');
  if (params.get('error')) throw new Error(`login failed: ${params.get('error')}`);
  if (!saved || params.get('state') !== saved.state) throw new Error('login failed: state mismatch');
  const r = await fetch(`${cfg.idp}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: params.get('code') ?? '',
      redirect_uri: redirectUri,
      client_id: cfg.clientId,
      code_verifier: saved.verifier,
      resource: cfg.resource,
    }),
  });
  const body = await r.json();
  if (!r.ok) throw new Error(`token exchange failed: ${body.error ?? r.status}`);
  accessToken = body.access_token;
  const claims = JSON.parse(atob(accessToken.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
  $('who').textContent = `Signed in as ${claims.sub} (scope: ${claims.scope}).`;
  for (const id of ['call-allowed', 'call-denied', 'call-claim']) $(id).disabled = false;
  document.body.dataset.state = 'signed-in';
}

async function callApi(method, path) {
  $('status').textContent = 'calling...';
  $('answer').textContent = '';
  try {
    const init = { method, headers: { authorization: `Bearer ${accessToken}` } };
    if (method === 'POST') {
      init.headers['content-type'] = 'application/json';
      init.body = '{}';
    }
    const r = await fetch(`${cfg.api}${path}`, init);
    const text = await r.text();
    let shown = text;
    try {
      const json = JSON.parse(text);
      if (r.ok) {
        // The example backend answers with hashes of what it received, never the values.
        const key = json.received?.['x-api-key'];
        shown = `backend ${json.id} got ${json.method} ${json.path}\n`
          + `x-api-key: ${key ? `present (${key.length} bytes, sha256 ${key.sha256.slice(0, 12)}...)` : 'MISSING'}\n`
          + `authorization forwarded: ${json.received?.authorization ? 'YES (bad)' : 'no'}`;
      } else {
        shown = `${json.error}: ${json.message}`;
      }
    } catch { /* not JSON: show as is */ }
    $('status').textContent = String(r.status);
    $('status').className = r.ok ? '' : 'denied';
    $('answer').textContent = shown;
  } catch (e) {
    // A CORS failure lands here: the browser hides the answer from the page.
    $('status').textContent = 'network/CORS error';
    $('answer').textContent = String(e);
  }
  document.body.dataset.calls = String(Number(document.body.dataset.calls ?? 0) + 1);
}

$('login').addEventListener('click', () => { login().catch((e) => { $('who').textContent = String(e); }); });
$('call-allowed').addEventListener('click', () => callApi('GET', '/api/payments/status'));
$('call-denied').addEventListener('click', () => callApi('DELETE', '/api/payments/1'));
$('call-claim').addEventListener('click', () => callApi('POST', '/api/payments/charges'));

if (window.location.pathname === '/callback') {
  finishLogin().catch((e) => { $('who').textContent = String(e); document.body.dataset.state = 'login-failed'; });
} else {
  document.body.dataset.state = 'signed-out';
}
