//! The clients measured, each driven the same way for each shape of case:
//!
//! * the raw reference client ([`crate::raw`]) in its three modes;
//! * smtpwire: `Client::send` in a loop, `Client::send_batch` with every message at once,
//!   and `Client::send_message` with a message built per send;
//! * lettre 0.11: `AsyncSmtpConnection` (one connection, its fastest path), the same over a
//!   socket the benchmark set TCP_NODELAY on (lettre sets none), and
//!   `AsyncSmtpTransport<Tokio1Executor>` with a pool of one connection;
//! * mail-send 0.7: `SmtpClient` from one `SmtpClientBuilder` per run, and the same over a
//!   socket the benchmark set TCP_NODELAY on (mail-send sets none either);
//! * Go's net/smtp, as a child process (`throughput/go/netsmtp.go`).
//!
//! On a reused connection each run connects, sends one message untimed (lettre's pool opens
//! its connection on the first send), then times `count` messages (loops also stop once
//! `budget` has passed), then quits untimed. With a connection per message, the connect, the
//! greeting, EHLO and QUIT are inside the timed loop.

use crate::raw::{self, RawMode};
use lettre::message::{header::ContentType, Attachment as LettreAttachment, MultiPart, SinglePart};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, Tls, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use smtpwire::address::Mailbox;
use smtpwire::envelope::{Envelope, Recipient};
use smtpwire::mime::{Attachment, Message};
use smtpwire::session::{DataCommand, SessionConfig, TlsPolicy};
use smtpwire::transport::{Client, ClientConfig, TlsConfig};
use std::error::Error;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

const FROM: &str = "bench@localhost";
const TO: &str = "sink@localhost";
/// Every client checks the certificate for this address.
const HOST: &str = "127.0.0.1";

/// Which client, and how it is driven.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The blocking reference client.
    Raw(RawMode),
    /// `Client::send`, one message after the other: MAIL/RCPT/DATA pipelined.
    Send,
    /// `Client::send_batch` with every message at once: the next envelope follows the dot.
    Batch,
    /// `Client::send_message`, the message built (and its attachment encoded) per send.
    SendMessage,
    /// lettre's `AsyncSmtpConnection::send` in a loop on one connection.
    Lettre,
    /// The same over a socket the benchmark opened with TCP_NODELAY (lettre sets none):
    /// what lettre would do with Nagle's algorithm out of the way.
    LettreNodelay,
    /// lettre's `AsyncSmtpTransport::send_raw` with a pool of at most one connection.
    LettrePool,
    /// mail-send 0.7's `SmtpClient::send` in a loop on one connection (its own connect).
    MailSend,
    /// The same over a socket the benchmark opened with TCP_NODELAY (mail-send sets none).
    MailSendNodelay,
    /// Go's `net/smtp` (a program built from `throughput/go/netsmtp.go`), as a Go user
    /// writes it: one command at a time.
    Go,
}

