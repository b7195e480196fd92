//! The pooled mailer against the real Postfix of `scripts/test-servers.sh`: STARTTLS, implicit
//! TLS and AUTH on pooled connections, per-recipient results, and a refused password tried
//! only once. Messages are read back from the Maildir.
//!
//! Without the servers these tests are skipped with a message, except under `CI=true`, where
//! they fail.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod pool_support;

use pool_support::support::server_config;
use pool_support::support::servers::{self, servers};
use pool_support::{envelope, Recorder};
use smtpwire::auth::Credentials;
use smtpwire::pool::{Mailer, Metrics, RetryPolicy};
use smtpwire::session::TlsPolicy;
use smtpwire::{ErrorKind, Status};
use std::path::Path;
use std::time::{Duration, SystemTime};

fn token(name: &str) -> String {
    servers::token(&format!("pool-{name}-"))
}

fn message(token: &str) -> Vec<u8> {
    format!(
        "From: <tester@smtpwire.test>\r\nTo: <someone@smtpwire.test>\r\nSubject: {token}\r\n\r\n{token}\r\n"
    )
    .into_bytes()
}

/// How many files delivered to the Maildir since `since` contain each token, once each is
/// there at least once (or waiting longer makes no sense).
async fn copies(maildir: &Path, since: SystemTime, tokens: &[String]) -> Vec<usize> {
    for _ in 0..100 {
        if copies_now(maildir, since, tokens).iter().all(|&n| n > 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Linger a little: a duplicate would arrive about now.
    tokio::time::sleep(Duration::from_millis(300)).await;
    copies_now(maildir, since, tokens)
}

fn copies_now(maildir: &Path, since: SystemTime, tokens: &[String]) -> Vec<usize> {
    let mut counts = vec![0; tokens.len()];
    let files = ["new", "cur"]
        .iter()
        .filter_map(|sub| std::fs::read_dir(maildir.join(sub)).ok())
        .flat_map(|entries| entries.flatten())
        .filter(|file| {
            let modified = file.metadata().and_then(|m| m.modified());
            modified.is_ok_and(|modified| modified >= since)
        });
    for file in files {
        let bytes = std::fs::read(file.path()).unwrap_or_default();
        for (token, count) in tokens.iter().zip(&mut counts) {
            if bytes.windows(token.len()).any(|w| w == token.as_bytes()) {
                *count += 1;
            }
        }
    }
    counts
}

#[tokio::test]
async fn pooled_starttls_and_auth_sessions_deliver_each_message_once() {
    let Some(servers) = servers() else { return };
    let started = SystemTime::now() - Duration::from_secs(1);
    let config = server_config(&servers, &servers.submission, TlsPolicy::StartTlsRequired);
    let events = Recorder::new();
    let metrics = Metrics::new();
    let mailer = Mailer::builder(config)
        .max_connections(3)
        .observer(events.clone())
        .observer(metrics.clone())
        .build();
    let run = token("starttls");
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let mailer = mailer.clone();
            let token = format!("{run}-{i}-end");
            tokio::spawn(async move {
                let envelope = envelope("tester@smtpwire.test", &["someone@smtpwire.test"]);
                let outcome = mailer.send(envelope, &message(&token)).await.unwrap();
                (token, outcome)
            })
        })
        .collect();
    let mut sent = Vec::new();
    for task in tasks {
        sent.push(task.await.unwrap());
    }
    mailer.close().await;
    for (_, outcome) in &sent {
        assert!(outcome.is_complete());
        assert!(
            outcome.queue_id().is_some(),
            "{:?}",
            outcome.final_replies()
        );
    }
    let tokens: Vec<String> = sent.into_iter().map(|(token, _)| token).collect();
    assert_eq!(
        copies(&servers.maildir, started, &tokens).await,
        vec![1; 24]
    );
    let snapshot = metrics.snapshot();
    assert!((1..=3).contains(&snapshot.connections), "{snapshot:?}");
    assert_eq!(snapshot.sent, 24);
    let connected = events.count("connected") as u64;
    assert_eq!(events.count("tls TLSv1_3") as u64, connected);
    assert_eq!(events.count("authenticated") as u64, connected);
    // Every new connection's handshake and AUTH are timed separately from the whole opening.
    assert_eq!(snapshot.tls.count(), snapshot.connections, "{snapshot:?}");
    assert_eq!(snapshot.auth.count(), snapshot.connections, "{snapshot:?}");
    assert!(snapshot.tls.max() <= snapshot.connect.max(), "{snapshot:?}");
}

#[tokio::test]
async fn a_refused_password_is_tried_once() {
    let Some(servers) = servers() else { return };
    let wrong = Credentials::new(&servers.user, "notthepassword");
    let config = server_config(&servers, &servers.smtps, TlsPolicy::Implicit)
        .map_session(|session| session.with_credentials(wrong));
    let events = Recorder::new();
    let mailer = Mailer::builder(config).observer(events.clone()).build();
    let send = || {
        mailer.send(
            envelope("tester@smtpwire.test", &["someone@smtpwire.test"]),
            b"Subject: x\r\n\r\nx\r\n",
        )
    };
    let first = send().await.unwrap_err();
    assert_eq!(first.reply().map(|r| r.code().get()), Some(535), "{first}");
    assert_eq!(first.report().unwrap().attempts(), 1);
    let second = send().await.unwrap_err();
    assert!(
        matches!(second.kind(), ErrorKind::CircuitOpen { .. }),
        "{second}"
    );
    assert_eq!(events.count("connect failed"), 1);
    assert_eq!(events.count("breaker opened after 1"), 1);
}

#[tokio::test]
async fn recipients_are_accepted_refused_and_deferred_one_by_one() {
    let Some(servers) = servers() else { return };
    let started = SystemTime::now() - Duration::from_secs(1);
    let config = server_config(&servers, &servers.plain, TlsPolicy::Plaintext);
    let mailer = Mailer::builder(config)
        .retry(
            RetryPolicy::default()
                .with_max_attempts(3)
                .with_initial_delay(Duration::from_millis(20)),
        )
        .build();
    let token = token("recipients");
    let to = [
        "someone@smtpwire.test",
        "rejected@smtpwire.test",
        "deferred@smtpwire.test",
    ];
    let outcome = mailer
        .send(envelope("tester@smtpwire.test", &to), &message(&token))
        .await
        .unwrap();
    mailer.close().await;
    let statuses: Vec<(Status, u16)> = outcome
        .recipients()
        .iter()
        .map(|r| (r.status(), r.reply().unwrap().code().get()))
        .collect();
    assert_eq!(
        statuses,
        [
            (Status::Accepted, 250),
            (Status::Rejected, 550),
            (Status::Deferred, 450)
        ]
    );
    assert_eq!(outcome.attempts(), 3, "deferred@ was tried three times");
    assert_eq!(
        copies(&servers.maildir, started, &[token]).await,
        [1],
        "someone@ got the message once, retries notwithstanding"
    );
}
