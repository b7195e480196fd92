//! Interop with real, independently written servers on loopback: a private Postfix (plain,
//! STARTTLS submission, implicit TLS) and aiosmtpd, started by `scripts/test-servers.sh up`
//! (`.ci/run` does it). Every message is read back from where the server delivered it.
//!
//! Without the servers these tests are skipped with a message, except under `CI=true`, where
//! they fail: CI must run them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use smtpwire::auth::{Credentials, Mechanism};
use smtpwire::session::{DataCommand, TlsPolicy};
use smtpwire::transport::{Client, ClientConfig};
use smtpwire::{Error, ErrorKind, Phase, TlsMismatch, Unsupported};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

mod support;
use support::envelope::envelope;
use support::servers::{servers, Servers};
use support::{assert_kind, server_config};

/// A client configuration for one of the servers, with the transcript kept.
trait ConfigFor {
    fn config(&self, address: &str, tls: TlsPolicy, mechanism: Option<Mechanism>) -> ClientConfig;
}

impl ConfigFor for Servers {
    fn config(&self, address: &str, tls: TlsPolicy, mechanism: Option<Mechanism>) -> ClientConfig {
        server_config(self, address, tls)
            .map_session(|session| session.with_transcript(true).with_mechanism(mechanism))
    }
}

/// A message that can be found again by its unique token.
fn message(token: &str) -> Vec<u8> {
    format!(
        "From: <tester@smtpwire.test>\r\nTo: <someone@smtpwire.test>\r\nSubject: interop {token}\r\n\
         Message-ID: <{token}@smtpwire.test>\r\n\r\nHello {token}.\r\n.a line that starts with a dot\r\n\
         ..and one with two\r\n\r\n.\r\nlast line\r\n"
    )
    .into_bytes()
}

fn token() -> String {
    support::servers::token("t")
}

/// The test account, the sender of every message.
const TESTER: &str = "tester@smtpwire.test";

/// The delivered file containing `token` in `dir`, once it arrives.
fn delivered(dir: &Path, token: &str) -> Vec<u8> {
    support::servers::delivered(dir, token, 1).remove(0)
}

/// Postfix stores LF line endings and prepends its trace headers: the message must be the
/// tail of the delivered file, byte for byte once CRLF is LF.
async fn assert_in_maildir(servers: &Servers, token: &str, sent: &[u8]) {
    let file = delivered(&servers.maildir.join("new"), token);
    let sent_lf = String::from_utf8_lossy(sent).replace("\r\n", "\n");
    let file = String::from_utf8_lossy(&file).into_owned();
    assert!(
        file.ends_with(&sent_lf),
        "delivered:\n{file}\nsent:\n{sent_lf}"
    );
}

async fn send_one(servers: &Servers, config: ClientConfig) -> (String, Vec<u8>, String) {
    let token = token();
    let sent = message(&token);
    let mut client = Client::connect(config).await.unwrap();
    let report = client
        .send(envelope(TESTER, &["someone@smtpwire.test"]), &sent)
        .await
        .unwrap();
    assert_eq!(report.accepted().count(), 1);
    assert!(report.final_reply().unwrap().is_positive());
    let transcript = client.session().transcript().unwrap().to_string();
    client.quit().await.unwrap();
    assert!(!transcript.contains(&servers.password));
    (token, sent, transcript)
}

/// [`send_one`] to `address` under `tls` with PLAIN, then with LOGIN: each mechanism with
/// what it returned.
async fn send_with_each_mechanism(
    servers: &Servers,
    address: &str,
    tls: TlsPolicy,
) -> Vec<(Mechanism, (String, Vec<u8>, String))> {
    let mut sent = Vec::new();
    for mechanism in [Mechanism::Plain, Mechanism::Login] {
        let config = servers.config(address, tls, Some(mechanism.clone()));
        sent.push((mechanism, send_one(servers, config).await));
    }
    sent
}

#[tokio::test]
async fn postfix_submission_starttls_plain_and_login() {
    let Some(servers) = servers() else { return };
    let submission = &servers.submission;
    for (mechanism, (token, sent, transcript)) in
        send_with_each_mechanism(&servers, submission, TlsPolicy::StartTlsRequired).await
    {
        assert!(transcript.contains("C: STARTTLS"), "{transcript}");
        assert!(
            transcript.contains(&format!("C: AUTH {}", mechanism.name())),
            "{transcript}"
        );
        // AUTH is offered only after STARTTLS, and sent only after it.
        let before_tls = transcript.split("C: STARTTLS").next().unwrap();
        assert!(!before_tls.contains("AUTH"), "{transcript}");
        assert_in_maildir(&servers, &token, &sent).await;
    }
}

#[tokio::test]
async fn postfix_implicit_tls_plain_and_login() {
    let Some(servers) = servers() else { return };
    for (_, (token, sent, transcript)) in
        send_with_each_mechanism(&servers, &servers.smtps, TlsPolicy::Implicit).await
    {
        assert!(!transcript.contains("STARTTLS"), "{transcript}");
        assert_in_maildir(&servers, &token, &sent).await;
    }
}

