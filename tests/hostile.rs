//! The transport against scripted hostile servers on 127.0.0.1: what real servers will not do.
//! Every case must end in a typed error (or, where the message was accepted, success) within
//! its deadline: never a hang, a panic, or a success that did not happen.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use smtpwire::reply::FramingError as FramingErrorKind;
use smtpwire::session::{SessionConfig, Timeouts, TlsPolicy};
use smtpwire::transport::{Client, ClientConfig};
use smtpwire::{Delivery, Error, ErrorKind, Phase, ProtocolViolation, Status, TlsMismatch};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

mod support;
use support::assert_kind;
use support::envelope::envelope;
use support::scripted::{
    accepting, answering, cut, final_reply, listen as scripted, listen_each, opening, server_bytes,
    Received, Step,
};
use tokio::task::JoinHandle;

fn config(port: u16, tls: TlsPolicy) -> ClientConfig {
    let session = SessionConfig::new(tls)
        .with_transcript(true)
        .with_timeouts(Timeouts::uniform(Duration::from_millis(600)));
    ClientConfig::new("127.0.0.1", port).with_session(session)
}

/// [`config`] with a greeting deadline far off and a quick TLS probe.
fn probing_config(port: u16, tls: TlsPolicy) -> ClientConfig {
    config(port, tls).map_session(|session| {
        let timeouts = session
            .timeouts()
            .with_greeting(Duration::from_secs(30))
            .with_tls_probe(Some(Duration::from_millis(200)));
        session.with_timeouts(timeouts)
    })
}

/// Connects and sends one message; the whole attempt must end within five seconds.
async fn attempt(config: ClientConfig, to: &[&str]) -> Result<smtpwire::Report, Error> {
    let run = async {
        let mut client = Client::connect(config).await?;
        let report = client
            .send(envelope("a@x.test", to), b"Subject: x\r\n\r\nhi\r\n")
            .await?;
        client.quit().await?;
        Ok(report)
    };
    tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("the client hung")
}

/// [`attempt`] to one recipient, which must fail: the error.
async fn fails(port: u16, tls: TlsPolicy) -> Error {
    attempt(config(port, tls), &["b@y.test"]).await.unwrap_err()
}

/// An attempt that requires STARTTLS, against a server that offers it and answers the
/// command with `then`: the error, and what the server received.
async fn starttls_fails(then: impl IntoIterator<Item = Step>) -> (Error, JoinHandle<Received>) {
    let mut script = opening(&["STARTTLS"]);
    script.push(Step::Expect("STARTTLS"));
    script.extend(then);
    let (port, server) = scripted(script).await;
    (fails(port, TlsPolicy::StartTlsRequired).await, server)
}

/// The opening of a plain server, which accepts MAIL and goes on with `then` from the first
/// RCPT.
fn after_mail(then: impl IntoIterator<Item = Step>) -> Vec<Step> {
    let mut script = opening(&["8BITMIME"]);
    script.extend([Step::Expect("MAIL"), Step::send(b"250 ok\r\n")]);
    script.extend(then);
    script
}

/// The reference dialogue: each reply sent once the client asked for it.
fn dialogue() -> Vec<Step> {
    accepting(&["8BITMIME"], 1)
}

const GREETING: &[u8] = b"220 mx.test ESMTP\r\n";

#[tokio::test]
async fn starttls_reply_with_injected_lines_in_the_same_packet() {
    let (error, server) = starttls_fails([
        Step::send(b"220 go ahead\r\n250-mx.test\r\n250 AUTH PLAIN LOGIN\r\n"),
        Step::Stall(Duration::from_millis(300)),
    ])
    .await;
    assert_kind!(
        error,
        ErrorKind::Protocol(ProtocolViolation::DataAfterStartTls)
    );
    let sent = server.await.unwrap().bytes();
    assert_eq!(
        sent, b"EHLO localhost\r\nSTARTTLS\r\n",
        "nothing may follow, not even a ClientHello"
    );
}

