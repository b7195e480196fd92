//! The async transport: a thin tokio + rustls shell that carries out a [`Session`]'s actions.
//!
//! It makes no protocol decision of its own. It moves bytes, enforces the deadline the session
//! attaches to each reply and write, performs TLS handshakes when asked, and turns what only it
//! can see (end of file, I/O and TLS errors, timeouts) into typed errors through
//! [`Session::fail`], which says whether a message may have been delivered.
//!
//! ```no_run
//! use smtpwire::address::Mailbox;
//! use smtpwire::auth::Credentials;
//! use smtpwire::envelope::{Envelope, Recipient};
//! use smtpwire::transport::{Client, ClientConfig};
//!
//! # async fn send() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = ClientConfig::new("smtp.qq.com", 465); // implicit TLS
//! config.session.credentials = Some(Credentials::new("1234567@qq.com", std::env::var("QQ_AUTH_CODE")?));
//! let mut client = Client::connect(config).await?;
//! let envelope = Envelope::new(
//!     Some(Mailbox::parse("1234567@qq.com")?),
//!     [Recipient::new(Mailbox::parse("friend@163.com")?)],
//! )?;
//! let report = client.send(envelope, b"Subject: hi\r\n\r\nHello\r\n").await?;
//! println!("{}", report.final_reply().map(ToString::to_string).unwrap_or_default());
//! client.quit().await?;
//! # Ok(())
//! # }
//! ```

mod report;
mod stream;
mod tls;

pub use report::SendReport;
pub use tls::{TlsConfig, TlsInfo};

use crate::envelope::Envelope;
use crate::error::{Error, ErrorKind, InputError, Phase, ProtocolViolation, TlsMismatch};
use crate::mime::Message;
use crate::session::{Action, MailId, Session, SessionConfig, TlsPolicy};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use stream::MaybeTls;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

/// How much message data goes into one write. Dot-stuffing makes the encoded chunk a little
/// larger; 60 KiB keeps it under rustls's 64 KiB send buffer, so a chunk leaves as full TLS
/// records instead of 64 KiB plus a tiny record for the last few bytes.
const DATA_CHUNK: usize = 60 * 1024;
/// The read buffer; replies are small, and the session's framer holds what is incomplete.
const READ_BUFFER: usize = 16 * 1024;

/// Where to connect and how.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The server's host name (used for SNI and certificate checks) or IP address.
    pub host: String,
    /// The port: 465 (implicit TLS), 587 (STARTTLS), 25.
    pub port: u16,
    /// The protocol settings: TLS policy, credentials, timeouts, limits.
    pub session: SessionConfig,
    /// Which certificates to trust.
    pub tls: TlsConfig,
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
        }
    }
}

/// A connection to one server, ready to send mail once [`Client::connect`] returns.
pub struct Client<S = TcpStream> {
    stream: MaybeTls<S>,
    session: Session,
    host: String,
    port: u16,
    tls: TlsConfig,
    tls_info: Option<TlsInfo>,
    buffer: Box<[u8]>,
    started: Instant,
    /// The deadline of the reply being read, with the reply count it belongs to.
    deadline: Option<(u64, Instant)>,
    first_byte: Option<u8>,
    /// An action met while writing data (a transaction refused mid-stream), for the caller.
    stashed: Option<Action>,
    /// When AUTH started, then how long it took.
    auth_started: Option<Instant>,
    auth_duration: Option<Duration>,
}

