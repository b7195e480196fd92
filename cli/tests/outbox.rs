//! `smtpwire outbox` end to end against a real PostgreSQL (scripts/test-postgres.sh): the
//! schema is versioned, an application's rolled-back transaction sends nothing, a lease that
//! expired means unknown and no resend without the operator, deferred rows come back and 5xx
//! rows stop, SIGTERM finishes what is in flight, inserts wake a worker through NOTIFY, and
//! the metrics endpoint speaks Prometheus. Most run against a counting SMTP sink; one against
//! the private Postfix of scripts/test-servers.sh. Each test has a database of its own.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "fixtures/common.rs"]
mod common;
mod outbox_support;

use common::assert_contains;
use outbox_support::{
    db_and_sink, finish, postfix_and_db, signal, smtpwire, text, until_empty, worker, Sink, TestDb,
};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

async fn outbox(args: &[&str], url: &str) -> (Option<i32>, String, String) {
    let output = smtpwire()
        .arg("outbox")
        .args(args)
        .args(["--database", url])
        .output()
        .await
        .unwrap();
    (
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr),
    )
}

#[tokio::test]
async fn init_is_idempotent_and_refuses_a_newer_schema() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let (code, stdout, stderr) = outbox(&["init"], &db.url).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("up to date (version 1)"), "{stdout}");
    let versions: Vec<i32> = db
        .client
        .query("SELECT version FROM smtpwire.schema_version", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, [1]);

    db.execute("INSERT INTO smtpwire.schema_version (version) VALUES (99)")
        .await;
    let (code, _, stderr) = outbox(&["init"], &db.url).await;
    assert_eq!(code, Some(78), "{stderr}");
    assert!(stderr.contains("version 99, newer"), "{stderr}");
    let (code, _, stderr) = outbox(&["status"], &db.url).await;
    assert_eq!(code, Some(78), "{stderr}");

    // A password in the URL is never repeated, whatever fails.
    let (code, stdout, stderr) =
        outbox(&["status"], "postgresql://smtpwire:hunter2pw@127.0.0.1:1/x").await;
    assert_eq!(code, Some(69), "{stderr}");
    assert!(
        !format!("{stdout}{stderr}").contains("hunter2pw"),
        "{stderr}"
    );

    // A database without the schema: run and status say to init first.
    let Some(db) = TestDb::create().await else {
        return;
    };
    db.execute("DROP SCHEMA smtpwire CASCADE").await;
    let (code, _, stderr) = outbox(&["status"], &db.url).await;
    assert_eq!(code, Some(78), "{stderr}");
    assert!(stderr.contains("outbox init"), "{stderr}");
}

#[tokio::test]
async fn a_rolled_back_transaction_sends_nothing_and_a_committed_one_sends_once() {
    let Some((mut db, sink)) = db_and_sink(Duration::ZERO).await else {
        return;
    };
    db.execute("CREATE TABLE orders (id bigint PRIMARY KEY, total numeric NOT NULL)")
        .await;
    // The application's own transaction: an order and its confirmation, then a failure.
    let mail = |id: i64| {
        serde_json::json!({
            "from": "shop@smtpwire.test",
            "to": "customer@smtpwire.test",
            "subject": format!("Order {id}"),
            "text": "Thank you!",
        })
    };
    for (id, commit) in [(1_i64, false), (2, true)] {
        let transaction = db.client.transaction().await.unwrap();
        transaction
            .execute("INSERT INTO orders (id, total) VALUES ($1, 9.90)", &[&id])
            .await
            .unwrap();
        transaction
            .execute(
                "INSERT INTO smtpwire.outbox (message_id, message) VALUES ($1, $2)",
                &[&format!("order-{id}"), &mail(id)],
            )
            .await
            .unwrap();
        if commit {
            transaction.commit().await.unwrap();
        } else {
            transaction.rollback().await.unwrap();
        }
    }
    let (code, stdout, stderr) = until_empty(&db, &sink).await;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 accepted"), "{stdout}");
    let counts = sink.counts();
    assert_eq!(counts.len(), 1, "{counts:?}");
    assert_eq!(counts.get("order-2@smtpwire.test"), Some(&1), "{counts:?}");
    let orders: i64 = db.value("SELECT count(*) FROM orders").await;
    assert_eq!(orders, 1);
    assert_eq!(db.state("order-2").await, "accepted");
}

