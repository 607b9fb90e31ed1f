//! Per-user Vault credentials: the backend credential is read with the
//! user's own Vault token, so Vault's policies decide per user.
//!
//! For a request with a verified identity, [`super::Injector::decide`]
//! checks that the bearer token in `Authorization` is the token oidc-auth
//! verified ([`user_token`]), renders the KV path for the subject
//! ([`SubjectPath`]) and hands a [`UserSecretRequest`] to the filter. The
//! filter drives [`UserVault`]: cached value, or login with the user's JWT
//! (`vault.per_user_jwt`), then a KV v2 read with the user's Vault token,
//! then [`super::Injector::complete`]. Nothing here performs I/O.

mod config;
mod error;
mod flights;
mod flow;
mod path;
mod token;

pub use config::{PerUserSecret, VaultPerUserDto};
pub use error::UserVaultError;
pub use flights::RequestId;
pub use flow::{Landed, UserAnswer, UserCall, UserSecretRequest, UserStage, UserStep, UserVault};
pub use path::{encode_subject, SubjectPath};
pub use token::user_token;

#[cfg(test)]
mod tests;
