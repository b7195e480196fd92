//! The builder's contract: envelope derivation, errors, streaming from files, sizes, flags.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod mime_support;

use mime_support::{assert_wire_safe, mail_parser};
use smtpwire::mime::{
    Attachment, Date, Error, Field, Invalid, Message, MessageBuilder, SeededRandom,
};
use std::io::{BufRead, Read, Write};
use std::path::PathBuf;

fn base() -> MessageBuilder {
    Message::builder()
        .from("a@example.com")
        .to("b@example.com")
        .random_source(SeededRandom::new(1))
}

fn temp_file(name: &str, data: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("smtpwire-mime-api-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    path
}

#[test]
fn envelope_from_headers() {
    let message = base()
        .from("张三 <zs@qq.com>")
        .sender("Bot <bot@example.com>")
        .from("other@example.com")
        .to("b@example.com, B Again <B@EXAMPLE.COM>")
        .cc("team: c@example.com, b@example.com;")
        .bcc("d@例子.中国")
        .build()
        .unwrap();
    assert_eq!(message.envelope_from().as_str(), "bot@example.com");
    let recipients: Vec<&str> = message.envelope_to().iter().map(|m| m.as_str()).collect();
    // The local part is case-sensitive, so B@EXAMPLE.COM is someone else; b@example.com once.
    assert_eq!(
        recipients,
        [
            "b@example.com",
            "B@EXAMPLE.COM",
            "c@example.com",
            "d@xn--fsqu00a.xn--fiqs8s"
        ]
    );
    assert!(!message.needs_smtputf8());
}

#[test]
fn explicit_envelope_wins() {
    let sender = smtpwire::address::Mailbox::parse("bounce@example.com").unwrap();
    let rcpt = smtpwire::address::Mailbox::parse("x@example.com").unwrap();
    let message = base()
        .envelope(sender.clone(), vec![rcpt.clone()])
        .build()
        .unwrap();
    assert_eq!(message.envelope_from(), &sender);
    assert_eq!(message.envelope_to(), [rcpt]);
}

#[test]
fn originator_errors() {
    assert!(matches!(
        Message::builder().to("b@example.com").build(),
        Err(Error::MissingFrom)
    ));
    assert!(matches!(
        base().from("c@example.com").build(),
        Err(Error::MissingSender)
    ));
    let group_from = Message::builder().from("g: a@example.com;").build();
    assert!(matches!(
        group_from,
        Err(Error::Invalid {
            field: Field::From,
            ..
        })
    ));
    let two_senders = base().sender("s@example.com, t@example.com").build();
    assert!(matches!(
        two_senders,
        Err(Error::Invalid {
            field: Field::Sender,
            ..
        })
    ));
    let bad = Message::builder().from("not an address").build();
    assert!(matches!(
        bad,
        Err(Error::Invalid {
            field: Field::From,
            reason: Invalid::Syntax(_)
        })
    ));
    // The first error is the one reported.
    let first = base().to("x").subject("ok\n").build();
    assert!(matches!(
        first,
        Err(Error::Invalid {
            field: Field::To,
            ..
        })
    ));
}

#[test]
fn utf8_local_parts_need_smtputf8() {
    let refused = base().to("用户@例子.中国").build();
    assert!(matches!(
        refused,
        Err(Error::Invalid {
            field: Field::To,
            reason: Invalid::NeedsSmtpUtf8
        })
    ));
    let message = base()
        .to("用户@例子.中国")
        .allow_utf8_addresses(true)
        .build()
        .unwrap();
    assert!(message.needs_smtputf8());
    let bytes = message.to_bytes().unwrap();
    assert!(String::from_utf8(bytes)
        .unwrap()
        .contains("To: b@example.com, 用户@xn--fsqu00a.xn--fiqs8s\r\n"));
    // Only the domain is international: punycode is enough, no SMTPUTF8.
    let message = base().to("user@例子.中国").build().unwrap();
    assert!(!message.needs_smtputf8());
}

#[test]
fn eight_bit_only_when_allowed() {
    let seven = base().text("中文").build().unwrap();
    assert!(!seven.needs_8bitmime());
    let eight = base().text("中文").allow_8bit(true).build().unwrap();
    assert!(eight.needs_8bitmime());
    // ASCII stays 7bit even when 8bit is allowed.
    assert!(!base()
        .text("plain")
        .allow_8bit(true)
        .build()
        .unwrap()
        .needs_8bitmime());
}

#[test]
fn inline_parts_need_html() {
    let result = base()
        .text("t")
        .attach(Attachment::from_bytes("a.png", vec![1]).content_id("a"))
        .build();
    assert!(matches!(result, Err(Error::InlineWithoutHtml)));
}

#[test]
fn missing_file_is_reported_at_build() {
    let result = base()
        .attach(Attachment::from_file("/nonexistent/smtpwire/file.pdf"))
        .build();
    match result {
        Err(Error::File { path, .. }) => {
            assert_eq!(path, PathBuf::from("/nonexistent/smtpwire/file.pdf"))
        }
        other => panic!("{other:?}"),
    }
    let dir = base()
        .attach(Attachment::from_file(std::env::temp_dir()))
        .build();
    assert!(matches!(dir, Err(Error::File { .. })));
}

#[test]
fn file_attachments_stream_and_match_in_memory_ones() {
    let data: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let path = temp_file("年度报告.pdf", &data);
    let from_file = base().attach(Attachment::from_file(&path)).build().unwrap();
    let from_bytes = base()
        .attach(Attachment::from_bytes("年度报告.pdf", data.clone()))
        .build()
        .unwrap();
    let bytes = from_file.to_bytes().unwrap();
    assert_eq!(bytes, from_bytes.to_bytes().unwrap());
    assert_eq!(bytes.len() as u64, from_file.encoded_len());
    assert_wire_safe(&bytes);
    assert_eq!(
        mail_parser(&bytes).attachments,
        vec![("年度报告.pdf".to_owned(), data)]
    );

    // The reader gives the same bytes however it is read.
    let mut one_byte = Vec::new();
    let mut reader = from_file.reader();
    let mut byte = [0];
    while reader.read(&mut byte).unwrap() == 1 {
        one_byte.push(byte[0]);
    }
    assert_eq!(one_byte, bytes);
    let mut chunks = Vec::new();
    let mut reader = from_file.reader();
    loop {
        let chunk = reader.fill_buf().unwrap();
        if chunk.is_empty() {
            break;
        }
        assert!(chunk.len() <= 128 * 1024, "chunks stay bounded");
        chunks.extend_from_slice(chunk);
        let n = chunk.len();
        reader.consume(n);
    }
    assert_eq!(chunks, bytes);
}

#[test]
fn a_file_that_changes_size_fails_the_write() {
    let path = temp_file("changing.bin", &[7; 1000]);
    let message = base().attach(Attachment::from_file(&path)).build().unwrap();
    std::fs::write(&path, [7; 10]).unwrap();
    let err = message.to_bytes().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(err.to_string().contains("shrank"), "{err}");
    std::fs::write(&path, [7; 2000]).unwrap();
    let err = message.write_to(&mut std::io::sink()).unwrap_err();
    assert!(err.to_string().contains("grew"), "{err}");
    std::fs::write(&path, [7; 1000]).unwrap();
    message.write_to(&mut std::io::sink()).unwrap();
}

#[test]
fn the_same_inputs_give_the_same_bytes() {
    let build = |seed| {
        base()
            .date(Date::from_unix(0, 0).unwrap())
            .text("t")
            .html("h")
            .attach(Attachment::from_bytes("a.bin", vec![1, 2, 3]))
            .random_source(SeededRandom::new(seed))
            .build()
            .unwrap()
            .to_bytes()
            .unwrap()
    };
    assert_eq!(build(5), build(5));
    assert_ne!(build(5), build(6));
    // The default source differs from message to message.
    let a = base()
        .text("t")
        .attach(Attachment::from_bytes("a", vec![1]))
        .random_source(smtpwire::mime::OsRandom::default());
    let b = Message::builder()
        .from("a@example.com")
        .text("t")
        .attach(Attachment::from_bytes("a", vec![1]));
    let (a, b) = (a.build().unwrap(), b.build().unwrap());
    assert_ne!(a.message_id(), b.message_id());
}

#[test]
fn written_twice_written_the_same() {
    let message = base()
        .text("x".repeat(10_000))
        .attach(Attachment::from_bytes("a", vec![9; 100_000]))
        .build()
        .unwrap();
    let mut first = Vec::new();
    message.write_to(&mut first).unwrap();
    let mut second = Vec::new();
    message.reader().read_to_end(&mut second).unwrap();
    assert_eq!(first, second);
    let clone = message.clone();
    assert_eq!(clone.to_bytes().unwrap(), first);
    // A writer that fails is reported.
    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("broken pipe"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    assert!(message.write_to(&mut Broken).is_err());
}

#[test]
fn empty_message_is_an_empty_text_part() {
    let bytes = base().build().unwrap().to_bytes().unwrap();
    assert_wire_safe(&bytes);
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.ends_with(
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
    ));
}

#[test]
fn errors_display_in_lowercase_with_the_field() {
    let err = base().subject("a\nb").build().unwrap_err();
    assert_eq!(err.to_string(), "invalid subject: contains a line break");
    let err = base().header("X-Y", "a\0").build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid \"X-Y\" header: contains a nul character"
    );
    assert_eq!(
        Error::MissingFrom.to_string(),
        "the message has no from address"
    );
}

#[test]
fn messages_and_readers_cross_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>() {}
    assert_send_sync::<Message>();
    assert_send::<smtpwire::mime::Reader>();
    assert_send::<MessageBuilder>();
}

/// Found by the Python round-trip property test: a long non-ASCII subject was folded right after
/// `Subject:`, leaving the first line bare, and Python's `email` then decoded it with a leading
/// space. The first encoded-word now shares the field name's line.
#[test]
fn first_encoded_word_shares_the_field_name_line() {
    let subject = "\u{5e2}l w\u{200f}丳nippoaa乖l w\u{200f}侹@(f俺ihu   m";
    let message = smtpwire::mime::Message::builder()
        .from("from@example.com")
        .to("to@example.com")
        .subject(subject)
        .text("x")
        .build()
        .unwrap();
    let bytes = message.to_bytes().unwrap();
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.contains("\r\nSubject: =?UTF-8?"), "{text}");
    assert!(!text.contains("\r\nSubject:\r\n"), "{text}");
}
