//! Rendering the `Set-Cookie` response header value.

use crate::json::from_json_names;

/// `SameSite` attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameSite {
    Strict,
    Lax,
    None,
}

from_json_names!(SameSite { "Strict" => Strict, "Lax" => Lax, "None" => None });

impl SameSite {
    fn as_str(self) -> &'static str {
        match self {
            Self::Strict => "Strict",
            Self::Lax => "Lax",
            Self::None => "None",
        }
    }
}

/// Validated cookie attributes (see `config.rs` for the rules).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieAttributes {
    pub name: String,
    pub path: String,
    pub domain: Option<String>,
    pub secure: bool,
    pub http_only: bool,
    pub same_site: SameSite,
}

impl CookieAttributes {
    /// `name=value; Path=/; Domain=d; Max-Age=3600; Secure; HttpOnly; SameSite=Lax`.
    pub fn render(&self, value: &str, max_age_secs: u64) -> String {
        let mut out = format!("{}={}; Path={}", self.name, value, self.path);
        if let Some(domain) = &self.domain {
            out.push_str("; Domain=");
            out.push_str(domain);
        }
        out.push_str("; Max-Age=");
        out.push_str(&max_age_secs.to_string());
        if self.secure {
            out.push_str("; Secure");
        }
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        out.push_str("; SameSite=");
        out.push_str(self.same_site.as_str());
        out
    }
}
