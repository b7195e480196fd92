//! The mailer's limits against scripted servers, on tokio's paused clock: the circuit
//! breaker's transitions and the rate limit's accuracy.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod pool_support;

use pool_support::*;
use smtpwire::pool::{BreakerPolicy, Mailer, MailerBuilder, Rate, RetryPolicy};
use smtpwire::ErrorKind;
use std::time::Duration;
use tokio::time::{sleep, Instant};

fn single_attempt(server: &Scripted) -> (Mailer<InMemory<Scripted>>, Recorder) {
    observed(
        mailer(server)
            .retry(RetryPolicy::never())
            .breaker(BreakerPolicy::new(2, 30 * SEC)),
    )
}

#[tokio::test(start_paused = true)]
async fn the_breaker_opens_fails_fast_then_lets_one_probe_through() {
    let server = Scripted::new();
    server.refuse().refuse();
    server.then([open(), deliver(1, OK)].concat());
    let (mailer, events) = single_attempt(&server);
    for _ in 0..2 {
        send(&mailer, &["b@y.test"]).await.unwrap_err();
    }
    let error = send(&mailer, &["b@y.test"]).await.unwrap_err();
    let ErrorKind::CircuitOpen { retry_after } = error.kind() else {
        panic!("{error}")
    };
    assert_eq!(*retry_after, 30 * SEC);
    assert_eq!(server.connections(), 2, "failing fast opens no connection");

    sleep(30 * SEC).await;
    send(&mailer, &["b@y.test"]).await.unwrap();
    let transitions: Vec<String> = events
        .events()
        .into_iter()
        .filter(|e| e.starts_with("breaker") || e.starts_with("connect"))
        .map(|e| e.split(':').next().unwrap().to_owned())
        .collect();
    assert_eq!(
        transitions,
        [
            "connect failed",
            "connect failed",
            "breaker opened after 2",
            "breaker half-open",
            "connected",
            "breaker closed"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_opens_it_again() {
    let server = Scripted::new();
    server.refuse().refuse().refuse();
    let (mailer, events) = single_attempt(&server);
    for _ in 0..2 {
        send(&mailer, &["b@y.test"]).await.unwrap_err();
    }
    sleep(30 * SEC).await;
    send(&mailer, &["b@y.test"]).await.unwrap_err();
    let error = send(&mailer, &["b@y.test"]).await.unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::CircuitOpen { .. }),
        "{error}"
    );
    assert_eq!(events.count("breaker opened"), 2);
    assert_eq!(server.connections(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_refused_password_opens_the_breaker_at_once() {
    let config = config_with_password("u", "wvkfmhzqjdpxnbta");
    let server = Scripted::new();
    server.then(vec![GREETING, EHLO_AUTH, "535 5.7.8 authentication failed"]);
    let (mailer, events) = observed(mailer_with(config, &server));
    send(&mailer, &["b@y.test"]).await.unwrap_err();
    assert_eq!(events.count("breaker opened after 1"), 1);
    let error = send(&mailer, &["b@y.test"]).await.unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::CircuitOpen { .. }),
        "{error}"
    );
    assert_eq!(server.connections(), 1, "the password was tried once");
}

/// When each of `sends` messages to `recipients` each was accepted, sent at once from as many
/// tasks over `connections` connections, with the rate limit `limit` sets.
async fn accepted_at(
    connections: usize,
    sends: usize,
    recipients: usize,
    limit: impl FnOnce(MailerBuilder<InMemory<Scripted>>) -> MailerBuilder<InMemory<Scripted>>,
) -> Vec<Duration> {
    let server = Scripted::new();
    for _ in 0..connections {
        server.then([open(), deliver(recipients, OK).repeat(sends)].concat());
    }
    let mailer = limit(
        mailer(&server)
            .max_connections(connections)
            .idle_check_after(Duration::from_secs(3600)),
    )
    .build();
    let start = Instant::now();
    let tasks: Vec<_> = (0..sends)
        .map(|i| {
            let mailer = mailer.clone();
            tokio::spawn(async move {
                let to: Vec<String> = (0..recipients)
                    .map(|r| format!("r{i}x{r}@y.test"))
                    .collect();
                let to: Vec<&str> = to.iter().map(String::as_str).collect();
                send(&mailer, &to).await.unwrap();
                start.elapsed()
            })
        })
        .collect();
    let mut times = Vec::new();
    for task in tasks {
        times.push(task.await.unwrap());
    }
    times.sort();
    times
}

#[tokio::test(start_paused = true)]
async fn n_messages_per_window_never_n_plus_one() {
    let times = accepted_at(4, 7, 1, |mailer| {
        mailer.message_rate(Rate::new(3, 10 * SEC))
    })
    .await;
    assert_eq!(times, [0, 0, 0, 10, 10, 10, 20].map(Duration::from_secs));
}

#[tokio::test(start_paused = true)]
async fn recipients_are_limited_by_the_recipient() {
    let times = accepted_at(2, 4, 2, |mailer| mailer.recipient_rate(Rate::per_minute(5))).await;
    assert_eq!(times, [0, 0, 60, 60].map(Duration::from_secs));
}