#[tokio::test]
async fn starttls_injection_arriving_just_after_the_220() {
    let (error, _server) = starttls_fails([
        Step::send(b"220 go ahead\r\n"),
        Step::Stall(Duration::from_millis(20)),
        Step::send(b"250 AUTH PLAIN\r\n"),
        Step::Stall(Duration::from_millis(300)),
    ])
    .await;
    // Either caught in the buffer or, arriving during the handshake, not a TLS record.
    assert_kind!(
        error,
        ErrorKind::Tls(_) | ErrorKind::Protocol(ProtocolViolation::DataAfterStartTls)
    );
    assert_eq!(error.phase(), Phase::TlsHandshake, "{error}");
}

#[tokio::test]
async fn starttls_refused_or_answered_oddly() {
    for (reply, transient) in [
        (&b"454 4.7.0 TLS not available\r\n"[..], true),
        (b"502 5.5.1 not implemented\r\n", false),
        (b"354 do something else\r\n", false),
        (b"250 OK\r\n", false),
    ] {
        let (error, server) =
            starttls_fails([Step::send(reply), Step::Stall(Duration::from_millis(200))]).await;
        assert_eq!(error.phase(), Phase::StartTls, "{error}");
        assert_eq!(error.is_transient(), transient, "{error}");
        assert_eq!(
            server.await.unwrap().bytes(),
            b"EHLO localhost\r\nSTARTTLS\r\n"
        );
    }
}

#[tokio::test]
async fn plaintext_greeting_on_an_implicit_tls_connection() {
    let (port, _server) = scripted(vec![
        Step::send(GREETING),
        Step::Stall(Duration::from_millis(300)),
    ])
    .await;
    let error = fails(port, TlsPolicy::Implicit).await;
    assert_kind!(
        error,
        ErrorKind::WrongTlsMode(TlsMismatch::ServerSpeaksPlaintext)
    );
    assert!(error.to_string().contains("implicit TLS"), "{error}");
}

/// On tokio's paused clock, time moves only when every task waits for a timer: the mix-up
/// is told with no time passed, where waiting for the greeting's deadline would show 600 ms.
#[tokio::test(start_paused = true)]
async fn tls_bytes_on_a_plaintext_connection() {
    // A TLS alert record, as an implicit-TLS port may send to a client that says nothing.
    // The server keeps the connection open: the mix-up is reported at once, not when the
    // greeting's deadline passes.
    let (port, _server) = scripted(vec![
        Step::send(b"\x15\x03\x03\x00\x02\x02\x46"),
        Step::Stall(Duration::from_secs(3)),
    ])
    .await;
    let started = tokio::time::Instant::now();
    let error = fails(port, TlsPolicy::StartTlsRequired).await;
    assert_kind!(error, ErrorKind::WrongTlsMode(TlsMismatch::ServerSpeaksTls));
    assert_eq!(started.elapsed(), Duration::ZERO);
}

/// A TLS alert record, as a TLS server answers a ClientHello it will not take.
const TLS_ALERT: &[u8] = b"\x15\x03\x03\x00\x02\x02\x28";

/// STARTTLS (or plain SMTP) against a port that waits for a TLS ClientHello: no greeting
/// comes, the session asks for a probe, a second connection gets a TLS answer, and the
/// mix-up is named — long before the greeting's deadline.
#[tokio::test]
async fn silent_greeting_on_an_implicit_tls_port_is_found_by_the_probe() {
    for policy in [TlsPolicy::StartTlsRequired, TlsPolicy::Plaintext] {
        let (port, server) = listen_each(vec![
            vec![Step::Stall(Duration::from_secs(5))],
            // A TLS server reads the ClientHello's record, then answers with a record.
            vec![
                Step::Stall(Duration::from_millis(50)),
                Step::send(TLS_ALERT),
            ],
        ])
        .await;
        let error = Client::connect(probing_config(port, policy))
            .await
            .unwrap_err();
        assert!(
            matches!(
                error.kind(),
                ErrorKind::WrongTlsMode(TlsMismatch::ServerSpeaksTls)
            ),
            "{policy:?}: {error}"
        );
        assert_eq!(error.phase(), Phase::Greeting);
        let transcript = error.transcript().unwrap().to_string();
        assert!(transcript.contains("answered with TLS"), "{transcript}");
        server.abort();
    }
}

