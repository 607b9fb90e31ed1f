//! sticky-session plugin configuration: parse and compile.
#![no_main]

use libfuzzer_sys::fuzz_target;

fn env(name: &str) -> Option<String> {
    match name {
        "MISSING" => None,
        "SHORT" => Some("c2hvcnQ=".into()),
        _ => Some("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into()),
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = policies::sticky::load(data, &env);
});
