// Static server for the example single-page app (no dependencies), 127.0.0.1 only.
//
//   node serve.mjs [--port 5173] [--idp http://127.0.0.1:9000] [--api http://127.0.0.1:10002]
//                  [--client-id spa-client] [--resource https://api.mesh.local]
//
// Serves index.html (also for /callback, the OAuth redirect URI), app.js, and /config.js with the
// URLs above. The app and the API are different origins on purpose: every API call is a CORS call.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

const dir = path.dirname(fileURLToPath(import.meta.url));
const port = Number(arg('port', process.env.SPA_PORT ?? 5173));
const config = {
  idp: arg('idp', process.env.SPA_IDP ?? 'http://127.0.0.1:9000'),
  api: arg('api', process.env.SPA_API ?? 'http://127.0.0.1:10002'),
  clientId: arg('client-id', process.env.SPA_CLIENT_ID ?? 'spa-client'),
  resource: arg('resource', process.env.SPA_RESOURCE ?? 'https://api.mesh.local'),
};
const files = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/callback': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
};
// The page loads only its own scripts and talks only to the IdP and the API.
const csp = `default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; `
  + `connect-src ${config.idp} ${config.api}; form-action ${config.idp}; base-uri 'none'; frame-ancestors 'none'`;

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  let body;
  let type;
  if (url.pathname === '/config.js') {
    body = `window.SPA_CONFIG = ${JSON.stringify(config)};\n`;
    type = 'text/javascript; charset=utf-8';
  } else if (files[url.pathname]) {
    const [file, t] = files[url.pathname];
    body = fs.readFileSync(path.join(dir, file));
    type = t;
  } else if (url.pathname === '/healthz') {
    body = '{"ok":true}';
    type = 'application/json';
  } else {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found');
    return;
  }
  res.writeHead(200, {
    'content-type': type,
    'cache-control': 'no-store',
    'content-security-policy': csp,
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
  });
  res.end(body);
});

server.listen(port, '127.0.0.1', () => console.log(`spa listening on http://127.0.0.1:${port} idp=${config.idp} api=${config.api}`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
