//! The mailer's connections against scripted servers, on tokio's paused clock: reuse, idle
//! checks and timeouts, replacement after 421, the connection limit, closing, and sends
//! dropped halfway.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod pool_support;

use pool_support::*;
use smtpwire::pool::{Mailer, Rate};
use smtpwire::{ErrorKind, Status};
use std::time::Duration;
use tokio::time::sleep;

#[tokio::test(start_paused = true)]
async fn a_connection_is_reused_without_reset_or_noop() {
    let server = Scripted::new();
    server.then([open(), deliver(1, OK), deliver(1, OK), deliver(2, OK)].concat());
    let mailer = mailer(&server).build();
    for to in [&["b@y.test"][..], &["c@y.test"], &["d@y.test", "e@y.test"]] {
        send(&mailer, to).await.unwrap();
        sleep(5 * SEC).await;
    }
    assert_eq!(server.connections(), 1);
    let commands = server.commands(0);
    assert!(
        !commands.iter().any(|c| c == "RSET" || c == "NOOP"),
        "{commands:?}"
    );
    assert_eq!(commands.iter().filter(|c| *c == "<data>").count(), 3);
}

#[tokio::test(start_paused = true)]
async fn noop_only_after_the_idle_threshold() {
    let server = Scripted::new();
    server.then(
        [
            open(),
            deliver(1, OK),
            deliver(1, OK),
            vec![OK], // NOOP
            deliver(1, OK),
        ]
        .concat(),
    );
    let mailer = mailer(&server).idle_check_after(10 * SEC).build();
    send(&mailer, &["b@y.test"]).await.unwrap();
    sleep(9 * SEC).await;
    send(&mailer, &["b@y.test"]).await.unwrap();
    sleep(11 * SEC).await;
    send(&mailer, &["b@y.test"]).await.unwrap();
    let commands = server.commands(0);
    let noops: Vec<usize> = commands
        .iter()
        .enumerate()
        .filter(|(_, c)| *c == "NOOP")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(noops.len(), 1, "{commands:?}");
    assert!(commands[noops[0] + 1].starts_with("MAIL"), "{commands:?}");
}

/// Two sends, `pause` apart, with one connection at a time, over a first connection that
/// ends with `end` after the first message: the second send's attempts, the connections
/// opened, and the events.
async fn send_twice_across(end: &'static str, pause: Duration) -> (u32, usize, Recorder) {
    let server = replaced_after([deliver(1, OK), vec![end]].concat());
    let (mailer, events) = observed(mailer(&server).max_connections(1));
    send(&mailer, &["b@y.test"]).await.unwrap();
    sleep(pause).await;
    let outcome = send(&mailer, &["b@y.test"]).await.unwrap();
    (outcome.attempts(), server.connections(), events)
}

#[tokio::test(start_paused = true)]
async fn a_connection_that_fails_its_check_is_replaced_without_costing_an_attempt() {
    let (attempts, connections, events) = send_twice_across(CLOSE, 30 * SEC).await;
    assert_eq!(attempts, 1);
    assert_eq!(connections, 2);
    assert_eq!(events.count("closed: failed the idle check"), 1);
}

#[tokio::test(start_paused = true)]
async fn idle_connections_are_closed_with_quit_after_the_timeout() {
    let server = Scripted::new();
    server.then([open(), deliver(1, OK)].concat());
    let (mailer, events) = observed(mailer(&server).idle_timeout(60 * SEC));
    send(&mailer, &["b@y.test"]).await.unwrap();
    sleep(59 * SEC).await;
    assert!(!server.commands(0).contains(&"QUIT".to_owned()));
    sleep(30 * SEC).await;
    assert_eq!(server.commands(0).last().map(String::as_str), Some("QUIT"));
    assert_eq!(events.count("closed: idle timeout"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_421_replaces_the_connection() {
    let (attempts, connections, events) =
        send_twice_across("421 4.4.2 mx.test closing", Duration::ZERO).await;
    assert_eq!(attempts, 2);
    assert_eq!(connections, 2);
    assert_eq!(events.count("closed: no longer usable"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_send_dropped_halfway_does_not_return_its_connection() {
    let server = replaced_after(vec![OK, OK, GO, HANG]);
    let (mailer, events) = observed(mailer(&server));
    let dropped = tokio::time::timeout(5 * SEC, send(&mailer, &["b@y.test"])).await;
    assert!(dropped.is_err(), "the server never answers the dot");
    assert_eq!(events.count("closed: send interrupted"), 1);
    send(&mailer, &["c@y.test"]).await.unwrap();
    assert_eq!(
        server.connections(),
        2,
        "the interrupted session was not reused"
    );
}

#[tokio::test(start_paused = true)]
async fn a_send_dropped_while_waiting_for_the_rate_keeps_the_connection() {
    let server = Scripted::new();
    server.then([open(), deliver(1, OK), vec![OK], deliver(1, OK)].concat());
    let mailer = mailer(&server).message_rate(Rate::per_minute(1)).build();
    send(&mailer, &["b@y.test"]).await.unwrap();
    let dropped = tokio::time::timeout(5 * SEC, send(&mailer, &["c@y.test"])).await;
    assert!(dropped.is_err(), "the rate allows one a minute");
    let started = tokio::time::Instant::now();
    send(&mailer, &["d@y.test"]).await.unwrap();
    assert_eq!(
        started.elapsed(),
        55 * SEC,
        "the dropped send took no token"
    );
    assert_eq!(server.connections(), 1);
    let commands = server.commands(0);
    assert!(commands.contains(&"NOOP".to_owned()), "held 55 s: checked");
}

#[tokio::test(start_paused = true)]
async fn at_most_n_connections_serve_many_tasks() {
    let server = Scripted::new();
    for _ in 0..3 {
        server.then([open(), deliver(1, OK).repeat(12)].concat());
    }
    let mailer = mailer(&server).max_connections(2).build();
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let mailer = mailer.clone();
            tokio::spawn(async move {
                let to = format!("r{i}@y.test");
                send(&mailer, &[to.as_str()]).await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(server.connections(), 2);
    let copies = server.copies();
    assert_eq!(copies, 12);
}

#[tokio::test(start_paused = true)]
async fn close_says_quit_and_refuses_later_sends() {
    let server = Scripted::new();
    server.then([open(), deliver(1, OK)].concat());
    let mailer = mailer(&server).build();
    send(&mailer, &["b@y.test"]).await.unwrap();
    mailer.close().await;
    assert_eq!(server.commands(0).last().map(String::as_str), Some("QUIT"));
    let error = send(&mailer, &["b@y.test"]).await.unwrap_err();
    assert!(matches!(error.kind(), ErrorKind::MailerClosed), "{error}");
    assert_eq!(
        error.report().unwrap().recipients()[0].status(),
        Status::NotSent
    );
    assert_eq!(server.connections(), 1);
}

#[test]
fn the_mailer_is_shared_across_threads() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<Mailer>();
    shareable::<Mailer<InMemory<Scripted>>>();
}
