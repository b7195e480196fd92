//! A ready-made observer: counters and latency histograms, snapshotted on demand. Atomics
//! only, so observing costs the sending tasks no lock.

use super::events::{Event, Observer};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Counts what a mailer did and how long it took. Clones share the same numbers.
///
/// ```no_run
/// use smtpwire::pool::{Mailer, Metrics};
/// use smtpwire::transport::ClientConfig;
///
/// let metrics = Metrics::new();
/// let mailer = Mailer::builder(ClientConfig::new("smtp.qq.com", 465))
///     .observer(metrics.clone())
///     .build();
/// // … send …
/// let snapshot = metrics.snapshot();
/// println!("sent {}, p99 {:?}", snapshot.sent, snapshot.send.quantile(0.99));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Metrics(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    failed: AtomicU64,
    unknown: AtomicU64,
    retried: AtomicU64,
    recipients_accepted: AtomicU64,
    recipients_rejected: AtomicU64,
    connections: AtomicU64,
    connect_failures: AtomicU64,
    breaker_opened: AtomicU64,
    connect: Histogram,
    tls: Histogram,
    auth: Histogram,
    transaction: Histogram,
    send: Histogram,
}

/// The numbers at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Sends with at least one recipient accepted.
    pub sent: u64,
    /// Sends with no recipient accepted, and none in doubt.
    pub failed: u64,
    /// Sends with at least one recipient whose delivery is unknown.
    pub unknown: u64,
    /// Retries scheduled.
    pub retried: u64,
    /// Recipients accepted.
    pub recipients_accepted: u64,
    /// Recipients refused for good.
    pub recipients_rejected: u64,
    /// Connections opened.
    pub connections: u64,
    /// Connections that failed to open.
    pub connect_failures: u64,
    /// Times the circuit breaker opened.
    pub breaker_opened: u64,
    /// Opening a connection: TCP, greeting, EHLO, TLS and AUTH.
    pub connect: HistogramSnapshot,
    /// The TLS handshake of each new connection.
    pub tls: HistogramSnapshot,
    /// AUTH on each new connection, from the command to its success.
    pub auth: HistogramSnapshot,
    /// Each attempt's SMTP transaction, from MAIL to the final reply or the failure.
    pub transaction: HistogramSnapshot,
    /// Each whole send, from the call to the result, waits and retries included.
    pub send: HistogramSnapshot,
}

impl Metrics {
    /// Zero everywhere.
    pub fn new() -> Self {
        Self::default()
    }

    /// The numbers now. Each is read atomically, but not all of them at the same instant.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let c = &*self.0;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        MetricsSnapshot {
            sent: load(&c.sent),
            failed: load(&c.failed),
            unknown: load(&c.unknown),
            retried: load(&c.retried),
            recipients_accepted: load(&c.recipients_accepted),
            recipients_rejected: load(&c.recipients_rejected),
            connections: load(&c.connections),
            connect_failures: load(&c.connect_failures),
            breaker_opened: load(&c.breaker_opened),
            connect: c.connect.snapshot(),
            tls: c.tls.snapshot(),
            auth: c.auth.snapshot(),
            transaction: c.transaction.snapshot(),
            send: c.send.snapshot(),
        }
    }
}

impl Observer for Metrics {
    fn on_event(&self, event: &Event<'_>) {
        let c = &*self.0;
        let add = |counter: &AtomicU64, n: usize| {
            counter.fetch_add(n as u64, Ordering::Relaxed);
        };
        match *event {
            Event::Connected { duration } => {
                add(&c.connections, 1);
                c.connect.record(duration);
            }
            Event::TlsEstablished { duration, .. } => c.tls.record(duration),
            Event::Authenticated { duration } => c.auth.record(duration),
            Event::ConnectFailed { .. } => add(&c.connect_failures, 1),
            Event::MessageAccepted { duration, .. } | Event::AttemptFailed { duration, .. } => {
                c.transaction.record(duration);
            }
            Event::RetryScheduled { .. } => add(&c.retried, 1),
            Event::BreakerOpened { .. } => add(&c.breaker_opened, 1),
            Event::Finished {
                accepted,
                rejected,
                unknown,
                duration,
                ..
            } => {
                let counter = if unknown > 0 {
                    &c.unknown
                } else if accepted > 0 {
                    &c.sent
                } else {
                    &c.failed
                };
                add(counter, 1);
                add(&c.recipients_accepted, accepted);
                add(&c.recipients_rejected, rejected);
                c.send.record(duration);
            }
            _ => {}
        }
    }
}

