//! Vault (OpenBao) API answers: the first byte picks the parser, the next two
//! the HTTP status, the rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use policies::vault::{
    parse_dynamic, parse_empty, parse_kv2, parse_lease_renew, parse_login, parse_lookup_self,
    parse_token_renew, parse_unwrap_secret_id,
};

fuzz_target!(|data: &[u8]| {
    let [which, hi, lo, body @ ..] = data else {
        return;
    };
    let status = u16::from_be_bytes([*hi, *lo]) % 600;
    let fields = ["api_key".to_string(), "password".to_string()];
    match which % 9 {
        0 => drop(parse_login(status, body)),
        1 => drop(parse_unwrap_secret_id(status, body)),
        2 => drop(parse_kv2(status, body, &fields)),
        3 => drop(parse_dynamic(status, body, &fields)),
        4 => drop(parse_lease_renew(status, body, 3600)),
        5 => drop(parse_token_renew(status, body, 3600)),
        6 => drop(parse_lookup_self(status, body)),
        7 => drop(parse_empty(status, body)),
        _ => drop(policies::inject::parse_token_response(status, body)),
    }
});