impl Kind {
    pub(crate) const ALL: [Self; 12] = [
        Self::Raw(RawMode::Lockstep),
        Self::Raw(RawMode::Pipelined),
        Self::Raw(RawMode::Full),
        Self::Send,
        Self::Batch,
        Self::SendMessage,
        Self::Lettre,
        Self::LettreNodelay,
        Self::LettrePool,
        Self::MailSend,
        Self::MailSendNodelay,
        Self::Go,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Raw(RawMode::Lockstep) => "raw lockstep",
            Self::Raw(RawMode::Pipelined) => "raw pipelined",
            Self::Raw(RawMode::Full) => "raw full",
            Self::Send => "smtpwire send",
            Self::Batch => "smtpwire send_batch",
            Self::SendMessage => "smtpwire send_message",
            Self::Lettre => "lettre connection",
            Self::LettreNodelay => "lettre conn+NODELAY*",
            Self::LettrePool => "lettre transport+pool",
            Self::MailSend => "mail-send",
            Self::MailSendNodelay => "mail-send+NODELAY*",
            Self::Go => "go net/smtp",
        }
    }

    /// The name `--clients` takes.
    pub(crate) fn short(self) -> &'static str {
        match self {
            Self::Raw(RawMode::Lockstep) => "raw-lockstep",
            Self::Raw(RawMode::Pipelined) => "raw-pipelined",
            Self::Raw(RawMode::Full) => "raw-full",
            Self::Send => "send",
            Self::Batch => "batch",
            Self::SendMessage => "send-message",
            Self::Lettre => "lettre",
            Self::LettreNodelay => "lettre-nodelay",
            Self::LettrePool => "lettre-pool",
            Self::MailSend => "mail-send",
            Self::MailSendNodelay => "mail-send-nodelay",
            Self::Go => "go",
        }
    }

    pub(crate) fn is_raw(self) -> bool {
        matches!(self, Self::Raw(_))
    }

    pub(crate) fn is_lettre(self) -> bool {
        matches!(self, Self::Lettre | Self::LettreNodelay | Self::LettrePool)
    }

    /// The other SMTP clients smtpwire is compared with.
    pub(crate) fn is_peer(self) -> bool {
        self.is_lettre() || matches!(self, Self::MailSend | Self::MailSendNodelay | Self::Go)
    }

    /// Whether this client takes part in a case of this shape.
    pub(crate) fn runs(self, shape: Shape) -> bool {
        match shape {
            Shape::Reused => !matches!(self, Self::SendMessage),
            Shape::ConnectionPerMessage => matches!(
                self,
                Self::Raw(RawMode::Full)
                    | Self::Send
                    | Self::Lettre
                    | Self::LettreNodelay
                    | Self::MailSend
                    | Self::MailSendNodelay
                    | Self::Go
            ),
            Shape::BuilderPerMessage => matches!(
                self,
                Self::SendMessage
                    | Self::Lettre
                    | Self::LettreNodelay
                    | Self::MailSend
                    | Self::MailSendNodelay
                    | Self::Go
            ),
        }
    }
}

/// How the messages of a case go out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Pre-built message bytes over one connection.
    Reused,
    /// Pre-built bytes, a new connection (greeting, EHLO, QUIT) for each message.
    ConnectionPerMessage,
    /// A message with a file attachment built (and encoded) per send, one connection.
    BuilderPerMessage,
}

/// Where to connect: implicit TLS when the CA (DER) to trust is given.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) addr: SocketAddr,
    pub(crate) ca_der: Option<Vec<u8>>,
}

/// One run.
pub(crate) struct Job<'a> {
    pub(crate) kind: Kind,
    pub(crate) shape: Shape,
    pub(crate) target: &'a Target,
    /// The message bytes (CRLF lines), or with [`Shape::BuilderPerMessage`] the attachment.
    pub(crate) message: &'a [u8],
    pub(crate) count: usize,
    pub(crate) budget: Duration,
    /// Count the client's socket writes through [`CountWrites`] (smtpwire through
    /// `Client::connect_with`, lettre through `connect_with_transport`, mail-send over the
    /// socket of [`Kind::MailSendNodelay`]; not possible for lettre's pool, mail-send's own
    /// connect, Go or the raw client).
    pub(crate) count_writes: bool,
}

/// What one run measured, for the timed messages only.
#[derive(Clone, Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) messages: usize,
    pub(crate) elapsed: Duration,
    /// CPU time of this thread, where the client runs (TLS included).
    pub(crate) cpu: Duration,
    /// Socket writes over the whole connection, setup and QUIT included.
    pub(crate) writes: Option<u64>,
}

/// The clock and CPU time of this thread from the start of the timed messages.
struct Timer {
    started: Instant,
    cpu: Duration,
}

impl Timer {
    fn start() -> Self {
        Self {
            cpu: crate::sink::thread_cpu(),
            started: Instant::now(),
        }
    }

    fn stop(&self, messages: usize) -> Outcome {
        Outcome {
            messages,
            elapsed: self.started.elapsed(),
            cpu: crate::sink::thread_cpu().saturating_sub(self.cpu),
            writes: None,
        }
    }
}

