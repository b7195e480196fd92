//! The async transport: a thin tokio + rustls shell that carries out a [`Session`]'s actions.
//!
//! It makes no protocol decision of its own. It moves bytes, sleeps until the instant the
//! session names ([`Session::poll_timeout`]), performs TLS handshakes and the TLS-mode probe
//! when asked, and hands what only it can see (end of file, I/O and TLS errors) to the
//! session, which turns them into typed errors and verdicts.
//!
//! ```no_run
//! use smtpwire::address::Mailbox;
//! use smtpwire::auth::Credentials;
//! use smtpwire::envelope::{Envelope, Recipient};
//! use smtpwire::transport::{Client, ClientConfig};
//!
//! # async fn send() -> Result<(), Box<dyn std::error::Error>> {
//! let credentials = Credentials::new("1234567@qq.com", std::env::var("QQ_AUTH_CODE")?);
//! let config = ClientConfig::new("smtp.qq.com", 465) // implicit TLS
//!     .map_session(|session| session.with_credentials(credentials));
//! let mut client = Client::connect(config).await?;
//! let envelope = Envelope::new(
//!     Some(Mailbox::parse("1234567@qq.com")?),
//!     [Recipient::new(Mailbox::parse("friend@163.com")?)],
//! )?;
//! let report = client.send(envelope, b"Subject: hi\r\n\r\nHello\r\n").await?;
//! println!("queued as {:?}", report.queue_id());
//! client.quit().await?;
//! # Ok(())
//! # }
//! ```

mod connect;
mod stream;
mod tls;

pub use connect::connect_tcp;
pub use tls::{CertificateObserver, TlsConfig, TlsInfo};

use crate::envelope::Envelope;
use crate::error::{Delivery, Error, ErrorKind, InputError, Phase};
use crate::mime::Message;
use crate::reply::Reply;
use crate::session::{Action, Event, MailId, Report, Session, SessionConfig, TlsPolicy};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use stream::MaybeTls;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

/// How much message data goes into one write: a 5 MiB message costs 20 writes, and a reply
/// that ends the transaction early (a 552 in the middle of the data) is looked for between
/// them. Over TLS, rustls cuts each write into 16 KiB records as it goes.
const DATA_CHUNK: usize = 256 * 1024;
/// The read buffer; replies are small, and the session's framer holds what is incomplete.
const READ_BUFFER: usize = 16 * 1024;
/// How much of the TLS-mode probe's answer is kept: the record header is enough.
const PROBE_ANSWER: usize = 16;

/// Called with every [`Event`] of a client's session, as it happens: for transcripts shown
/// live, metrics, or diagnostics such as `smtpwire check`.
#[derive(Clone)]
pub(crate) struct EventObserver(Arc<dyn Fn(&Event) + Send + Sync>);

impl fmt::Debug for EventObserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EventObserver")
    }
}

/// Where to connect and how.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) session: SessionConfig,
    pub(crate) tls: TlsConfig,
    pub(crate) event_observer: Option<EventObserver>,
}

impl ClientConfig {
    /// A configuration for `host:port`, with the TLS policy the port implies (465: implicit
    /// TLS; anything else: STARTTLS required) and the public web roots.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
            session: SessionConfig::new(TlsPolicy::for_port(port)),
            tls: TlsConfig::default(),
            event_observer: None,
        }
    }

    /// The server's host name (used for SNI and certificate checks) or IP address.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port: 465 (implicit TLS), 587 (STARTTLS), 25.
    pub fn port(&self) -> u16 {
        self.port
    }

    settings! {
        /// The protocol settings: TLS policy, credentials, timeouts, limits (default:
        /// [`SessionConfig::new`] with the TLS policy the port implies).
        borrow session: SessionConfig => with_session;
        /// Which certificates to trust (default: [`TlsConfig::default`], the public web roots).
        borrow tls: TlsConfig => with_tls;
    }

    /// Shows every event of the session to `observer` as it happens (default: nobody).
    #[must_use]
    pub fn with_event_observer(
        mut self,
        observer: impl Fn(&Event) + Send + Sync + 'static,
    ) -> Self {
        self.event_observer = Some(EventObserver(Arc::new(observer)));
        self
    }

    /// Changes the protocol settings the port implied, e.g. to add credentials:
    ///
    /// ```
    /// # use smtpwire::auth::Credentials;
    /// # use smtpwire::transport::ClientConfig;
    /// let config = ClientConfig::new("smtp.qq.com", 465)
    ///     .map_session(|session| session.with_credentials(Credentials::new("1234567@qq.com", "app password")));
    /// assert!(config.session().credentials().is_some());
    /// ```
    #[must_use]
    pub fn map_session(mut self, change: impl FnOnce(SessionConfig) -> SessionConfig) -> Self {
        self.session = change(self.session);
        self
    }
}

