//! Test support: start and stop the real components (Envoy, the local IdP, OpenBao, PostgreSQL, echo
//! upstreams) on free loopback ports, talk HTTP to them, and always clean up.
//!
//! Every component is a [`Process`] guard: it runs in its own process group with its log in a temp dir,
//! and is killed (whole group) when the guard drops, also when a test panics. On panic the tail of each
//! log is printed and the temp dir is kept, so CI failures can be read.
//!
//! Faults: [`OpenBao::seal`]/[`OpenBao::unseal`], [`OpenBao::set_rate_limit`] (a real quota, 429),
//! [`FaultProxy`] (Envoy's fault filter delaying calls to a server), [`OpenBao::stop`]. The one
//! stand-in, [`KubeTokenReview`], replaces kube-apiserver's TokenReview endpoint (no cluster here).
//!
//! Binaries come from the repo (`bash scripts/bootstrap.sh`): `.venv/bin/envoy`, `.venv/bin/bao`, `node`
//! on PATH, PostgreSQL from `/usr/lib/postgresql/*/bin`, plugins from `dist/*.wasm` (`make build`).

pub mod envoy;
pub mod envoy_config;
mod error;
pub mod fault_proxy;
pub mod http;
pub mod idp;
pub mod kube_tokenreview;
pub mod openbao;
pub mod paths;
pub mod ports;
pub mod postgres;
pub mod process;
pub mod report;
pub mod template;
pub mod upstream;
pub mod wait;

pub use envoy::{Envoy, EnvoyOptions};
pub use envoy_config::Bootstrap;
pub use error::{Context, Error, Result};
pub use fault_proxy::FaultProxy;
pub use http::{Request, Response};
pub use idp::{Idp, MintedToken, TokenRequest};
pub use kube_tokenreview::KubeTokenReview;
pub use openbao::OpenBao;
pub use postgres::Postgres;
pub use process::{Process, TempDir};
pub use template::render;
pub use upstream::Upstream;
pub use wait::wait_until;
