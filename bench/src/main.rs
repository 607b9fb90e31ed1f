//! `make bench`: each plugin against Envoy's native filter for the same job, and both against Envoy
//! with no filter, all in one run, interleaved (A B C …, then … C B A) so drift and neighbours' load hit
//! every configuration alike. Writes `bench/results.md` and `bench/results.svg`.
//!
//! Settings (env): BENCH_SECONDS (measured seconds per run, default 5), BENCH_ROUNDS (default 3),
//! BENCH_WARMUP (seconds, excluded, default 1), BENCH_TOKENS (distinct tokens per algorithm, default
//! 10000), BENCH_CONNECTIONS (default 8), BENCH_OUT (default `bench/results.md`), BENCH_PROFILE=0 to skip
//! the `perf` profiles, BENCH_ONLY=name,name (only configurations whose name contains one of these),
//! BENCH_BASELINE=1 (also run the modules in `dist/baseline/`, e.g. a previous build, in the same rounds),
//! BENCH_FRESH_ENVOYS=0 (keep one Envoy per configuration for all rounds; default: a new one each round).

mod configs;
mod load;
mod machine;
mod plan;
mod profile;
mod report;
mod startup;
mod tokens;

use std::time::{Duration, Instant};

use wasm_tests::{Error, Result};

/// Run settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub seconds: u64,
    pub rounds: u32,
    pub warmup: u64,
    pub tokens: usize,
    pub connections: u32,
    /// A new Envoy process per configuration and round (BENCH_FRESH_ENVOYS, default 1).
    pub fresh_envoys: bool,
    pub out: std::path::PathBuf,
}

impl Settings {
    fn from_env() -> Result<Settings> {
        fn num<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
            match std::env::var(name) {
                Ok(v) => v
                    .trim()
                    .parse()
                    .map_err(|_| Error(format!("{name}={v:?} is not a number"))),
                Err(_) => Ok(default),
            }
        }
        let out = std::env::var("BENCH_OUT")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| wasm_tests::paths::repo_root().join("bench/results.md"));
        Ok(Settings {
            seconds: num("BENCH_SECONDS", 5)?,
            rounds: num("BENCH_ROUNDS", 3)?,
            warmup: num("BENCH_WARMUP", 1)?,
            tokens: num("BENCH_TOKENS", 10_000)?,
            connections: num("BENCH_CONNECTIONS", 8)?,
            fresh_envoys: num("BENCH_FRESH_ENVOYS", 1u8)? != 0,
            out,
        })
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("bench failed: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let settings = Settings::from_env()?;
    let started = Instant::now();
    eprintln!("[bench] {settings:?}");
    let before = machine::Machine::describe()?;

    let mut stack = plan::Stack::start(&settings)?;
    let mut plan = plan::Plan::prepare(&stack, &settings)?;
    plan.run_rounds(&mut stack, &settings)?;
    let results = plan.results();

    let profiles = if profile::available() {
        eprintln!("[bench] perf profiles");
        Some(profile::run(&plan, &stack, &settings)?)
    } else {
        None
    };

    eprintln!("[bench] start-up, module size and memory");
    let static_facts = startup::measure(&stack)?;
    drop(stack);

    let after = machine::Machine::describe()?;
    report::write(
        &settings,
        (&before, &after),
        &results,
        &static_facts,
        profiles.as_deref(),
        plan.notes(),
        started.elapsed(),
    )?;
    eprintln!(
        "[bench] wrote {} in {:?}",
        settings.out.display(),
        Duration::from_secs(started.elapsed().as_secs())
    );
    Ok(())
}
