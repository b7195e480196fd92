//! EHLO replies from real servers and hostile ones, read into `Capabilities`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use smtpwire::auth::Mechanism;
use smtpwire::capabilities::{Capabilities, SizeLimit};
use smtpwire::reply::{Reply, ReplyCode, ReplyFramer, ReplyLimits};
use std::time::{Duration, Instant};

/// Frames `wire` as exactly one reply and reads it.
fn ehlo(wire: &[u8]) -> Capabilities {
    let mut framer = ReplyFramer::default();
    framer.push(wire);
    let reply = framer.next_reply().unwrap().expect("a complete reply");
    assert_eq!(framer.buffered(), 0);
    Capabilities::from_ehlo(&reply)
}

/// Reads lines that the framer would refuse or limit, straight from a `Reply`.
fn ehlo_lines(lines: Vec<Vec<u8>>) -> Capabilities {
    Capabilities::from_ehlo(&Reply::new(ReplyCode::OK, None, lines))
}

fn keywords(capabilities: &Capabilities) -> Vec<&str> {
    capabilities
        .other_extensions()
        .iter()
        .map(|extension| extension.keyword())
        .collect()
}

fn other(name: &str) -> Mechanism {
    Mechanism::Other(name.to_owned())
}

#[test]
fn postfix() {
    let capabilities = ehlo(
        b"250-mail.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n\
          250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n\
          250 CHUNKING\r\n",
    );
    assert_eq!(capabilities.domain(), "mail.example.com");
    assert!(capabilities.pipelining());
    assert_eq!(capabilities.size(), Some(SizeLimit::Max(10_240_000)));
    assert!(capabilities.starttls());
    assert!(capabilities.enhanced_status_codes());
    assert!(capabilities.eight_bit_mime());
    assert!(capabilities.dsn());
    assert!(capabilities.smtputf8());
    assert!(capabilities.chunking());
    assert!(!capabilities.binary_mime());
    assert!(!capabilities.requiretls());
    assert!(capabilities.auth_mechanisms().is_empty());
    assert_eq!(keywords(&capabilities), ["VRFY", "ETRN"]);
    assert!(capabilities.other_extensions()[0].params().is_empty());
}

#[test]
fn qq_mail_with_both_auth_forms() {
    let capabilities = ehlo(
        b"250-newxmesmtplogicsvrszc5-0.qq.com\r\n250-PIPELINING\r\n250-SIZE 73400320\r\n\
          250-STARTTLS\r\n250-AUTH LOGIN PLAIN XOAUTH XOAUTH2\r\n250-AUTH=LOGIN\r\n\
          250-MAILCOMPRESS\r\n250 8BITMIME\r\n",
    );
    assert_eq!(capabilities.domain(), "newxmesmtplogicsvrszc5-0.qq.com");
    assert_eq!(
        capabilities.auth_mechanisms(),
        [
            Mechanism::Login,
            Mechanism::Plain,
            other("XOAUTH"),
            Mechanism::XOAuth2
        ]
    );
    assert!(capabilities.supports_auth(&Mechanism::Plain));
    assert_eq!(capabilities.size(), Some(SizeLimit::Max(73_400_320)));
    assert!(capabilities.starttls() && capabilities.pipelining() && capabilities.eight_bit_mime());
    assert!(!capabilities.smtputf8());
    assert_eq!(keywords(&capabilities), ["MAILCOMPRESS"]);
}

#[test]
fn netease_163() {
    let capabilities = ehlo(
        b"250-mail\r\n250-PIPELINING\r\n250-AUTH LOGIN PLAIN XOAUTH2\r\n\
          250-AUTH=LOGIN PLAIN XOAUTH2\r\n\
          250-coremail 1Uxr2xKj7kG0xkI17xGrU7I0s8FY2U3Uj8Cz28x1UUUUU7Ic2I0Y2Ur2T_7UCa0xDrUUUUj\r\n\
          250-STARTTLS\r\n250-ID\r\n250 8BITMIME\r\n",
    );
    assert_eq!(capabilities.domain(), "mail");
    assert_eq!(
        capabilities.auth_mechanisms(),
        [Mechanism::Login, Mechanism::Plain, Mechanism::XOAuth2]
    );
    assert!(capabilities.starttls() && capabilities.eight_bit_mime());
    assert_eq!(capabilities.size(), None);
    assert_eq!(keywords(&capabilities), ["COREMAIL", "ID"]);
    assert_eq!(
        capabilities.other_extensions()[0].params(),
        ["1Uxr2xKj7kG0xkI17xGrU7I0s8FY2U3Uj8Cz28x1UUUUU7Ic2I0Y2Ur2T_7UCa0xDrUUUUj"]
    );
}

