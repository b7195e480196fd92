//! Shared by the outbox tests: a fresh database per test on the PostgreSQL of
//! `scripts/test-postgres.sh`, worker processes, and a counting SMTP sink that records each
//! message's Message-ID and when its MAIL command arrived.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_postgres::{Client, NoTls};

/// The cluster's admin connection string, or `None` with a message (a failure under CI).
pub fn admin_url() -> Option<String> {
    match std::env::var("SMTPWIRE_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but SMTPWIRE_TEST_POSTGRES is not set: run scripts/test-postgres.sh up"
            );
            eprintln!(
                "skipping: no PostgreSQL (scripts/test-postgres.sh up; \
                 eval \"$(scripts/test-postgres.sh env)\")"
            );
            None
        }
    }
}

/// Opens a connection whose driver runs on a task.
pub async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// A database of its own for one test, with the outbox schema made by `smtpwire outbox init`.
pub struct TestDb {
    admin: String,
    pub name: String,
    pub url: String,
    pub client: Client,
}

impl TestDb {
    /// `None` when there is no PostgreSQL to test with (outside CI).
    pub async fn create() -> Option<Self> {
        let admin = admin_url()?;
        let name = format!("smtpwire_{}", crate::common::token());
        connect(&admin)
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let url = format!("{admin} dbname={name}");
        let output = smtpwire()
            .args(["outbox", "init", "--database", &url])
            .output()
            .await
            .unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
        let client = connect(&url).await;
        Some(Self {
            admin,
            name,
            url,
            client,
        })
    }

    /// The connection string with an application name, to find the worker's backend.
    pub fn url_as(&self, application: &str) -> String {
        format!("{} application_name={application}", self.url)
    }

    /// Counts per state.
    pub async fn states(&self) -> HashMap<String, i64> {
        self.client
            .query(
                "SELECT state, count(*) FROM smtpwire.outbox GROUP BY state",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    }

    /// Each message_id's state.
    pub async fn state_of_each(&self) -> HashMap<String, String> {
        self.client
            .query("SELECT message_id, state FROM smtpwire.outbox", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    }

    pub async fn state(&self, message_id: &str) -> String {
        self.client
            .query_one(
                "SELECT state FROM smtpwire.outbox WHERE message_id = $1",
                &[&message_id],
            )
            .await
            .unwrap()
            .get(0)
    }

    /// Waits until no message is queued, deferred or sending, up to `limit`.
    pub async fn settled(&self, limit: Duration) -> HashMap<String, i64> {
        let deadline = Instant::now() + limit;
        loop {
            let states = self.states().await;
            let open: i64 = ["queued", "deferred", "sending"]
                .iter()
                .map(|s| states.get(*s).copied().unwrap_or(0))
                .sum();
            if open == 0 || Instant::now() > deadline {
                return states;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Inserts JSON messages to `to` from tester@smtpwire.test, keys `{prefix}-{i}`.
    pub async fn insert_json(&self, prefix: &str, count: usize, to: &str) -> Vec<String> {
        let keys: Vec<String> = (0..count).map(|i| format!("{prefix}-{i}")).collect();
        for key in &keys {
            let message = serde_json::json!({
                "from": "tester@smtpwire.test",
                "to": to,
                "subject": format!("outbox {key}"),
                "text": format!("message {key}\n"),
            });
            self.client
                .execute(
                    "INSERT INTO smtpwire.outbox (message_id, message) VALUES ($1, $2)",
                    &[key, &message],
                )
                .await
                .unwrap();
        }
        keys
    }

    /// Inserts `count` raw messages in one statement, Message-ID `<{prefix}-{i}@outbox.test>`.
    pub async fn insert_raw(&self, prefix: &str, count: i32, to: &str) -> Vec<String> {
        self.client
            .execute(
                "INSERT INTO smtpwire.outbox (message_id, raw, mail_from, rcpt_to)
                 SELECT $1 || '-' || i,
                        convert_to('From: <tester@smtpwire.test>' || E'\\r\\n' ||
                                   'To: <' || $3 || '>' || E'\\r\\n' ||
                                   'Subject: outbox ' || $1 || '-' || i || E'\\r\\n' ||
                                   'Message-ID: <' || $1 || '-' || i || '@outbox.test>' || E'\\r\\n' ||
                                   E'\\r\\n' || 'message ' || i || E'\\r\\n', 'UTF8'),
                        'tester@smtpwire.test', ARRAY[$3]
                 FROM generate_series(0, $2 - 1) AS i",
                &[&prefix, &count, &to],
            )
            .await
            .unwrap();
        (0..count).map(|i| format!("{prefix}-{i}")).collect()
    }

    /// Runs `sql` (statements without results) as the application would.
    pub async fn execute(&self, sql: &str) {
        self.client.batch_execute(sql).await.unwrap();
    }

    /// The one value the query `sql` returns.
    pub async fn value<T: tokio_postgres::types::FromSqlOwned>(&self, sql: &str) -> T {
        self.client.query_one(sql, &[]).await.unwrap().get(0)
    }
}

/// The database is dropped with its handle, at the end of the test or when it fails. There is
/// no async drop: a thread of its own with a runtime of its own does it.
impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let dropping = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let _ = connect(&admin)
                    .await
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            });
        });
        let _ = dropping.join();
    }
}