/// Whether a timed loop that has sent `sent` of `job`'s messages goes on.
fn more(job: &Job<'_>, sent: usize, timer: &Timer) -> bool {
    sent < job.count && timer.started.elapsed() < job.budget
}

/// Runs one job on the calling thread's runtime (the raw client blocks it: nothing else runs
/// there).
pub(crate) async fn run(job: &Job<'_>) -> Result<Outcome, Box<dyn Error>> {
    let writes = Arc::new(AtomicU64::new(0));
    let ca = job.target.ca_der.as_deref();
    let mut outcome = match (job.kind, job.shape) {
        (Kind::Raw(mode), Shape::Reused) => {
            let wire = raw::stuffed(job.message);
            let mut conn = raw::open(job.target.addr, ca)?;
            raw::send(&mut conn, mode, &wire, 1, job.budget)?;
            let timer = Timer::start();
            let sent = raw::send(&mut conn, mode, &wire, job.count, job.budget)?;
            let outcome = timer.stop(sent);
            raw::quit(conn)?;
            outcome
        }
        (Kind::Raw(_), _) => {
            let mut wire = raw::stuffed(job.message);
            wire.extend_from_slice(b"QUIT\r\n");
            let (timer, mut sent) = (Timer::start(), 0);
            while more(job, sent, &timer) {
                raw::send_on_new_connection(job.target.addr, ca, &wire)?;
                sent += 1;
            }
            timer.stop(sent)
        }
        (Kind::MailSend | Kind::MailSendNodelay, _) => mail_send(job, &writes).await?,
        (Kind::Go, _) => go(job)?,
        (_, Shape::ConnectionPerMessage) if !job.kind.is_lettre() => {
            let config = smtpwire_config(job.target)?;
            let envelope = envelope()?;
            let (timer, mut sent) = (Timer::start(), 0);
            while more(job, sent, &timer) {
                let mut client = Client::connect(config.clone()).await?;
                // QUIT rides behind the dot, as the raw client's does.
                client.quit_after_next_send();
                client.send(envelope.clone(), job.message).await?;
                sent += 1;
            }
            timer.stop(sent)
        }
        (_, Shape::ConnectionPerMessage) => {
            let envelope = lettre_envelope()?;
            let tls = job.target.ca_der.as_deref().map(lettre_tls).transpose()?;
            let (timer, mut sent) = (Timer::start(), 0);
            while more(job, sent, &timer) {
                let mut connection = lettre_connect(job, &writes, tls.as_ref()).await?;
                connection.send(&envelope, job.message).await?;
                connection.quit().await?;
                sent += 1;
            }
            timer.stop(sent)
        }
        (Kind::Send | Kind::Batch | Kind::SendMessage, _) => {
            let config = smtpwire_config(job.target)?;
            if job.count_writes {
                let stream = TcpStream::connect(job.target.addr).await?;
                // What Client::connect does before connect_with.
                stream.set_nodelay(true)?;
                let stream = CountWrites::new(stream, writes.clone());
                smtpwire(job, Client::connect_with(stream, config).await?).await?
            } else {
                smtpwire(job, Client::connect(config).await?).await?
            }
        }
        (Kind::Lettre | Kind::LettreNodelay, _) => {
            let tls = job.target.ca_der.as_deref().map(lettre_tls).transpose()?;
            lettre_connection(job, lettre_connect(job, &writes, tls.as_ref()).await?).await?
        }
        (Kind::LettrePool, _) => lettre_pool(job).await?,
    };
    let counted = job.count_writes
        && !job.kind.is_raw()
        && !matches!(job.kind, Kind::LettrePool | Kind::MailSend | Kind::Go);
    if counted && job.shape != Shape::ConnectionPerMessage {
        outcome.writes = Some(writes.load(Ordering::SeqCst));
    }
    Ok(outcome)
}

