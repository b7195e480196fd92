//! Oracle for the whole session fed arbitrary server bytes.
//!
//! The first byte picks the configuration (TLS policy, credentials, pipelining); the next
//! seeds the read sizes; the rest is what "the server" sends. The driver answers every action
//! as a real one would. It must hold that:
//! * nothing panics and the session never stalls (bounded steps);
//! * when TLS is required, neither AUTH nor MAIL is ever sent before the TLS handshake;
//! * the password, in clear or base64, never appears in the transcript or an error.
//!
//! A server may send any bytes, the password's forms included (libFuzzer learns them from the
//! comparisons below). So each input runs twice, with two passwords of the same length: a
//! form of the first that shows in both runs came from the server; one that shows only in its
//! own run leaked from the client.

use smtpwire::address::Mailbox;
use smtpwire::auth::Credentials;
use smtpwire::envelope::{Envelope, Recipient};
use smtpwire::session::{Action, Event, Session, SessionConfig, TlsPolicy};
use smtpwire::ErrorKind;

/// Two passwords, each with its base64 PLAIN message and base64 alone (LOGIN).
const PASSWORDS: [[&str; 3]; 2] = [
    [
        "fuzz-s3cr3t-pass",
        "AGZ1enplcgBmdXp6LXMzY3IzdC1wYXNz",
        "ZnV6ei1zM2NyM3QtcGFzcw==",
    ],
    [
        "other-secret-pw1",
        "AGZ1enplcgBvdGhlci1zZWNyZXQtcHcx",
        "b3RoZXItc2VjcmV0LXB3MQ==",
    ],
];
const MAX_STEPS: usize = 100_000;

pub fn run(data: &[u8]) {
    let [first, second] = PASSWORDS;
    let shown_first = drive(data, first);
    let shown_second = drive(data, second);
    for form in first {
        assert!(
            !shown_first.contains(form) || shown_second.contains(form),
            "secret shown: {shown_first}"
        );
    }
}

/// Drives one session; returns everything it showed.
fn drive(data: &[u8], password: [&str; 3]) -> String {
    let (&setup, rest) = match data.split_first() {
        Some(split) => split,
        None => return String::new(),
    };
    let (&seed, server) = rest.split_first().unwrap_or((&0, &[]));
    let policy = match setup & 3 {
        0 => TlsPolicy::Implicit,
        1 => TlsPolicy::StartTlsRequired,
        2 => TlsPolicy::StartTlsOpportunistic,
        _ => TlsPolicy::Plaintext,
    };
    let mut config = SessionConfig::new(policy)
        .with_transcript(true)
        .with_pipelining(setup & 4 == 0);
    if setup & 8 == 0 {
        config = config.with_credentials(Credentials::new("fuzzer", password[0]));
    }
    let mut session = Session::new(config);
    let mut sent_before_tls: Vec<u8> = Vec::new();
    let mut tls = false;
    let mut offset = 0;
    let mut rng = u32::from(seed) | 1;
    let mut mails = 0;
    let mut outcome = None;
    let mut steps = 0;
    let mut now = std::time::Instant::now();
    let (mut started, mut finished) = (0, 0);
    loop {
        steps += 1;
        assert!(steps < MAX_STEPS, "the session stalled");
        let action = session.next_action(now);
        while let Some(event) = session.poll_event() {
            if let Event::MessageFinished { .. } = event {
                finished += 1;
            }
        }
        match action {
            Ok(Action::Send(bytes)) => {
                if !tls {
                    sent_before_tls.extend_from_slice(&bytes);
                }
            }
            Ok(Action::Receive) => {
                if offset >= server.len() {
                    outcome = Some(session.fail(ErrorKind::ConnectionClosed).to_string());
                    break;
                }
                // xorshift: varied read sizes, same for the same input.
                rng ^= rng << 13;
                rng ^= rng >> 17;
                rng ^= rng << 5;
                // Now and then the clock jumps: past the TLS probe instant, or a deadline.
                if rng % 29 == 0 {
                    if let Some(deadline) = session.poll_timeout() {
                        now = deadline;
                        session.handle_timeout(now);
                        continue;
                    }
                }
                let len = (rng as usize % 64) + 1;
                let end = (offset + len).min(server.len());
                session.feed(&server[offset..end]);
                offset = end;
            }
            Ok(Action::ProbeTls) => {
                session.tls_probe_answered(if rng % 2 == 0 { b"\x16\x03\x03" } else { b"" })
            }
            Ok(Action::StartTls) => {
                assert_eq!(
                    session.buffered_input(),
                    0,
                    "handshake with plaintext bytes buffered"
                );
                session
                    .tls_established("TLSv1_3")
                    .expect("StartTls must accept tls_established");
                tls = true;
            }
            Ok(Action::SendData(_)) => {
                session
                    .write_data(b"Subject: x\r\n\r\n.hi\n")
                    .expect("valid data");
                session.finish_data().expect("valid data");
            }
            Ok(Action::Ready) => {
                if mails < 2 {
                    mails += 1;
                    let from = Mailbox::parse("a@example.com").expect("valid");
                    let to = ["b@example.com", "c@example.com"]
                        .map(|r| Recipient::new(Mailbox::parse(r).expect("valid")));
                    let envelope = Envelope::new(Some(from), to).expect("valid");
                    if session.send_mail(envelope.with_size(100)).is_ok() {
                        started += 1;
                    }
                } else {
                    session.quit().expect("quit when ready");
                }
            }
            Ok(Action::Closed) => break,
            Ok(_) => {}
            Err(error) => {
                let again = session.next_action(now).expect_err("errors are sticky");
                assert_eq!(again.to_string(), error.to_string(), "errors are sticky");
                outcome = Some(error.to_string());
                break;
            }
        }
    }
    while let Some(event) = session.poll_event() {
        if let Event::MessageFinished { .. } = event {
            finished += 1;
        }
    }
    // Every message handed to the session ends with exactly one verdict, even when the
    // session fails: drivers count on it.
    assert_eq!(
        finished, started,
        "a message in flight got no verdict, or two"
    );
    if policy == TlsPolicy::StartTlsRequired || policy == TlsPolicy::Implicit {
        let plain = String::from_utf8_lossy(&sent_before_tls);
        assert!(!plain.contains("AUTH"), "AUTH before TLS: {plain:?}");
        assert!(!plain.contains("MAIL FROM"), "MAIL before TLS: {plain:?}");
    }
    // Credentials are never sent without TLS: the dangerous opt-in is never used here.
    let plain = String::from_utf8_lossy(&sent_before_tls);
    assert!(!plain.contains(password[1]), "password before TLS");
    format!(
        "{}\n{:?}\n{}",
        session
            .transcript()
            .map(|t| t.to_string())
            .unwrap_or_default(),
        session,
        outcome.unwrap_or_default()
    )
}
