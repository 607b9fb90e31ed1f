//! Host glue shared by every plugin: the only crate that calls proxy-wasm
//! (besides the cdylib entry points). Everything here is a thin, non-panicking
//! wrapper; decisions live in `policies`.
#![deny(unsafe_code)]

pub mod callout;
pub mod clock;
pub mod header_map;
pub mod headers;
pub mod metrics;
pub mod plugin;
pub mod properties;
pub mod random;
pub mod raw;
pub mod reply;
pub mod shared;
pub mod vault_driver;

/// Builds a [`plugin::PluginInfo`] from the calling crate's metadata and the
/// git hash `build.rs`-less builds pass in `GIT_HASH` (set by the Makefile).
#[macro_export]
macro_rules! plugin_info {
    () => {
        $crate::plugin::PluginInfo {
            name: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
            git_hash: match option_env!("GIT_HASH") {
                Some(h) => h,
                None => "unknown",
            },
        }
    };
}
