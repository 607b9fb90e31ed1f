// STAND-IN for kube-apiserver's TokenReview API, for tests and local runs only.
//
// OpenBao/Vault's Kubernetes auth method checks a service-account JWT by calling the cluster's
// `POST /apis/authentication.k8s.io/v1/tokenreviews`. No Kubernetes cluster runs here, so this
// ~100-line server plays that single endpoint (no dependencies):
//
//   node server.mjs --port 8443 --accounts accounts.json --out tokens.json [--tls-key k.pem --tls-cert c.pem]
//
// With --tls-key/--tls-cert it serves HTTPS like the apiserver (configure Vault's
// `kubernetes_ca_cert` with that certificate); without, plain HTTP.
// accounts.json: [{"namespace": "web", "name": "web-gateway"}, ...]. At start it makes an RSA
// key (the "service-account signing key"), signs one legacy (Secret-based) service-account JWT
// per account plus one for the reviewer `kube-system/vault-token-reviewer`, and writes
// {"reviewer": JWT, "tokens": {"<ns>/<name>": JWT}, "uids": {"<ns>/<name>": uid}} to --out.
//
// TokenReview: the caller must present the reviewer JWT as `Authorization: Bearer`, else 401
// (as the apiserver answers an unauthenticated caller). A token signed by this key for a known
// account is `authenticated` with username `system:serviceaccount:<ns>:<name>` and its uid;
// anything else (another key, tampered, unknown) is `authenticated: false`.
// GET /healthz -> 200. GET /stats -> {reviews, authenticated, refused, unauthorized}.
// Logs one line per review with the account name, never a token.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

const port = Number(arg('port', 8443));
const accounts = JSON.parse(fs.readFileSync(arg('accounts'), 'utf8'));
const out = arg('out');

const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

function sign(ns, name, uid) {
  const header = { alg: 'RS256', kid: 'standin-sa-key', typ: 'JWT' };
  const claims = {
    iss: 'kubernetes/serviceaccount',
    sub: `system:serviceaccount:${ns}:${name}`,
    'kubernetes.io/serviceaccount/namespace': ns,
    'kubernetes.io/serviceaccount/secret.name': `${name}-token`,
    'kubernetes.io/serviceaccount/service-account.name': name,
    'kubernetes.io/serviceaccount/service-account.uid': uid,
  };
  const input = `${b64url(header)}.${b64url(claims)}`;
  const sig = crypto.sign('sha256', Buffer.from(input), privateKey).toString('base64url');
  return `${input}.${sig}`;
}

/** The account a token signed by our key names, or null. */
function verify(token) {
  const parts = String(token ?? '').split('.');
  if (parts.length !== 3) return null;
  const ok = crypto.verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), publicKey, Buffer.from(parts[2], 'base64url'));
  if (!ok) return null;
  try {
    const c = JSON.parse(Buffer.from(parts[1], 'base64url').toString());
    const key = `${c['kubernetes.io/serviceaccount/namespace']}/${c['kubernetes.io/serviceaccount/service-account.name']}`;
    return known.get(key) ?? null;
  } catch {
    return null;
  }
}

const known = new Map();
const tokens = {};
const uids = {};
for (const a of [...accounts, { namespace: 'kube-system', name: 'vault-token-reviewer' }]) {
  const key = `${a.namespace}/${a.name}`;
  const uid = crypto.randomUUID();
  known.set(key, { ...a, uid });
  tokens[key] = sign(a.namespace, a.name, uid);
  uids[key] = uid;
}
const reviewer = tokens['kube-system/vault-token-reviewer'];
delete tokens['kube-system/vault-token-reviewer'];
const stats = { reviews: 0, authenticated: 0, refused: 0, unauthorized: 0 };

function send(res, status, payload) {
  const body = JSON.stringify(payload);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const tlsKey = arg('tls-key');
const tlsCert = arg('tls-cert');
const handler = (req, res) => {
  let raw = '';
  req.on('data', (c) => { raw += c; if (raw.length > 65536) req.destroy(); });
  req.on('end', () => {
    if (req.method === 'GET' && req.url === '/healthz') return send(res, 200, { ok: true });
    if (req.method === 'GET' && req.url === '/stats') return send(res, 200, stats);
    if (req.method !== 'POST' || req.url !== '/apis/authentication.k8s.io/v1/tokenreviews') {
      return send(res, 404, { kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404 });
    }
    if (req.headers.authorization !== `Bearer ${reviewer}`) {
      stats.unauthorized += 1;
      console.log('tokenreview: caller is not the reviewer: 401');
      return send(res, 401, { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
    }
    let review;
    try { review = JSON.parse(raw); } catch { return send(res, 400, { kind: 'Status', status: 'Failure', reason: 'BadRequest', code: 400 }); }
    stats.reviews += 1;
    const account = verify(review?.spec?.token);
    const status = account
      ? {
          authenticated: true,
          user: {
            username: `system:serviceaccount:${account.namespace}:${account.name}`,
            uid: account.uid,
            groups: ['system:serviceaccounts', `system:serviceaccounts:${account.namespace}`, 'system:authenticated'],
          },
          audiences: review?.spec?.audiences ?? [],
        }
      : { authenticated: false, error: 'invalid bearer token, token lookup failed' };
    if (account) stats.authenticated += 1; else stats.refused += 1;
    console.log(`tokenreview: ${account ? `authenticated ${account.namespace}/${account.name}` : 'refused an unknown token'}`);
    send(res, 201, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', metadata: { creationTimestamp: null }, spec: review.spec, status });
  });
};
const server = tlsKey
  ? https.createServer({ key: fs.readFileSync(tlsKey), cert: fs.readFileSync(tlsCert) }, handler)
  : http.createServer(handler);

fs.writeFileSync(out, JSON.stringify({ reviewer, tokens, uids }));
server.listen(port, '127.0.0.1', () => console.log(`kube TokenReview stand-in on ${tlsKey ? 'https' : 'http'}://127.0.0.1:${port}`));