/// A connection to one server, ready to send mail once [`Client::connect`] returns.
pub struct Client<S = TcpStream> {
    stream: MaybeTls<S>,
    session: Session,
    host: String,
    tls: TlsConfig,
    tls_info: Option<TlsInfo>,
    buffer: Box<[u8]>,
    /// The address connected to, for the TLS-mode probe's second connection.
    peer: Option<SocketAddr>,
    probe: Option<Pin<Box<dyn Future<Output = Vec<u8>> + Send>>>,
    /// Messages the session finished, until their send call collects them.
    finished: Vec<(MailId, Result<Report, Error>)>,
    /// An action met while writing data (a transaction refused mid-stream), for the caller;
    /// or one `next_event` could not carry out yet because events came first.
    stashed: Option<Action>,
    /// Set by [`Client::quit_after_next_send`]: QUIT follows the next send's last message.
    quit_after: bool,
    event_observer: Option<EventObserver>,
    /// Events kept for [`Client::next_event`], when the caller steps the session itself.
    stepping: Option<VecDeque<Event>>,
    /// When AUTH started, then how long it took.
    auth_started: Option<Instant>,
    auth_duration: Option<Duration>,
}

/// The server as named and as reached, the TLS parameters, and the session.
impl<S> fmt::Debug for Client<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("server", &(&self.host, self.peer))
            .field("tls", &self.tls_info)
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

/// Where a message's data comes from.
enum Data<'a, R> {
    /// In memory: written straight from the caller's buffer.
    Bytes(&'a [u8]),
    /// A built MIME message, encoded as it goes out (file attachments read chunk by chunk).
    Message(&'a Message),
    /// Streamed by the caller; it can be read only once.
    Reader(R),
}

/// A message waiting to be sent, with its place among the results.
struct Job<'a, R> {
    index: usize,
    envelope: Envelope,
    data: Data<'a, R>,
}

/// A message the session has taken (its envelope with it), until it finishes.
struct InFlight<'a, R> {
    id: MailId,
    index: usize,
    data: Data<'a, R>,
}

