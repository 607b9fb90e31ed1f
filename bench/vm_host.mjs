// A minimal proxy-wasm host (ABI 0.2.1) in Node, to time whole plugin modules per request in V8,
// the engine Envoy embeds, with hostcalls that cost next to nothing. What it measures is the wasm
// side of a request: the SDK's dispatch, the plugin's adapter and policy, its allocations, the VM
// entries, but not Envoy's native half of each hostcall. `make bench` measures the whole of it,
// with far more noise; this is the tool to tell where the wasm side of a gap is.
//
// Usage: node bench/vm_host.mjs <dist dir> [<baseline dir>]   (make bench-vm; the baseline's plugins
// get `@baseline` rows, measured in the same interleaved batches)
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import { createSign, generateKeyPairSync } from 'node:crypto';

const OK = 0, NOT_FOUND = 1;
const MAP = { requestHeaders: 0, responseHeaders: 2 };
const BUFFER = { vmConfiguration: 6, pluginConfiguration: 7 };
const enc = new TextEncoder(), dec = new TextDecoder();

/** One plugin in one VM: a root context, then one HTTP context per request. */
class Plugin {
  constructor(name, wasm, { config, env = {} }) {
    this.name = name;
    this.wasm = wasm;
    this.config = enc.encode(typeof config === 'string' ? config : JSON.stringify(config));
    this.env = env;
    this.maps = new Map();
    this.properties = new Map();
    this.nowNs = BigInt(Date.now()) * 1000000n;
    this.published = 0;
    this.replaced = 0;
    this.added = [];
    this.localReplies = 0;
    this.nextContext = 2;
  }

  async start() {
    const module = await WebAssembly.compile(this.wasm);
    const wasi = new WASI({ version: 'preview1', env: this.env });
    const imports = { wasi_snapshot_preview1: wasi.wasiImport, env: {} };
    const own = this.hostcalls();
    for (const imp of WebAssembly.Module.imports(module)) {
      if (imp.module === 'env' && imp.kind === 'function') {
        const f = own[imp.name] ?? (() => OK);
        imports.env[imp.name] = (...args) => {
          if (this.counts) this.count(imp.name);
          return f(...args);
        };
      }
    }
    this.instance = await WebAssembly.instantiate(module, imports);
    this.x = this.instance.exports;
    wasi.initialize(this.instance);
    this.x.proxy_on_context_create(1, 0);
    if (!this.x.proxy_on_vm_start(1, 0) || !this.x.proxy_on_configure(1, this.config.length)) {
      throw new Error(`${this.name}: configuration refused`);
    }
    this.has = (name) => typeof this.x[name] === 'function';
  }

  /** A view of VM memory (a new one only after the memory grew). */
  mem() {
    if (this.view?.buffer !== this.x.memory.buffer) this.view = new DataView(this.x.memory.buffer);
    return this.view;
  }

  /** Short ASCII strings from VM memory, without TextDecoder's per-call cost. */
  str(ptr, len) { return String.fromCharCode.apply(null, new Uint8Array(this.x.memory.buffer, ptr, len)); }

  /** Copies `bytes` into VM memory the way Envoy does (the VM allocates) and returns it through the two out pointers. */
  give(bytes, retData, retSize) {
    if (this.counts && bytes.length) this.count('(VM entry) proxy_on_memory_allocate');
    const ptr = bytes.length ? this.x.proxy_on_memory_allocate(bytes.length) : 0;
    new Uint8Array(this.x.memory.buffer, ptr, bytes.length).set(bytes);
    const m = this.mem();
    m.setUint32(retData, ptr, true);
    m.setUint32(retSize, bytes.length, true);
    return OK;
  }

