//! The host side of native signature verification (see
//! `policies::jwt::host_verify` for the protocol and the self-test).

use mesh_host::raw;

/// Calls Envoy's `verify_signature`; None when this Envoy lacks it or the call fails.
pub fn call(args: &[u8]) -> Option<Vec<u8>> {
    raw::call_foreign_function("verify_signature", args)
        .ok()
        .flatten()
}
