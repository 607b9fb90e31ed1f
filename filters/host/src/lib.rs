//! Host glue shared by every plugin. The only crate that calls proxy-wasm
//! (besides the cdylib entry points).
