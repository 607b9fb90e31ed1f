//! Counter names, one per outcome, so the filter can define them at start
//! and increment by name without formatting strings per request.

use super::decide::{CookieStatus, ResponseEvent};
use super::rejection::CookieRejection;

/// The counter for a request's cookie status.
pub fn request_counter(status: CookieStatus) -> &'static str {
    match status {
        CookieStatus::Valid => "sticky_cookie_valid",
        CookieStatus::Absent => "sticky_cookie_absent",
        CookieStatus::Skipped => "sticky_route_disabled",
        CookieStatus::Rejected(reason) => match reason {
            CookieRejection::Malformed => "sticky_cookie_rejected_malformed",
            CookieRejection::UnknownKey => "sticky_cookie_rejected_unknown_key",
            CookieRejection::Undecryptable => "sticky_cookie_rejected_undecryptable",
            CookieRejection::Expired => "sticky_cookie_rejected_expired",
            CookieRejection::SubjectMismatch => "sticky_cookie_rejected_subject_mismatch",
            CookieRejection::BadEndpoint => "sticky_cookie_rejected_bad_endpoint",
        },
    }
}

/// The counter for a response event.
pub fn response_counter(event: ResponseEvent) -> &'static str {
    match event {
        ResponseEvent::Kept => "sticky_response_kept",
        ResponseEvent::NewSession => "sticky_response_new_session",
        ResponseEvent::Repinned => "sticky_response_repinned",
        ResponseEvent::Renewed => "sticky_response_renewed",
        ResponseEvent::None => "sticky_response_none",
        ResponseEvent::UpstreamUnusable => "sticky_response_upstream_unusable",
        ResponseEvent::SealFailed => "sticky_response_seal_failed",
    }
}

/// Every counter name, for `define_metric` at VM start.
pub fn all_counters() -> Vec<&'static str> {
    let statuses = [
        CookieStatus::Valid,
        CookieStatus::Absent,
        CookieStatus::Skipped,
    ]
    .into_iter()
    .chain(CookieRejection::ALL.into_iter().map(CookieStatus::Rejected));
    let events = [
        ResponseEvent::Kept,
        ResponseEvent::NewSession,
        ResponseEvent::Repinned,
        ResponseEvent::Renewed,
        ResponseEvent::None,
        ResponseEvent::UpstreamUnusable,
        ResponseEvent::SealFailed,
    ];
    statuses
        .map(request_counter)
        .chain(events.into_iter().map(response_counter))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn counter_names_are_distinct_snake_case() {
        let all = all_counters();
        assert_eq!(all.len(), 9 + 7);
        let mut unique = all.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), all.len());
        for name in all {
            assert!(name.starts_with("sticky_"), "{name}");
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{name}"
            );
        }
    }
}
