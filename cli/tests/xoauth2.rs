//! `smtpwire send --auth xoauth2` against aiosmtpd's XOAUTH2 (`scripts/test-servers.sh`): the
//! token works, a wrong one is exit 77, and neither shows in any output, transcript included.
//! Skipped without the servers, except under `CI=true`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "fixtures/common.rs"]
mod common;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use common::{assert_contains, by_name, outputs, servers, smtpwire, token, Servers};

/// The servers and the bearer token aiosmtpd's XOAUTH2 accepts, which
/// `scripts/test-servers.sh` exports with the servers' other variables: [`servers`] decides
/// whether to skip.
fn servers_and_token() -> Option<(Servers, String)> {
    let servers = servers()?;
    let token = std::env::var("SMTPWIRE_TEST_OAUTH_TOKEN").expect(
        "SMTPWIRE_TEST_OAUTH_TOKEN unset: restart scripts/test-servers.sh and export its env",
    );
    Some((servers, token))
}

fn send_with_token(servers: &Servers, secret: &str, subject: &str) -> std::process::Output {
    smtpwire()
        .env("SMTPWIRE_TEST_TOKEN_UNDER_TEST", secret)
        .arg("send")
        .args(["--server", &by_name(&servers.aiosmtpd)])
        .args(["--tls", "starttls", "--ca-file"])
        .arg(&servers.ca)
        .args(["--user", &servers.user])
        .args(["--password-env", "SMTPWIRE_TEST_TOKEN_UNDER_TEST"])
        .args(["--auth", "xoauth2", "--transcript"])
        .args(["--to", "someone@smtpwire.test", "--subject", subject])
        .args(["--text", "sent with an OAuth token"])
        .output()
        .unwrap()
}

fn assert_hidden(user: &str, secret: &str, shown: &str) {
    let initial = format!("user={user}\x01auth=Bearer {secret}\x01\x01");
    for form in [
        secret.to_owned(),
        BASE64.encode(&initial),
        BASE64.encode(secret),
    ] {
        assert!(!shown.contains(&form), "{form:?} shown in:\n{shown}");
    }
}

#[test]
fn xoauth2_sends_with_the_token_and_never_shows_it() {
    let Some((servers, secret)) = servers_and_token() else {
        return;
    };
    let subject = token();
    let output = send_with_token(&servers, &secret, &subject);
    let (stdout, stderr) = outputs(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let shown = format!("{stdout}\n{stderr}");
    assert_contains(&shown, &["AUTH XOAUTH2", "235"]);
    assert_hidden(&servers.user, &secret, &shown);
    common::delivered(&servers.aiosmtpd_dir, &subject, 1);
}

#[test]
fn a_wrong_xoauth2_token_is_exit_77_and_never_shown() {
    let Some((servers, secret)) = servers_and_token() else {
        return;
    };
    let wrong = "ya29.an-expired-token-XYZ123";
    let output = send_with_token(&servers, wrong, &token());
    let (stdout, stderr) = outputs(&output);
    // aiosmtpd answers the client's empty line after its JSON challenge with 535; a "*"
    // (cancel) would have got 501 instead.
    assert_eq!(output.status.code(), Some(77), "{stdout}\n{stderr}");
    assert!(stderr.contains("535 5.7.8"), "{stderr}");
    let shown = format!("{stdout}\n{stderr}");
    assert_hidden(&servers.user, wrong, &shown);
    assert_hidden(&servers.user, &secret, &shown);
}