/// A slow but real greeting is not cut short: the probe finds no TLS, and the session waits
/// out the greeting as RFC 5321 allows.
#[tokio::test]
async fn slow_plaintext_greeting_survives_the_probe() {
    let mut slow = vec![Step::Stall(Duration::from_millis(800))];
    slow.extend(opening(&["8BITMIME"]));
    slow.extend([Step::Expect("QUIT"), Step::send(b"221 bye\r\n")]);
    let (port, _server) = listen_each(vec![
        slow,
        // What a plaintext SMTP server does with a ClientHello: greets, then refuses it.
        vec![
            Step::send(GREETING),
            Step::Expect(""),
            Step::send(b"500 5.5.2 what?\r\n"),
        ],
    ])
    .await;
    let mut client = Client::connect(probing_config(port, TlsPolicy::Plaintext))
        .await
        .unwrap();
    let transcript = client.session().transcript().unwrap().to_string();
    assert!(transcript.contains("does not answer TLS"), "{transcript}");
    client.quit().await.unwrap();
    let transcript = client.session().transcript().unwrap().to_string();
    assert!(
        transcript.contains("S: 221 bye"),
        "QUIT and its reply are kept: {transcript}"
    );
}

#[tokio::test]
async fn greetings_554_421_and_silence() {
    for (steps, check) in [
        (
            vec![Step::send(b"554 5.3.2 no service\r\n"), Step::Close],
            "554",
        ),
        (vec![Step::send(b"421 4.3.2 busy\r\n"), Step::Close], "421"),
        (vec![Step::Stall(Duration::from_secs(2))], "timeout"),
        (vec![Step::Close], "closed"),
    ] {
        let (port, _server) = scripted(steps).await;
        let error = fails(port, TlsPolicy::Plaintext).await;
        assert_eq!(error.phase(), Phase::Greeting, "{check}: {error}");
        match check {
            "timeout" => assert_kind!(error, ErrorKind::Timeout),
            "closed" => assert_kind!(error, ErrorKind::ConnectionClosed),
            code => assert_eq!(error.reply().unwrap().code().to_string(), code, "{error}"),
        }
    }
}

#[tokio::test]
async fn endless_multiline_reply_and_huge_line_are_bounded() {
    let endless: &'static [u8] = "250-x\r\n".repeat(300).leak().as_bytes();
    for (steps, expected) in [
        (
            vec![
                Step::send(GREETING),
                Step::Expect("EHLO"),
                Step::send(endless),
            ],
            FramingErrorKind::TooManyLines,
        ),
        (
            vec![Step::send(b"220 "), Step::Flood(100 << 20)],
            FramingErrorKind::LineTooLong,
        ),
    ] {
        let (port, _server) = scripted(steps).await;
        let error = fails(port, TlsPolicy::Plaintext).await;
        assert_kind!(
            error,
            ErrorKind::Protocol(ProtocolViolation::Framing(e)) if *e == expected
        );
    }
}

/// On tokio's paused clock: the failure comes exactly at the greeting's deadline, 600 ms
/// after the connection, while the last byte would come after 2.9 s.
#[tokio::test(start_paused = true)]
async fn trickling_server_hits_the_reply_deadline() {
    // Each byte comes well within the deadline, but the reply as a whole does not.
    let (port, _server) = scripted(vec![Step::Trickle(
        b"220 mx.test ESMTP trickling\r\n".to_vec(),
        Duration::from_millis(100),
    )])
    .await;
    let started = tokio::time::Instant::now();
    let error = fails(port, TlsPolicy::Plaintext).await;
    assert_kind!(error, ErrorKind::Timeout);
    assert_eq!(error.phase(), Phase::Greeting);
    assert_eq!(started.elapsed(), Duration::from_millis(600));
}

