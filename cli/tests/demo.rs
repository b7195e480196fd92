//! `smtpwire demo` works anywhere: no account, no network, only 127.0.0.1.

#![allow(clippy::unwrap_used)]

#[path = "fixtures/common.rs"]
mod common;

use mail_parser::{MessageParser, MimeHeaders};

#[test]
fn the_demo_sends_over_starttls_with_auth_and_shows_everything() {
    let output = common::smtpwire().arg("demo").output().unwrap();
    let (stdout, stderr) = common::succeeded(&output);
    for needle in [
        "C: STARTTLS",
        "*  TLS established: TLSv1_",
        "*    certificate: CN=localhost",
        "*    verified",
        "C: AUTH PLAIN <redacted",
        "S: 235 2.7.0 Authentication successful",
        "C: <message data, ",
        "✓ friend@example.com",
        "== the message as the server received it (MAIL FROM:<demo@localhost>, RCPT TO:<friend@example.com>) ==",
    ] {
        assert!(stdout.contains(needle), "{needle} in\n{stdout}");
    }
    // The demo's made-up app password, in clear and in base64, never shows.
    for secret in ["abcdefghijklmnop", "YWJjZGVmZ2hpamtsbW5vcA"] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret));
    }
    let received = stdout
        .split("RCPT TO:<friend@example.com>) ==\n")
        .nth(1)
        .unwrap();
    let message = MessageParser::default().parse(received.as_bytes()).unwrap();
    assert_eq!(message.subject(), Some("测试邮件: smtpwire demo"));
    assert!(message.body_html(0).unwrap().contains("<b>smtpwire</b>"));
    let attachment = message.attachments().next().unwrap();
    assert_eq!(attachment.attachment_name(), Some("报告.png"));
}
