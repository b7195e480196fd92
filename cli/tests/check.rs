//! End-to-end tests of `smtpwire check` against the loopback Postfix of
//! `scripts/test-servers.sh` (STARTTLS 2587, implicit TLS 2465, plain 2525), against TLS
//! servers of this file presenting the bad certificates the script makes (untrusted CA, wrong
//! host, expired), and against scripted servers that answer like QQ Mail and 163 (or, with
//! the library's `tests/support/scripted.rs`, refuse EHLO or the connection).
//!
//! Tests that need the real servers or their certificates are skipped with a message when
//! they are not up, except under `CI=true`, where they fail.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "fixtures/common.rs"]
mod common;

use common::scripted;

use assert_cmd::Command;
use base64::Engine as _;
use common::{assert_contains, by_name, servers, Servers};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

// ===== the real servers =====

/// What one run printed.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Whether stdout holds `needle`, also across the wrapping of explanations.
    fn has(&self, needle: &str) -> bool {
        let flat = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
        self.stdout.contains(needle) || flat(&self.stdout).contains(&flat(needle))
    }

    /// Standard output holds every one of `needles` (see [`Run::has`]).
    #[track_caller]
    fn assert_has(&self, needles: &[&str]) {
        for needle in needles {
            assert!(self.has(needle), "{needle:?}: {self:?}");
        }
    }

    /// Standard error holds every one of `needles`.
    #[track_caller]
    fn assert_stderr_has(&self, needles: &[&str]) {
        for needle in needles {
            assert!(self.stderr.contains(needle), "{needle:?}: {self:?}");
        }
    }

    /// Standard error holds none of `needles`.
    #[track_caller]
    fn assert_stderr_lacks(&self, needles: &[&str]) {
        for needle in needles {
            assert!(!self.stderr.contains(needle), "{needle:?}: {self:?}");
        }
    }

    /// The secret, and the base64 forms AUTH PLAIN and LOGIN would carry, appear nowhere.
    fn assert_no_secret(&self, user: &str, secret: &str) {
        let b64 = base64::engine::general_purpose::STANDARD;
        let forms = [
            secret.to_owned(),
            b64.encode(secret),
            b64.encode(format!("\0{user}\0{secret}")),
        ];
        for form in forms {
            assert!(
                !self.stdout.contains(&form) && !self.stderr.contains(&form),
                "a secret leaked:\n{}\n{}",
                self.stdout,
                self.stderr
            );
        }
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn check(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::cargo_bin("smtpwire").unwrap();
    command
        .arg("check")
        .args(args)
        .env_remove("SMTPWIRE_PASSWORD")
        .env("HOME", std::env::temp_dir())
        .timeout(Duration::from_secs(60));
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs a check of `server`, trusting `ca`, logged in as `user` with `password` (read from
/// `CHECK_PASSWORD`); the password shows nowhere in what it prints.
fn check_logged_in(server: &str, ca: &Path, user: &str, password: &str, extra: &[&str]) -> Run {
    let ca = ca.to_str().unwrap();
    let mut args = vec!["--server", server, "--ca-file", ca, "--user", user];
    args.extend_from_slice(&["--password-env", "CHECK_PASSWORD"]);
    args.extend_from_slice(extra);
    let run = check(&args, &[("CHECK_PASSWORD", password)]);
    run.assert_no_secret(user, password);
    run
}

/// Runs a check of `server` logged in as the test user.
fn check_as_user(s: &Servers, server: &str, password: &str, extra: &[&str]) -> Run {
    check_logged_in(server, &s.ca, &s.user, password, extra)
}

/// [`check_as_user`] of the submission port (STARTTLS), by name.
fn check_submission(s: &Servers, password: &str, extra: &[&str]) -> Run {
    check_as_user(s, &by_name(&s.submission), password, extra)
}

/// Runs a check of `server` with `--tls mode`, trusting the test CA, without logging in.
fn check_tls(s: &Servers, server: &str, mode: &str) -> Run {
    let ca = s.ca.to_str().unwrap();
    check(&["--server", server, "--tls", mode, "--ca-file", ca], &[])
}

/// The step `title` has the `mark` (`[FAIL]`, `[warn]`, `[ok]`) and says `needle`.
fn assert_step(run: &Run, title: &str, mark: &str, needle: &str) {
    let line = step_line(run, title);
    assert!(
        line.starts_with(mark) && line.contains(needle),
        "{title}: {run:?}"
    );
}

/// The line of a step, e.g. `[ok]   TLS ...`.
fn step_line<'a>(run: &'a Run, title: &str) -> &'a str {
    run.stdout
        .lines()
        .find(|l| {
            l.starts_with('[')
                && l.get(7..)
                    .is_some_and(|rest| rest.starts_with(&format!("{title} ")))
        })
        .unwrap_or_else(|| panic!("no step {title}: {run:?}"))
}

#[test]
fn starttls_with_the_right_password_passes_every_step() {
    let Some(s) = servers() else { return };
    let run = check_submission(&s, &s.password, &["--transcript"]);
    assert_eq!(run.code, 0, "{run:?}");
    for title in [
        "DNS",
        "TCP connect",
        "greeting",
        "EHLO",
        "STARTTLS",
        "TLS",
        "EHLO after TLS",
        "AUTH",
        "QUIT",
    ] {
        assert_step(&run, title, "[ok]", "");
    }
    assert!(!run.has("[FAIL]") && !run.has("[warn]"), "{run:?}");
    assert!(run.has("TLS 1.3") || run.has("TLS 1.2"), "{run:?}");
    run.assert_has(&[
        "subject   CN=localhost",
        "issuer    O=smtpwire tests, CN=smtpwire test CA",
        "DNS:localhost, IP:127.0.0.1",
        "trusted: issued under a CA from --ca-file",
        "235 2.7.0",
        "No mail was sent",
    ]);
    // The redacted transcript is the library's, on stderr.
    assert!(run.stderr.contains("C: AUTH PLAIN <redacted"), "{run:?}");
    run.assert_stderr_lacks(&["MAIL FROM", "RCPT"]);
    // QUIT and its answer are the session's, in its transcript.
    run.assert_stderr_has(&["C: QUIT", "S: 221 2.0.0 Bye"]);
}

#[test]
fn implicit_tls_passes_and_reports_the_certificate() {
    let Some(s) = servers() else { return };
    let run = check_as_user(&s, &s.smtps, &s.password, &["--tls", "implicit"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_step(&run, "TLS", "[ok]", "");
    assert_step(&run, "AUTH", "[ok]", "");
    run.assert_has(&["127.0.0.1 is covered by the certificate"]);
    assert!(
        !run.has("STARTTLS "),
        "no STARTTLS step on implicit TLS: {run:?}"
    );
}

#[test]
fn json_lists_every_step() {
    let Some(s) = servers() else { return };
    let run = check_submission(&s, &s.password, &["--json", "--transcript"]);
    assert_eq!(run.code, 0, "{run:?}");
    let value: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(value["ok"], true);
    assert_eq!(value["exit_code"], 0);
    assert_eq!(value["mail_sent"], false);
    let ids: Vec<&str> = value["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["dns", "connect", "greeting", "ehlo", "starttls", "tls", "ehlo_tls", "auth", "quit"]
    );
    let tls = &value["steps"][5];
    assert_eq!(tls["status"], "pass");
    assert_eq!(
        tls["data"]["certificate"]["leaf"]["subject"],
        "CN=localhost"
    );
    assert_eq!(tls["data"]["certificate"]["host_matches"], true);
    assert_eq!(value["steps"][6]["data"]["auth"][0], "PLAIN");
    assert!(value["transcript"].as_array().unwrap().len() > 5);
}

#[test]
fn a_plain_port_without_starttls_is_reported() {
    let Some(s) = servers() else { return };
    let run = check(&["--server", &s.plain], &[]);
    assert_eq!(run.code, 69, "{run:?}");
    assert_step(&run, "EHLO", "[ok]", "");
    assert_step(&run, "STARTTLS", "[FAIL]", "not offered");
    run.assert_has(&[
        "465 with --tls implicit",
        "Not run: TLS, EHLO after TLS, AUTH.",
    ]);
}

#[test]
fn implicit_tls_against_a_starttls_port_explains_the_mix_up() {
    let Some(s) = servers() else { return };
    let run = check_tls(&s, &s.submission, "implicit");
    assert_eq!(run.code, 78, "{run:?}");
    assert_step(&run, "TLS", "[FAIL]", "plain SMTP");
    run.assert_has(&[
        "received: 220 ",
        "Use --tls starttls",
        "mix-up of implicit TLS and STARTTLS",
    ]);
}

#[test]
fn starttls_against_an_implicit_tls_port_explains_the_mix_up() {
    let Some(s) = servers() else { return };
    let started = std::time::Instant::now();
    let run = check_tls(&s, &s.smtps, "starttls");
    assert_eq!(run.code, 78, "{run:?}");
    assert_step(&run, "greeting", "[FAIL]", "waits for TLS");
    assert!(run.has("Use --tls implicit"), "{run:?}");
    // Told after a few seconds of silence, not after the greeting timeout.
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn a_wrong_password_is_explained_with_the_authorization_code() {
    let Some(s) = servers() else { return };
    let wrong = "qqmailwebpassword";
    let run = check_submission(&s, wrong, &["--from", &s.user, "--transcript"]);
    assert_eq!(run.code, 77, "{run:?}");
    assert_step(&run, "AUTH", "[FAIL]", "535");
    assert!(
        run.has("授权码") && run.has("authorization code"),
        "{run:?}"
    );
    // No MAIL FROM after a failed login, only QUIT.
    assert!(run.has("Not run: MAIL FROM."), "{run:?}");
    assert!(!run.stderr.contains("MAIL FROM"), "{run:?}");
    assert!(run.stderr.contains("C: QUIT"), "{run:?}");
    // The session still says QUIT after the refusal, and shows the answer.
    assert!(run.stderr.contains("S: 221 2.0.0 Bye"), "{run:?}");
}

#[test]
fn mail_from_is_tested_and_nothing_is_sent() {
    let Some(s) = servers() else { return };
    let run = check_submission(&s, &s.password, &["--from", &s.user, "--transcript"]);
    assert_eq!(run.code, 0, "{run:?}");
    let line = step_line(&run, "MAIL FROM");
    assert!(line.starts_with("[ok]") && line.contains("250"), "{run:?}");
    run.assert_has(&["then RSET: 250", "no mail was sent"]);
    run.assert_stderr_has(&["C: MAIL FROM:<", "C: RSET"]);
    run.assert_stderr_lacks(&["RCPT", "DATA"]);
}

#[test]
fn an_account_is_checked_with_its_sender() {
    let Some(s) = servers() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = common::test_account(dir.path(), &s, "Tester", "CHECK_PASSWORD");
    let run = check(
        &["--config", config.to_str().unwrap(), "--account", "test"],
        &[("CHECK_PASSWORD", &s.password)],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_step(&run, "AUTH", "[ok]", "");
    let line = step_line(&run, "MAIL FROM");
    assert!(line.contains(&format!("<{}> accepted", s.user)), "{run:?}");
    run.assert_no_secret(&s.user, &s.password);
}

// ===== servers with bad certificates =====

/// A certificate and key from the files `scripts/test-servers.sh` made.
fn pem_pair(dir: &Path, name: &str) -> (String, String) {
    let read = |file: String| std::fs::read_to_string(dir.join(file)).unwrap();
    (read(format!("{name}.pem")), read(format!("{name}.key")))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Implicit,
    StartTls,
}

/// How the scripted server answers.
#[derive(Clone, Copy)]
struct Script {
    greeting: &'static str,
    auth: &'static str,
    mail: &'static str,
}

const FRIENDLY: Script = Script {
    greeting: "220 fake.test ESMTP\r\n",
    auth: "235 2.7.0 Authentication successful\r\n",
    mail: "250 2.1.0 Ok\r\n",
};

/// What the scripted server saw.
#[derive(Default, Debug)]
struct Seen {
    /// Command lines, in order; `<tls ok>` and `<tls failed>` mark the handshake.
    lines: Vec<String>,
    /// Bytes the client wrote after a failed handshake.
    after_failure: usize,
}

struct Fake {
    port: u16,
    seen: Arc<Mutex<Seen>>,
}

impl Fake {
    fn lines(&self) -> Vec<String> {
        self.seen.lock().unwrap().lines.clone()
    }
}

/// An SMTP server on 127.0.0.1 presenting `cert`, in its own thread; it serves connections
/// until the test process ends.
fn fake(mode: Mode, (cert, key): (String, String), script: Script) -> Fake {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.as_bytes())
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let log = seen.clone();
    scripted::on_own_thread(async move {
        let listener = TcpListener::from_std(listener).unwrap();
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, log) = (acceptor.clone(), log.clone());
            tokio::spawn(async move {
                let _ = serve(tcp, mode, acceptor, script, log).await;
            });
        }
    });
    Fake { port, seen }
}

async fn serve(
    tcp: TcpStream,
    mode: Mode,
    acceptor: tokio_rustls::TlsAcceptor,
    script: Script,
    log: Arc<Mutex<Seen>>,
) -> std::io::Result<()> {
    let note = |line: &str| log.lock().unwrap().lines.push(line.to_owned());
    let tcp = if mode == Mode::StartTls {
        let mut reader = BufReader::new(tcp);
        let answer = |verb: &str| -> &'static [u8] {
            match verb {
                "EHLO" => b"250-fake.test\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n",
                "STAR" => b"220 2.0.0 Ready to start TLS\r\n",
                "QUIT" => b"221 2.0.0 Bye\r\n",
                _ => b"530 5.7.0 Must issue a STARTTLS command first\r\n",
            }
        };
        if !dialogue(&mut reader, Some(script.greeting), &note, answer, "STAR").await? {
            return Ok(());
        }
        reader.into_inner()
    } else {
        tcp
    };
    let tls = match acceptor.accept(tcp).into_fallible().await {
        Ok(tls) => tls,
        Err((_, mut tcp)) => {
            note("<tls failed>");
            let mut rest = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(3), tcp.read_to_end(&mut rest)).await;
            log.lock().unwrap().after_failure = rest.len();
            return Ok(());
        }
    };
    note("<tls ok>");
    let answer = |verb: &str| -> &'static [u8] {
        match verb {
            "EHLO" => b"250-fake.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n",
            "AUTH" => script.auth.as_bytes(),
            "MAIL" => script.mail.as_bytes(),
            "RSET" => b"250 2.0.0 Ok\r\n",
            "QUIT" => b"221 2.0.0 Bye\r\n",
            _ => b"554 5.5.1 not in this test\r\n",
        }
    };
    let greeting = (mode == Mode::Implicit).then_some(script.greeting);
    dialogue(&mut BufReader::new(tls), greeting, &note, answer, "QUIT").await?;
    Ok(())
}

