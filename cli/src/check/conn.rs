//! Drives the library's sans-IO [`Session`] over a socket one reply at a time, so each step
//! of the dialogue can be judged and reported on its own.
//!
//! The session decides everything about the protocol (what to send, whether to go on, what
//! the transcript shows); this driver moves bytes, enforces deadlines and runs the TLS
//! handshake itself so the certificate can be examined even when it fails. A copy of every
//! byte received goes through a second [`ReplyFramer`] so each reply can be shown as it
//! arrives. The only commands it writes itself are the MAIL FROM / RSET probe and a QUIT
//! after a refusal, each through the library's [`Command`] encoder.

use rustls::pki_types::ServerName;
use smtpwire::command::Command;
use smtpwire::reply::{Reply, ReplyFramer};
use smtpwire::session::{Action, Session, SessionConfig};
use smtpwire::transcript::{Entry, Transcript};
use smtpwire::{Error, ErrorKind, Phase};
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

/// How many of the first bytes received in plaintext are kept, to recognise what the other
/// end speaks (a TLS record, an IMAP greeting).
const KEEP: usize = 256;

/// A stream that keeps a copy of the first bytes read through it.
pub(crate) struct Recorded<S> {
    inner: S,
    seen: Vec<u8>,
}

impl<S> Recorded<S> {
    fn new(inner: S) -> Self {
        Self {
            inner,
            seen: Vec::new(),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Recorded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            let room = KEEP.saturating_sub(this.seen.len());
            let new = buf.filled().get(before..).unwrap_or_default();
            this.seen
                .extend_from_slice(new.get(..room.min(new.len())).unwrap_or_default());
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recorded<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

enum Stream {
    Plain(Recorded<TcpStream>),
    Tls(Box<tokio_rustls::client::TlsStream<Recorded<TcpStream>>>),
    /// After a failed handshake: nothing can be sent any more.
    Gone,
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the connection was closed")
}

impl Stream {
    async fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buffer).await,
            Self::Tls(s) => s.read(buffer).await,
            Self::Gone => Err(gone()),
        }
    }

    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Self::Plain(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
            Self::Tls(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
            Self::Gone => Err(gone()),
        }
    }

    async fn shutdown(&mut self) {
        match self {
            Self::Plain(s) => {
                let _ = s.shutdown().await;
            }
            Self::Tls(s) => {
                let _ = s.shutdown().await;
            }
            Self::Gone => {}
        }
    }
}

/// What one reply did: the reply itself (if one came) and the session's verdict on it.
pub(crate) struct Answer {
    /// The reply, as received.
    pub reply: Option<Reply>,
    /// `Ok` when the session goes on; its error otherwise (with the phase and the reply).
    pub outcome: Result<(), Error>,
}

/// What a TLS handshake showed.
pub(crate) struct Handshake {
    /// `TLS 1.3`, once negotiated.
    pub protocol: Option<String>,
    /// The cipher suite, once negotiated.
    pub cipher: Option<String>,
    /// `Ok`, or what went wrong (the session has been failed with it).
    pub result: Result<(), HandshakeError>,
    /// Bytes that arrived in plaintext during the handshake: a `220` means the port speaks
    /// plain SMTP first.
    pub plaintext: Vec<u8>,
}

/// Why a handshake failed.
pub(crate) enum HandshakeError {
    Timeout,
    Tls(rustls::Error),
    Io(io::Error),
}

/// One connection to the server, with the session driving it.
pub(crate) struct Conn {
    stream: Stream,
    session: Session,
    shadow: ReplyFramer,
    replies: VecDeque<Reply>,
    pending: Option<Action>,
    buffer: Box<[u8]>,
    started: Instant,
    /// Entries this driver wrote itself (the MAIL FROM probe), and where they go in the
    /// session's transcript.
    extra: Option<(usize, Transcript)>,
}

impl Conn {
    pub(crate) fn new(tcp: TcpStream, config: SessionConfig, started: Instant) -> Self {
        Self {
            stream: Stream::Plain(Recorded::new(tcp)),
            shadow: ReplyFramer::new(config.reply_limits),
            session: Session::new(config),
            replies: VecDeque::new(),
            pending: None,
            buffer: vec![0; 16 * 1024].into_boxed_slice(),
            started,
            extra: None,
        }
    }

    pub(crate) fn session(&self) -> &Session {
        &self.session
    }

    /// The plaintext bytes received so far (up to a few hundred).
    pub(crate) fn first_bytes(&self) -> &[u8] {
        match &self.stream {
            Stream::Plain(s) => &s.seen,
            Stream::Tls(s) => &s.get_ref().0.seen,
            Stream::Gone => &[],
        }
    }

    /// Whether the server sent anything (or closed) within `wait`.
    pub(crate) async fn readable_within(&self, wait: Duration) -> bool {
        match &self.stream {
            Stream::Plain(s) => tokio::time::timeout(wait, s.inner.readable()).await.is_ok(),
            _ => true,
        }
    }