/// Upper bounds of the buckets, in microseconds: 1-2-5 steps from 100 µs to 10 min, so
/// loopback round trips and a slow provider's final reply both land in a useful bucket.
const BOUNDS_US: [u64; 22] = [
    100,
    200,
    500,
    1_000,
    2_000,
    5_000,
    10_000,
    20_000,
    50_000,
    100_000,
    200_000,
    500_000,
    1_000_000,
    2_000_000,
    5_000_000,
    10_000_000,
    20_000_000,
    50_000_000,
    100_000_000,
    200_000_000,
    300_000_000,
    600_000_000,
];

/// Durations counted into fixed buckets; the last bucket takes everything longer.
#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; BOUNDS_US.len() + 1],
    count: AtomicU64,
    sum_us: AtomicU64,
    max_us: AtomicU64,
}

impl Histogram {
    fn record(&self, duration: Duration) {
        let us = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        let index = BOUNDS_US.partition_point(|&bound| bound < us);
        if let Some(bucket) = self.buckets.get(index) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            buckets: self
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
            count: self.count.load(Ordering::Relaxed),
            sum: Duration::from_micros(self.sum_us.load(Ordering::Relaxed)),
            max: Duration::from_micros(self.max_us.load(Ordering::Relaxed)),
        }
    }
}

/// A latency histogram at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistogramSnapshot {
    buckets: Vec<u64>,
    count: u64,
    sum: Duration,
    max: Duration,
}

impl HistogramSnapshot {
    /// How many durations were recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Their sum.
    pub fn sum(&self) -> Duration {
        self.sum
    }

    /// The longest.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The average, if any was recorded.
    pub fn mean(&self) -> Option<Duration> {
        let nanos = self.sum.as_nanos().checked_div(u128::from(self.count))?;
        Some(Duration::from_nanos(
            u64::try_from(nanos).unwrap_or(u64::MAX),
        ))
    }

    /// An upper bound for the `q` quantile (0.5 for the median, 0.99…): the upper bound of
    /// the bucket it falls in, or the maximum if that is lower. `None` if nothing was recorded.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.count == 0 {
            return None;
        }
        // The rank of the quantile, 1-based: ceil(q × count), at least 1.
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (bucket, bound) in self.buckets() {
            seen += bucket;
            if seen >= rank {
                return Some(bound.map_or(self.max, |bound| bound.min(self.max)));
            }
        }
        Some(self.max)
    }

    /// Each bucket's count with its upper bound; `None` for the last, unbounded one.
    pub fn buckets(&self) -> impl Iterator<Item = (u64, Option<Duration>)> + '_ {
        let bounds = BOUNDS_US
            .iter()
            .map(|&us| Some(Duration::from_micros(us)))
            .chain(std::iter::once(None));
        self.buckets.iter().copied().zip(bounds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_bucket_bounds_capped_by_the_maximum() {
        let histogram = Histogram::default();
        for ms in [1, 1, 1, 3, 40] {
            histogram.record(Duration::from_millis(ms));
        }
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.count(), 5);
        assert_eq!(snapshot.quantile(0.5), Some(Duration::from_millis(1)));
        assert_eq!(snapshot.quantile(0.8), Some(Duration::from_millis(5)));
        assert_eq!(snapshot.quantile(1.0), Some(Duration::from_millis(40)));
        assert_eq!(snapshot.mean(), Some(Duration::from_micros(9_200)));
        assert_eq!(HistogramSnapshot::default().quantile(0.5), None);
    }

    #[test]
    fn longer_than_the_last_bound_lands_in_the_open_bucket() {
        let histogram = Histogram::default();
        histogram.record(Duration::from_secs(3600));
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.buckets().last(), Some((1, None)));
        assert_eq!(snapshot.quantile(0.5), Some(Duration::from_secs(3600)));
    }
}