  // The host side is kept nearly free, so that the time measured is the VM's: maps are serialized
  // once per scenario, and writes to them are not applied (no plugin here reads back what it wrote
  // within a request); only added headers are kept, to check the path taken.
  hostcalls() {
    return {
      proxy_log: (level, p, l) => { if (level >= 3) console.error(`${this.name}: ${this.str(p, l)}`); return OK; },
      proxy_get_log_level: (ret) => { this.mem().setUint32(ret, 2, true); return OK; },
      proxy_get_current_time_nanoseconds: (ret) => { this.mem().setBigUint64(ret, this.nowNs, true); return OK; },
      proxy_define_metric: (_t, _p, _l, ret) => { this.mem().setUint32(ret, this.nextContext++, true); return OK; },
      proxy_increment_metric: () => OK,
      proxy_get_buffer_bytes: (type, start, max, retData, retSize) => {
        const buf = type === BUFFER.pluginConfiguration ? this.config : new Uint8Array(0);
        return this.give(buf.subarray(start >>> 0, (start >>> 0) + (max >>> 0)), retData, retSize);
      },
      proxy_get_header_map_pairs: (type, retData, retSize) => this.give(this.maps.get(type).bytes, retData, retSize),
      proxy_get_header_map_value: (type, p, l, retData, retSize) => {
        const v = this.maps.get(type).values.get(this.str(p, l).toLowerCase());
        return v === undefined ? NOT_FOUND : this.give(v, retData, retSize);
      },
      proxy_replace_header_map_value: () => { this.replaced++; return OK; },
      proxy_add_header_map_value: (type, kp, kl, vp, vl) => { this.added.push([type, this.str(kp, kl), this.str(vp, vl)]); return OK; },
      proxy_remove_header_map_value: () => OK,
      proxy_get_property: (p, l, retData, retSize) => {
        const v = this.properties.get(this.str(p, l));
        return v === undefined ? NOT_FOUND : this.give(v, retData, retSize);
      },
      proxy_set_property: (p, l, vp, vl) => { this.published = vl; return OK; },
      proxy_get_shared_data: () => NOT_FOUND,
      proxy_call_foreign_function: () => NOT_FOUND,
      proxy_http_call: () => NOT_FOUND,
      proxy_send_local_response: () => { this.localReplies++; return OK; },
    };
  }

  /** One GET through the filter, as Envoy drives it: the callbacks the module exports, in order. */
  count(name) { this.counts.set(name, (this.counts.get(name) ?? 0) + 1); }

  /** The VM entries and hostcalls of `n` requests, per request: Envoy's side of each is native work. */
  crossings(request, response, n = 100) {
    this.counts = new Map();
    for (let i = 0; i < n; i++) this.request(request, response);
    const per = [...this.counts].map(([k, v]) => [k, v / n]);
    this.counts = null;
    const entries = per.filter(([k]) => k.startsWith('(VM entry)')).reduce((a, [, v]) => a + v, 0);
    const hostcalls = per.filter(([k]) => !k.startsWith('(VM entry)')).reduce((a, [, v]) => a + v, 0);
    return { entries, hostcalls, detail: per.map(([k, v]) => `${k.replace('(VM entry) ', '')} ${v}`).join(', ') };
  }

  request(requestHeaders, responseHeaders) {
    const ctx = this.nextContext++;
    if (this.counts) {
      for (const cb of ['proxy_on_context_create', 'proxy_on_request_headers', 'proxy_on_response_headers', 'proxy_on_done', 'proxy_on_log', 'proxy_on_delete']) {
        if (this.has(cb)) this.count(`(VM entry) ${cb}`);
      }
    }
    this.maps.set(MAP.requestHeaders, requestHeaders);
    this.maps.set(MAP.responseHeaders, responseHeaders);
    this.x.proxy_on_context_create(ctx, 1);
    this.x.proxy_on_request_headers(ctx, requestHeaders.pairs.length, 1);
    if (this.has('proxy_on_response_headers')) this.x.proxy_on_response_headers(ctx, responseHeaders.pairs.length, 0);
    if (this.has('proxy_on_done')) this.x.proxy_on_done(ctx);
    if (this.has('proxy_on_log')) this.x.proxy_on_log(ctx);
    this.x.proxy_on_delete(ctx);
  }
}

/** A header map as the host hands it out: serialized once, and by name. */
function headerMap(pairs) {
  return { pairs, bytes: serialize(pairs), values: new Map(pairs.map(([k, v]) => [k, enc.encode(v)])) };
}

/** proxy-wasm's serialized header map: count, (name length, value length)*, then each NUL-terminated. */
function serialize(pairs) {
  const bytes = pairs.map(([k, v]) => [enc.encode(k), enc.encode(v)]);
  let size = 4 + bytes.length * 8;
  for (const [k, v] of bytes) size += k.length + v.length + 2;
  const out = new Uint8Array(size), view = new DataView(out.buffer);
  view.setUint32(0, bytes.length, true);
  let at = 4;
  for (const [k, v] of bytes) { view.setUint32(at, k.length, true); view.setUint32(at + 4, v.length, true); at += 8; }
  for (const [k, v] of bytes) { out.set(k, at); at += k.length + 1; out.set(v, at); at += v.length + 1; }
  return out;
}

