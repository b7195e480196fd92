//! The reply framer and grammar against RFC 5321 §4.2 and hostile servers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use smtpwire::reply::{EnhancedCode, FramingError, Reply, ReplyCode, ReplyFramer, ReplyLimits};
use std::time::{Duration, Instant};

type Outcome = Result<Reply, FramingError>;

fn limits(max_line_len: usize, max_lines: usize, max_reply_len: usize) -> ReplyLimits {
    ReplyLimits::default()
        .with_max_line_len(max_line_len)
        .with_max_lines(max_lines)
        .with_max_reply_len(max_reply_len)
}

/// Everything the framer returns, up to and including the first error.
fn drain(framer: &mut ReplyFramer, outcomes: &mut Vec<Outcome>) {
    if matches!(outcomes.last(), Some(Err(_))) {
        return;
    }
    loop {
        match framer.next_reply() {
            Ok(Some(reply)) => outcomes.push(Ok(reply)),
            Ok(None) => return,
            Err(error) => {
                outcomes.push(Err(error));
                return;
            }
        }
    }
}

/// Pushes each chunk in turn, taking every reply as soon as it is complete.
fn frame_chunks<'a>(
    limits: ReplyLimits,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> (Vec<Outcome>, usize) {
    let mut framer = ReplyFramer::new(limits);
    let mut outcomes = Vec::new();
    for chunk in chunks {
        framer.push(chunk);
        drain(&mut framer, &mut outcomes);
    }
    if let Some(Err(error)) = outcomes.last() {
        assert_eq!(framer.next_reply(), Err(*error), "errors are sticky");
    }
    (outcomes, framer.buffered())
}

fn frame(input: &[u8]) -> Vec<Outcome> {
    frame_chunks(ReplyLimits::default(), [input]).0
}

fn reply(code: u16, enhanced: Option<(u8, u16, u16)>, lines: &[&[u8]]) -> Reply {
    Reply::new(
        ReplyCode::new(code).unwrap(),
        enhanced.map(|(class, subject, detail)| EnhancedCode::new(class, subject, detail).unwrap()),
        lines.iter().map(|line| line.to_vec()).collect(),
    )
}

// ===== Known answers =====

#[test]
fn accepts_valid_replies() {
    let cases: &[(&[u8], Vec<Reply>)] = &[
        (b"250 ok\r\n", vec![reply(250, None, &[b"ok"])]),
        (
            b"250 2.0.0 Ok\r\n",
            vec![reply(250, Some((2, 0, 0)), &[b"2.0.0 Ok"])],
        ),
        (
            b"220-mx.test hi\r\n220 ESMTP\r\n",
            vec![reply(220, None, &[b"mx.test hi", b"ESMTP"])],
        ),
        (
            b"250-mx.test\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN\r\n",
            vec![reply(
                250,
                None,
                &[b"mx.test", b"PIPELINING", b"AUTH PLAIN LOGIN"],
            )],
        ),
        (
            b"550-5.7.1 first\r\n550 5.7.1 second\r\n",
            vec![reply(
                550,
                Some((5, 7, 1)),
                &[b"5.7.1 first", b"5.7.1 second"],
            )],
        ),
        (
            b"554 5.3.2 no service\r\n",
            vec![reply(554, Some((5, 3, 2)), &[b"5.3.2 no service"])],
        ),
        (
            b"421 4.3.2 busy\r\n",
            vec![reply(421, Some((4, 3, 2)), &[b"4.3.2 busy"])],
        ),
        (
            b"235 2.7.0 ok\r\n",
            vec![reply(235, Some((2, 7, 0)), &[b"2.7.0 ok"])],
        ),
        (
            b"334 VXNlcm5hbWU6\r\n",
            vec![reply(334, None, &[b"VXNlcm5hbWU6"])],
        ),
        (
            b"250 mx.test\r\n250 extra\r\n",
            vec![
                reply(250, None, &[b"mx.test"]),
                reply(250, None, &[b"extra"]),
            ],
        ),
        (
            b"334 VXNlcm5hbWU6\r\n235 2.7.0 ok\r\n",
            vec![
                reply(334, None, &[b"VXNlcm5hbWU6"]),
                reply(235, Some((2, 7, 0)), &[b"2.7.0 ok"]),
            ],
        ),
    ];
    for (input, expected) in cases {
        let expected: Vec<Outcome> = expected.iter().cloned().map(Ok).collect();
        assert_eq!(frame(input), expected, "{}", input.escape_ascii());
    }
}

