//! `smtpwire send` end to end: the binary against the real Postfix and aiosmtpd of
//! `scripts/test-servers.sh` (each TLS mode and AUTH mechanism; mail read back from where it
//! was delivered), against scripted servers, and with every kind of bad input, which must give
//! a clear message and the right exit status with nothing sent.
//!
//! The real-server tests skip with a message when the servers are not up, except under
//! `CI=true`, where they fail.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "fixtures/common.rs"]
mod common;

use common::{
    account, assert_contains, assert_lacks, assert_no_secret, assert_prints, exited, from_file,
    outputs, plain_command, send_as_user, send_plain, sent, sent_with, server_dropping_after_data,
    servers, smtpwire, succeeded, temp_file, token, Sentinel, MINIMAL,
};
use mail_parser::{MessageParser, MimeHeaders};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn starttls_with_auth_plain_delivers_a_chinese_subject_and_attachment_name() {
    let Some(servers) = servers() else { return };
    let token = token();
    let (_dir, attachment) = temp_file("季度报告.txt", format!("报告内容 {token}\n"));
    let subject = format!("测试邮件：季度报告 {token}");
    let (stdout, stderr, delivered) = sent(
        &servers,
        smtpwire()
            .env("TEST_SECRET", &servers.password)
            .arg("send")
            .args(account(&servers, &servers.submission, "starttls"))
            .args(["--auth", "plain", "--transcript"])
            .args(["--from", "测试者 <tester@smtpwire.test>"])
            .args(["--to", "张三 <someone@smtpwire.test>"])
            .args(["--subject", &subject, "--text", "你好，附件是报告。"])
            .arg("--attach")
            .arg(&attachment)
            .args(["--header", &format!("X-Test-Token: {token}")]),
        &token,
    );
    assert_contains(
        &stderr,
        &[
            "C: STARTTLS",
            "C: AUTH PLAIN <redacted",
            "*    certificate: CN=localhost",
        ],
    );
    assert!(stdout.contains("✓ someone@smtpwire.test"), "{stdout}");

    let message = MessageParser::default().parse(&delivered).unwrap();
    assert_eq!(message.subject(), Some(subject.as_str()));
    assert_eq!(message.body_text(0).unwrap().trim(), "你好，附件是报告。");
    let part = message.attachments().next().unwrap();
    assert_eq!(part.attachment_name(), Some("季度报告.txt"));
    assert_eq!(part.contents(), format!("报告内容 {token}\n").as_bytes());
}

#[test]
fn implicit_tls_with_auth_login_and_a_password_command() {
    let Some(servers) = servers() else { return };
    let mut flags = account(&servers, &servers.smtps, "implicit");
    // The secret comes from a command, like msmtp's passwordeval.
    let at = flags.iter().position(|f| f == "--password-env").unwrap();
    flags.splice(
        at..at + 2,
        [
            "--password-cmd".to_owned(),
            "printf '%s\\n' \"$TEST_SECRET\"".to_owned(),
        ],
    );
    let mut command = smtpwire();
    command
        .env("TEST_SECRET", &servers.password)
        .arg("send")
        .args(flags)
        .args(["--auth", "login", "--transcript"])
        .args(["--to", "someone@smtpwire.test"]);
    let (_, stderr, _) = sent_with(&servers, command, &["--text", "hi"]);
    assert!(stderr.contains("(implicit TLS)"), "{stderr}");
    assert!(!stderr.contains("C: STARTTLS"), "{stderr}");
    assert_contains(&stderr, &["C: AUTH LOGIN", "C: <redacted"]);
}

#[test]
fn plain_smtp_needs_the_explicit_opt_in_and_then_delivers() {
    let Some(servers) = servers() else { return };
    let (stdout, _, _) = sent_with(&servers, send_plain(&servers), &["--text", "plain"]);
    assert!(stdout.contains("(no TLS)"), "{stdout}");
}

