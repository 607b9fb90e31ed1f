//! Plugin start-up: logging, identity line, configuration loading.

use policies::config::{Compile, ConfigError};
use proxy_wasm::types::LogLevel;
use serde::de::DeserializeOwned;

/// Who is running: logged once when a VM starts.
#[derive(Debug, Clone, Copy)]
pub struct PluginInfo {
    pub name: &'static str,
    pub version: &'static str,
    pub git_hash: &'static str,
}

/// Installs the logger (Envoy's log level decides what is shown) and the
/// SDK's panic hook, which logs a panic at critical before the trap.
pub fn init_logging() {
    proxy_wasm::set_log_level(LogLevel::Trace);
}

pub fn log_start(info: &PluginInfo) {
    log::info!(
        "{} {} ({}) starting",
        info.name,
        info.version,
        info.git_hash
    );
}

/// Parses and compiles the plugin configuration with the same code the
/// offline validator uses. Errors are logged with the JSON path of the field;
/// the caller returns `false` from `on_configure`, so Envoy rejects the config.
pub fn load_config<T>(info: &PluginInfo, raw: Option<Vec<u8>>) -> Option<T::Compiled>
where
    T: DeserializeOwned + Compile,
{
    let raw = raw.unwrap_or_default();
    match policies::config::load::<T>(&raw) {
        Ok(compiled) => {
            log::info!("{}: configuration accepted", info.name);
            Some(compiled)
        }
        Err(e) => {
            log_config_error(info, &e);
            None
        }
    }
}

pub fn log_config_error(info: &PluginInfo, e: &ConfigError) {
    log::error!("{}: invalid configuration: {e}", info.name);
}
