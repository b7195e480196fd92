//! The circuit breaker: stop opening connections to a server that keeps refusing them, and
//! at once when it refuses the credentials.

use crate::error::Error;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// When the breaker opens, and for how long.
///
/// It guards the opening of connections: while it is open, a send that needs a new one fails
/// fast with [`ErrorKind::CircuitOpen`], while connections already open, and so proven, go on
/// serving. Connections being opened when it opens still finish, so a refused password may
/// be tried once per connection opening at that moment, never again until a probe succeeds.
///
/// [`ErrorKind::CircuitOpen`]: crate::ErrorKind::CircuitOpen
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerPolicy {
    failures: u32,
    cool_down: Duration,
}

impl Default for BreakerPolicy {
    /// Open after 5 consecutive failures, for 30 s.
    fn default() -> Self {
        Self {
            failures: 5,
            cool_down: Duration::from_secs(30),
        }
    }
}

impl BreakerPolicy {
    /// Opens after `failures` consecutive failed connections (0 is taken as 1), and fails fast
    /// for `cool_down` before letting one probe through.
    pub fn new(failures: u32, cool_down: Duration) -> Self {
        Self {
            failures: failures.max(1),
            cool_down,
        }
    }
}

/// A change of the breaker's state, for the event hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transition {
    Opened { failures: u32, cool_down: Duration },
    HalfOpen,
    Closed,
}

#[derive(Debug)]
pub(crate) struct Breaker {
    policy: BreakerPolicy,
    state: Mutex<State>,
}

#[derive(Clone, Copy, Debug)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
        failures: u32,
    },
    /// One probe connection is under way; everyone else still fails fast.
    Probing {
        failures: u32,
    },
}

impl Breaker {
    pub(crate) fn new(policy: BreakerPolicy) -> Self {
        Self {
            policy,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    /// Asks to open a connection: a ticket to report the result on, or how long to wait.
    pub(crate) fn admit(&self) -> Result<(Ticket<'_>, Option<Transition>), Duration> {
        let mut state = self.lock();
        let now = Instant::now();
        match *state {
            State::Closed { .. } => Ok((self.ticket(false), None)),
            State::Open { until, failures } if until <= now => {
                *state = State::Probing { failures };
                Ok((self.ticket(true), Some(Transition::HalfOpen)))
            }
            State::Open { until, .. } => Err(until - now),
            // The probe has at most a connect timeout to answer; waiting a cool-down is safe.
            State::Probing { .. } => Err(self.policy.cool_down),
        }
    }

    fn ticket(&self, probe: bool) -> Ticket<'_> {
        Ticket {
            breaker: self,
            probe,
            done: false,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is a few words, always written whole: a panic elsewhere cannot tear it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, error: Option<&Error>) -> Option<Transition> {
        let mut state = self.lock();
        let previous = *state;
        let failures = match previous {
            State::Closed { failures } | State::Open { failures, .. } => failures,
            State::Probing { failures } => failures,
        };
        let Some(error) = error else {
            *state = State::Closed { failures: 0 };
            return (!matches!(previous, State::Closed { .. })).then_some(Transition::Closed);
        };
        let failures = failures.saturating_add(1);
        let open = error.is_auth_refusal()
            || failures >= self.policy.failures
            || matches!(previous, State::Probing { .. });
        if !open {
            *state = State::Closed { failures };
            return None;
        }
        let until = Instant::now() + self.policy.cool_down;
        *state = State::Open { until, failures };
        // Already open: a connection admitted before it opened failed too.
        (!matches!(previous, State::Open { .. })).then_some(Transition::Opened {
            failures,
            cool_down: self.policy.cool_down,
        })
    }

    /// A probe that never reported (its task was dropped) lets the next caller probe.
    fn abandon_probe(&self) {
        let mut state = self.lock();
        if let State::Probing { failures } = *state {
            *state = State::Open {
                until: Instant::now(),
                failures,
            };
        }
    }
}

/// Permission to open one connection; report how it went with [`Ticket::record`].
#[derive(Debug)]
pub(crate) struct Ticket<'a> {
    breaker: &'a Breaker,
    probe: bool,
    done: bool,
}

impl Ticket<'_> {
    /// Reports the connection's result: `None` for success.
    pub(crate) fn record(mut self, error: Option<&Error>) -> Option<Transition> {
        self.done = true;
        self.breaker.record(error)
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if self.probe && !self.done {
            self.breaker.abandon_probe();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorKind, Phase};
    use crate::reply::{Reply, ReplyCode};

    fn refused(phase: Phase, code: u16) -> Error {
        let code = ReplyCode::new(code).unwrap_or(ReplyCode::TRANSACTION_FAILED);
        Error::rejected(phase, Reply::new(code, None, Vec::new()))
    }

    fn connect_and_fail(breaker: &Breaker, error: &Error) -> Option<Transition> {
        match breaker.admit() {
            Ok((ticket, _)) => ticket.record(Some(error)),
            Err(_) => None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_n_failures_then_probes_once() {
        let breaker = Breaker::new(BreakerPolicy::new(3, Duration::from_secs(10)));
        let lost = Error::new(ErrorKind::ConnectionClosed, Phase::Greeting);
        assert_eq!(connect_and_fail(&breaker, &lost), None);
        assert_eq!(connect_and_fail(&breaker, &lost), None);
        assert_eq!(
            connect_and_fail(&breaker, &lost),
            Some(Transition::Opened {
                failures: 3,
                cool_down: Duration::from_secs(10)
            })
        );
        assert_eq!(breaker.admit().err(), Some(Duration::from_secs(10)));
        tokio::time::advance(Duration::from_secs(10)).await;
        let admitted = breaker.admit();
        assert!(admitted.is_ok(), "a probe after the cool-down");
        if let Ok((probe, transition)) = admitted {
            assert_eq!(transition, Some(Transition::HalfOpen));
            assert!(breaker.admit().is_err(), "one probe at a time");
            assert_eq!(probe.record(None), Some(Transition::Closed));
        }
        assert!(breaker.admit().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_password_opens_at_once_a_busy_one_does_not() {
        let breaker = Breaker::new(BreakerPolicy::default());
        assert_eq!(connect_and_fail(&breaker, &refused(Phase::Auth, 454)), None);
        assert!(matches!(
            connect_and_fail(&breaker, &refused(Phase::Auth, 535)),
            Some(Transition::Opened { failures: 2, .. })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_or_dropped_probe_keeps_it_open() {
        let breaker = Breaker::new(BreakerPolicy::new(1, Duration::from_secs(1)));
        let lost = Error::new(ErrorKind::Timeout, Phase::Connect);
        assert!(connect_and_fail(&breaker, &lost).is_some());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(matches!(
            connect_and_fail(&breaker, &lost),
            Some(Transition::Opened { .. })
        ));
        tokio::time::advance(Duration::from_secs(1)).await;
        drop(breaker.admit());
        assert!(breaker.admit().is_ok(), "a dropped probe frees the way");
    }
}