#[test]
fn gmail_before_and_after_starttls() {
    let before = ehlo(
        b"250-smtp.gmail.com at your service, [203.0.113.7]\r\n250-SIZE 35882577\r\n\
          250-8BITMIME\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n\
          250-CHUNKING\r\n250 SMTPUTF8\r\n",
    );
    assert_eq!(before.domain(), "smtp.gmail.com");
    assert!(before.starttls());
    assert!(before.auth_mechanisms().is_empty());
    assert_eq!(before.size(), Some(SizeLimit::Max(35_882_577)));

    let after = ehlo(
        b"250-smtp.gmail.com at your service, [203.0.113.7]\r\n250-SIZE 35882577\r\n\
          250-8BITMIME\r\n250-AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH\r\n\
          250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n",
    );
    assert!(!after.starttls());
    assert_eq!(
        after.auth_mechanisms(),
        [
            Mechanism::Login,
            Mechanism::Plain,
            Mechanism::XOAuth2,
            other("PLAIN-CLIENTTOKEN"),
            other("OAUTHBEARER"),
            other("XOAUTH"),
        ]
    );
    assert!(after.smtputf8() && after.chunking() && after.enhanced_status_codes());
    assert!(after.other_extensions().is_empty());
}

#[test]
fn outlook() {
    let capabilities = ehlo(
        b"250-LO4P123CA0001.outlook.office365.com Hello [203.0.113.7]\r\n250-SIZE 157286400\r\n\
          250-PIPELINING\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n250-AUTH LOGIN XOAUTH2\r\n\
          250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n",
    );
    assert_eq!(capabilities.domain(), "LO4P123CA0001.outlook.office365.com");
    assert_eq!(capabilities.size(), Some(SizeLimit::Max(157_286_400)));
    assert_eq!(
        capabilities.auth_mechanisms(),
        [Mechanism::Login, Mechanism::XOAuth2]
    );
    assert!(!capabilities.supports_auth(&Mechanism::Plain));
    assert!(capabilities.binary_mime() && capabilities.chunking() && capabilities.dsn());
    assert!(!capabilities.starttls());
}

#[test]
fn requiretls_and_keywords_in_any_case() {
    let capabilities = ehlo(
        b"250-mx.test\r\n250-starttls\r\n250-Auth plain Login\r\n250-RequireTLS\r\n\
          250-size 1000\r\n250-vrfy\r\n250 x-exps GSSAPI ntlm\r\n",
    );
    assert!(capabilities.starttls() && capabilities.requiretls());
    assert_eq!(
        capabilities.auth_mechanisms(),
        [Mechanism::Plain, Mechanism::Login]
    );
    assert_eq!(capabilities.size(), Some(SizeLimit::Max(1000)));
    assert_eq!(keywords(&capabilities), ["VRFY", "X-EXPS"]);
    assert_eq!(
        capabilities.other_extensions()[1].params(),
        ["GSSAPI", "ntlm"]
    );
}

#[test]
fn legacy_auth_equals_form() {
    let capabilities = ehlo(b"250-mx.test\r\n250 AUTH=PLAIN LOGIN\r\n");
    assert_eq!(
        capabilities.auth_mechanisms(),
        [Mechanism::Plain, Mechanism::Login]
    );

    let capabilities = ehlo(b"250-mx.test\r\n250-AUTH=LOGIN\r\n250 AUTH PLAIN LOGIN\r\n");
    assert_eq!(
        capabilities.auth_mechanisms(),
        [Mechanism::Login, Mechanism::Plain]
    );

    for wire in [
        &b"250-mx.test\r\n250 AUTH=\r\n"[..],
        b"250-mx.test\r\n250 AUTH\r\n",
    ] {
        assert!(ehlo(wire).auth_mechanisms().is_empty());
    }
}

#[test]
fn the_first_line_names_the_server_and_is_never_a_keyword() {
    let capabilities = ehlo(b"250 STARTTLS\r\n");
    assert_eq!(capabilities.domain(), "STARTTLS");
    assert!(!capabilities.starttls());

    let capabilities = ehlo(b"250 [192.0.2.1] hello\r\n");
    assert_eq!(capabilities.domain(), "[192.0.2.1]");

    for wire in [&b"250\r\n"[..], b"250 \r\n", b"250-\r\n250 PIPELINING\r\n"] {
        assert_eq!(ehlo(wire).domain(), "");
    }
    assert!(ehlo(b"250-\r\n250 PIPELINING\r\n").pipelining());
    assert_eq!(ehlo_lines(Vec::new()), Capabilities::default());
}

#[test]
fn blank_and_malformed_lines_are_skipped() {
    // RUSTSEC-2026-0562: a whitespace-only line made lettre panic.
    let capabilities = ehlo(b"250-mx.test\r\n250-   \r\n250 AUTH PLAIN\r\n");
    assert_eq!(capabilities.auth_mechanisms(), [Mechanism::Plain]);

    let capabilities = ehlo(
        b"250-mx.test\r\n250-\r\n250- \t \r\n250-  STARTTLS  \r\n250-_BAD\r\n250--DASH\r\n\
          250-=PLAIN\r\n250-X_Y\r\n250 \r\n",
    );
    assert!(capabilities.starttls());
    assert!(capabilities.other_extensions().is_empty());
    assert!(capabilities.auth_mechanisms().is_empty());
}

