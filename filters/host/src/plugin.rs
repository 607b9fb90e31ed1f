//! Plugin start-up: logging, identity line, configuration loading.

use policies::config::{Compile, ConfigError};
use proxy_wasm::types::LogLevel;

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

/// Lowers the `log` crate's filter to Envoy's current level for this plugin,
/// so a `log::debug!` that Envoy would drop is neither formatted nor sent
/// across the VM boundary (a hostcall with a string copy per call). Cheap
/// (one hostcall, no copy): called once per request, so a level changed at
/// run time (admin `/logging`) is honoured from the next request on.
pub fn sync_log_level() {
    if let Ok(level) = crate::raw::get_log_level() {
        log::set_max_level(level_filter(level));
    }
}

/// Envoy's numbering (trace 0 .. critical 5, off 6). `critical` keeps
/// `error!`: the `log` crate has no critical level and errors must show.
fn level_filter(level: u32) -> log::LevelFilter {
    match level {
        0 => log::LevelFilter::Trace,
        1 => log::LevelFilter::Debug,
        2 => log::LevelFilter::Info,
        3 => log::LevelFilter::Warn,
        4 | 5 => log::LevelFilter::Error,
        _ => log::LevelFilter::Off,
    }
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
    T: policies::config::FromJson + Compile,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envoy_levels_map_to_log_filters_and_debug_is_dropped_at_warn() {
        assert_eq!(level_filter(0), log::LevelFilter::Trace);
        assert_eq!(level_filter(1), log::LevelFilter::Debug);
        assert_eq!(level_filter(3), log::LevelFilter::Warn);
        assert!(log::Level::Debug > level_filter(3));
        assert_eq!(level_filter(5), log::LevelFilter::Error);
        assert_eq!(level_filter(6), log::LevelFilter::Off);
        assert_eq!(level_filter(42), log::LevelFilter::Off);
    }
}
