//! What the mailer reports as it works: an event hook, and with the `tracing` feature the same
//! events as `tracing` events. No event carries a secret: credentials never reach this module.

use crate::address::Mailbox;
use crate::error::Error;
use crate::reply::Reply;
use crate::session::Status;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Something the mailer did or saw. Borrowed, so an observer pays only for what it keeps.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A new connection is ready to send: connected, greeted, TLS and AUTH done as configured.
    Connected {
        /// From the start of the connection to ready.
        duration: Duration,
    },
    /// The new connection is encrypted.
    TlsEstablished {
        /// `TLSv1_3` or `TLSv1_2`.
        protocol: &'a str,
        /// The cipher suite, e.g. `TLS13_AES_256_GCM_SHA384`.
        cipher_suite: &'a str,
        /// Whether the certificate chain and host name were verified.
        verified: bool,
        /// How long the handshake took.
        duration: Duration,
    },
    /// The new connection is authenticated.
    Authenticated {
        /// From the AUTH command to its success.
        duration: Duration,
    },
    /// Opening a connection failed.
    ConnectFailed {
        /// Why.
        error: &'a Error,
        /// From the start of the connection to the failure.
        duration: Duration,
    },
    /// A connection was closed or dropped.
    ConnectionClosed {
        /// Why.
        reason: CloseReason,
    },
    /// The server accepted a recipient: it took responsibility for delivering to it.
    RecipientAccepted {
        /// The recipient.
        recipient: &'a Mailbox,
    },
    /// The server refused a recipient, for now (4xx) or for good (5xx).
    RecipientRejected {
        /// The recipient.
        recipient: &'a Mailbox,
        /// The refusal.
        reply: &'a Reply,
        /// [`Status::Rejected`] for good, [`Status::Deferred`] for now.
        status: Status,
    },
    /// An attempt got the message accepted for at least one recipient.
    MessageAccepted {
        /// The reply to the end of the data.
        reply: &'a Reply,
        /// The server's queue id, when its reply names one (see [`Report::queue_id`]).
        ///
        /// [`Report::queue_id`]: crate::session::Report::queue_id
        queue_id: Option<&'a str>,
        /// The SMTP transaction, from MAIL to the final reply.
        duration: Duration,
    },
    /// An attempt got no recipient accepted: refused, or the connection failed.
    AttemptFailed {
        /// Why.
        error: &'a Error,
        /// The SMTP transaction, from MAIL to the failure.
        duration: Duration,
    },
    /// The connection was lost after the end of the data: these recipients may have the
    /// message, and are not sent to again unless the retry policy says so.
    DeliveryUnknown {
        /// What ended the connection.
        error: &'a Error,
        /// How many recipients are in doubt.
        recipients: usize,
    },
    /// Some recipients failed transiently and will be tried again.
    RetryScheduled {
        /// The attempt about to be made: 2 for the first retry.
        attempt: u32,
        /// How long until then.
        delay: Duration,
        /// How many recipients it is for.
        recipients: usize,
    },
    /// The breaker opened: new connections fail fast for the cool-down.
    BreakerOpened {
        /// Consecutive connection failures so far.
        failures: u32,
        /// How long it stays open.
        cool_down: Duration,
    },
    /// The cool-down is over: one probe connection goes through.
    BreakerHalfOpen,
    /// A connection succeeded: the breaker is closed again.
    BreakerClosed,
    /// A send is over, after every attempt.
    Finished {
        /// Recipients accepted.
        accepted: usize,
        /// Recipients refused for good.
        rejected: usize,
        /// Recipients certainly not sent to.
        not_sent: usize,
        /// Recipients whose delivery is unknown.
        unknown: usize,
        /// Attempts made.
        attempts: u32,
        /// From the call to the result, waits and retries included.
        duration: Duration,
    },
}

/// Why a connection left the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// It stayed idle longer than the idle timeout.
    IdleTimeout,
    /// The session can send no more mail: the server closed it (421), or it failed.
    Unusable,
    /// It had been idle, and did not answer NOOP.
    CheckFailed,
    /// The send using it was dropped halfway: what the server saw is unknown.
    Interrupted,
    /// The mailer was closed.
    Shutdown,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::IdleTimeout => "idle timeout",
            Self::Unusable => "no longer usable",
            Self::CheckFailed => "failed the idle check",
            Self::Interrupted => "send interrupted",
            Self::Shutdown => "mailer closed",
        })
    }
}

/// Receives the mailer's events.
///
/// It is called on the task that caused the event, in the middle of its work: return quickly,
/// and hand anything slow to another task.
pub trait Observer: Send + Sync + 'static {
    /// Called once per event.
    fn on_event(&self, event: &Event<'_>);
}

impl<F> Observer for F
where
    F: Fn(&Event<'_>) + Send + Sync + 'static,
{
    fn on_event(&self, event: &Event<'_>) {
        self(event);
    }
}

/// Every observer of one mailer.
#[derive(Clone, Default)]
pub(crate) struct Observers(Vec<Arc<dyn Observer>>);

impl Observers {
    pub(crate) fn push(&mut self, observer: Arc<dyn Observer>) {
        self.0.push(observer);
    }

    pub(crate) fn emit(&self, event: Event<'_>) {
        for observer in &self.0 {
            observer.on_event(&event);
        }
        #[cfg(feature = "tracing")]
        trace(&event);
    }
}

impl fmt::Debug for Observers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} observers", self.0.len())
    }
}

/// The event as a `tracing` event (target `smtpwire::pool::events`), inside the span of the
/// send or connection it belongs to.
#[cfg(feature = "tracing")]
fn trace(event: &Event<'_>) {
    use tracing::{debug, info, warn};
    match *event {
        Event::Connected { duration } => debug!(?duration, "connected"),
        Event::TlsEstablished {
            protocol,
            cipher_suite,
            verified,
            duration,
        } => debug!(
            protocol,
            cipher_suite,
            verified,
            ?duration,
            "TLS established"
        ),
        Event::Authenticated { duration } => debug!(?duration, "authenticated"),
        Event::ConnectFailed { error, duration } => {
            warn!(%error, ?duration, "connection failed");
        }
        Event::ConnectionClosed { reason } => debug!(%reason, "connection closed"),
        Event::RecipientAccepted { recipient } => debug!(%recipient, "recipient accepted"),
        Event::RecipientRejected {
            recipient, reply, ..
        } => {
            info!(%recipient, %reply, "recipient rejected");
        }
        Event::MessageAccepted {
            reply,
            queue_id,
            duration,
        } => info!(%reply, queue_id, ?duration, "message accepted"),
        Event::AttemptFailed { error, duration } => warn!(%error, ?duration, "attempt failed"),
        Event::DeliveryUnknown { error, recipients } => {
            warn!(%error, recipients, "delivery unknown");
        }
        Event::RetryScheduled {
            attempt,
            delay,
            recipients,
        } => info!(attempt, ?delay, recipients, "retry scheduled"),
        Event::BreakerOpened {
            failures,
            cool_down,
        } => warn!(failures, ?cool_down, "circuit breaker opened"),
        Event::BreakerHalfOpen => info!("circuit breaker half-open: probing"),
        Event::BreakerClosed => info!("circuit breaker closed"),
        Event::Finished {
            accepted,
            rejected,
            not_sent,
            unknown,
            attempts,
            duration,
        } => info!(
            accepted,
            rejected,
            not_sent,
            unknown,
            attempts,
            ?duration,
            "send finished"
        ),
    }
}