fn smtpwire_config(target: &Target) -> Result<ClientConfig, Box<dyn Error>> {
    let (policy, tls) = match &target.ca_der {
        None => (TlsPolicy::Plaintext, TlsConfig::empty()),
        Some(ca) => (TlsPolicy::Implicit, TlsConfig::empty().with_der(ca)?),
    };
    // smtp-sink offers no CHUNKING, so Auto would pick DATA too; said here so the comparison
    // with lettre and the raw client (always DATA) stays like for like.
    let session = SessionConfig::new(policy).with_data_command(DataCommand::Data);
    Ok(ClientConfig::new(HOST, target.addr.port())
        .with_session(session)
        .with_tls(tls))
}

fn envelope() -> Result<Envelope, Box<dyn Error>> {
    Ok(Envelope::new(
        Some(Mailbox::parse(FROM)?),
        [Recipient::new(Mailbox::parse(TO)?)],
    )?)
}

/// The message of [`Shape::BuilderPerMessage`], smtpwire's way: a short text and `file` as
/// an attachment.
fn smtpwire_message(file: &[u8]) -> Result<Message, Box<dyn Error>> {
    Ok(Message::builder()
        .from(FROM)
        .to(TO)
        .subject("throughput, builder per message")
        .text("The attachment is attached.")
        .attach(Attachment::from_bytes("report.bin", file))
        .build()?)
}

async fn smtpwire<S>(job: &Job<'_>, mut client: Client<S>) -> Result<Outcome, Box<dyn Error>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let envelope = envelope()?;
    let outcome = match job.kind {
        Kind::SendMessage => {
            client.send_message(&smtpwire_message(job.message)?).await?;
            let (timer, mut sent) = (Timer::start(), 0);
            while more(job, sent, &timer) {
                client.send_message(&smtpwire_message(job.message)?).await?;
                sent += 1;
            }
            timer.stop(sent)
        }
        Kind::Batch => {
            client.send(envelope.clone(), job.message).await?;
            // Building the batch (envelopes; the bodies are borrowed) is not timed.
            let batch: Vec<(Envelope, &[u8])> = (0..job.count)
                .map(|_| (envelope.clone(), job.message))
                .collect();
            let timer = Timer::start();
            let results = client.send_batch(batch).await;
            let outcome = timer.stop(results.len());
            for result in results {
                result?;
            }
            outcome
        }
        _ => {
            client.send(envelope.clone(), job.message).await?;
            let (timer, mut sent) = (Timer::start(), 0);
            while more(job, sent, &timer) {
                client.send(envelope.clone(), job.message).await?;
                sent += 1;
            }
            timer.stop(sent)
        }
    };
    client.quit().await?;
    Ok(outcome)
}

fn lettre_envelope() -> Result<lettre::address::Envelope, Box<dyn Error>> {
    Ok(lettre::address::Envelope::new(
        Some(FROM.parse()?),
        vec![TO.parse()?],
    )?)
}

/// The message of [`Shape::BuilderPerMessage`], lettre's way.
fn lettre_message(file: &[u8]) -> Result<lettre::Message, Box<dyn Error>> {
    Ok(lettre::Message::builder()
        .from(FROM.parse()?)
        .to(TO.parse()?)
        .subject("throughput, builder per message")
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain("The attachment is attached.".to_owned()))
                .singlepart(LettreAttachment::new("report.bin".to_owned()).body(
                    file.to_vec(),
                    ContentType::parse("application/octet-stream")?,
                )),
        )?)
}

/// lettre's TLS, made once per run as a user keeps one: every connection then shares one
/// rustls configuration and resumes its TLS session, as smtpwire's and mail-send's do.
struct LettreTlsSetup {
    /// For lettre's own connect and its pool.
    parameters: TlsParameters,
    /// For a socket the benchmark opened: lettre's own rustls stream is this same
    /// tokio-rustls type, configured as lettre configures rustls (ring, TLS 1.2 and 1.3).
    connector: tokio_rustls::TlsConnector,
}

