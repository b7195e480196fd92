//! The outbox under faults: three worker processes drain one table while one is SIGKILLed
//! and restarted, one has its database connection cut (`pg_terminate_backend`) again and
//! again, and one sends through a proxy that resets its SMTP connections at random. All share
//! one rate limit through the database.
//!
//! Messages are counted by Message-ID where they arrive: every message the table marks
//! accepted arrived exactly once, every one it marks unknown at most once, nothing else
//! arrived, nothing is left `sending` once the leases expire, no window of one second holds
//! more grants of the shared limit than it allows, and every message that arrived took a
//! grant before its MAIL command reached the server.
//!
//! 10,000 messages to a counting sink (SMTPWIRE_OUTBOX_FAULT_MESSAGES changes the number);
//! 400 to the private Postfix of scripts/test-servers.sh, counted in its Maildir.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "fixtures/common.rs"]
mod common;
#[path = "../../examples/support/fault_proxy.rs"]
mod fault_proxy;
mod outbox_support;

use fault_proxy::{FaultProxy, Faults};
use outbox_support::{postfix_and_db, smtpwire, Sink, TestDb};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

/// What one run of the scenario left behind.
struct Run {
    states: HashMap<String, String>,
    elapsed: Duration,
    resets: u64,
    reconnections: u64,
    backends_cut: u64,
}

fn start_worker(
    db: &TestDb,
    name: &str,
    server: SocketAddr,
    rate: &str,
    logs: &Path,
) -> tokio::process::Child {
    let log = |suffix: &str| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(logs.join(format!("{name}.{suffix}")))
            .unwrap()
    };
    smtpwire()
        .args([
            "outbox",
            "run",
            "--database",
            &db.url_as(&format!("outbox-{name}")),
        ])
        .args([
            "--server",
            &server.to_string(),
            "--tls",
            "none",
            "--insecure-plaintext",
        ])
        .args([
            "--name",
            name,
            "--shared-rate",
            rate,
            "--rate-key",
            "faults",
        ])
        .args(["--lease", "4", "--poll", "0.5", "--retry-delay", "0.2"])
        .args(["--max-retry-delay", "1", "--max-attempts", "1000"])
        .args(["--concurrency", "4", "--batch", "32", "--quiet"])
        .stdout(Stdio::from(log("out")))
        .stderr(Stdio::from(log("err")))
        .spawn()
        .unwrap()
}

async fn accepted(db: &TestDb) -> i64 {
    db.states().await.get("accepted").copied().unwrap_or(0)
}

