//! What a worker did, for people and for Prometheus: the progress line, and the pool's and
//! the outbox's numbers in Prometheus text format on `--metrics ADDR:PORT`.

use super::db::Db;
use crate::exit::{CliError, Exit};
use smtpwire::pool::{HistogramSnapshot, MetricsSnapshot};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The worker's counters.
#[derive(Debug, Default)]
pub struct Stats {
    pub claimed: AtomicU64,
    pub accepted: AtomicU64,
    pub partial: AtomicU64,
    pub rejected: AtomicU64,
    pub deferred: AtomicU64,
    pub unknown: AtomicU64,
    pub released: AtomicU64,
    /// Outcomes not recorded because the row was no longer this worker's.
    pub lost: AtomicU64,
    pub in_flight: AtomicU64,
}

/// The counters at one moment.
#[derive(Clone, Copy, Debug, Default)]
pub struct StatsSnapshot {
    pub claimed: u64,
    pub accepted: u64,
    pub partial: u64,
    pub rejected: u64,
    pub deferred: u64,
    pub unknown: u64,
    pub released: u64,
    pub lost: u64,
    pub in_flight: u64,
}

impl Stats {
    /// Counts one recorded outcome.
    pub fn count(&self, state: &str) {
        let counter = match state {
            "accepted" => &self.accepted,
            "partial" => &self.partial,
            "rejected" => &self.rejected,
            "deferred" => &self.deferred,
            _ => &self.unknown,
        };
        counter.fetch_add(1, Relaxed);
    }

    /// The numbers now.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            claimed: self.claimed.load(Relaxed),
            accepted: self.accepted.load(Relaxed),
            partial: self.partial.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            deferred: self.deferred.load(Relaxed),
            unknown: self.unknown.load(Relaxed),
            released: self.released.load(Relaxed),
            lost: self.lost.load(Relaxed),
            in_flight: self.in_flight.load(Relaxed),
        }
    }
}

/// Prints a line every `every`: sent per second since the last line, queued (from the
/// database), in flight, failures.
pub async fn progress(db: Db, stats: Arc<Stats>, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut last = (Instant::now(), stats.snapshot());
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let queued = db
            .with(|conn| async move {
                conn.query(
                    "SELECT count(*) FROM smtpwire.outbox WHERE state IN ('queued', 'deferred')",
                    &[],
                )
                .await
            })
            .await
            .ok()
            .and_then(|rows| rows.first().map(|r| r.get::<_, i64>(0)));
        let now = (Instant::now(), stats.snapshot());
        let sent = (now.1.accepted + now.1.partial) - (last.1.accepted + last.1.partial);
        let rate = sent as f64 / now.0.duration_since(last.0).as_secs_f64().max(0.001);
        let s = now.1;
        eprintln!(
            "outbox: {rate:.1} sent/s, {} queued, {} in flight, failures: {} rejected, {} deferred, \
             {} unknown",
            queued.map_or_else(|| "?".to_owned(), |q| q.to_string()),
            s.in_flight,
            s.rejected + s.partial,
            s.deferred,
            s.unknown
        );
        last = now;
    }
}