fn lettre_tls(ca: &[u8]) -> Result<LettreTlsSetup, Box<dyn Error>> {
    Ok(LettreTlsSetup {
        parameters: TlsParameters::builder(HOST.into())
            .add_root_certificate(Certificate::from_der(ca.to_vec())?)
            .build_rustls()?,
        connector: tokio_rustls::TlsConnector::from(Arc::new(tls_config(Some(ca))?)),
    })
}

/// A lettre connection as `job` wants it: lettre's own connect, or one over a socket the
/// benchmark opened (to set TCP_NODELAY, or to count writes).
async fn lettre_connect(
    job: &Job<'_>,
    writes: &Arc<AtomicU64>,
    tls: Option<&LettreTlsSetup>,
) -> Result<AsyncSmtpConnection, Box<dyn Error>> {
    let hello = ClientId::Domain("localhost".into());
    let nodelay = job.kind == Kind::LettreNodelay;
    if job.count_writes || nodelay {
        let tcp = TcpStream::connect(job.target.addr).await?;
        // lettre itself sets no TCP_NODELAY.
        tcp.set_nodelay(nodelay)?;
        let counted = CountWrites::new(tcp, writes.clone());
        let stream: Box<dyn AsyncTokioStream> = match tls {
            None => Box::new(counted),
            // Only the counting layer underneath is added.
            Some(tls) => {
                let name = rustls::pki_types::ServerName::try_from(HOST)?;
                Box::new(LettreTls(tls.connector.connect(name, counted).await?))
            }
        };
        return Ok(AsyncSmtpConnection::connect_with_transport(stream, &hello).await?);
    }
    Ok(AsyncSmtpConnection::connect_tokio1(
        job.target.addr,
        Some(Duration::from_secs(60)),
        &hello,
        tls.map(|tls| tls.parameters.clone()),
        None,
    )
    .await?)
}

async fn lettre_connection(
    job: &Job<'_>,
    mut connection: AsyncSmtpConnection,
) -> Result<Outcome, Box<dyn Error>> {
    let envelope = lettre_envelope()?;
    let builder = job.shape == Shape::BuilderPerMessage;
    let mut sent = 0;
    let mut timer = None;
    // The first message is untimed.
    while timer.is_none() || timer.as_ref().is_some_and(|timer| more(job, sent, timer)) {
        if builder {
            let message = lettre_message(job.message)?;
            connection.send(&envelope, &message.formatted()).await?;
        } else {
            connection.send(&envelope, job.message).await?;
        }
        if timer.is_none() {
            timer = Some(Timer::start());
        } else {
            sent += 1;
        }
    }
    let outcome = timer.map(|timer| timer.stop(sent)).unwrap_or_default();
    connection.quit().await?;
    Ok(outcome)
}

async fn lettre_pool(job: &Job<'_>) -> Result<Outcome, Box<dyn Error>> {
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(HOST)
        .port(job.target.addr.port())
        .hello_name(ClientId::Domain("localhost".into()))
        .timeout(Some(Duration::from_secs(60)))
        .pool_config(PoolConfig::new().max_size(1));
    if let Some(ca) = &job.target.ca_der {
        builder = builder.tls(Tls::Wrapper(lettre_tls(ca)?.parameters));
    }
    let transport = builder.build();
    let envelope = lettre_envelope()?;
    transport.send_raw(&envelope, job.message).await?;
    // The pool puts a connection back from a task spawned when the send's guard drops. On a
    // single-threaded runtime that task has not run when the next send looks for a
    // connection, so the pool opens a second one and then alternates between the two. A
    // yield lets it run, so that one connection really is reused (it changes no round trip).
    tokio::task::yield_now().await;
    let (timer, mut sent) = (Timer::start(), 0);
    while more(job, sent, &timer) {
        transport.send_raw(&envelope, job.message).await?;
        tokio::task::yield_now().await;
        sent += 1;
    }
    let outcome = timer.stop(sent);
    transport.shutdown().await;
    Ok(outcome)
}

