//! credential-injector plugin configuration (including its `vault` section):
//! parse and compile, exactly as the filter's `on_configure` does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use policies::config::parse_json;
use policies::inject::InjectorConfigDto;

fn env(name: &str) -> Option<String> {
    (name != "MISSING").then(|| "s3cr3t-value-from-env".to_string())
}

fuzz_target!(|data: &[u8]| {
    let _ = parse_json::<InjectorConfigDto>(data).and_then(|dto| dto.compile(&env));
});
