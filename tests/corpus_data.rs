//! Replays the seed corpus of the `data` fuzz target through its oracle, so `cargo test`
//! checks every input found so far without cargo-fuzz.

#![allow(clippy::unwrap_used)]

#[path = "../fuzz/oracles/data.rs"]
mod oracle;

use std::fs;
use std::path::Path;

#[test]
fn corpus_data() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/data");
    let mut replayed = 0;
    for entry in fs::read_dir(&corpus).unwrap() {
        let path = entry.unwrap().path();
        oracle::run(&fs::read(&path).unwrap());
        replayed += 1;
    }
    assert!(replayed > 0, "empty corpus at {}", corpus.display());
}