#[tokio::test]
async fn per_recipient_replies_and_data_refused() {
    let (port, _server) = scripted(after_mail(answering(&[
        ("RCPT", "250 ok"),
        ("RCPT", "550 5.1.1 no such user"),
        ("RCPT", "450 4.2.1 busy"),
        ("DATA", "554 5.7.1 not today"),
        ("RSET", "250 ok"),
        ("QUIT", "221 bye"),
    ])))
    .await;
    let error = attempt(
        config(port, TlsPolicy::Plaintext),
        &["ok@y.test", "no@y.test", "busy@y.test"],
    )
    .await
    .unwrap_err();
    // Nobody got the message: the error carries the first refusal, and its report every one.
    assert_eq!(error.phase(), Phase::Data, "{error}");
    assert_eq!(error.reply().unwrap().code().get(), 554);
    let refusals: Vec<(String, Status, Phase, u16)> = error
        .report()
        .expect("the report travels with the error")
        .recipients()
        .iter()
        .map(|r| {
            let code = r.reply().unwrap().code().get();
            (r.mailbox().to_string(), r.status(), r.phase(), code)
        })
        .collect();
    assert_eq!(
        refusals,
        [
            ("ok@y.test".into(), Status::Rejected, Phase::Data, 554),
            ("no@y.test".into(), Status::Rejected, Phase::RcptTo, 550),
            ("busy@y.test".into(), Status::Deferred, Phase::RcptTo, 450),
        ]
    );
}

#[tokio::test]
async fn service_closing_mid_transaction() {
    let (port, _server) = scripted(after_mail([
        Step::Expect("RCPT"),
        Step::send(b"421 4.3.2 shutting down\r\n"),
        Step::Close,
    ]))
    .await;
    let error = fails(port, TlsPolicy::Plaintext).await;
    assert_eq!(error.phase(), Phase::RcptTo);
    assert!(error.is_transient());
    assert_eq!(error.delivery(), Delivery::NotSent);
}

/// Drops the connection after every byte offset of the server's side of a reference dialogue:
/// each attempt ends in a typed error, except once the final reply is complete, when it is a
/// success; between the final dot and the final reply the delivery is unknown.
#[tokio::test]
async fn connection_dropped_at_every_offset() {
    let script = dialogue();
    let final_reply = final_reply(&script);
    for at in 0..server_bytes(&script) {
        let (port, _server) = scripted(cut(&script, at)).await;
        let result = attempt(config(port, TlsPolicy::Plaintext), &["b@y.test"]).await;
        if at >= final_reply.end {
            let report = result.unwrap_or_else(|e| panic!("cut at {at}: {e}"));
            assert_eq!(report.accepted().count(), 1);
            continue;
        }
        let error = result
            .err()
            .unwrap_or_else(|| panic!("cut at {at}: reported success"));
        let expected = if at >= final_reply.start {
            Delivery::Unknown
        } else {
            Delivery::NotSent
        };
        assert_eq!(error.delivery(), expected, "cut at {at}: {error}");
    }
}

