#![no_main]
//! Fuzz target: see `oracles/ehlo.rs` for the properties checked.

use libfuzzer_sys::fuzz_target;

#[path = "../oracles/ehlo.rs"]
mod oracle;

fuzz_target!(|data: &[u8]| oracle::run(data));