/// The Prometheus text exposition of the pool's metrics and the worker's counters.
pub fn render(pool: &MetricsSnapshot, stats: &Stats, db_busy: Duration, db_errors: u64) -> String {
    let mut out = String::new();
    let s = stats.snapshot();
    let counters: [Counter<'_>; 11] = [
        (
            "smtpwire_pool_sends_total",
            "Sends by the pool, by result (sent: some recipient accepted).",
            &[
                ("result=\"sent\"", pool.sent),
                ("result=\"failed\"", pool.failed),
                ("result=\"unknown\"", pool.unknown),
            ],
        ),
        (
            "smtpwire_pool_retries_total",
            "Retries scheduled by the pool.",
            &[("", pool.retried)],
        ),
        (
            "smtpwire_pool_recipients_total",
            "Recipients accepted and refused for good.",
            &[
                ("status=\"accepted\"", pool.recipients_accepted),
                ("status=\"rejected\"", pool.recipients_rejected),
            ],
        ),
        (
            "smtpwire_pool_connections_total",
            "Connections opened.",
            &[("", pool.connections)],
        ),
        (
            "smtpwire_pool_connect_failures_total",
            "Connections that failed to open.",
            &[("", pool.connect_failures)],
        ),
        (
            "smtpwire_pool_breaker_opened_total",
            "Times the circuit breaker opened.",
            &[("", pool.breaker_opened)],
        ),
        (
            "smtpwire_outbox_messages_total",
            "Outcomes this worker recorded, by state.",
            &[
                ("state=\"accepted\"", s.accepted),
                ("state=\"partial\"", s.partial),
                ("state=\"rejected\"", s.rejected),
                ("state=\"deferred\"", s.deferred),
                ("state=\"unknown\"", s.unknown),
            ],
        ),
        (
            "smtpwire_outbox_claimed_total",
            "Rows claimed.",
            &[("", s.claimed)],
        ),
        (
            "smtpwire_outbox_released_total",
            "Claimed rows given back unsent.",
            &[("", s.released)],
        ),
        (
            "smtpwire_outbox_lost_leases_total",
            "Outcomes not recorded: the row was no longer this worker's.",
            &[("", s.lost)],
        ),
        (
            "smtpwire_outbox_database_errors_total",
            "Database statements or connections that failed.",
            &[("", db_errors)],
        ),
    ];
    for (name, help, values) in counters {
        counter(&mut out, name, help, values);
    }
    for (name, help, histogram) in [
        (
            "connect",
            "Opening a connection, up to ready.",
            &pool.connect,
        ),
        ("tls", "TLS handshakes.", &pool.tls),
        ("auth", "AUTH exchanges.", &pool.auth),
        (
            "transaction",
            "Each attempt's SMTP transaction.",
            &pool.transaction,
        ),
        ("send", "Each whole send, retries included.", &pool.send),
    ] {
        self::histogram(
            &mut out,
            &format!("smtpwire_pool_{name}_seconds"),
            help,
            histogram,
        );
    }
    gauge(
        &mut out,
        "smtpwire_outbox_in_flight",
        "Messages being sent now.",
        s.in_flight as f64,
    );
    let _ = writeln!(
        out,
        "# HELP smtpwire_outbox_database_seconds_total Time spent waiting for the database.\n\
         # TYPE smtpwire_outbox_database_seconds_total counter\n\
         smtpwire_outbox_database_seconds_total {}",
        db_busy.as_secs_f64()
    );
    out
}

/// A counter's name, help text, and value by labels (`""`: none).
type Counter<'a> = (&'a str, &'a str, &'a [(&'a str, u64)]);

fn counter(out: &mut String, name: &str, help: &str, values: &[(&str, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (labels, value) in values {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
    );
}

fn histogram(out: &mut String, name: &str, help: &str, histogram: &HistogramSnapshot) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    let mut cumulative = 0;
    for (count, bound) in histogram.buckets() {
        cumulative += count;
        let le = bound.map_or_else(|| "+Inf".to_owned(), |b| format!("{}", b.as_secs_f64()));
        let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_sum {}", histogram.sum().as_secs_f64());
    let _ = writeln!(out, "{name}_count {}", histogram.count());
}

/// Serves `render()` at `GET /metrics` on `addr`; returns the address bound (for port 0).
pub async fn serve(
    addr: SocketAddr,
    render: impl Fn() -> String + Send + Sync + 'static,
) -> Result<SocketAddr, CliError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| CliError::new(Exit::Unavailable, format!("--metrics {addr}: {e}")))?;
    let bound = listener.local_addr().unwrap_or(addr);
    let render = Arc::new(render);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let render = Arc::clone(&render);
            tokio::spawn(async move {
                // The request head, bounded in size and time; the body (if any) is ignored.
                let mut head = Vec::new();
                let mut chunk = [0u8; 1024];
                let read = async {
                    while head.len() < 8192 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return false,
                            Ok(n) => head.extend_from_slice(chunk.get(..n).unwrap_or_default()),
                        }
                    }
                    true
                };
                if !matches!(
                    tokio::time::timeout(Duration::from_secs(5), read).await,
                    Ok(true)
                ) {
                    return;
                }
                let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
                let ok = line.starts_with(b"GET /metrics ") || line.starts_with(b"GET / ");
                let response = if ok {
                    let body = render();
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .into()
                };
                let _ = tokio::time::timeout(
                    Duration::from_secs(5),
                    stream.write_all(response.as_bytes()),
                )
                .await;
                let _ = stream.shutdown().await;
            });
        }
    });
    Ok(bound)
}
