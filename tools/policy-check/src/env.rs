//! Environment variables for an offline check.
//!
//! Plugins read secrets from environment variables at configure time
//! (Istio `vmConfig.env`). Offline, those values are usually unknown. A
//! variable is resolved, in order, from `--env NAME=VALUE`, from the process
//! environment (unless disabled), and otherwise:
//! - by default it is **present but unknown**: it gets a placeholder value
//!   that passes the format checks (base64 of 32 bytes, or a long string), so
//!   the rest of the configuration is still checked, and the report lists it;
//! - with `--require-env` it is **missing**: the plugin's own error names it,
//!   exactly as Envoy would log it at start-up.

use policies::config::ConfigError;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// Placeholders tried in order for an unknown variable: a sticky-session key
/// needs base64 of exactly 32 bytes; an HS512 secret needs ≥ 64 bytes.
const PLACEHOLDERS: [&str; 2] = [
    "cG9saWN5LWNoZWNrIHBsYWNlaG9sZGVyIGtleSAzMiA=",
    "policy-check-placeholder-policy-check-placeholder-policy-check-placeholder-policy-check-placeholder-",
];

/// How a referenced variable was resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvStatus {
    /// Given with `--env` or found in the process environment: its value was checked.
    Known,
    /// Not given: a placeholder stood in, the value itself was not checked.
    Unknown,
    /// Not given and `--require-env` set: reported as missing.
    Missing,
}

#[derive(Debug, Default)]
pub struct OfflineEnv {
    given: BTreeMap<String, String>,
    use_process_env: bool,
    require: bool,
    /// Referenced names → `None` (known/missing) or the placeholder index in use.
    seen: RefCell<BTreeMap<String, (EnvStatus, usize)>>,
}

impl OfflineEnv {
    pub fn new(given: BTreeMap<String, String>, use_process_env: bool, require: bool) -> Self {
        Self {
            given,
            use_process_env,
            require,
            seen: RefCell::new(BTreeMap::new()),
        }
    }

    /// The resolver handed to the plugin's loader.
    pub fn resolve(&self, name: &str) -> Option<String> {
        let known = self.given.get(name).cloned().or_else(|| {
            self.use_process_env
                .then(|| std::env::var(name).ok())
                .flatten()
        });
        let mut seen = self.seen.borrow_mut();
        if let Some(v) = known {
            seen.insert(name.to_string(), (EnvStatus::Known, 0));
            return Some(v);
        }
        if self.require {
            seen.insert(name.to_string(), (EnvStatus::Missing, 0));
            return None;
        }
        let entry = seen
            .entry(name.to_string())
            .or_insert((EnvStatus::Unknown, 0));
        PLACEHOLDERS.get(entry.1).map(|p| (*p).to_string())
    }

    /// When `message` blames a variable that holds a placeholder (the loader
    /// quotes names as `` `NAME` ``), move it to the next placeholder and say
    /// whether a retry makes sense.
    pub fn retry_placeholder_blamed_by(&self, message: &str) -> bool {
        let mut seen = self.seen.borrow_mut();
        for (name, (status, idx)) in seen.iter_mut() {
            if *status == EnvStatus::Unknown
                && message.contains(&format!("`{name}`"))
                && *idx + 1 < PLACEHOLDERS.len()
            {
                *idx += 1;
                return true;
            }
        }
        false
    }

    /// Every variable the configuration referenced, with how it was resolved.
    pub fn referenced(&self) -> Vec<(String, EnvStatus)> {
        self.seen
            .borrow()
            .iter()
            .map(|(n, (s, _))| (n.clone(), *s))
            .collect()
    }

    /// Adds a hint to errors about variables, when the loader gave none.
    pub fn add_hint(&self, e: ConfigError) -> ConfigError {
        if e.hint.is_some() {
            return e;
        }
        let blamed = self
            .seen
            .borrow()
            .keys()
            .find(|n| e.message.contains(&format!("`{n}`")))
            .cloned();
        match blamed {
            Some(name) => e.with_hint(format!(
                "pass --env {name}=VALUE (or export it) to check it here; in Envoy list it in \
                 vm_config.environment_variables, in Istio under vmConfig.env"
            )),
            None => e,
        }
    }
}
