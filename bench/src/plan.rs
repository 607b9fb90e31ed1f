//! The running Envoys (one per filter setup; by default each is restarted before every round after
//! the first), the measurements on them, and the interleaved rounds.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};
use wasm_tests::{Bootstrap, Envoy, EnvoyOptions, Error, OpenBao, Result, TempDir};

use crate::configs::{self, API_KEY, NATIVE_COOKIE, PIN_HEADER, STICKY_COOKIE, STICKY_KEY};
use crate::load::{self, Load, Run};
use crate::tokens::{Alg, Keys};
use crate::Settings;

/// Quiet (warn) logs: per-request debug logging would be measured too.
pub fn quiet(concurrency: u32) -> EnvoyOptions {
    EnvoyOptions {
        log_level: "warn".into(),
        component_log_level: None,
        ..EnvoyOptions::default()
    }
    .concurrency(concurrency)
}

/// A filter setup under test.
pub struct Target {
    pub name: &'static str,
    pub envoy: Envoy,
    pub pid: u32,
    bootstrap: String,
    env: Vec<(&'static str, &'static str)>,
}

impl Target {
    fn start(
        name: &'static str,
        bootstrap: String,
        env: Vec<(&'static str, &'static str)>,
    ) -> Result<Target> {
        let mut opts = quiet(1);
        for (k, v) in &env {
            opts = opts.env(k, v);
        }
        let mut envoy =
            Envoy::start(&bootstrap, opts).map_err(|e| Error(format!("starting {name}: {e}")))?;
        let pid = envoy.process().pid();
        Ok(Target {
            name,
            envoy,
            pid,
            bootstrap,
            env,
        })
    }

    /// The same setup in a new Envoy process. Two processes of one setup measure apart by up to
    /// ~5 % for the whole life of each (memory layout, JIT output, which core): a fresh process per
    /// round turns that bias into noise the rounds average out.
    fn restart(&mut self) -> Result<()> {
        let fresh = Target::start(self.name, self.bootstrap.clone(), self.env.clone())?;
        *self = fresh;
        Ok(())
    }
}

/// Hostcalls priced by `bench-filter`'s "price" mode: (setup name, hostcall), each repeated
/// [`PRICE_CALLS`] times per request.
pub const PRICED_HOSTCALLS: &[(&str, &str)] = &[
    ("price-log-level", "log-level"),
    ("price-clock", "clock"),
    ("price-metric", "metric"),
    ("price-header", "header"),
    ("price-publish", "publish"),
    ("price-property", "property"),
    // Not a hostcall: one round of module work, to compare with its price in V8 under Node (`make bench-vm`).
    ("price-compute", "compute"),
];
pub const PRICE_CALLS: u32 = 64;

/// The measurement name of a priced hostcall's row.
pub fn price_row(hostcall: &str) -> String {
    format!("hostcall ×{PRICE_CALLS}: {hostcall}")
}

/// The A/A control's row: the do-nothing filter in a second Envoy process.
pub const A_A_CONTROL: &str = "wasm-minimal, 2nd Envoy (A/A control)";