#[tokio::test]
async fn postfix_plain_port_with_bdat_and_with_data() {
    let Some(servers) = servers() else { return };
    for command in [DataCommand::Auto, DataCommand::Data] {
        let config = servers
            .config(&servers.plain, TlsPolicy::Plaintext, None)
            .map_session(|session| session.with_data_command(command));
        let (token, sent, transcript) = send_one(&servers, config).await;
        let used_bdat = transcript.contains("C: BDAT");
        assert_eq!(used_bdat, command == DataCommand::Auto, "{transcript}");
        assert_in_maildir(&servers, &token, &sent).await;
    }
}

#[tokio::test]
async fn postfix_partial_recipients() {
    let Some(servers) = servers() else { return };
    let config = servers.config(&servers.plain, TlsPolicy::Plaintext, None);
    let token = token();
    let sent = message(&token);
    let mut client = Client::connect(config).await.unwrap();
    let to = [
        "someone@smtpwire.test",
        "rejected@smtpwire.test",
        "deferred@smtpwire.test",
    ];
    let report = client.send(envelope(TESTER, &to), &sent).await.unwrap();
    let codes: Vec<(String, bool, u16)> = report
        .recipients()
        .iter()
        .map(|r| {
            (
                r.mailbox().to_string(),
                r.is_accepted(),
                r.reply().unwrap().code().get(),
            )
        })
        .collect();
    assert_eq!(
        codes,
        [
            ("someone@smtpwire.test".into(), true, 250),
            ("rejected@smtpwire.test".into(), false, 550),
            ("deferred@smtpwire.test".into(), false, 450),
        ]
    );
    client.quit().await.unwrap();
    assert_in_maildir(&servers, &token, &sent).await;
}

#[tokio::test]
async fn postfix_batch_pipelined_across_messages() {
    let Some(servers) = servers() else { return };
    let config = servers.config(&servers.plain, TlsPolicy::Plaintext, None);
    let mut client = Client::connect(config).await.unwrap();
    let tokens: Vec<String> = (0..5).map(|_| token()).collect();
    let batch: Vec<_> = tokens
        .iter()
        .map(|t| (envelope(TESTER, &["someone@smtpwire.test"]), message(t)))
        .collect();
    let results = client.send_batch(batch).await;
    assert_eq!(results.len(), 5);
    for result in &results {
        assert_eq!(result.as_ref().unwrap().accepted().count(), 1);
    }
    client.quit().await.unwrap();
    for token in &tokens {
        assert_in_maildir(&servers, token, &message(token)).await;
    }
}

#[tokio::test]
async fn aiosmtpd_starttls_byte_exact() {
    let Some(servers) = servers() else { return };
    for (_, (token, sent, _)) in
        send_with_each_mechanism(&servers, &servers.aiosmtpd, TlsPolicy::StartTlsRequired).await
    {
        let file = delivered(&servers.aiosmtpd_dir, &token);
        assert_eq!(
            String::from_utf8_lossy(&file),
            String::from_utf8_lossy(&sent)
        );
    }
}

#[tokio::test]
async fn wrong_password_is_a_typed_535() {
    let Some(servers) = servers() else { return };
    for address in [&servers.submission, &servers.smtps, &servers.aiosmtpd] {
        let tls = if address == &servers.smtps {
            TlsPolicy::Implicit
        } else {
            TlsPolicy::StartTlsRequired
        };
        let wrong = Credentials::new(&servers.user, "the-mailbox-password");
        let config = servers
            .config(address, tls, None)
            .map_session(|session| session.with_credentials(wrong));
        let error = Client::connect(config).await.unwrap_err();
        assert_eq!(error.phase(), Phase::Auth, "{error}");
        assert_kind!(error, ErrorKind::Rejected);
        assert_eq!(error.reply().unwrap().code().get(), 535, "{error}");
        assert!(!error.is_transient());
    }
}

/// Connecting to `address` with `tls` fails: the error, within a minute (the greeting's
/// deadline is five).
async fn connect_fails(servers: &Servers, address: &str, tls: TlsPolicy) -> Error {
    let config = servers.config(address, tls, None);
    tokio::time::timeout(Duration::from_secs(60), Client::connect(config))
        .await
        .expect("the probe, not the greeting's deadline, decides")
        .unwrap_err()
}

#[tokio::test]
async fn starttls_required_against_the_plain_port_fails_before_mail() {
    let Some(servers) = servers() else { return };
    let error = connect_fails(&servers, &servers.plain, TlsPolicy::StartTlsRequired).await;
    assert_eq!(error.phase(), Phase::StartTls, "{error}");
    assert_kind!(error, ErrorKind::Unsupported(Unsupported::StartTls));
}

#[tokio::test]
async fn implicit_tls_against_a_starttls_port_says_so() {
    let Some(servers) = servers() else { return };
    let error = connect_fails(&servers, &servers.submission, TlsPolicy::Implicit).await;
    assert_kind!(
        error,
        ErrorKind::WrongTlsMode(TlsMismatch::ServerSpeaksPlaintext)
    );
}

