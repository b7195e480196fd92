//! SMTP extensions from the command line, end to end: internationalized addresses (RFC 6531,
//! RFC 6532) and delivery status notifications (RFC 3461), through `send`, `send --message`
//! and `bulk`, against the real Postfix of `scripts/test-servers.sh` (mail and notifications
//! read back from its Maildir) and against a scripted server that offers neither extension,
//! where the message must be refused before MAIL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "fixtures/common.rs"]
mod common;

use common::scripted;

use common::{
    assert_contains, assert_prints, exited, from_file, messages_file, outputs, plain_command,
    send_plain, sent, sent_with, servers, smtpwire, succeeded, MINIMAL,
};
use mail_parser::MessageParser;
use scripted::Step;
use serde_json::json;

/// EHLO keywords of the scripted servers here, besides the one each test leaves out.
const WITHOUT_DSN: [&str; 4] = ["PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES"];
const WITHOUT_SMTPUTF8: [&str; 4] = ["PIPELINING", "8BITMIME", "DSN", "ENHANCEDSTATUSCODES"];

/// A server offering only `extensions` that answers whatever follows EHLO with 221 and hangs
/// up: a client that refuses the message before MAIL says QUIT there, and the commands show it.
fn quitting_after_ehlo(extensions: &[&str]) -> Vec<Step> {
    vec![
        Step::reply("220 scripted ESMTP"),
        Step::Expect("EHLO"),
        Step::ehlo(extensions),
        Step::Expect(""),
        Step::reply("221 2.0.0 bye"),
        Step::Close,
    ]
}

/// Whether the client sent MAIL.
fn sent_mail(commands: &[String]) -> bool {
    commands
        .iter()
        .any(|c| c.to_ascii_uppercase().starts_with("MAIL"))
}

/// A message file (JSON) in `dir`.
fn message_file(dir: &std::path::Path, message: &serde_json::Value) -> std::path::PathBuf {
    let path = dir.join("message.json");
    std::fs::write(&path, message.to_string()).unwrap();
    path
}

#[test]
fn utf8_addresses_go_through_postfix_with_smtputf8() {
    let Some(servers) = servers() else { return };
    let dir = tempfile::tempdir().unwrap();

    // From the flags, a Chinese local part in From, To and Reply-To.
    let mut command = plain_command("send", &servers.plain);
    command
        .args(["--from", "发件人 <发件人@smtpwire.test>"])
        .args(["--to", "用户@smtpwire.test"]);
    let (_, stderr, delivered) = sent_with(&servers, command, &["--text", "你好", "--transcript"]);
    assert!(
        stderr.contains("C: MAIL FROM:<发件人@smtpwire.test> SIZE=")
            && stderr.contains(" SMTPUTF8\n"),
        "{stderr}"
    );
    assert!(
        stderr.contains("C: RCPT TO:<用户@smtpwire.test>"),
        "{stderr}"
    );
    let text = String::from_utf8_lossy(&delivered).into_owned();
    assert!(
        text.contains("Delivered-To: 用户@smtpwire.test\r\n")
            || text.contains("Delivered-To: 用户@smtpwire.test\n"),
        "{text}"
    );
    let message = MessageParser::default().parse(&delivered).unwrap();
    let to = message.to().unwrap().first().unwrap();
    assert_eq!(to.address(), Some("用户@smtpwire.test"));

    // An ASCII envelope whose headers hold a UTF-8 address (Reply-To) needs SMTPUTF8 too.
    let mut command = send_plain(&servers);
    command.args(["--reply-to", "回复@smtpwire.test"]);
    let (_, stderr, _) = sent_with(&servers, command, &["--text", "x", "--transcript"]);
    assert!(stderr.contains(" SMTPUTF8\n"), "{stderr}");

    // From a message file, with the sender from an account.
    let token = common::token();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[accounts.intl]\nserver = \"{}\"\ntls = \"none\"\nfrom = \"张三 <张三@smtpwire.test>\"\n",
            servers.plain
        ),
    )
    .unwrap();
    let file = message_file(
        dir.path(),
        &json!({"to": ["用户@smtpwire.test"], "subject": token, "text": "文件"}),
    );
    let (_, _, delivered) = sent(
        &servers,
        smtpwire()
            .args(["send", "--account", "intl", "--insecure-plaintext"])
            .arg("--config")
            .arg(&config)
            .arg("--message")
            .arg(&file),
        &token,
    );
    let text = String::from_utf8_lossy(&delivered).into_owned();
    assert!(text.contains("Return-Path: <张三@smtpwire.test>"), "{text}");

    // Through bulk.
    let token = common::token();
    let messages = messages_file(
        dir.path(),
        &[json!({"message_id": token, "from": "发件人@smtpwire.test",
                   "to": "用户@smtpwire.test", "subject": token, "text": "批量"})],
    );
    let (_, _, delivered) = sent(
        &servers,
        &mut from_file("bulk", &servers.plain, &messages),
        &token,
    );
    let text = String::from_utf8_lossy(&delivered).into_owned();
    assert!(text.contains("To: 用户@smtpwire.test"), "{text}");
}