/// mail-send 0.7 as its users drive it: one `SmtpClientBuilder` for the run and its connect
/// (or, for [`Kind::MailSendNodelay`], a socket the benchmark opened, with mail-send's own
/// greeting and EHLO steps), then `SmtpClient::send` per message, one command at a time.
async fn mail_send(job: &Job<'_>, writes: &Arc<AtomicU64>) -> Result<Outcome, Box<dyn Error>> {
    let connector =
        tokio_rustls::TlsConnector::from(Arc::new(tls_config(job.target.ca_der.as_deref())?));
    // Made once, as a user keeps one: its connections share one rustls configuration and so
    // resume TLS sessions, as smtpwire's and the raw client's do.
    let builder = mail_send::SmtpClientBuilder::new_with_tls_connector(
        HOST,
        job.target.addr.port(),
        connector,
    )
    .implicit_tls(true)
    .helo_host("localhost")
    .timeout(Duration::from_secs(60));
    if job.kind == Kind::MailSendNodelay {
        mail_send_runs(job, || mail_send_connect_nodelay(job, &builder, writes)).await
    } else {
        mail_send_runs(job, || mail_send_connect(job, &builder)).await
    }
}

/// The timed loop of [`mail_send`], with `connect` making each connection.
async fn mail_send_runs<S, Connect, Connecting>(
    job: &Job<'_>,
    connect: Connect,
) -> Result<Outcome, Box<dyn Error>>
where
    S: AsyncRead + AsyncWrite + Unpin,
    Connect: Fn() -> Connecting,
    Connecting: Future<Output = Result<MailSend<S>, Box<dyn Error>>>,
{
    if job.shape == Shape::ConnectionPerMessage {
        let (timer, mut sent) = (Timer::start(), 0);
        while more(job, sent, &timer) {
            let mut client = connect().await?;
            client.send(job).await?;
            client.quit().await?;
            sent += 1;
        }
        return Ok(timer.stop(sent));
    }
    let mut client = connect().await?;
    client.send(job).await?;
    let (timer, mut sent) = (Timer::start(), 0);
    while more(job, sent, &timer) {
        client.send(job).await?;
        sent += 1;
    }
    let outcome = timer.stop(sent);
    client.quit().await?;
    Ok(outcome)
}

/// mail-send's own connect: `connect_plain`, or `connect` with implicit TLS.
async fn mail_send_connect(
    job: &Job<'_>,
    builder: &mail_send::SmtpClientBuilder<&'static str>,
) -> Result<MailSend<TcpStream>, Box<dyn Error>> {
    Ok(match job.target.ca_der {
        None => MailSend::Plain(builder.connect_plain().await?),
        Some(_) => MailSend::Tls(Box::new(builder.connect().await?)),
    })
}

/// What `connect` and `connect_plain` do, over a socket the benchmark opened with
/// TCP_NODELAY and under the write counter (as `lettre-nodelay`'s). mail-send upgrades only
/// a bare `TcpStream` to TLS, so the TLS step is `into_tls`'s own: the builder's connector.
async fn mail_send_connect_nodelay(
    job: &Job<'_>,
    builder: &mail_send::SmtpClientBuilder<&'static str>,
    writes: &Arc<AtomicU64>,
) -> Result<MailSend<CountWrites<TcpStream>>, Box<dyn Error>> {
    let tcp = TcpStream::connect(job.target.addr).await?;
    tcp.set_nodelay(true)?;
    let counted = CountWrites::new(tcp, writes.clone());
    Ok(match job.target.ca_der {
        None => MailSend::Plain(mail_send_greeted(counted, builder).await?),
        Some(_) => {
            let name = rustls::pki_types::ServerName::try_from(HOST)?;
            let tls = builder.tls_connector.connect(name, counted).await?;
            MailSend::Tls(Box::new(mail_send_greeted(tls, builder).await?))
        }
    })
}