/// rustls speaks TLS 1.2 and 1.3 only: a TLS 1.0-only server (OpenSSL's `s_server -tls1`) is
/// refused in the handshake, with no fallback to anything weaker.
#[tokio::test]
async fn tls_1_0_only_server_is_refused() {
    if std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but openssl is missing"
        );
        eprintln!("skipping: no openssl binary for a TLS 1.0 server");
        return;
    }
    let dir = std::env::temp_dir().join(format!("smtpwire-tls10-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = std::process::Command::new("openssl")
        .args([
            "s_server",
            "-quiet",
            "-tls1",
            "-cipher",
            "DEFAULT@SECLEVEL=0",
        ])
        .arg("-accept")
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(dir.join("cert.pem"))
        .arg("-key")
        .arg(dir.join("key.pem"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut listening = false;
    for _ in 0..50 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            listening = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let trust = smtpwire::transport::TlsConfig::empty()
        .with_der(ca.der())
        .unwrap();
    let config = config(port, TlsPolicy::Implicit).with_tls(trust);
    let result = attempt(config, &["b@y.test"]).await;
    server.kill().unwrap();
    server.wait().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(listening, "openssl s_server did not start");
    let error = result.unwrap_err();
    assert_eq!(error.phase(), Phase::TlsHandshake, "{error}");
    assert_kind!(error, ErrorKind::Tls(_));
    // The server cannot speak TLS 1.2 and says so with a protocol_version alert.
    assert!(error.to_string().contains("ProtocolVersion"), "{error}");
}

/// Sends an 80 MB message to a server that takes MAIL, RCPT and DATA and then does `after`;
/// the send must fail within 3 s whatever that is (it never hangs).
async fn send_large_message_after_354(after: Vec<Step>) -> Error {
    // The reference dialogue up to its 354.
    let script = [dialogue()[..9].to_vec(), after].concat();
    let (port, _server) = scripted(script).await;
    let body = format!("{}\r\n", "x".repeat(76))
        .repeat(1 << 20)
        .into_bytes();
    let run = async {
        let mut client = Client::connect(config(port, TlsPolicy::Plaintext)).await?;
        client
            .send(envelope("a@x.test", &["b@y.test"]), &body)
            .await
    };
    tokio::time::timeout(Duration::from_secs(3), run)
        .await
        .expect("the client hung")
        .unwrap_err()
}

/// Reverse slowloris: after 354 the server stops reading. Each write has its deadline, so the
/// send fails in the data phase instead of blocking forever, and nothing was delivered.
#[tokio::test]
async fn server_that_stops_reading_during_data() {
    let error = send_large_message_after_354(vec![Step::Stall(Duration::from_secs(4))]).await;
    assert_kind!(error, ErrorKind::Timeout);
    assert_eq!(error.phase(), Phase::DataBody, "{error}");
    assert_eq!(error.delivery(), Delivery::NotSent);
}

/// Security anchors 58: the server refuses in the middle of a large message. The client stops
/// writing, reports the refusal, and never reports success.
#[tokio::test]
async fn refusal_in_the_middle_of_the_data() {
    let error = send_large_message_after_354(vec![
        Step::Expect("xxxx"),
        Step::send(b"552 5.3.4 Message too big\r\n"),
        Step::Stall(Duration::from_secs(2)),
    ])
    .await;
    assert_eq!(error.phase(), Phase::DataBody, "{error}");
    assert_eq!(error.reply().map(|r| r.code().get()), Some(552), "{error}");
    assert_eq!(error.delivery(), Delivery::NotSent);
}

/// The whole connect has one deadline (`Timeouts::connect_total`), however long each address
/// may take: a port whose accept queue is full drops the SYN, so the connect hangs, and the
/// total deadline ends it. On tokio's paused clock: exact, and no real waiting.
#[tokio::test(start_paused = true)]
async fn the_whole_connect_has_one_deadline() {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let address = listener.local_addr().unwrap();
    // Fill the accept queue; nobody ever accepts.
    let mut queued = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(stream)) =
            tokio::time::timeout(Duration::from_millis(50), TcpStream::connect(address)).await
        {
            queued.push(stream);
        }
    }
    let timeouts = Timeouts::default()
        .with_connect(Duration::from_secs(100))
        .with_connect_total(Duration::from_secs(2));
    let started = tokio::time::Instant::now();
    let error = smtpwire::transport::connect_tcp("127.0.0.1", address.port(), &timeouts)
        .await
        .unwrap_err();
    assert_kind!(error, ErrorKind::Timeout);
    assert_eq!(error.phase(), Phase::Connect);
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    drop(listener);
}
