//! The oidc-auth decision: which provider, which rule, allow or deny.

pub mod answer;
pub mod discovery;
pub mod token_source;
