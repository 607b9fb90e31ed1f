//! KV paths templated with the user's subject: `users/{sub}`.
//!
//! The subject comes from a verified token but is still attacker-chosen at
//! the IdP (self-registration): it is percent-encoded, and subjects that
//! would change the path's shape once Vault decodes it (`/`, `\`, `.`, `..`,
//! control characters) are refused instead.

use crate::config::ConfigError;

const PLACEHOLDER: &str = "{sub}";
/// Longest subject accepted in a path (bytes, before encoding).
const MAX_SUBJECT_BYTES: usize = 256;

/// A validated KV path, with or without `{sub}` placeholders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubjectPath {
    text: String,
}

impl SubjectPath {
    /// Validates `text` (`at` names the field in errors): a relative Vault
    /// path whose only placeholder is `{sub}`. A path without it is allowed:
    /// one secret that Vault lets some users read and not others.
    pub fn parse(at: &str, text: &str) -> Result<Self, ConfigError> {
        let probe = text.replace(PLACEHOLDER, "x");
        if probe.contains(['{', '}']) {
            return Err(ConfigError::new(
                at,
                format!("`{text}`: the only placeholder is {PLACEHOLDER}"),
            ));
        }
        crate::vault::validate_path(at, &probe)?;
        Ok(Self {
            text: text.to_string(),
        })
    }

    /// The configured text, placeholders included.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the path depends on the subject.
    pub fn is_templated(&self) -> bool {
        self.text.contains(PLACEHOLDER)
    }

    /// The path for `subject`, or `None` when the subject cannot be used.
    pub fn render(&self, subject: &str) -> Option<String> {
        if !self.is_templated() {
            return Some(self.text.clone());
        }
        Some(self.text.replace(PLACEHOLDER, &encode_subject(subject)?))
    }
}

/// The subject as one path segment: RFC 3986 unreserved characters and `@`
/// as-is, every other byte as `%XX`. `None` for an empty or over-long
/// subject, `.`/`..`, or one containing `/`, `\` or control characters:
/// Vault decodes `%2F` back into a separator, so encoding is not enough.
pub fn encode_subject(subject: &str) -> Option<String> {
    let usable = !subject.is_empty()
        && subject.len() <= MAX_SUBJECT_BYTES
        && subject != "."
        && subject != ".."
        && !subject
            .chars()
            .any(|c| matches!(c, '/' | '\\') || c.is_control());
    if !usable {
        return None;
    }
    let mut out = String::with_capacity(subject.len());
    for b in subject.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Some(out)
}