#[test]
fn accepts_the_minimal_forms_of_rfc_5321_section_4_2() {
    let cases: &[(&[u8], Reply)] = &[
        (b"250\r\n", reply(250, None, &[b""])),
        (b"334\r\n", reply(334, None, &[b""])),
        (b"250 \r\n", reply(250, None, &[b""])),
        (b"334 \r\n", reply(334, None, &[b""])),
        (b"250-\r\n250 \r\n", reply(250, None, &[b"", b""])),
        (b"250-\r\n250\r\n", reply(250, None, &[b"", b""])),
        (
            b"250-234 Text beginning with numbers\r\n250 ok\r\n",
            reply(250, None, &[b"234 Text beginning with numbers", b"ok"]),
        ),
        (b"250  two spaces\r\n", reply(250, None, &[b" two spaces"])),
        (b"250-\tx\r\n250 y\r\n", reply(250, None, &[b"\tx", b"y"])),
    ];
    for (input, expected) in cases {
        assert_eq!(
            frame(input),
            vec![Ok(expected.clone())],
            "{}",
            input.escape_ascii()
        );
    }
}

#[test]
fn keeps_any_text_byte_but_cr_and_lf() {
    let gbk = b"535 \xb5\xc7\xc2\xbc\xca\xa7\xb0\xdc\r\n";
    assert_eq!(
        frame(gbk),
        vec![Ok(reply(535, None, &[b"\xb5\xc7\xc2\xbc\xca\xa7\xb0\xdc"]))]
    );

    let hostile = b"550 5.1.1 \xff\xfe\x00 \x1b]0;pwned\x07 user unknown\r\n";
    let [Ok(parsed)] = &frame(hostile)[..] else {
        panic!("expected one reply");
    };
    assert_eq!(
        parsed.lines(),
        [b"5.1.1 \xff\xfe\x00 \x1b]0;pwned\x07 user unknown".to_vec()]
    );
    assert_eq!(parsed.enhanced(), EnhancedCode::new(5, 1, 1));
    let shown = parsed.to_string();
    assert!(
        !shown.contains('\x1b') && !shown.contains('\x07') && !shown.contains('\0'),
        "{shown}"
    );
    assert_eq!(
        parsed.text_lossy(),
        "5.1.1 \u{fffd}\u{fffd}\0 \x1b]0;pwned\x07 user unknown"
    );
}

#[test]
fn takes_the_enhanced_code_from_the_first_line_when_its_class_agrees() {
    let cases: &[(&[u8], Option<&str>)] = &[
        (b"550 5.1.1 unknown\r\n", Some("5.1.1")),
        (b"250 5.7.1 spoof\r\n", None),
        (b"550 5.1111.1 x\r\n", None),
        (b"550 5.1.1234 x\r\n", None),
        (b"550 5.1.1\r\n", Some("5.1.1")),
        (b"550 5.1.1x\r\n", None),
        (b"354 2.0.0 go ahead\r\n", None),
        (b"450-x\r\n450 4.2.1 busy\r\n", None),
        (b"250-2.1.5 ok\r\n250 more\r\n", Some("2.1.5")),
        (b"550 4.7.1 class disagrees\r\n", None),
    ];
    for (input, enhanced) in cases {
        let [Ok(parsed)] = &frame(input)[..] else {
            panic!("expected one reply from {}", input.escape_ascii());
        };
        let shown = parsed.enhanced().map(|code| code.to_string());
        assert_eq!(shown.as_deref(), *enhanced, "{}", input.escape_ascii());
    }
    // The code stays in the text either way.
    assert_eq!(
        frame(b"250 5.7.1 spoof\r\n"),
        vec![Ok(reply(250, None, &[b"5.7.1 spoof"]))]
    );
}

