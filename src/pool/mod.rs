//! Reliable sending at volume: a pool of connections to one server and account, with retries,
//! a rate limit, a circuit breaker and observability.
//!
//! ```no_run
//! use smtpwire::address::Mailbox;
//! use smtpwire::auth::Credentials;
//! use smtpwire::envelope::{Envelope, Recipient};
//! use smtpwire::pool::{Mailer, Metrics, Rate, RetryPolicy};
//! use smtpwire::session::Status;
//! use smtpwire::transport::ClientConfig;
//!
//! # async fn send() -> Result<(), Box<dyn std::error::Error>> {
//! let credentials = Credentials::new("1234567@qq.com", std::env::var("QQ_AUTH_CODE")?);
//! let config = ClientConfig::new("smtp.qq.com", 465)
//!     .map_session(|session| session.with_credentials(credentials));
//! let metrics = Metrics::new();
//! let mailer = Mailer::builder(config)
//!     .max_connections(2)
//!     .message_rate(Rate::per_minute(20))
//!     .retry(RetryPolicy::default().with_max_attempts(5))
//!     .observer(metrics.clone())
//!     .build();
//!
//! let envelope = Envelope::new(
//!     Some(Mailbox::parse("1234567@qq.com")?),
//!     [Recipient::new(Mailbox::parse("friend@163.com")?)],
//! )?;
//! match mailer.send(envelope, b"Subject: code\r\n\r\n123456\r\n").await {
//!     Ok(report) => println!("queued as {:?}", report.queue_id()),
//!     // Nothing accepted: each recipient says whether it may have the message all the same.
//!     Err(error) => for recipient in error.report().into_iter().flat_map(|r| r.with_status(Status::Unknown)) {
//!         println!("{} may have it: do not resend blindly", recipient.mailbox());
//!     },
//! }
//! mailer.close().await;
//! # Ok(())
//! # }
//! ```
//!
//! Honest about delivery: a message goes out once, not twice and not silently zero times.
//! A recipient is sent to again only when the last attempt certainly did not deliver to it
//! (a 4xx reply, a timeout or a lost connection before the end of the data); recipients
//! already accepted are never sent again; 5xx replies are final; and when the connection is
//! lost after the end of the data the recipient is reported [`Status::Unknown`] rather than
//! retried, unless [`RetryPolicy::retry_delivery_unknown`] says otherwise.
//!
//! Every future here is cancel-safe: dropping a send at any point leaks no rate tokens and
//! returns no half-used connection to the pool.

mod breaker;
mod connections;
mod events;
mod metrics;
mod outcome;
mod rate;
mod retry;

pub use breaker::BreakerPolicy;
pub use events::{CloseReason, Event, Observer};
pub use metrics::{HistogramSnapshot, Metrics, MetricsSnapshot};
pub use rate::Rate;
pub use retry::RetryPolicy;

use breaker::{Breaker, Transition};
use connections::{Connections, Lease};
use events::Observers;
use outcome::Tally;
use rate::RateLimiter;

use crate::envelope::Envelope;
use crate::error::{Error, ErrorKind, Phase};
use crate::mime::Message;
use crate::session::{Report, Status};
use crate::transport::{Client, ClientConfig};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Once, Weak};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Opens the connections of a [`Mailer`]: over TCP by default ([`Tcp`]); through a proxy, a
/// Unix socket or an in-memory pipe with [`Client::connect_with`].
pub trait Connector: Send + Sync + 'static {
    /// The stream the sessions run over.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Opens a connection and runs the session up to ready, as [`Client::connect`] does.
    fn connect(
        &self,
        config: &ClientConfig,
    ) -> impl Future<Output = Result<Client<Self::Stream>, Error>> + Send;
}

/// Connects over TCP with [`Client::connect`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Tcp;

impl Connector for Tcp {
    type Stream = TcpStream;

    fn connect(
        &self,
        config: &ClientConfig,
    ) -> impl Future<Output = Result<Client<TcpStream>, Error>> + Send {
        Client::connect(config.clone())
    }
}

/// A pooled sender for one server and account: cheap to clone, shared by every task.
///
/// Build one with [`Mailer::builder`], send with [`Mailer::send`], and say goodbye with
/// [`Mailer::close`] (dropping the last clone closes the connections without QUIT).
pub struct Mailer<C: Connector = Tcp> {
    shared: Arc<Shared<C>>,
}

impl<C: Connector> Clone for Mailer<C> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<C: Connector> fmt::Debug for Mailer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("host", &self.shared.config.host)
            .field("port", &self.shared.config.port)
            .finish_non_exhaustive()
    }
}

