// Upstream echo server (no dependencies): answers every request with what it received, as JSON.
//
//   node echo.mjs --port 8081 --id a
//
// Response: {id, method, path, headers, body_length} and header `x-upstream-id: <id>`.
// GET /healthz -> 200 {ok:true, id} (for Envoy health checks and readiness polls).
import * as http from 'node:http';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

const port = Number(arg('port', process.env.PORT ?? 8081));
const id = arg('id', process.env.UPSTREAM_ID ?? `upstream-${port}`);
const host = arg('host', '127.0.0.1');

const server = http.createServer((req, res) => {
  let bodyLength = 0;
  req.on('data', (c) => { bodyLength += c.length; });
  req.on('end', () => {
    const payload = req.url === '/healthz'
      ? { ok: true, id }
      : { id, method: req.method, path: req.url, headers: req.headers, body_length: bodyLength };
    const body = JSON.stringify(payload);
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'x-upstream-id': id,
    });
    res.end(body);
  });
});

server.listen(port, host, () => console.log(`echo ${id} listening on ${host}:${port}`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
