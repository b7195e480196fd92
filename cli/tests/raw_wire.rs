//! `smtpwire raw` against a scripted server, asserting the exact octets that crossed the wire:
//! no Bcc field in any spelling or line-ending trick (issue 13.3), and a `SIZE=` that counts
//! the message as it is sent (issue 11.6).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "fixtures/common.rs"]
mod common;

use common::scripted;

use common::{smtpwire, succeeded};
use scripted::Received;

/// Sends `stdin` with `raw` and the extra `args` to a scripted server offering `extensions`
/// and taking the message for `rcpts` recipients.
fn raw(extensions: &[&str], rcpts: usize, args: &[&str], stdin: &[u8]) -> Received {
    let server = scripted::start(scripted::accepting(extensions, rcpts));
    let output = smtpwire()
        .args(["raw", "--server", &server.address(), "--tls", "none"])
        .arg("--insecure-plaintext")
        .args(args)
        .write_stdin(stdin)
        .output()
        .unwrap();
    succeeded(&output);
    server.received()
}

/// The message itself: BDAT octets as they are; DATA octets without the terminator and with
/// the stuffed dots removed (RFC 5321 §4.5.2). RFC 1870's SIZE counts this.
fn message(received: &Received) -> Vec<u8> {
    let wire = received.data();
    if received.commands().iter().any(|c| c.starts_with("BDAT")) {
        return wire;
    }
    let body = wire
        .strip_suffix(b".\r\n")
        .expect("DATA ends with the terminator");
    let mut message = Vec::with_capacity(body.len());
    for line in body.split_inclusive(|&b| b == b'\n') {
        message.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
    }
    message
}

/// The `SIZE=` parameter of MAIL FROM, if one was sent.
fn announced_size(received: &Received) -> Option<u64> {
    let commands = received.commands();
    let mail = commands.iter().find(|c| c.starts_with("MAIL FROM:"))?;
    let size = mail.split(' ').find_map(|p| p.strip_prefix("SIZE="))?;
    Some(size.parse().unwrap())
}

/// Nothing of the hidden recipient is in the data: neither a Bcc field nor its address.
fn assert_no_bcc(received: &Received) {
    let data = String::from_utf8_lossy(&received.data()).to_ascii_lowercase();
    assert!(!data.contains("bcc"), "a Bcc field went out:\n{data}");
    assert!(
        !data.contains("hidden"),
        "the Bcc address went out:\n{data}"
    );
}

fn rcpts(received: &Received) -> Vec<String> {
    received
        .commands()
        .iter()
        .filter_map(|c| c.strip_prefix("RCPT TO:"))
        .map(str::to_owned)
        .collect()
}

/// [`raw`] to a server offering nothing and taking `rcpts` recipients: nothing of the hidden
/// recipient goes out in the data.
fn raw_without_bcc(rcpts: usize, args: &[&str], message: &[u8]) -> Received {
    let received = raw(&[], rcpts, args, message);
    assert_no_bcc(&received);
    received
}

/// [`raw_without_bcc`] with `-t`: the envelope goes to `expected`, the hidden recipient
/// among them.
fn t_without_bcc(message: &[u8], expected: [&str; 2]) -> Received {
    let received = raw_without_bcc(2, &["-t"], message);
    assert_eq!(rcpts(&received), expected);
    received
}

#[test]
fn bcc_with_space_before_the_colon_is_a_bcc_field() {
    // RFC 5322 §4.5.3 obsolete syntax: whitespace between the field name and the colon.
    let message = b"From: a@example.com\r\nTo: b@example.com\r\nBcc : hidden@example.com\r\n\
Subject: obsolete\r\n\r\nbody\r\n";
    t_without_bcc(message, ["<b@example.com>", "<hidden@example.com>"]);
    raw_without_bcc(
        1,
        &["--to", "b@example.com", "--from", "a@example.com"],
        b"Bcc\t: hidden@x.org\r\n\r\nbody\r\n",
    );
}

#[test]
fn a_header_block_with_cr_line_ends_hides_no_bcc() {
    // The encoder turns each lone CR into CRLF, so the server sees four fields here.
    let message =
        b"From: a@example.com\rTo: b@example.com\rBcc: hidden@example.com\rSubject: cr\r\rbody\r";
    let received = t_without_bcc(message, ["<b@example.com>", "<hidden@example.com>"]);
    assert!(received
        .data()
        .starts_with(b"From: a@example.com\r\nTo: b@example.com\r\nSubject: cr\r\n\r\nbody\r\n"));
}

#[test]
fn a_cr_inside_a_field_does_not_start_a_hidden_bcc() {
    let message =
        b"From: a@example.com\nSubject: x\rBcc: hidden@example.com\nTo: b@example.com\n\nbody\n";
    t_without_bcc(message, ["<hidden@example.com>", "<b@example.com>"]);
    raw_without_bcc(1, &["--to", "b@example.com"], message);
}

#[test]
fn resent_bcc_is_removed_too() {
    let message = b"Resent-From: a@example.com\r\nResent-Bcc: hidden@example.com\r\n\
From: a@example.com\r\nTo: b@example.com\r\n\r\nbody\r\n";
    raw_without_bcc(1, &["--to", "c@example.com"], message);
}

/// A UTF-8 message with bare LF line ends: every LF becomes CRLF on the wire.
const UTF8_LF: &[u8] = "From: 张三 <张三@example.com>\nTo: b@example.com\nSubject: 你好\n\n\
正文\n.a line with a leading dot\nend\n"
    .as_bytes();

#[test]
fn size_counts_the_octets_sent_in_bdat_chunks() {
    let received = raw(
        &[
            "PIPELINING",
            "CHUNKING",
            "SIZE 1000000",
            "8BITMIME",
            "SMTPUTF8",
        ],
        1,
        &["-t"],
        UTF8_LF,
    );
    assert!(
        received.commands().iter().any(|c| c.starts_with("BDAT")),
        "{:?}",
        received.commands()
    );
    let sent = message(&received);
    assert_eq!(announced_size(&received), Some(sent.len() as u64));
    assert_eq!(
        sent,
        String::from_utf8_lossy(UTF8_LF)
            .replace('\n', "\r\n")
            .as_bytes()
    );
}

#[test]
fn size_counts_the_message_sent_after_data_without_stuffing_or_terminator() {
    let received = raw(
        &["SIZE 1000000", "8BITMIME", "SMTPUTF8"],
        1,
        &["-t"],
        UTF8_LF,
    );
    assert!(received.commands().iter().any(|c| c == "DATA"));
    let sent = message(&received);
    assert_eq!(announced_size(&received), Some(sent.len() as u64));
    // No line break is added to a message that already ends in one; one is added otherwise.
    let unterminated = raw(
        &["SIZE 1000000"],
        1,
        &["--to", "b@example.com", "--from", "a@example.com"],
        b"Subject: s\n\nno newline",
    );
    assert_eq!(
        announced_size(&unterminated),
        Some(message(&unterminated).len() as u64)
    );
    assert!(unterminated.data().ends_with(b"no newline\r\n.\r\n"));
}
