// Local OIDC provider for the dev stack and the end-to-end tests (panva/oidc-provider 9.x).
//
//   node server.mjs [--port 9000] [--issuer http://127.0.0.1:9000]
//
// Environment (all optional):
//   IDP_PORT, IDP_ISSUER                 listen port (127.0.0.1 only) and issuer (default http://127.0.0.1:<port>)
//   IDP_AUDIENCE                         default resource/audience of access tokens (default https://api.mesh.local)
//   IDP_ACCESS_TOKEN_TTL                 seconds (default 300)
//   IDP_CLIENT_ID / IDP_CLIENT_SECRET    client_credentials client (default backend-client / backend-secret)
//   IDP_SPA_CLIENT_ID                    public SPA client, code + PKCE (default spa-client)
//   IDP_SPA_REDIRECT_URIS                comma-separated (default loopback :10000 and :5173 /callback)
//   IDP_KEYS_FILE                        persist the generated signing keys there (keys survive restarts);
//                                        unset: fresh keys at every start, i.e. a restart is a key rotation
//   IDP_TEST_ENDPOINTS=0                 disable the TEST-ONLY /test/* endpoints (enabled by default)
//
// TEST-ONLY endpoints (loopback callers only, never expose this IdP):
//   POST /test/token  {alg?, sub?, aud?, scope?, claims?, header?, ttl?, client_id?}  -> {access_token, kid, alg, exp}
//        Mints a signed JWT access token through oidc-provider itself. `ttl` may be 0 or negative: the token
//        is then already expired (exp = now + ttl). `claims` are merged last, so they can override
//        iss/iat/nbf/exp/aud (to build wrong tokens); `header` overrides JOSE header fields (e.g. a bad kid).
//   POST /test/fault  {jwks?, discovery?, delay_ms?, size_bytes?}  -> current fault state
//        jwks:      "ok" | "500" | "garbage" (not JSON) | "empty" ({"keys": []}) | "slow" (delay_ms, then the keys)
//                   | "wrong_shape" ({"keys": {...}}) | "bad_keys" (only keys with bad parameters)
//                   | "oversized" (the real keys padded to size_bytes: valid JSON, only too big)
//        discovery: "ok" | "500" | "slow" | "wrong_issuer" (a document naming another issuer, its jwks_uri
//                   this IdP's own /jwks: refused all the same) | "garbage"
//   GET  /test/stats  -> {jwks_requests, discovery_requests, token_requests}
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import Provider from 'oidc-provider';

function arg(name) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const port = Number(arg('port') ?? process.env.IDP_PORT ?? 9000);
const issuer = arg('issuer') ?? process.env.IDP_ISSUER ?? `http://127.0.0.1:${port}`;
const defaultAudience = process.env.IDP_AUDIENCE ?? 'https://api.mesh.local';
const accessTokenTTL = Number(process.env.IDP_ACCESS_TOKEN_TTL ?? 300);
const clientId = process.env.IDP_CLIENT_ID ?? 'backend-client';
const clientSecret = process.env.IDP_CLIENT_SECRET ?? 'backend-secret';
const spaClientId = process.env.IDP_SPA_CLIENT_ID ?? 'spa-client';
const spaRedirectUris = (process.env.IDP_SPA_REDIRECT_URIS
  ?? 'http://127.0.0.1:10000/callback,http://localhost:10000/callback,http://127.0.0.1:5173/callback,http://localhost:5173/callback')
  .split(',').map((s) => s.trim()).filter(Boolean);
const testEndpoints = process.env.IDP_TEST_ENDPOINTS !== '0';
const SCOPES = 'openid profile email offline_access api:read api:write admin';
const ALGS = ['RS256', 'ES256', 'ES384', 'ES512', 'EdDSA'];

// ---- signing keys: RS256, ES256, ES384, ES512, EdDSA (ES256 is the first EC key) ----
function generateKeys() {
  const specs = [
    ['RS256', 'rsa', { modulusLength: 2048 }],
    ['ES256', 'ec', { namedCurve: 'P-256' }],
    ['ES384', 'ec', { namedCurve: 'P-384' }],
    ['ES512', 'ec', { namedCurve: 'P-521' }],
    ['EdDSA', 'ed25519', {}],
  ];
  return specs.map(([alg, type, opts]) => {
    const { privateKey } = crypto.generateKeyPairSync(type, opts);
    const jwk = privateKey.export({ format: 'jwk' });
    return { ...jwk, alg, use: 'sig', kid: `${alg.toLowerCase()}-${crypto.randomBytes(6).toString('hex')}` };
  });
}

