//! Replays the committed fuzz corpora through the fuzz oracles, so `cargo test` keeps every
//! seed and past finding passing without cargo-fuzz.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

// `pub` because each oracle's `pub fn run` is its interface to the fuzz targets.
#[path = "../fuzz/oracles/ehlo.rs"]
pub mod ehlo;
#[path = "../fuzz/oracles/reply.rs"]
pub mod reply;

use std::fs;
use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .map(|path| {
            let data = fs::read(&path).unwrap();
            (path, data)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    files
}

/// Runs `oracle` over every file of both corpora, naming the file that fails.
fn replay(oracle: fn(&[u8])) {
    for (path, data) in corpus("reply").into_iter().chain(corpus("ehlo")) {
        let outcome = std::panic::catch_unwind(|| oracle(&data));
        assert!(outcome.is_ok(), "oracle failed on {}", path.display());
    }
}

#[test]
fn reply_oracle_holds_on_both_corpora() {
    replay(reply::run);
}

#[test]
fn ehlo_oracle_holds_on_both_corpora() {
    replay(ehlo::run);
}
