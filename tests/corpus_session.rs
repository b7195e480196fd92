//! Replays the session fuzz corpus (`fuzz/corpus/session/`) through the fuzz oracle, so every
//! `cargo test` checks the inputs fuzzing found interesting.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[allow(unreachable_pub)]
#[path = "../fuzz/oracles/session.rs"]
mod oracle;

#[test]
fn session_corpus_replays() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/session");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        oracle::run(&data);
        count += 1;
    }
    assert!(count >= 10, "the session corpus is missing ({count} files)");
}
