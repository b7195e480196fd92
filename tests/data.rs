//! `DataEncoder` known-answer vectors (security anchors D30–D37), chunk-boundary cases and
//! property tests of the SMTP smuggling invariants.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use proptest::prelude::*;
use smtpwire::data::{DataEncoder, Framing, LineEndings};
use smtpwire::InputError;

const STRICT: LineEndings = LineEndings::Strict;
const NORMALIZE: LineEndings = LineEndings::Normalize;
const MODES: [LineEndings; 2] = [STRICT, NORMALIZE];

fn encode_chunks(
    framing: Framing,
    line_endings: LineEndings,
    chunks: &[&[u8]],
) -> Result<Vec<u8>, InputError> {
    let mut encoder = DataEncoder::new(framing, line_endings);
    let mut wire = Vec::new();
    for chunk in chunks {
        encoder.encode(chunk, &mut wire)?;
    }
    encoder.finish(&mut wire)?;
    Ok(wire)
}

/// Encodes `input` whole, byte by byte, and split in two at every point; all must agree.
fn encode(
    framing: Framing,
    line_endings: LineEndings,
    input: &[u8],
) -> Result<Vec<u8>, InputError> {
    let whole = encode_chunks(framing, line_endings, &[input]);
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(
        encode_chunks(framing, line_endings, &bytes),
        whole,
        "byte by byte"
    );
    for at in 0..=input.len() {
        let (head, tail) = input.split_at(at);
        let split = encode_chunks(framing, line_endings, &[head, tail]);
        assert_eq!(
            split,
            whole,
            "split at {at} of {:?}",
            String::from_utf8_lossy(input)
        );
    }
    whole
}

/// An encoder for DATA, and the wire it is to write to.
fn data_encoder(line_endings: LineEndings) -> (DataEncoder, Vec<u8>) {
    (DataEncoder::new(Framing::Data, line_endings), Vec::new())
}

fn data(line_endings: LineEndings, input: &[u8]) -> Result<Vec<u8>, InputError> {
    encode(Framing::Data, line_endings, input)
}

/// `input` goes on the wire as `expected` in either line-ending mode.
#[track_caller]
fn assert_wire(case: &str, input: &[u8], expected: &[u8]) {
    for line_endings in MODES {
        let wire = data(line_endings, input).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&wire),
            String::from_utf8_lossy(expected),
            "{case}: {line_endings:?}"
        );
    }
}

/// Dot-stuffing and the terminator (D30, D35): each case, the message and its wire form.
const WIRE: [(&str, &[u8], &[u8]); 11] = [
    (
        "stuffs a dot line (D30)",
        b"Hi\r\n.\r\nMAIL FROM:<x@evil>\r\n",
        b"Hi\r\n..\r\nMAIL FROM:<x@evil>\r\n.\r\n",
    ),
    (
        "stuffs a dot as the first octet (D30)",
        b".\r\nRSET\r\n",
        b"..\r\nRSET\r\n.\r\n",
    ),
    (
        "stuffs a dot as the first octet (D30)",
        b".",
        b"..\r\n.\r\n",
    ),
    (
        "stuffs a dot as the first octet (D30)",
        b"..x",
        b"...x\r\n.\r\n",
    ),
    (
        "stuffs after consecutive CRLF (RUSTSEC-2021-0069)",
        b"a\r\n\r\n.\r\nQUIT\r\n",
        b"a\r\n\r\n..\r\nQUIT\r\n.\r\n",
    ),
    (
        "stuffs only at line start",
        b"a.b\r\n. .\r\nc.\r\n",
        b"a.b\r\n.. .\r\nc.\r\n.\r\n",
    ),
    ("adds CRLF only when missing (D35)", b"abc", b"abc\r\n.\r\n"),
    (
        "adds CRLF only when missing (D35)",
        b"abc\r\n",
        b"abc\r\n.\r\n",
    ),
    (
        "adds CRLF only when missing (D35)",
        b"abc\r\n\r\n",
        b"abc\r\n\r\n.\r\n",
    ),
    ("adds CRLF only when missing (D35)", b"\r\n", b"\r\n.\r\n"),
    ("empty data is the terminator alone (D35)", b"", b".\r\n"),
];

#[test]
fn stuffs_dots_and_ends_with_the_terminator_d30_d35() {
    for (case, input, expected) in WIRE {
        assert_wire(case, input, expected);
    }
}

