//! Hostile input (security anchors §3 and §6.E, cases 38–46): no caller-provided value can
//! become a header line, a recipient or a part of its own.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod mime_support;

use mime_support::{assert_wire_safe, header_fields, mail_parser, python, python_available};
use smtpwire::mime::{
    Attachment, Error, Field, Invalid, Message, MessageBuilder, NamedAddress, SeededRandom,
};

const LINE_BREAKS: [&str; 7] = ["\r\n", "\n", "\r", "\u{85}", "\u{2028}", "\u{2029}", "\0"];

fn base() -> MessageBuilder {
    Message::builder()
        .from("sender@example.com")
        .to("to@example.com")
        .text("body")
        .random_source(SeededRandom::new(7))
}

fn encode(builder: MessageBuilder) -> Vec<u8> {
    let bytes = builder.build().unwrap().to_bytes().unwrap();
    assert_wire_safe(&bytes);
    bytes
}

fn refused(builder: MessageBuilder) -> (Field, Invalid) {
    match builder.build() {
        Err(Error::Invalid { field, reason }) => (field, reason),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A custom header as mail-parser decodes unstructured text (unfolded, RFC 2047 decoded).
fn custom_header(bytes: &[u8], name: &str) -> Option<String> {
    let parsed = mail_parser::MessageParser::default().parse(bytes).unwrap();
    let values = parsed.header_as(name, mail_parser::HeaderForm::Text);
    values.first().and_then(|v| v.as_text()).map(str::to_owned)
}

fn expected_reason(line_break: &str) -> Invalid {
    if line_break == "\0" {
        Invalid::Nul
    } else {
        Invalid::LineBreak
    }
}

/// Case 38: a subject cannot end the header line.
#[test]
fn subject_line_breaks_are_refused() {
    for lb in LINE_BREAKS {
        for subject in [
            format!("Hello{lb}Bcc: victim@example.org"),
            format!("Hello{lb}"),
        ] {
            let (field, reason) = refused(base().subject(subject));
            assert_eq!((field, reason), (Field::Subject, expected_reason(lb)));
        }
    }
}

/// Case 39: text that looks like an encoded-word decodes to itself, never to a line break.
#[test]
fn encoded_word_lookalikes_decode_literally() {
    let literal = "=?UTF-8?Q?=0D=0ABcc:_x@evil?=";
    // Split by spaces, the halves still make one encoded-word to lenient decoders (found by the
    // fuzzer: mail-parser decoded the first line to a CR).
    let spaced = [
        "=?UTF -8?Q?=0D=0cc:_x@evil?=",
        "=?UTF-8?Q? =0D=0A?=",
        "a=? b ?=c",
    ];
    let cases = [literal.to_owned(), format!("Re: {literal} tail")]
        .into_iter()
        .chain(spaced.map(String::from));
    for subject in cases {
        let bytes = encode(base().subject(subject.as_str()));
        let fields = header_fields(&bytes);
        assert_eq!(fields.iter().filter(|(n, _)| n == "Subject").count(), 1);
        assert!(fields.iter().all(|(n, _)| !n.eq_ignore_ascii_case("bcc")));
        assert_eq!(
            mail_parser(&bytes).subject.as_deref(),
            Some(subject.as_str())
        );
        if python_available() {
            assert_eq!(python(&bytes).0.subject.as_deref(), Some(subject.as_str()));
        }
    }
    let bytes = encode(base().header("X-Note", literal));
    assert_eq!(custom_header(&bytes, "X-Note").as_deref(), Some(literal));
}

/// Case 40: display names are quoted or encoded so they re-parse to one mailbox.
#[test]
fn display_names_cannot_inject_or_confuse() {
    for lb in LINE_BREAKS {
        assert_eq!(
            NamedAddress::with_name(&format!("Alice{lb}Bcc: x@evil"), "a@example.com"),
            Err(expected_reason(lb))
        );
        let (field, reason) = refused(base().cc(format!("Alice{lb}Bcc: x@evil <a@example.com>")));
        assert_eq!((field, reason), (Field::Cc, expected_reason(lb)));
    }
    let names = [
        "Bob <bob@bank.example>,",
        "a\"b",
        "a\\b",
        "<x>",
        "x, y",
        "x; y",
        "x@y",
        "(x",
        "x)",
        "=?utf-8?b?QUJD?=",
    ];
    for name in names {
        let mailbox = NamedAddress::with_name(name, "eve@evil.example").unwrap();
        let bytes = encode(Message::builder().from("sender@example.com").to(mailbox));
        let parsed = mail_parser::MessageParser::default()
            .parse(&bytes[..])
            .unwrap();
        let to: Vec<_> = parsed.to().unwrap().iter().collect();
        assert_eq!(to.len(), 1, "{name:?}");
        assert_eq!(to[0].address(), Some("eve@evil.example"), "{name:?}");
        assert_eq!(to[0].name(), Some(name), "{name:?}");
        if python_available() {
            let (decoded, _) = python(&bytes);
            let to: Vec<_> = decoded.addresses.iter().filter(|a| a.0 == "to").collect();
            assert_eq!(to.len(), 1, "{name:?}");
            assert_eq!(
                (to[0].1.as_deref(), to[0].2.as_str()),
                (Some(name), "eve@evil.example")
            );
        }
    }
}

/// Case 41: addresses that would smuggle a command or break the envelope are refused.
#[test]
fn hostile_addresses_are_refused() {
    let hostile = [
        "\"a\r\nRCPT TO:<x@evil>\"@example.org".to_owned(),
        "a@b>\r\nRCPT TO:<c@d".to_owned(),
        "a b@c.example".to_owned(),
        "a@b\0".to_owned(),
        format!("{}@example.com", "a".repeat(65)),
        format!("a@{}.example", "b".repeat(256)),
        "a@b_c.example".to_owned(),
        "<a@b.example>>".to_owned(),
        "a@[1.2.3.4".to_owned(),
        "\"a\u{1}\"@example.com".to_owned(),
    ];
    for address in &hostile {
        assert!(NamedAddress::new(address).is_err(), "{address:?}");
        let result = base().bcc(address.as_str()).build();
        assert!(
            matches!(
                result,
                Err(Error::Invalid {
                    field: Field::Bcc,
                    ..
                })
            ),
            "{address:?}"
        );
    }
}

/// Case 43: file names keep their text but lose their directories and cannot break lines.
#[test]
fn hostile_file_names() {
    let evil = "report.pdf\"\r\nContent-Type: text/html\r\n\r\n<script>";
    let (field, reason) = refused(base().attach(Attachment::from_bytes(evil, b"x".to_vec())));
    assert_eq!((field, reason), (Field::FileName, Invalid::LineBreak));

    for (given, sent) in [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\evil.exe", "evil.exe"),
        ("naïve résumé.pdf", "naïve résumé.pdf"),
        ("quote\"and\\back\\slash.txt", "slash.txt"),
        ("quote\"and.txt", "quote\"and.txt"),
        (
            "report.pdf\"; filename=\"x.html",
            "report.pdf\"; filename=\"x.html",
        ),
    ] {
        let bytes = encode(base().attach(Attachment::from_bytes(given, b"data".to_vec())));
        let text = String::from_utf8(bytes.clone()).unwrap();
        let dispositions = text.matches("Content-Disposition:").count();
        assert_eq!(dispositions, 1, "{given:?}");
        let decoded = mail_parser(&bytes);
        assert_eq!(
            decoded.attachments,
            vec![(sent.to_owned(), b"data".to_vec())],
            "{given:?}"
        );
        if python_available() {
            assert_eq!(
                python(&bytes).0.attachments,
                vec![(sent.to_owned(), b"data".to_vec())],
                "{given:?}"
            );
        }
    }
    for empty in ["", "dir/", "..", "a/.."] {
        let (field, reason) = refused(base().attach(Attachment::from_bytes(empty, Vec::new())));
        assert_eq!(
            (field, reason),
            (Field::FileName, Invalid::Empty),
            "{empty:?}"
        );
    }
}

/// Case 44: content types and custom headers are validated, long values folded.
#[test]
fn content_types_and_custom_headers() {
    for content_type in [
        "text/plain; charset=utf-8\r\nX-Evil: 1",
        "text/plain; charset=utf-8",
        "text",
        "multipart/mixed",
        "a/b c",
    ] {
        let attachment = Attachment::from_bytes("a.txt", b"x".to_vec()).content_type(content_type);
        let (field, _) = refused(base().attach(attachment));
        assert_eq!(field, Field::ContentType, "{content_type:?}");
    }
    for name in [
        "X-Test\r\nBcc",
        "X Test",
        "X:Test",
        "Bcc",
        "Content-Type",
        "content-transfer-encoding",
        "MIME-Version",
        "From",
        "",
    ] {
        let (field, _) = refused(base().header(name, "1"));
        assert_eq!(field, Field::HeaderName, "{name:?}");
    }
    for lb in LINE_BREAKS {
        let (field, reason) = refused(base().header("X-Test", &format!("a{lb}Bcc: x@evil")));
        assert_eq!(
            (field, reason),
            (Field::Header("X-Test".into()), expected_reason(lb))
        );
    }
    let long = (0..1000)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let unbroken = "x".repeat(5000);
    for value in [&long, &unbroken] {
        let bytes = encode(base().header("X-Long", value));
        let head = &bytes[..mime_support::find(&bytes, b"\r\n\r\n").unwrap()];
        for line in head.split(|&b| b == b'\n') {
            assert!(line.len() <= 79, "line of {} octets", line.len());
            assert!(
                line.iter().any(|&b| b != b' ' && b != b'\r'),
                "whitespace-only line"
            );
        }
        assert_eq!(
            custom_header(&bytes, "X-Long").as_deref(),
            Some(value.as_str())
        );
    }
}

/// Case 45: a body full of boundary-like lines cannot end its part early.
#[test]
fn boundaries_do_not_collide() {
    let html = "--=_\r\n--=_0000\r\n<p>--=_ffffffffffffffffffffffffffffffff--</p>\r\n".repeat(20);
    let bytes = encode(
        base()
            .html(html.as_str())
            .attach(Attachment::from_bytes("a.bin", b"--=_\r\n".repeat(100))),
    );
    let decoded = mail_parser(&bytes);
    assert_eq!(
        decoded.html.as_deref(),
        Some(html.replace("\r\n", "\n").as_str())
    );
    assert_eq!(decoded.attachments.len(), 1);

    // Content that contains the boundary a seeded source will draw is caught, and another drawn.
    let first = encode(
        base()
            .html("x")
            .attach(Attachment::from_bytes("a.bin", vec![1])),
    );
    let text = String::from_utf8(first).unwrap();
    let boundary = text
        .split("boundary=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let plain = format!("line\n--{boundary}\nmore");
    let bytes = encode(
        base()
            .text(plain.as_str())
            .attach(Attachment::from_bytes("a.bin", vec![1])),
    );
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(!text.contains(&format!("boundary=\"{boundary}\"")));
    assert_eq!(
        mail_parser(&bytes).text.as_deref(),
        Some("line\n--".to_owned() + &boundary + "\nmore\n").as_deref()
    );
}

/// A source that always returns the same number cannot make a colliding message.
#[test]
fn a_constant_source_that_collides_is_an_error() {
    struct Constant;
    impl smtpwire::mime::RandomSource for Constant {
        fn next_u128(&mut self) -> u128 {
            7
        }
    }
    let result = Message::builder()
        .from("a@example.com")
        .text(format!("--=_{:032x}", 7))
        .attach(Attachment::from_bytes("a.bin", vec![1]))
        .random_source(Constant)
        .build();
    assert!(matches!(result, Err(Error::BoundaryCollision)));
    // Nested multiparts need distinct boundaries, which a constant source cannot give either.
    let result = Message::builder()
        .from("a@example.com")
        .text("t")
        .html("h")
        .attach(Attachment::from_bytes("a.bin", vec![1]))
        .random_source(Constant)
        .build();
    assert!(matches!(result, Err(Error::BoundaryCollision)));
}

/// Case 46: Bcc is envelope-only; message ids are validated.
#[test]
fn bcc_and_message_ids() {
    let message = base()
        .cc("cc@example.com")
        .bcc("Secret <hidden@example.com>, other@example.com")
        .build()
        .unwrap();
    let bytes = message.to_bytes().unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        !text.contains("hidden")
            && !text.contains("other@")
            && !text.to_lowercase().contains("bcc")
    );
    let recipients: Vec<&str> = message.envelope_to().iter().map(|m| m.as_str()).collect();
    assert_eq!(
        recipients,
        [
            "to@example.com",
            "cc@example.com",
            "hidden@example.com",
            "other@example.com"
        ]
    );

    for bad in [
        "<a@b>\r\nBcc: x@evil",
        "no-at-sign",
        "<a b@c>",
        "<a@b",
        "<@b>",
        "<a@>",
        "<a..b@c>",
    ] {
        assert_eq!(
            refused(base().in_reply_to(bad)).0,
            Field::InReplyTo,
            "{bad:?}"
        );
        assert_eq!(
            refused(base().references(bad)).0,
            Field::References,
            "{bad:?}"
        );
        assert_eq!(
            refused(base().message_id(bad)).0,
            Field::MessageId,
            "{bad:?}"
        );
    }
    let bytes = encode(
        base()
            .in_reply_to("<a@b.example>")
            .references("<x@y> <a@b.example> <z@[1.2.3.4]>"),
    );
    let fields = header_fields(&bytes);
    let get = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim().to_owned())
    };
    assert_eq!(get("In-Reply-To").as_deref(), Some("<a@b.example>"));
    assert_eq!(
        get("References").as_deref(),
        Some("<x@y> <a@b.example> <z@[1.2.3.4]>")
    );
    let id = get("Message-ID").unwrap();
    assert!(
        id.starts_with('<') && id.ends_with("@example.com>") && id.len() == 46,
        "{id}"
    );
}

