//! Scripted SMTP servers for the pool tests, over in-memory pipes: with no sockets, tokio's
//! paused clock only moves when every task waits on a timer, so delays are exact.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

use smtpwire::auth::Credentials;
use smtpwire::pool::{Event, Mailer, MailerBuilder, Observer};
use smtpwire::session::{SessionConfig, TlsPolicy};
use smtpwire::transport::ClientConfig;
use smtpwire::{Error, Report};
use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream};
use tokio::time::Instant;

mod in_memory;
/// The helpers every integration test shares; the pool's are built on them.
#[path = "../support/mod.rs"]
pub mod support;

pub use in_memory::{InMemory, Serve};
pub use support::envelope::envelope;

pub const SEC: Duration = Duration::from_secs(1);

/// Closes the connection instead of answering; after a reply, right after sending it.
pub const CLOSE: &str = "<close>";
/// Never answers.
pub const HANG: &str = "<hang>";

pub const GREETING: &str = "220 mx.test ESMTP";
pub const EHLO: &str = "250-mx.test\r\n250 PIPELINING";
pub const EHLO_AUTH: &str = "250-mx.test\r\n250-PIPELINING\r\n250 AUTH PLAIN";
pub const OK: &str = "250 2.0.0 ok";
pub const GO: &str = "354 go ahead";

/// Greeting and EHLO.
pub fn open() -> Vec<&'static str> {
    vec![GREETING, EHLO]
}

