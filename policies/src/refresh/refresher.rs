//! A background-fetched value plus its schedule.

use super::config::RefreshPolicy;
use super::schedule::{Phase, Schedule};
use crate::env::{Now, Random};

/// The state of a refreshed resource at a given time, with its value.
#[derive(Debug, PartialEq, Eq)]
pub enum RefreshState<'a, T> {
    /// Never fetched.
    Empty,
    Fresh {
        value: &'a T,
        fetched_at: Now,
    },
    /// Due for refresh but still served.
    Stale {
        value: &'a T,
        fetched_at: Now,
    },
    /// Too old: not served.
    Expired {
        fetched_at: Now,
    },
}

/// What a caller may use right now.
#[derive(Debug, PartialEq, Eq)]
pub enum Current<'a, T> {
    Usable(&'a T),
    /// Usable, but refreshes are failing or late: worth a metric.
    Stale(&'a T),
    /// Fail closed.
    Unavailable(Unavailable),
}

/// Why no value can be served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unavailable {
    /// No fetch has succeeded yet.
    #[error("the resource has not been loaded yet")]
    NotLoadedYet,
    /// The last good value is older than `max_staleness` (or past its own expiry).
    #[error("the resource is too stale to use")]
    TooStale,
}

impl Unavailable {
    /// `not_loaded_yet` or `keys_too_stale`.
    pub fn reason_code(&self) -> &'static str {
        match self {
            Self::NotLoadedYet => "not_loaded_yet",
            Self::TooStale => "keys_too_stale",
        }
    }
}

/// A value fetched in the background (JWKS, OAuth2 token) and its
/// refresh schedule. Pure: time and randomness are passed in.
#[derive(Clone, Debug)]
pub struct Refresher<T> {
    policy: RefreshPolicy,
    schedule: Schedule,
    value: Option<T>,
}

impl<T> Refresher<T> {
    pub fn new(policy: RefreshPolicy) -> Self {
        Self {
            policy,
            schedule: Schedule::default(),
            value: None,
        }
    }

    pub fn policy(&self) -> &RefreshPolicy {
        &self.policy
    }

    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// Replaces schedule and value with what another VM stored in shared data.
    /// A schedule that claims a fetch without a value is treated as empty.
    pub fn adopt(&mut self, schedule: Schedule, value: Option<T>) {
        self.schedule = if value.is_some() {
            schedule
        } else {
            Schedule {
                fetched_at_ms: None,
                ..schedule
            }
        };
        self.value = value;
    }

    pub fn due(&self, now: Now) -> bool {
        self.schedule.due(now)
    }

    pub fn start_fetch(&mut self, now: Now) {
        self.schedule.start_fetch(now, &self.policy);
    }

    pub fn record_success(&mut self, value: T, now: Now) {
        self.schedule.record_success(now, &self.policy, None);
        self.value = Some(value);
    }

    /// Success for a value with its own expiry (e.g. an access token's `expires_in`).
    pub fn record_success_until(&mut self, value: T, now: Now, expires_at: Now) {
        self.schedule
            .record_success(now, &self.policy, Some(expires_at));
        self.value = Some(value);
    }

    pub fn record_failure(&mut self, now: Now, rng: &mut dyn Random) {
        self.schedule.record_failure(now, &self.policy, rng);
    }

    pub fn request_forced_refetch(&mut self, now: Now) -> bool {
        self.schedule.request_forced_refetch(now, &self.policy)
    }

    pub fn phase(&self, now: Now) -> Phase {
        match (&self.value, self.schedule.phase(now)) {
            (None, _) => Phase::Empty,
            (Some(_), phase) => phase,
        }
    }

    pub fn state(&self, now: Now) -> RefreshState<'_, T> {
        let fetched_at = Now::from_unix_ms(self.schedule.fetched_at_ms.unwrap_or_default());
        match (&self.value, self.phase(now)) {
            (Some(value), Phase::Fresh) => RefreshState::Fresh { value, fetched_at },
            (Some(value), Phase::Stale) => RefreshState::Stale { value, fetched_at },
            (Some(_), Phase::Expired) => RefreshState::Expired { fetched_at },
            _ => RefreshState::Empty,
        }
    }

    pub fn current(&self, now: Now) -> Current<'_, T> {
        match self.state(now) {
            RefreshState::Empty => Current::Unavailable(Unavailable::NotLoadedYet),
            RefreshState::Fresh { value, .. } => Current::Usable(value),
            RefreshState::Stale { value, .. } => Current::Stale(value),
            RefreshState::Expired { .. } => Current::Unavailable(Unavailable::TooStale),
        }
    }
}
