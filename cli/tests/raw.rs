//! `smtpwire raw` end to end: a finished message sent as is, its envelope from flags or, with
//! `-t`, from its headers; Bcc never goes out. Real-server tests skip without the servers of
//! `scripts/test-servers.sh`, except under `CI=true`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "fixtures/common.rs"]
mod common;

use common::{assert_contains, exited, servers, smtpwire, succeeded, token, Sentinel};
use mail_parser::MessageParser;

fn message(token: &str) -> String {
    format!(
        "From: Tester <tester@smtpwire.test>\n\
         To: one@smtpwire.test,\n \"Two, the second\" <two@smtpwire.test>\n\
         Cc: three@smtpwire.test\n\
         Bcc: hidden@smtpwire.test\n\
         Subject: raw {token}\n\
         Message-ID: <{token}@smtpwire.test>\n\
         \n\
         Hello {token}.\n\
         .\n\
         A lone dot above does not end the message.\n"
    )
}

#[test]
fn t_takes_the_envelope_from_the_headers_and_strips_bcc() {
    let Some(servers) = servers() else { return };
    let token = token();
    let output = smtpwire()
        .env("TEST_SECRET", &servers.password)
        .args([
            "raw",
            "-t",
            "--server",
            &common::by_name(&servers.submission),
        ])
        .args([
            "--ca-file",
            servers.ca.to_str().unwrap(),
            "--user",
            &servers.user,
        ])
        .args(["--password-env", "TEST_SECRET", "--transcript"])
        .write_stdin(message(&token))
        .output()
        .unwrap();
    let (stdout, stderr) = succeeded(&output);
    assert!(stdout.is_empty(), "raw is silent on success: {stdout}");
    assert!(!stderr.contains(&servers.password));
    assert_contains(&stderr, &["C: MAIL FROM:<tester@smtpwire.test>"]);
    for rcpt in ["one", "two", "three", "hidden"] {
        assert_contains(&stderr, &[&format!("C: RCPT TO:<{rcpt}@smtpwire.test>")]);
    }

    // Postfix delivers one copy per recipient into the one Maildir.
    let copies = common::delivered(&servers.maildir.join("new"), &token, 4);
    let mut delivered_to = Vec::new();
    for copy in &copies {
        let text = String::from_utf8_lossy(copy);
        assert!(!text.contains("Bcc:"), "Bcc went out:\n{text}");
        assert_contains(&text, &["A lone dot above does not end the message."]);
        let parsed = MessageParser::default().parse(copy.as_slice()).unwrap();
        assert_eq!(parsed.return_path().as_text(), Some("tester@smtpwire.test"));
        assert_eq!(parsed.subject(), Some(format!("raw {token}").as_str()));
        delivered_to.push(parsed.header_raw("Delivered-To").unwrap().trim().to_owned());
    }
    delivered_to.sort();
    assert!(
        delivered_to.contains(&"hidden@smtpwire.test".to_owned()),
        "{delivered_to:?}"
    );
}

#[test]
fn flags_give_the_envelope_and_the_message_goes_byte_for_byte() {
    let Some(servers) = servers() else { return };
    let token = token();
    let text = message(&token).replace('\n', "\r\n");
    let (_dir, file) = common::temp_file("message.eml", &text);
    let output = smtpwire()
        .env("TEST_SECRET", &servers.password)
        .args(["raw", "--server", &common::by_name(&servers.aiosmtpd)])
        .args([
            "--ca-file",
            servers.ca.to_str().unwrap(),
            "--user",
            &servers.user,
        ])
        .args(["--password-env", "TEST_SECRET", "--auth", "login"])
        .args([
            "--from",
            "bounces@example.net",
            "--to",
            "only@example.net",
            "--verbose",
        ])
        .arg(&file)
        .output()
        .unwrap();
    let (stdout, _) = succeeded(&output);
    assert_contains(&stdout, &[&format!("sent <{token}@smtpwire.test>")]);
    let envelope = common::aiosmtpd_envelope(&servers.aiosmtpd_dir, &token);
    assert_eq!(envelope["mail_from"], "bounces@example.net");
    assert_eq!(
        envelope["rcpt_tos"],
        serde_json::json!(["only@example.net"])
    );
    let eml = common::delivered(&servers.aiosmtpd_dir, &token, 1);
    let without_bcc = text.replace("Bcc: hidden@smtpwire.test\r\n", "");
    assert_eq!(String::from_utf8_lossy(&eml[0]), without_bcc);
}

