//! One delivery, shared by `send`, `raw` and `demo`: connect, send, quit, and everything
//! that happened on the way (the reply of each recipient, TLS, the redacted transcript), for
//! `output` to show.

use crate::exit::CliError;
use crate::target::{Target, TargetArgs};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use smtpwire::envelope::Envelope;
use smtpwire::mime::Message;
use smtpwire::session::Event;
use smtpwire::session::TlsPolicy;
use smtpwire::transcript::Transcript;
use smtpwire::transport::{connect_tcp, Client, ClientConfig, TlsInfo};
use smtpwire::Report;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Messages from this size on get a progress bar, when stderr is a terminal.
const LARGE: u64 = 1024 * 1024;

/// Where to send, or `None` for a dry run, which reads no password and opens no connection;
/// a password on the command line is refused even then.
pub fn target(args: &TargetArgs, dry_run: bool) -> Result<Option<Target>, CliError> {
    if dry_run && args.password.is_none() {
        return Ok(None);
    }
    // With --password, resolve fails on it before reading anything else.
    args.resolve().map(Some)
}

/// What to send.
pub enum Payload<'a> {
    /// A built MIME message; its envelope comes from its headers.
    Message(&'a Message),
    /// A built MIME message with an envelope of its own (DSN requests).
    MessageWith {
        /// The envelope.
        envelope: Envelope,
        /// The message, streamed.
        message: &'a Message,
    },
    /// A complete message as bytes, with its envelope.
    Raw {
        /// The envelope.
        envelope: Envelope,
        /// The message.
        bytes: &'a [u8],
    },
}

/// The most of a header section shown in a transcript.
const HEADERS_SHOWN: usize = 64 * 1024;

impl Payload<'_> {
    /// The header section, up to the blank line (at most [`HEADERS_SHOWN`] octets), for
    /// showing; a built message's is rendered as it will be sent.
    fn headers(&self) -> Vec<u8> {
        let mut start = Vec::new();
        match self {
            Self::Message(message) | Self::MessageWith { message, .. } => {
                let _ = std::io::Read::read_to_end(
                    &mut std::io::Read::take(message.reader(), HEADERS_SHOWN as u64),
                    &mut start,
                );
            }
            Self::Raw { bytes, .. } => {
                start.extend_from_slice(
                    bytes
                        .get(..HEADERS_SHOWN.min(bytes.len()))
                        .unwrap_or_default(),
                );
            }
        }
        let end = start
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|at| at + 2)
            .or_else(|| start.windows(2).position(|w| w == b"\n\n").map(|at| at + 1))
            .unwrap_or(start.len());
        start.truncate(end);
        start
    }

    fn len(&self) -> u64 {
        match self {
            Self::Message(message) | Self::MessageWith { message, .. } => message.encoded_len(),
            Self::Raw { bytes, .. } => bytes.len() as u64,
        }
    }

    /// The envelope sender and recipients, as text.
    fn envelope(&self) -> (String, Vec<String>) {
        match self {
            Self::Message(message) => (
                message.envelope_from().as_str().to_owned(),
                message
                    .envelope_to()
                    .iter()
                    .map(|r| r.as_str().to_owned())
                    .collect(),
            ),
            Self::Raw { envelope, .. } | Self::MessageWith { envelope, .. } => (
                envelope
                    .from()
                    .map(|m| m.as_str().to_owned())
                    .unwrap_or_default(),
                envelope
                    .recipients()
                    .iter()
                    .map(|r| r.mailbox().as_str().to_owned())
                    .collect(),
            ),
        }
    }
}

/// Everything one delivery attempt learned.
pub struct Attempt {
    /// `host:port` as asked for.
    pub server: String,
    /// The TLS policy used.
    pub policy: TlsPolicy,
    /// The address connected to, once connected.
    pub peer: Option<SocketAddr>,
    /// What TLS negotiated, if it did.
    pub tls: Option<TlsInfo>,
    /// The redacted dialogue, when asked for and the session got far enough to keep it.
    pub transcript: Option<Transcript>,
    /// The envelope sender.
    pub envelope_from: String,
    /// The envelope recipients.
    pub envelope_to: Vec<String>,
    /// The message's header section as sent (for `--transcript=full`).
    pub headers: Vec<u8>,
    /// Whether the session went on in plaintext where STARTTLS was optional.
    pub stayed_plaintext: bool,
    /// Each recipient's outcome, or why the message did not go (with each recipient's
    /// verdict in the error's report when it got that far).
    pub result: Result<Report, smtpwire::Error>,
}

