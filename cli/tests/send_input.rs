//! `smtpwire send` input handling: standard input read once, and dry runs of large messages
//! streamed as the real send streams them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "fixtures/common.rs"]
mod common;

use common::{assert_contains, exited, outputs, smtpwire, Sentinel};
use mail_parser::{MessageParser, MimeHeaders};

#[test]
fn standard_input_cannot_be_both_the_text_and_the_html() {
    let sentinel = Sentinel::start();
    let output = smtpwire()
        .args(["send", "--server", &sentinel.address])
        .args(["--from", "a@example.com", "--to", "b@example.com"])
        .args(["--text", "@-", "--html", "@-"])
        .write_stdin("<p>hello</p>")
        .output()
        .unwrap();
    let (_, stderr) = exited(&output, 64);
    assert_contains(
        &stderr,
        &[
            "--html @-: standard input is already read by --text @-",
            "nothing was sent",
        ],
    );
    assert_eq!(sentinel.connections(), 0);

    // One of them from standard input is fine.
    let output = smtpwire()
        .args(["send", "--dry-run"])
        .args(["--from", "a@example.com", "--to", "b@example.com"])
        .args(["--text", "plain", "--html", "@-"])
        .write_stdin("<p>from stdin</p>")
        .output()
        .unwrap();
    let (stdout, stderr) = outputs(&output);
    assert!(output.status.success(), "{stderr}");
    let message = MessageParser::default().parse(stdout.as_bytes()).unwrap();
    assert_eq!(message.body_html(0).unwrap().trim(), "<p>from stdin</p>");
}

/// A file of `len` octets whose content shows where each byte was.
fn big_file(path: &std::path::Path, len: usize) -> Vec<u8> {
    let content: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    std::fs::write(path, &content).unwrap();
    content
}

#[test]
fn a_dry_run_streams_a_large_attachment_exactly_as_announced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    // More than the encoder's blocks and the stdout buffer, several times over.
    let content = big_file(&path, 3 * 1024 * 1024 + 17);
    let send = |json: bool| {
        let mut command = smtpwire();
        command
            .args(["send", "--dry-run"])
            .args(["--from", "张三 <a@example.com>", "--to", "b@example.com"])
            .args(["--subject", "大附件", "--text", "see attachment"])
            .arg("--attach")
            .arg(&path);
        if json {
            command.arg("--json");
        }
        command.output().unwrap()
    };

    let output = send(false);
    let (_, stderr) = outputs(&output);
    assert!(output.status.success(), "{stderr}");
    let raw = output.stdout;
    assert_contains(
        &stderr,
        &[&format!(
            "nothing sent: {} bytes from <a@example.com>",
            raw.len()
        )],
    );
    let message = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(message.subject(), Some("大附件"));
    let part = message.attachments().next().unwrap();
    assert_eq!(part.attachment_name(), Some("big.bin"));
    assert!(
        part.contents() == content.as_slice(),
        "the attachment differs"
    );

    // The JSON form carries the same message, byte for byte, and its exact size.
    let output = send(true);
    assert!(output.status.success(), "{}", outputs(&output).1);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["status"], "dry_run");
    assert_eq!(report["bytes"], raw.len() as u64);
    assert_eq!(
        report["envelope"]["to"],
        serde_json::json!(["b@example.com"])
    );
    let json_message = report["message"].as_str().unwrap();
    // The boundaries and Message-ID differ between runs; everything else is the same size.
    assert_eq!(json_message.len(), raw.len());
    let parsed = MessageParser::default()
        .parse(json_message.as_bytes())
        .unwrap();
    assert!(parsed.attachments().next().unwrap().contents() == content.as_slice());
}