async fn wait_accepted(db: &TestDb, at_least: i64) {
    let deadline = Instant::now() + Duration::from_secs(240);
    while accepted(db).await < at_least {
        assert!(Instant::now() < deadline, "stuck below {at_least} accepted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Three workers, the faults, until nothing is open; then SIGTERM and exit 0 for each.
async fn scenario(db: &TestDb, server: SocketAddr, total: i64, rate: &str) -> Run {
    let started = Instant::now();
    let logs = tempfile::tempdir().unwrap();
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let faults = Faults {
        reset: 0.02,
        ..Faults::none()
    };
    let proxy = FaultProxy::start(server, faults, seed).await.unwrap();
    eprintln!("fault proxy seed {seed}");

    let w1 = start_worker(db, "w1", server, rate, logs.path());
    let w2 = start_worker(db, "w2", server, rate, logs.path());
    let w3 = start_worker(db, "w3", proxy.addr, rate, logs.path());

    // w1 dies without a word a quarter of the way, and comes back.
    wait_accepted(db, total / 4).await;
    let mut w1 = w1;
    w1.start_kill().unwrap();
    let _ = w1.wait().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let w1b = start_worker(db, "w1b", server, rate, logs.path());

    // w2's database connection is cut three times.
    let mut backends_cut = 0;
    for share in [35, 50, 65] {
        wait_accepted(db, total * share / 100).await;
        // w2 may be between connections (reconnecting after the last cut): wait for one.
        let mut cut: i64 = 0;
        for _ in 0..100 {
            cut = db
                .value(
                    "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                     WHERE application_name = 'outbox-w2' AND datname = current_database()) AS t",
                )
                .await;
            if cut >= 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(cut >= 1, "w2 had no database connection to cut within 10 s");
        backends_cut += cut as u64;
    }

    let states = db.settled(Duration::from_secs(300)).await;
    let elapsed = started.elapsed();
    let mut reconnections = 0;
    for (name, child) in [("w1b", w1b), ("w2", w2), ("w3", w3)] {
        outbox_support::signal(&child, "TERM");
        let status = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        let out = std::fs::read_to_string(logs.path().join(format!("{name}.out"))).unwrap();
        let err = std::fs::read_to_string(logs.path().join(format!("{name}.err"))).unwrap();
        assert_eq!(status.status.code(), Some(0), "{name}:\n{out}\n{err}");
        eprintln!("{name}: {}", out.lines().last().unwrap_or_default());
        if name == "w2" {
            reconnections = out
                .split(" errors, ")
                .nth(1)
                .and_then(|rest| rest.split(' ').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
        }
    }
    assert_eq!(
        states.get("sending").copied().unwrap_or(0)
            + states.get("queued").copied().unwrap_or(0)
            + states.get("deferred").copied().unwrap_or(0),
        0,
        "left open: {states:?}"
    );
    Run {
        states: db.state_of_each().await,
        elapsed,
        resets: proxy.injected.resets.load(Ordering::Relaxed),
        reconnections,
        backends_cut,
    }
}

/// The checks on the table against what arrived; returns (unknown, unknown that arrived).
async fn check(
    db: &TestDb,
    run: &Run,
    arrived: &HashMap<String, usize>,
    domain: &str,
) -> (usize, usize) {
    let mut unknown = 0;
    let mut unknown_arrived = 0;
    for (key, state) in &run.states {
        let count = arrived
            .get(&format!("{key}@{domain}").to_ascii_lowercase())
            .copied()
            .unwrap_or(0);
        match state.as_str() {
            "accepted" => assert_eq!(count, 1, "{key} is accepted and arrived {count} times"),
            "unknown" => {
                assert!(count <= 1, "{key} is unknown and arrived {count} times");
                unknown += 1;
                unknown_arrived += count;
            }
            other => panic!("{key} ended {other}"),
        }
    }
    let known = arrived.keys().all(|id| {
        id.strip_suffix(&format!("@{domain}"))
            .is_some_and(|key| run.states.keys().any(|k| k.eq_ignore_ascii_case(key)))
    });
    assert!(known, "a message arrived that the table does not hold");

    // Each worker took part: w1 before its death, w1b after, w2 after its last cut, w3.
    let by_worker: HashMap<String, i64> = db
        .client
        .query(
            "SELECT split_part(lease_owner, ':', 1), count(*) FROM smtpwire.outbox
             WHERE state = 'accepted' GROUP BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    for name in ["w1", "w1b", "w2", "w3"] {
        assert!(
            by_worker.get(name).copied().unwrap_or(0) > 0,
            "{name} sent nothing: {by_worker:?}"
        );
    }
    eprintln!("accepted per worker: {by_worker:?}");
    (unknown, unknown_arrived)
}

/// No window of `per` holds more than `limit` grants of the shared limit.
async fn max_grants_per_window(db: &TestDb, per_seconds: f64) -> i64 {
    db.client
        .query_one(
            "SELECT coalesce(max(n), 0) FROM (
                 SELECT count(*) OVER (ORDER BY granted_at
                     RANGE BETWEEN CURRENT ROW AND make_interval(secs => $1) - interval '1 microsecond'
                     FOLLOWING) AS n
                 FROM smtpwire.rate_grants WHERE bucket = 'faults') AS w",
            &[&per_seconds],
        )
        .await
        .unwrap()
        .get(0)
}

fn epoch(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_ten_thousand_messages_and_faults_each_arrives_once() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let total: i32 = std::env::var("SMTPWIRE_OUTBOX_FAULT_MESSAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let limit = 250;
    let sink = Sink::start(Duration::ZERO).await;
    db.insert_raw("f", total, "someone@smtpwire.test").await;
    let run = scenario(&db, sink.addr, i64::from(total), &format!("{limit}/s")).await;
    let arrived = sink.counts();
    let (unknown, unknown_arrived) = check(&db, &run, &arrived, "outbox.test").await;

    let max_window = max_grants_per_window(&db, 1.0).await;
    assert!(
        max_window <= limit,
        "{max_window} grants in one second; the limit is {limit}"
    );
    assert!(
        max_window > limit / 2,
        "the limit was never approached: {max_window}"
    );
    // Every message that arrived had taken a grant before its MAIL reached the sink.
    let mut grants: HashMap<String, Vec<f64>> = HashMap::new();
    for row in db
        .client
        .query(
            "SELECT message_id, extract(epoch FROM granted_at)::float8 FROM smtpwire.rate_grants
             WHERE bucket = 'faults'",
            &[],
        )
        .await
        .unwrap()
    {
        grants.entry(row.get(0)).or_default().push(row.get(1));
    }
    let arrivals = sink.arrivals();
    for arrival in &arrivals {
        let key = arrival.message_id.trim_end_matches("@outbox.test");
        let mail_at = epoch(arrival.mail_at);
        assert!(
            grants
                .get(key)
                .is_some_and(|g| g.iter().any(|&t| t <= mail_at)),
            "{key} reached the server without a grant before it"
        );
    }
    // For information: what the server saw per second (delays may bunch grants up a little).
    let mut times: Vec<f64> = arrivals.iter().map(|a| epoch(a.mail_at)).collect();
    times.sort_by(f64::total_cmp);
    let mut at_sink = 0;
    let mut start = 0;
    for (end, &t) in times.iter().enumerate() {
        while times.get(start).is_some_and(|&s| s <= t - 1.0) {
            start += 1;
        }
        at_sink = at_sink.max(end + 1 - start);
    }
    assert!(run.resets > 0, "the proxy reset nothing");
    assert!(run.reconnections >= 1, "w2 never reconnected");
    eprintln!(
        "faults: {total} messages, 3 workers (w1 SIGKILLed and restarted, w2's backend cut {} \
         times and reconnected {} times, w3 through {} resets) in {:.1}s; {} arrived once, \
         0 twice; {unknown} unknown ({unknown_arrived} of them arrived); \
         shared limit {limit}/s: at most {max_window} grants in any second, {at_sink} MAIL \
         commands at the server in its busiest second",
        run.backends_cut,
        run.reconnections,
        run.resets,
        run.elapsed.as_secs_f64(),
        arrived.len(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_and_faults_against_postfix_each_arrives_once() {
    let Some((servers, db)) = postfix_and_db().await else {
        return;
    };
    let token = common::token();
    let total = 400;
    db.insert_json(&token, total, "tester@smtpwire.test").await;
    let server: SocketAddr = servers.plain.parse().unwrap();
    let run = scenario(&db, server, total as i64, "100/s").await;
    let accepted = run.states.values().filter(|s| *s == "accepted").count();
    let in_maildir = outbox_support::maildir_counts(&servers.maildir, &token, accepted).await;
    let arrived: HashMap<String, usize> = in_maildir
        .into_iter()
        .map(|(key, n)| (format!("{key}@smtpwire.test"), n))
        .collect();
    let (unknown, unknown_arrived) = check(&db, &run, &arrived, "smtpwire.test").await;
    assert!(max_grants_per_window(&db, 1.0).await <= 100);
    eprintln!(
        "faults against Postfix: {total} messages in {:.1}s; {accepted} accepted, each once in \
         the Maildir; {unknown} unknown ({unknown_arrived} arrived); {} resets, {} reconnections",
        run.elapsed.as_secs_f64(),
        run.resets,
        run.reconnections
    );
}
