//! Secrets never appear in `Debug`, `Display`, errors or transcripts, whatever the mechanism and
//! whether AUTH succeeds or fails — while the wire itself does carry them (so the test can fail).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use smtpwire::auth::{Credentials, Mechanism};
use smtpwire::session::{Action, Session, SessionConfig, TlsPolicy};
use support::secret_forms;

const USER: &str = "1234567@qq.com";
const PASSWORD: &str = "abcdefghijklmnop";

/// Runs a session over implicit TLS against `server` replies and returns everything it
/// showed (`Debug` and `Display` of every action, error, the session, its transcript and
/// configuration) and every byte it sent.
fn run(
    credentials: Credentials,
    mechanism: Option<Mechanism>,
    server: &[&[u8]],
) -> (String, Vec<u8>) {
    let config = SessionConfig::new(TlsPolicy::Implicit)
        .with_credentials(credentials)
        .with_mechanism(mechanism)
        .with_transcript(true);
    let mut shown = format!("{config:?}\n");
    let mut session = Session::new(config);
    let mut wire = Vec::new();
    let mut replies = server.iter();
    let now = std::time::Instant::now();
    for _ in 0..100 {
        let action = session.next_action(now);
        shown.push_str(&format!("{action:?}\n{session:?}\n"));
        while let Some(event) = session.poll_event() {
            shown.push_str(&format!("{event:?}\n"));
        }
        match action {
            Ok(Action::Send(bytes)) => wire.extend_from_slice(&bytes),
            Ok(Action::StartTls) => session.tls_established("TLSv1_3").unwrap(),
            Ok(Action::Receive) => match replies.next() {
                Some(reply) => session.feed(reply),
                None => {
                    let error = session.fail(smtpwire::ErrorKind::ConnectionClosed);
                    shown.push_str(&format!("{error}\n{error:?}\n"));
                    break;
                }
            },
            Ok(Action::Ready) => session.quit().unwrap(),
            Ok(Action::Closed) => break,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(error) => {
                shown.push_str(&format!("{error}\n{error:?}\n"));
                break;
            }
        }
    }
    let transcript = session.transcript().unwrap();
    shown.push_str(&format!("{transcript}\n{transcript:?}\n"));
    (shown, wire)
}

/// Runs [`run`] against a server that greets, offers AUTH and then answers with `after_ehlo`:
/// the credentials must reach the wire and show nowhere else.
fn assert_hidden(credentials: Credentials, mechanism: Option<Mechanism>, after_ehlo: &[&[u8]]) {
    let server = [&[GREETING, EHLO][..], after_ehlo].concat();
    let (shown, wire) = run(credentials, mechanism, &server);
    let forms = secret_forms(USER, PASSWORD);
    let wire = String::from_utf8_lossy(&wire);
    assert!(
        forms.iter().any(|form| wire.contains(form.as_str())),
        "the credentials never reached the wire, so this test proves nothing"
    );
    for form in &forms {
        assert!(!shown.contains(form.as_str()), "{form:?} leaked:\n{shown}");
    }
    assert!(
        shown.contains("<redacted"),
        "the transcript should show the redaction:\n{shown}"
    );
}

const GREETING: &[u8] = b"220 smtp.qq.com Esmtp QQ Mail Server\r\n";
const EHLO: &[u8] = b"250-smtp.qq.com\r\n250-AUTH LOGIN PLAIN XOAUTH2\r\n250 8BITMIME\r\n";
/// LOGIN's two challenges: `Username:` and `Password:`.
const LOGIN_PROMPTS: [&[u8]; 2] = [b"334 VXNlcm5hbWU6\r\n", b"334 UGFzc3dvcmQ6\r\n"];

#[test]
fn plain_success_and_failure() {
    for outcome in [&b"235 2.7.0 ok\r\n"[..], b"535 Login fail \xc7\xeb\r\n"] {
        let credentials = Credentials::new(USER, PASSWORD);
        assert_hidden(credentials, None, &[outcome, b"221 bye\r\n"]);
    }
}

#[test]
fn login_success_and_failure() {
    for outcome in [&b"235 2.7.0 ok\r\n"[..], b"535 5.7.8 bad\r\n"] {
        let credentials = Credentials::new(USER, PASSWORD);
        let after_ehlo = [&LOGIN_PROMPTS[..], &[outcome, b"221 bye\r\n"]].concat();
        assert_hidden(credentials, Some(Mechanism::Login), &after_ehlo);
    }
}

#[test]
fn xoauth2_failure() {
    let credentials = Credentials::oauth2(USER, PASSWORD);
    let after_ehlo: [&[u8]; 2] = [b"334 eyJzdGF0dXMiOiI0MDEifQ==\r\n", b"535 5.7.8 no\r\n"];
    assert_hidden(credentials, None, &after_ehlo);
}

#[test]
fn connection_lost_mid_auth() {
    let credentials = Credentials::new(USER, PASSWORD);
    assert_hidden(credentials, Some(Mechanism::Login), &LOGIN_PROMPTS);
}