#[test]
fn opportunistic_tls_upgrades_when_starttls_is_offered() {
    let Some(servers) = servers() else { return };
    let command = send_as_user(&servers, &servers.submission, "opportunistic");
    let (_, stderr, _) = sent_with(&servers, command, &["--text", "hi", "--transcript"]);
    assert!(stderr.contains("TLS established: TLSv1_"), "{stderr}");
}

#[test]
fn aiosmtpd_with_auth_auto_and_a_password_file() {
    let Some(servers) = servers() else { return };
    let token = token();
    let (_dir, secret) = temp_file("secret", format!("{}\n", servers.password));
    let output = smtpwire()
        .arg("send")
        .args(["--server", &common::by_name(&servers.aiosmtpd)])
        .args(["--ca-file", servers.ca.to_str().unwrap()])
        .args(["--user", &servers.user, "--password-file"])
        .arg(&secret)
        .args(["--to", "a@example.net,b@example.net"])
        .args(["--bcc", "c@example.net"])
        .args(["--subject", &token, "--html", "<p>hi</p>", "--transcript"])
        .output()
        .unwrap();
    let (_, stderr) = succeeded(&output);
    assert_no_secret(&servers, &output);
    assert!(stderr.contains("C: AUTH PLAIN <redacted"), "{stderr}");
    let envelope = common::aiosmtpd_envelope(&servers.aiosmtpd_dir, &token);
    assert_eq!(envelope["mail_from"], "tester@smtpwire.test");
    assert_eq!(
        envelope["rcpt_tos"],
        serde_json::json!(["a@example.net", "b@example.net", "c@example.net"])
    );
    let eml = common::delivered(&servers.aiosmtpd_dir, &token, 1);
    let eml = String::from_utf8_lossy(&eml[0]);
    // The Bcc recipient is in the envelope only, never in the headers.
    assert_lacks(&eml, &["c@example.net"]);
}

#[test]
fn a_message_file_with_templates_and_a_payload() {
    let Some(servers) = servers() else { return };
    let token = token();
    let dir = tempfile::tempdir().unwrap();
    for name in ["order.txt", "order.html", "invoice.txt"] {
        std::fs::copy(fixture(name), dir.path().join(name)).unwrap();
    }
    let id = format!("order-{token}");
    let json = serde_json::json!({
        "message_id": id,
        "from": "Shop <tester@smtpwire.test>",
        "to": ["李四 <someone@smtpwire.test>"],
        "subject": "订单 {{order.id}} 已发货",
        "template": {"text": "order.txt", "html": "order.html"},
        "payload": {"name": "李四 <VIP> & co", "order": {"id": 1234, "total": "¥88.00"}},
        "attachments": ["invoice.txt"],
        "headers": {"X-Test-Token": token}
    });
    let file = dir.path().join("message.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
    let command = &mut from_file("send", &servers.plain, &file);
    let (_, _, delivered) = sent(&servers, command, &token);

    let message = MessageParser::default().parse(&delivered).unwrap();
    assert_eq!(
        message.message_id(),
        Some(format!("{id}@smtpwire.test").as_str())
    );
    assert_eq!(message.subject(), Some("订单 1234 已发货"));
    let text = message.body_text(0).unwrap();
    assert_contains(&text, &["Dear 李四 <VIP> & co,", "Order 1234: ¥88.00"]);
    let html = message.body_html(0).unwrap();
    assert!(
        html.contains("<p>Dear 李四 &lt;VIP&gt; &amp; co,</p>"),
        "{html}"
    );
    let invoice = message.attachments().next().unwrap();
    assert_eq!(invoice.attachment_name(), Some("invoice.txt"));
}

#[test]
fn partial_acceptance_lists_the_refused_and_exits_69_with_a_json_report() {
    let Some(servers) = servers() else { return };
    let token = token();
    let output = send_plain(&servers)
        .args(["--cc", &servers.rejected])
        .args(["--subject", &token, "--text", "x", "--json"])
        .output()
        .unwrap();
    let (stdout, stderr) = exited(&output, 69);
    assert_contains(
        &stderr,
        &[
            "1 of 2 recipients did not take the message",
            &format!("{}: 550 5.1.1", servers.rejected),
        ],
    );

    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["status"], "partial");
    assert_eq!(json["exit"], 69);
    assert!(json["message_id"]
        .as_str()
        .unwrap()
        .ends_with("@smtpwire.test>"));
    assert_eq!(json["server"], servers.plain.as_str());
    assert_eq!(json["tls"], serde_json::Value::Null);
    assert_eq!(json["envelope"]["from"], "tester@smtpwire.test");
    let recipients = json["recipients"].as_array().unwrap();
    assert_eq!(recipients.len(), 2);
    assert_eq!(recipients[0]["address"], "someone@smtpwire.test");
    assert_eq!(recipients[0]["accepted"], true);
    assert_eq!(recipients[0]["reply"]["code"], 250);
    assert_eq!(recipients[1]["address"], servers.rejected.as_str());
    assert_eq!(recipients[1]["accepted"], false);
    assert_eq!(recipients[1]["phase"], "RCPT TO");
    assert_eq!(recipients[1]["reply"]["code"], 550);
    assert_eq!(recipients[1]["reply"]["enhanced"], "5.1.1");
    assert_eq!(json["final_reply"]["code"], 250);
    for (field, needle) in [
        (&json["final_reply"]["text"], "queued as"),
        (&json["error"]["message"], "did not take"),
    ] {
        assert!(field.as_str().unwrap().contains(needle), "{json}");
    }
    assert!(json["bytes"].as_u64().unwrap() > 100);
    assert!(json["duration_ms"].is_u64());
    common::arrived(&servers, &token);
}