struct Shared<C: Connector> {
    config: ClientConfig,
    connector: C,
    connections: Connections<C::Stream>,
    check_after: Duration,
    idle_timeout: Duration,
    retry: RetryPolicy,
    rate: Option<RateLimiter>,
    breaker: Breaker,
    observers: Observers,
    reaper: Once,
}

/// Settings for a [`Mailer`]; every one has a default.
pub struct MailerBuilder<C = Tcp> {
    config: ClientConfig,
    connector: C,
    max_connections: usize,
    idle_check_after: Duration,
    idle_timeout: Duration,
    retry: RetryPolicy,
    message_rate: Option<Rate>,
    recipient_rate: Option<Rate>,
    breaker: BreakerPolicy,
    observers: Observers,
}

impl Mailer {
    /// Settings for a mailer to the server and account of `config`.
    pub fn builder(config: ClientConfig) -> MailerBuilder {
        MailerBuilder {
            config,
            connector: Tcp,
            max_connections: 4,
            idle_check_after: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            message_rate: None,
            recipient_rate: None,
            breaker: BreakerPolicy::default(),
            observers: Observers::default(),
        }
    }
}

impl<C: Connector> MailerBuilder<C> {
    settings! {
        /// Most connections open at once, and so most sends at once (default 4). Providers
        /// limit concurrent connections per account; more than they allow gets refused with
        /// 421.
        set max_connections: usize => max_connections;
        /// A connection idle for longer than this is checked with NOOP before use (default
        /// 10 s). Below it, it is used as is: no round trip per message.
        set idle_check_after: Duration => idle_check_after;
        /// A connection idle for this long is closed with QUIT (default 60 s), by a task that
        /// looks every quarter of it.
        set idle_timeout: Duration => idle_timeout;
        /// When to try again (default: [`RetryPolicy::default`]).
        set retry: RetryPolicy => retry;
        /// Most messages per interval, for the whole pool (default: no limit). Sends wait.
        set_optional message_rate: Rate => message_rate;
        /// Most recipients per interval, for the whole pool (default: no limit). Sends wait.
        set_optional recipient_rate: Rate => recipient_rate;
        /// When to stop opening connections (default: [`BreakerPolicy::default`]).
        set breaker: BreakerPolicy => breaker;
    }

    /// Adds an observer of the mailer's events, e.g. a [`Metrics`].
    #[must_use]
    pub fn observer(mut self, observer: impl Observer) -> Self {
        self.observers.push(Arc::new(observer));
        self
    }

    /// Opens connections with `connector` instead.
    #[must_use]
    pub fn connector<D: Connector>(self, connector: D) -> MailerBuilder<D> {
        MailerBuilder {
            config: self.config,
            connector,
            max_connections: self.max_connections,
            idle_check_after: self.idle_check_after,
            idle_timeout: self.idle_timeout,
            retry: self.retry,
            message_rate: self.message_rate,
            recipient_rate: self.recipient_rate,
            breaker: self.breaker,
            observers: self.observers,
        }
    }

    /// The mailer. No connection is opened until the first send.
    pub fn build(self) -> Mailer<C> {
        Mailer {
            shared: Arc::new(Shared {
                connections: Connections::new(self.max_connections, self.idle_timeout),
                config: self.config,
                connector: self.connector,
                check_after: self.idle_check_after,
                idle_timeout: self.idle_timeout,
                retry: self.retry,
                rate: RateLimiter::new(self.message_rate, self.recipient_rate),
                breaker: Breaker::new(self.breaker),
                observers: self.observers,
                reaper: Once::new(),
            }),
        }
    }
}

impl<C: Connector> Mailer<C> {
    /// Sends one message to the envelope's recipients, retrying those that failed
    /// transiently, and reports what became of each.
    ///
    /// `message` is the complete RFC 5322 message, as for [`Client::send`].
    ///
    /// # Errors
    /// When no recipient was accepted: why, with each recipient's [`Status`] in
    /// [`Error::report`]. With some accepted it returns `Ok`; check [`Report::is_complete`]
    /// for the others.
    pub async fn send(&self, envelope: Envelope, message: &[u8]) -> Result<Report, Error> {
        self.traced(self.send_with_retries(envelope, Body::Bytes(message)))
            .await
    }

