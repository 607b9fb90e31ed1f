//! oidc-auth filter.