    /// The first bytes waiting on the plaintext socket, without consuming them (empty if
    /// none arrive within a moment).
    pub(crate) async fn peek(&self) -> Vec<u8> {
        let Stream::Plain(s) = &self.stream else {
            return Vec::new();
        };
        let mut buffer = [0u8; 16];
        match tokio::time::timeout(Duration::from_millis(500), s.inner.peek(&mut buffer)).await {
            Ok(Ok(read)) => buffer.get(..read).unwrap_or_default().to_vec(),
            _ => Vec::new(),
        }
    }

    /// The next action of the session, or the one it already returned.
    pub(crate) fn take_action(&mut self) -> Result<Action, Error> {
        self.session.set_elapsed(self.started.elapsed());
        match self.pending.take() {
            Some(action) => Ok(action),
            None => self.session.next_action(),
        }
    }

    /// Sends what the session has queued and waits for the next reply; the session then
    /// judges it.
    pub(crate) async fn await_reply(&mut self) -> Answer {
        let mut deadline = None;
        loop {
            if let Some(reply) = self.replies.pop_front() {
                self.session.set_elapsed(self.started.elapsed());
                let outcome = match self.session.next_action() {
                    Ok(action) => {
                        self.pending = Some(action);
                        Ok(())
                    }
                    Err(error) => Err(error),
                };
                return Answer {
                    reply: Some(reply),
                    outcome,
                };
            }
            let action = match self.take_action() {
                Ok(action) => action,
                Err(error) => {
                    return Answer {
                        reply: None,
                        outcome: Err(error),
                    }
                }
            };
            let result = match action {
                Action::Send { bytes, timeout } => self.write(&bytes, timeout).await,
                Action::Receive { timeout } => {
                    let at = *deadline.get_or_insert_with(|| Instant::now() + timeout);
                    self.read(at).await
                }
                other => {
                    // StartTls, Ready, Closed: no reply is coming; the caller decides.
                    self.pending = Some(other);
                    return Answer {
                        reply: None,
                        outcome: Ok(()),
                    };
                }
            };
            if let Err(error) = result {
                return Answer {
                    reply: None,
                    outcome: Err(error),
                };
            }
        }
    }

    async fn write(&mut self, bytes: &[u8], timeout: Duration) -> Result<(), Error> {
        match tokio::time::timeout(timeout, self.stream.write_all(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(self.session.fail(ErrorKind::Io(Arc::new(error)))),
            Err(_) => Err(self.session.fail(ErrorKind::Timeout)),
        }
    }

    async fn read(&mut self, deadline: Instant) -> Result<(), Error> {
        match tokio::time::timeout_at(deadline, self.stream.read(&mut self.buffer)).await {
            Ok(Ok(0)) => Err(self.session.fail(ErrorKind::ConnectionClosed)),
            Ok(Ok(read)) => {
                let data = self.buffer.get(..read).unwrap_or_default();
                self.session.feed(data);
                self.shadow.push(data);
                self.collect();
                Ok(())
            }
            Ok(Err(error)) => Err(self.session.fail(ErrorKind::Io(Arc::new(error)))),
            Err(_) => Err(self.session.fail(ErrorKind::Timeout)),
        }
    }

    /// Moves complete replies out of the shadow framer. A framing error is left for the
    /// session, which sees the same bytes, to report.
    fn collect(&mut self) {
        while let Ok(Some(reply)) = self.shadow.next_reply() {
            self.replies.push_back(reply);
        }
    }

    /// Runs the TLS handshake the session asked for, on the same socket. On failure the
    /// session is failed and the socket dropped: nothing more is ever written.
    pub(crate) async fn start_tls(
        &mut self,
        config: Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
        timeout: Duration,
    ) -> Handshake {
        let Stream::Plain(mut plain) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            return Handshake {
                protocol: None,
                cipher: None,
                result: Err(HandshakeError::Io(gone())),
                plaintext: Vec::new(),
            };
        };
        // Only what arrives during the handshake tells what the port speaks.
        plain.seen.clear();
        let connect = TlsConnector::from(config)
            .connect(name, plain)
            .into_fallible();
        let (handshake, kind) = match tokio::time::timeout(timeout, connect).await {
            Ok(Ok(stream)) => {
                let connection = stream.get_ref().1;
                let protocol = connection.protocol_version().map(|v| match v {
                    rustls::ProtocolVersion::TLSv1_3 => "TLS 1.3".to_owned(),
                    rustls::ProtocolVersion::TLSv1_2 => "TLS 1.2".to_owned(),
                    other => format!("{other:?}"),
                });
                let cipher = connection
                    .negotiated_cipher_suite()
                    .map(|s| format!("{:?}", s.suite()));
                self.session.set_elapsed(self.started.elapsed());
                self.session.note(format!(
                    "TLS handshake done: {} {}",
                    protocol.as_deref().unwrap_or("?"),
                    cipher.as_deref().unwrap_or("?")
                ));
                self.stream = Stream::Tls(Box::new(stream));
                let result = match self.session.tls_established() {
                    Ok(()) => Ok(()),
                    Err(error) => Err(HandshakeError::Io(io::Error::other(error.to_string()))),
                };
                return Handshake {
                    protocol,
                    cipher,
                    result,
                    plaintext: Vec::new(),
                };
            }
            Ok(Err((error, plain))) => {
                let rustls_error = error
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                    .cloned();
                let handshake = Handshake {
                    protocol: None,
                    cipher: None,
                    result: Err(match &rustls_error {
                        Some(e) => HandshakeError::Tls(e.clone()),
                        None => HandshakeError::Io(io::Error::new(error.kind(), error.to_string())),
                    }),
                    plaintext: plain.seen.clone(),
                };
                let kind = match rustls_error {
                    Some(e) => ErrorKind::Tls(Arc::new(e)),
                    None => ErrorKind::Io(Arc::new(error)),
                };
                // `plain` is dropped here: the connection closes with nothing more sent.
                (handshake, kind)
            }
            Err(_) => (
                Handshake {
                    protocol: None,
                    cipher: None,
                    result: Err(HandshakeError::Timeout),
                    plaintext: Vec::new(),
                },
                ErrorKind::Timeout,
            ),
        };
        self.session.set_elapsed(self.started.elapsed());
        let _ = self.session.fail(kind);
        handshake
    }