#[test]
fn hostile_bytes_neither_panic_nor_reach_the_lists() {
    let capabilities = ehlo_lines(vec![
        b"\xff\xfe.example \x1b]0;pwned\x07".to_vec(),
        b"\xff\xfe".to_vec(),
        b"AUTH \xffPLAIN PLAIN \x1b[31m LOGIN=X THIS-NAME-IS-LONGER-THAN-20".to_vec(),
        b"X-\xe4 y".to_vec(),
        b"XFOO \xff\x00".to_vec(),
        b"SIZE \xff".to_vec(),
        b"\r\n\r\nSTARTTLS".to_vec(),
    ]);
    assert_eq!(capabilities.domain(), "\u{fffd}\u{fffd}.example");
    assert_eq!(capabilities.auth_mechanisms(), [Mechanism::Plain]);
    assert_eq!(keywords(&capabilities), ["XFOO"]);
    assert_eq!(capabilities.other_extensions()[0].params(), ["\u{fffd}\0"]);
    assert_eq!(capabilities.size(), Some(SizeLimit::Unlimited));
    assert!(!capabilities.starttls());
}

#[test]
fn size_edge_cases() {
    use SizeLimit::{Max, Unlimited};
    let cases: &[(&[u8], SizeLimit)] = &[
        (b"SIZE", Unlimited),
        (b"SIZE 0", Unlimited),
        (b"SIZE 000", Unlimited),
        (b"SIZE 1", Max(1)),
        (b"SIZE 0042", Max(42)),
        (b"SIZE 18446744073709551615", Max(u64::MAX)),
        (b"SIZE 18446744073709551616", Unlimited),
        (b"SIZE 999999999999999999999999", Unlimited),
        (b"SIZE -1", Unlimited),
        (b"SIZE +5", Unlimited),
        (b"SIZE 1e6", Unlimited),
        (b"SIZE 10MB", Unlimited),
        (b"SIZE \xff", Unlimited),
        (b"SIZE 10 20", Max(10)),
        (b"SIZE=2048", Max(2048)),
        (b"size  4096 ", Max(4096)),
    ];
    for (line, expected) in cases {
        let capabilities = ehlo_lines(vec![b"mx.test".to_vec(), line.to_vec()]);
        assert_eq!(
            capabilities.size(),
            Some(*expected),
            "{}",
            line.escape_ascii()
        );
    }
    let twice = ehlo(b"250-mx.test\r\n250-SIZE 1000\r\n250 SIZE 2000\r\n");
    assert_eq!(
        twice.size(),
        Some(SizeLimit::Max(1000)),
        "the first announcement holds"
    );
}

#[test]
fn capability_bombs_are_bounded_and_linear() {
    let started = Instant::now();

    // 10,000 keywords, one line per push, through a framer whose limits allow them.
    let mut wire: Vec<Vec<u8>> = vec![b"250-mx.test\r\n".to_vec()];
    wire.extend((0..10_000).map(|i| format!("250-X{i} p\r\n").into_bytes()));
    wire.push(b"250 AUTH PLAIN\r\n".to_vec());
    let limits = ReplyLimits::default()
        .with_max_lines(20_000)
        .with_max_reply_len(1 << 20);
    let mut framer = ReplyFramer::new(limits);
    for line in &wire {
        framer.push(line);
    }
    let capabilities = Capabilities::from_ehlo(&framer.next_reply().unwrap().unwrap());
    assert_eq!(capabilities.other_extensions().len(), 64);
    assert_eq!(capabilities.other_extensions()[63].keyword(), "X63");
    assert_eq!(capabilities.auth_mechanisms(), [Mechanism::Plain]);

    // AUTH with 10,000 distinct tokens, then 10,000 copies of one.
    let tokens: Vec<String> = (0..10_000).map(|i| format!("M{i}")).collect();
    let many = ehlo_lines(vec![
        b"mx.test".to_vec(),
        format!("AUTH {}", tokens.join(" ")).into_bytes(),
    ]);
    assert_eq!(many.auth_mechanisms().len(), 64);
    assert_eq!(many.auth_mechanisms()[63], other("M63"));
    let same = ehlo_lines(vec![
        b"mx.test".to_vec(),
        [&b"AUTH"[..], &b" PLAIN".repeat(10_000)].concat(),
    ]);
    assert_eq!(same.auth_mechanisms(), [Mechanism::Plain]);
    let lines = ehlo_lines(vec![b"AUTH LOGIN PLAIN".to_vec(); 10_000]);
    assert_eq!(
        lines.auth_mechanisms(),
        [Mechanism::Login, Mechanism::Plain]
    );

    // Quadratic work on these would take minutes.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