/// mail-send's steps once the stream is there (and TLS up): the greeting, then EHLO.
async fn mail_send_greeted<T: AsyncRead + AsyncWrite + Unpin>(
    stream: T,
    builder: &mail_send::SmtpClientBuilder<&'static str>,
) -> Result<mail_send::SmtpClient<T>, Box<dyn Error>> {
    use mail_send::smtp::AssertReply;
    let mut client = mail_send::SmtpClient {
        stream,
        timeout: builder.timeout,
    };
    client.read().await?.assert_positive_completion()?;
    client.capabilities(&builder.local_host, false).await?;
    Ok(client)
}

/// A mail-send connection over `S`, plaintext or implicit TLS.
enum MailSend<S: AsyncRead + AsyncWrite + Unpin> {
    Plain(mail_send::SmtpClient<S>),
    Tls(Box<mail_send::SmtpClient<tokio_rustls::client::TlsStream<S>>>),
}

impl<S: AsyncRead + AsyncWrite + Unpin> MailSend<S> {
    async fn send(&mut self, job: &Job<'_>) -> Result<(), Box<dyn Error>> {
        match self {
            Self::Plain(client) => mail_send_one(client, job).await,
            Self::Tls(client) => mail_send_one(client.as_mut(), job).await,
        }
    }

    async fn quit(self) -> Result<(), Box<dyn Error>> {
        match self {
            Self::Plain(client) => client.quit().await?,
            Self::Tls(client) => client.quit().await?,
        }
        Ok(())
    }
}

/// One message: the case's bytes, or (builder per message) a message built with mail-send's
/// builder like the others' (a short text and the attachment).
async fn mail_send_one<T: AsyncRead + AsyncWrite + Unpin>(
    client: &mut mail_send::SmtpClient<T>,
    job: &Job<'_>,
) -> Result<(), Box<dyn Error>> {
    if job.shape == Shape::BuilderPerMessage {
        let message = mail_send::mail_builder::MessageBuilder::new()
            .from(FROM)
            .to(TO)
            .subject("throughput, builder per message")
            .text_body("The attachment is attached.")
            .attachment("application/octet-stream", "report.bin", job.message);
        client.send(message).await?;
    } else {
        let message = mail_send::smtp::message::Message::new(FROM, [TO], job.message);
        client.send(message).await?;
    }
    Ok(())
}

/// Go's `net/smtp`: the program is built once per benchmark run (see [`go_program`]) and
/// runs each job as a child process that times its own messages (the first one untimed on a
/// reused connection, as here) and reports its CPU time (user + system, all threads).
fn go(job: &Job<'_>) -> Result<Outcome, Box<dyn Error>> {
    let program = go_program().map_err(|why| format!("go net/smtp: {why}"))?;
    let dir = program.parent().ok_or("go net/smtp: no build directory")?;
    let message = dir.join("message");
    std::fs::write(&message, job.message)?;
    let mut command = std::process::Command::new(program);
    command
        .arg("-addr")
        .arg(job.target.addr.to_string())
        .arg("-mode")
        .arg(if job.target.ca_der.is_some() {
            "tls"
        } else {
            "plain"
        })
        .arg("-shape")
        .arg(match job.shape {
            Shape::Reused => "reused",
            Shape::ConnectionPerMessage => "conn",
            Shape::BuilderPerMessage => "builder",
        })
        .arg("-message")
        .arg(&message)
        .arg("-count")
        .arg(job.count.to_string())
        .arg("-budget")
        .arg(job.budget.as_secs_f64().to_string())
        .arg("-host")
        .arg(HOST);
    if let Some(ca) = &job.target.ca_der {
        let ca_file = dir.join("ca.der");
        std::fs::write(&ca_file, ca)?;
        command.arg("-ca").arg(ca_file);
    }
    let output = command.output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("go net/smtp failed: {stdout}{stderr}").into());
    }
    let field = |name: &str| -> Result<u64, Box<dyn Error>> {
        let value = stdout
            .split_whitespace()
            .find_map(|word| word.strip_prefix(name)?.strip_prefix('='))
            .ok_or_else(|| format!("go net/smtp said no {name}: {stdout}"))?;
        Ok(value.parse()?)
    };
    Ok(Outcome {
        messages: usize::try_from(field("sent")?)?,
        elapsed: Duration::from_nanos(field("elapsed_ns")?),
        cpu: Duration::from_nanos(field("cpu_ns")?),
        writes: None,
    })
}

