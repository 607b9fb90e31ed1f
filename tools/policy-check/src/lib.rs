//! `policy-check`: validates and explains a plugin configuration offline,
//! with exactly the code the plugins run in `on_configure`
//! (`policies::oidc::load`, `policies::sticky::load`, and the injector's
//! `parse_json::<InjectorConfigDto>` + `compile`). What passes here is what
//! Envoy accepts, except for the values of environment variables that are not
//! known offline (see [`env::OfflineEnv`]).

pub mod env;
pub mod explain;
mod plugin;
pub mod render;

pub use plugin::{check, load, Compiled, Plugin};
