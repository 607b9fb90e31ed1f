//! Vault callouts for per-user credentials, made from the HTTP context so
//! the answer comes back to the paused request.

use mesh_host::callout::{dispatch, Callout, CalloutResponse, DispatchError};
use policies::env::Now;
use policies::inject::per_user::{
    UserCall, UserSecretRequest, UserStage, UserStep, UserVault, UserVaultError,
};
use policies::vault::{VaultError, MAX_RESPONSE_BYTES};
use std::time::Duration;

/// Sends `call`; the token identifies the answer in `on_http_call_response`.
/// `dispatch_failed` when Envoy refuses the call (unknown cluster).
pub fn send(users: &UserVault, call: &UserCall) -> Result<u32, UserVaultError> {
    let conn = users.connection();
    let req = &call.request;
    let headers: Vec<(&str, &str)> = req.headers.iter().map(|(k, v)| (*k, v.expose())).collect();
    let body = req.body_bytes();
    let callout = Callout {
        cluster: &conn.cluster,
        method: req.method.as_str(),
        authority: &conn.authority,
        path: &req.path,
        headers,
        body: (!body.is_empty()).then_some(body),
        timeout: Duration::from_millis(conn.timeout_ms),
    };
    dispatch(&callout).map_err(|e| {
        if e == DispatchError::BadArgument {
            log::error!(
                "credential_injector: cannot call Vault cluster {} (unknown cluster?)",
                conn.cluster
            );
        }
        UserVaultError::Unavailable("dispatch_failed")
    })
}

/// Reads the answer of the call made at `stage` and advances the request.
pub fn on_answer(
    users: &mut UserVault,
    req: &UserSecretRequest,
    stage: UserStage,
    body_size: usize,
    now: Now,
) -> UserStep {
    if body_size > MAX_RESPONSE_BYTES {
        return users.on_failed(&VaultError::ResponseTooLarge(body_size));
    }
    let resp = CalloutResponse::read(body_size, MAX_RESPONSE_BYTES);
    users.on_answer(req, stage, resp.status, &resp.body, now)
}

/// Short name of a stage for logs.
pub fn stage_name(stage: UserStage) -> &'static str {
    match stage {
        UserStage::Login { .. } => "login",
        UserStage::Read { .. } => "read",
    }
}