#[test]
fn the_sender_defaults_to_the_account_from_even_in_a_dry_run() {
    let Some(servers) = servers() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = common::test_account(dir.path(), &servers, "测试账户", "TEST_SECRET");
    let account = || {
        let mut command = smtpwire();
        command
            .args(["send", "--account", "test", "--config"])
            .arg(&config)
            .args(["--to", "someone@smtpwire.test"]);
        command
    };
    // A dry run needs neither the password nor the server.
    let (_, stderr) = succeeded(&account().arg("--dry-run").output().unwrap());
    assert!(
        stderr.contains(&format!("from <{}>", servers.user)),
        "{stderr}"
    );

    let mut command = account();
    command.env("TEST_SECRET", &servers.password);
    let (_, stderr, delivered) = sent_with(&servers, command, &["--text", "x", "--transcript"]);
    assert!(
        stderr.contains(&format!("C: MAIL FROM:<{}>", servers.user)),
        "{stderr}"
    );
    let message = MessageParser::default().parse(&delivered).unwrap();
    let from = message.from().unwrap().first().unwrap();
    assert_eq!(from.name(), Some("测试账户"));
}

#[test]
fn no_progress_bar_when_stderr_is_not_a_terminal() {
    let Some(servers) = servers() else { return };
    let (_dir, big) = temp_file("big.bin", vec![0x5a; 3 * 1024 * 1024]);
    let args = ["--text", "big", "-q", "--attach", big.to_str().unwrap()];
    let (_, stderr, _) = sent_with(&servers, send_plain(&servers), &args);
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn a_refused_relay_exits_69_and_hints_at_logging_in() {
    let Some(servers) = servers() else { return };
    let output = plain_command("send", &servers.plain)
        .args([
            "--from",
            "tester@smtpwire.test",
            "--to",
            "nobody@example.org",
        ])
        .args(["--text", "x"])
        .output()
        .unwrap();
    let (_, stderr) = exited(&output, 69);
    assert_contains(
        &stderr,
        &[
            "RCPT TO: rejected by the server: 554 5.7.1",
            "hint: 5.7.1 here usually means the server will not relay",
        ],
    );
}

#[test]
fn a_temporary_refusal_exits_75() {
    let Some(servers) = servers() else { return };
    let output = send_plain(&servers)
        .args(["--to", &servers.deferred])
        .args(["--subject", &token(), "--text", "x"])
        .output()
        .unwrap();
    let (_, stderr) = exited(&output, 75);
    assert_contains(
        &stderr,
        &[
            &format!("{}: 450 4.2.1", servers.deferred),
            "send to those recipients again later",
        ],
    );
}

#[test]
fn a_wrong_password_exits_77_with_the_authorization_code_hint() {
    let Some(servers) = servers() else { return };
    let output = send_as_user(&servers, &servers.submission, "starttls")
        .env("TEST_SECRET", "not-the-password")
        .args(["--subject", "x", "--text", "x", "--json"])
        .output()
        .unwrap();
    let (stdout, stderr) = exited(&output, 77);
    assert_contains(
        &stderr,
        &[
            "AUTH: rejected by the server: 535 5.7.8",
            "authorization code",
        ],
    );
    assert!(!stdout.contains("not-the-password") && !stderr.contains("not-the-password"));
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["status"], "failed");
    assert_eq!(json["error"]["phase"], "AUTH");
    assert_eq!(json["error"]["reply"]["code"], 535);
    assert_eq!(json["error"]["delivery"], "not_sent");
}