#[test]
fn a_refused_recipient_is_listed_and_exits_69() {
    let Some(servers) = servers() else { return };
    let token = token();
    let output = smtpwire()
        .args([
            "raw",
            "--server",
            &servers.plain,
            "--tls",
            "none",
            "--insecure-plaintext",
        ])
        .args(["--to", "someone@smtpwire.test", "--to", &servers.rejected])
        .write_stdin(message(&token))
        .output()
        .unwrap();
    let (_, stderr) = exited(&output, 69);
    assert_contains(&stderr, &[&format!("{}: 550 5.1.1", servers.rejected)]);
    common::delivered(&servers.maildir.join("new"), &token, 1);
}

#[test]
fn dry_run_shows_the_message_without_bcc_and_sends_nothing() {
    let sentinel = Sentinel::start();
    let output = smtpwire()
        .args(["raw", "-t", "--dry-run", "--server", &sentinel.address])
        .write_stdin(message("dry"))
        .output()
        .unwrap();
    let (stdout, stderr) = succeeded(&output);
    // As it would go out: line ends made CRLF, the Bcc field gone.
    assert_eq!(
        stdout,
        message("dry")
            .replace("Bcc: hidden@smtpwire.test\n", "")
            .replace('\n', "\r\n")
    );
    assert!(stderr.contains("from <tester@smtpwire.test> to <one@smtpwire.test>, <two@smtpwire.test>, <three@smtpwire.test>, <hidden@smtpwire.test>"), "{stderr}");
    assert_eq!(sentinel.connections(), 0);
}

/// Runs `raw` against a listener that must see no connection; returns the status and stderr.
fn refused(args: &[&str], stdin: &str) -> (Option<i32>, String) {
    common::refused_plain("raw", args, stdin)
}

#[test]
fn bad_input_is_refused_before_anything_is_sent() {
    let (code, stderr) = refused(&[], &message("x"));
    assert_eq!(code, Some(64), "{stderr}");
    assert!(stderr.contains("give --to, or -t"), "{stderr}");

    let (code, stderr) = refused(&["-t"], "Subject: no recipients\n\nbody\n");
    assert_eq!(code, Some(65), "{stderr}");
    assert!(stderr.contains("no To, Cc or Bcc field"), "{stderr}");

    let (code, stderr) = refused(&["-t"], "From: a@example.com\nTo: bob@\n\nbody\n");
    assert_eq!(code, Some(65), "{stderr}");
    assert!(stderr.contains("To header \"bob@\""), "{stderr}");

    let (code, stderr) = refused(&["--to", "b@example.com"], "Subject: no sender\n\nbody\n");
    assert_eq!(code, Some(65), "{stderr}");
    assert!(stderr.contains("no From field: give --from"), "{stderr}");

    let (code, stderr) = refused(&["--to", "b@example.com"], "From: undisclosed:;\n\nbody\n");
    assert_eq!(code, Some(65), "{stderr}");
    assert_contains(
        &stderr,
        &["From header \"undisclosed:;\": holds no address"],
    );

    let (code, stderr) = refused(&["--to", "b@example.com", "/no/such/message.eml"], "");
    assert_eq!(code, Some(66), "{stderr}");
    assert_contains(&stderr, &["cannot read the message /no/such/message.eml"]);

    let (code, stderr) = refused(&["--to", "b@example.com"], "");
    assert_eq!(code, Some(65), "{stderr}");
    assert!(stderr.contains("the message is empty"), "{stderr}");
}

#[test]
fn a_literal_password_is_refused() {
    let output = smtpwire()
        .args([
            "raw",
            "--server",
            "localhost",
            "--password",
            "hunter2",
            "--to",
            "a@b.c",
        ])
        .write_stdin("Subject: x\n\nx\n")
        .output()
        .unwrap();
    let (_, stderr) = exited(&output, 64);
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert!(stderr.contains("--password-env"), "{stderr}");
}
