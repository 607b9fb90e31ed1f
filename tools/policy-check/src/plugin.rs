//! The three plugins and their configuration loaders.

use crate::env::OfflineEnv;
use policies::config::{parse_json, ConfigError};
use policies::inject::{Injector, InjectorConfigDto};
use policies::oidc::OidcPolicy;
use policies::sticky::StickyPolicy;
use std::fmt;
use std::str::FromStr;

/// A plugin, by the name used in `dist/` and the Istio manifests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plugin {
    OidcAuth,
    StickySession,
    CredentialInjector,
}

impl Plugin {
    pub const ALL: [Plugin; 3] = [
        Plugin::OidcAuth,
        Plugin::StickySession,
        Plugin::CredentialInjector,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Plugin::OidcAuth => "oidc-auth",
            Plugin::StickySession => "sticky-session",
            Plugin::CredentialInjector => "credential-injector",
        }
    }
}

impl fmt::Display for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Plugin {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Plugin::ALL
            .into_iter()
            .find(|p| p.name() == s || p.name().replace('-', "_") == s)
            .ok_or_else(|| {
                format!("unknown plugin `{s}` (expected oidc-auth, sticky-session or credential-injector)")
            })
    }
}

/// A compiled policy, as the plugin holds it after `on_configure`.
#[derive(Debug)]
pub enum Compiled {
    Oidc(Box<OidcPolicy>),
    Sticky(Box<StickyPolicy>),
    Injector(Box<Injector>),
}

/// Runs the plugin's own configuration loader with the given resolver.
pub fn load(
    plugin: Plugin,
    raw: &[u8],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Compiled, ConfigError> {
    match plugin {
        Plugin::OidcAuth => policies::oidc::load(raw, env).map(|p| Compiled::Oidc(Box::new(p))),
        Plugin::StickySession => {
            policies::sticky::load(raw, env).map(|p| Compiled::Sticky(Box::new(p)))
        }
        // filters/credential-injector on_configure does exactly these two steps.
        Plugin::CredentialInjector => parse_json::<InjectorConfigDto>(raw)
            .and_then(|dto| dto.compile(env))
            .map(|p| Compiled::Injector(Box::new(p))),
    }
}

/// Loads with an offline environment: variables whose value is unknown get
/// placeholders that satisfy the format checks, so only errors in the
/// configuration itself (and in values given with `--env`) are reported.
pub fn check(plugin: Plugin, raw: &[u8], env: &OfflineEnv) -> Result<Compiled, ConfigError> {
    // Each retry moves one placeholder to its next candidate: bounded by
    // (#vars × #candidates); 32 rounds is far above any real configuration.
    let mut last = None;
    for _ in 0..32 {
        match load(plugin, raw, &|name| env.resolve(name)) {
            Ok(c) => return Ok(c),
            Err(e) => {
                if env.retry_placeholder_blamed_by(&e.message) {
                    last = Some(e);
                    continue;
                }
                return Err(env.add_hint(e));
            }
        }
    }
    Err(env
        .add_hint(last.unwrap_or_else(|| ConfigError::new(".", "cannot check the configuration"))))
}