#[test]
fn rejects_malformed_lines() {
    use FramingError::*;
    let cases: &[(&[u8], FramingError)] = &[
        (b"2x0 ok\r\n", BadCode),
        (b"099 x\r\n", BadCode),
        (b"600 x\r\n", BadCode),
        (b"199 x\r\n", BadCode),
        (b"260 x\r\n", BadCode),
        (b"25 ok\r\n", BadCode),
        (b"25\r\n", BadCode),
        (b"\r\n", BadCode),
        (b" 250 ok\r\n", BadCode),
        (b"2500 ok\r\n", BadSeparator),
        (b"250xok\r\n", BadSeparator),
        (b"250\tok\r\n", BadSeparator),
        (b"250-a\r\n550 b\r\n", CodeMismatch),
        (b"250-mx.test\r\n550 5.0.0 no\r\n", CodeMismatch),
        (b"250-a\r\n251 b\r\n", CodeMismatch),
        (b"250-a\r\n\r\n", BadCode),
        (b"250 ok\n", BareLineEnding),
        (b"250-a\r250 b\r\n", BareLineEnding),
        (b"250 ok\r250 ok\r\n", BareLineEnding),
        (b"250 o\nk\r\n", BareLineEnding),
        (b"\n", BareLineEnding),
        (b"\r\r\n", BareLineEnding),
    ];
    for (input, error) in cases {
        assert_eq!(frame(input), vec![Err(*error)], "{}", input.escape_ascii());
    }
}

#[test]
fn reports_a_bare_line_ending_without_waiting_for_more() {
    let mut framer = ReplyFramer::default();
    framer.push(b"250 ok\r");
    assert_eq!(
        framer.next_reply(),
        Ok(None),
        "a CR at the end may start a CRLF"
    );
    framer.push(b"x");
    assert_eq!(framer.next_reply(), Err(FramingError::BareLineEnding));

    let mut framer = ReplyFramer::default();
    framer.push(b"250 ok\n");
    assert_eq!(framer.next_reply(), Err(FramingError::BareLineEnding));
}

#[test]
fn returns_the_replies_completed_before_an_error_first() {
    assert_eq!(
        frame(b"220 hi\r\n250-a\r\n250 b\r\n2x0 junk\r\n250 never\r\n"),
        vec![
            Ok(reply(220, None, &[b"hi"])),
            Ok(reply(250, None, &[b"a", b"b"])),
            Err(FramingError::BadCode),
        ]
    );
    let mut framer = ReplyFramer::default();
    framer.push(b"250 a\r\n250 b\r\n250 c\n");
    framer.push(b"250 after the error\r\n");
    assert_eq!(
        framer.buffered(),
        14,
        "the broken line is dropped, the two replies are not"
    );
    assert_eq!(framer.next_reply(), Ok(Some(reply(250, None, &[b"a"]))));
    assert_eq!(framer.next_reply(), Ok(Some(reply(250, None, &[b"b"]))));
    assert_eq!(framer.buffered(), 0);
    for _ in 0..3 {
        assert_eq!(framer.next_reply(), Err(FramingError::BareLineEnding));
    }
}

/// Replies not complete yet.
const PARTIAL: [&[u8]; 9] = [
    b"",
    b"2",
    b"250",
    b"250 ok",
    b"250 ok\r",
    b"250-a\r\n",
    b"250-a\r\n250",
    b"250-a\r\n250 b\r",
    b"2x0 no CRLF yet",
];

#[test]
fn waits_for_the_rest_of_a_partial_reply() {
    for input in PARTIAL {
        let mut framer = ReplyFramer::default();
        framer.push(input);
        assert_eq!(framer.next_reply(), Ok(None), "{}", input.escape_ascii());
        assert_eq!(framer.buffered(), input.len(), "{}", input.escape_ascii());
    }
}

// ===== buffered(): the STARTTLS injection check =====