/// Bare CR/LF end-of-data variants (D32; RUSTSEC-2026-0561, CVE-2023-51764/5/6).
const SMUGGLING: [(&[u8], &[u8]); 9] = [
    (b"\n.\n", b"\r\n..\r\n"),
    (b"\r.\r", b"\r\n..\r\n"),
    (b"\r.\n", b"\r\n..\r\n"),
    (b"\n.\r", b"\r\n..\r\n"),
    (b"\n.\r\n", b"\r\n..\r\n"),
    (b"\r\n.\n", b"\r\n..\r\n"),
    (b"\r.\r\n", b"\r\n..\r\n"),
    (b"\r\n.\r", b"\r\n..\r\n"),
    (b"\n\n.\r\n", b"\r\n\r\n..\r\n"),
];

const SMUGGLED: &[u8] = b"MAIL FROM:<admin@victim.example>\r\nRCPT TO:<v@x>\r\nDATA\r\n";

#[test]
fn refuses_smuggling_sequences_in_strict_mode_d32() {
    for (sequence, _) in SMUGGLING {
        let input = [b"a", sequence, SMUGGLED].concat();
        assert_eq!(
            data(STRICT, &input),
            Err(InputError::BareLineEnding),
            "{sequence:?}"
        );
    }
}

#[test]
fn normalizes_smuggling_sequences_then_stuffs_d32() {
    for (sequence, normalized) in SMUGGLING {
        let input = [b"a", sequence, SMUGGLED].concat();
        let expected = [b"a", normalized, SMUGGLED, b".\r\n"].concat();
        assert_eq!(data(NORMALIZE, &input), Ok(expected), "{sequence:?}");
    }
}

/// Messages with a NUL (D33).
const WITH_NUL: [&[u8]; 4] = [
    b"a\r\n\x00.\r\nQUIT\r\n",
    b"a\r\n.\x00\r\nQUIT\r\n",
    b"text\x00text\r\n",
    b"\x00",
];

#[test]
fn refuses_nul_d33() {
    for input in WITH_NUL {
        for line_endings in MODES {
            assert_eq!(data(line_endings, input), Err(InputError::Nul), "{input:?}");
            let bdat = encode(Framing::Bdat, line_endings, input);
            assert_eq!(bdat, Err(InputError::Nul), "{input:?}");
        }
    }
}

#[test]
fn keeps_state_across_chunks_d34() {
    for line_endings in MODES {
        let wire = encode_chunks(Framing::Data, line_endings, &[b"abc\r\n", b".def\r\n"]);
        assert_eq!(wire.unwrap(), b"abc\r\n..def\r\n.\r\n");
        let wire = encode_chunks(Framing::Data, line_endings, &[b"abc\r", b"\n.", b"x\r\n"]);
        assert_eq!(wire.unwrap(), b"abc\r\n..x\r\n.\r\n");
    }
}

#[test]
fn a_cr_at_a_chunk_end_is_one_line_break_with_the_next_lf() {
    let wire = encode_chunks(Framing::Data, NORMALIZE, &[b"a\r", b"\nb"]).unwrap();
    assert_eq!(wire, b"a\r\nb\r\n.\r\n");
    let wire = encode_chunks(Framing::Data, NORMALIZE, &[b"a\r", b"", b"\n"]).unwrap();
    assert_eq!(wire, b"a\r\n.\r\n");
}

#[test]
fn holds_a_trailing_cr_back_until_the_next_octet() {
    let (mut encoder, mut wire) = data_encoder(STRICT);
    encoder.encode(b"abc\r", &mut wire).unwrap();
    assert_eq!(wire, b"abc");
    encoder.encode(b"\n", &mut wire).unwrap();
    assert_eq!(wire, b"abc\r\n");

    let mut encoder = DataEncoder::new(Framing::Data, STRICT);
    encoder.encode(b"abc\r", &mut Vec::new()).unwrap();
    assert_eq!(
        encoder.encode(b"x", &mut Vec::new()),
        Err(InputError::BareLineEnding)
    );
}

#[test]
fn a_trailing_cr_is_judged_at_finish() {
    assert_eq!(data(STRICT, b"abc\r"), Err(InputError::BareLineEnding));
    assert_eq!(data(NORMALIZE, b"abc\r").unwrap(), b"abc\r\n.\r\n");
}

#[test]
fn bare_line_endings_are_normalized() {
    assert_eq!(
        data(NORMALIZE, b"a\nb\rc\r\r\nd\n\r").unwrap(),
        b"a\r\nb\r\nc\r\n\r\nd\r\n\r\n.\r\n"
    );
    for input in [&b"a\nb"[..], b"a\rb", b"\n", b"\r", b"\n\r", b"a\r\r\n"] {
        assert_eq!(
            data(STRICT, input),
            Err(InputError::BareLineEnding),
            "{input:?}"
        );
    }
}