#[tokio::test]
async fn json_and_raw_rows_reach_postfix_with_their_outcomes() {
    let Some((servers, db)) = postfix_and_db().await else {
        return;
    };
    let token = common::token();
    let json_keys = db
        .insert_json(&format!("{token}j"), 3, "tester@smtpwire.test")
        .await;
    let raw_keys = db
        .insert_raw(&format!("{token}r"), 3, "tester@smtpwire.test")
        .await;
    db.insert_json(&format!("{token}x"), 1, &servers.rejected)
        .await;
    db.insert_json(&format!("{token}d"), 1, &servers.deferred)
        .await;
    db.client
        .execute(
            "INSERT INTO smtpwire.outbox (message_id, message) VALUES ($1, $2)",
            &[
                &format!("{token}-invalid"),
                &serde_json::json!({"from": "tester@smtpwire.test", "to": "nobody"}),
            ],
        )
        .await
        .unwrap();
    let server: std::net::SocketAddr = servers.plain.parse().unwrap();
    let child = worker(
        &db.url,
        server,
        &["--until-empty", "--retries", "0", "--retry-delay", "600"],
    );
    let (code, stdout, stderr) = finish(child).await;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");

    let rows = db
        .client
        .query(
            "SELECT message_id, state, attempts, queue_id, outcome, last_error,
                    next_attempt_at > now() + interval '5 minutes', finished_at IS NOT NULL
             FROM smtpwire.outbox",
            &[],
        )
        .await
        .unwrap();
    for row in &rows {
        let key: String = row.get(0);
        let state: String = row.get(1);
        let attempts: i32 = row.get(2);
        let outcome: Option<Value> = row.get(4);
        let error: Option<String> = row.get(5);
        assert_eq!(attempts, 1, "{key}");
        if key.contains(&format!("{token}j")) || key.contains(&format!("{token}r")) {
            assert_eq!(state, "accepted", "{key}: {error:?}");
            assert!(
                row.get::<_, Option<String>>(3).is_some(),
                "{key}: no queue id"
            );
            let outcome = outcome.unwrap();
            let reply = outcome["recipients"][0]["reply"].as_str().unwrap();
            assert!(reply.starts_with("250"), "{key}: {outcome}");
            assert!(row.get::<_, bool>(7), "{key}: finished_at");
        } else if key.contains(&format!("{token}x")) {
            assert_eq!(state, "rejected", "{key}");
            let outcome = outcome.unwrap();
            assert_eq!(outcome["recipients"][0]["status"], "rejected", "{outcome}");
        } else if key.contains(&format!("{token}d")) {
            assert_eq!(state, "deferred", "{key}");
            assert!(row.get::<_, bool>(6), "{key}: deferred for the retry delay");
            assert!(
                !row.get::<_, bool>(7),
                "{key}: a deferred row is not finished"
            );
        } else {
            assert_eq!(state, "rejected", "{key}");
            assert!(error.unwrap().contains("invalid message"), "{key}");
            assert!(outcome.unwrap()["recipients"].is_null());
        }
    }
    let json_ids: Vec<String> = json_keys.iter().map(|k| k.to_ascii_lowercase()).collect();
    let raw_ids: Vec<String> = raw_keys.iter().map(|k| k.to_ascii_lowercase()).collect();
    let counts = outbox_support::maildir_counts(&servers.maildir, &token, 6).await;
    for key in json_ids.iter().chain(&raw_ids) {
        assert_eq!(counts.get(key), Some(&1), "{key}: {counts:?}");
    }
    assert_eq!(counts.values().sum::<usize>(), 6, "{counts:?}");
}

#[tokio::test]
async fn an_expired_lease_becomes_unknown_and_is_sent_only_after_resend() {
    let Some((db, sink)) = db_and_sink(Duration::ZERO).await else {
        return;
    };
    db.insert_json("lease", 2, "someone@smtpwire.test").await;
    // A worker that died while sending lease-0: its lease ran out a second ago.
    db.execute(
        "UPDATE smtpwire.outbox SET state = 'sending', attempts = 1,
                 lease_owner = 'dead-worker:1:0', lease_expires_at = now() - interval '1 second'
             WHERE message_id = 'lease-0'",
    )
    .await;
    let (code, stdout, stderr) = until_empty(&db, &sink).await;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("? lease-0"), "{stderr}");
    assert_eq!(db.state("lease-0").await, "unknown");
    assert_eq!(db.state("lease-1").await, "accepted");
    assert_eq!(sink.counts().get("lease-0@smtpwire.test"), None);

    // A second worker leaves it alone too.
    let (code, _, stderr) = until_empty(&db, &sink).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(db.state("lease-0").await, "unknown");
    assert_eq!(sink.total(), 1);

    let (code, stdout, _) = outbox(&["list", "--state", "unknown"], &db.url).await;
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("lease-0") && stdout.contains("dead-worker"),
        "{stdout}"
    );
    assert!(stdout.contains("expired while sending"), "{stdout}");
    let (code, stdout, _) = outbox(&["list", "--state", "unknown", "--json"], &db.url).await;
    assert_eq!(code, Some(0));
    let listed: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(listed["message_id"], "lease-0");

    let (code, _, stderr) = outbox(&["resend", "--unknown", "--message-id", "nope"], &db.url).await;
    assert_eq!(code, Some(65), "{stderr}");
    let (code, stdout, stderr) =
        outbox(&["resend", "--unknown", "--message-id", "lease-0"], &db.url).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("queued again: lease-0"), "{stdout}");
    let (code, _, stderr) = until_empty(&db, &sink).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(db.state("lease-0").await, "accepted");
    assert_eq!(sink.counts().get("lease-0@smtpwire.test"), Some(&1));
    let attempts: i32 = db
        .value("SELECT attempts FROM smtpwire.outbox WHERE message_id = 'lease-0'")
        .await;
    assert_eq!(attempts, 2);
}