    /// Sends one command of this driver's own and reads its reply, without the session
    /// (which is idle and ready, and never sees these bytes).
    pub(crate) async fn exchange(
        &mut self,
        command: &Command,
        phase: Phase,
        timeout: Duration,
    ) -> Result<Reply, Error> {
        let at = self.started.elapsed();
        let index = self.session.transcript().map_or(0, |t| t.entries().len());
        let extra = self
            .extra
            .get_or_insert_with(|| (index, Transcript::default()));
        extra.1.set_elapsed(at);
        extra.1.push(Entry::Client(command.redacted().to_string()));
        let error = |kind| Error::new(kind, phase);
        tokio::time::timeout(timeout, self.stream.write_all(&command.to_bytes()))
            .await
            .map_err(|_| error(ErrorKind::Timeout))?
            .map_err(|e| error(ErrorKind::Io(Arc::new(e))))?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(reply) = self.replies.pop_front() {
                self.note_reply(&reply);
                return Ok(reply);
            }
            match self.shadow.next_reply() {
                Ok(Some(reply)) => {
                    self.note_reply(&reply);
                    return Ok(reply);
                }
                Ok(None) => {}
                Err(framing) => {
                    return Err(Error::protocol(
                        phase,
                        smtpwire::ProtocolViolation::Framing(framing),
                    ))
                }
            }
            match tokio::time::timeout_at(deadline, self.stream.read(&mut self.buffer)).await {
                Ok(Ok(0)) => return Err(error(ErrorKind::ConnectionClosed)),
                Ok(Ok(read)) => self
                    .shadow
                    .push(self.buffer.get(..read).unwrap_or_default()),
                Ok(Err(e)) => return Err(error(ErrorKind::Io(Arc::new(e)))),
                Err(_) => return Err(error(ErrorKind::Timeout)),
            }
        }
    }

    fn note_reply(&mut self, reply: &Reply) {
        let at = self.started.elapsed();
        if let Some((_, transcript)) = &mut self.extra {
            transcript.set_elapsed(at);
            for line in reply.to_wire().split(|&b| b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if !line.is_empty() {
                    transcript.push(Entry::Server(line.to_vec()));
                }
            }
        }
    }

    /// QUIT through the session when it is ready, or written directly after a refusal (the
    /// connection is still sound then). Returns the server's answer, if any.
    pub(crate) async fn quit(&mut self, timeout: Duration) -> Option<Reply> {
        if matches!(self.stream, Stream::Gone) {
            return None;
        }
        let mut answer = None;
        if self.session.is_usable() {
            let _ = self.session.quit();
            self.pending = None;
            let deadline = Instant::now() + timeout;
            loop {
                match self.take_action() {
                    Ok(Action::Send { bytes, timeout }) => {
                        if self.write(&bytes, timeout).await.is_err() {
                            break;
                        }
                    }
                    Ok(Action::Receive { .. }) => {
                        if self.read(deadline).await.is_err() {
                            break;
                        }
                        if let Some(reply) = self.replies.pop_front() {
                            answer = Some(reply);
                        }
                    }
                    _ => break,
                }
            }
        } else if let Ok(reply) = self.exchange(&Command::Quit, Phase::Quit, timeout).await {
            answer = Some(reply);
        }
        self.stream.shutdown().await;
        answer
    }

    /// The library's redacted transcript, with this driver's own commands in their place.
    pub(crate) fn transcript(&self) -> Option<Transcript> {
        let session = self.session.transcript()?;
        let Some((index, extra)) = &self.extra else {
            return Some(session.clone());
        };
        let mut merged = Transcript::default();
        let entries = session.entries();
        let (before, after) = entries.split_at((*index).min(entries.len()));
        for (at, entry) in before.iter().chain(extra.entries()).chain(after) {
            merged.set_elapsed(*at);
            merged.push(entry.clone());
        }
        Some(merged)
    }
}
