//! The mailer's retries against scripted servers, on tokio's paused clock: which failures are
//! retried, for which recipients, after which delays, and never a recipient twice.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod pool_support;

use pool_support::*;
use smtpwire::pool::RetryPolicy;
use smtpwire::{Delivery, Error, ErrorKind, Phase};
use smtpwire::{Report, Status};
use std::time::Duration;

/// MAIL accepted, the one RCPT deferred, DATA refused for want of recipients, RSET.
fn busy_round() -> Vec<&'static str> {
    vec![OK, "450 4.2.1 busy", "554 5.5.1 no valid recipients", OK]
}

/// Sends to one recipient over one connection that defers it every time (and is never checked
/// with NOOP, which it would not answer), making `attempts` attempts that wait as `policy`
/// says: the error the send ends in, and the events.
async fn deferred_every_time(attempts: u32, policy: RetryPolicy) -> (Error, Recorder) {
    let server = Scripted::new();
    server.then([open(), busy_round().repeat(attempts as usize)].concat());
    let (mailer, events) = observed(
        mailer(&server)
            .idle_check_after(Duration::from_secs(3600))
            .retry(policy.with_max_attempts(attempts)),
    );
    (send(&mailer, &["b@y.test"]).await.unwrap_err(), events)
}

fn statuses(outcome: &Report) -> Vec<Status> {
    outcome.recipients().iter().map(|r| r.status()).collect()
}

/// Sends to one recipient over a first connection that answers with `first` (greeting
/// included) and, when the session survives it, accepts a retry; a second connection accepts
/// too. Returns the attempts, the final status and how many copies of the data went out.
async fn first_connection(first: Vec<&'static str>) -> (u32, Status, usize) {
    let server = Scripted::new();
    server.then([first, deliver(1, "250 2.0.0 Ok: queued as B")].concat());
    server.then([open(), deliver(1, "250 2.0.0 Ok: queued as B")].concat());
    let mailer = mailer(&server).build();
    let outcome = match send(&mailer, &["b@y.test"]).await {
        Ok(outcome) => outcome,
        Err(error) => error.report().unwrap().clone(),
    };
    (
        outcome.attempts(),
        outcome.recipients()[0].status(),
        server.copies(),
    )
}