const path = (...parts) => parts.join('\0');
// `make bench`'s requests (wrk), or with VM_HOST_HEADERS=browser what a browser app's fetch carries
// through a sidecar (client hints, fetch metadata, forwarding headers).
const BROWSER_PAIRS = [
  ['accept', 'application/json, text/plain, */*'], ['accept-encoding', 'gzip, deflate, br, zstd'],
  ['accept-language', 'en-GB,en;q=0.9,de;q=0.8'], ['origin', 'https://app.bench.local'],
  ['referer', 'https://app.bench.local/orders?page=2'], ['sec-ch-ua', '"Chromium";v="156", "Not)A;Brand";v="24"'],
  ['sec-ch-ua-mobile', '?0'], ['sec-ch-ua-platform', '"Linux"'], ['sec-fetch-dest', 'empty'],
  ['sec-fetch-mode', 'cors'], ['sec-fetch-site', 'same-site'],
  ['user-agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36'],
  ['x-forwarded-for', '10.0.3.17'], ['x-forwarded-proto', 'https'], ['x-envoy-attempt-count', '1'],
];
const BASE_PAIRS = [
  [':authority', 'bench.local'], [':path', '/'], [':method', 'GET'], [':scheme', 'http'],
  ...(process.env.VM_HOST_HEADERS === 'browser' ? BROWSER_PAIRS : [['user-agent', 'wrk'], ['accept', '*/*']]),
  ['x-request-id', '6f1c2d3e-0000-4000-8000-000000000001'],
];
const BASE_REQUEST = headerMap(BASE_PAIRS);
const RESPONSE = headerMap([[':status', '200'], ['content-length', '2'], ['content-type', 'text/plain'], ['date', new Date().toUTCString()]]);
const PIN = 'MTI3LjAuMC4xOjgwODE='; // base64("127.0.0.1:8081"), the stateful_session header value
const API_KEY = 'bench-api-key-1';

