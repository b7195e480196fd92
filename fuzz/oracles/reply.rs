//! Oracle for reply framing, run by the `reply` fuzz target and over the corpus by
//! `tests/corpus_reply.rs`.
//!
//! Whatever the bytes, under default and under tight limits: pushing them whole, split in two
//! at a point taken from the data, or (when short) one at a time gives the same replies and
//! the same error; an unfinished reply never holds more than `max_reply_len` bytes; every
//! reply frames back to itself from its `to_wire` form; nothing panics.

use smtpwire::reply::{FramingError, Reply, ReplyFramer, ReplyLimits};

/// Inputs up to this long are also pushed one byte at a time.
const BYTEWISE_MAX: usize = 1024;

/// Checks every property above on `data`; panics on a violation.
pub fn run(data: &[u8]) {
    for limits in [ReplyLimits::default(), tight()] {
        let whole = frame(limits, [data]);
        let (head, tail) = data.split_at(split_point(data));
        assert_eq!(
            frame(limits, [head, tail]),
            whole,
            "split at {}",
            head.len()
        );
        if data.len() <= BYTEWISE_MAX {
            assert_eq!(frame(limits, data.chunks(1)), whole, "byte at a time");
        }
        for reply in whole.0.iter().flatten() {
            let again = frame(ReplyLimits::default(), [&reply.to_wire()[..]]);
            assert_eq!(again, (vec![Ok(reply.clone())], 0), "to_wire round trip");
        }
    }
}

/// Limits small enough for short inputs to reach every limit check.
fn tight() -> ReplyLimits {
    ReplyLimits::default()
        .with_max_line_len(24)
        .with_max_lines(4)
        .with_max_reply_len(64)
}

/// A split point that depends on every byte, so the fuzzer controls it.
fn split_point(data: &[u8]) -> usize {
    let hash = data.iter().fold(0_usize, |hash, &b| {
        hash.wrapping_mul(31).wrapping_add(usize::from(b))
    });
    hash % (data.len() + 1)
}

/// Everything the framer returns for `chunks` up to the first error, and what it then holds.
fn frame<'a>(
    limits: ReplyLimits,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> (Vec<Result<Reply, FramingError>>, usize) {
    let mut framer = ReplyFramer::new(limits);
    let mut outcomes = Vec::new();
    for chunk in chunks {
        framer.push(chunk);
        while !matches!(outcomes.last(), Some(Err(_))) {
            match framer.next_reply() {
                Ok(Some(reply)) => outcomes.push(Ok(reply)),
                Ok(None) => break,
                Err(error) => outcomes.push(Err(error)),
            }
        }
        assert!(
            framer.buffered() <= limits.max_reply_len(),
            "holds {} bytes of an unfinished reply",
            framer.buffered()
        );
    }
    if let Some(Err(error)) = outcomes.last() {
        assert_eq!(framer.next_reply(), Err(*error), "errors are sticky");
        assert_eq!(framer.buffered(), 0, "the broken reply is dropped");
    }
    (outcomes, framer.buffered())
}