#[test]
fn buffered_counts_every_byte_not_yet_returned() {
    let injected = b"220 2.0.0 Ready to start TLS\r\n250-mx.test\r\n250 AUTH PLAIN LOGIN\r\n";
    let mut framer = ReplyFramer::default();
    framer.push(injected);
    assert_eq!(
        framer.buffered(),
        injected.len(),
        "complete replies not returned count"
    );
    assert_eq!(
        framer.next_reply().unwrap().unwrap().code(),
        ReplyCode::SERVICE_READY
    );
    assert_eq!(framer.buffered(), injected.len() - 30);
    assert_eq!(framer.next_reply().unwrap().unwrap().code(), ReplyCode::OK);
    assert_eq!(framer.buffered(), 0);

    let fragment = b"220 ready\r\n250-AUTH PLA";
    let mut framer = ReplyFramer::default();
    framer.push(fragment);
    framer.next_reply().unwrap().unwrap();
    assert_eq!(framer.buffered(), 12);

    // A CRLF split between pushes: the CR alone is still a buffered byte.
    let mut framer = ReplyFramer::default();
    framer.push(b"220 ready\r");
    assert_eq!(framer.buffered(), 10);
    framer.push(b"\n2");
    framer.next_reply().unwrap().unwrap();
    assert_eq!(framer.buffered(), 1);
}

// ===== Limits =====

/// Under `limits`, `fits` is one reply, and each of `over` fails with `error`.
#[track_caller]
fn assert_limit(limits: ReplyLimits, fits: &[u8], over: [&[u8]; 2], error: FramingError) {
    assert!(matches!(frame_chunks(limits, [fits]).0[..], [Ok(_)]));
    for input in over {
        let outcome = frame_chunks(limits, [input]).0;
        assert_eq!(outcome, vec![Err(error)], "{} bytes", input.len());
    }
}

#[test]
fn line_length_limit_counts_the_crlf() {
    let line = |len: usize| [b"250 ".to_vec(), vec![b'a'; len - 6], b"\r\n".to_vec()].concat();
    assert_limit(
        limits(16, 256, 1024),
        &line(16),
        [&line(17), &line(10_000)],
        FramingError::LineTooLong,
    );
}

#[test]
fn an_overlong_line_fails_before_its_crlf_arrives() {
    let limits = limits(16, 256, 1024);
    let mut framer = ReplyFramer::new(limits);
    framer.push(b"250 aaaaaaaaaa");
    assert_eq!(framer.next_reply(), Ok(None), "14 bytes, and the CRLF fits");
    framer.push(b"\r");
    assert_eq!(framer.next_reply(), Ok(None));
    let mut framer = ReplyFramer::new(limits);
    framer.push(b"250 aaaaaaaaaaa");
    assert_eq!(
        framer.next_reply(),
        Err(FramingError::LineTooLong),
        "15 bytes + CRLF > 16"
    );
    assert_eq!(framer.buffered(), 0);
}

#[test]
fn line_count_limit() {
    let limits = limits(4096, 3, 1 << 20);
    let reply_of = |lines: usize| {
        let mut wire = b"250-x\r\n".repeat(lines - 1);
        wire.extend_from_slice(b"250 x\r\n");
        wire
    };
    assert_limit(
        limits,
        &reply_of(3),
        [&reply_of(4), &reply_of(10_000)],
        FramingError::TooManyLines,
    );

    // The third line is a continuation, so a fourth must follow: no need to wait for it.
    let mut framer = ReplyFramer::new(limits);
    framer.push(b"250-x\r\n250-x\r\n250-x\r\n");
    assert_eq!(framer.next_reply(), Err(FramingError::TooManyLines));
}

#[test]
fn reply_length_limit() {
    let limits = limits(4096, 256, 21);
    // Three 7-byte lines: exactly 21 bytes.
    assert_limit(
        limits,
        b"250-x\r\n250-x\r\n250 x\r\n",
        [b"250-x\r\n250-x\r\n250 xy\r\n", &b"250-x\r\n".repeat(1000)],
        FramingError::ReplyTooLong,
    );
    // The limit is per reply.
    assert_eq!(
        frame_chunks(limits, [&b"250-x\r\n250 x\r\n".repeat(100)[..]])
            .0
            .len(),
        100
    );
}