    /// Sends a built MIME message to the envelope it implies, streaming it (file attachments
    /// read chunk by chunk) as [`Client::send_message`] does, with the retries of
    /// [`Mailer::send`].
    ///
    /// # Errors
    /// As [`Mailer::send`]; an envelope that cannot be made from the message, before anything
    /// is sent.
    pub async fn send_message(&self, message: &Message) -> Result<Report, Error> {
        let envelope =
            Envelope::for_message(message).map_err(|e| Error::input(Phase::MailFrom, e))?;
        self.send_message_with(envelope, message).await
    }

    /// As [`Mailer::send_message`], with an envelope of the caller's ([`Envelope::for_message`]
    /// with delivery status notifications asked for, say).
    ///
    /// # Errors
    /// As [`Mailer::send`].
    pub async fn send_message_with(
        &self,
        envelope: Envelope,
        message: &Message,
    ) -> Result<Report, Error> {
        self.traced(self.send_with_retries(envelope, Body::Message(message)))
            .await
    }

    async fn traced<F: Future<Output = Result<Report, Error>>>(
        &self,
        work: F,
    ) -> Result<Report, Error> {
        #[cfg(feature = "tracing")]
        let work = tracing::Instrument::instrument(
            work,
            tracing::info_span!("smtpwire.send", host = %self.shared.config.host),
        );
        work.await
    }

    /// Closes the pool: later sends fail with [`ErrorKind::MailerClosed`], idle connections
    /// say QUIT now, and busy ones when their sends end.
    pub async fn close(&self) {
        for mut client in self.shared.connections.close() {
            self.shared.observers.emit(Event::ConnectionClosed {
                reason: CloseReason::Shutdown,
            });
            let _ = client.quit().await;
        }
    }

    async fn send_with_retries(&self, envelope: Envelope, body: Body<'_>) -> Result<Report, Error> {
        self.start_reaper();
        let shared = &*self.shared;
        let started = Instant::now();
        let mut tally = Tally::new(&envelope, shared.retry.retry_delivery_unknown());
        let mut attempts = 0;
        loop {
            attempts += 1;
            let pending = tally.pending();
            let result = self
                .attempt(envelope.with_recipients(pending.clone()), body)
                .await;
            tally.on_attempt(&pending, result);
            let recipients = tally.pending_count();
            if recipients == 0 || attempts >= shared.retry.max_attempts() {
                break;
            }
            let delay = shared.retry.delay(attempts);
            if started.elapsed() + delay > shared.retry.max_elapsed() {
                break;
            }
            shared.observers.emit(Event::RetryScheduled {
                attempt: attempts + 1,
                delay,
                recipients,
            });
            tokio::time::sleep(delay).await;
        }
        let result = tally.finish(attempts, started.elapsed());
        let report = match &result {
            Ok(report) => Some(report),
            Err(error) => error.report(),
        };
        let count = |statuses: &[Status]| {
            report.map_or(0, |r| {
                r.recipients()
                    .iter()
                    .filter(|x| statuses.contains(&x.status()))
                    .count()
            })
        };
        shared.observers.emit(Event::Finished {
            accepted: count(&[Status::Accepted]),
            rejected: count(&[Status::Rejected]),
            not_sent: count(&[Status::Deferred, Status::NotSent]),
            unknown: count(&[Status::Unknown]),
            attempts,
            duration: started.elapsed(),
        });
        result
    }

    /// One attempt for the pending recipients, over a pooled connection.
    async fn attempt(&self, envelope: Envelope, body: Body<'_>) -> Result<Report, Error> {
        let observers = &self.shared.observers;
        let mut lease = self.ready_connection(envelope.recipients().len()).await?;
        let started = Instant::now();
        let sent = lease.send(envelope, body).await;
        let duration = started.elapsed();
        match &sent {
            Ok(report) => {
                self.report_accepted(report, duration);
                self.report_unknown(report);
            }
            Err(error) => {
                observers.emit(Event::AttemptFailed { error, duration });
                if let Some(report) = error.report() {
                    self.report_unknown(report);
                }
            }
        }
        sent
    }

    /// Says which recipients may have the message without a reply saying so, and why.
    fn report_unknown(&self, report: &Report) {
        let unknown = report.with_status(Status::Unknown).count();
        if let Some(error) = report.with_status(Status::Unknown).find_map(|r| r.error()) {
            self.shared.observers.emit(Event::DeliveryUnknown {
                error,
                recipients: unknown,
            });
        }
    }