#[test]
fn the_transcript_file_holds_the_redacted_dialogue() {
    let Some(servers) = servers() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dialogue.txt");
    let (stdout, stderr, _) = sent_with(
        &servers,
        send_as_user(&servers, &servers.submission, "starttls"),
        &[
            "--text",
            "x",
            "-q",
            "--transcript-file",
            file.to_str().unwrap(),
        ],
    );
    assert!(
        stdout.is_empty() && stderr.is_empty(),
        "--quiet:\n{stdout}\n{stderr}"
    );
    let transcript = std::fs::read_to_string(&file).unwrap();
    assert_contains(
        &transcript,
        &["C: AUTH PLAIN <redacted", "C: <message data, "],
    );
    assert!(!transcript.contains(&servers.password));
}

#[test]
fn an_inline_image_is_referred_to_by_its_file_name() {
    let Some(servers) = servers() else { return };
    let logo = fixture("logo.png");
    let (_, _, delivered) = sent_with(
        &servers,
        send_plain(&servers),
        &[
            "--html",
            "<img src=\"cid:logo.png\">",
            "--inline",
            logo.to_str().unwrap(),
        ],
    );
    let message = MessageParser::default().parse(&delivered).unwrap();
    let inline = message
        .parts
        .iter()
        .find(|part| part.content_id().is_some())
        .unwrap();
    assert_eq!(inline.content_id(), Some("logo.png"));
    assert_eq!(inline.contents(), std::fs::read(&logo).unwrap());
}

#[test]
fn a_connection_lost_after_the_data_is_delivery_unknown_79() {
    let address = server_dropping_after_data();
    let output = plain_command("send", &address)
        .arg("--json")
        .args(MINIMAL)
        .output()
        .unwrap();
    let (stdout, stderr) = exited(&output, 79);
    assert_contains(
        &stderr,
        &[
            "delivery unknown",
            "check the recipient's mailbox before sending again",
        ],
    );
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["status"], "delivery_unknown");
    assert_eq!(json["error"]["delivery"], "unknown");
}

