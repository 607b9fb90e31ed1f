//! Metrics defined once per VM; Envoy aggregates all VMs into one stat
//! (`wasmcustom.<name>` in /stats). Recording never fails a request.

use crate::raw::{self, MetricKind};

/// A metric handle; a failed definition yields a handle that records nothing.
#[derive(Clone, Copy, Debug)]
pub struct Metric(Option<u32>);

impl Metric {
    pub fn counter(name: &str) -> Self {
        Self::define(MetricKind::Counter, name)
    }

    pub fn gauge(name: &str) -> Self {
        Self::define(MetricKind::Gauge, name)
    }

    pub fn histogram(name: &str) -> Self {
        Self::define(MetricKind::Histogram, name)
    }

    fn define(kind: MetricKind, name: &str) -> Self {
        match raw::define_metric(kind, name) {
            Ok(id) => Self(Some(id)),
            Err(status) => {
                log::warn!("could not define metric {name}: {status:?}");
                Self(None)
            }
        }
    }

    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: i64) {
        if let Some(id) = self.0 {
            let _ = raw::increment_metric(id, n);
        }
    }

    /// Sets a gauge or records a histogram sample.
    pub fn record(&self, value: u64) {
        if let Some(id) = self.0 {
            let _ = raw::record_metric(id, value);
        }
    }
}

/// Counters keyed by a reason code (`oidc_auth.denied.token_expired`),
/// defined up front from the plugin's fixed list of reasons so the hot path
/// only increments.
#[derive(Debug, Default)]
pub struct ReasonCounters {
    by_reason: Vec<(&'static str, Metric)>,
}

impl ReasonCounters {
    pub fn define(prefix: &str, reasons: &[&'static str]) -> Self {
        Self {
            by_reason: reasons
                .iter()
                .map(|r| (*r, Metric::counter(&format!("{prefix}.{r}"))))
                .collect(),
        }
    }

    pub fn inc(&self, reason: &str) {
        if let Some((_, m)) = self.by_reason.iter().find(|(r, _)| *r == reason) {
            m.inc();
        }
    }
}