#[test]
fn passes_other_octets_through() {
    let input = "a\tb\x0bc\x0cd\x01\x7f Grüße 世界\r\n".as_bytes();
    assert_wire("other octets", input, &[input, b".\r\n"].concat());
    let eight_bit: Vec<u8> = (1..=255).filter(|octet| !b"\r\n".contains(octet)).collect();
    assert_wire(
        "every octet but CR and LF",
        &eight_bit,
        &[&eight_bit[..], b"\r\n.\r\n"].concat(),
    );
}

#[test]
fn lines_up_to_998_octets_pass_d36() {
    let line = vec![b'x'; 998];
    assert_wire(
        "with its CRLF",
        &[&line[..], b"\r\n"].concat(),
        &[&line[..], b"\r\n.\r\n"].concat(),
    );
    assert_wire("without", &line, &[&line[..], b"\r\n.\r\n"].concat());
    let two_lines = [&line[..], b"\r\n", &line[..], b"\r\n"].concat();
    assert_wire("two", &two_lines, &[&two_lines[..], b".\r\n"].concat());
}

#[test]
fn a_line_of_999_octets_is_refused_d36() {
    let line = vec![b'x'; 999];
    for line_endings in MODES {
        assert_eq!(data(line_endings, &line), Err(InputError::LineTooLong));
        let input = [b"ok\r\n", &line[..], b"\r\n"].concat();
        assert_eq!(data(line_endings, &input), Err(InputError::LineTooLong));
        let input = [b"ok\n", &line[..], b"\n"].concat();
        assert_eq!(
            encode(Framing::Bdat, NORMALIZE, &input),
            Err(InputError::LineTooLong)
        );
    }
}

#[test]
fn the_stuffed_dot_does_not_count_towards_the_limit() {
    // RFC 5321 §4.5.3.1.6: "not counting the leading dot duplicated for transparency".
    let line = [&b"."[..], &[b'x'; 997]].concat();
    assert_wire(
        "a dot line",
        &line,
        &[b".", &line[..], b"\r\n.\r\n"].concat(),
    );
}

#[test]
fn the_line_limit_holds_across_many_chunks() {
    let chunks = [&[b'x'; 500][..], &[b'x'; 498], b"\r\n", &[b'y'; 998]];
    assert!(encode_chunks(Framing::Data, STRICT, &chunks).is_ok());
    let chunks = [&[b'x'; 500][..], &[b'x'; 498], b"z"];
    assert_eq!(
        encode_chunks(Framing::Data, STRICT, &chunks),
        Err(InputError::LineTooLong)
    );
}

#[test]
fn bdat_framing_normalizes_without_stuffing() {
    for line_endings in MODES {
        let bdat = |input: &[u8]| encode(Framing::Bdat, line_endings, input).unwrap();
        assert_eq!(bdat(b""), b"");
        assert_eq!(bdat(b"abc"), b"abc\r\n");
        assert_eq!(bdat(b"abc\r\n"), b"abc\r\n");
        assert_eq!(bdat(b".\r\n"), b".\r\n");
        assert_eq!(bdat(b"a\r\n.\r\nQUIT"), b"a\r\n.\r\nQUIT\r\n");
    }
    assert_eq!(
        encode(Framing::Bdat, NORMALIZE, b"a\n.\rb").unwrap(),
        b"a\r\n.\r\nb\r\n"
    );
    assert_eq!(
        encode(Framing::Bdat, STRICT, b"a\n.b"),
        Err(InputError::BareLineEnding)
    );
}

#[test]
fn errors_are_sticky_and_append_nothing() {
    let mut encoder = DataEncoder::new(Framing::Data, STRICT);
    let mut wire = b"earlier".to_vec();
    assert_eq!(
        encoder.encode(b"good\r\nbad\n.\n", &mut wire),
        Err(InputError::BareLineEnding)
    );
    assert_eq!(wire, b"earlier");
    assert_eq!(
        encoder.encode(b"fine\r\n", &mut wire),
        Err(InputError::BareLineEnding)
    );
    assert_eq!(encoder.finish(&mut wire), Err(InputError::BareLineEnding));
    assert_eq!(wire, b"earlier");
}

#[test]
fn nothing_follows_the_terminator() {
    let (mut encoder, mut wire) = data_encoder(NORMALIZE);
    encoder.encode(b"a", &mut wire).unwrap();
    encoder.finish(&mut wire).unwrap();
    assert!(matches!(
        encoder.encode(b"\r\nQUIT\r\n", &mut wire),
        Err(InputError::WrongState(_))
    ));
    assert!(matches!(
        encoder.finish(&mut wire),
        Err(InputError::WrongState(_))
    ));
    assert_eq!(wire, b"a\r\n.\r\n");
}