impl std::fmt::Debug for Client<TcpStream> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls_info)
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl Client<TcpStream> {
    /// Resolves the host, connects to each address in turn until one answers (each attempt
    /// within the connect timeout), then greets, negotiates TLS and authenticates.
    ///
    /// # Errors
    /// Any failure up to the session being ready: connect, TLS, greeting, EHLO, AUTH.
    pub async fn connect(config: ClientConfig) -> Result<Self, Error> {
        let limit = config.session.timeouts.connect;
        let host = config
            .host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let lookup = tokio::net::lookup_host((host.as_str(), config.port));
        let addresses = match tokio::time::timeout(limit, lookup).await {
            Ok(Ok(addresses)) => addresses,
            Ok(Err(error)) => {
                return Err(Error::new(ErrorKind::Io(Arc::new(error)), Phase::Connect))
            }
            Err(_) => return Err(Error::new(ErrorKind::Timeout, Phase::Connect)),
        };
        let mut last = Error::new(
            ErrorKind::Io(Arc::new(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the host name resolved to no address",
            ))),
            Phase::Connect,
        );
        for address in addresses {
            match tokio::time::timeout(limit, TcpStream::connect(address)).await {
                Ok(Ok(stream)) => {
                    // Commands and data leave in few, deliberate writes: Nagle's algorithm
                    // would only add delayed-ACK stalls to each round trip.
                    let _ = stream.set_nodelay(true);
                    return Self::connect_with(stream, config).await;
                }
                Ok(Err(error)) => last = Error::new(ErrorKind::Io(Arc::new(error)), Phase::Connect),
                Err(_) => last = Error::new(ErrorKind::Timeout, Phase::Connect),
            }
        }
        Err(last)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Client<S> {
    /// Runs the session over a stream the caller opened (a proxy, a Unix socket, a test pipe).
    /// With implicit TLS the handshake runs on it first.
    ///
    /// # Errors
    /// As [`Client::connect`].
    pub async fn connect_with(stream: S, config: ClientConfig) -> Result<Self, Error> {
        let mut client = Self {
            stream: MaybeTls::Plain(stream),
            session: Session::new(config.session),
            host: config.host,
            port: config.port,
            tls: config.tls,
            tls_info: None,
            buffer: vec![0; READ_BUFFER].into_boxed_slice(),
            started: Instant::now(),
            deadline: None,
            first_byte: None,
            stashed: None,
            auth_started: None,
            auth_duration: None,
        };
        match client.pump().await? {
            Action::Ready => Ok(client),
            other => Err(client.unexpected(&other)),
        }
    }

    /// Sends one message to the envelope's recipients and reports each one's outcome.
    ///
    /// `message` is the complete RFC 5322 message (headers, blank line, body). Its line endings
    /// are normalised and dots stuffed on the way out.
    ///
    /// # Errors
    /// When no recipient was accepted (with the server's reply), when the session fails
    /// (check [`Error::delivery`] before retrying), or for invalid input, caught before
    /// anything is sent.
    pub async fn send(&mut self, envelope: Envelope, message: &[u8]) -> Result<SendReport, Error> {
        let started = Instant::now();
        let id = self.start(envelope).await?;
        let mut report = SendReport::default();
        loop {
            match self.pump().await? {
                Action::SendData(got) if got == id => {
                    self.write_message(id, message).await?;
                    report.add_bytes(message.len() as u64);
                }
                Action::Finished(got, outcome) if got == id => {
                    let more = outcome.continues();
                    report.add(outcome);
                    if !more {
                        break;
                    }
                }
                other => return Err(self.unexpected(&other)),
            }
        }
        report.finish(started.elapsed())
    }

    /// Sends a built MIME message to the envelope it implies (Sender or From; To, Cc and Bcc),
    /// declaring its exact size for SIZE and `BODY=8BITMIME` when it has 8-bit parts.
    ///
    /// File attachments are read and encoded chunk by chunk as the data goes out, so memory
    /// does not grow with their size (the reads are blocking file reads on the current task).
    /// Recipients the server defers (452) get a further transaction with the same bytes.
    ///
    /// # Errors
    /// As [`Client::send`]; a file attachment that cannot be read ends the session.
    pub async fn send_message(&mut self, message: &Message) -> Result<SendReport, Error> {
        let started = Instant::now();
        let envelope =
            Envelope::for_message(message).map_err(|e| Error::input(Phase::MailFrom, e))?;
        let id = self.start(envelope).await?;
        let mut report = SendReport::default();
        loop {
            match self.pump().await? {
                Action::SendData(got) if got == id => {
                    let written = self.write_reader(id, message.reader()).await?;
                    report.add_bytes(written);
                }
                Action::Finished(got, outcome) if got == id => {
                    let more = outcome.continues();
                    report.add(outcome);
                    if !more {
                        break;
                    }
                }
                other => return Err(self.unexpected(&other)),
            }
        }
        report.finish(started.elapsed())
    }

    /// Sends a message streamed from `reader`, of any length, holding at most one chunk in
    /// memory.
    ///
    /// The data cannot be read twice, so recipients the server defers (452) are not retried
    /// in a further transaction: they are listed in [`SendReport::deferred`].
    ///
    /// # Errors
    /// As [`Client::send`], plus reading from `reader`, which ends the session (part of the
    /// message may be on the wire; only closing the connection keeps it from being delivered).
    pub async fn send_reader<R: AsyncRead + Unpin>(
        &mut self,
        envelope: Envelope,
        mut reader: R,
    ) -> Result<SendReport, Error> {
        let started = Instant::now();
        let id = self.start(envelope).await?;
        let mut report = SendReport::default();
        let mut chunk = vec![0; DATA_CHUNK];
        loop {
            match self.pump().await? {
                Action::SendData(got) if got == id => loop {
                    let read = match reader.read(&mut chunk).await {
                        Ok(read) => read,
                        Err(error) => {
                            return Err(self.session.fail(ErrorKind::Io(Arc::new(error))))
                        }
                    };
                    let Some(data) = chunk.get(..read) else { break };
                    if data.is_empty() {
                        self.session.finish_data()?;
                        break;
                    }
                    self.session.write_data(data)?;
                    report.add_bytes(read as u64);
                    if !self.flush(id).await? {
                        break;
                    }
                },
                Action::Finished(got, outcome) if got == id => {
                    self.session.cancel_continuation(id);
                    report.add(outcome);
                    break;
                }
                other => return Err(self.unexpected(&other)),
            }
        }
        report.finish(started.elapsed())
    }

    /// Sends several messages over this connection, pipelining across them when the server
    /// offers PIPELINING: the next envelope leaves right behind the previous message's final
    /// dot, so each further message costs one round trip. One result per message, in order.
    ///
    /// A message refused before anything was sent (e.g. it needs SMTPUTF8) fails alone; a
    /// failure of the connection fails every message not finished (see [`Error::delivery`]).
    pub async fn send_batch<I>(&mut self, messages: I) -> Vec<Result<SendReport, Error>>
    where
        I: IntoIterator<Item = (Envelope, Vec<u8>)>,
    {
        let mut queue: VecDeque<(usize, Envelope, Vec<u8>)> = messages
            .into_iter()
            .enumerate()
            .map(|(i, (envelope, body))| (i, envelope, body))
            .collect();
        let mut results: Vec<Option<Result<SendReport, Error>>> =
            (0..queue.len()).map(|_| None).collect();
        let mut in_flight: HashMap<MailId, (usize, Vec<u8>, SendReport, Instant)> = HashMap::new();
        let pipelining = self.pipelines();
        let fatal = loop {
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
                    let Some((_, body, report, _)) = in_flight.get_mut(&id) else {
                        break Some(self.unexpected(&Action::SendData(id)));
                    };
                    report.add_bytes(body.len() as u64);
                    let body = std::mem::take(body);
                    let written = self.write_message(id, &body).await;
                    if let Some((_, kept, _, _)) = in_flight.get_mut(&id) {
                        // Kept in case a further transaction needs the data again.
                        *kept = body;
                    }
                    if let Err(error) = written {
                        break Some(error);
                    }
                    if pipelining {
                        self.start_next(&mut queue, &mut in_flight, &mut results);
                    }
                }
                Action::Finished(id, outcome) => {
                    let more = outcome.continues();
                    if let Some((_, _, report, _)) = in_flight.get_mut(&id) {
                        report.add(outcome);
                    }
                    if !more {
                        if let Some((index, _, report, started)) = in_flight.remove(&id) {
                            if let Some(slot) = results.get_mut(index) {
                                *slot = Some(report.finish(started.elapsed()));
                            }
                        }
                    }
                }
                other => break Some(self.unexpected(&other)),
            }
        };
        if let Some(error) = fatal {
            for (index, ..) in in_flight.into_values() {
                if let Some(slot) = results.get_mut(index) {
                    *slot = Some(Err(error.clone()));
                }
            }
            let not_sent = error.clone().with_delivery(crate::Delivery::NotSent);
            for (index, ..) in queue {
                if let Some(slot) = results.get_mut(index) {
                    *slot = Some(Err(not_sent.clone()));
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

    /// Says goodbye and closes the connection. Whatever the server answers to QUIT, even
    /// junk or nothing, messages already accepted stay accepted.
    ///
    /// # Errors
    /// Only a failure before QUIT could be sent.
    pub async fn quit(mut self) -> Result<(), Error> {
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

    /// Notes when AUTH starts and how long it took, for diagnostics and metrics.
    fn time_auth(&mut self) {
        if self.auth_duration.is_some() {
            return;
        }
        if self.auth_started.is_none() && self.session.phase() == Phase::Auth {
            self.auth_started = Some(Instant::now());
        }
        if self.session.is_authenticated() {
            self.auth_duration = self.auth_started.map(|started| started.elapsed());
        }
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

    fn pipelines(&self) -> bool {
        self.session.config().pipelining
            && self.session.capabilities().is_some_and(|c| c.pipelining())
    }

    async fn start(&mut self, envelope: Envelope) -> Result<MailId, Error> {
        match self.pump().await? {
            Action::Ready => Ok(self.session.send_mail(envelope)?),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Starts the next queued message the server will take; a message refused before anything
    /// was sent gets its error and the next one is tried. Returns whether one started.
    fn start_next(
        &mut self,
        queue: &mut VecDeque<(usize, Envelope, Vec<u8>)>,
        in_flight: &mut HashMap<MailId, (usize, Vec<u8>, SendReport, Instant)>,
        results: &mut [Option<Result<SendReport, Error>>],
    ) -> bool {
        while let Some((index, envelope, body)) = queue.pop_front() {
            match self.session.send_mail(envelope) {
                Ok(id) => {
                    in_flight.insert(id, (index, body, SendReport::default(), Instant::now()));
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

    /// Writes a whole message: data and terminator leave together when the message fits in
    /// one chunk, so a small message costs one write. Stops early if the server ends the
    /// transaction meanwhile (a refused BDAT chunk).
    async fn write_message(&mut self, id: MailId, message: &[u8]) -> Result<(), Error> {
        let mut chunks = message.chunks(DATA_CHUNK).peekable();
        while let Some(chunk) = chunks.next() {
            self.session.write_data(chunk)?;
            if chunks.peek().is_some() && !self.flush(id).await? {
                return Ok(());
            }
        }
        self.session.finish_data()?;
        Ok(())
    }

    /// Writes data read from `reader` chunk by chunk; the last chunk and the terminator leave
    /// in one write. Returns the octets read.
    async fn write_reader(
        &mut self,
        id: MailId,
        mut reader: impl std::io::Read,
    ) -> Result<u64, Error> {
        let mut current = vec![0; DATA_CHUNK];
        let mut next = vec![0; DATA_CHUNK];
        let mut filled = self.read_chunk(&mut reader, &mut current)?;
        let mut total = 0;
        while filled > 0 {
            let ahead = self.read_chunk(&mut reader, &mut next)?;
            self.session
                .write_data(current.get(..filled).unwrap_or_default())?;
            total += filled as u64;
            if ahead > 0 && !self.flush(id).await? {
                return Ok(total);
            }
            std::mem::swap(&mut current, &mut next);
            filled = ahead;
        }
        self.session.finish_data()?;
        Ok(total)
    }

    /// Fills `buffer` as far as the reader goes; 0 means the end.
    fn read_chunk(
        &mut self,
        reader: &mut impl std::io::Read,
        buffer: &mut [u8],
    ) -> Result<usize, Error> {
        let mut filled = 0;
        while filled < buffer.len() {
            let Some(rest) = buffer.get_mut(filled..) else {
                break;
            };
            match reader.read(rest) {
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
        self.peek_replies().await?;
        match self.pump().await? {
            Action::SendData(wanted) if wanted == id => Ok(true),
            other => {
                self.stashed = Some(other);
                Ok(false)
            }
        }
    }

    /// Picks up what the server already sent, without waiting: a refusal in the middle of the
    /// data (`552` before the end) should stop the writing, not wait for it to finish.
    async fn peek_replies(&mut self) -> Result<(), Error> {
        match tokio::time::timeout(Duration::ZERO, self.stream.read(&mut self.buffer)).await {
            Err(_) => Ok(()),
            Ok(Ok(0)) => Err(self.fail(ErrorKind::ConnectionClosed)),
            Ok(Ok(read)) => {
                self.session
                    .feed(self.buffer.get(..read).unwrap_or_default());
                Ok(())
            }
            Ok(Err(error)) => Err(self.fail(ErrorKind::Io(Arc::new(error)))),
        }
    }

    /// Carries out actions until one needs the caller.
    async fn pump(&mut self) -> Result<Action, Error> {
        if let Some(action) = self.stashed.take() {
            return Ok(action);
        }
        loop {
            self.session.set_elapsed(self.started.elapsed());
            self.time_auth();
            let action = match self.session.next_action() {
                Ok(action) => action,
                Err(error) => return Err(self.explain(error)),
            };
            self.time_auth();
            if !matches!(action, Action::Receive { .. }) {
                self.deadline = None;
            }
            match action {
                Action::Send { mut bytes, timeout } => {
                    let written = self.write(&bytes, timeout).await;
                    // It may hold an AUTH line: no password left in freed memory.
                    crate::Zeroize::zeroize(&mut bytes);
                    written?
                }
                Action::Receive { timeout } => self.read(timeout).await?,
                Action::StartTls { timeout } => self.start_tls(timeout).await?,
                other => return Ok(other),
            }
        }
    }

    async fn write(&mut self, bytes: &[u8], timeout: Duration) -> Result<(), Error> {
        let stream = &mut self.stream;
        let written = tokio::time::timeout(timeout, async {
            stream.write_all(bytes).await?;
            stream.flush().await
        })
        .await;
        match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(self.fail(ErrorKind::Io(Arc::new(error)))),
            Err(_) => Err(self.fail(ErrorKind::Timeout)),
        }
    }

    /// Reads once, within the deadline of the reply being read: a server that trickles bytes
    /// cannot stretch it.
    async fn read(&mut self, timeout: Duration) -> Result<(), Error> {
        let replies = self.session.replies_received();
        let deadline = match self.deadline {
            Some((count, deadline)) if count == replies => deadline,
            _ => {
                let deadline = Instant::now() + timeout;
                self.deadline = Some((replies, deadline));
                deadline
            }
        };
        match tokio::time::timeout_at(deadline, self.stream.read(&mut self.buffer)).await {
            Ok(Ok(0)) => Err(self.fail(ErrorKind::ConnectionClosed)),
            Ok(Ok(read)) => {
                let data = self.buffer.get(..read).unwrap_or_default();
                if self.first_byte.is_none() {
                    self.first_byte = data.first().copied();
                    // A TLS record where the greeting is due: say so now, not when the
                    // greeting's deadline passes (the framer would wait for a line end).
                    if self.tls_info.is_none() && matches!(self.first_byte, Some(0x15 | 0x16)) {
                        return Err(
                            self.fail(ErrorKind::WrongTlsMode(TlsMismatch::ServerSpeaksTls))
                        );
                    }
                }
                self.session.feed(data);
                Ok(())
            }
            Ok(Err(error)) => Err(self.fail(ErrorKind::Io(Arc::new(error)))),
            Err(_) => Err(self.fail(ErrorKind::Timeout)),
        }
    }

    async fn start_tls(&mut self, timeout: Duration) -> Result<(), Error> {
        // The session refuses bytes after the 220 already; this guards the shell's own buffer.
        if self.session.buffered_input() > 0 {
            return Err(self.fail(ErrorKind::Protocol(ProtocolViolation::DataAfterStartTls)));
        }
        let config = match self.tls.client_config() {
            Ok(config) => config,
            Err(error) => return Err(self.fail(ErrorKind::Tls(Arc::new(error)))),
        };
        let name = match tls::server_name(&self.host) {
            Ok(name) => name,
            Err(error) => return Err(self.fail(ErrorKind::Tls(Arc::new(error)))),
        };
        let MaybeTls::Plain(plain) = std::mem::replace(&mut self.stream, MaybeTls::Upgrading)
        else {
            return Err(self.fail(ErrorKind::Input(InputError::WrongState(
                "TLS is already on",
            ))));
        };
        let started = Instant::now();
        let handshake = TlsConnector::from(config).connect(name, plain);
        match tokio::time::timeout(timeout, handshake).await {
            Ok(Ok(stream)) => {
                let verified = self.tls.verifies_certificates();
                let info =
                    TlsInfo::from_connection(stream.get_ref().1, verified, started.elapsed());
                self.session.note(format!("TLS handshake done: {info}"));
                self.tls_info = Some(info);
                self.stream = MaybeTls::Tls(Box::new(stream));
                self.session.tls_established()
            }
            Ok(Err(error)) => {
                let kind = self.classify_tls_error(error);
                Err(self.fail(kind))
            }
            Err(_) => Err(self.fail(ErrorKind::Timeout)),
        }
    }

    /// A handshake that meets a plaintext greeting fails on the record type; say what it means.
    fn classify_tls_error(&self, error: std::io::Error) -> ErrorKind {
        let rustls_error = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .cloned();
        match rustls_error {
            Some(rustls::Error::InvalidMessage(_))
                if self.session.config().tls == TlsPolicy::Implicit && self.tls_info.is_none() =>
            {
                ErrorKind::WrongTlsMode(TlsMismatch::ServerSpeaksPlaintext)
            }
            Some(rustls_error) => ErrorKind::Tls(Arc::new(rustls_error)),
            None => ErrorKind::Tls(Arc::new(error)),
        }
    }

    fn fail(&mut self, kind: ErrorKind) -> Error {
        let error = self.session.fail(kind);
        self.explain(error)
    }

    /// Recognises a TLS mode mix-up behind a greeting that is not SMTP: a TLS record
    /// (0x15 alert, 0x16 handshake) where a `220` was due, or silence on port 465.
    fn explain(&self, error: Error) -> Error {
        if error.phase() != Phase::Greeting || self.tls_info.is_some() {
            return error;
        }
        let tls_record = matches!(self.first_byte, Some(0x15 | 0x16));
        let silent_465 = self.port == 465 && matches!(error.kind(), ErrorKind::Timeout);
        if tls_record || silent_465 {
            return Error::new(
                ErrorKind::WrongTlsMode(TlsMismatch::ServerSpeaksTls),
                Phase::Greeting,
            );
        }
        error
    }

    fn unexpected(&mut self, action: &Action) -> Error {
        let error = Error::input(
            self.session.phase(),
            InputError::WrongState("the session asked for something this call cannot give"),
        );
        self.session.note(format!("unexpected action {action:?}"));
        error
    }
}
