//! Replays the MIME fuzz corpus through the fuzz oracle, so `cargo test` keeps every input the
//! fuzzer found interesting passing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[allow(unreachable_pub)] // `pub` for the fuzz target, which includes the same file.
#[path = "../fuzz/oracles/mime.rs"]
mod oracle;

#[test]
fn corpus_replays_cleanly() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/mime");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            oracle::run(&std::fs::read(&path).unwrap());
            count += 1;
        }
    }
    assert!(count > 0, "no corpus in {}", dir.display());
}