#[test]
fn endless_multiline_reply_hits_a_default_limit() {
    let (outcomes, buffered) = frame_chunks(
        ReplyLimits::default(),
        (0..100_000).map(|_| &b"250-x\r\n"[..]),
    );
    assert_eq!(outcomes, vec![Err(FramingError::TooManyLines)]);
    assert_eq!(buffered, 0);

    let long_line = [b"250-".to_vec(), vec![b'x'; 1000], b"\r\n".to_vec()].concat();
    let (outcomes, _) = frame_chunks(ReplyLimits::default(), (0..100_000).map(|_| &long_line[..]));
    assert_eq!(outcomes, vec![Err(FramingError::ReplyTooLong)]);
}

#[test]
fn a_100_mib_line_fails_at_4_kib_and_holds_nothing() {
    let chunk = vec![b'A'; 64 * 1024];
    let mut framer = ReplyFramer::default();
    framer.push(&chunk);
    assert_eq!(framer.next_reply(), Err(FramingError::LineTooLong));
    for _ in 1..1600 {
        framer.push(&chunk);
        assert_eq!(framer.buffered(), 0);
    }
    assert_eq!(framer.next_reply(), Err(FramingError::LineTooLong));

    // Pushed a few bytes at a time, it never holds more than a line.
    let mut framer = ReplyFramer::default();
    let mut most = 0;
    for piece in chunk.chunks(100) {
        framer.push(piece);
        most = most.max(framer.buffered());
    }
    assert!(most < 4096, "held {most} bytes");
    assert_eq!(framer.next_reply(), Err(FramingError::LineTooLong));

    // A 1 MiB AUTH challenge without CRLF.
    let challenge = [b"334 ".to_vec(), b"QUFB".repeat(256 * 1024)].concat();
    assert_eq!(frame(&challenge), vec![Err(FramingError::LineTooLong)]);
}

#[test]
fn tighter_of_line_and_reply_room_decides_the_error() {
    // After 32 bytes of reply, 8 are left: less room than the 16-byte line limit.
    let limits = limits(16, 256, 40);
    let head = b"250-aaaaaaaaaa\r\n".repeat(2);
    let (outcomes, _) = frame_chunks(limits, [&head[..], b"250 aaaaaaa"]);
    assert_eq!(outcomes, vec![Err(FramingError::ReplyTooLong)]);
    let limits = self::limits(16, 256, 1000);
    let (outcomes, _) = frame_chunks(limits, [&head[..], b"250 aaaaaaaaaaaaaaaaa"]);
    assert_eq!(outcomes, vec![Err(FramingError::LineTooLong)]);
}

#[test]
fn a_long_reply_fed_one_line_per_push_frames_in_linear_time() {
    let lines = 100_000;
    let mut wire: Vec<Vec<u8>> = (0..lines - 1)
        .map(|i| format!("250-KEYWORD{i}\r\n").into_bytes())
        .collect();
    wire.push(b"250 LAST\r\n".to_vec());
    let limits = limits(4096, lines, 1 << 24);
    let started = Instant::now();
    let (outcomes, buffered) = frame_chunks(limits, wire.iter().map(Vec::as_slice));
    // A framer that rescans its buffer on every push takes minutes here.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let [Ok(parsed)] = &outcomes[..] else {
        panic!("expected one reply");
    };
    assert_eq!(parsed.lines().len(), lines);
    assert_eq!(buffered, 0);
}

// ===== Chunking invariance =====

fn split_everywhere(input: &[u8]) {
    let whole = frame_chunks(ReplyLimits::default(), [input]);
    let bytes = frame_chunks(ReplyLimits::default(), input.chunks(1));
    assert_eq!(bytes, whole, "byte at a time: {}", input.escape_ascii());
    for at in 0..=input.len() {
        let (head, tail) = input.split_at(at);
        assert_eq!(
            frame_chunks(ReplyLimits::default(), [head, tail]),
            whole,
            "split at {at}"
        );
    }
}

