//! Non-panicking wrappers of the hostcalls that can fail at run time.
//!
//! The SDK's own wrappers `panic!` on any status they do not expect, and a
//! panic traps the VM (every later request then fails or, with FAIL_OPEN, the
//! filter is skipped). Here every status comes back as a value. The extern
//! declarations return `u32`, not the SDK's `Status` enum: an unknown status
//! code from a newer host must not become an invalid enum value.
//!
//! This is the only module in the workspace allowed to use `unsafe`.
#![allow(unsafe_code)]

use std::ptr::{null, null_mut};

/// A hostcall status other than Ok.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostStatus {
    NotFound,
    BadArgument,
    SerializationFailure,
    ParseFailure,
    Empty,
    CasMismatch,
    InternalFailure,
    Unknown(u32),
}

impl HostStatus {
    fn from_code(code: u32) -> Result<(), HostStatus> {
        match code {
            0 => Ok(()),
            1 => Err(Self::NotFound),
            2 => Err(Self::BadArgument),
            3 => Err(Self::SerializationFailure),
            4 => Err(Self::ParseFailure),
            7 => Err(Self::Empty),
            8 => Err(Self::CasMismatch),
            10 => Err(Self::InternalFailure),
            other => Err(Self::Unknown(other)),
        }
    }
}

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_shared_data(
        key_data: *const u8,
        key_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
        return_cas: *mut u32,
    ) -> u32;
    fn proxy_set_shared_data(
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
        cas: u32,
    ) -> u32;
    fn proxy_get_property(
        path_data: *const u8,
        path_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> u32;
    fn proxy_set_property(
        path_data: *const u8,
        path_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_define_metric(
        metric_type: u32,
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32;
    fn proxy_increment_metric(metric_id: u32, offset: i64) -> u32;
    fn proxy_get_log_level(return_level: *mut u32) -> u32;
    fn proxy_get_header_map_pairs(
        map_type: u32,
        return_map_data: *mut *mut u8,
        return_map_size: *mut usize,
    ) -> u32;
    fn proxy_record_metric(metric_id: u32, value: u64) -> u32;
    fn proxy_call_foreign_function(
        function_name_data: *const u8,
        function_name_size: usize,
        arguments_data: *const u8,
        arguments_size: usize,
        results_data: *mut *mut u8,
        results_size: *mut usize,
    ) -> u32;
}

/// Native builds (unit tests, clippy) link no host: every call reports
/// `InternalFailure`, which every caller must handle anyway.
#[cfg(not(target_arch = "wasm32"))]
mod native {
    pub unsafe fn proxy_get_shared_data(
        _: *const u8,
        _: usize,
        _: *mut *mut u8,
        _: *mut usize,
        _: *mut u32,
    ) -> u32 {
        10
    }
    pub unsafe fn proxy_set_shared_data(
        _: *const u8,
        _: usize,
        _: *const u8,
        _: usize,
        _: u32,
    ) -> u32 {
        10
    }
    pub unsafe fn proxy_get_property(
        _: *const u8,
        _: usize,
        _: *mut *mut u8,
        _: *mut usize,
    ) -> u32 {
        10
    }
    pub unsafe fn proxy_set_property(_: *const u8, _: usize, _: *const u8, _: usize) -> u32 {
        10
    }
    pub unsafe fn proxy_define_metric(_: u32, _: *const u8, _: usize, _: *mut u32) -> u32 {
        10
    }
    pub unsafe fn proxy_increment_metric(_: u32, _: i64) -> u32 {
        10
    }
    pub unsafe fn proxy_record_metric(_: u32, _: u64) -> u32 {
        10
    }
    pub unsafe fn proxy_get_log_level(_: *mut u32) -> u32 {
        10
    }
    pub unsafe fn proxy_get_header_map_pairs(_: u32, _: *mut *mut u8, _: *mut usize) -> u32 {
        10
    }
    pub unsafe fn proxy_call_foreign_function(
        _: *const u8,
        _: usize,
        _: *const u8,
        _: usize,
        _: *mut *mut u8,
        _: *mut usize,
    ) -> u32 {
        10
    }
}
#[cfg(not(target_arch = "wasm32"))]
use native::*;

/// Takes ownership of a buffer the host allocated through the SDK's exported
/// `proxy_on_memory_allocate` (a `Vec<u8>` allocation of exactly `size`).
///
/// SAFETY: `data` is null or was returned by the host for this call, with
/// `size` bytes, allocated by our own allocator with capacity `size`.
unsafe fn take_host_buffer(data: *mut u8, size: usize) -> Option<Vec<u8>> {
    if data.is_null() {
        None
    } else {
        Some(Vec::from_raw_parts(data, size, size))
    }
}

/// Property paths are the segments joined by NUL bytes.
fn serialize_path(path: &[&str]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(path.iter().map(|p| p.len() + 1).sum());
    for (i, part) in path.iter().enumerate() {
        if i > 0 {
            bytes.push(0);
        }
        bytes.extend_from_slice(part.as_bytes());
    }
    bytes
}

/// Reads a shared-data entry: its bytes (None when absent) and its CAS token.
pub fn get_shared_data(key: &str) -> Result<(Option<Vec<u8>>, u32), HostStatus> {
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    let mut cas: u32 = 0;
    // SAFETY: pointers refer to live locals; the host writes at most these.
    let code =
        unsafe { proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas) };
    match HostStatus::from_code(code) {
        // SAFETY: on Ok the host handed us `data`/`size` from our allocator.
        Ok(()) => Ok((unsafe { take_host_buffer(data, size) }, cas)),
        Err(HostStatus::NotFound) => Ok((None, 0)),
        Err(e) => Err(e),
    }
}

/// Writes a shared-data entry. `cas = 0` writes unconditionally; otherwise
/// the write fails with `CasMismatch` when another VM wrote in between.
pub fn set_shared_data(key: &str, value: &[u8], cas: u32) -> Result<(), HostStatus> {
    // SAFETY: the host only reads the given ranges during the call.
    let code =
        unsafe { proxy_set_shared_data(key.as_ptr(), key.len(), value.as_ptr(), value.len(), cas) };
    HostStatus::from_code(code)
}

/// Reads a property (`["upstream", "address"]`); Ok(None) when absent.
pub fn get_property(path: &[&str]) -> Result<Option<Vec<u8>>, HostStatus> {
    let serialized = serialize_path(path);
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    // SAFETY: pointers refer to live locals.
    let code =
        unsafe { proxy_get_property(serialized.as_ptr(), serialized.len(), &mut data, &mut size) };
    match HostStatus::from_code(code) {
        // SAFETY: on Ok the host handed us `data`/`size` from our allocator.
        Ok(()) => Ok(unsafe { take_host_buffer(data, size) }),
        Err(HostStatus::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A header map (request/response headers: the ABI's `MapType` numbers) in
/// the host's serialization, unparsed: see `headers::HeaderMap`. Ok(None)
/// when the host has none.
pub fn get_header_map_bytes(map_type: u32) -> Result<Option<Vec<u8>>, HostStatus> {
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    // SAFETY: pointers refer to live locals.
    let code = unsafe { proxy_get_header_map_pairs(map_type, &mut data, &mut size) };
    match HostStatus::from_code(code) {
        // SAFETY: on Ok the host handed us `data`/`size` from our allocator.
        Ok(()) => Ok(unsafe { take_host_buffer(data, size) }),
        Err(HostStatus::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Sets a property; in Envoy `["x"]` lands in filter state as `wasm.x`.
pub fn set_property(path: &[&str], value: &[u8]) -> Result<(), HostStatus> {
    let serialized = serialize_path(path);
    // SAFETY: the host only reads the given ranges during the call.
    let code = unsafe {
        proxy_set_property(
            serialized.as_ptr(),
            serialized.len(),
            value.as_ptr(),
            value.len(),
        )
    };
    HostStatus::from_code(code)
}

/// Metric kinds, as numbered by the ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    Counter = 0,
    Gauge = 1,
    Histogram = 2,
}

pub fn define_metric(kind: MetricKind, name: &str) -> Result<u32, HostStatus> {
    let mut id: u32 = 0;
    // SAFETY: pointers refer to live locals.
    let code = unsafe { proxy_define_metric(kind as u32, name.as_ptr(), name.len(), &mut id) };
    HostStatus::from_code(code).map(|()| id)
}

pub fn increment_metric(id: u32, offset: i64) -> Result<(), HostStatus> {
    // SAFETY: plain values.
    HostStatus::from_code(unsafe { proxy_increment_metric(id, offset) })
}

pub fn record_metric(id: u32, value: u64) -> Result<(), HostStatus> {
    // SAFETY: plain values.
    HostStatus::from_code(unsafe { proxy_record_metric(id, value) })
}

/// The host's log level for this plugin (0 trace .. 5 critical, 6 off).
/// The SDK's `get_log_level` panics on a failed call and stores the raw
/// number into its enum; here it is a plain value.
pub fn get_log_level() -> Result<u32, HostStatus> {
    let mut level: u32 = 0;
    // SAFETY: the pointer refers to a live local.
    let code = unsafe { proxy_get_log_level(&mut level) };
    HostStatus::from_code(code).map(|()| level)
}

/// Calls a host foreign function (e.g. `verify_signature`); `NotFound` when
/// this Envoy does not have it.
pub fn call_foreign_function(name: &str, args: &[u8]) -> Result<Option<Vec<u8>>, HostStatus> {
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    // SAFETY: pointers refer to live locals; the host reads the given ranges.
    let code = unsafe {
        proxy_call_foreign_function(
            name.as_ptr(),
            name.len(),
            if args.is_empty() {
                null()
            } else {
                args.as_ptr()
            },
            args.len(),
            &mut data,
            &mut size,
        )
    };
    // SAFETY: on Ok the host handed us `data`/`size` from our allocator.
    HostStatus::from_code(code).map(|()| unsafe { take_host_buffer(data, size) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn property_paths_are_nul_separated() {
        assert_eq!(
            serialize_path(&["upstream", "address"]),
            b"upstream\0address".to_vec()
        );
        assert_eq!(serialize_path(&["x"]), b"x".to_vec());
        assert!(serialize_path(&[]).is_empty());
    }

    #[test]
    fn unknown_status_codes_are_values_not_panics() {
        assert_eq!(HostStatus::from_code(6), Err(HostStatus::Unknown(6)));
        assert_eq!(HostStatus::from_code(8), Err(HostStatus::CasMismatch));
        assert_eq!(HostStatus::from_code(0), Ok(()));
    }
}
