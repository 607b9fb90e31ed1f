//! One counter per request cookie status and response event, defined once
//! per VM: `sticky_session.cookie_valid`, `sticky_session.response_repinned`...
//! (`/stats/prometheus`: `sticky_session_cookie_valid`).

use mesh_host::metrics::Metric;
use policies::sticky::metrics::all_counters;

const PREFIX: &str = "sticky_session";

#[derive(Debug, Default)]
pub struct Counters {
    by_name: Vec<(&'static str, Metric)>,
}

impl Counters {
    pub fn define() -> Self {
        let by_name = all_counters()
            .into_iter()
            .map(|name| (name, Metric::counter(&metric_name(name))))
            .collect();
        Self { by_name }
    }

    /// Increments the counter a `policies::sticky::metrics` name maps to.
    pub fn inc(&self, name: &str) {
        if let Some((_, m)) = self.by_name.iter().find(|(n, _)| *n == name) {
            m.inc();
        }
    }
}

/// `sticky_cookie_valid` → `sticky_session.cookie_valid`.
fn metric_name(name: &str) -> String {
    format!("{PREFIX}.{}", name.strip_prefix("sticky_").unwrap_or(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_drop_the_core_prefix_and_stay_distinct() {
        assert_eq!(
            metric_name("sticky_cookie_valid"),
            "sticky_session.cookie_valid"
        );
        let mut names: Vec<String> = all_counters().into_iter().map(metric_name).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}
