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

use smtpwire::envelope::Envelope;
use smtpwire::pool::{Mailer, RetryPolicy};
use smtpwire::session::{SessionConfig, Timeouts, TlsPolicy};
use smtpwire::transport::{Client, ClientConfig};
use smtpwire::{Delivery, Error, Report, Status};
use std::time::Duration;
use support::scripted::{accepting, cut, final_reply, listen, server_bytes, Step};

const MESSAGE: &[u8] = b"Subject: verdicts\r\n\r\nThe body.\r\n";

/// The server's side of one delivery, for what it offers: with BDAT only when it offers
/// CHUNKING and PIPELINING both (RFC 3030 without end-of-data ambiguity).
fn dialogue(chunking: bool, pipelining: bool) -> Vec<Step> {
    let offered = [
        (chunking, "CHUNKING"),
        (pipelining, "PIPELINING"),
        (true, "8BITMIME"),
    ];
    let extensions: Vec<&str> = offered
        .into_iter()
        .filter_map(|(on, extension)| on.then_some(extension))
        .collect();
    accepting(&extensions, 1)
}

fn config(port: u16) -> ClientConfig {
    let five = Duration::from_secs(5);
    let timeouts = Timeouts::default()
        .with_tls_probe(None)
        .with_greeting(five)
        .with_command(five)
        .with_mail(five)
        .with_rcpt(five)
        .with_data_initiation(five)
        .with_data_termination(five);
    let session = SessionConfig::new(TlsPolicy::Plaintext).with_timeouts(timeouts);
    ClientConfig::new("127.0.0.1", port).with_session(session)
}

fn envelope() -> Envelope {
    support::envelope::envelope("a@x.test", &["b@y.test"])
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
        .retry(RetryPolicy::default().with_max_attempts(1))
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
        let final_reply = final_reply(&script);
        for at in 0..final_reply.end {
            let case = format!("CHUNKING {chunking}, PIPELINING {pipelining}, cut at {at}");
            let session = through_client(cut(&script, at)).await;
            let pool = verdict(&through_mailer(cut(&script, at)).await);
            assert_eq!(pool, session, "{case}: the pool differs from the session");
            let expected = if at >= final_reply.start {
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
                .with_max_attempts(2)
                .with_initial_delay(Duration::from_millis(10)),
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
