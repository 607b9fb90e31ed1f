//! A real Envoy with its HTTP fault filter (`envoy.filters.http.fault`) in front of a server: point a
//! plugin's cluster at [`FaultProxy::port`] and make every call slow (fixed delay) or fail (abort
//! with a status) on demand, through Envoy's runtime (`/runtime_modify`), without restarting either
//! side. Starts transparent (0 % delayed, 0 % aborted).

use std::time::Duration;

use serde_json::json;

use crate::http::Request;
use crate::{Bootstrap, Envoy, EnvoyOptions, Error, Result};

/// An Envoy proxying to one `127.0.0.1` port, with a fault filter driven by runtime keys.
#[derive(Debug)]
pub struct FaultProxy {
    envoy: Envoy,
}

impl FaultProxy {
    /// Proxies its listener to `127.0.0.1:<target_port>`.
    pub fn start(target_port: u16) -> Result<FaultProxy> {
        let fault = json!({
            "name": "envoy.filters.http.fault",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
                // Overridden by the runtime keys fault.http.delay.fixed_delay_percent and
                // fault.http.delay.fixed_duration_ms (and fault.http.abort.*).
                "delay": {"fixed_delay": "1s", "percentage": {"numerator": 0, "denominator": "HUNDRED"}},
                "abort": {"http_status": 503, "percentage": {"numerator": 0, "denominator": "HUNDRED"}}
            }
        });
        let bootstrap = Bootstrap::new()
            .cluster("target", &[target_port])
            .default_cluster("target")
            .http_filter(fault)
            .admin_runtime();
        let opts = EnvoyOptions {
            component_log_level: None,
            log_level: "warning".into(),
            ..EnvoyOptions::default()
        };
        Ok(FaultProxy {
            envoy: Envoy::start(&bootstrap.build(), opts)?,
        })
    }

    /// The port to send traffic to.
    pub fn port(&self) -> u16 {
        self.envoy.listener_port()
    }

    /// Every request waits `delay` before it is forwarded (`Duration::ZERO`: none).
    pub fn set_delay(&self, delay: Duration) -> Result<()> {
        let percent = if delay.is_zero() { 0 } else { 100 };
        self.runtime(&[
            ("fault.http.delay.fixed_delay_percent", percent.to_string()),
            (
                "fault.http.delay.fixed_duration_ms",
                delay.as_millis().to_string(),
            ),
        ])
    }

    /// Requests forwarded so far, and those delayed by the fault filter.
    pub fn counts(&self) -> Result<(u64, u64)> {
        let stats = self.envoy.stats()?;
        let get = |k: &str| stats.get(k).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok((
            get("cluster.target.upstream_rq_total"),
            get("http.ingress.fault.delays_injected"),
        ))
    }

    fn runtime(&self, pairs: &[(&str, String)]) -> Result<()> {
        let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let path = format!("/runtime_modify?{}", query.join("&"));
        let r = Request::post(format!("127.0.0.1:{}", self.envoy.admin_port()), &path).send()?;
        if r.status == 200 {
            Ok(())
        } else {
            Err(Error(format!("{path} answered {}: {}", r.status, r.text())))
        }
    }

    /// Its Envoy (stats, log).
    pub fn envoy(&self) -> &Envoy {
        &self.envoy
    }
}