/// A filter setup: name, bootstrap text, Envoy environment.
pub type Setup = (&'static str, String, Vec<(&'static str, &'static str)>);

/// Bootstrap text and Envoy environment of each filter setup.
pub fn setups(upstream_port: u16, bao_port: u16, jwks: &Value) -> Vec<Setup> {
    let base = || Bootstrap::new().backend(&[upstream_port]);
    let oidc = configs::oidc_auth_config(jwks);
    let sticky = configs::sticky_config();
    let inject = configs::injector_config(bao_port);
    let sticky_env = ("STICKY_KEY", STICKY_KEY);
    let vault_env = ("VAULT_TOKEN", wasm_tests::openbao::ROOT_TOKEN);
    // What sticky-session sets for a session on the upstream: Envoy's header session state, base64.
    let pin = B64.encode(format!("127.0.0.1:{upstream_port}"));
    let prices = PRICED_HOSTCALLS.iter().map(|(name, call)| {
        let config = json!(format!("price {call} {PRICE_CALLS}"));
        let bootstrap = base()
            .wasm_filter("bench-filter", "bench_filter.wasm", &config, &[])
            .build();
        (*name, bootstrap, vec![])
    });
    let mut all = vec![
        ("none", base().build(), vec![]),
        (
            "wasm-minimal",
            base()
                .wasm_filter("bench-filter", "bench_filter.wasm", &json!({}), &[])
                .build(),
            vec![],
        ),
        // The same again in its own Envoy: how far two identical setups differ in one run (the A/A
        // control), a floor under any difference the table can resolve.
        (
            "wasm-minimal-2",
            base()
                .wasm_filter("bench-filter", "bench_filter.wasm", &json!({}), &[])
                .build(),
            vec![],
        ),
        // The floors: a do-nothing filter plus only the host I/O sticky-session / credential-injector
        // cannot do without (bench-filter's "sticky-io" / "injector-io"), each next to what the plugin
        // runs with (sticky-session's pinning is done by `stateful_session` header).
        (
            "wasm-floor-sticky",
            base()
                .wasm_filter(
                    "bench-filter",
                    "bench_filter.wasm",
                    &json!(format!("sticky-io {PIN_HEADER} {pin}")),
                    &[],
                )
                .http_filter(configs::stateful_session_header())
                .build(),
            vec![],
        ),
        (
            "wasm-floor-injector",
            base()
                .wasm_filter(
                    "bench-filter",
                    "bench_filter.wasm",
                    &json!(format!("injector-io x-api-key {API_KEY}")),
                    &[],
                )
                .build(),
            vec![],
        ),
        (
            "oidc-auth",
            base()
                .wasm_filter("oidc-auth", "oidc_auth.wasm", &oidc, &[])
                .build(),
            vec![],
        ),
        (
            "jwt_authn",
            base().http_filter(configs::jwt_authn(jwks)).build(),
            vec![],
        ),
        (
            "sticky-session",
            base()
                .wasm_filter(
                    "sticky-session",
                    "sticky_session.wasm",
                    &sticky,
                    &["STICKY_KEY"],
                )
                .http_filter(configs::stateful_session_header())
                .build(),
            vec![sticky_env],
        ),
        (
            "stateful_session",
            base()
                .http_filter(configs::stateful_session_cookie())
                .build(),
            vec![],
        ),
        (
            "credential-injector",
            base()
                .cluster("vault", &[bao_port])
                .wasm_filter(
                    "credential-injector",
                    "credential_injector.wasm",
                    &inject,
                    &["VAULT_TOKEN"],
                )
                .build(),
            vec![vault_env],
        ),
        (
            "credential_injector",
            configs::with_api_key_secret(&base().http_filter(configs::credential_injector())),
            vec![],
        ),
        (
            "chain",
            base()
                .cluster("vault", &[bao_port])
                .wasm_filter("oidc-auth", "oidc_auth.wasm", &oidc, &[])
                .wasm_filter(
                    "sticky-session",
                    "sticky_session.wasm",
                    &sticky,
                    &["STICKY_KEY"],
                )
                .http_filter(configs::stateful_session_header())
                .wasm_filter(
                    "credential-injector",
                    "credential_injector.wasm",
                    &inject,
                    &["VAULT_TOKEN"],
                )
                .build(),
            vec![sticky_env, vault_env],
        ),
    ];
    all.extend(prices);
    all
}

/// `dist/baseline/` (optional): an earlier build of the plugins, run side by side with the current
/// one in the same rounds, so a change is measured as a same-run ratio (BENCH_BASELINE=1).
pub fn baseline_setups(upstream_port: u16, bao_port: u16, jwks: &Value) -> Vec<Setup> {
    if std::env::var("BENCH_BASELINE").as_deref() != Ok("1") {
        return Vec::new();
    }
    let base = || Bootstrap::new().backend(&[upstream_port]);
    vec![
        (
            "oidc-auth@baseline",
            base()
                .wasm_filter(
                    "oidc-auth",
                    "baseline/oidc_auth.wasm",
                    &configs::oidc_auth_config(jwks),
                    &[],
                )
                .build(),
            vec![],
        ),
        (
            "sticky-session@baseline",
            base()
                .wasm_filter(
                    "sticky-session",
                    "baseline/sticky_session.wasm",
                    &configs::sticky_config(),
                    &["STICKY_KEY"],
                )
                .http_filter(configs::stateful_session_header())
                .build(),
            vec![("STICKY_KEY", STICKY_KEY)],
        ),
        (
            "credential-injector@baseline",
            base()
                .cluster("vault", &[bao_port])
                .wasm_filter(
                    "credential-injector",
                    "baseline/credential_injector.wasm",
                    &configs::injector_config(bao_port),
                    &["VAULT_TOKEN"],
                )
                .build(),
            vec![("VAULT_TOKEN", wasm_tests::openbao::ROOT_TOKEN)],
        ),
    ]
}

/// A readiness request: (target, headers).
type Probe = (String, Vec<(&'static str, String)>);

/// Everything that runs during the bench.
pub struct Stack {
    pub dir: TempDir,
    pub upstream: Envoy,
    pub bao: OpenBao,
    pub targets: Vec<Target>,
    pub jwks: Value,
    pub repeated_token: String,
    pub pools: Vec<(Alg, Vec<String>)>,
    pub mint_seconds: f64,
    /// Every `first_ok` call, repeated after a restart.
    probes: std::cell::RefCell<Vec<Probe>>,
}

impl Stack {
    pub fn start(settings: &Settings) -> Result<Stack> {
        let dir = TempDir::new("bench")?;
        let keys = Keys::fixed()?;
        let jwks = keys.jwks();
        let now_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| Error(format!("clock: {e}")))?
            .as_secs();
        let minting = Instant::now();
        eprintln!("[bench] minting {} tokens per algorithm", settings.tokens);
        // One thread per algorithm: RSA signing dominates.
        let pools = std::thread::scope(|s| {
            let handles: Vec<_> = Alg::ALL
                .iter()
                .map(|&alg| {
                    let keys = &keys;
                    s.spawn(move || keys.pool(alg, settings.tokens, now_s).map(|p| (alg, p)))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().map_err(|_| Error::msg("minting thread died"))?)
                .collect::<Result<Vec<_>>>()
        })?;
        let mint_seconds = minting.elapsed().as_secs_f64();
        // Outside every pool: the subject numbers of the pools start at 0.
        let repeated_token = keys.mint(Alg::Rs256, usize::MAX / 2, now_s)?;

        eprintln!("[bench] starting upstream, OpenBao and the Envoys under test");
        let upstream = Envoy::start(&configs::upstream(), quiet(1))?;
        let bao = OpenBao::start()?;
        bao.kv_put("payments", &json!({"api_key": API_KEY}))?;
        let mut targets = Vec::new();
        let all = setups(upstream.listener_port(), bao.port(), &jwks)
            .into_iter()
            .chain(baseline_setups(upstream.listener_port(), bao.port(), &jwks));
        for (name, bootstrap, env) in all {
            targets.push(Target::start(name, bootstrap, env)?);
        }
        Ok(Stack {
            dir,
            upstream,
            bao,
            targets,
            jwks,
            repeated_token,
            pools,
            mint_seconds,
            probes: std::cell::RefCell::new(Vec::new()),
        })
    }

    /// Restarts target `name` and waits until it answers as it did when first probed (the
    /// injector's first Vault read, ...).
    fn restart(&mut self, name: &str) -> Result<()> {
        let target = self
            .targets
            .iter_mut()
            .find(|t| t.name == name)
            .ok_or_else(|| Error(format!("no target {name}")))?;
        target.restart()?;
        let probes: Vec<_> = self
            .probes
            .borrow()
            .iter()
            .filter(|(t, _)| t == name)
            .map(|(_, headers)| headers.clone())
            .collect();
        for headers in probes {
            self.first_ok(name, &headers, None)?;
        }
        Ok(())
    }

    pub fn target(&self, name: &str) -> Result<&Target> {
        self.targets
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| Error(format!("no target {name}")))
    }

    /// Waits until a request with `headers` gets a 200 (the injector needs its first Vault read),
    /// and returns the cookie `cookie` the answer sets, if any.
    fn first_ok(
        &self,
        target: &str,
        headers: &[(&'static str, String)],
        cookie: Option<&str>,
    ) -> Result<Option<String>> {
        let t = self.target(target)?;
        {
            let mut probes = self.probes.borrow_mut();
            let probe = (target.to_string(), headers.to_vec());
            if !probes.contains(&probe) {
                probes.push(probe);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut req = t.envoy.request("GET", "/bench");
            for (k, v) in headers {
                req = req.header(k, v);
            }
            let r = req.send()?;
            if r.status == 200 {
                let value = cookie.and_then(|name| {
                    r.header_all("set-cookie")
                        .into_iter()
                        .find(|c| c.starts_with(&format!("{name}=")))
                        .and_then(|c| c.split(';').next())
                        .map(str::to_string)
                });
                if cookie.is_some() && value.is_none() {
                    return Err(Error(format!(
                        "{target}: no {cookie:?} cookie set: {:?}",
                        r.headers
                    )));
                }
                return Ok(value);
            }
            if Instant::now() > deadline {
                return Err(Error(format!(
                    "{target}: answered {} {}",
                    r.status,
                    r.text()
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// One measured configuration: a target, the request headers, the stats that prove the filter did
/// its job, and whether Vault must stay silent meanwhile.
pub struct Measurement {
    pub name: String,
    /// The configuration this one is compared with (same run), if any.
    pub versus: Option<String>,
    /// The goal for `cpu / versus cpu`, if any.
    pub goal: Option<f64>,
    target: String,
    headers: PathBuf,
    checks: Vec<&'static str>,
    vault_silent: bool,
    pub runs: Vec<Run>,
    pub check_deltas: Vec<(&'static str, u64)>,
    pub vault_calls: usize,
}

impl Measurement {
    fn new(name: &str, target: &str, headers: PathBuf, checks: &[&'static str]) -> Measurement {
        Measurement {
            name: name.to_string(),
            versus: None,
            goal: None,
            target: target.to_string(),
            headers,
            checks: checks.to_vec(),
            vault_silent: false,
            runs: Vec::new(),
            check_deltas: checks.iter().map(|c| (*c, 0)).collect(),
            vault_calls: 0,
        }
    }

    fn versus(mut self, other: &str, goal: Option<f64>) -> Measurement {
        self.versus = Some(other.to_string());
        self.goal = goal;
        self
    }

    /// Vault requests seen during the measured windows, for the configurations that must cause none.
    pub fn vault_silent_calls(&self) -> Option<usize> {
        self.vault_silent.then_some(self.vault_calls)
    }

    pub fn target(&self) -> &str {
        &self.target
    }

    pub fn headers(&self) -> &std::path::Path {
        &self.headers
    }

    fn vault_silent(mut self) -> Measurement {
        self.vault_silent = true;
        self
    }
}

const OIDC_CHECKS: &[&str] = &[
    "wasmcustom.oidc_auth.allowed",
    "wasmcustom.oidc_auth.token_cache.hit",
    "wasmcustom.oidc_auth.token_cache.miss",
];
const JWT_CHECKS: &[&str] = &[
    "http.ingress.jwt_authn.allowed",
    "http.ingress.jwt_authn.jwt_cache_hit",
    "http.ingress.jwt_authn.jwt_cache_miss",
];
// The response counters show the steady state measured: `kept` (no new cookie), not `renewed`.
const STICKY_CHECKS: &[&str] = &[
    "wasmcustom.sticky_session.cookie_valid",
    "wasmcustom.sticky_session.response_kept",
    "wasmcustom.sticky_session.response_renewed",
];
const INJECT_CHECKS: &[&str] = &["wasmcustom.credential_injector.allowed"];
const NATIVE_INJECT_CHECKS: &[&str] = &["http.ingress.credential_injector.injected"];

pub struct Plan {
    pub measurements: Vec<Measurement>,
    script: PathBuf,
    connections: u32,
    notes: Vec<String>,
}

impl Plan {
    pub fn prepare(stack: &Stack, settings: &Settings) -> Result<Plan> {
        let dir = stack.dir.path();
        let bearer = |t: &str| ("authorization", format!("Bearer {t}"));
        let file = |name: &str, lines: &[Vec<(&str, String)>]| load::headers_file(dir, name, lines);
        let nothing = file("nothing", &[])?;
        let nothing_again = nothing.clone();
        let token = vec![bearer(&stack.repeated_token)];
        let repeated_file = file("repeated", std::slice::from_ref(&token))?;

        stack.first_ok("oidc-auth", &token, None)?;
        stack.first_ok("jwt_authn", &token, None)?;
        stack.first_ok("credential-injector", &[], None)?;
        stack.first_ok("credential_injector", &[], None)?;
        let sticky = stack
            .first_ok("sticky-session", &[], Some(STICKY_COOKIE))?
            .unwrap_or_default();
        let native = stack
            .first_ok("stateful_session", &[], Some(NATIVE_COOKIE))?
            .unwrap_or_default();
        let chain_cookie = stack
            .first_ok("chain", &token, Some(STICKY_COOKIE))?
            .unwrap_or_default();
        let sticky_file = file("sticky", &[vec![("cookie", sticky)]])?;
        let sticky_file_again = sticky_file.clone();
        let native_file = file("native-cookie", &[vec![("cookie", native)]])?;
        let chain_file = file(
            "chain",
            &[vec![
                bearer(&stack.repeated_token),
                ("cookie", chain_cookie),
            ]],
        )?;

        let mut m = vec![
            Measurement::new("none", "none", nothing.clone(), &[]),
            Measurement::new("wasm-minimal", "wasm-minimal", nothing.clone(), &[]),
            Measurement::new(A_A_CONTROL, "wasm-minimal-2", nothing.clone(), &[])
                .versus("wasm-minimal", None),
            Measurement::new(
                "oidc-auth repeated",
                "oidc-auth",
                repeated_file.clone(),
                OIDC_CHECKS,
            )
            .versus("jwt_authn repeated", Some(1.25)),
            Measurement::new("jwt_authn repeated", "jwt_authn", repeated_file, JWT_CHECKS),
        ];
        for (alg, pool) in &stack.pools {
            let lines: Vec<Vec<(&str, String)>> = pool.iter().map(|t| vec![bearer(t)]).collect();
            let f = file(&format!("pool-{}", alg.name()), &lines)?;
            // EdDSA has no goal in the issue; the ratio is reported all the same.
            let goal = (*alg != Alg::EdDsa).then_some(1.5);
            m.push(
                Measurement::new(
                    &format!("oidc-auth distinct {}", alg.name()),
                    "oidc-auth",
                    f.clone(),
                    OIDC_CHECKS,
                )
                .versus(&format!("jwt_authn distinct {}", alg.name()), goal),
            );
            m.push(Measurement::new(
                &format!("jwt_authn distinct {}", alg.name()),
                "jwt_authn",
                f,
                JWT_CHECKS,
            ));
        }
        m.push(
            Measurement::new(
                "sticky-session",
                "sticky-session",
                sticky_file,
                STICKY_CHECKS,
            )
            .versus("stateful_session cookie", Some(1.25)),
        );
        m.push(
            Measurement::new(
                "wasm floor: sticky I/O",
                "wasm-floor-sticky",
                sticky_file_again,
                &[],
            )
            .versus("stateful_session cookie", None),
        );
        m.push(Measurement::new(
            "stateful_session cookie",
            "stateful_session",
            native_file,
            &[],
        ));
        m.push(
            Measurement::new(
                "credential-injector (Vault)",
                "credential-injector",
                nothing.clone(),
                INJECT_CHECKS,
            )
            .versus("credential_injector (SDS)", Some(1.25))
            .vault_silent(),
        );
        m.push(
            Measurement::new(
                "wasm floor: injector I/O",
                "wasm-floor-injector",
                nothing.clone(),
                &[],
            )
            .versus("credential_injector (SDS)", None),
        );
        m.push(Measurement::new(
            "credential_injector (SDS)",
            "credential_injector",
            nothing,
            NATIVE_INJECT_CHECKS,
        ));
        let chain_checks: Vec<&'static str> = OIDC_CHECKS
            .iter()
            .chain(STICKY_CHECKS)
            .chain(INJECT_CHECKS)
            .copied()
            .collect();
        m.push(
            Measurement::new("chain (all three)", "chain", chain_file, &chain_checks)
                .vault_silent(),
        );

        for (setup, call) in PRICED_HOSTCALLS {
            m.push(Measurement::new(
                &price_row(call),
                setup,
                nothing_again.clone(),
                &[],
            ));
        }

        if std::env::var("BENCH_BASELINE").as_deref() == Ok("1") {
            stack.first_ok("credential-injector@baseline", &[], None)?;
            let cookie = stack
                .first_ok("sticky-session@baseline", &[], Some(STICKY_COOKIE))?
                .unwrap_or_default();
            let cookie_file = file("sticky-baseline", &[vec![("cookie", cookie)]])?;
            // Each reported as the earlier build's cost over the current one's: above 1, the
            // change saved CPU.
            m.push(
                Measurement::new(
                    "oidc-auth repeated @baseline",
                    "oidc-auth@baseline",
                    file("repeated-baseline", std::slice::from_ref(&token))?,
                    OIDC_CHECKS,
                )
                .versus("oidc-auth repeated", None),
            );
            m.push(
                Measurement::new(
                    "sticky-session @baseline",
                    "sticky-session@baseline",
                    cookie_file,
                    STICKY_CHECKS,
                )
                .versus("sticky-session", None),
            );
            m.push(
                Measurement::new(
                    "credential-injector (Vault) @baseline",
                    "credential-injector@baseline",
                    nothing_again.clone(),
                    INJECT_CHECKS,
                )
                .versus("credential-injector (Vault)", None)
                .vault_silent(),
            );
        }
        place_baselines_after_their_builds(&mut m);
        // BENCH_ONLY=a,b: only the configurations whose name contains one of these (quick A/B runs).
        if let Ok(only) = std::env::var("BENCH_ONLY") {
            let wanted: Vec<&str> = only
                .split(',')
                .map(str::trim)
                .filter(|w| !w.is_empty())
                .collect();
            m.retain(|x| wanted.iter().any(|w| x.name.contains(w)));
        }
        let mut notes = vec![format!(
            "{} distinct tokens per algorithm minted in {:.1} s (3 threads)",
            settings.tokens, stack.mint_seconds
        )];
        notes.push(if settings.fresh_envoys {
            "every configuration runs in a new Envoy process each round (BENCH_FRESH_ENVOYS=1, the default): a process's own bias (memory layout, JIT output, core) is averaged over the rounds".into()
        } else {
            "BENCH_FRESH_ENVOYS=0: one Envoy process per configuration for all rounds".into()
        });
        if std::env::var("BENCH_BASELINE").as_deref() == Ok("1") {
            notes.push(
                "rows marked `@baseline`: the modules in `dist/baseline/` (another build, same configuration), measured in the same rounds".into(),
            );
        }
        Ok(Plan {
            measurements: m,
            script: load::script(dir)?,
            connections: settings.connections,
            notes,
        })
    }

    /// A B C … then … C B A, and so on: every round measures every configuration once, warm-up
    /// excluded.
    pub fn run_rounds(&mut self, stack: &mut Stack, settings: &Settings) -> Result<()> {
        let load = Load {
            script: &self.script,
            connections: self.connections,
        };
        let mut used: Vec<String> = Vec::new();
        for m in &self.measurements {
            if !used.contains(&m.target) {
                used.push(m.target.clone());
            }
        }
        for round in 1..=settings.rounds {
            if round > 1 && settings.fresh_envoys {
                let restarting = Instant::now();
                for name in &used {
                    stack.restart(name)?;
                }
                eprintln!(
                    "[bench] round {round}: {} Envoys restarted in {:.1} s",
                    used.len(),
                    restarting.elapsed().as_secs_f64()
                );
            }
            // Odd rounds run A B C …, even rounds … C B A: a drift within a round (the machine's,
            // or the run's own) then weighs on each row as much as on its neighbours.
            let count = self.measurements.len();
            let order: Vec<usize> = if round % 2 == 0 {
                (0..count).rev().collect()
            } else {
                (0..count).collect()
            };
            for i in order {
                let Some(m) = self.measurements.get_mut(i) else {
                    continue;
                };
                let target = stack.target(&m.target)?;
                let addr = target.envoy.addr();
                let envoy_pid = target.pid;
                if settings.warmup > 0 {
                    load.run(
                        &addr,
                        &m.headers,
                        Duration::from_secs(settings.warmup),
                        envoy_pid,
                    )?;
                }
                let stats_before = stats(&target.envoy, &m.checks)?;
                let vault_before = stack.bao.audit_log().lines().count();
                let run = load
                    .run(
                        &addr,
                        &m.headers,
                        Duration::from_secs(settings.seconds),
                        envoy_pid,
                    )
                    .map_err(|e| Error(format!("{}: {e}", m.name)))?;
                let vault_after = stack.bao.audit_log().lines().count();
                let stats_after = stats(&target.envoy, &m.checks)?;
                for ((_, total), (before, after)) in m
                    .check_deltas
                    .iter_mut()
                    .zip(stats_before.iter().zip(&stats_after))
                {
                    *total += after.saturating_sub(*before);
                }
                if m.vault_silent {
                    m.vault_calls += vault_after.saturating_sub(vault_before);
                }
                eprintln!(
                    "[bench] round {round}/{} {:<28} {:>8.0} req/s  p50 {:>6.0} µs  p99 {:>6.0} µs  {:>6.1} µs CPU/req",
                    settings.rounds,
                    m.name,
                    run.requests as f64 / run.seconds,
                    run.p50_us,
                    run.p99_us,
                    run.cpu_s * 1e6 / run.requests as f64
                );
                m.runs.push(run);
            }
        }
        Ok(())
    }

    pub fn results(&self) -> Vec<crate::report::Row> {
        crate::report::rows(&self.measurements)
    }

    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    pub fn script(&self) -> &std::path::Path {
        &self.script
    }
}

/// Moves each `X @baseline` row right after the row `X`: the two are then measured back to back
/// in every round. Run last in each round instead, identical modules measured 7–10 % cheaper
/// there than in their own place (bench/profile-note.md, session 8).
fn place_baselines_after_their_builds(m: &mut Vec<Measurement>) {
    let (baselines, mut ordered): (Vec<_>, Vec<_>) = std::mem::take(m)
        .into_iter()
        .partition(|x| x.name.ends_with(" @baseline"));
    for b in baselines {
        let build = b.name.trim_end_matches(" @baseline");
        let at = ordered
            .iter()
            .position(|x| x.name == build)
            .map_or(ordered.len(), |i| i + 1);
        ordered.insert(at, b);
    }
    *m = ordered;
}

/// The given counters (0 when absent).
fn stats(envoy: &Envoy, names: &[&str]) -> Result<Vec<u64>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let all = envoy.stats()?;
    Ok(names
        .iter()
        .map(|n| all.get(*n).and_then(|v| v.parse().ok()).unwrap_or(0))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> Measurement {
        Measurement::new(name, "t", PathBuf::new(), &[])
    }

    #[test]
    fn each_baseline_row_runs_right_after_its_build() {
        let mut m: Vec<Measurement> = ["a", "b", "c", "a @baseline", "c @baseline", "z @baseline"]
            .into_iter()
            .map(named)
            .collect();
        place_baselines_after_their_builds(&mut m);
        let names: Vec<&str> = m.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(
            names,
            ["a", "a @baseline", "b", "c", "c @baseline", "z @baseline"]
        );
    }
}
