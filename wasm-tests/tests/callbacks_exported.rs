//! `make build` strips the proxy-wasm callbacks a plugin does not implement (Makefile
//! `CALLBACKS_<plugin>`, scripts/keep_callbacks.sh), so Envoy skips those VM entries. A hook that
//! a plugin implements but whose export was stripped is never called, silently. This test reads
//! each built module's exports and each plugin's source, and fails on any such hook.

use std::path::Path;

use wasm_tests::paths;

/// The SDK trait methods and the export Envoy calls them through.
const HOOKS: &[(&str, &str)] = &[
    ("on_http_request_headers", "proxy_on_request_headers"),
    ("on_http_request_body", "proxy_on_request_body"),
    ("on_http_request_trailers", "proxy_on_request_trailers"),
    ("on_http_response_headers", "proxy_on_response_headers"),
    ("on_http_response_body", "proxy_on_response_body"),
    ("on_http_response_trailers", "proxy_on_response_trailers"),
    ("on_http_call_response", "proxy_on_http_call_response"),
    ("on_log", "proxy_on_log"),
    ("on_done", "proxy_on_done"),
    ("on_tick", "proxy_on_tick"),
    ("on_queue_ready", "proxy_on_queue_ready"),
    ("on_vm_start", "proxy_on_vm_start"),
    ("on_configure", "proxy_on_configure"),
];

const PLUGINS: &[(&str, &str)] = &[
    ("oidc-auth", "oidc_auth.wasm"),
    ("sticky-session", "sticky_session.wasm"),
    ("credential-injector", "credential_injector.wasm"),
];

#[test]
fn every_hook_a_plugin_implements_is_exported_and_unused_ones_are_not() {
    for (crate_dir, wasm) in PLUGINS {
        let module = std::fs::read(paths::wasm(wasm).unwrap()).unwrap();
        let exports = exports(&module).unwrap_or_else(|e| panic!("{wasm}: {e}"));
        let source = source_of(
            &paths::repo_root()
                .join("filters")
                .join(crate_dir)
                .join("src"),
        )
        .unwrap();
        for (method, export) in HOOKS {
            let implemented = source.contains(&format!("fn {method}("));
            let exported = exports.iter().any(|e| e == export);
            assert!(
                !implemented || exported,
                "{crate_dir} implements {method} but {wasm} does not export {export}: \
                 add it to CALLBACKS_{crate_dir} in the Makefile"
            );
        }
        // The point of the stripping: no plugin has a per-request hook after the response (the
        // injector's cleanup runs in its context's drop, on `proxy_on_delete`), so Envoy must not
        // enter them for on_log / on_done; only the injector reads request bodies.
        for unused in ["proxy_on_log", "proxy_on_done", "proxy_on_request_body"] {
            if unused == "proxy_on_request_body" && *crate_dir == "credential-injector" {
                continue;
            }
            assert!(
                !exports.iter().any(|e| e == unused),
                "{wasm} still exports {unused}"
            );
        }
    }
}

/// All `.rs` text under `dir`.
fn source_of(dir: &Path) -> std::io::Result<String> {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            text.push_str(&source_of(&path)?);
        } else if path.extension().is_some_and(|e| e == "rs") {
            text.push_str(&std::fs::read_to_string(&path)?);
        }
    }
    Ok(text)
}

/// The export names of a wasm binary (section 7).
fn exports(module: &[u8]) -> Result<Vec<String>, String> {
    let mut r = Reader {
        bytes: module,
        at: 8,
    };
    if module.get(..4) != Some(b"\0asm") {
        return Err("not a wasm module".into());
    }
    while r.at < module.len() {
        let id = r.byte()?;
        let size = r.leb()? as usize;
        let end = r.at + size;
        if id == 7 {
            let count = r.leb()?;
            let mut names = Vec::new();
            for _ in 0..count {
                let len = r.leb()? as usize;
                let name = module
                    .get(r.at..r.at + len)
                    .ok_or("export name out of bounds")?;
                names.push(String::from_utf8_lossy(name).into_owned());
                r.at += len;
                r.byte()?; // kind
                r.leb()?; // index
            }
            return Ok(names);
        }
        r.at = end;
    }
    Err("no export section".into())
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.bytes.get(self.at).ok_or("truncated module")?;
        self.at += 1;
        Ok(b)
    }

    fn leb(&mut self) -> Result<u64, String> {
        let (mut value, mut shift) = (0u64, 0);
        loop {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
        }
    }
}
