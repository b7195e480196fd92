//! Soak run: many messages through the pooled mailer and a fault-injecting proxy to a real
//! server, then the server's own record checked against what the mailer reported.
//!
//! ```sh
//! cargo run --release --example soak                  # 100,000 messages to smtp-sink
//! cargo run --release --example soak -- 5000 --postfix
//! ```
//!
//! By default it starts `smtp-sink` (Postfix's test server, `/usr/sbin/smtp-sink`) on a free
//! loopback port, appending each message it accepts to a dump file, and stops it at the end.
//! With `--postfix` it sends to the private Postfix of `scripts/test-servers.sh` and reads its
//! Maildir (`eval "$(scripts/test-servers.sh env)"` first). `SOAK_SEED` fixes the faults.
//! `--retry-unknown` opts in to retrying delivery-unknown messages, to see the check catch the
//! duplicates that can make.
//!
//! It passes when every accepted message is on the server exactly once, no message is there
//! twice, and every message on the server was reported accepted or delivery-unknown.

#[path = "support/fault_proxy.rs"]
mod fault_proxy;
#[path = "support/smtp_sink.rs"]
mod smtp_sink;

use fault_proxy::{FaultProxy, Faults};
use smtp_sink::SmtpSink;
use smtpwire::address::Mailbox;
use smtpwire::envelope::{Envelope, Recipient};
use smtpwire::pool::{BreakerPolicy, Mailer, Metrics, RetryPolicy};
use smtpwire::session::{SessionConfig, Timeouts, TlsPolicy};
use smtpwire::transport::ClientConfig;
use smtpwire::Status;
use std::collections::HashMap;
use std::error::Error;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CONNECTIONS: usize = 8;
const TASKS: usize = 64;
const MESSAGE_SIZE: usize = 1024;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let total: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(100_000);
    let postfix = args.iter().any(|a| a == "--postfix");
    let retry_unknown = args.iter().any(|a| a == "--retry-unknown");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let seed = std::env::var("SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(now);
    // Unique even when the seed is not: a Maildir keeps earlier runs.
    let run = format!("{now:x}");

    let server = if postfix {
        Server::postfix()?
    } else {
        Server::smtp_sink().await?
    };
    let faults = Faults {
        refuse_421: 0.01,
        reset: 0.002,
        reply_421: 0.001,
        delay: 0.01,
        max_delay: Duration::from_millis(50),
    };
    let proxy = FaultProxy::start(server.addr, faults, seed).await?;
    println!(
        "soak: {total} messages of {MESSAGE_SIZE} bytes, {CONNECTIONS} connections, {TASKS} tasks, \
         seed {seed}, to {} at {} through a fault proxy",
        server.name, server.addr
    );

    let timeouts = Timeouts::default()
        .with_connect(Duration::from_secs(5))
        .with_greeting(Duration::from_secs(10))
        .with_command(Duration::from_secs(10))
        .with_mail(Duration::from_secs(10))
        .with_rcpt(Duration::from_secs(10))
        .with_data_initiation(Duration::from_secs(10))
        .with_data_termination(Duration::from_secs(30));
    let session = SessionConfig::new(TlsPolicy::Plaintext).with_timeouts(timeouts);
    let config = ClientConfig::new("127.0.0.1", proxy.addr.port()).with_session(session);
    let metrics = Metrics::new();
    let mailer = Mailer::builder(config)
        .max_connections(CONNECTIONS)
        .retry(
            RetryPolicy::default()
                .with_max_attempts(8)
                .with_initial_delay(Duration::from_millis(20))
                .with_max_delay(Duration::from_secs(1))
                .with_max_elapsed(Duration::from_secs(60))
                .with_retry_delivery_unknown(retry_unknown),
        )
        .breaker(BreakerPolicy::new(5, Duration::from_millis(500)))
        .observer(metrics.clone())
        .build();

    let envelope = envelope()?;
    let reported = Arc::new(Mutex::new(vec![None::<Status>; total]));
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..TASKS)
        .map(|_| {
            let (mailer, envelope, reported, next, run) = (
                mailer.clone(),
                envelope.clone(),
                reported.clone(),
                next.clone(),
                run.clone(),
            );
            tokio::spawn(async move {
                loop {
                    let seq = next.fetch_add(1, Ordering::Relaxed);
                    if seq >= total {
                        return;
                    }
                    let status = match mailer.send(envelope.clone(), &message(&run, seq)).await {
                        Ok(outcome) => outcome.recipients().first().map(|r| r.status()),
                        Err(error) => error
                            .report()
                            .and_then(|r| r.recipients().first())
                            .map(|r| r.status()),
                    };
                    if let Some(slot) = reported
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get_mut(seq)
                    {
                        *slot = status;
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await?;
    }
    let elapsed = started.elapsed();
    mailer.close().await;
    let injected = proxy.injected.clone();
    drop(proxy);

    let reported = reported.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let copies = server.count(&run).await?;
    let snapshot = metrics.snapshot();
    let count = |what| reported.iter().filter(|r| **r == what).count();
    let load = |n: &std::sync::atomic::AtomicU64| n.load(Ordering::Relaxed);
    println!(
        "injected: {} connections: {} refused with 421, {} resets, {} 421 replies, {} delays",
        load(&injected.connections),
        load(&injected.refused_421),
        load(&injected.resets),
        load(&injected.replies_421),
        load(&injected.delays),
    );
    let retried = snapshot.retried;
    println!(
        "mailer: {} accepted, {} rejected, {} not sent, {} unknown; {retried} retries; \
         {} connections opened; {:.1} s, {:.0} msgs/s; transaction p50 {:?} p99 {:?}",
        count(Some(Status::Accepted)),
        count(Some(Status::Rejected)),
        count(Some(Status::NotSent)) + count(Some(Status::Deferred)),
        count(Some(Status::Unknown)),
        snapshot.connections,
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        snapshot.transaction.quantile(0.5).unwrap_or_default(),
        snapshot.transaction.quantile(0.99).unwrap_or_default(),
    );

    let mut problems = Vec::new();
    let on_server = |seq: usize| copies.get(&seq).copied().unwrap_or(0);
    let mut unknown_on_server = 0;
    for (seq, what) in reported.iter().enumerate() {
        match (what, on_server(seq)) {
            (Some(Status::Accepted), 1) => {}
            (Some(Status::Unknown | Status::Deferred | Status::NotSent | Status::Rejected), 0) => {}
            (Some(Status::Unknown), 1) => unknown_on_server += 1,
            (what, n) => problems.push(format!(
                "message {seq}: reported {what:?}, {n} on the server"
            )),
        }
    }
    for (&seq, &n) in &copies {
        if seq >= total {
            problems.push(format!(
                "message {seq} on the server was never sent ({n} copies)"
            ));
        }
    }
    let duplicates: usize = copies.values().map(|n| n.saturating_sub(1)).sum();
    println!(
        "server: {} messages, {} distinct, {duplicates} duplicates; accepted {} = on the server {}; \
         {unknown_on_server} of the {} unknown reached it",
        copies.values().sum::<usize>(),
        copies.len(),
        count(Some(Status::Accepted)),
        copies.len() - unknown_on_server,
        count(Some(Status::Unknown)),
    );
    if problems.is_empty() {
        println!("PASS: every accepted message once, no duplicate, nothing unreported");
        return Ok(());
    }
    for problem in problems.iter().take(20) {
        println!("  {problem}");
    }
    Err(format!("FAIL: {} problems", problems.len()).into())
}

fn envelope() -> Result<Envelope, smtpwire::InputError> {
    Envelope::new(
        Some(Mailbox::parse("tester@smtpwire.test")?),
        [Recipient::new(Mailbox::parse("soak@smtpwire.test")?)],
    )
}

/// A 1 KiB message that names its run and sequence number.
fn message(run: &str, seq: usize) -> Vec<u8> {
    let head = format!(
        "From: <tester@smtpwire.test>\r\nTo: <soak@smtpwire.test>\r\nSubject: soak {seq}\r\n\
         Message-ID: <{run}.{seq}@smtpwire.test>\r\nX-Soak: {run}-{seq}\r\n\r\n"
    );
    let mut message = head.into_bytes();
    let line = b"The quick brown fox jumps over the lazy dog, again and again.\r\n";
    while message.len() + line.len() <= MESSAGE_SIZE {
        message.extend_from_slice(line);
    }
    message.resize(MESSAGE_SIZE - 2, b'.');
    message.extend_from_slice(b"\r\n");
    message
}

/// The server behind the proxy, and how to read what it received.
struct Server {
    name: &'static str,
    addr: SocketAddr,
    store: Store,
}

enum Store {
    /// smtp-sink, which appends each message it accepts to its dump file.
    Sink(SmtpSink),
    Maildir(PathBuf),
}

impl Server {
    async fn smtp_sink() -> Result<Self, Box<dyn Error>> {
        let sink = SmtpSink::start(true).await?;
        Ok(Self {
            name: "smtp-sink",
            addr: sink.addr,
            store: Store::Sink(sink),
        })
    }

    fn postfix() -> Result<Self, Box<dyn Error>> {
        let var = |name| {
            std::env::var(name).map_err(|_| {
                format!("{name} is not set: scripts/test-servers.sh up; eval \"$(scripts/test-servers.sh env)\"")
            })
        };
        Ok(Self {
            name: "Postfix",
            addr: var("SMTPWIRE_TEST_POSTFIX_PLAIN")?.parse()?,
            store: Store::Maildir(var("SMTPWIRE_TEST_MAILDIR")?.into()),
        })
    }

    /// How many copies of each message of this run the server holds.
    async fn count(&self, run: &str) -> Result<HashMap<usize, usize>, Box<dyn Error>> {
        let marker = format!("X-Soak: {run}-");
        match &self.store {
            Store::Sink(sink) => {
                let text = sink
                    .dump()
                    .and_then(|dump| std::fs::read(dump).ok())
                    .unwrap_or_default();
                Ok(count_markers(&text, marker.as_bytes()))
            }
            // Postfix delivers from its queue: wait until the count stops growing.
            Store::Maildir(dir) => {
                let mut last = HashMap::new();
                let mut still = 0;
                while still < 3 {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let now = count_maildir(dir, marker.as_bytes())?;
                    still = if now.values().sum::<usize>() == last.values().sum::<usize>() {
                        still + 1
                    } else {
                        0
                    };
                    last = now;
                }
                Ok(last)
            }
        }
    }
}

fn count_maildir(dir: &Path, marker: &[u8]) -> Result<HashMap<usize, usize>, Box<dyn Error>> {
    let mut counts = HashMap::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for entry in entries.flatten() {
            let text = std::fs::read(entry.path()).unwrap_or_default();
            for (seq, n) in count_markers(&text, marker) {
                *counts.entry(seq).or_insert(0) += n;
            }
        }
    }
    Ok(counts)
}

/// Sequence numbers after each `marker` in `text`, counted.
fn count_markers(text: &[u8], marker: &[u8]) -> HashMap<usize, usize> {
    let mut counts = HashMap::new();
    let mut rest = text;
    while let Some(at) = rest.windows(marker.len()).position(|w| w == marker) {
        rest = rest.get(at + marker.len()..).unwrap_or_default();
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let seq = std::str::from_utf8(rest.get(..digits).unwrap_or_default())
            .ok()
            .and_then(|s| s.parse().ok());
        if let Some(seq) = seq {
            *counts.entry(seq).or_insert(0) += 1;
        }
    }
    counts
}
