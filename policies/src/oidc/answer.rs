//! How a denial is answered: status, reason code, RFC 6750 challenge.

/// Why a request was not let through. Each variant is one reason code,
/// used in the JSON body and in the denial metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denial {
    /// No token where one is required.
    MissingToken,
    /// Tokens in more than one place, or a repeated header.
    AmbiguousToken,
    /// The token was found where its provider (chosen by `iss`) does not read
    /// tokens from: another provider's header, cookie or query parameter.
    TokenSourceNotAllowed,
    /// The token failed verification; the code says why (`token_expired`, ...).
    InvalidToken {
        code: &'static str,
        description: &'static str,
    },
    /// The token's issuer is not a configured provider.
    UnknownIssuer,
    /// The token is valid but its provider is not accepted on this route.
    ProviderNotAllowed,
    /// The token is valid but the claims do not satisfy the route's rule.
    InsufficientClaims { scope_related: bool },
    /// No rule matches and the default is deny.
    NoMatchingRule,
    /// The path is not one the rules can safely judge (`..`, encoded slashes).
    SuspiciousPath,
    /// Keys for the token's issuer are not available (never fetched, or too stale).
    KeysUnavailable { code: &'static str },
}

impl Denial {
    pub fn status(&self) -> u32 {
        match self {
            Self::MissingToken
            | Self::AmbiguousToken
            | Self::TokenSourceNotAllowed
            | Self::InvalidToken { .. }
            | Self::UnknownIssuer => 401,
            Self::ProviderNotAllowed | Self::InsufficientClaims { .. } | Self::NoMatchingRule => {
                403
            }
            Self::SuspiciousPath => 400,
            Self::KeysUnavailable { .. } => 503,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            Self::MissingToken => "missing_token",
            Self::AmbiguousToken => "ambiguous_token",
            Self::TokenSourceNotAllowed => "token_source_not_allowed",
            Self::InvalidToken { code, .. } => code,
            Self::UnknownIssuer => "unknown_issuer",
            Self::ProviderNotAllowed => "provider_not_allowed",
            Self::InsufficientClaims { .. } => "insufficient_claims",
            Self::NoMatchingRule => "no_matching_rule",
            Self::SuspiciousPath => "suspicious_path",
            Self::KeysUnavailable { code } => code,
        }
    }

    pub fn message(&self) -> &'static str {
        match self {
            Self::MissingToken => "a bearer token is required",
            Self::AmbiguousToken => "the request carries more than one token",
            Self::TokenSourceNotAllowed => {
                "tokens of this issuer are not accepted where this one was sent"
            }
            Self::InvalidToken { description, .. } => description,
            Self::UnknownIssuer => "the token's issuer is not trusted here",
            Self::ProviderNotAllowed => "tokens from this issuer are not accepted on this route",
            Self::InsufficientClaims { .. } => "the token does not grant access to this route",
            Self::NoMatchingRule => "no rule allows this request",
            Self::SuspiciousPath => "the request path is not in canonical form",
            Self::KeysUnavailable { .. } => "the identity provider's keys are not available",
        }
    }

    /// RFC 6750 §3: the `WWW-Authenticate` challenge for 401 and 403 answers.
    pub fn www_authenticate(&self, realm: &str) -> Option<String> {
        let realm = realm.replace(['"', '\\'], "");
        match self {
            Self::MissingToken => Some(format!("Bearer realm=\"{realm}\"")),
            Self::AmbiguousToken | Self::TokenSourceNotAllowed => Some(format!(
                "Bearer realm=\"{realm}\", error=\"invalid_request\", error_description=\"{}\"",
                self.message()
            )),
            Self::InvalidToken { .. } | Self::UnknownIssuer => Some(format!(
                "Bearer realm=\"{realm}\", error=\"invalid_token\", error_description=\"{}\"",
                self.message()
            )),
            Self::InsufficientClaims {
                scope_related: true,
            } => Some(format!(
                "Bearer realm=\"{realm}\", error=\"insufficient_scope\", error_description=\"{}\"",
                self.message()
            )),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn statuses_and_challenges_follow_rfc6750() {
        let expired = Denial::InvalidToken {
            code: "token_expired",
            description: "the token has expired",
        };
        assert_eq!(expired.status(), 401);
        assert_eq!(expired.reason(), "token_expired");
        assert_eq!(
            expired.www_authenticate("api").unwrap(),
            "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"the token has expired\""
        );
        assert_eq!(
            Denial::MissingToken.www_authenticate("api").unwrap(),
            "Bearer realm=\"api\""
        );
        let scope = Denial::InsufficientClaims {
            scope_related: true,
        };
        assert_eq!(scope.status(), 403);
        assert!(scope
            .www_authenticate("api")
            .unwrap()
            .contains("insufficient_scope"));
        assert_eq!(Denial::NoMatchingRule.status(), 403);
        assert_eq!(
            Denial::KeysUnavailable {
                code: "keys_not_loaded"
            }
            .status(),
            503
        );
    }

    #[test]
    fn realm_cannot_break_out_of_the_quoted_string() {
        let h = Denial::MissingToken.www_authenticate("a\"b\\c").unwrap();
        assert_eq!(h, "Bearer realm=\"abc\"");
    }
}
