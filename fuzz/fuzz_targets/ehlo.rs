#![no_main]
//! STUB fuzz target: ehlo.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = data;
});
