//! The pool's connections: at most N open, reused while usable, checked with NOOP only after
//! idling, closed after idling too long, and never handed back after an interrupted send.

use super::events::{CloseReason, Event, Observers};
use super::Body;
use crate::envelope::Envelope;
use crate::error::{Error, ErrorKind, InputError, Phase};
use crate::session::Report;
use crate::transport::Client;
use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

pub(crate) struct Connections<S> {
    /// Most recently used last: reuse takes the warmest, and the others age out when the
    /// load drops.
    idle: Mutex<Vec<Idle<S>>>,
    /// One permit per connection, idle, busy or being opened; closed by `close`.
    permits: Semaphore,
    idle_timeout: Duration,
}

struct Idle<S> {
    client: Client<S>,
    since: Instant,
}

impl<S> Connections<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    pub(crate) fn new(max: usize, idle_timeout: Duration) -> Self {
        Self {
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(max.clamp(1, Semaphore::MAX_PERMITS)),
            idle_timeout,
        }
    }

    /// Waits for a free slot, then hands out the warmest idle connection, or one opened with
    /// `connect`.
    pub(crate) async fn checkout<'a, F, Fut>(
        &'a self,
        observers: &'a Observers,
        connect: F,
    ) -> Result<Lease<'a, S>, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Client<S>, Error>>,
    {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::new(ErrorKind::MailerClosed, Phase::Connect))?;
        let lease = |client, since| Lease {
            client: Some(client),
            since,
            busy: false,
            pool: self,
            observers,
            _permit: permit,
        };
        loop {
            let Some(idle) = self.lock().pop() else { break };
            if idle.since.elapsed() < self.idle_timeout {
                return Ok(lease(idle.client, idle.since));
            }
            observers.emit(Event::ConnectionClosed {
                reason: CloseReason::IdleTimeout,
            });
            retire(idle.client);
        }
        let client = connect().await?;
        Ok(lease(client, Instant::now()))
    }

    /// Takes the connections idle for longer than the timeout, for the caller to close.
    pub(crate) fn take_expired(&self) -> Vec<Client<S>> {
        let mut idle = self.lock();
        let (expired, kept) = std::mem::take(&mut *idle)
            .into_iter()
            .partition(|i| i.since.elapsed() >= self.idle_timeout);
        *idle = kept;
        expired.into_iter().map(|i| i.client).collect()
    }

    /// Refuses every later checkout and takes the idle connections, for the caller to close.
    /// Busy ones are closed as their sends end.
    pub(crate) fn close(&self) -> Vec<Client<S>> {
        self.permits.close();
        std::mem::take(&mut *self.lock())
            .into_iter()
            .map(|i| i.client)
            .collect()
    }

    fn put_back(&self, client: Client<S>, observers: &Observers) {
        if self.permits.is_closed() {
            observers.emit(Event::ConnectionClosed {
                reason: CloseReason::Shutdown,
            });
            retire(client);
            return;
        }
        self.lock().push(Idle {
            client,
            since: Instant::now(),
        });
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Idle<S>>> {
        // Only pushes and pops happen under the lock: a panic cannot leave it half-changed.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One connection, lent to one send. Dropped, it goes back to the pool only if it is usable
/// and nothing was interrupted on it: a send dropped halfway leaves a session in an unknown
/// state, which is closed rather than reused.
pub(crate) struct Lease<'a, S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// `None` only once dropped.
    client: Option<Client<S>>,
    /// When the connection last did anything.
    since: Instant,
    /// Set while a command is out: a drop then means an interrupted exchange.
    busy: bool,
    pool: &'a Connections<S>,
    observers: &'a Observers,
    _permit: SemaphorePermit<'a>,
}

impl<S> Lease<'_, S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// How long the connection has done nothing: idle in the pool, or held here waiting.
    pub(crate) fn idle_for(&self) -> Duration {
        self.since.elapsed()
    }

    /// Checks the connection with NOOP; one that fails it is closed, and the lease is empty.
    pub(crate) async fn check(&mut self) -> Result<(), Error> {
        self.busy = true;
        let checked = match self.client.as_mut() {
            Some(client) => client.noop().await,
            None => Err(gone(Phase::Noop)),
        };
        self.busy = false;
        self.since = Instant::now();
        if checked.is_err() && self.client.take().is_some() {
            self.observers.emit(Event::ConnectionClosed {
                reason: CloseReason::CheckFailed,
            });
        }
        checked
    }

    /// Sends one message over the connection.
    pub(crate) async fn send(
        &mut self,
        envelope: Envelope,
        body: Body<'_>,
    ) -> Result<Report, Error> {
        self.busy = true;
        let sent = match (self.client.as_mut(), body) {
            (Some(client), Body::Bytes(bytes)) => client.send(envelope, bytes).await,
            (Some(client), Body::Message(message)) => {
                client.send_message_with(envelope, message).await
            }
            (None, _) => Err(gone(Phase::MailFrom)),
        };
        self.busy = false;
        self.since = Instant::now();
        sent
    }
}

impl<S> Drop for Lease<'_, S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let reason = if self.busy {
            CloseReason::Interrupted
        } else if !client.is_usable() {
            CloseReason::Unusable
        } else {
            return self.pool.put_back(client, self.observers);
        };
        self.observers.emit(Event::ConnectionClosed { reason });
    }
}

/// Says QUIT on a task of its own, so that no send waits for a goodbye. Outside a runtime
/// (a lease dropped during shutdown) the connection is simply dropped.
pub(crate) fn retire<S>(client: Client<S>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            let mut client = client;
            let _ = client.quit().await;
        });
    }
}

fn gone(phase: Phase) -> Error {
    Error::input(phase, InputError::WrongState("the connection was returned"))
}
