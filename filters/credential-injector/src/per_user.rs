//! Vault callouts for per-user credentials, made from the HTTP context so
//! the answer comes back to the paused request.

use mesh_host::callout::CalloutResponse;
use mesh_host::random::HostRandom;
use mesh_host::vault_driver::send_vault_request;
use policies::env::Now;
use policies::inject::per_user::{
    Landed, RequestId, UserAnswer, UserCall, UserSecretRequest, UserStage, UserVault,
};
use policies::vault::{parse_retry_after, VaultError, MAX_RESPONSE_BYTES};

/// Sends `call`; the token identifies the answer in `on_http_call_response`.
/// `None` when Envoy refuses the call (unknown cluster).
pub fn send(users: &UserVault, call: &UserCall) -> Option<u32> {
    send_vault_request(users.connection(), &call.request)
}

/// Reads the answer of the call request `id` made at `stage` and advances it.
pub fn on_answer(
    users: &mut UserVault,
    req: &UserSecretRequest,
    id: RequestId,
    stage: UserStage,
    body_size: usize,
    now: Now,
) -> Landed {
    let mut rng = HostRandom;
    if body_size > MAX_RESPONSE_BYTES {
        let err = VaultError::ResponseTooLarge(body_size);
        return users.on_failed(req, id, &err, now, &mut rng);
    }
    let resp = CalloutResponse::read(body_size, MAX_RESPONSE_BYTES);
    let answer = UserAnswer {
        status: resp.status,
        body: &resp.body,
        retry_after_ms: resp
            .retry_after
            .as_deref()
            .and_then(|v| parse_retry_after(v, now)),
    };
    users.on_answer(req, id, stage, answer, now, &mut rng)
}

/// The call of request `id` could not be sent: its flight ends unanswered
/// (an unknown cluster fails every call: the gate closes too).
pub fn on_not_sent(
    users: &mut UserVault,
    req: &UserSecretRequest,
    id: RequestId,
    now: Now,
) -> Landed {
    users.on_failed(req, id, &VaultError::Unreachable, now, &mut HostRandom)
}

/// Short name of a stage for logs.
pub fn stage_name(stage: UserStage) -> &'static str {
    match stage {
        UserStage::Login { .. } => "login",
        UserStage::Read { .. } => "read",
    }
}