    /// A connection ready to send now: from the pool or new, cleared by the rate limit, and
    /// checked with NOOP if it sat idle too long, in the pool or waiting for the rate limit.
    async fn ready_connection(&self, recipients: usize) -> Result<Lease<'_, C::Stream>, Error> {
        let shared = &*self.shared;
        let mut lease = self.checkout().await?;
        if let Some(rate) = &shared.rate {
            rate.acquire(recipients).await;
        }
        loop {
            if lease.idle_for() < shared.check_after || lease.check().await.is_ok() {
                return Ok(lease);
            }
            // Its slot first: with a pool of one, the next checkout waits for it.
            drop(lease);
            lease = self.checkout().await?;
        }
    }

    fn report_accepted(&self, report: &Report, duration: Duration) {
        let observers = &self.shared.observers;
        for recipient in report.recipients() {
            match (recipient.is_accepted(), recipient.reply()) {
                (true, _) => observers.emit(Event::RecipientAccepted {
                    recipient: recipient.mailbox(),
                }),
                (false, Some(reply)) => observers.emit(Event::RecipientRejected {
                    recipient: recipient.mailbox(),
                    reply,
                    status: recipient.status(),
                }),
                (false, None) => {}
            }
        }
        if let Some(reply) = report.final_reply() {
            let queue_id = report.queue_id();
            observers.emit(Event::MessageAccepted {
                reply,
                queue_id: queue_id.as_deref(),
                duration,
            });
        }
    }

    /// A connection from the pool, or a new one if the breaker lets it open.
    async fn checkout(&self) -> Result<Lease<'_, C::Stream>, Error> {
        let shared = &*self.shared;
        shared
            .connections
            .checkout(&shared.observers, || self.connect())
            .await
    }

    async fn connect(&self) -> Result<Client<C::Stream>, Error> {
        let work = self.connect_through_breaker();
        #[cfg(feature = "tracing")]
        let work = tracing::Instrument::instrument(
            work,
            tracing::info_span!(
                "smtpwire.connect",
                host = %self.shared.config.host,
                port = self.shared.config.port
            ),
        );
        work.await
    }

    async fn connect_through_breaker(&self) -> Result<Client<C::Stream>, Error> {
        let shared = &*self.shared;
        let (ticket, transition) = shared.breaker.admit().map_err(|retry_after| {
            Error::new(ErrorKind::CircuitOpen { retry_after }, Phase::Connect)
        })?;
        self.report(transition);
        let started = Instant::now();
        let connected = shared.connector.connect(&shared.config).await;
        let duration = started.elapsed();
        let transition = ticket.record(connected.as_ref().err());
        match &connected {
            Ok(client) => {
                shared.observers.emit(Event::Connected { duration });
                if let Some(tls) = client.tls_info() {
                    shared.observers.emit(Event::TlsEstablished {
                        protocol: &tls.protocol,
                        cipher_suite: &tls.cipher_suite,
                        verified: tls.verified,
                        duration: tls.handshake,
                    });
                }
                if let Some(duration) = client.auth_duration() {
                    shared.observers.emit(Event::Authenticated { duration });
                }
            }
            Err(error) => shared
                .observers
                .emit(Event::ConnectFailed { error, duration }),
        }
        self.report(transition);
        connected
    }

    fn report(&self, transition: Option<Transition>) {
        let event = match transition {
            None => return,
            Some(Transition::Opened {
                failures,
                cool_down,
            }) => Event::BreakerOpened {
                failures,
                cool_down,
            },
            Some(Transition::HalfOpen) => Event::BreakerHalfOpen,
            Some(Transition::Closed) => Event::BreakerClosed,
        };
        self.shared.observers.emit(event);
    }

    /// Starts, once, the task that closes connections left idle past the timeout. It holds
    /// the mailer weakly and ends with it.
    fn start_reaper(&self) {
        let shared = &*self.shared;
        shared.reaper.call_once(|| {
            let period = (shared.idle_timeout / 4).max(Duration::from_millis(100));
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(reap(Arc::downgrade(&self.shared), period));
            }
        });
    }
}

/// A message's data, for every attempt.
#[derive(Clone, Copy)]
enum Body<'a> {
    Bytes(&'a [u8]),
    Message(&'a Message),
}

async fn reap<C: Connector>(shared: Weak<Shared<C>>, period: Duration) {
    let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(strong) = shared.upgrade() else {
            return;
        };
        let expired = strong.connections.take_expired();
        for _ in &expired {
            strong.observers.emit(Event::ConnectionClosed {
                reason: CloseReason::IdleTimeout,
            });
        }
        drop(strong);
        for mut client in expired {
            let _ = client.quit().await;
        }
    }
}
