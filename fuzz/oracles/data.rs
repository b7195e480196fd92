//! Oracle for `DataEncoder`: every framing and line-ending mode, whole and chunked, against a
//! byte-at-a-time reference encoder; every accepted output checked against the wire invariants.
//!
//! Shared by the `data` fuzz target and `tests/corpus_data.rs`, so it uses only the public API.
//! The first input byte seeds the chunking; the rest is the message data.

#![allow(
    unreachable_pub,
    clippy::indexing_slicing,
    clippy::expect_used,
    clippy::panic,
    clippy::unwrap_used
)]

use smtpwire::data::{DataEncoder, Framing, LineEndings};
use smtpwire::InputError;

const MODES: [(Framing, LineEndings); 4] = [
    (Framing::Data, LineEndings::Strict),
    (Framing::Data, LineEndings::Normalize),
    (Framing::Bdat, LineEndings::Strict),
    (Framing::Bdat, LineEndings::Normalize),
];

/// Inputs up to this length are also split in two at every position.
const ALL_SPLITS_UP_TO: usize = 64;

pub fn run(data: &[u8]) {
    let (seed, input) = match data.split_first() {
        Some((&seed, input)) => (seed, input),
        None => (0, data),
    };
    for (framing, line_endings) in MODES {
        let expected = reference(input, framing, line_endings);
        if let Ok(wire) = &expected {
            check_wire(input, wire, framing);
        }
        let mut chunkings = vec![
            vec![input.len()],
            vec![1; input.len()],
            seeded_lengths(seed, input.len()),
        ];
        if input.len() <= ALL_SPLITS_UP_TO {
            chunkings.extend((0..=input.len()).map(|at| vec![at, input.len() - at]));
        }
        for lengths in chunkings {
            let actual = encode(input, &lengths, framing, line_endings);
            assert_eq!(
                actual, expected,
                "{framing:?} {line_endings:?}, chunks {lengths:?}, input {input:?}"
            );
        }
    }
}

/// Chunk lengths from 0 to 16 drawn from `seed`; empty chunks must be harmless too.
fn seeded_lengths(seed: u8, total: usize) -> Vec<usize> {
    let mut state = u32::from(seed) | 0x100;
    let mut lengths = Vec::new();
    let mut left = total;
    while left > 0 {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let length = ((state >> 16) % 17) as usize;
        lengths.push(length.min(left));
        left -= length.min(left);
    }
    lengths
}

/// Encodes `input` cut into chunks of `lengths`, returning the whole wire or the first error.
fn encode(
    input: &[u8],
    lengths: &[usize],
    framing: Framing,
    line_endings: LineEndings,
) -> Result<Vec<u8>, InputError> {
    let mut encoder = DataEncoder::new(framing, line_endings);
    let mut wire = Vec::new();
    let mut rest = input;
    for &length in lengths {
        let (chunk, after) = rest.split_at(length);
        let before = wire.len();
        if let Err(error) = encoder.encode(chunk, &mut wire) {
            assert_eq!(wire.len(), before, "output appended on error");
            // Sticky: the error comes back, and the data can never be terminated.
            assert_eq!(encoder.encode(b"x", &mut wire), Err(error.clone()));
            assert_eq!(encoder.finish(&mut wire), Err(error.clone()));
            assert_eq!(wire.len(), before);
            return Err(error);
        }
        rest = after;
    }
    assert!(rest.is_empty());
    encoder.finish(&mut wire)?;
    assert!(encoder.finish(&mut wire).is_err(), "finished twice");
    assert!(
        encoder.encode(b"x", &mut wire).is_err(),
        "data after finish"
    );
    Ok(wire)
}

/// The encoder's contract, one octet at a time: errors in input order, a CR judged by the
/// octet after it, a line too long at its 999th octet.
fn reference(
    input: &[u8],
    framing: Framing,
    line_endings: LineEndings,
) -> Result<Vec<u8>, InputError> {
    let mut wire = Vec::new();
    let mut line_len = 0;
    let mut at = 0;
    while at < input.len() {
        let octet = input[at];
        at += 1;
        match octet {
            0 => return Err(InputError::Nul),
            b'\r' | b'\n' => {
                let crlf = octet == b'\r' && input.get(at) == Some(&b'\n');
                if crlf {
                    at += 1;
                } else if line_endings == LineEndings::Strict {
                    return Err(InputError::BareLineEnding);
                }
                wire.extend_from_slice(b"\r\n");
                line_len = 0;
            }
            _ => {
                if line_len == 998 {
                    return Err(InputError::LineTooLong);
                }
                if line_len == 0 && octet == b'.' && framing == Framing::Data {
                    wire.push(b'.');
                }
                wire.push(octet);
                line_len += 1;
            }
        }
    }
    if line_len > 0 {
        wire.extend_from_slice(b"\r\n");
    }
    if framing == Framing::Data {
        wire.extend_from_slice(b".\r\n");
    }
    Ok(wire)
}

/// The SMTP smuggling invariants, stated on the wire alone and then against the input.
fn check_wire(input: &[u8], wire: &[u8], framing: Framing) {
    assert!(!wire.contains(&0), "NUL on the wire");
    for (at, &octet) in wire.iter().enumerate() {
        match octet {
            b'\r' => assert_eq!(wire.get(at + 1), Some(&b'\n'), "bare CR at {at}"),
            b'\n' => assert_eq!(at.checked_sub(1).map(|i| wire[i]), Some(b'\r'), "bare LF"),
            _ => {}
        }
    }
    let mut lines: Vec<&[u8]> = wire.split(|&octet| octet == b'\n').collect();
    assert_eq!(
        lines.pop(),
        Some(&[][..]),
        "the wire ends with CRLF, or is empty"
    );
    let lines: Vec<&[u8]> = lines.iter().map(|line| &line[..line.len() - 1]).collect();
    for line in &lines {
        let stuffed = framing == Framing::Data && line.first() == Some(&b'.');
        assert!(
            line.len() <= 998 + usize::from(stuffed),
            "line over 998 octets"
        );
    }
    let content = match framing {
        Framing::Data => {
            let (last, content) = lines.split_last().expect("DATA ends with a line");
            assert_eq!(*last, b".", "no terminator at the end");
            content
                .iter()
                .map(|line| match line.strip_prefix(b".") {
                    Some(unstuffed) => {
                        // So no line before the last is `.`: the terminator comes once.
                        assert_eq!(unstuffed.first(), Some(&b'.'), "dot line not stuffed");
                        unstuffed
                    }
                    None => line,
                })
                .collect()
        }
        _ => lines,
    };
    assert_eq!(content, canonical_lines(input), "content changed");
}

/// The lines of `input`, split at CRLF, bare CR and bare LF alike.
fn canonical_lines(input: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::new();
    let mut rest = input;
    while let Some(end) = rest
        .iter()
        .position(|&octet| octet == b'\r' || octet == b'\n')
    {
        lines.push(&rest[..end]);
        let crlf = rest[end..].starts_with(b"\r\n");
        rest = &rest[end + if crlf { 2 } else { 1 }..];
    }
    if !rest.is_empty() {
        lines.push(rest);
    }
    lines
}