/// Connects, sends the payload once, and says goodbye.
pub async fn deliver(config: ClientConfig, payload: Payload<'_>) -> Attempt {
    let (envelope_from, envelope_to) = payload.envelope();
    let headers = payload.headers();
    let server = format!("{}:{}", config.host(), config.port());
    let policy = config.session().tls_policy();
    let mut seen = Seen::default();
    let result = talk(config, payload, &mut seen).await;
    Attempt {
        server,
        policy,
        peer: seen.peer,
        tls: seen.tls,
        transcript: seen.transcript,
        envelope_from,
        envelope_to,
        headers,
        stayed_plaintext: seen.stayed_plaintext,
        result,
    }
}

/// What the connection showed on the way, kept even when it fails.
#[derive(Default)]
struct Seen {
    peer: Option<SocketAddr>,
    tls: Option<TlsInfo>,
    transcript: Option<Transcript>,
    stayed_plaintext: bool,
}

async fn talk(
    config: ClientConfig,
    payload: Payload<'_>,
    seen: &mut Seen,
) -> Result<Report, smtpwire::Error> {
    // The CLI opens the connection itself to count the bytes written for the progress bar.
    let (stream, peer) =
        connect_tcp(config.host(), config.port(), &config.session().timeouts()).await?;
    seen.peer = Some(peer);
    let bar = Bar(progress_bar(payload.len()));
    let counting = Counting::new(stream, bar.0.clone());
    // Stepped rather than connected in one call, so that what TLS negotiated and the dialogue
    // stay at hand when the opening fails (a refused AUTH over TLS).
    let mut client = Client::start(counting, Some(peer), config);
    let opened = loop {
        match client.next_event().await {
            Ok(Event::Ready) => break Ok(()),
            Ok(Event::StayedPlaintext) => seen.stayed_plaintext = true,
            Ok(_) => {}
            Err(error) => break Err(error),
        }
    };
    if let Err(error) = opened {
        seen.tls = client.tls_info().cloned();
        // After a refusal the connection is still in step: the session says goodbye
        // (RFC 5321 §3.8); after a broken one it sends nothing.
        let _ = client.quit().await;
        seen.transcript = client.session().transcript().cloned();
        return Err(error);
    }
    let result = match payload {
        Payload::Message(message) => client.send_message(message).await,
        Payload::MessageWith { envelope, message } => {
            client.send_message_with(envelope, message).await
        }
        Payload::Raw { envelope, bytes } => client.send(envelope, bytes).await,
    };
    drop(bar);
    seen.tls = client.tls_info().cloned();
    // Whatever QUIT gets, the message is accepted or not already; the transcript shows it.
    let _ = client.quit().await;
    seen.transcript = client.session().transcript().cloned();
    result
}

/// A bar for a large message when stderr is a terminal; none otherwise.
fn progress_bar(len: u64) -> Option<ProgressBar> {
    if len < LARGE || !std::io::stderr().is_terminal() {
        return None;
    }
    let style = ProgressStyle::with_template(
        "sending {bar:40.cyan/blue} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
    .map(|style| style.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    Some(ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr()).with_style(style))
}

/// Clears the bar when done, however it ends, so no half-drawn bar is left above the
/// error or the transcript.
struct Bar(Option<ProgressBar>);

impl Drop for Bar {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

/// A stream that moves a progress bar by the bytes written: the commands are a few hundred
/// bytes and TLS adds well under 1%, so the count follows the message data closely.
struct Counting<S> {
    inner: S,
    bar: Option<ProgressBar>,
}

impl<S> Counting<S> {
    fn new(inner: S, bar: Option<ProgressBar>) -> Self {
        Self { inner, bar }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counting<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counting<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let (Poll::Ready(Ok(n)), Some(bar)) = (&written, &this.bar) {
            bar.inc(*n as u64);
        }
        written
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
