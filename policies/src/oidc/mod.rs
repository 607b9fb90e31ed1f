//! The oidc-auth decision: which provider, which rule, allow or deny.

pub mod answer;
pub mod token_source;