#[test]
fn utf8_addresses_to_a_server_without_smtputf8_fail_before_mail() {
    // One connection for `send`, one for `bulk`.
    let server = scripted::start_each(vec![
        quitting_after_ehlo(&WITHOUT_SMTPUTF8),
        quitting_after_ehlo(&WITHOUT_SMTPUTF8),
    ]);
    let output = plain_command("send", &server.address())
        .args([
            "--from",
            "a@example.com",
            "--to",
            "用户@example.com",
            "--text",
            "x",
        ])
        .args(["--json"])
        .output()
        .unwrap();
    let (stdout, stderr) = exited(&output, 65);
    assert_contains(&stderr, &["SMTPUTF8", "nothing was sent"]);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["status"], "failed");
    assert_eq!(report["error"]["delivery"], "not_sent");

    let dir = tempfile::tempdir().unwrap();
    let messages = messages_file(
        dir.path(),
        &[
            json!({"message_id": "m1", "from": "发件人@example.com", "to": "b@example.com",
                   "text": "x"}),
        ],
    );
    let output = plain_command("bulk", &server.address())
        .args(["--retries", "0", "--messages"])
        .arg(&messages)
        .output()
        .unwrap();
    let (stdout, stderr) = outputs(&output);
    assert!(!output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("SMTPUTF8"), "{stdout}");

    let commands = server.received().commands();
    assert!(
        commands.iter().any(|c| c.starts_with("EHLO")),
        "{commands:?}"
    );
    assert!(!sent_mail(&commands), "MAIL was sent: {commands:?}");
}

/// The success notification Postfix sent back to the sender for `envid`.
fn notification(servers: &common::Servers, envid: &str) -> String {
    let found = common::delivered(
        &servers.maildir.join("new"),
        &format!("Original-Envelope-Id: {envid}"),
        1,
    );
    String::from_utf8_lossy(&found[0]).into_owned()
}

#[test]
fn a_success_notification_comes_back_with_its_envid() {
    let Some(servers) = servers() else { return };
    // The sender is a Maildir user of the test domain, so the notification is delivered back.
    let envid = common::token();
    let output = send_plain(&servers)
        .args(["--subject", &format!("dsn {envid}"), "--text", "x"])
        .args([
            "--notify",
            "success,failure",
            "--ret",
            "hdrs",
            "--envid",
            &envid,
        ])
        .arg("--transcript")
        .output()
        .unwrap();
    let (_, stderr) = succeeded(&output);
    assert_contains(
        &stderr,
        &[
            &format!("RET=HDRS ENVID={envid}"),
            "C: RCPT TO:<someone@smtpwire.test> NOTIFY=SUCCESS,FAILURE",
        ],
    );
    let report = notification(&servers, &envid);
    assert_contains(
        &report,
        &[
            "report-type=delivery-status",
            "Action: delivered",
            "Final-Recipient: rfc822; someone@smtpwire.test",
        ],
    );
    // RET=HDRS: the original headers come back, the body does not.
    assert_contains(&report, &[&format!("Subject: dsn {envid}")]);

    // From a message file, and through bulk: the same fields.
    let dir = tempfile::tempdir().unwrap();
    let envid = common::token();
    let file = message_file(
        dir.path(),
        &json!({"from": "tester@smtpwire.test", "to": "someone@smtpwire.test", "text": "x",
                "notify": "success", "ret": "full", "envid": envid}),
    );
    let output = from_file("send", &servers.plain, &file).output().unwrap();
    succeeded(&output);
    assert!(notification(&servers, &envid).contains("Action: delivered"));

    let envid = common::token();
    let messages = messages_file(
        dir.path(),
        &[json!({"message_id": envid, "from": "tester@smtpwire.test",
                   "to": "someone@smtpwire.test", "text": "x", "notify": "success",
                   "envid": envid})],
    );
    let output = from_file("bulk", &servers.plain, &messages)
        .output()
        .unwrap();
    succeeded(&output);
    assert!(notification(&servers, &envid).contains("Action: delivered"));
}

#[test]
fn notifications_from_a_server_without_dsn_fail_before_mail() {
    let server = scripted::start(quitting_after_ehlo(&WITHOUT_DSN));
    let output = plain_command("send", &server.address())
        .args(MINIMAL)
        .args(["--notify", "failure", "--envid", "e1"])
        .output()
        .unwrap();
    let (_, stderr) = exited(&output, 69);
    assert_contains(&stderr, &["DSN", "nothing was sent"]);
    let commands = server.received().commands();
    assert!(!sent_mail(&commands), "{commands:?}");

    // Without the flags, a server offering the same takes the message.
    let server = scripted::start(scripted::accepting(&WITHOUT_DSN, 1));
    let output = plain_command("send", &server.address())
        .args(MINIMAL)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", outputs(&output).1);
    assert!(server
        .received()
        .commands()
        .contains(&"MAIL FROM:<a@example.com>".to_owned()));
}

#[test]
fn bad_notification_requests_are_refused_before_connecting() {
    let sentinel = common::Sentinel::start();
    for (flag, value) in [
        ("--notify", "never,success"),
        ("--notify", "always"),
        ("--ret", "body"),
        ("--envid", "订单"),
    ] {
        let output = plain_command("send", &sentinel.address)
            .args(MINIMAL)
            .args([flag, value])
            .output()
            .unwrap();
        let (_, stderr) = outputs(&output);
        assert_eq!(output.status.code(), Some(64), "{flag} {value}: {stderr}");
        assert!(stderr.contains(flag), "{stderr}");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = message_file(
        dir.path(),
        &json!({"from": "a@example.com", "to": "b@example.com", "text": "x",
                "notify": "sometimes", "ret": 1}),
    );
    let output = from_file("send", &sentinel.address, &file)
        .output()
        .unwrap();
    let (_, stderr) = outputs(&output);
    assert_eq!(output.status.code(), Some(65), "{stderr}");
    assert_contains(
        &stderr,
        &["notify: \"sometimes\"", "ret: expected a string"],
    );
    assert_eq!(sentinel.connections(), 0);
}

#[test]
fn help_documents_the_notification_flags() {
    assert_prints(
        &["send", "--help"],
        &[
            "--notify",
            "--ret",
            "--envid",
            "SMTPUTF8",
            "`notify`, `ret`",
        ],
    );
}