#[tokio::test]
async fn deferred_rows_come_back_with_backoff_and_refused_rows_stop() {
    let Some((db, sink)) = db_and_sink(Duration::ZERO).await else {
        return;
    };
    db.insert_json("flaky", 1, "flaky@smtpwire.test").await;
    db.insert_json("refused", 1, "reject@smtpwire.test").await;
    db.insert_json("forever", 1, "defer@smtpwire.test").await;
    db.client
        .execute(
            "INSERT INTO smtpwire.outbox (message_id, message) VALUES ('half', $1)",
            &[&serde_json::json!({
                "from": "tester@smtpwire.test",
                "to": ["ok@smtpwire.test", "reject-half@smtpwire.test"],
                "subject": "half", "text": "x",
            })],
        )
        .await
        .unwrap();
    // No retries inside a try: each try is one SMTP attempt, and the backoff is the outbox's.
    let child = worker(
        &db.url,
        sink.addr,
        &[
            "--retries",
            "0",
            "--retry-delay",
            "0.2",
            "--max-retry-delay",
            "0.5",
            "--max-attempts",
            "3",
            "--poll",
            "0.1",
        ],
    );
    let states = db.settled(Duration::from_secs(60)).await;
    signal(&child, "TERM");
    let (code, stdout, stderr) = finish(child).await;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert_eq!(states.get("queued").copied().unwrap_or(0), 0, "{states:?}");

    let row = |key: &'static str| {
        let client = &db.client;
        async move {
            client
                .query_one(
                    "SELECT state, attempts, coalesce(last_error, '') FROM smtpwire.outbox
                     WHERE message_id = $1",
                    &[&key],
                )
                .await
                .unwrap()
        }
    };
    let flaky = row("flaky-0").await;
    assert_eq!(
        (flaky.get::<_, String>(0), flaky.get::<_, i32>(1)),
        ("accepted".into(), 2)
    );
    let refused = row("refused-0").await;
    assert_eq!(
        (refused.get::<_, String>(0), refused.get::<_, i32>(1)),
        ("rejected".into(), 1)
    );
    assert_eq!(
        sink.rcpts("reject@smtpwire.test"),
        1,
        "a 5xx is never retried"
    );
    let forever = row("forever-0").await;
    assert_eq!(forever.get::<_, String>(0), "rejected");
    assert_eq!(forever.get::<_, i32>(1), 3);
    assert!(forever
        .get::<_, String>(2)
        .contains("given up after 3 tries"));
    assert_eq!(sink.rcpts("defer@smtpwire.test"), 3);
    let half = row("half").await;
    assert_eq!(half.get::<_, String>(0), "partial");
    assert_eq!(sink.counts().get("half@smtpwire.test"), Some(&1));
    assert!(stdout.contains("~ half partial"), "{stdout}");

    let (code, stdout, _) = outbox(&["status", "--json"], &db.url).await;
    assert_eq!(code, Some(0));
    let status: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(status["states"]["accepted"], 1, "{status}");
    assert_eq!(status["states"]["rejected"], 2, "{status}");
    assert_eq!(status["states"]["partial"], 1, "{status}");
    assert_eq!(status["states"]["queued"], 0, "{status}");
    let failures = status["recent_failures"].as_array().unwrap();
    assert_eq!(failures.len(), 3, "{status}");
    let (code, stdout, _) = outbox(&["status"], &db.url).await;
    assert_eq!(code, Some(0));
    assert_contains(&stdout, &["recent failures:", "given up after 3 tries"]);
}