#[test]
fn greeting_and_ehlo_byte_at_a_time() {
    split_everywhere(
        b"220-mx.test ESMTP\r\n220 hi\r\n250-mx.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n\
          250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n",
    );
    for hostile in [
        &b"250 ok\r\n250-a\r250 b\r\n"[..],
        b"250 ok\r\n250 ok\n",
        b"250-a\r\n550 b\r\n",
        b"250 ok\r\n\r\n",
        b"250 ok\r\n2500 x\r\n",
        b"334 \r\n334\r\n535 \xb5\xc7\r\n",
    ] {
        split_everywhere(hostile);
    }
}

/// Bytes that look like replies often enough to reach every branch.
fn wire_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        4 => prop::sample::select(b"0123456\r\n- x".to_vec()),
        1 => any::<u8>(),
    ]
}

fn reply_wire() -> impl Strategy<Value = Vec<u8>> {
    let code = prop::sample::select(vec![
        &b"220"[..],
        b"250",
        b"334",
        b"354",
        b"421",
        b"535",
        b"550",
    ]);
    let text = prop::collection::vec(
        prop_oneof![8 => 0x20_u8..0x7f, 1 => any::<u8>().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n')],
        0..12,
    );
    (code, prop::collection::vec(text, 1..5), any::<bool>()).prop_map(|(code, lines, bare_last)| {
        let mut wire = Vec::new();
        let last = lines.len() - 1;
        for (i, text) in lines.iter().enumerate() {
            wire.extend_from_slice(code);
            if i < last {
                wire.push(b'-');
            } else if !(bare_last && text.is_empty()) {
                wire.push(b' ');
            }
            wire.extend_from_slice(text);
            wire.extend_from_slice(b"\r\n");
        }
        wire
    })
}

fn stream() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(reply_wire(), 0..6).prop_map(|replies| replies.concat()),
        (
            prop::collection::vec(reply_wire(), 0..4),
            prop::collection::vec(wire_byte(), 0..24)
        )
            .prop_map(|(replies, junk)| [replies.concat(), junk].concat()),
        prop::collection::vec(wire_byte(), 0..200),
    ]
}

fn any_limits() -> impl Strategy<Value = ReplyLimits> {
    prop_oneof![
        Just(ReplyLimits::default()),
        (0_usize..24, 0_usize..6, 0_usize..64)
            .prop_map(|(line, lines, reply)| limits(line, lines, reply)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn output_does_not_depend_on_chunking(
        input in stream(),
        limits in any_limits(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let whole = frame_chunks(limits, [&input[..]]);
        let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut.index(input.len() + 1)).collect();
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut from = 0;
        for cut in cuts.into_iter().chain([input.len()]) {
            chunks.push(&input[from..cut]);
            from = cut;
        }
        prop_assert_eq!(&frame_chunks(limits, chunks).0, &whole.0);
        prop_assert_eq!(&frame_chunks(limits, input.chunks(1)), &whole);
    }

    #[test]
    fn valid_replies_survive_any_chunking_and_round_trip(
        replies in prop::collection::vec(reply_wire(), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let input = replies.concat();
        let (head, tail) = input.split_at(cut.index(input.len() + 1));
        let (outcomes, buffered) = frame_chunks(ReplyLimits::default(), [head, tail]);
        prop_assert_eq!(buffered, 0);
        prop_assert_eq!(outcomes.len(), replies.len());
        for (outcome, wire) in outcomes.iter().zip(&replies) {
            let parsed = outcome.as_ref().unwrap();
            prop_assert_eq!(frame(&parsed.to_wire()), vec![Ok(parsed.clone())]);
            prop_assert_eq!(frame(wire), vec![Ok(parsed.clone())]);
        }
    }

    #[test]
    fn holds_no_more_than_one_reply_of_unfinished_bytes(input in stream(), limits in any_limits()) {
        let mut framer = ReplyFramer::new(limits);
        for byte in input.chunks(1) {
            framer.push(byte);
            while let Ok(Some(_)) = framer.next_reply() {}
            let lines = limits.max_line_len() * limits.max_lines().max(1);
            let most = limits.max_reply_len().min(lines);
            prop_assert!(framer.buffered() <= most, "{} > {}", framer.buffered(), most);
        }
    }
}