/// MAIL, `recipients` RCPTs and DATA accepted, then the final reply `last`.
pub fn deliver(recipients: usize, last: &'static str) -> Vec<&'static str> {
    let mut replies = vec![OK];
    replies.extend(std::iter::repeat_n(OK, recipients));
    replies.extend([GO, last]);
    replies
}

/// Hands out one scripted connection per connect, in order; with none left, the connection
/// is refused (closed before the greeting). Records every command line each one received.
#[derive(Clone, Default)]
pub struct Scripted {
    scripts: Arc<Mutex<VecDeque<Vec<&'static str>>>>,
    seen: Arc<Mutex<Vec<Log>>>,
}

/// The commands one connection received.
type Log = Arc<Mutex<Vec<String>>>;

impl Scripted {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues the replies of the next connection, greeting first.
    pub fn then(&self, replies: Vec<&'static str>) -> &Self {
        self.scripts.lock().unwrap().push_back(replies);
        self
    }

    /// Queues a connection that is refused.
    pub fn refuse(&self) -> &Self {
        self.then(vec![CLOSE])
    }

    /// How many connections were opened.
    pub fn connections(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// The commands connection `index` received: command lines, `<data>` for a message.
    pub fn commands(&self, index: usize) -> Vec<String> {
        self.seen.lock().unwrap()[index].lock().unwrap().clone()
    }

    /// Every command of every connection, in connection order.
    pub fn all_commands(&self) -> Vec<String> {
        (0..self.connections())
            .flat_map(|i| self.commands(i))
            .collect()
    }

    /// How many copies of a message's data came in, over every connection.
    pub fn copies(&self) -> usize {
        self.all_commands()
            .iter()
            .filter(|c| *c == "<data>")
            .count()
    }
}

impl Serve for Scripted {
    /// The next queued script, or a refusal when none is left.
    fn serve(&self, stream: DuplexStream) -> impl Future<Output = ()> + Send + 'static {
        let script = self
            .scripts
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(vec![CLOSE]);
        let seen = Arc::new(Mutex::new(Vec::new()));
        self.seen.lock().unwrap().push(seen.clone());
        serve(stream, script, seen)
    }
}

async fn serve(stream: DuplexStream, script: Vec<&'static str>, seen: Log) {
    let mut stream = BufReader::new(stream);
    let mut replies = script.into_iter();
    let mut in_data = false;
    let mut first = true;
    loop {
        let reply = replies.next();
        if !first {
            let Some(command) = read_command(&mut stream, in_data).await else {
                return;
            };
            let quit = command == "QUIT";
            seen.lock().unwrap().push(command);
            if quit && reply.is_none() {
                let _ = stream.write_all(b"221 bye\r\n").await;
                return;
            }
        }
        first = false;
        let Some(reply) = reply else { return };
        match reply {
            CLOSE => return,
            HANG => {
                tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
                return;
            }
            reply => {
                let (reply, close) = match reply.strip_suffix(CLOSE) {
                    Some(reply) => (reply, true),
                    None => (reply, false),
                };
                in_data = reply.starts_with("354");
                let wire = format!("{reply}\r\n");
                if stream.write_all(wire.as_bytes()).await.is_err() || close {
                    return;
                }
            }
        }
    }
}

/// One command line, or with `data` a whole message through its terminating dot.
async fn read_command(stream: &mut BufReader<DuplexStream>, data: bool) -> Option<String> {
    let mut line = Vec::new();
    loop {
        line.clear();
        if stream.read_until(b'\n', &mut line).await.ok()? == 0 {
            return None;
        }
        if !data {
            return Some(String::from_utf8_lossy(&line).trim_end().to_owned());
        }
        if line == b".\r\n" {
            return Some("<data>".to_owned());
        }
    }
}

/// A server whose first connection answers with `replies` after its opening, and is replaced
/// by a second that accepts one message.
pub fn replaced_after(replies: Vec<&'static str>) -> Scripted {
    let server = Scripted::new();
    server
        .then([open(), replies].concat())
        .then([open(), deliver(1, OK)].concat());
    server
}

/// Plain SMTP to the scripted server, no credentials.
pub fn config() -> ClientConfig {
    ClientConfig::new("mx.test", 25).with_session(SessionConfig::new(TlsPolicy::Plaintext))
}

/// Plain SMTP to the scripted server, logging in as `user` (allowed without TLS).
pub fn config_with_password(user: &str, password: &str) -> ClientConfig {
    config().map_session(|session| {
        session
            .with_credentials(Credentials::new(user, password))
            .dangerous_allow_plaintext_auth()
    })
}

/// A mailer over `server` with `config` and the default retry policy.
pub fn mailer_with(config: ClientConfig, server: &Scripted) -> MailerBuilder<InMemory<Scripted>> {
    Mailer::builder(config).connector(InMemory(server.clone()))
}

/// A mailer over `server` with a retry policy that waits exactly 1 s, 2 s, 4 s…
pub fn mailer(server: &Scripted) -> MailerBuilder<InMemory<Scripted>> {
    mailer_with(config(), server).retry(
        smtpwire::pool::RetryPolicy::default()
            .with_initial_delay(Duration::from_secs(1))
            .without_jitter(),
    )
}

/// The mailer `builder` builds, with a [`Recorder`] of its events.
pub fn observed(
    builder: MailerBuilder<InMemory<Scripted>>,
) -> (Mailer<InMemory<Scripted>>, Recorder) {
    let events = Recorder::new();
    (builder.observer(events.clone()).build(), events)
}

/// Sends [`MESSAGE`] to `to`.
pub async fn send(mailer: &Mailer<InMemory<Scripted>>, to: &[&str]) -> Result<Report, Error> {
    mailer.send(envelope("a@x.test", to), MESSAGE).await
}

pub const MESSAGE: &[u8] = b"Subject: hi\r\n\r\nhello\r\n";

/// Every event, described in one short line, with when it happened.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<(Duration, String)>>>, Option<Instant>);

impl Recorder {
    pub fn new() -> Self {
        Self(Arc::default(), Some(Instant::now()))
    }

    pub fn events(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// The events whose line starts with `prefix`, with their times since the recorder began.
    pub fn timed(&self, prefix: &str) -> Vec<(Duration, String)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, e)| e.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// When each event whose line starts with `prefix` happened, since the recorder began.
    pub fn times(&self, prefix: &str) -> Vec<Duration> {
        self.timed(prefix).into_iter().map(|(at, _)| at).collect()
    }

    pub fn count(&self, prefix: &str) -> usize {
        self.timed(prefix).len()
    }
}

impl Observer for Recorder {
    fn on_event(&self, event: &Event<'_>) {
        let line = match event {
            Event::Connected { .. } => "connected".to_owned(),
            Event::TlsEstablished { protocol, .. } => format!("tls {protocol}"),
            Event::Authenticated { .. } => "authenticated".to_owned(),
            Event::ConnectFailed { error, .. } => format!("connect failed: {error}"),
            Event::ConnectionClosed { reason } => format!("closed: {reason}"),
            Event::RecipientAccepted { recipient } => format!("accepted {recipient}"),
            Event::RecipientRejected {
                recipient, reply, ..
            } => {
                format!("rejected {recipient} {}", reply.code())
            }
            Event::MessageAccepted { queue_id, .. } => format!("message accepted {queue_id:?}"),
            Event::AttemptFailed { error, .. } => format!("attempt failed: {error}"),
            Event::DeliveryUnknown { recipients, .. } => format!("unknown {recipients}"),
            Event::RetryScheduled {
                attempt,
                delay,
                recipients,
            } => {
                format!("retry {attempt} in {delay:?} for {recipients}")
            }
            Event::BreakerOpened { failures, .. } => format!("breaker opened after {failures}"),
            Event::BreakerHalfOpen => "breaker half-open".to_owned(),
            Event::BreakerClosed => "breaker closed".to_owned(),
            Event::Finished {
                accepted, attempts, ..
            } => {
                format!("finished {accepted} accepted in {attempts}")
            }
            other => format!("{other:?}"),
        };
        let at = self.1.map(|start| start.elapsed()).unwrap_or_default();
        self.0.lock().unwrap().push((at, line));
    }
}