/// Writes the `greeting` if there is one, then reads command lines, notes each, and writes
/// `answer` to its first four letters, until the command `until` (then `true`), QUIT, or the
/// client leaving.
async fn dialogue<S>(
    reader: &mut BufReader<S>,
    greeting: Option<&str>,
    note: &impl Fn(&str),
    answer: impl Fn(&str) -> &'static [u8],
    until: &str,
) -> std::io::Result<bool>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if let Some(greeting) = greeting {
        reader.get_mut().write_all(greeting.as_bytes()).await?;
    }
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(false);
        }
        note(line.trim_end());
        let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
        reader.get_mut().write_all(answer(&verb)).await?;
        reader.get_mut().flush().await?;
        if verb == until {
            return Ok(true);
        }
        if verb == "QUIT" {
            return Ok(false);
        }
    }
}

/// The account the checks of the fake servers log in with.
const FAKE_USER: &str = "1234567@qq.com";
const FAKE_PASSWORD: &str = "abcdefghijklmnop";

/// Runs a check with `--tls tls` and a password against a fake server and returns the run.
fn check_fake(fake: &Fake, tls: &str, ca: &Path, extra: &[&str]) -> Run {
    let server = format!("127.0.0.1:{}", fake.port);
    let extra = [&["--tls", tls], extra].concat();
    check_logged_in(&server, ca, FAKE_USER, FAKE_PASSWORD, &extra)
}