#[test]
fn dry_run_prints_the_message_and_touches_no_network() {
    let sentinel = Sentinel::start();
    let output = smtpwire()
        .arg("send")
        .args(["--server", &sentinel.address, "--dry-run"])
        .args([
            "--from",
            "张三 <zhangsan@example.com>",
            "--to",
            "b@example.com, c@example.com",
        ])
        .args([
            "--bcc",
            "hidden@example.com",
            "--subject",
            "你好 dry run",
            "--text",
            "body",
        ])
        .args(["--header", "X-Mailer: test"])
        .output()
        .unwrap();
    let (stdout, stderr) = succeeded(&output);
    assert_eq!(sentinel.connections(), 0);
    let message = MessageParser::default().parse(stdout.as_bytes()).unwrap();
    assert_eq!(message.subject(), Some("你好 dry run"));
    assert_eq!(message.body_text(0).unwrap().trim(), "body");
    assert!(stdout.contains("X-Mailer: test\r\n"), "{stdout}");
    assert!(!stdout.contains("hidden@example.com"), "{stdout}");
    assert!(
        stderr.contains("nothing sent")
            && stderr.contains("from <zhangsan@example.com> to <b@example.com>, <c@example.com>, <hidden@example.com>"),
        "{stderr}"
    );

    let json = smtpwire()
        .arg("send")
        .args([
            "--dry-run",
            "--json",
            "--from",
            "a@example.com",
            "--to",
            "b@example.com",
        ])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["status"], "dry_run");
    assert_eq!(
        report["envelope"]["to"],
        serde_json::json!(["b@example.com"])
    );
    assert!(report["message"]
        .as_str()
        .unwrap()
        .contains("From: a@example.com"));
}

/// Runs `send` against a listener that must see no connection, and returns the exit status
/// and stderr.
fn refused(args: &[&str]) -> (Option<i32>, String) {
    let sentinel = Sentinel::start();
    let output = smtpwire()
        .env("TEST_SECRET", "s3cret-value")
        .arg("send")
        .args(["--server", &sentinel.address])
        .args(args)
        .output()
        .unwrap();
    assert_eq!(sentinel.connections(), 0, "something was sent for {args:?}");
    let (stdout, stderr) = outputs(&output);
    assert!(!stdout.contains("s3cret-value") && !stderr.contains("s3cret-value"));
    (output.status.code(), stderr)
}

#[test]
fn a_missing_attachment_is_66_and_names_the_file() {
    let (code, stderr) = refused(&[&MINIMAL[..], &["--attach", "/no/such/report.pdf"]].concat());
    assert_eq!(code, Some(66), "{stderr}");
    assert_contains(
        &stderr,
        &[
            "--attach \"/no/such/report.pdf\": No such file",
            "nothing was sent",
        ],
    );
    let (code, stderr) = refused(&[
        "--from",
        "a@example.com",
        "--to",
        "b@x.com",
        "--text",
        "@/no/body.txt",
    ]);
    assert_eq!(code, Some(66), "{stderr}");
    assert_contains(&stderr, &["--text: cannot read /no/body.txt"]);
}

#[test]
fn a_bad_address_is_65() {
    let (code, stderr) = refused(&["--from", "a@example.com", "--to", "bob@", "--text", "x"]);
    assert_eq!(code, Some(65), "{stderr}");
    assert!(stderr.contains("--to \"bob@\""), "{stderr}");
    let (code, stderr) = refused(&["--from", "not an address", "--to", "b@example.com"]);
    assert_eq!(code, Some(65), "{stderr}");
    assert!(stderr.contains("--from \"not an address\""), "{stderr}");
}

#[test]
fn a_line_break_in_the_subject_is_65() {
    let (code, stderr) = refused(
        &[
            &MINIMAL[..],
            &["--subject", "hi\r\nBcc: victim@example.com"],
        ]
        .concat(),
    );
    assert_eq!(code, Some(65), "{stderr}");
    assert_contains(
        &stderr,
        &[
            "--subject \"hi\\r\\nBcc: victim@example.com\": contains a line break",
            "hint: headers are one line each",
        ],
    );
}

