//! One verdict, the session's: whatever the server offers (CHUNKING × PIPELINING) and
//! wherever the connection drops, the pooled mailer reports each recipient exactly as the
//! single client does — the pool counts nothing of its own.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use smtpwire::address::Mailbox;
use smtpwire::envelope::{Envelope, Recipient};
use smtpwire::pool::{Mailer, RetryPolicy};
use smtpwire::session::TlsPolicy;
use smtpwire::transport::{Client, ClientConfig};
use smtpwire::{Delivery, Error, Report, Status};
use std::time::Duration;
use support::scripted::{cut, listen, server_bytes, Step};

const MESSAGE: &[u8] = b"Subject: verdicts\r\n\r\nThe body.\r\n";
const FINAL: &[u8] = b"250 2.0.0 Ok: queued as V1\r\n";

/// The server's side of one delivery, for what it offers.
fn dialogue(chunking: bool, pipelining: bool) -> Vec<Step> {
    let mut ehlo = String::from("250-mx.test\r\n");
    if chunking {
        ehlo.push_str("250-CHUNKING\r\n");
    }
    if pipelining {
        ehlo.push_str("250-PIPELINING\r\n");
    }
    ehlo.push_str("250 8BITMIME\r\n");
    let mut script = vec![
        Step::send(b"220 mx.test ESMTP\r\n"),
        Step::Expect("EHLO"),
        Step::send(ehlo),
        Step::Expect("MAIL"),
        Step::send(b"250 2.1.0 ok\r\n"),
        Step::Expect("RCPT"),
        Step::send(b"250 2.1.5 ok\r\n"),
    ];
    // BDAT only with CHUNKING and PIPELINING both (RFC 3030 without end-of-data ambiguity).
    if chunking && pipelining {
        script.extend([Step::Expect("BDAT"), Step::ExpectData]);
    } else {
        script.extend([
            Step::Expect("DATA"),
            Step::send(b"354 go ahead\r\n"),
            Step::ExpectData,
        ]);
    }
    script.extend([
        Step::send(FINAL),
        Step::Expect("QUIT"),
        Step::send(b"221 2.0.0 bye\r\n"),
    ]);
    script
}

fn config(port: u16) -> ClientConfig {
    let mut config = ClientConfig::new("127.0.0.1", port);
    config.session.tls = TlsPolicy::Plaintext;
    config.session.timeouts.tls_probe = None;
    for timeout in [
        &mut config.session.timeouts.greeting,
        &mut config.session.timeouts.command,
        &mut config.session.timeouts.mail,
        &mut config.session.timeouts.rcpt,
        &mut config.session.timeouts.data_initiation,
        &mut config.session.timeouts.data_termination,
    ] {
        *timeout = Duration::from_secs(5);
    }
    config
}

fn envelope() -> Envelope {
    Envelope::new(
        Some(Mailbox::parse("a@x.test").unwrap()),
        [Recipient::new(Mailbox::parse("b@y.test").unwrap())],
    )
    .unwrap()
}

/// Each recipient's status and the message's delivery, from a result either kind of sender
/// gives.
fn verdict(result: &Result<Report, Error>) -> (Vec<Status>, Delivery) {
    let report = match result {
        Ok(report) => report,
        Err(error) => error
            .report()
            .unwrap_or_else(|| panic!("no report: {error}")),
    };
    let statuses = report.recipients().iter().map(|r| r.status()).collect();
    let delivery = match result {
        Ok(report) => report.delivery(),
        Err(error) => error.delivery(),
    };
    (statuses, delivery)
}

/// The single client's verdict; a connection that fails before the session is ready never
/// started the message, which is then certainly not delivered.
async fn through_client(script: Vec<Step>) -> (Vec<Status>, Delivery) {
    let (port, _server) = listen(script).await;
    match Client::connect(config(port)).await {
        Ok(mut client) => verdict(&client.send(envelope(), MESSAGE).await),
        Err(error) if error.is_transient() => (vec![Status::Deferred], Delivery::NotSent),
        Err(_) => (vec![Status::NotSent], Delivery::NotSent),
    }
}

async fn through_mailer(script: Vec<Step>) -> Result<Report, Error> {
    let (port, _server) = listen(script).await;
    let mailer = Mailer::builder(config(port))
        .retry(RetryPolicy::default().max_attempts(1))
        .build();
    mailer.send(envelope(), MESSAGE).await
}

/// Cut at every byte offset of what the server says, for each of the four combinations: the
/// pool's verdict equals the session's, and the session's is the truth — unknown exactly
/// between the end of the data and the final reply, certainly not delivered before.
#[tokio::test]
async fn the_pool_reports_what_the_session_decided_wherever_the_connection_drops() {
    for (chunking, pipelining) in [(false, false), (true, false), (false, true), (true, true)] {
        let script = dialogue(chunking, pipelining);
        let total = server_bytes(&script);
        let final_end = total - b"221 2.0.0 bye\r\n".len();
        let final_start = final_end - FINAL.len();
        for at in 0..final_end {
            let case = format!("CHUNKING {chunking}, PIPELINING {pipelining}, cut at {at}");
            let session = through_client(cut(&script, at)).await;
            let pool = verdict(&through_mailer(cut(&script, at)).await);
            assert_eq!(pool, session, "{case}: the pool differs from the session");
            let expected = if at >= final_start {
                (vec![Status::Unknown], Delivery::Unknown)
            } else {
                (vec![Status::Deferred], Delivery::NotSent)
            };
            assert_eq!(session, expected, "{case}");
        }
    }
}

/// The case the pool used to get wrong by counting replies: CHUNKING without PIPELINING means
/// DATA, and a connection lost after the 354, while a large message is still being written,
/// leaves it certainly undelivered (no end of data went out) — so it is sent again, and
/// arrives once.
#[tokio::test]
async fn chunking_without_pipelining_lost_after_354_is_retried_not_unknown() {
    let script = dialogue(true, false);
    let after_354 = server_bytes(&script[..9]);
    let first = cut(&script, after_354);
    let (port, server) = support::scripted::listen_each(vec![first, script.clone()]).await;
    let mailer = Mailer::builder(config(port))
        .retry(
            RetryPolicy::default()
                .max_attempts(2)
                .initial_delay(Duration::from_millis(10)),
        )
        .build();
    let large = [
        MESSAGE,
        &b"0123456789012345678901234567890123456789\r\n".repeat(100_000),
    ]
    .concat();
    let report = mailer.send(envelope(), &large).await.unwrap();
    mailer.close().await;
    assert_eq!(report.attempts(), 2);
    assert_eq!(report.recipients()[0].status(), Status::Accepted);
    let commands = server.await.unwrap().commands();
    let count = |what: &str| commands.iter().filter(|c| c.starts_with(what)).count();
    assert_eq!(count("MAIL"), 2, "{commands:?}");
    assert_eq!(count("<data>"), 1, "one complete copy: {commands:?}");
}