/// Runs a check with a password against a fake server presenting `pair`, whose CA is the
/// `ca.pem` in `dir`; returns the server and the run.
fn check_own_ca(
    (pair, dir): ((String, String), tempfile::TempDir),
    mode: Mode,
    script: Script,
    tls: &str,
    extra: &[&str],
) -> (Fake, Run) {
    let fake = fake(mode, pair, script);
    let run = check_fake(&fake, tls, &dir.path().join("ca.pem"), extra);
    (fake, run)
}

/// [`check_own_ca`] of an implicit-TLS fake with a trusted certificate, greeting like
/// [`FRIENDLY`] and answering AUTH and MAIL with these replies.
fn check_trusted(auth: &'static str, mail: &'static str, extra: &[&str]) -> (Fake, Run) {
    let script = Script {
        greeting: FRIENDLY.greeting,
        auth,
        mail,
    };
    check_own_ca(trusted_pair(), Mode::Implicit, script, "implicit", extra)
}

/// Nothing at all went over the connection once the handshake failed.
fn assert_nothing_after_failure(fake: &Fake, run: &Run) {
    // The server thread records the end of the connection shortly after the client leaves.
    for _ in 0..50 {
        if fake.lines().iter().any(|l| l == "<tls failed>") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let seen = fake.seen.lock().unwrap();
    assert!(
        seen.lines.iter().any(|l| l == "<tls failed>"),
        "{seen:?} {run:?}"
    );
    assert!(!seen.lines.iter().any(|l| l == "<tls ok>"), "{seen:?}");
    assert!(
        !seen
            .lines
            .iter()
            .any(|l| l.starts_with("AUTH") || l.starts_with("MAIL")),
        "{seen:?}"
    );
    assert_eq!(
        seen.after_failure, 0,
        "bytes after the failed handshake: {seen:?}"
    );
}

#[test]
fn an_untrusted_certificate_is_shown_and_nothing_is_sent() {
    let Some(s) = servers() else { return };
    let fake = fake(Mode::Implicit, pem_pair(&s.tls, "untrusted"), FRIENDLY);
    let run = check_fake(&fake, "implicit", &s.ca, &["--transcript"]);
    assert_eq!(run.code, 69, "{run:?}");
    assert_step(&run, "TLS", "[FAIL]", "not trusted");
    run.assert_has(&[
        "subject   CN=localhost",
        "issuer    O=smtpwire tests, CN=smtpwire untrusted CA",
        "names     DNS:localhost, IP:127.0.0.1",
        "valid     ",
        "chain     [FAIL] NOT trusted",
        "host name [ok] 127.0.0.1 is covered",
        "--ca-file",
        "Nothing was sent over this connection",
        "Not run: greeting, EHLO, AUTH.",
    ]);
    assert_nothing_after_failure(&fake, &run);
}

#[test]
fn a_certificate_for_another_host_lists_its_names() {
    let Some(s) = servers() else { return };
    let fake = fake(Mode::StartTls, pem_pair(&s.tls, "wrong-host"), FRIENDLY);
    let run = check_fake(&fake, "starttls", &s.ca, &[]);
    assert_eq!(run.code, 69, "{run:?}");
    assert_step(&run, "STARTTLS", "[ok]", "");
    assert_step(&run, "TLS", "[FAIL]", "not for 127.0.0.1");
    run.assert_has(&[
        "subject   CN=other.example",
        "names     DNS:other.example",
        "chain     [ok] trusted",
        "host name [FAIL] 127.0.0.1 is NOT among",
        "--server other.example:",
    ]);
    // AUTH was offered before TLS here: noted as a warning on the first EHLO.
    assert!(step_line(&run, "EHLO").starts_with("[warn]"), "{run:?}");
    assert!(run.has("offers AUTH before TLS"), "{run:?}");
    assert_nothing_after_failure(&fake, &run);
    let lines = fake.lines();
    assert_eq!(lines[..2], ["EHLO localhost", "STARTTLS"], "{lines:?}");
}

#[test]
fn an_expired_certificate_is_explained_with_the_clock() {
    let Some(s) = servers() else { return };
    let fake = fake(Mode::Implicit, pem_pair(&s.tls, "expired"), FRIENDLY);
    let run = check_fake(&fake, "implicit", &s.ca, &["--json"]);
    assert_eq!(run.code, 69, "{run:?}");
    let value: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let tls = value["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "tls")
        .unwrap();
    assert_eq!(tls["status"], "fail");
    assert_eq!(tls["exit_code"], 69);
    let certificate = &tls["data"]["certificate"];
    assert_eq!(certificate["dates"], "expired");
    assert_eq!(certificate["trusted"], true);
    assert_eq!(certificate["leaf"]["not_after"], "2020-01-02 00:00:00 UTC");
    let why = tls["why"].as_str().unwrap();
    assert_contains(why, &["expired on 2020-01-02", "this machine's clock"]);
    assert!(
        tls["fix"].as_str().unwrap().contains("timedatectl"),
        "{tls}"
    );
    assert_eq!(
        value["not_run"],
        serde_json::json!(["greeting", "ehlo", "auth"])
    );
    assert_nothing_after_failure(&fake, &run);
}

// ===== scripted servers with a trusted certificate =====

/// A CA and a certificate for localhost and 127.0.0.1 made for this test; returns the leaf
/// pair and the CA file.
fn trusted_pair() -> ((String, String), tempfile::TempDir) {
    pair_valid_from(None)
}

/// As [`trusted_pair`], the certificate valid from `year` (for five years) if given.
fn pair_valid_from(year: Option<i32>) -> ((String, String), tempfile::TempDir) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "check test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    if let Some(year) = year {
        params.not_before = rcgen::date_time_ymd(year, 1, 1);
        params.not_after = rcgen::date_time_ymd(year + 5, 1, 1);
    }
    let leaf = params.signed_by(&key, &ca, &ca_key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
    ((leaf.pem(), key.serialize_pem()), dir)
}

#[test]
fn a_sender_other_than_the_login_is_caught_like_qq_mail_does() {
    let (fake, run) = check_trusted(
        "235 Authentication successful\r\n",
        "501 Mail from address must be same as authorization user.\r\n",
        &["--from", "boss@qq.com"],
    );
    assert_eq!(run.code, 69, "{run:?}");
    assert_step(&run, "AUTH", "[ok]", "");
    assert_step(&run, "MAIL FROM", "[FAIL]", "501");
    run.assert_has(&[
        "not the account you logged in as",
        "--from 1234567@qq.com",
        "no mail was sent",
    ]);
    // MAIL, RSET, QUIT: never RCPT or DATA.
    for _ in 0..50 {
        if fake.lines().iter().any(|l| l == "QUIT") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let lines = fake.lines();
    let verbs: Vec<&str> = lines.iter().map(|l| l.get(..4).unwrap_or(l)).collect();
    assert_eq!(
        verbs,
        ["<tls", "EHLO", "AUTH", "MAIL", "RSET", "QUIT"],
        "{lines:?}"
    );
    assert_eq!(lines[3], "MAIL FROM:<boss@qq.com>");
}

#[test]
fn the_qq_login_refusal_names_the_authorization_code() {
    let (_, run) = check_trusted("535 Login Fail. Please enter your authorization code to login. More information in https://service.mail.qq.com/detail/0/53\r\n", "250 Ok\r\n", &[]);
    assert_eq!(run.code, 77, "{run:?}");
    run.assert_has(&[
        "QQ Mail wants the authorization code (授权码)",
        "生成授权码",
    ]);
}

#[test]
fn smtp_switched_off_is_told_apart_from_a_wrong_password() {
    let (_, run) = check_trusted("550 User has no permission\r\n", "250 Ok\r\n", &[]);
    assert_eq!(run.code, 77, "{run:?}");
    run.assert_has(&["SMTP service is most likely not switched on"]);
}

#[test]
fn a_certificate_from_the_future_means_this_clock_is_behind() {
    let (fake, run) = check_own_ca(
        pair_valid_from(Some(2090)),
        Mode::Implicit,
        FRIENDLY,
        "implicit",
        &[],
    );
    assert_eq!(run.code, 69, "{run:?}");
    assert_step(&run, "TLS", "[FAIL]", "not valid until 2090-01-01");
    run.assert_has(&[
        "chain     [ok] trusted",
        "dates     [FAIL] not valid yet by this machine's clock",
        "so this machine's clock is behind",
        "timedatectl set-ntp true",
    ]);
    assert_nothing_after_failure(&fake, &run);
}

#[test]
fn an_expired_certificate_and_the_servers_clock_in_the_greeting_blame_this_clock() {
    // Valid 2020 to 2025; the server says it is June 2020; this machine says later.
    let (fake, run) = check_own_ca(
        pair_valid_from(Some(2020)),
        Mode::StartTls,
        Script {
            greeting: "220 fake.test ESMTP Sendmail 8.15.2; Mon, 1 Jun 2020 12:00:00 +0000\r\n",
            ..FRIENDLY
        },
        "starttls",
        &[],
    );
    assert_eq!(run.code, 69, "{run:?}");
    let greeting = step_line(&run, "greeting");
    assert!(greeting.starts_with("[warn]"), "{run:?}");
    assert!(run.has("2020-06-01 12:00:00 UTC"), "{run:?}");
    assert_step(&run, "TLS", "[FAIL]", "expired on 2025-01-01");
    run.assert_has(&["when the certificate was still valid: this machine's clock is"]);
    assert_nothing_after_failure(&fake, &run);
}

// ===== no server needed =====

#[test]
fn a_refused_port_is_explained_at_the_connect_step() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let run = check(&["--server", &format!("127.0.0.1:{port}"), "--plain"], &[]);
    assert_eq!(run.code, 69, "{run:?}");
    assert_step(&run, "DNS", "[ok]", "");
    assert_step(&run, "TCP connect", "[FAIL]", "connection refused");
    run.assert_has(&[
        "why: 127.0.0.1 answered that nothing takes connections",
        "fix: Check the port",
        "Not run: greeting, EHLO, STARTTLS, TLS, EHLO after TLS, AUTH.",
    ]);
}

#[test]
fn an_unknown_host_is_reported_at_the_dns_step() {
    let run = check(
        &["--server", "no-such-host.invalid:587", "--timeout", "10"],
        &[],
    );
    // 68 when the resolver says the name does not exist; 75 if it does not answer at all.
    assert!(matches!(run.code, 68 | 75), "{run:?}");
    let line = step_line(&run, "DNS");
    assert!(line.starts_with("[FAIL]"), "{run:?}");
    if run.code == 68 {
        assert!(run.has("smtp.qq.com"), "{run:?}");
    }
}

#[test]
fn a_server_that_speaks_tls_first_is_recognised_from_its_bytes() {
    // A server that sends a TLS alert at once, like some SMTPS servers do to a plaintext
    // client.
    let server = scripted::start(vec![
        scripted::Step::send([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46]),
        scripted::Step::Expect(""),
    ]);
    let run = check(&["--server", &server.address()], &[]);
    assert_eq!(run.code, 78, "{run:?}");
    assert_step(&run, "greeting", "[FAIL]", "TLS bytes");
    assert!(run.has("--tls implicit"), "{run:?}");
}

#[test]
fn an_imap_port_is_recognised() {
    let server = scripted::start(vec![
        scripted::Step::reply("* OK [CAPABILITY IMAP4rev1] ready"),
        scripted::Step::Expect(""),
    ]);
    let run = check(&["--server", &server.address()], &[]);
    assert_eq!(run.code, 76, "{run:?}");
    assert!(
        step_line(&run, "greeting").contains("IMAP server, not SMTP"),
        "{run:?}"
    );
}

#[test]
fn a_silent_port_that_does_not_answer_tls_either_times_out() {
    // Accepts, then says nothing on any connection: the session's TLS probe gets no TLS
    // answer, so the silence is not taken for an implicit-TLS port; the greeting times out.
    let silent = vec![scripted::Step::Stall(Duration::from_secs(60))];
    let server = scripted::start_each(vec![silent.clone(), silent]);
    let run = check(&["--server", &server.address(), "--timeout", "4"], &[]);
    assert_eq!(run.code, 75, "{run:?}");
    assert_step(&run, "greeting", "[FAIL]", "no greeting within 4 s");
    assert!(!run.has("waits for TLS"), "{run:?}");
}

/// Runs `check` with `args` against a scripted server on 127.0.0.1 that replies with `replies`
/// (the first the greeting, each next one to the next command), then answers QUIT with 221;
/// returns the run and the command lines the server received.
fn check_scripted(replies: &[&str], args: &[&str]) -> (Run, Vec<String>) {
    use scripted::Step;
    let mut script = Vec::new();
    for (i, reply) in replies.iter().enumerate() {
        if i > 0 {
            script.push(Step::Expect(""));
        }
        script.push(Step::reply(reply));
    }
    script.extend([Step::Expect("QUIT"), Step::reply("221 2.0.0 bye")]);
    let server = scripted::start(script);
    let address = server.address();
    let mut all = vec!["--server", &address];
    all.extend_from_slice(args);
    let run = check(&all, &[]);
    (run, server.received().commands())
}

#[test]
fn ehlo_refused_and_helo_accepted_is_a_warning() {
    let (run, commands) = check_scripted(
        &[
            "220 old.test SMTP",
            "502 5.5.1 no EHLO here",
            "250 old.test",
        ],
        &["--tls", "opportunistic", "--transcript"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_step(&run, "EHLO", "[warn]", "0 extensions");
    run.assert_has(&["EHLO was refused (502 5.5.1 no EHLO here) and HELO accepted"]);
    assert!(step_line(&run, "STARTTLS").starts_with("[warn]"), "{run:?}");
    assert!(step_line(&run, "QUIT").contains("221 2.0.0 bye"), "{run:?}");
    assert_eq!(commands, ["EHLO localhost", "HELO localhost", "QUIT"]);
    run.assert_stderr_has(&["C: HELO localhost", "S: 221 2.0.0 bye"]);
}

#[test]
fn a_refused_greeting_is_explained_and_quit_is_still_said() {
    let (run, commands) = check_scripted(&["554 5.7.1 your address is listed"], &["--transcript"]);
    assert_eq!(run.code, 69, "{run:?}");
    assert_step(&run, "greeting", "[FAIL]", "554 5.7.1");
    run.assert_has(&[
        "blocklist",
        "Not run: EHLO, STARTTLS, TLS, EHLO after TLS, AUTH.",
    ]);
    assert_eq!(commands, ["QUIT"]);
    assert!(run.stderr.contains("S: 221 2.0.0 bye"), "{run:?}");
}

#[test]
fn a_literal_password_is_refused_before_anything_runs() {
    let run = check(&["--server", "127.0.0.1:1", "--password", "hunter2"], &[]);
    assert_eq!(run.code, 64, "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
    assert!(!run.stderr.contains("hunter2"), "{run:?}");
}