/** An ES256 token and its JWKS, as in `make bench` (repeated token). */
function es256() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'bench-p256', alg: 'ES256', use: 'sig' };
  const b64 = (s) => Buffer.from(s).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid: 'bench-p256' }))}.${b64(JSON.stringify({
    iss: 'https://idp.bench.local', aud: 'https://api.bench.local', sub: 'user-1', iat: now, exp: now + 86400, scope: 'api:read',
  }))}`;
  const signature = createSign('SHA256').update(input).sign({ key: privateKey, dsaEncoding: 'ieee-p1363' });
  return { token: `${input}.${signature.toString('base64url')}`, jwks: { keys: [jwk] } };
}

/** The scenarios: each plugin next to the logic-free floor doing its unavoidable host I/O. */
async function scenarios(dist, baseline) {
  const bench = await readFile(`${dist}/bench_filter.wasm`);
  const { token, jwks } = es256();
  const stickyKey = Buffer.from([...Array(32).keys()]).toString('base64');
  const list = [
    { name: 'do-nothing wasm filter', wasm: bench, config: '"none"', request: BASE_REQUEST },
    {
      name: 'oidc-auth, repeated ES256 token', wasm: await readFile(`${dist}/oidc_auth.wasm`),
      config: {
        providers: [{ name: 'bench', issuer: 'https://idp.bench.local', audiences: ['https://api.bench.local'], inline_jwks: jwks, algorithms: ['ES256'] }],
        rules: [{ match: { path: { prefix: '/' } } }],
      },
      request: headerMap([...BASE_PAIRS, ['authorization', `Bearer ${token}`]]),
      check: (p) => p.localReplies === 0 && p.published > 0,
    },
    // The same module work `make bench` prices in Envoy (its "price compute" row), to compare.
    { name: 'module work: 64 units (bench-filter "price compute 64")', wasm: bench, config: '"price compute 64"', request: BASE_REQUEST },
    { name: 'floor: sticky I/O', wasm: bench, config: `"sticky-io x-sticky-pin ${PIN}"`, request: BASE_REQUEST },
    {
      name: 'sticky-session, valid cookie', wasm: await readFile(`${dist}/sticky_session.wasm`),
      config: { mode: 'stateful-session', pin_header: 'x-sticky-pin', cookie: { name: '__Host-sticky', max_age: '8h', idle_timeout: '30m' }, keys: [{ id: 'k1', env: 'STICKY_KEY' }] },
      env: { STICKY_KEY: stickyKey }, cookie: true,
      check: (p) => p.added.length === 0 && p.localReplies === 0,
    },
  ];
  list.push(
    { name: 'floor: injector I/O', wasm: bench, config: `"injector-io x-api-key ${API_KEY}"`, request: BASE_REQUEST },
    {
      // A static key: the request path is the Vault-sourced one's (the secret comes from this VM's
      // snapshot either way) without a Vault to answer the callouts.
      name: 'credential-injector, static key', wasm: await readFile(`${dist}/credential_injector.wasm`),
      config: {
        backends: [{
          name: 'payments', routes: [{ methods: ['GET'], path: { prefix: '/' } }],
          credential: { static: { env: 'API_KEY' } }, injection: { header: 'x-api-key' }, require_user: false,
        }],
        cors: { allowed_origins: ['https://app.bench.local'], allow_credentials: true },
      },
      env: { API_KEY }, request: BASE_REQUEST,
      check: (p) => p.localReplies === 0 && p.replaced > 0,
    },
  );
  const files = { oidc: 'oidc_auth.wasm', sticky: 'sticky_session.wasm', credential: 'credential_injector.wasm' };
  if (baseline) {
    for (const s of list.filter((s) => s.wasm !== bench)) {
      const file = files[s.name.split('-')[0]];
      list.push({ ...s, name: `${s.name} @baseline`, wasm: await readFile(`${baseline}/${file}`) });
    }
  }
  const plugins = [];
  for (const s of list) {
    const p = new Plugin(s.name, s.wasm, s);
    await p.start();
    p.properties.set(path('upstream', 'address'), enc.encode('127.0.0.1:8081'));
    p.properties.set(path('response', 'code_details'), enc.encode('via_upstream'));
    let request = s.request;
    if (s.cookie) {
      // The first response sets the cookie the returning client sends from then on.
      p.request(BASE_REQUEST, RESPONSE);
      const set = p.added.find(([, k]) => k === 'set-cookie');
      if (!set) throw new Error(`${s.name}: no cookie issued`);
      request = headerMap([...BASE_PAIRS, ['cookie', `theme=dark; ${set[2].split(';')[0]}`]]);
      p.added = [];
    }
    plugins.push({ plugin: p, request, check: s.check ?? (() => true) });
  }
  return plugins;
}

const BATCHES = 15, PER_BATCH = 4000;
const [dist = 'dist', baseline] = process.argv.slice(2);
// VM_HOST_ONLY=sticky: only the scenarios whose name contains it (e.g. under `node --cpu-prof`).
const plugins = (await scenarios(dist, baseline)).filter(({ plugin }) => plugin.name.includes(process.env.VM_HOST_ONLY ?? ''));
const best = plugins.map(() => Infinity);
for (const { plugin, request } of plugins) for (let i = 0; i < PER_BATCH; i++) plugin.request(request, RESPONSE); // warm-up
for (let b = 0; b < BATCHES; b++) {
  // Interleaved, so a disturbance of the machine hits every module alike.
  plugins.forEach(({ plugin, request }, i) => {
    const start = process.hrtime.bigint();
    for (let n = 0; n < PER_BATCH; n++) plugin.request(request, RESPONSE);
    best[i] = Math.min(best[i], Number(process.hrtime.bigint() - start) / PER_BATCH / 1000);
  });
}
console.log(`| module (${dist}), one GET per iteration (${BASE_PAIRS.length} request headers) | µs per request in V8, best of ${BATCHES} x ${PER_BATCH} | VM entries | hostcalls | path checked | VM entries and hostcalls per request |`);
console.log('|---|---:|---:|---:|---|---|');
let failed = false;
plugins.forEach(({ plugin, request, check }, i) => {
  const ok = check(plugin);
  failed ||= !ok;
  const c = plugin.crossings(request, RESPONSE);
  console.log(`| ${plugin.name} | ${best[i].toFixed(2)} | ${c.entries} | ${c.hostcalls} | ${ok ? 'yes' : 'NO'} | ${c.detail} |`);
});
process.exitCode = failed ? 1 : 0;