/// The other way round: STARTTLS against Postfix's implicit-TLS port. Postfix waits for a
/// ClientHello and says nothing; the session's probe asks a second connection and names the
/// mix-up with the default settings, instead of waiting out the greeting's five minutes.
#[tokio::test]
async fn starttls_against_the_implicit_tls_port_says_so_in_seconds() {
    let Some(servers) = servers() else { return };
    let config = servers.config(&servers.smtps, TlsPolicy::StartTlsRequired, None);
    assert_eq!(
        config.session().timeouts().greeting(),
        Duration::from_secs(300)
    );
    let error = connect_fails(&servers, &servers.smtps, TlsPolicy::StartTlsRequired).await;
    assert_kind!(error, ErrorKind::WrongTlsMode(TlsMismatch::ServerSpeaksTls));
}

/// A TLS server with one of the bad certificates: the client must refuse the handshake and
/// send no SMTP byte at all, credentials least of all.
#[tokio::test]
async fn bad_certificates_are_refused_before_any_smtp() {
    let Some(servers) = servers() else { return };
    let var = |name: &str| std::env::var(format!("SMTPWIRE_TEST_{name}")).unwrap();
    for kind in ["UNTRUSTED", "WRONG_HOST", "EXPIRED"] {
        let (addr, received) =
            bad_tls_server(&var(&format!("{kind}_CERT")), &var(&format!("{kind}_KEY"))).await;
        let credentials = Credentials::new(&servers.user, &servers.password);
        let config = servers
            .config(
                &format!("127.0.0.1:{}", addr.port()),
                TlsPolicy::Implicit,
                None,
            )
            .map_session(|session| session.with_credentials(credentials));
        let error = Client::connect(config).await.unwrap_err();
        assert_eq!(error.phase(), Phase::TlsHandshake, "{kind}: {error}");
        assert!(matches!(error.kind(), ErrorKind::Tls(_)), "{kind}: {error}");
        assert!(
            error.to_string().to_lowercase().contains("certificate"),
            "{kind}: {error}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            received.load(Ordering::SeqCst),
            0,
            "{kind}: SMTP bytes reached the server"
        );
    }
}

async fn bad_tls_server(
    cert: &str,
    key: &str,
) -> (std::net::SocketAddr, std::sync::Arc<AtomicU32>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = std::sync::Arc::new(AtomicU32::new(0));
    let counter = received.clone();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        if let Ok(mut tls) = acceptor.accept(stream).await {
            let _ = tls.write_all(b"220 bad.example ESMTP\r\n").await;
            let mut buffer = [0u8; 1024];
            while let Ok(read) = tls.read(&mut buffer).await {
                if read == 0 {
                    break;
                }
                counter.fetch_add(read as u32, Ordering::SeqCst);
            }
        }
    });
    (addr, received)
}

/// A MIME message with a Chinese subject, display names and attachment name, through Postfix's
/// submission port; parsed back from the Maildir with mail-parser.
#[tokio::test]
async fn mime_message_through_postfix_reads_back() {
    use mail_parser::MimeHeaders;
    use smtpwire::mime::{Attachment, Message};
    let Some(servers) = servers() else { return };
    let token = token();
    let attachment: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let message = Message::builder()
        .from("测试 <tester@smtpwire.test>")
        .to("收件人 <someone@smtpwire.test>")
        .bcc("hidden@smtpwire.test")
        .subject(format!("季度报告 {token}"))
        .text("请查收附件。\n.a dot line\nFrom the team")
        .html("<p>请查收附件。</p>")
        .attach(Attachment::from_bytes(
            "2026年第三季度报告.pdf",
            attachment.clone(),
        ))
        .build()
        .unwrap();
    let config = servers.config(&servers.submission, TlsPolicy::StartTlsRequired, None);
    let mut client = Client::connect(config).await.unwrap();
    let report = client.send_message(&message).await.unwrap();
    assert_eq!(report.accepted().count(), 2, "To and Bcc");
    client.quit().await.unwrap();

    let file = delivered(&servers.maildir.join("new"), &token);
    let parsed = mail_parser::MessageParser::default().parse(&file).unwrap();
    assert_eq!(parsed.subject(), Some(format!("季度报告 {token}").as_str()));
    let from = parsed.from().and_then(|a| a.first()).unwrap();
    assert_eq!(from.name(), Some("测试"));
    assert!(
        parsed.header("Bcc").is_none(),
        "Bcc must not be in the message"
    );
    let part = parsed.attachments().next().unwrap();
    assert_eq!(part.attachment_name(), Some("2026年第三季度报告.pdf"));
    assert_eq!(part.contents(), attachment.as_slice());
    // The encoder ends a text body with a line break.
    assert_eq!(
        parsed.body_text(0).unwrap().replace("\r\n", "\n"),
        "请查收附件。\n.a dot line\nFrom the team\n"
    );
}