/// The directory the Go program is built in (with its build cache and the files it reads,
/// some MiB): one per benchmark process under the temporary directory.
fn go_build_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("smtpwire-throughput-go-{}", std::process::id()))
}

/// Removes [`go_build_dir`] when dropped, so that a run leaves nothing behind, even when it
/// ends on an error.
pub(crate) struct GoBuildDir;

impl Drop for GoBuildDir {
    fn drop(&mut self) {
        let dir = go_build_dir();
        if dir.exists() {
            if let Err(why) = std::fs::remove_dir_all(&dir) {
                println!("cannot remove {}: {why}", dir.display());
            }
        }
    }
}

/// Builds `throughput/go/netsmtp.go` once, into [`go_build_dir`] (offline: standard library
/// only, no module, no cgo). An error when `go` is missing.
pub(crate) fn go_program() -> Result<&'static std::path::Path, String> {
    static PROGRAM: std::sync::OnceLock<Result<std::path::PathBuf, String>> =
        std::sync::OnceLock::new();
    PROGRAM
        .get_or_init(|| {
            let dir = go_build_dir();
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("examples/throughput/go/netsmtp.go");
            let program = dir.join("netsmtp");
            let built = std::process::Command::new("go")
                .arg("build")
                .arg("-o")
                .arg(&program)
                .arg(&source)
                // GOPATH mode for one file: no go.mod to resolve, nothing to download.
                .env("GO111MODULE", "off")
                .env("GOFLAGS", "")
                .env("GOTOOLCHAIN", "local")
                .env("CGO_ENABLED", "0")
                .env("GOCACHE", dir.join("cache"))
                .env("GOPATH", dir.join("gopath"))
                .output()
                .map_err(|e| format!("cannot run `go` ({e}); install Go (Debian: golang-go)"))?;
            if !built.status.success() {
                return Err(format!(
                    "go build failed: {}",
                    String::from_utf8_lossy(&built.stderr)
                ));
            }
            Ok(program)
        })
        .as_ref()
        .map(std::path::PathBuf::as_path)
        .map_err(Clone::clone)
}

/// A rustls configuration with ring trusting `ca` (none: no roots, for a plaintext client
/// that still needs a connector).
fn tls_config(ca: Option<&[u8]>) -> Result<rustls::ClientConfig, Box<dyn Error>> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = ca {
        roots.add(rustls::pki_types::CertificateDer::from(ca.to_vec()))?;
    }
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(rustls::ALL_VERSIONS)?
    .with_root_certificates(roots)
    .with_no_client_auth())
}

/// Counts the writes that reach the socket: each `poll_write` that wrote something is one
/// `send(2)`.
#[derive(Debug)]
pub(crate) struct CountWrites<S> {
    inner: S,
    writes: Arc<AtomicU64>,
}

impl<S> CountWrites<S> {
    pub(crate) fn new(inner: S, writes: Arc<AtomicU64>) -> Self {
        Self { inner, writes }
    }

    fn note(&self, poll: &Poll<io::Result<usize>>) {
        if matches!(poll, Poll::Ready(Ok(written)) if *written > 0) {
            self.writes.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for CountWrites<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CountWrites<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.note(&poll);
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.note(&poll);
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for CountWrites<TcpStream> {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }
}

/// lettre's stream trait for a TLS stream over the counting layer.
#[derive(Debug)]
struct LettreTls(tokio_rustls::client::TlsStream<CountWrites<TcpStream>>);

impl AsyncTokioStream for LettreTls {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().0.inner.peer_addr()
    }
}

impl AsyncRead for LettreTls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for LettreTls {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
