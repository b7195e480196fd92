//! What the mailer reports: the metrics collector's numbers after a known run, and events
//! that never carry a secret.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod pool_support;

use pool_support::*;
use smtpwire::pool::{Event, Metrics};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What AUTH PLAIN sends for `user` and `password`.
fn base64_plain(user: &str, password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"))
}

#[tokio::test(start_paused = true)]
async fn metrics_count_what_happened() {
    let server = Scripted::new();
    server.then(
        [
            open(),
            // Accepted, with a queue id.
            deliver(1, "250 2.0.0 Ok: queued as ONE"),
            // Refused for good.
            vec![OK, "550 5.1.1 unknown", "554 5.5.1 no valid recipients", OK],
            // Deferred, then accepted on the retry.
            vec![OK, "450 4.2.1 busy", "554 5.5.1 no valid recipients", OK],
            deliver(1, OK),
            // Lost after the dot.
            vec![OK, OK, GO, CLOSE],
        ]
        .concat(),
    );
    let metrics = Metrics::new();
    let mailer = mailer(&server).observer(metrics.clone()).build();
    for to in ["a@y.test", "b@y.test", "c@y.test", "d@y.test"] {
        let _ = send(&mailer, &[to]).await;
    }
    let snapshot = metrics.snapshot();
    assert_eq!(
        (
            snapshot.sent,
            snapshot.failed,
            snapshot.unknown,
            snapshot.retried
        ),
        (2, 1, 1, 1)
    );
    assert_eq!(
        (snapshot.recipients_accepted, snapshot.recipients_rejected),
        (2, 1)
    );
    assert_eq!((snapshot.connections, snapshot.connect_failures), (1, 0));
    assert_eq!(snapshot.connect.count(), 1);
    assert_eq!(snapshot.transaction.count(), 5, "one per attempt");
    assert_eq!(snapshot.send.count(), 4, "one per send");
    // The retry waited 1 s on the paused clock; nothing else took any time.
    assert_eq!(snapshot.send.max(), Duration::from_secs(1));
    assert_eq!(
        snapshot.send.quantile(0.75),
        Some(Duration::from_micros(100)),
        "the first bucket's bound"
    );
}

#[tokio::test(start_paused = true)]
async fn no_event_shows_the_password() {
    const PASSWORD: &str = "wvkfmhzqjdpxnbta";
    let config = config_with_password("user@x.test", PASSWORD);
    let server = Scripted::new();
    server.then(vec![GREETING, EHLO_AUTH, "454 4.7.0 try again"]);
    server.then([vec![GREETING, EHLO_AUTH, "235 2.7.0 ok"], deliver(1, OK)].concat());
    let seen = Arc::new(Mutex::new(String::new()));
    let log = seen.clone();
    let mailer = mailer_with(config, &server)
        .observer(move |event: &Event<'_>| {
            log.lock().unwrap().push_str(&format!("{event:?}\n"));
        })
        .build();
    send(&mailer, &["b@y.test"]).await.unwrap();
    let seen = seen.lock().unwrap();
    assert!(seen.contains("Authenticated"), "{seen}");
    for secret in [PASSWORD.to_owned(), base64_plain("user@x.test", PASSWORD)] {
        assert!(!seen.contains(&secret), "{seen}");
    }
    assert!(
        server.commands(1)[1].starts_with("AUTH PLAIN"),
        "the password did go to the server"
    );
}