/// The binary as the other CLI tests run it, and no database password either, as a child of
/// tokio that dies with its handle.
pub fn smtpwire() -> tokio::process::Command {
    let mut command = tokio::process::Command::from(crate::common::binary());
    command
        .env_remove("SMTPWIRE_DATABASE_URL")
        .env_remove("PGPASSWORD")
        .kill_on_drop(true)
        .stdin(Stdio::null());
    command
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The private Postfix and a database for one test, or `None` when either is missing (outside
/// CI).
pub async fn postfix_and_db() -> Option<(crate::common::Servers, TestDb)> {
    let servers = crate::common::servers()?;
    Some((servers, TestDb::create().await?))
}

/// A database for one test and a sink answering each message after `data_delay`, or `None`
/// when there is no PostgreSQL (outside CI).
pub async fn db_and_sink(data_delay: Duration) -> Option<(TestDb, Sink)> {
    let db = TestDb::create().await?;
    Some((db, Sink::start(data_delay).await))
}

/// Runs a worker on `db` sending to `sink` until the table is empty; its exit code, standard
/// output and standard error.
pub async fn until_empty(db: &TestDb, sink: &Sink) -> (Option<i32>, String, String) {
    finish(worker(
        &db.url,
        sink.addr,
        &["--until-empty", "--poll", "0.2"],
    ))
    .await
}

/// `outbox run` against `server` in plain text, with `extra` flags; output piped.
pub fn worker(url: &str, server: SocketAddr, extra: &[&str]) -> tokio::process::Child {
    smtpwire()
        .args(["outbox", "run", "--database", url, "--server"])
        .arg(server.to_string())
        .args(["--tls", "none", "--insecure-plaintext"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Sends `signal` (e.g. "TERM") to a child by its PID.
pub fn signal(child: &tokio::process::Child, signal: &str) {
    let pid = child.id().expect("the worker is still running");
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// Its exit code, standard output and standard error.
pub async fn finish(child: tokio::process::Child) -> (Option<i32>, String, String) {
    let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("the worker did not exit within 2 minutes")
        .unwrap();
    (
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr),
    )
}

/// One message the sink took.
#[derive(Clone, Debug)]
pub struct Arrival {
    /// The Message-ID without its angle brackets, lowercased.
    pub message_id: String,
    /// When its MAIL command arrived.
    pub mail_at: SystemTime,
}

/// What the sink saw.
#[derive(Default)]
pub struct Seen {
    pub arrivals: Vec<Arrival>,
    /// RCPT commands per address.
    pub rcpts: HashMap<String, usize>,
    pub connections: u64,
}

/// A plain SMTP server on 127.0.0.1 that takes everything except these recipients:
/// `reject…@` gets 550, `defer…@` 450, `flaky…@` 450 the first time and 250 after.
/// Each final dot is answered after `data_delay`.
pub struct Sink {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Seen>>,
    queued: Arc<AtomicU64>,
}

impl Sink {
    pub async fn start(data_delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let queued = Arc::new(AtomicU64::new(0));
        let (seen2, queued2) = (Arc::clone(&seen), Arc::clone(&queued));
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                seen2.lock().unwrap().connections += 1;
                let (seen, queued) = (Arc::clone(&seen2), Arc::clone(&queued2));
                tokio::spawn(async move {
                    let _ = session(stream, seen, queued, data_delay).await;
                });
            }
        });
        Self { addr, seen, queued }
    }

    /// How many times each Message-ID arrived.
    pub fn counts(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for arrival in &self.seen.lock().unwrap().arrivals {
            *counts.entry(arrival.message_id.clone()).or_insert(0) += 1;
        }
        counts
    }

    pub fn arrivals(&self) -> Vec<Arrival> {
        self.seen.lock().unwrap().arrivals.clone()
    }

    pub fn rcpts(&self, address: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .rcpts
            .get(address)
            .copied()
            .unwrap_or(0)
    }

    pub fn total(&self) -> usize {
        self.seen.lock().unwrap().arrivals.len()
    }
}

async fn session(
    stream: tokio::net::TcpStream,
    seen: Arc<Mutex<Seen>>,
    queued: Arc<AtomicU64>,
    data_delay: Duration,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    write.write_all(b"220 sink ESMTP\r\n").await?;
    let mut line = Vec::new();
    let mut mail_at: Option<SystemTime> = None;
    let mut accepted = 0;
    loop {
        line.clear();
        if read.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let command = String::from_utf8_lossy(&line).trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        let reply: Vec<u8> = if upper.starts_with("EHLO") {
            b"250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 10000000\r\n".to_vec()
        } else if upper.starts_with("HELO") || upper == "NOOP" {
            b"250 ok\r\n".to_vec()
        } else if upper == "RSET" {
            mail_at = None;
            accepted = 0;
            b"250 ok\r\n".to_vec()
        } else if upper.starts_with("MAIL FROM:") {
            mail_at = Some(SystemTime::now());
            accepted = 0;
            b"250 2.1.0 ok\r\n".to_vec()
        } else if upper.starts_with("RCPT TO:") {
            let address = command
                .split_once('<')
                .and_then(|(_, rest)| rest.split_once('>'))
                .map(|(address, _)| address.to_ascii_lowercase())
                .unwrap_or_default();
            let count = {
                let mut seen = seen.lock().unwrap();
                let n = seen.rcpts.entry(address.clone()).or_insert(0);
                *n += 1;
                *n
            };
            if address.starts_with("reject") {
                b"550 5.1.1 refused on purpose\r\n".to_vec()
            } else if address.starts_with("defer") || (address.starts_with("flaky") && count == 1) {
                b"450 4.2.1 try again later\r\n".to_vec()
            } else {
                accepted += 1;
                b"250 2.1.5 ok\r\n".to_vec()
            }
        } else if upper == "DATA" {
            if accepted == 0 || mail_at.is_none() {
                b"554 5.5.1 no valid recipients\r\n".to_vec()
            } else {
                write.write_all(b"354 go ahead\r\n").await?;
                let mut message_id = None;
                let mut in_headers = true;
                loop {
                    line.clear();
                    if read.read_until(b'\n', &mut line).await? == 0 {
                        return Ok(()); // cut short: no message
                    }
                    if line == b".\r\n" {
                        break;
                    }
                    if in_headers {
                        if line == b"\r\n" {
                            in_headers = false;
                        } else {
                            let text = String::from_utf8_lossy(&line).to_ascii_lowercase();
                            if let Some(value) = text.strip_prefix("message-id:") {
                                message_id = Some(
                                    value
                                        .trim()
                                        .trim_matches(|c| c == '<' || c == '>')
                                        .to_owned(),
                                );
                            }
                        }
                    }
                }
                if !data_delay.is_zero() {
                    tokio::time::sleep(data_delay).await;
                }
                seen.lock().unwrap().arrivals.push(Arrival {
                    message_id: message_id.unwrap_or_default(),
                    mail_at: mail_at.take().unwrap_or_else(SystemTime::now),
                });
                accepted = 0;
                let n = queued.fetch_add(1, Ordering::Relaxed);
                format!("250 2.0.0 Ok: queued as Q{n}\r\n").into_bytes()
            }
        } else if upper == "QUIT" {
            write.write_all(b"221 2.0.0 bye\r\n").await?;
            return Ok(());
        } else {
            b"502 5.5.2 not implemented\r\n".to_vec()
        };
        write.write_all(&reply).await?;
    }
}

/// How many times each key of `token` arrived in a Maildir, by Message-ID (`<key@…>`),
/// waiting until at least `at_least` arrived and the count stayed still for two seconds.
pub async fn maildir_counts(
    maildir: &Path,
    token: &str,
    at_least: usize,
) -> HashMap<String, usize> {
    let (maildir, token) = (maildir.to_owned(), token.to_owned());
    tokio::task::spawn_blocking(move || {
        crate::common::settled_maildir_counts(&maildir, &token, at_least)
    })
    .await
    .unwrap()
}