function loadKeys() {
  const file = process.env.IDP_KEYS_FILE;
  if (file && fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8')).keys;
  const keys = generateKeys();
  if (file) fs.writeFileSync(file, JSON.stringify({ keys }), { mode: 0o600 });
  return keys;
}

const keys = loadKeys();
// A start-up stall then shows in the log as before or after the keys.
console.log(`idp keys ready ${Math.round(process.uptime() * 1000)} ms after start`);

// Per-token overrides for test tokens, applied by the JWT customizer (claims and header).
const overrides = new WeakMap();

const provider = new Provider(issuer, {
  jwks: { keys },
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: SCOPES,
    },
    {
      client_id: spaClientId,
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: spaRedirectUris,
      scope: SCOPES,
    },
  ],
  scopes: SCOPES.split(' '),
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  async findAccount(_ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return { sub, email: `${sub}@example.test`, email_verified: true, name: sub };
      },
    };
  },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  ttl: { AccessToken: accessTokenTTL, ClientCredentials: accessTokenTTL },
  // Browser SPAs on loopback may call the token endpoint.
  clientBasedCORS(_ctx, origin) {
    try {
      const { hostname } = new URL(origin);
      return hostname === '127.0.0.1' || hostname === 'localhost' || hostname === '[::1]';
    } catch {
      return false;
    }
  },
  features: {
    // devInteractions (on by default): a login form that accepts any user name, no password. Dev only.
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    // Access tokens are JWTs only for a resource server: every token gets `defaultAudience` unless asked.
    resourceIndicators: {
      enabled: true,
      defaultResource: async (_ctx, _client, oneOf) => oneOf?.[0] ?? defaultAudience,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, resourceIndicator) => ({
        scope: SCOPES,
        audience: resourceIndicator,
        accessTokenFormat: 'jwt',
        accessTokenTTL,
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  formats: {
    customizers: {
      async jwt(_ctx, token, jwt) {
        const o = overrides.get(token);
        if (!o) return;
        Object.assign(jwt.payload, o.claims);
        for (const [k, v] of Object.entries(jwt.payload)) if (v === null) delete jwt.payload[k];
        if (o.header) jwt.header = { ...jwt.header, ...o.header };
      },
    },
  },
});
provider.proxy = false;

// ---- TEST-ONLY endpoints and fault injection, in front of the provider's routes ----
const fault = { jwks: 'ok', discovery: 'ok', delay_ms: 5000, size_bytes: 128 * 1024 };
const JWKS_FAULTS = ['ok', '500', 'garbage', 'empty', 'slow', 'wrong_shape', 'bad_keys', 'oversized'];
const DISCOVERY_FAULTS = ['ok', '500', 'slow', 'wrong_issuer', 'garbage'];
// Keys whose parameters are wrong: too-short RSA modulus, EC point off the curve, short Ed25519 key,
// a symmetric key, an unknown key type. A verifier must refuse every one of them.
const BAD_KEYS = {
  keys: [
    { kty: 'RSA', kid: 'bad-rsa', alg: 'RS256', n: 'AQAB', e: 'AQAB' },
    { kty: 'EC', kid: 'bad-ec', alg: 'ES256', crv: 'P-256', x: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', y: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
    { kty: 'OKP', kid: 'bad-ed', alg: 'EdDSA', crv: 'Ed25519', x: 'AAAA' },
    { kty: 'oct', kid: 'bad-oct', alg: 'HS256', k: 'c2VjcmV0' },
    { kty: 'XYZ', kid: 'bad-kty' },
  ],
};
const publicJwks = () => ({
  keys: keys.map(({ kty, crv, x, y, n, e, alg, use, kid }) => ({ kty, crv, x, y, n, e, alg, use, kid })),
});
const stats = { jwks_requests: 0, discovery_requests: 0, token_requests: 0 };

function isLoopback(ctx) {
  const a = ctx.req.socket.remoteAddress ?? '';
  return a === '127.0.0.1' || a === '::1' || a === '::ffff:127.0.0.1';
}

async function readJson(ctx) {
  const chunks = [];
  for await (const c of ctx.req) chunks.push(c);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

async function mintTestToken(body) {
  const alg = body.alg ?? 'RS256';
  if (!ALGS.includes(alg)) throw new Error(`alg must be one of ${ALGS.join(', ')}`);
  const client = await provider.Client.find(body.client_id ?? clientId);
  if (!client) throw new Error(`unknown client_id ${body.client_id}`);
  const ttl = Number(body.ttl ?? accessTokenTTL);
  const now = Math.floor(Date.now() / 1000);
  const at = new provider.AccessToken({
    accountId: body.sub ?? 'alice',
    client,
    scope: body.scope ?? 'openid api:read',
    // oidc-provider wants a positive lifetime; an expired token gets its exp rewritten below.
    expiresIn: ttl > 0 ? ttl : 60,
    resourceServer: {
      // oidc-provider takes one audience here; a list is written into the claims below.
      audience: (Array.isArray(body.aud) ? body.aud[0] : body.aud) ?? defaultAudience,
      accessTokenFormat: 'jwt',
      accessTokenTTL: ttl > 0 ? ttl : 60,
      jwt: { sign: { alg } },
    },
  });
  const claims = {
    ...(ttl > 0 ? {} : { iat: now + ttl - 60, exp: now + ttl }),
    ...(Array.isArray(body.aud) ? { aud: body.aud } : {}),
    ...(body.claims ?? {}),
  };
  overrides.set(at, { claims, header: body.header });
  const token = await at.save();
  const [h, p] = token.split('.').slice(0, 2).map((s) => JSON.parse(Buffer.from(s, 'base64url').toString()));
  return { access_token: token, token_type: 'Bearer', kid: h.kid, alg: h.alg, exp: p.exp };
}

provider.use(async (ctx, next) => {
  if (ctx.path === '/jwks') {
    stats.jwks_requests += 1;
    if (fault.jwks === '500') { ctx.status = 500; ctx.body = 'injected fault'; return; }
    if (fault.jwks === 'garbage') { ctx.status = 200; ctx.type = 'application/json'; ctx.body = '{"keys": [ not json'; return; }
    if (fault.jwks === 'empty') { ctx.status = 200; ctx.body = { keys: [] }; return; }
    if (fault.jwks === 'wrong_shape') { ctx.status = 200; ctx.body = { keys: publicJwks().keys[0] }; return; }
    if (fault.jwks === 'bad_keys') { ctx.status = 200; ctx.body = BAD_KEYS; return; }
    if (fault.jwks === 'oversized') {
      const doc = JSON.stringify(publicJwks());
      const pad = Math.max(0, fault.size_bytes - doc.length - 12);
      ctx.status = 200; ctx.type = 'application/json';
      ctx.body = `${doc.slice(0, -1)},"pad":"${'x'.repeat(pad)}"}`;
      return;
    }
    if (fault.jwks === 'slow') await new Promise((r) => { setTimeout(r, fault.delay_ms); });
  }
  if (ctx.path === '/.well-known/openid-configuration') {
    stats.discovery_requests += 1;
    if (fault.discovery === '500') { ctx.status = 500; ctx.body = 'injected fault'; return; }
    if (fault.discovery === 'garbage') { ctx.status = 200; ctx.type = 'application/json'; ctx.body = '<html>'; return; }
    if (fault.discovery === 'wrong_issuer') {
      ctx.status = 200;
      ctx.body = { issuer: 'https://evil.example', jwks_uri: `${issuer}/jwks` };
      return;
    }
    if (fault.discovery === 'slow') await new Promise((r) => { setTimeout(r, fault.delay_ms); });
  }
  if (ctx.path === '/token') stats.token_requests += 1;
  if (ctx.path === '/healthz') { ctx.body = { ok: true }; return; }

  if (!ctx.path.startsWith('/test/')) return next();
  if (!testEndpoints || !isLoopback(ctx)) { ctx.status = 404; ctx.body = { error: 'not_found' }; return; }
  try {
    if (ctx.method === 'POST' && ctx.path === '/test/token') {
      ctx.body = await mintTestToken(await readJson(ctx));
    } else if (ctx.method === 'POST' && ctx.path === '/test/fault') {
      const body = await readJson(ctx);
      if (body.jwks !== undefined) {
        if (!JWKS_FAULTS.includes(body.jwks)) throw new Error(`jwks fault must be one of ${JWKS_FAULTS.join('|')}`);
        fault.jwks = body.jwks;
      }
      if (body.discovery !== undefined) {
        if (!DISCOVERY_FAULTS.includes(body.discovery)) throw new Error(`discovery fault must be one of ${DISCOVERY_FAULTS.join('|')}`);
        fault.discovery = body.discovery;
      }
      if (body.delay_ms !== undefined) fault.delay_ms = Number(body.delay_ms);
      if (body.size_bytes !== undefined) fault.size_bytes = Number(body.size_bytes);
      ctx.body = fault;
    } else if (ctx.method === 'GET' && ctx.path === '/test/stats') {
      ctx.body = stats;
    } else {
      ctx.status = 404; ctx.body = { error: 'not_found' };
    }
  } catch (e) {
    ctx.status = 400; ctx.body = { error: 'invalid_request', error_description: String(e.message ?? e) };
  }
  return undefined;
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`idp listening issuer=${issuer} jwks=${issuer}/jwks test_endpoints=${testEndpoints} kids=${keys.map((k) => k.kid).join(',')}`);
});

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