impl Client<TcpStream> {
    /// Connects with [`connect_tcp`] (each resolved address in turn), then greets,
    /// negotiates TLS and authenticates. When a plaintext greeting is late, a second
    /// connection asks whether the port expects implicit TLS, so that mix-up is reported in
    /// seconds rather than after the greeting's five minutes.
    ///
    /// # Errors
    /// Any failure up to the session being ready: connect, TLS, greeting, EHLO, AUTH. With a
    /// transcript enabled, the error carries the dialogue up to the failure.
    pub async fn connect(config: ClientConfig) -> Result<Self, Error> {
        let (stream, peer) =
            connect_tcp(&config.host, config.port, &config.session.timeouts).await?;
        let mut client = Self::new(stream, config);
        client.peer = Some(peer);
        client.open().await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Client<S> {
    /// Runs the session over a stream the caller opened (a proxy, a Unix socket, a test pipe).
    /// With implicit TLS the handshake runs on it first. There is no second connection for
    /// the TLS-mode probe.
    ///
    /// # Errors
    /// As [`Client::connect`].
    pub async fn connect_with(stream: S, config: ClientConfig) -> Result<Self, Error> {
        Self::new(stream, config).open().await
    }

    /// As [`Client::connect_with`], over a stream the caller opened to `peer` (e.g. with
    /// [`connect_tcp`], wrapped to count bytes): a late greeting can then be probed with a
    /// second connection to `peer`, as [`Client::connect`] does.
    ///
    /// # Errors
    /// As [`Client::connect`].
    pub async fn connect_via(
        stream: S,
        peer: SocketAddr,
        config: ClientConfig,
    ) -> Result<Self, Error> {
        let mut client = Self::new(stream, config);
        client.peer = Some(peer);
        client.open().await
    }

    /// A client over `stream` that has not started: drive the opening one event at a time
    /// with [`Client::next_event`], for diagnostics that judge each step (`smtpwire check`).
    /// `peer`, when given, allows the TLS-mode probe of a late greeting.
    pub fn start(stream: S, peer: Option<SocketAddr>, config: ClientConfig) -> Self {
        let mut client = Self::new(stream, config);
        client.peer = peer;
        client.stepping = Some(VecDeque::new());
        client
    }

    /// Runs the session until something happens, and returns it: each reply (with the
    /// command it answers), TLS established, authenticated, ready. When the session fails,
    /// the events before the failure come first, then the error (and the same error again).
    /// Once the session waits for the caller (ready, closed), the calls of this type go on.
    ///
    /// # Errors
    /// The session's failure; [`InputError::WrongState`] when nothing can happen until the
    /// caller acts (e.g. after [`Event::Ready`]) or on a client not made by [`Client::start`].
    pub async fn next_event(&mut self) -> Result<Event, Error> {
        loop {
            let Some(kept) = self.stepping.as_mut() else {
                return Err(Error::input(
                    self.session.phase(),
                    InputError::WrongState("next_event on a client not made by Client::start"),
                ));
            };
            if let Some(event) = kept.pop_front() {
                return Ok(event);
            }
            let action = match self.stashed.take() {
                Some(action) => Ok(action),
                None => {
                    let action = self.session.next_action(now());
                    self.take_events();
                    action
                }
            };
            if self.stepping.as_ref().is_some_and(|kept| !kept.is_empty()) {
                // The events go first. An action the session cannot give again (the bytes
                // it handed out, the probe it asked for) waits for the next call.
                if let Ok(action @ (Action::Send(_) | Action::ProbeTls)) = action {
                    self.stashed = Some(action);
                }
                continue;
            }
            match action? {
                Action::Send(bytes) => self.send_bytes(bytes).await?,
                Action::Receive => self.read().await?,
                Action::StartTls => self.start_tls().await?,
                Action::ProbeTls => self.start_probe(),
                other => return Err(self.unexpected(&other)),
            }
        }
    }

    fn new(stream: S, config: ClientConfig) -> Self {
        Self {
            stream: MaybeTls::Plain(stream),
            session: Session::new(config.session),
            host: config.host,
            tls: config.tls,
            tls_info: None,
            buffer: vec![0; READ_BUFFER].into_boxed_slice(),
            peer: None,
            probe: None,
            finished: Vec::new(),
            stashed: None,
            quit_after: false,
            event_observer: config.event_observer,
            stepping: None,
            auth_started: None,
            auth_duration: None,
        }
    }

    async fn open(mut self) -> Result<Self, Error> {
        let ready = self.pump().await;
        self.probe = None;
        match ready? {
            Action::Ready => Ok(self),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Sends one message to the envelope's recipients and reports each one's outcome.
    ///
    /// `message` is the complete RFC 5322 message (headers, blank line, body). Its line endings
    /// are normalised and dots stuffed on the way out. Recipients the server defers (452) get
    /// a further transaction with the same bytes.
    ///
    /// # Errors
    /// When no recipient was accepted: the refusal or failure that decided, with every
    /// recipient's verdict in [`Error::report`] (check [`Error::delivery`] before retrying);
    /// or invalid input, caught before anything is sent.
    pub async fn send(&mut self, envelope: Envelope, message: &[u8]) -> Result<Report, Error> {
        self.send_one(envelope, Data::<tokio::io::Empty>::Bytes(message))
            .await
    }

    /// Sends a built MIME message to the envelope it implies (Sender or From; To, Cc and Bcc),
    /// declaring its exact size for SIZE and `BODY=8BITMIME` when it has 8-bit parts.
    ///
    /// File attachments are read and encoded chunk by chunk as the data goes out, so memory
    /// does not grow with their size (the reads are blocking file reads on the current task).
    /// Recipients the server defers (452) get a further transaction with the same message.
    ///
    /// # Errors
    /// As [`Client::send`]; a file attachment that cannot be read ends the session.
    pub async fn send_message(&mut self, message: &Message) -> Result<Report, Error> {
        let envelope =
            Envelope::for_message(message).map_err(|e| Error::input(Phase::MailFrom, e))?;
        self.send_message_with(envelope, message).await
    }

    /// Sends a built MIME message, streamed as [`Client::send_message`] does, with an envelope
    /// of the caller's: [`Envelope::for_message`] with delivery status notifications asked for
    /// (RFC 3461), say, or only the recipients still pending after an earlier attempt.
    ///
    /// # Errors
    /// As [`Client::send_message`].
    pub async fn send_message_with(
        &mut self,
        envelope: Envelope,
        message: &Message,
    ) -> Result<Report, Error> {
        self.send_one(envelope, Data::<tokio::io::Empty>::Message(message))
            .await
    }

    /// Sends a message streamed from `reader`, of any length, holding at most one chunk in
    /// memory.
    ///
    /// The data cannot be read twice, so recipients the server defers (452) are not retried
    /// in a further transaction: they are reported [`Status::Deferred`](crate::session::Status).
    ///
    /// # Errors
    /// As [`Client::send`], plus reading from `reader`, which ends the session (part of the
    /// message may be on the wire; only closing the connection keeps it from being delivered).
    pub async fn send_reader<R: AsyncRead + Unpin>(
        &mut self,
        envelope: Envelope,
        reader: R,
    ) -> Result<Report, Error> {
        self.send_one(envelope, Data::Reader(reader)).await
    }

    /// Sends several messages over this connection, pipelining across them when the server
    /// offers PIPELINING: the next envelope leaves right behind the previous message's final
    /// dot, so each further message costs one round trip. One result per message, in order.
    ///
    /// A message refused before anything was sent (e.g. it needs SMTPUTF8) fails alone; a
    /// failure of the connection ends every message not finished, each with its verdict.
    ///
    /// The bodies may be owned (`Vec<u8>`) or borrowed (`&[u8]`).
    pub async fn send_batch<I, B>(&mut self, messages: I) -> Vec<Result<Report, Error>>
    where
        I: IntoIterator<Item = (Envelope, B)>,
        B: AsRef<[u8]>,
    {
        let (envelopes, bodies): (Vec<Envelope>, Vec<B>) = messages.into_iter().unzip();
        let jobs = envelopes
            .into_iter()
            .zip(&bodies)
            .enumerate()
            .map(|(index, (envelope, body))| Job {
                index,
                envelope,
                data: Data::<tokio::io::Empty>::Bytes(body.as_ref()),
            })
            .collect();
        self.transact(jobs).await
    }

    /// Makes the next send the connection's last: QUIT leaves right behind the end of its
    /// (last) message's data when the server offers PIPELINING, and after the final reply
    /// otherwise, so a connection that carries one message costs no round trip for QUIT.
    /// The send still returns each message's outcome from the server's final reply; the
    /// connection is closed when it returns, as after [`Client::quit`].
    ///
    /// ```no_run
    /// # async fn one(mut client: smtpwire::transport::Client, envelope: smtpwire::envelope::Envelope)
    /// # -> Result<(), smtpwire::Error> {
    /// client.quit_after_next_send();
    /// let report = client.send(envelope, b"Subject: hi\r\n\r\nhello\r\n").await?;
    /// # Ok(()) }
    /// ```
    pub fn quit_after_next_send(&mut self) {
        self.quit_after = true;
    }

    /// Checks the connection with NOOP.
    ///
    /// # Errors
    /// Anything but a positive reply, which ends the session.
    pub async fn noop(&mut self) -> Result<(), Error> {
        self.session.noop()?;
        match self.pump().await? {
            Action::Ready => Ok(()),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Asks whether the server would take mail from `from` without sending any (MAIL FROM,
    /// then RSET), and returns its answer. A refusal is an answer, not an error: QQ Mail and
    /// 163 refuse a sender other than the account (501 / 553).
    ///
    /// # Errors
    /// The session failing (a 421, a lost connection), or not being ready.
    pub async fn probe_sender(
        &mut self,
        from: Option<crate::address::Mailbox>,
    ) -> Result<Reply, Error> {
        self.session.probe_sender(from)?;
        match self.pump().await? {
            Action::Ready => self.session.take_probe_reply().ok_or_else(|| {
                Error::input(Phase::MailFrom, InputError::WrongState("no reply to MAIL"))
            }),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Says goodbye and closes the connection; the client (its transcript, its TLS details)
    /// stays for the caller to look at. Whatever the server answers to QUIT, even junk or
    /// nothing, messages already accepted stay accepted. A client made by [`Client::start`]
    /// that failed on a refusal (a login refused, STARTTLS missing) still says QUIT, as
    /// [`Session::quit`] allows; after a broken connection nothing is sent.
    ///
    /// # Errors
    /// Only a failure before QUIT could be sent.
    pub async fn quit(&mut self) -> Result<(), Error> {
        self.session.quit()?;
        loop {
            match self.pump().await {
                Ok(Action::Closed) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let _ = self.stream.shutdown().await;
        Ok(())
    }

    /// How long AUTH took, once it succeeded.
    pub fn auth_duration(&self) -> Option<Duration> {
        self.auth_duration
    }

    /// Whether this connection can send more mail (see [`Session::is_usable`]).
    pub fn is_usable(&self) -> bool {
        self.session.is_usable()
    }

    /// What TLS negotiated, once it did.
    pub fn tls_info(&self) -> Option<&TlsInfo> {
        self.tls_info.as_ref()
    }

    /// The sans-IO session underneath: capabilities, transcript, state.
    pub fn session(&self) -> &Session {
        &self.session
    }

    // ===== the one transaction routine =====

    async fn send_one<R: AsyncRead + Unpin>(
        &mut self,
        envelope: Envelope,
        data: Data<'_, R>,
    ) -> Result<Report, Error> {
        let job = Job {
            index: 0,
            envelope,
            data,
        };
        self.transact(vec![job]).await.pop().unwrap_or_else(|| {
            Err(Error::input(
                Phase::MailFrom,
                InputError::WrongState("message not sent"),
            ))
        })
    }

    /// Sends every job, pipelining the next envelope behind the previous data when the
    /// server allows; the session finishes each message with its result.
    async fn transact<R: AsyncRead + Unpin>(
        &mut self,
        jobs: Vec<Job<'_, R>>,
    ) -> Vec<Result<Report, Error>> {
        let mut results: Vec<Option<Result<Report, Error>>> = jobs.iter().map(|_| None).collect();
        let mut queue: VecDeque<Job<'_, R>> = jobs.into();
        // At most two: one taking data, one whose envelope went behind it.
        let mut in_flight: Vec<InFlight<'_, R>> = Vec::with_capacity(2);
        let then_quit = std::mem::take(&mut self.quit_after);
        let fatal = loop {
            self.collect_finished(&mut in_flight, &mut results);
            let action = match self.pump().await {
                Ok(action) => action,
                Err(error) => break Some(error),
            };
            match action {
                Action::Ready => {
                    if !self.start_next(&mut queue, &mut in_flight, &mut results) {
                        break None;
                    }
                }
                Action::SendData(id) => {
                    let Some(job) = in_flight.iter_mut().find(|job| job.id == id) else {
                        break Some(self.unexpected(&Action::SendData(id)));
                    };
                    // Kept in place: a further transaction (deferred recipients) sends it again.
                    let written = self.write_data(id, &mut job.data).await;
                    if let Err(error) = written {
                        break Some(error);
                    }
                    if self.session.pipelines() {
                        self.start_next(&mut queue, &mut in_flight, &mut results);
                    }
                    if then_quit && queue.is_empty() {
                        // The session holds QUIT back until it cuts nothing off.
                        let _ = self.session.quit();
                    }
                }
                // QUIT was answered behind the last message.
                Action::Closed if then_quit => break None,
                other => break Some(self.unexpected(&other)),
            }
        };
        self.collect_finished(&mut in_flight, &mut results);
        if then_quit {
            let _ = self.quit().await;
        }
        if let Some(error) = fatal {
            let unfinished = in_flight.into_iter().map(|job| job.index);
            let not_started = queue.into_iter().map(|job| job.index);
            for index in unfinished.chain(not_started) {
                if let Some(slot @ None) = results.get_mut(index) {
                    *slot = Some(Err(error.clone().with_delivery(Delivery::NotSent)));
                }
            }
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(Error::input(
                        Phase::MailFrom,
                        InputError::WrongState("message not sent"),
                    ))
                })
            })
            .collect()
    }

    /// Hands the next queued message to the session; one it refuses before anything was sent
    /// gets its error and the next is tried. Returns whether one started.
    fn start_next<'a, R>(
        &mut self,
        queue: &mut VecDeque<Job<'a, R>>,
        in_flight: &mut Vec<InFlight<'a, R>>,
        results: &mut [Option<Result<Report, Error>>],
    ) -> bool {
        while let Some(Job {
            index,
            envelope,
            data,
        }) = queue.pop_front()
        {
            let started = match data {
                Data::Reader(_) => self.session.send_mail_once(envelope),
                _ => self.session.send_mail(envelope),
            };
            match started {
                Ok(id) => {
                    in_flight.push(InFlight { id, index, data });
                    return true;
                }
                Err(error) => {
                    if let Some(slot) = results.get_mut(index) {
                        *slot = Some(Err(error));
                    }
                }
            }
        }
        false
    }

    fn collect_finished<R>(
        &mut self,
        in_flight: &mut Vec<InFlight<'_, R>>,
        results: &mut [Option<Result<Report, Error>>],
    ) {
        for (id, result) in self.finished.drain(..) {
            if let Some(at) = in_flight.iter().position(|job| job.id == id) {
                let job = in_flight.swap_remove(at);
                if let Some(slot) = results.get_mut(job.index) {
                    *slot = Some(result);
                }
            }
        }
    }

    /// Writes one message's data; the last chunk and the terminator leave in one write, so a
    /// small message costs one write. Stops early if the server ends the transaction
    /// meanwhile (a refused BDAT chunk, a 552 in the middle of the data).
    async fn write_data<R: AsyncRead + Unpin>(
        &mut self,
        id: MailId,
        data: &mut Data<'_, R>,
    ) -> Result<(), Error> {
        match data {
            Data::Bytes(bytes) => {
                let mut chunks = bytes.chunks(DATA_CHUNK).peekable();
                while let Some(chunk) = chunks.next() {
                    self.session.write_data(chunk)?;
                    if chunks.peek().is_some() && !self.flush(id).await? {
                        return Ok(());
                    }
                }
            }
            Data::Message(message) => {
                let mut reader = Source::<R>::Blocking(message.reader());
                if !self.write_from(id, &mut reader).await? {
                    return Ok(());
                }
            }
            Data::Reader(reader) => {
                if !self.write_from(id, &mut Source::Async(reader)).await? {
                    return Ok(());
                }
            }
        }
        self.session.finish_data()
    }

    /// Writes data read chunk by chunk, reading one chunk ahead so the last one leaves with
    /// the terminator. Returns whether the server still waits for the end of the data.
    async fn write_from<R: AsyncRead + Unpin>(
        &mut self,
        id: MailId,
        source: &mut Source<'_, R>,
    ) -> Result<bool, Error> {
        let mut current = vec![0; DATA_CHUNK];
        let mut next = vec![0; DATA_CHUNK];
        let mut filled = self.fill(source, &mut current).await?;
        while filled > 0 {
            let ahead = self.fill(source, &mut next).await?;
            self.session
                .write_data(current.get(..filled).unwrap_or_default())?;
            if ahead > 0 && !self.flush(id).await? {
                return Ok(false);
            }
            std::mem::swap(&mut current, &mut next);
            filled = ahead;
        }
        Ok(true)
    }

    /// Fills `buffer` as far as the source goes; 0 means the end.
    async fn fill<R: AsyncRead + Unpin>(
        &mut self,
        source: &mut Source<'_, R>,
        buffer: &mut [u8],
    ) -> Result<usize, Error> {
        let mut filled = 0;
        while let Some(rest) = buffer.get_mut(filled..).filter(|rest| !rest.is_empty()) {
            match source.read(rest).await {
                Ok(0) => break,
                Ok(read) => filled += read,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => return Err(self.fail(ErrorKind::Io(Arc::new(error)))),
            }
        }
        Ok(filled)
    }

    /// Writes what the session has queued, without waiting for any reply. Returns whether the
    /// server still waits for this message's data.
    async fn flush(&mut self, id: MailId) -> Result<bool, Error> {
        self.pick_up_replies().await?;
        match self.pump().await? {
            Action::SendData(wanted) if wanted == id => Ok(true),
            other => {
                self.stashed = Some(other);
                Ok(false)
            }
        }
    }

    /// Passes on what the server already sent, without waiting and without a timer: a
    /// refusal in the middle of the data (`552` before the end) should stop the writing.
    /// Yielding first lets the runtime's reactor see what arrived (a zero-timeout poll, not
    /// a timer: the task is not parked).
    async fn pick_up_replies(&mut self) -> Result<(), Error> {
        tokio::task::yield_now().await;
        let stream = &mut self.stream;
        let buffer = &mut self.buffer;
        let read = std::future::poll_fn(|cx| {
            let mut buffer = ReadBuf::new(buffer);
            Poll::Ready(match Pin::new(&mut *stream).poll_read(cx, &mut buffer) {
                Poll::Pending => None,
                Poll::Ready(result) => Some(result.map(|()| buffer.filled().len())),
            })
        })
        .await;
        match read {
            None => Ok(()),
            Some(Ok(0)) => Err(self.fail(ErrorKind::ConnectionClosed)),
            Some(Ok(read)) => {
                self.session
                    .feed(self.buffer.get(..read).unwrap_or_default());
                Ok(())
            }
            Some(Err(error)) => Err(self.fail(ErrorKind::Io(Arc::new(error)))),
        }
    }

    // ===== carrying out actions =====

    /// Carries out actions until one needs the caller.
    async fn pump(&mut self) -> Result<Action, Error> {
        match self.stashed.take() {
            // Left by `next_event`: carried out, not handed to the caller.
            Some(Action::Send(bytes)) => self.send_bytes(bytes).await?,
            Some(Action::ProbeTls) => self.start_probe(),
            Some(action) => return Ok(action),
            None => {}
        }
        loop {
            let action = self.session.next_action(now());
            self.take_events();
            match action? {
                Action::Send(bytes) => self.send_bytes(bytes).await?,
                Action::Receive => self.read().await?,
                Action::StartTls => self.start_tls().await?,
                Action::ProbeTls => self.start_probe(),
                other => return Ok(other),
            }
        }
    }

    /// Passes the session's events on: finished messages to their send call, everything to
    /// the observer.
    fn take_events(&mut self) {
        while let Some(event) = self.session.poll_event() {
            if let Some(observer) = &self.event_observer {
                (observer.0)(&event);
            }
            if let Some(kept) = &mut self.stepping {
                kept.push_back(event.clone());
            }
            match event {
                Event::MessageFinished { id, result } => {
                    self.finished.push((id, result));
                }
                Event::Reply {
                    phase: Phase::Auth, ..
                } if self.auth_started.is_none() => self.auth_started = Some(Instant::now()),
                Event::Authenticated { .. } => {
                    self.auth_duration = self.auth_started.map(|started| started.elapsed());
                }
                _ => {}
            }
        }
    }

    /// Writes bytes the session handed out, then gives the buffer back, which wipes them:
    /// they may hold an AUTH line, and no password should stay in freed memory.
    async fn send_bytes(&mut self, bytes: Vec<u8>) -> Result<(), Error> {
        let written = self.write(&bytes).await;
        self.session.recycle(bytes);
        written
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if self.auth_started.is_none() && self.session.phase() == Phase::Auth {
            self.auth_started = Some(Instant::now());
        }
        let deadline = self.session.poll_timeout();
        let stream = &mut self.stream;
        let written = within(deadline, async {
            stream.write_all(bytes).await?;
            stream.flush().await
        })
        .await;
        match written {
            Some(Ok(())) => Ok(()),
            Some(Err(error)) => Err(self.fail(ErrorKind::Io(Arc::new(error)))),
            None => Err(self.deadline_passed()),
        }
    }

    /// Reads once, until the session's deadline for the reply (a server that trickles bytes
    /// cannot stretch it); a TLS-mode probe in flight races the read.
    async fn read(&mut self) -> Result<(), Error> {
        let deadline = self.session.poll_timeout();
        let read = {
            let mut read = pin!(self.stream.read(&mut self.buffer));
            let probe = &mut self.probe;
            within(
                deadline,
                std::future::poll_fn(|cx| {
                    if let Poll::Ready(result) = read.as_mut().poll(cx) {
                        return Poll::Ready(Read::Bytes(result));
                    }
                    if let Some(answer) = probe.as_mut() {
                        if let Poll::Ready(answer) = answer.as_mut().poll(cx) {
                            return Poll::Ready(Read::ProbeAnswer(answer));
                        }
                    }
                    Poll::Pending
                }),
            )
            .await
        };
        match read {
            Some(Read::Bytes(Ok(0))) => Err(self.fail(ErrorKind::ConnectionClosed)),
            Some(Read::Bytes(Ok(read))) => {
                self.session
                    .feed(self.buffer.get(..read).unwrap_or_default());
                Ok(())
            }
            Some(Read::Bytes(Err(error))) => Err(self.fail(ErrorKind::Io(Arc::new(error)))),
            Some(Read::ProbeAnswer(answer)) => {
                self.probe = None;
                self.session.tls_probe_answered(&answer);
                Ok(())
            }
            // The probe instant, or the deadline: the session says which.
            None => {
                self.session.handle_timeout(now());
                Ok(())
            }
        }
    }

    /// Opens the second connection that asks the port whether it speaks TLS; its answer is
    /// read alongside the greeting.
    fn start_probe(&mut self) {
        let (Some(peer), Ok(hello)) = (self.peer, tls::client_hello(&self.host)) else {
            return;
        };
        self.probe = Some(Box::pin(async move {
            let Ok(mut probe) = TcpStream::connect(peer).await else {
                return Vec::new();
            };
            if probe.write_all(&hello).await.is_err() {
                return Vec::new();
            }
            let mut answer = vec![0; PROBE_ANSWER];
            match probe.read(&mut answer).await {
                Ok(read) => {
                    answer.truncate(read);
                    answer
                }
                Err(_) => Vec::new(),
            }
        }));
    }

    async fn start_tls(&mut self) -> Result<(), Error> {
        let config = match self.tls.client_config() {
            Ok(config) => config,
            Err(error) => return Err(self.session.tls_failed(Arc::new(error), true)),
        };
        let name = match tls::server_name(&self.host) {
            Ok(name) => name,
            Err(error) => return Err(self.session.tls_failed(Arc::new(error), true)),
        };
        let MaybeTls::Plain(plain) = std::mem::replace(&mut self.stream, MaybeTls::Upgrading)
        else {
            return Err(self.fail(ErrorKind::Input(InputError::WrongState(
                "TLS is already on",
            ))));
        };
        let started = Instant::now();
        let deadline = self.session.poll_timeout();
        let handshake = TlsConnector::from(config).connect(name, plain);
        match within(deadline, handshake).await {
            Some(Ok(stream)) => {
                let verified = self.tls.verifies_certificates();
                let info =
                    TlsInfo::from_connection(stream.get_ref().1, verified, started.elapsed());
                self.stream = MaybeTls::Tls(Box::new(stream));
                let established = self.session.tls_established(&info.to_string());
                self.tls_info = Some(info);
                established
            }
            Some(Err(error)) => {
                let rustls_error = error
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                    .cloned();
                // What came back was not TLS records at all (a plaintext greeting).
                let peer_spoke_tls =
                    !matches!(rustls_error, Some(rustls::Error::InvalidMessage(_)));
                let error: Arc<dyn std::error::Error + Send + Sync> = match rustls_error {
                    Some(rustls_error) => Arc::new(rustls_error),
                    None => Arc::new(error),
                };
                let error = self.session.tls_failed(error, peer_spoke_tls);
                self.take_events();
                Err(error)
            }
            None => Err(self.deadline_passed()),
        }
    }

    /// Hands a failure only the driver sees to the session, which decides what it means.
    fn fail(&mut self, kind: ErrorKind) -> Error {
        let error = self.session.fail(kind);
        self.take_events();
        error
    }

    fn deadline_passed(&mut self) -> Error {
        self.session.handle_timeout(now());
        let error = self.session.fail(ErrorKind::Timeout);
        self.take_events();
        error
    }

    fn unexpected(&mut self, action: &Action) -> Error {
        Error::input(
            self.session.phase(),
            InputError::WrongState(match action {
                Action::Closed => "the session is closed",
                _ => "the session asked for something this call cannot give",
            }),
        )
    }
}

/// What ended a read.
enum Read {
    Bytes(std::io::Result<usize>),
    ProbeAnswer(Vec<u8>),
}

/// Message data to stream: a MIME message's blocking reader, or the caller's async one.
enum Source<'a, R> {
    Blocking(crate::mime::Reader),
    Async(&'a mut R),
}

impl<R: AsyncRead + Unpin> Source<'_, R> {
    async fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Self::Blocking(reader) => std::io::Read::read(reader, buffer),
            Self::Async(reader) => reader.read(buffer).await,
        }
    }
}

/// The driver's clock, tokio's: a paused test clock moves the session's deadlines too.
fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// Runs `work` until `deadline`; `None` if the deadline came first. Work that is ready at
/// once (most writes) never arms a timer.
async fn within<F: Future>(deadline: Option<std::time::Instant>, work: F) -> Option<F::Output> {
    let mut work = pin!(work);
    let mut sleep = None;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        let Some(deadline) = deadline else {
            return Poll::Pending;
        };
        let sleep = sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(Instant::from_std(deadline))));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}
