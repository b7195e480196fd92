#![no_main]
//! The whole session fed arbitrary server bytes; see `fuzz/oracles/session.rs`.

use libfuzzer_sys::fuzz_target;

#[path = "../oracles/session.rs"]
mod oracle;

fuzz_target!(|data: &[u8]| oracle::run(data));
