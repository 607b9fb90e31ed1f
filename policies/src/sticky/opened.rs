//! A memo of the cookies this VM has opened: a returning client's cookie
//! skips the base64, the AEAD and the rendering of its pin header. In V8 that
//! is most of sticky-session's own time per request (`make bench-vm`).
//!
//! A memo, not state: a request gets the same answer with or without it.
//! Only cookies that opened are kept, under their whole value (the AEAD
//! authenticated every byte of it). The memo shows a hit only while the pin
//! is unexpired under the route's `max_age`, for the same cookie name, and,
//! for a cookie bound to a subject on a route that binds, only for the
//! subject it was checked against (a bound cookie opened on a route that
//! does not bind was checked against none); in every other case the cookie
//! is opened in full, so expiry, the name in the AAD and the subject binding
//! are checked exactly as without the memo. A new configuration (keys)
//! builds a new policy and so a new, empty memo.

use super::codec::{open, Pin, RouteChecks};
use super::endpoint::PinMode;
use super::keys::KeyRing;
use super::rejection::CookieRejection;
use super::subject::Subject;
use crate::secret_keyed_cache::SecretKeyedCache;
use std::cell::RefCell;

/// What an opened cookie gave, for the request that sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OpenedPin {
    pub(crate) pin: Pin,
    /// The pin header's value for the route's mode.
    pub(crate) header_value: String,
}

#[derive(Debug)]
struct Entry {
    /// The AAD binds a value to its cookie name.
    cookie_name: Box<str>,
    /// The subject a bound cookie was checked against (`None` if unbound,
    /// or opened where the route does not bind: not checked).
    checked_subject: Option<Box<str>>,
    mode: PinMode,
    opened: OpenedPin,
}

#[derive(Debug)]
pub(crate) struct OpenedCookies(RefCell<SecretKeyedCache<Entry>>);

/// The inputs of one [`open`] of a cookie value.
pub(crate) struct CookieToOpen<'a> {
    pub(crate) cookie_name: &'a str,
    pub(crate) value: &'a str,
    pub(crate) subject: &'a Subject<'a>,
    pub(crate) now_secs: u64,
    pub(crate) mode: PinMode,
    pub(crate) route: RouteChecks,
}

impl OpenedCookies {
    /// A memo of at most `capacity` cookies (0: off).
    pub(crate) fn new(capacity: usize) -> Self {
        Self(RefCell::new(SecretKeyedCache::new(capacity)))
    }

    /// Opens `c.value` (see [`open`]) through the memo.
    pub(crate) fn open(
        &self,
        ring: &KeyRing,
        c: &CookieToOpen<'_>,
    ) -> Result<OpenedPin, CookieRejection> {
        if let Some(hit) = self.hit(c) {
            return Ok(hit);
        }
        let pin = open(ring, c.cookie_name, c.value, c.subject, c.route, c.now_secs)?;
        let opened = OpenedPin {
            pin,
            header_value: pin.endpoint.pin_header_value(c.mode),
        };
        // Busy only if a caller re-entered; then the memo simply misses this one.
        if let Ok(mut memo) = self.0.try_borrow_mut() {
            let entry = Entry {
                cookie_name: c.cookie_name.into(),
                checked_subject: (pin.bound_to_subject && c.route.bind_subject)
                    .then(|| c.subject.get().map(Into::into))
                    .flatten(),
                mode: c.mode,
                opened: opened.clone(),
            };
            memo.insert(c.value, entry, pin.expires_at, c.now_secs);
        }
        Ok(opened)
    }

    fn hit(&self, c: &CookieToOpen<'_>) -> Option<OpenedPin> {
        let memo = self.0.try_borrow().ok()?;
        let entry = memo.get(c.value, c.now_secs)?;
        let pin = &entry.opened.pin;
        let usable = *entry.cookie_name == *c.cookie_name
            && entry.mode == c.mode
            && !pin.ended(c.route.max_age_secs, c.now_secs);
        // Last, and only where a full open would read the subject.
        let same_subject = || {
            !(pin.bound_to_subject && c.route.bind_subject)
                || entry
                    .checked_subject
                    .as_deref()
                    .is_some_and(|s| Some(s) == c.subject.get())
        };
        (usable && same_subject()).then(|| entry.opened.clone())
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.try_borrow().map_or(0, |m| m.len())
    }
}