#[tokio::test(start_paused = true)]
async fn transient_replies_are_retried_permanent_ones_are_final() {
    const NO_RCPT: &str = "554 5.5.1 no valid recipients";
    let at_rcpt = |reply| [open(), vec![OK, reply, NO_RCPT, OK]].concat();
    let at_data_end = |reply| [open(), vec![OK, OK, GO, reply]].concat();
    let cases = [
        (vec!["421 4.3.2 busy"], 2, Status::Accepted, 1),
        (vec!["554 5.7.1 no service here"], 1, Status::NotSent, 0),
        (
            [open(), vec!["421 4.4.2 closing"]].concat(),
            2,
            Status::Accepted,
            1,
        ),
        (
            [
                open(),
                vec![
                    "553 5.7.1 not yours",
                    "503 5.5.1 no MAIL",
                    "503 5.5.1 no MAIL",
                ],
            ]
            .concat(),
            1,
            Status::Rejected,
            0,
        ),
        (at_rcpt("450 4.2.1 mailbox busy"), 2, Status::Accepted, 1),
        (at_rcpt("451 4.3.0 local error"), 2, Status::Accepted, 1),
        (at_rcpt("452 4.3.1 out of storage"), 2, Status::Accepted, 1),
        (at_rcpt("550 5.1.1 no such user"), 1, Status::Rejected, 0),
        (
            [open(), vec![OK, OK, "451 4.3.0 later", OK]].concat(),
            2,
            Status::Accepted,
            1,
        ),
        (at_data_end("451 4.7.1 greylisted"), 2, Status::Accepted, 2),
        (
            at_data_end("552 5.3.4 message too big"),
            1,
            Status::Rejected,
            1,
        ),
        (at_data_end("554 5.7.1 spam"), 1, Status::Rejected, 1),
    ];
    for (first, attempts, status, copies) in cases {
        let case = format!("{first:?}");
        assert_eq!(
            first_connection(first).await,
            (attempts, status, copies),
            "{case}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn backoff_doubles_and_stops_at_max_attempts() {
    let policy = RetryPolicy::default()
        .with_initial_delay(Duration::from_secs(1))
        .without_jitter();
    let (error, events) = deferred_every_time(4, policy).await;
    assert_eq!(error.report().unwrap().attempts(), 4);
    assert_eq!(statuses(error.report().unwrap()), [Status::Deferred]);
    assert_eq!(error.delivery(), Delivery::NotSent);
    let reply = error.report().unwrap().recipients()[0].reply().unwrap();
    assert_eq!(reply.code().get(), 450);
    let retries: Vec<String> = events.timed("retry").into_iter().map(|(_, e)| e).collect();
    assert_eq!(
        retries,
        [
            "retry 2 in 1s for 1",
            "retry 3 in 2s for 1",
            "retry 4 in 4s for 1"
        ]
    );
    // Each attempt starts exactly when its delay ends.
    assert_eq!(
        events.times("attempt failed"),
        [0, 1, 3, 7].map(Duration::from_secs),
        "the paused clock makes every delay exact"
    );
}

#[tokio::test(start_paused = true)]
async fn full_jitter_stays_within_each_ceiling() {
    let policy = RetryPolicy::default()
        .with_initial_delay(Duration::from_secs(2))
        .with_max_delay(Duration::from_secs(10))
        .with_jitter_seed(1);
    let (_, events) = deferred_every_time(6, policy).await;
    let starts = events.times("attempt failed");
    assert_eq!(starts.len(), 6);
    let ceilings = [2, 4, 8, 10, 10].map(Duration::from_secs);
    let mut distinct = std::collections::HashSet::new();
    for (gap, ceiling) in starts.windows(2).map(|w| w[1] - w[0]).zip(ceilings) {
        assert!(gap < ceiling, "a delay of {gap:?} is not below {ceiling:?}");
        distinct.insert(gap);
    }
    assert!(distinct.len() > 1, "jitter that never varies: {starts:?}");
}

#[tokio::test(start_paused = true)]
async fn no_retry_starts_after_max_elapsed() {
    let started = tokio::time::Instant::now();
    let policy = RetryPolicy::default()
        .with_initial_delay(Duration::from_secs(10))
        .with_max_elapsed(Duration::from_secs(60))
        .without_jitter();
    let (error, _) = deferred_every_time(10, policy).await;
    // Attempts at 0, 10 and 30 s; the next would start at 70 s.
    assert_eq!(error.report().unwrap().attempts(), 3);
    assert_eq!(started.elapsed(), Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn only_transiently_failed_recipients_are_retried() {
    let to = ["a@y.test", "b@y.test", "c@y.test", "d@y.test"];
    let server = Scripted::new();
    server.then(
        [
            open(),
            vec![
                OK,
                OK,
                "450 4.2.1 busy",
                "550 5.1.1 unknown",
                "451 4.3.0 later",
            ],
            vec![GO, "250 2.0.0 Ok: queued as FIRST"],
            deliver(2, "250 2.0.0 Ok: queued as SECOND"),
        ]
        .concat(),
    );
    let mailer = mailer(&server).build();
    let outcome = send(&mailer, &to).await.unwrap();
    assert!(!outcome.is_complete());
    assert_eq!(
        statuses(&outcome),
        [
            Status::Accepted,
            Status::Accepted,
            Status::Rejected,
            Status::Accepted
        ]
    );
    assert_eq!(outcome.queue_id().as_deref(), Some("SECOND"));
    let rcpts: Vec<String> = server
        .commands(0)
        .into_iter()
        .filter(|c| c.starts_with("RCPT"))
        .collect();
    assert_eq!(
        rcpts,
        [
            "RCPT TO:<a@y.test>",
            "RCPT TO:<b@y.test>",
            "RCPT TO:<c@y.test>",
            "RCPT TO:<d@y.test>",
            "RCPT TO:<b@y.test>",
            "RCPT TO:<d@y.test>",
        ],
        "a is never sent again, c never retried"
    );
}

#[tokio::test(start_paused = true)]
async fn every_recipient_refused_at_rcpt_retries_all_but_the_first_known_one() {
    let server = Scripted::new();
    server.then(
        [
            open(),
            // Both RCPTs refused, DATA too: the session resets the open transaction.
            vec![
                OK,
                "550 5.1.1 unknown",
                "450 4.2.1 busy",
                "554 5.5.1 no valid recipients",
                OK,
            ],
            deliver(1, "250 2.0.0 Ok: queued as LATER"),
        ]
        .concat(),
    );
    let mailer = mailer(&server).build();
    let outcome = send(&mailer, &["a@y.test", "b@y.test"]).await.unwrap();
    assert_eq!(statuses(&outcome), [Status::Rejected, Status::Accepted]);
    let commands = server.commands(0);
    assert!(commands.contains(&"RSET".to_owned()), "{commands:?}");
    assert_eq!(
        server.connections(),
        1,
        "a refused transaction leaves the session usable"
    );
}

#[tokio::test(start_paused = true)]
async fn connection_lost_after_the_dot_is_unknown_and_not_retried() {
    let server = replaced_after(vec![OK, OK, GO, CLOSE]);
    let (mailer, events) = observed(mailer(&server));
    let error = send(&mailer, &["b@y.test"]).await.unwrap_err();
    assert_eq!(error.delivery(), Delivery::Unknown);
    assert_eq!(statuses(error.report().unwrap()), [Status::Unknown]);
    assert_eq!(error.report().unwrap().attempts(), 1);
    assert_eq!(error.phase(), Phase::DataEnd);
    assert_eq!(
        server.connections(),
        1,
        "no second connection, no second copy"
    );
    assert_eq!(events.count("unknown 1"), 1);
}

#[tokio::test(start_paused = true)]
async fn unknown_delivery_is_retried_only_when_the_caller_opts_in() {
    let server = replaced_after(vec![OK, OK, GO, CLOSE]);
    let mailer = mailer(&server)
        .retry(
            RetryPolicy::default()
                .with_retry_delivery_unknown(true)
                .without_jitter(),
        )
        .build();
    let outcome = send(&mailer, &["b@y.test"]).await.unwrap();
    assert_eq!(statuses(&outcome), [Status::Accepted]);
    assert_eq!(outcome.attempts(), 2);
    assert_eq!(
        server.copies(),
        2,
        "the opt-in may deliver twice, as documented"
    );
}

#[tokio::test(start_paused = true)]
async fn connection_lost_before_the_dot_is_retried() {
    let server = Scripted::new();
    server.then([open(), vec![OK, OK, CLOSE]].concat());
    server.then([open(), vec![OK, OK, HANG]].concat());
    server.then([open(), deliver(1, OK)].concat());
    let config = config().map_session(|session| {
        let timeouts = session
            .timeouts()
            .with_data_initiation(Duration::from_secs(30));
        session.with_timeouts(timeouts)
    });
    let mailer = mailer_with(config, &server)
        .retry(RetryPolicy::default().without_jitter())
        .build();
    let started = tokio::time::Instant::now();
    let outcome = send(&mailer, &["b@y.test"]).await.unwrap();
    assert_eq!(outcome.attempts(), 3);
    // 1 s backoff, 30 s waiting for the 354, 2 s backoff.
    assert_eq!(started.elapsed(), Duration::from_secs(33));
    assert_eq!(server.copies(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_later_transaction_failing_keeps_the_earlier_acceptance_and_resends_only_the_rest() {
    // One recipient per transaction: the session sends the second in a further one. The
    // connection is lost before the second one's data: the first is known accepted (its
    // final reply came), the second certainly not delivered, and only it is sent again.
    let server = Scripted::new();
    server.then(
        [
            open(),
            deliver(1, "250 2.0.0 Ok: queued as ONE"),
            vec![OK, OK, CLOSE],
        ]
        .concat(),
    );
    server.then([open(), deliver(1, "250 2.0.0 Ok: queued as TWO")].concat());
    let config = config().map_session(|session| session.with_max_recipients(1));
    let mailer = mailer_with(config, &server).build();
    let report = send(&mailer, &["a@y.test", "b@y.test"]).await.unwrap();
    assert_eq!(statuses(&report), [Status::Accepted, Status::Accepted]);
    assert_eq!(report.attempts(), 2);
    let second = server.commands(1);
    assert!(
        !second.iter().any(|c| c.contains("a@y.test")),
        "a@ must not get a second copy: {second:?}"
    );
    assert!(second.iter().any(|c| c.contains("b@y.test")), "{second:?}");
}

#[tokio::test(start_paused = true)]
async fn invalid_input_is_not_retried() {
    let server = Scripted::new();
    server.then([open(), vec![OK, OK, GO, OK]].concat());
    let mailer = mailer(&server).build();
    let error = mailer
        .send(
            envelope("a@x.test", &["b@y.test"]),
            b"Subject: x\r\n\r\nnul \0 here\r\n",
        )
        .await
        .unwrap_err();
    assert_eq!(error.report().unwrap().attempts(), 1);
    assert!(matches!(error.kind(), ErrorKind::Input(_)), "{error}");
    assert_eq!(statuses(error.report().unwrap()), [Status::NotSent]);
}

#[tokio::test(start_paused = true)]
async fn connection_lost_in_the_middle_of_the_data_is_retried() {
    let server = replaced_after(vec![OK, OK, "354 go ahead<close>"]);
    let mailer = mailer(&server).build();
    // Larger than one write: the first chunk fails, the end of the data never left.
    let mut message = b"Subject: big\r\n\r\n".to_vec();
    for _ in 0..10_000 {
        message.extend_from_slice(b"0123456789012345678901234567890123456789\r\n");
    }
    let outcome = mailer
        .send(envelope("a@x.test", &["b@y.test"]), &message)
        .await
        .unwrap();
    assert_eq!(outcome.attempts(), 2);
    assert_eq!(server.connections(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_temporary_auth_failure_is_retried_a_refused_password_is_not() {
    let config = config_with_password("u", "wvkfmhzqjdpxnbta");
    let auth_then = |reply: &'static str| vec![GREETING, EHLO_AUTH, reply];

    let server = Scripted::new();
    server.then(auth_then("454 4.7.0 temporary authentication failure"));
    server.then([auth_then("235 2.7.0 ok"), deliver(1, OK)].concat());
    let mailer = mailer_with(config.clone(), &server).build();
    let outcome = send(&mailer, &["b@y.test"]).await.unwrap();
    assert_eq!(outcome.attempts(), 2);

    let server = Scripted::new();
    server.then(auth_then("535 5.7.8 authentication failed"));
    server.then([auth_then("235 2.7.0 ok"), deliver(1, OK)].concat());
    let mailer = mailer_with(config, &server).build();
    let error = send(&mailer, &["b@y.test"]).await.unwrap_err();
    assert_eq!(error.report().unwrap().attempts(), 1);
    assert_eq!(server.connections(), 1);
    let text = format!("{error} {error:?}");
    assert!(!text.contains("wvkfmhzqjdpxnbta"), "{text}");
}
