#![no_main]
//! Fuzz target: see `oracles/reply.rs` for the properties checked.

use libfuzzer_sys::fuzz_target;

#[path = "../oracles/reply.rs"]
mod oracle;

fuzz_target!(|data: &[u8]| oracle::run(data));
