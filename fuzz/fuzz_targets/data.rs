#![no_main]
//! `DataEncoder`: whole and chunked encodings agree with a reference encoder, and the wire
//! never carries an early end of data (see `oracles/data.rs`).

use libfuzzer_sys::fuzz_target;

#[path = "../oracles/data.rs"]
mod oracle;

fuzz_target!(|data: &[u8]| oracle::run(data));
