//! XOAUTH2 against a real server: the aiosmtpd of `scripts/test-servers.sh` checks the bearer
//! token as Gmail does — a wrong one gets a `334` with a base64 JSON error, the client answers
//! with an empty line, then `535`. The token must show in no transcript, `Debug` or error.
//!
//! Skipped without the servers (or with an instance started before aiosmtpd learnt XOAUTH2,
//! which exports no `SMTPWIRE_TEST_OAUTH_TOKEN`), except under `CI=true`, where they fail.

#![cfg(feature = "tokio")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use smtpwire::auth::Credentials;
use smtpwire::session::TlsPolicy;
use smtpwire::transport::{Client, ClientConfig};
use smtpwire::{ErrorKind, Phase};
use std::time::Duration;

mod support;
use support::envelope::envelope;
use support::server_config;
use support::servers::{self, servers, skip_unless_ci, Servers};

/// The servers and the token aiosmtpd takes.
fn aiosmtpd() -> Option<(Servers, String)> {
    let servers = servers()?;
    let token = skip_unless_ci(
        std::env::var("SMTPWIRE_TEST_OAUTH_TOKEN").ok(),
        "CI=true but aiosmtpd with XOAUTH2 is not up: run scripts/test-servers.sh up and export its env",
        "skipping: aiosmtpd with XOAUTH2 not running (scripts/test-servers.sh up; eval \"$(scripts/test-servers.sh env)\")",
    )?;
    Some((servers, token))
}

/// STARTTLS to aiosmtpd, then XOAUTH2 with `token`.
fn config(servers: &Servers, token: &str) -> ClientConfig {
    let credentials = Credentials::oauth2(&servers.user, token);
    server_config(servers, &servers.aiosmtpd, TlsPolicy::StartTlsRequired)
        .map_session(|session| session.with_transcript(true).with_credentials(credentials))
}

/// The token and every form in which a leak could show it.
fn forms(servers: &Servers, token: &str) -> Vec<String> {
    let initial = format!("user={}\x01auth=Bearer {token}\x01\x01", servers.user);
    vec![
        token.to_owned(),
        BASE64.encode(&initial),
        initial.replace('\x01', "\\u{1}"),
    ]
}

fn assert_hidden(forms: &[String], shown: &str) {
    for form in forms {
        assert!(
            !shown.contains(form.as_str()),
            "{form:?} shown in:\n{shown}"
        );
    }
}

#[tokio::test]
async fn xoauth2_with_the_right_token_sends_a_message() {
    let Some((servers, right)) = aiosmtpd() else {
        return;
    };
    let mut client = Client::connect(config(&servers, &right)).await.unwrap();
    let token = servers::token("xoauth2-");
    let message = format!(
        "From: <{user}>\r\nTo: <someone@smtpwire.test>\r\nSubject: {token}\r\n\r\nHello {token}.\r\n",
        user = servers.user
    );
    let envelope = envelope(&servers.user, &["someone@smtpwire.test"]);
    let report = client.send(envelope, message.as_bytes()).await.unwrap();
    assert_eq!(report.accepted().count(), 1);
    let transcript = client.session().transcript().unwrap().to_string();
    let debug = format!("{client:?}");
    client.quit().await.unwrap();
    assert!(transcript.contains("C: AUTH XOAUTH2 "), "{transcript}");
    assert!(transcript.contains("S: 235"), "{transcript}");
    assert_hidden(&forms(&servers, &right), &format!("{transcript}\n{debug}"));

    // aiosmtpd saw the message from the user the token is for.
    let mut envelope = None;
    for _ in 0..100 {
        envelope = std::fs::read_dir(&servers.aiosmtpd_dir)
            .unwrap()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|e| e == "eml"))
            .find(|path| {
                std::fs::read_to_string(path).is_ok_and(|text| text.contains(token.as_str()))
            })
            .map(|path| std::fs::read_to_string(path.with_extension("json")).unwrap());
        if envelope.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let envelope = envelope.expect("the message never arrived");
    let user = format!("\"auth_user\": \"{}\"", servers.user);
    assert!(envelope.contains(&user), "{envelope}");
    assert!(envelope.contains("\"tls\": true"), "{envelope}");
}

#[tokio::test]
async fn xoauth2_with_a_wrong_token_is_a_typed_535_after_the_json_challenge() {
    let Some((servers, right)) = aiosmtpd() else {
        return;
    };
    let wrong = "ya29.an-expired-token-XYZ123";
    let error = Client::connect(config(&servers, wrong)).await.unwrap_err();
    assert_eq!(error.phase(), Phase::Auth, "{error}");
    assert!(matches!(error.kind(), ErrorKind::Rejected), "{error:?}");
    let reply = error.reply().unwrap();
    assert_eq!(reply.code().get(), 535, "{error}");
    assert!(!error.is_transient());
    let shown = format!("{error}\n{error:?}\n{reply:?}");
    assert_hidden(&forms(&servers, wrong), &shown);
    assert_hidden(&forms(&servers, &right), &shown);
}