#[tokio::test]
async fn sigterm_finishes_the_messages_in_flight_and_releases_the_others() {
    // Each message takes 300 ms to be accepted: SIGTERM lands with messages in flight.
    let Some((db, sink)) = db_and_sink(Duration::from_millis(300)).await else {
        return;
    };
    let keys = db.insert_json("term", 60, "someone@smtpwire.test").await;
    let child = worker(
        &db.url,
        sink.addr,
        &["--concurrency", "2", "--batch", "20", "--poll", "0.2"],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while sink.total() < 6 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    signal(&child, "TERM");
    let (code, stdout, stderr) = finish(child).await;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("stopping"), "{stderr}");
    let states = db.states().await;
    let accepted = states.get("accepted").copied().unwrap_or(0);
    assert_eq!(states.get("sending"), None, "{states:?}");
    assert!((6..60).contains(&accepted), "{states:?}");
    assert_eq!(
        accepted + states.get("queued").copied().unwrap_or(0),
        60,
        "{states:?}"
    );
    // Released rows are as they were: no try counted.
    let tried: i64 = db
        .value("SELECT count(*) FROM smtpwire.outbox WHERE state = 'queued' AND attempts <> 0")
        .await;
    assert_eq!(tried, 0);
    let counts = sink.counts();
    assert_eq!(counts.len() as i64, accepted, "{counts:?}");
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");

    // Another run sends the rest, each once.
    let (code, _, stderr) = until_empty(&db, &sink).await;
    assert_eq!(code, Some(0), "{stderr}");
    let counts = sink.counts();
    for key in &keys {
        assert_eq!(
            counts.get(&format!("{key}@smtpwire.test")),
            Some(&1),
            "{key}"
        );
    }
}

#[tokio::test]
async fn an_insert_wakes_a_waiting_worker_and_metrics_speak_prometheus() {
    let Some((db, sink)) = db_and_sink(Duration::ZERO).await else {
        return;
    };
    // Polling every ten minutes: only the NOTIFY of the insert can wake it in time.
    let mut child = worker(
        &db.url,
        sink.addr,
        &[
            "--poll",
            "600",
            "--metrics",
            "127.0.0.1:0",
            "--progress",
            "0.2",
        ],
    );
    let stderr = child.stderr.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let mut metrics = None;
    let mut progress = false;
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while metrics.is_none() || !progress {
        let line = tokio::time::timeout_at(deadline.into(), lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("no metrics or progress line: {seen:?}"))
            .unwrap()
            .unwrap();
        if let Some(rest) = line.strip_prefix("outbox: metrics on http://") {
            metrics = Some(rest.trim_end_matches("/metrics").to_owned());
        }
        progress |= line.contains("sent/s") && line.contains("queued");
        seen.push(line);
    }
    // Let it settle into its wait, then insert.
    tokio::time::sleep(Duration::from_millis(500)).await;
    db.insert_json("wake", 1, "someone@smtpwire.test").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while db.state("wake-0").await != "accepted" {
        assert!(
            Instant::now() < deadline,
            "the insert did not wake the worker"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The outcome is committed a moment before the counters see it.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut stream = tokio::net::TcpStream::connect(metrics.unwrap())
        .await
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.contains("text/plain; version=0.0.4"), "{response}");
    for expected in [
        "smtpwire_outbox_messages_total{state=\"accepted\"} 1\n",
        "smtpwire_pool_sends_total{result=\"sent\"} 1\n",
        "smtpwire_pool_send_seconds_bucket{le=\"+Inf\"} 1\n",
        "smtpwire_pool_send_seconds_count 1\n",
        "smtpwire_pool_connections_total 1\n",
        "# TYPE smtpwire_pool_transaction_seconds histogram\n",
        "smtpwire_outbox_in_flight 0\n",
    ] {
        assert!(response.contains(expected), "{expected:?} in\n{response}");
    }

    signal(&child, "INT");
    let (code, stdout, _) = finish(child).await;
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(sink.total(), 1);
}

#[tokio::test]
async fn tls_to_the_database_is_verified_and_used() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let Ok(ca) = std::env::var("SMTPWIRE_TEST_POSTGRES_CA") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but SMTPWIRE_TEST_POSTGRES_CA is not set (scripts/test-postgres.sh env)"
        );
        return;
    };
    let sink = Sink::start(Duration::ZERO).await;
    db.insert_json("tls", 3, "someone@smtpwire.test").await;

    // The test CA is not among the Mozilla roots: without it the certificate is refused.
    let tls_url = format!("{} sslmode=require", db.url_as("outbox-tls"));
    let (code, _, stderr) = outbox(&["status"], &tls_url).await;
    assert_eq!(code, Some(69), "{stderr}");
    assert!(stderr.contains("certificate"), "{stderr}");

    let child = worker(
        &tls_url,
        sink.addr,
        &["--database-ca", &ca, "--poll", "0.2"],
    );
    let states = db.settled(Duration::from_secs(60)).await;
    assert_eq!(states.get("accepted"), Some(&3), "{states:?}");
    let encrypted: Vec<bool> = db
        .client
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.application_name = 'outbox-tls' AND a.datname = current_database()",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(encrypted, [true], "the worker's one connection is TLS");
    signal(&child, "TERM");
    let (code, stdout, stderr) = finish(child).await;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert_eq!(sink.total(), 3);

    // --database-ca alone asks for TLS too.
    let (code, stdout, stderr) = outbox(&["status", "--database-ca", &ca], &db.url).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("accepted  3"), "{stdout}");
}
