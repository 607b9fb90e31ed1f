// Upstream echo server (no dependencies): answers every request with what it received, as JSON.
//
//   node echo.mjs --port 8081 --id a [--quiet]
//
// Response: {id, method, path, headers, body_length} and header `x-upstream-id: <id>`.
// GET /healthz -> 200 {ok:true, id} (for Envoy health checks and readiness polls).
//
// Quiet mode (`--quiet`, or any path with a `quiet` segment, e.g. `/v1/quiet/status`): the body
// carries no header VALUES, only `received: {<name>: {sha256, length}}`, so a caller can check
// which credential arrived without the answer leaking it. This is how a backend behind the
// credential-injector must behave: the proxy strips response HEADERS that echo the credential,
// it does not scan bodies.
//
// Header reflection (to test that stripping): a request header `x-echo-header: <name>` makes the
// response carry `x-echoed: <value of request header <name>>`.
import * as crypto from 'node:crypto';
import * as http from 'node:http';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

const port = Number(arg('port', process.env.PORT ?? 8081));
const id = arg('id', process.env.UPSTREAM_ID ?? `upstream-${port}`);
const host = arg('host', '127.0.0.1');
const quietAlways = process.argv.includes('--quiet');

function isQuiet(url) {
  const path = (url ?? '').split('?')[0];
  return quietAlways || path.split('/').includes('quiet');
}

function digests(headers) {
  const out = {};
  for (const [name, value] of Object.entries(headers)) {
    const text = Array.isArray(value) ? value.join(', ') : String(value);
    out[name] = { sha256: crypto.createHash('sha256').update(text).digest('hex'), length: Buffer.byteLength(text) };
  }
  return out;
}

const server = http.createServer((req, res) => {
  let bodyLength = 0;
  req.on('data', (c) => { bodyLength += c.length; });
  req.on('end', () => {
    let payload;
    if (req.url === '/healthz') payload = { ok: true, id };
    else if (isQuiet(req.url)) payload = { id, method: req.method, path: req.url, received: digests(req.headers), body_length: bodyLength };
    else payload = { id, method: req.method, path: req.url, headers: req.headers, body_length: bodyLength };
    const body = JSON.stringify(payload);
    const headers = {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'x-upstream-id': id,
    };
    const reflect = req.headers['x-echo-header'];
    if (typeof reflect === 'string' && req.headers[reflect.toLowerCase()] !== undefined) {
      headers['x-echoed'] = String(req.headers[reflect.toLowerCase()]);
    }
    res.writeHead(200, headers);
    res.end(body);
  });
});

server.listen(port, host, () => console.log(`echo ${id} listening on ${host}:${port}${quietAlways ? ' (quiet)' : ''}`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
