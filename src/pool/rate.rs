//! The pool's send rate: messages and recipients per interval, shared by every task, waited
//! for rather than refused.

use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// At most `count` per `interval`, in any interval of that length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    count: u32,
    interval: Duration,
}

impl Rate {
    /// `count` per `interval`; a count of 0 is taken as 1.
    pub fn new(count: u32, interval: Duration) -> Self {
        Self {
            count: count.max(1),
            interval,
        }
    }

    /// `count` per second.
    pub fn per_second(count: u32) -> Self {
        Self::new(count, Duration::from_secs(1))
    }

    /// `count` per minute, the unit providers usually state their limits in.
    pub fn per_minute(count: u32) -> Self {
        Self::new(count, Duration::from_secs(60))
    }

    /// How many per interval.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }
}

/// Token buckets for messages and recipients, taken from together.
///
/// Each bucket holds `count` tokens, and a token spent comes back one interval later, never
/// sooner. Unlike a bucket refilled at a steady rate, no window of the interval's length can
/// then see more than `count` sends, bursts included: N in the window, never N + 1.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    /// Held while waiting, so waiters are served in arrival order (tokio's mutex is fair).
    buckets: Mutex<[Option<Bucket>; 2]>,
}

impl RateLimiter {
    pub(crate) fn new(messages: Option<Rate>, recipients: Option<Rate>) -> Option<Self> {
        if messages.is_none() && recipients.is_none() {
            return None;
        }
        Some(Self {
            buckets: Mutex::new([messages.map(Bucket::new), recipients.map(Bucket::new)]),
        })
    }

    /// Waits until one message with `recipients` recipients may go, then takes its tokens.
    ///
    /// Cancel-safe: tokens are taken only when the wait is over, all at once.
    pub(crate) async fn acquire(&self, recipients: usize) {
        let recipients = u32::try_from(recipients).unwrap_or(u32::MAX);
        let mut buckets = self.buckets.lock().await;
        let [messages, rcpts] = &mut *buckets;
        loop {
            let now = Instant::now();
            let mut ready = now;
            for (bucket, tokens) in [(messages.as_mut(), 1), (rcpts.as_mut(), recipients)] {
                if let Some(bucket) = bucket {
                    bucket.refill(now);
                    ready = ready.max(bucket.ready_at(now, tokens));
                }
            }
            if ready <= now {
                for (bucket, tokens) in [(messages.as_mut(), 1), (rcpts.as_mut(), recipients)] {
                    if let Some(bucket) = bucket {
                        bucket.take(now, tokens);
                    }
                }
                return;
            }
            tokio::time::sleep_until(ready).await;
        }
    }
}

/// One bucket: the tokens spent in the last interval, each with when it comes back.
#[derive(Debug)]
struct Bucket {
    rate: Rate,
    spent: VecDeque<(Instant, u64)>,
    out: u64,
}

impl Bucket {
    fn new(rate: Rate) -> Self {
        Self {
            rate,
            spent: VecDeque::new(),
            out: 0,
        }
    }

    /// Puts back the tokens due by `now`.
    fn refill(&mut self, now: Instant) {
        while let Some(&(back, n)) = self.spent.front() {
            if back > now {
                break;
            }
            self.out -= n;
            self.spent.pop_front();
        }
    }

    /// When `tokens` will be in the bucket. A request larger than the bucket waits for a
    /// full one: it could never be served otherwise.
    fn ready_at(&self, now: Instant, tokens: u32) -> Instant {
        let capacity = u64::from(self.rate.count);
        let wanted = u64::from(tokens).min(capacity);
        let mut short = (self.out + wanted).saturating_sub(capacity);
        if short == 0 {
            return now;
        }
        for &(back, n) in &self.spent {
            short = short.saturating_sub(n);
            if short == 0 {
                return back;
            }
        }
        now
    }

    fn take(&mut self, now: Instant, tokens: u32) {
        let back = now + self.rate.interval;
        let tokens = u64::from(tokens);
        self.out += tokens;
        // Tokens spent within a thousandth of the interval of the last ones come back with
        // them: at most that much late, never early, and the log holds at most a thousand
        // entries however high the rate.
        if let Some((last, n)) = self.spent.back_mut() {
            if back.saturating_duration_since(*last) <= self.rate.interval / 1000 {
                *last = back;
                *n += tokens;
                return;
            }
        }
        self.spent.push_back((back, tokens));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn n_per_window_never_n_plus_one() {
        let limiter = RateLimiter::new(Some(Rate::per_second(5)), None);
        let Some(limiter) = limiter else { return };
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..12 {
            limiter.acquire(1).await;
            times.push(start.elapsed());
        }
        let in_first_second = times
            .iter()
            .filter(|t| **t < Duration::from_secs(1))
            .count();
        assert_eq!(in_first_second, 5);
        for (earlier, later) in times.iter().zip(times.iter().skip(5)) {
            assert!(*later - *earlier >= Duration::from_secs(1), "{times:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_limit_never_reached_keeps_a_short_log() {
        let mut bucket = Bucket::new(Rate::per_second(u32::MAX));
        let start = Instant::now();
        for i in 0..100_000 {
            let now = start + Duration::from_micros(10 * i);
            bucket.refill(now);
            assert_eq!(bucket.ready_at(now, 1), now);
            bucket.take(now, 1);
        }
        assert!(bucket.spent.len() <= 1001, "{} entries", bucket.spent.len());
    }

    #[tokio::test(start_paused = true)]
    async fn recipients_count_by_the_recipient() {
        let limiter = RateLimiter::new(None, Some(Rate::per_minute(10)));
        let Some(limiter) = limiter else { return };
        let start = Instant::now();
        limiter.acquire(4).await;
        limiter.acquire(4).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        limiter.acquire(4).await;
        assert_eq!(start.elapsed(), Duration::from_secs(60));
        // More than the bucket holds: waits for a full bucket, then goes alone.
        limiter.acquire(25).await;
        assert_eq!(start.elapsed(), Duration::from_secs(120));
    }
}