#[test]
fn every_problem_is_listed_at_once() {
    let (code, stderr) = refused(&[
        "--from",
        "a@example.com",
        "--to",
        "bob@",
        "--subject",
        "a\nb",
        "--attach",
        "/no/file",
        "--header",
        "From: x@example.com",
    ]);
    assert_eq!(code, Some(65), "{stderr}");
    for needle in [
        "4 problems",
        "--to \"bob@\"",
        "--subject",
        "--attach",
        "smtpwire writes From itself",
    ] {
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
}

#[test]
fn usage_mistakes_are_64() {
    let sentinel = Sentinel::start();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--provider", "nosuchmail"],
            "unknown provider \"nosuchmail\"",
        ),
        (
            &["--server", &sentinel.address, "--password", "s3cret-value"],
            "--password is refused",
        ),
        (
            &["--server", &sentinel.address, "--tls", "none"],
            "--tls none sends everything in clear",
        ),
        (
            &[
                "--server",
                &sentinel.address,
                "--message",
                "m.json",
                "--subject",
                "x",
            ],
            "--message holds the whole message, so --from, --subject cannot be used with it",
        ),
        (
            &["--server", &sentinel.address, "--text", "x"],
            "no recipients",
        ),
        (
            &[
                "--server",
                &sentinel.address,
                "--header",
                "no colon here",
                "--to",
                "b@example.com",
            ],
            "is not 'Name: value'",
        ),
    ];
    for (args, expected) in cases {
        let output = smtpwire()
            .args(["send", "--from", "a@example.com"])
            .args(*args)
            .output()
            .unwrap();
        let (stdout, stderr) = outputs(&output);
        assert_eq!(
            output.status.code(),
            Some(64),
            "{args:?}:\n{stdout}\n{stderr}"
        );
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("s3cret-value"), "{stderr}");
    }
    assert_eq!(sentinel.connections(), 0);
}

#[test]
fn an_invalid_message_file_lists_every_problem_with_its_path() {
    let sentinel = Sentinel::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("order.txt"), dir.path().join("order.txt")).unwrap();
    let file = dir.path().join("bad.json");
    let json = serde_json::json!({
        "from": "shop@example.com",
        "to": ["ok@example.com", "broken@", 7],
        "subject": "line\nbreak",
        "template": "order.txt",
        "payload": {"order": {"id": 1}},
        "attachments": ["missing.pdf", {"filename": "x"}],
        "tos": "typo@example.com"
    });
    std::fs::write(&file, serde_json::to_vec(&json).unwrap()).unwrap();
    let output = from_file("send", &sentinel.address, &file)
        .output()
        .unwrap();
    let (_, stderr) = exited(&output, 65);
    for needle in [
        "tos: unknown field",
        "to[1] \"broken@\"",
        "to[2]: expected an address string",
        "subject \"line\\nbreak\": contains a line break",
        "{{name}} has no value: payload.name is missing",
        "attachments[0]",
        "missing.pdf",
        "attachments[1].path: missing",
        "nothing was sent",
    ] {
        assert!(stderr.contains(needle), "{needle}:\n{stderr}");
    }
    assert_eq!(sentinel.connections(), 0);
}

#[test]
fn a_missing_message_file_is_66() {
    let (code, stderr) = refused(&["--message", "/no/such/message.json"]);
    assert_eq!(code, Some(66), "{stderr}");
    assert_contains(&stderr, &["cannot read /no/such/message.json"]);
}

#[test]
fn an_unwritable_transcript_file_stops_before_sending() {
    let (code, stderr) =
        refused(&[&MINIMAL[..], &["--transcript-file", "/no/such/dir/t.txt"]].concat());
    assert_eq!(code, Some(74), "{stderr}");
    assert_contains(
        &stderr,
        &["cannot write the transcript to /no/such/dir/t.txt"],
    );
}

#[test]
fn an_unknown_host_is_68() {
    let output = plain_command("send", "no-such-host.invalid:2525")
        .args(MINIMAL)
        .output()
        .unwrap();
    let (_, stderr) = exited(&output, 68);
    assert!(stderr.contains("connect"), "{stderr}");
}

#[test]
fn help_documents_the_flags_and_exit_codes() {
    assert_prints(
        &["send", "--help"],
        &[
            "--from",
            "--to",
            "--cc",
            "--bcc",
            "--subject",
            "--text",
            "--html",
            "--attach",
            "--inline",
            "--header",
            "--transcript",
            "--transcript-file",
            "--dry-run",
            "--json",
            "--message",
            "--password-env",
            "--password-cmd",
            "75",
            "69",
            "79",
        ],
    );
}
