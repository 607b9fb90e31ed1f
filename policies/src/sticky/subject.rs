//! The verified subject, read from the host only when a decision needs it.
//!
//! Why lazy: in Envoy the read is a property lookup, the dearest call of a
//! kept session, and most requests need no subject (an unbound cookie, no
//! identity hash key). It is read to open a bound cookie, to seal or add a
//! binding, and for an identity hash key; at most once per request.

use std::cell::OnceCell;
use std::fmt;

/// The request's verified subject (e.g. the JWT `sub` checked by the auth
/// filter), known up front or read on first need.
pub struct Subject<'a> {
    source: Source<'a>,
    read: OnceCell<Option<String>>,
}

enum Source<'a> {
    Known(Option<&'a str>),
    Host(&'a dyn Fn() -> Option<String>),
}

impl<'a> Subject<'a> {
    /// A subject known up front (tests, tools).
    pub fn known(subject: Option<&'a str>) -> Self {
        Self {
            source: Source::Known(subject),
            read: OnceCell::new(),
        }
    }

    /// The subject `read` returns, asked at most once and only if needed.
    pub fn read_with(read: &'a dyn Fn() -> Option<String>) -> Self {
        Self {
            source: Source::Host(read),
            read: OnceCell::new(),
        }
    }

    /// The subject, reading it now if it was not read yet.
    pub fn get(&self) -> Option<&str> {
        match self.source {
            Source::Known(subject) => subject,
            Source::Host(read) => self.read.get_or_init(read).as_deref(),
        }
    }

    /// Whether the host was asked (a kept, unbound session never asks).
    pub fn was_read(&self) -> bool {
        self.read.get().is_some()
    }
}

/// Never prints the subject (personal data): only whether it was read.
impl fmt::Debug for Subject<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subject")
            .field("read", &self.was_read())
            .finish_non_exhaustive()
    }
}
