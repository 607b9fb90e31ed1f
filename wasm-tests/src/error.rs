//! One error type for the harness: tests only need a readable message.

use std::fmt;

/// A harness failure with a message that says what was being done.
#[derive(Debug)]
pub struct Error(pub String);

/// Result alias used by every harness function.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Builds an error from anything printable.
    pub fn msg(m: impl fmt::Display) -> Self {
        Error(m.to_string())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error(format!("io: {e}"))
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error(format!("json: {e}"))
    }
}

/// Adds context to a `Result` (`.context("starting envoy")?`).
pub trait Context<T> {
    /// Prefixes the error message with `what`.
    fn context(self, what: impl fmt::Display) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error(format!("{what}: {e}")))
    }
}
