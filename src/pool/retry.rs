//! When to try a message again: exponential backoff with full jitter, bounded in attempts and
//! in total time.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often, and how long, to try again after a transient failure.
///
/// The delay before retry `n` (1 after the first attempt) is drawn uniformly from
/// `[0, min(max_delay, initial_delay × 2ⁿ⁻¹))`: "full jitter", which spreads out the retries of
/// many sends that failed together instead of sending them back in step.
///
/// What is retried is decided by the typed error, never by this policy: 4xx replies,
/// timeouts and lost connections before the end of the data was sent. 5xx replies are never
/// retried, nor is a message whose delivery is unknown unless
/// [`RetryPolicy::with_retry_delivery_unknown`] says so.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_delay: Duration,
    max_delay: Duration,
    max_elapsed: Duration,
    retry_delivery_unknown: bool,
    jitter: Option<Arc<SplitMix64>>,
}

impl Default for RetryPolicy {
    /// 4 attempts, 1 s doubling up to 1 min, no retry started after 5 min.
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            max_elapsed: Duration::from_secs(5 * 60),
            retry_delivery_unknown: false,
            jitter: Some(Arc::new(SplitMix64::from_entropy())),
        }
    }
}

impl RetryPolicy {
    /// One attempt only.
    pub fn never() -> Self {
        Self::default().with_max_attempts(1)
    }

    /// Attempts in all, the first included (default 4); 0 is taken as 1.
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Attempts in all, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    settings! {
        /// The ceiling of the first delay (default 1 s); it doubles with each retry.
        copy initial_delay: Duration => with_initial_delay;
        /// The most any delay may be (default 1 min).
        copy max_delay: Duration => with_max_delay;
        /// No retry is started when its delay would end later than this after the first
        /// attempt (default 5 min).
        copy max_elapsed: Duration => with_max_elapsed;
        /// Retries recipients whose delivery is unknown (the connection was lost after the end
        /// of the data): the server may have accepted the message, so a retry may deliver it
        /// twice (default: no).
        copy retry_delivery_unknown: bool => with_retry_delivery_unknown;
    }

    /// Draws the jitter from a fixed seed, for delays that repeat from run to run.
    #[must_use]
    pub fn with_jitter_seed(mut self, seed: u64) -> Self {
        self.jitter = Some(Arc::new(SplitMix64::new(seed)));
        self
    }

    /// Waits the full ceiling each time, without jitter: predictable, and for a single
    /// sender as good; many senders failing together then retry together.
    #[must_use]
    pub fn without_jitter(mut self) -> Self {
        self.jitter = None;
        self
    }

    /// The delay before retry `retry` (1 for the first retry).
    pub(crate) fn delay(&self, retry: u32) -> Duration {
        let ceiling = self.ceiling(retry);
        let Some(random) = &self.jitter else {
            return ceiling;
        };
        // A 64-bit fraction of the ceiling: uniform in [0, ceiling), no floating point.
        let nanos = (ceiling.as_nanos() * u128::from(random.next())) >> 64;
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    fn ceiling(&self, retry: u32) -> Duration {
        let doublings = retry.saturating_sub(1).min(31);
        self.initial_delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay)
    }
}

/// SplitMix64 (Steele, Lea and Flood, 2014) over an atomic counter: lock-free, and random
/// enough to spread retries; nothing here needs a cryptographic generator.
#[derive(Debug)]
struct SplitMix64(AtomicU64);

impl SplitMix64 {
    const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

    fn new(seed: u64) -> Self {
        Self(AtomicU64::new(seed))
    }

    /// Seeded from the per-process random keys of the standard library's hash maps.
    fn from_entropy() -> Self {
        Self::new(RandomState::new().hash_one(0_u8))
    }

    fn next(&self) -> u64 {
        let state = self.0.fetch_add(Self::GAMMA, Ordering::Relaxed);
        let mut z = state.wrapping_add(Self::GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_up_to_the_maximum() {
        let policy = RetryPolicy::default()
            .with_initial_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(1))
            .without_jitter();
        let delays: Vec<u64> = (1..=6)
            .map(|n| policy.delay(n).as_millis() as u64)
            .collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(policy.delay(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_below_the_ceiling_and_spreads() {
        let policy = RetryPolicy::default()
            .with_initial_delay(Duration::from_millis(100))
            .with_jitter_seed(7);
        let delays: Vec<Duration> = (0..1000).map(|_| policy.delay(3)).collect();
        assert!(delays.iter().all(|d| *d < Duration::from_millis(400)));
        let low = delays
            .iter()
            .filter(|d| **d < Duration::from_millis(200))
            .count();
        assert!((400..600).contains(&low), "{low} of 1000 in the lower half");
    }

    #[test]
    fn a_seed_repeats_its_delays() {
        let a = RetryPolicy::default().with_jitter_seed(42);
        let b = RetryPolicy::default().with_jitter_seed(42);
        for retry in 1..10 {
            assert_eq!(a.delay(retry), b.delay(retry));
        }
    }
}
