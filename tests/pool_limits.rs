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
use smtpwire::auth::Credentials;
use smtpwire::pool::{BreakerPolicy, Mailer, Rate, RetryPolicy};
use smtpwire::session::{SessionConfig, TlsPolicy};
use smtpwire::ErrorKind;
use std::time::Duration;
use tokio::time::{sleep, Instant};

const SEC: Duration = Duration::from_secs(1);

fn single_attempt(server: &Scripted, events: &Recorder) -> Mailer<Scripted> {
    mailer(server)
        .retry(RetryPolicy::never())
        .breaker(BreakerPolicy::new(2, 30 * SEC))
        .observer(events.clone())
        .build()
}

#[tokio::test(start_paused = true)]
async fn the_breaker_opens_fails_fast_then_lets_one_probe_through() {
    let server = Scripted::new();
    server.refuse().refuse();
    server.then([open(), deliver(1, OK)].concat());
    let events = Recorder::new();
    let mailer = single_attempt(&server, &events);
    for _ in 0..2 {
        mailer
            .send(envelope(&["b@y.test"]), MESSAGE)
            .await
            .unwrap_err();
    }
    let error = mailer
        .send(envelope(&["b@y.test"]), MESSAGE)
        .await
        .unwrap_err();
    let ErrorKind::CircuitOpen { retry_after } = error.kind() else {
        panic!("{error}")
    };
    assert_eq!(*retry_after, 30 * SEC);
    assert_eq!(server.connections(), 2, "failing fast opens no connection");

    sleep(30 * SEC).await;
    mailer.send(envelope(&["b@y.test"]), MESSAGE).await.unwrap();
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
    let events = Recorder::new();
    let mailer = single_attempt(&server, &events);
    for _ in 0..2 {
        mailer
            .send(envelope(&["b@y.test"]), MESSAGE)
            .await
            .unwrap_err();
    }
    sleep(30 * SEC).await;
    mailer
        .send(envelope(&["b@y.test"]), MESSAGE)
        .await
        .unwrap_err();
    let error = mailer
        .send(envelope(&["b@y.test"]), MESSAGE)
        .await
        .unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::CircuitOpen { .. }),
        "{error}"
    );
    assert_eq!(events.count("breaker opened"), 2);
    assert_eq!(server.connections(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_refused_password_opens_the_breaker_at_once() {
    let mut config = config();
    config.session = SessionConfig::new(TlsPolicy::Plaintext)
        .with_credentials(Credentials::new("u", "wvkfmhzqjdpxnbta"))
        .dangerous_allow_plaintext_auth();
    let server = Scripted::new();
    server.then(vec![GREETING, EHLO_AUTH, "535 5.7.8 authentication failed"]);
    let events = Recorder::new();
    let mailer = Mailer::builder(config)
        .connector(server.clone())
        .observer(events.clone())
        .build();
    mailer
        .send(envelope(&["b@y.test"]), MESSAGE)
        .await
        .unwrap_err();
    assert_eq!(events.count("breaker opened after 1"), 1);
    let error = mailer
        .send(envelope(&["b@y.test"]), MESSAGE)
        .await
        .unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::CircuitOpen { .. }),
        "{error}"
    );
    assert_eq!(server.connections(), 1, "the password was tried once");
}

/// When each of `sends` messages was accepted, sent at once from as many tasks.
async fn accepted_at(mailer: Mailer<Scripted>, sends: usize, recipients: usize) -> Vec<Duration> {
    let start = Instant::now();
    let tasks: Vec<_> = (0..sends)
        .map(|i| {
            let mailer = mailer.clone();
            tokio::spawn(async move {
                let to: Vec<String> = (0..recipients)
                    .map(|r| format!("r{i}x{r}@y.test"))
                    .collect();
                let to: Vec<&str> = to.iter().map(String::as_str).collect();
                mailer.send(envelope(&to), MESSAGE).await.unwrap();
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

fn servers_for(connections: usize, messages: usize, recipients: usize) -> Scripted {
    let server = Scripted::new();
    for _ in 0..connections {
        server.then([open(), deliver(recipients, OK).repeat(messages)].concat());
    }
    server
}

#[tokio::test(start_paused = true)]
async fn n_messages_per_window_never_n_plus_one() {
    let server = servers_for(4, 7, 1);
    let mailer = mailer(&server)
        .max_connections(4)
        .idle_check_after(Duration::from_secs(3600))
        .message_rate(Rate::new(3, 10 * SEC))
        .build();
    let times = accepted_at(mailer, 7, 1).await;
    assert_eq!(times, [0, 0, 0, 10, 10, 10, 20].map(Duration::from_secs));
}

#[tokio::test(start_paused = true)]
async fn recipients_are_limited_by_the_recipient() {
    let server = servers_for(2, 4, 2);
    let mailer = mailer(&server)
        .max_connections(2)
        .idle_check_after(Duration::from_secs(3600))
        .recipient_rate(Rate::per_minute(5))
        .build();
    let times = accepted_at(mailer, 4, 2).await;
    assert_eq!(times, [0, 0, 60, 60].map(Duration::from_secs));
}