#[test]
fn an_encoder_can_be_cloned_mid_stream() {
    let (mut encoder, mut wire) = data_encoder(STRICT);
    encoder.encode(b"a\r", &mut wire).unwrap();
    let mut copy = encoder.clone();
    let mut copy_wire = wire.clone();
    encoder.encode(b"\n.", &mut wire).unwrap();
    copy.encode(b"\n.", &mut copy_wire).unwrap();
    assert_eq!(wire, copy_wire);
}

/// A line break in any of its forms, as RFC 5321 §2.3.8 asks a client to send it: CRLF.
fn normalise(input: &[u8]) -> Vec<u8> {
    let mut canonical = Vec::new();
    let mut at = 0;
    while let Some(&octet) = input.get(at) {
        at += 1;
        match octet {
            b'\r' | b'\n' => {
                if octet == b'\r' && input.get(at) == Some(&b'\n') {
                    at += 1;
                }
                canonical.extend_from_slice(b"\r\n");
            }
            _ => canonical.push(octet),
        }
    }
    if !canonical.is_empty() && !canonical.ends_with(b"\r\n") {
        canonical.extend_from_slice(b"\r\n");
    }
    canonical
}

/// The receiver's side of RFC 5321 §4.5.2: reads CRLF lines up to the line `.`, deleting the
/// first `.` of other lines. Returns the content and what follows the terminator.
fn unstuff(wire: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut content = Vec::new();
    let mut rest = wire;
    loop {
        let end = rest.windows(2).position(|pair| pair == b"\r\n")?;
        let (line, after) = (&rest[..end], &rest[end + 2..]);
        if line == b"." {
            return Some((content, after));
        }
        content.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
        content.extend_from_slice(b"\r\n");
        rest = after;
    }
}

fn octets(with_nul: bool) -> impl Strategy<Value = Vec<u8>> {
    let octet = prop_oneof![
        4 => Just(b'\r'),
        4 => Just(b'\n'),
        4 => Just(b'.'),
        u32::from(with_nul) => Just(0),
        6 => b'a'..=b'z',
        2 => u8::from(!with_nul)..=u8::MAX,
    ];
    prop::collection::vec(octet, 0..300)
}

/// Cuts `input` into chunks of the given lengths (the last one takes the rest).
fn chunked<'a>(input: &'a [u8], lengths: &[usize]) -> Vec<&'a [u8]> {
    let mut chunks = Vec::new();
    let mut rest = input;
    for &length in lengths {
        let (chunk, after) = rest.split_at(length.min(rest.len()));
        chunks.push(chunk);
        rest = after;
    }
    chunks.push(rest);
    chunks
}

const ALL_MODES: [(Framing, LineEndings); 4] = [
    (Framing::Data, STRICT),
    (Framing::Data, NORMALIZE),
    (Framing::Bdat, STRICT),
    (Framing::Bdat, NORMALIZE),
];

// The fuzz target (fuzz/oracles/data.rs) explores further; these keep `cargo test` quick.
proptest! {
    #[test]
    fn any_chunking_gives_the_same_result(
        input in octets(true),
        lengths in prop::collection::vec(0usize..24, 0..40),
    ) {
        for (framing, line_endings) in ALL_MODES {
            let whole = encode_chunks(framing, line_endings, &[&input]);
            let chunks = chunked(&input, &lengths);
            prop_assert_eq!(encode_chunks(framing, line_endings, &chunks), whole);
        }
    }

    #[test]
    fn the_wire_never_ends_data_early(
        input in octets(false),
        lengths in prop::collection::vec(0usize..24, 0..40),
    ) {
        let chunks = chunked(&input, &lengths);
        let wire = encode_chunks(Framing::Data, NORMALIZE, &chunks).unwrap();
        for (at, &octet) in wire.iter().enumerate() {
            match octet {
                b'\r' => prop_assert_eq!(wire.get(at + 1), Some(&b'\n')),
                b'\n' => prop_assert_eq!(wire[at - 1], b'\r'),
                _ => {}
            }
        }
        let terminators = wire.windows(5).filter(|window| window == b"\r\n.\r\n").count();
        if wire == b".\r\n" {
            prop_assert!(input.is_empty());
        } else {
            prop_assert_eq!(terminators, 1);
            prop_assert!(wire.ends_with(b"\r\n.\r\n"));
            prop_assert!(!wire.starts_with(b".\r\n"));
        }
        let (content, after) = unstuff(&wire).unwrap();
        prop_assert_eq!(content, normalise(&input));
        prop_assert!(after.is_empty());

        if let Ok(strict) = encode_chunks(Framing::Data, STRICT, &chunks) {
            prop_assert_eq!(&strict, &wire);
        }
        let bdat = encode_chunks(Framing::Bdat, NORMALIZE, &chunks).unwrap();
        prop_assert_eq!(bdat, normalise(&input));
    }
}
