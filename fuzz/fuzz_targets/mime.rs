#![no_main]
//! Random builder inputs → encode → parse → compare; see `fuzz/oracles/mime.rs`.
use libfuzzer_sys::fuzz_target;

#[path = "../oracles/mime.rs"]
mod oracle;

fuzz_target!(|data: &[u8]| oracle::run(data));
