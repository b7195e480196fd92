//! What the CLI says about a connection is what happened on it: a wrong TLS mode is named in
//! seconds (exit 78 with the hint) by `send`, `raw` and `bulk` alike; transcripts end with
//! QUIT and its reply; opportunistic STARTTLS that was not had is reported as plaintext; the
//! JSON keeps the TLS details of a session whose AUTH was refused; `--transcript=full` adds
//! the message's header section.
//!
//! Against the real Postfix of `scripts/test-servers.sh`; skipped without it, except under
//! `CI=true`, where they fail.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "fixtures/common.rs"]
mod common;

use common::{account, assert_contains, outputs, servers, smtpwire, token};

/// STARTTLS against the implicit-TLS port (the greeting never comes: the probe decides) and
/// implicit TLS against the STARTTLS port (a plaintext greeting answers the handshake), for
/// each command that sends. The RFC's five-minute greeting wait is not waited out: the
/// binary's own 60 s limit would stop the test first.
#[test]
fn a_wrong_tls_mode_is_named_with_its_hint_by_every_sending_command() {
    let Some(servers) = servers() else { return };
    let dir = tempfile::tempdir().unwrap();
    let message = dir.path().join("message.eml");
    std::fs::write(
        &message,
        "From: <tester@smtpwire.test>\r\nTo: <someone@smtpwire.test>\r\nSubject: x\r\n\r\ny\r\n",
    )
    .unwrap();
    let jsonl = dir.path().join("messages.jsonl");
    std::fs::write(
        &jsonl,
        "{\"message_id\":\"m1\",\"from\":\"tester@smtpwire.test\",\"to\":[\"someone@smtpwire.test\"],\"subject\":\"x\",\"text\":\"y\"}\n",
    )
    .unwrap();
    for (address, tls, hint) in [
        (&servers.smtps, "starttls", "--tls implicit"),
        (&servers.submission, "implicit", "--tls starttls"),
    ] {
        let commands: [Vec<String>; 3] = [
            [
                "send",
                "--from",
                "tester@smtpwire.test",
                "--to",
                "someone@smtpwire.test",
            ]
            .into_iter()
            .chain(["--subject", "x", "--text", "y"])
            .map(str::to_owned)
            .collect(),
            ["raw", "-t"].map(str::to_owned).to_vec(),
            vec![
                "bulk".into(),
                "--messages".into(),
                jsonl.to_str().unwrap().into(),
                "--outcomes".into(),
                dir.path()
                    .join(format!("{tls}.log"))
                    .to_str()
                    .unwrap()
                    .into(),
                "--retries".into(),
                "0".into(),
            ],
        ];
        for command in commands {
            let output = smtpwire()
                .args(&command)
                .args(account(&servers, address, tls))
                .env("TEST_SECRET", &servers.password)
                .pipe_stdin(&message)
                .unwrap()
                .output()
                .unwrap();
            let (stdout, stderr) = outputs(&output);
            let what = format!("{} --tls {tls}", command[0]);
            if command[0] == "bulk" {
                // A bulk run goes on with the next message; the mix-up is on the message's line.
                assert!(
                    stdout.contains("answered") || stderr.contains("answered"),
                    "{what}:\n{stdout}\n{stderr}"
                );
                continue;
            }
            assert_eq!(
                output.status.code(),
                Some(78),
                "{what}:\n{stdout}\n{stderr}"
            );
            assert!(stderr.contains(hint), "{what}:\n{stderr}");
        }
    }
}

#[test]
fn transcripts_and_json_say_what_happened() {
    let Some(servers) = servers() else { return };
    let token = token();
    // Opportunistic STARTTLS against the plain port, which offers none: plaintext, said so;
    // the transcript ends with QUIT and 221; =full shows the header section, not the body.
    let output = smtpwire()
        .args(["send", "--server", &servers.plain, "--tls", "opportunistic"])
        .args([
            "--from",
            "tester@smtpwire.test",
            "--to",
            "someone@smtpwire.test",
        ])
        .args(["--subject", &token, "--text", "the body stays a byte count"])
        .arg("--transcript=full")
        .output()
        .unwrap();
    let (stdout, stderr) = outputs(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert_contains(
        &stdout,
        &["no TLS: STARTTLS was not available (opportunistic)"],
    );
    assert_contains(
        &stderr,
        &[
            "STARTTLS not offered",
            "C: QUIT",
            "S: 221",
            &format!("C| Subject: {token}"),
        ],
    );
    assert!(!stderr.contains("the body stays"), "{stderr}");

    // A refused AUTH over TLS: the JSON still says what TLS was negotiated, and the
    // transcript shows the dialogue up to the refusal and the goodbye.
    let output = smtpwire()
        .args(["send", "--json", "--transcript"])
        .args(account(&servers, &servers.submission, "starttls"))
        .args([
            "--from",
            "tester@smtpwire.test",
            "--to",
            "someone@smtpwire.test",
        ])
        .args(["--subject", "x", "--text", "y"])
        .env("TEST_SECRET", "not-the-authorization-code")
        .output()
        .unwrap();
    let (stdout, stderr) = outputs(&output);
    assert_eq!(output.status.code(), Some(77), "{stdout}\n{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        json["tls"]["protocol"]
            .as_str()
            .is_some_and(|p| p.starts_with("TLS")),
        "{json}"
    );
    assert_contains(&stderr, &["C: AUTH PLAIN <redacted", "S: 535", "C: QUIT"]);
}