/// Content-IDs are atext only.
#[test]
fn content_ids_are_validated() {
    for bad in ["a b", "a\r\nX: y", "<a>>", "a@b@c", ""] {
        let attachment = Attachment::from_bytes("a.png", vec![1]).content_id(bad);
        assert_eq!(
            refused(base().html("<img>").attach(attachment)).0,
            Field::ContentId,
            "{bad:?}"
        );
    }
}

/// No single caller-provided token can stretch a line past 998 octets (found by the fuzzer: a
/// display name of one 1171-character atom).
#[test]
fn long_unbroken_values_stay_within_line_limits() {
    let long = "y".repeat(1200);
    let group =
        smtpwire::mime::Group::new(&long, vec![NamedAddress::new("g@example.com").unwrap()])
            .unwrap();
    let bytes = encode(
        base()
            .cc(NamedAddress::with_name(&long, "a@example.com").unwrap())
            .cc(group)
            .subject(long.as_str())
            .header("X-Long", &long)
            .attach(Attachment::from_bytes(
                format!("{}.pdf", &long[..1000]),
                vec![1],
            )),
    );
    let decoded = mail_parser(&bytes);
    assert_eq!(decoded.subject.as_deref(), Some(long.as_str()));
    assert_eq!(decoded.addresses[2].1.as_deref(), Some(long.as_str()));
    assert_eq!(decoded.attachments[0].0, format!("{}.pdf", &long[..1000]));
}
