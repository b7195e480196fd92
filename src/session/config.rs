//! How a session behaves: TLS policy, credentials, limits and deadlines.

use crate::address::ClientName;
use crate::auth::{Credentials, Mechanism};
use crate::data::LineEndings;
use crate::reply::ReplyLimits;
use std::time::Duration;

/// When the connection is encrypted, chosen explicitly: there is no silent fallback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsPolicy {
    /// TLS from the first byte (port 465, "submissions"; RFC 8314 prefers it).
    Implicit,
    /// STARTTLS, and fail if the server does not offer it or refuses it (port 587).
    StartTlsRequired,
    /// STARTTLS when offered, plaintext otherwise. An attacker on the path can strip the
    /// offer, so credentials are still never sent in plaintext.
    StartTlsOpportunistic,
    /// No TLS at all, for loopback relays and tests.
    Plaintext,
}

impl TlsPolicy {
    /// The policy a port usually implies: 465 implicit TLS, anything else STARTTLS required.
    pub fn for_port(port: u16) -> Self {
        if port == 465 {
            Self::Implicit
        } else {
            Self::StartTlsRequired
        }
    }

    /// Whether the session may not go on without TLS.
    pub fn requires_tls(self) -> bool {
        matches!(self, Self::Implicit | Self::StartTlsRequired)
    }
}

/// How long to wait for each reply: RFC 5321 §4.5.3.2 minimums by default.
///
/// The deadline covers a whole reply, not each read, so a server trickling one byte at a
/// time cannot hold the session forever.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub(crate) connect: Duration,
    pub(crate) connect_total: Duration,
    pub(crate) tls_handshake: Duration,
    pub(crate) greeting: Duration,
    pub(crate) command: Duration,
    pub(crate) mail: Duration,
    pub(crate) rcpt: Duration,
    pub(crate) data_initiation: Duration,
    pub(crate) data_block: Duration,
    pub(crate) data_termination: Duration,
    pub(crate) quit: Duration,
    pub(crate) tls_probe: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        const MIN: u64 = 60;
        Self {
            connect: Duration::from_secs(30),
            connect_total: Duration::from_secs(60),
            tls_handshake: Duration::from_secs(60),
            greeting: Duration::from_secs(5 * MIN),
            command: Duration::from_secs(5 * MIN),
            mail: Duration::from_secs(5 * MIN),
            rcpt: Duration::from_secs(5 * MIN),
            data_initiation: Duration::from_secs(2 * MIN),
            data_block: Duration::from_secs(3 * MIN),
            data_termination: Duration::from_secs(10 * MIN),
            quit: Duration::from_secs(30),
            tls_probe: Some(Duration::from_secs(3)),
        }
    }
}

impl Timeouts {
    settings! {
        /// Opening the TCP connection to one address (not in the RFC): 30 s.
        copy connect: Duration => with_connect;
        /// Resolving the name and trying every address (not in the RFC): 60 s, however many
        /// addresses the name has.
        copy connect_total: Duration => with_connect_total;
        /// The TLS handshake (not in the RFC): 60 s.
        copy tls_handshake: Duration => with_tls_handshake;
        /// The 220 greeting: 5 min.
        copy greeting: Duration => with_greeting;
        /// EHLO, HELO, STARTTLS, AUTH, RSET and NOOP (not in the RFC): 5 min.
        copy command: Duration => with_command;
        /// MAIL: 5 min.
        copy mail: Duration => with_mail;
        /// Each RCPT: 5 min.
        copy rcpt: Duration => with_rcpt;
        /// The 354 after DATA: 2 min.
        copy data_initiation: Duration => with_data_initiation;
        /// Each write, and each BDAT chunk's reply: 3 min.
        copy data_block: Duration => with_data_block;
        /// The reply to the end of the data: 10 min, since giving up early risks a duplicate.
        copy data_termination: Duration => with_data_termination;
        /// The reply to QUIT (not in the RFC): 30 s; only a courtesy.
        copy quit: Duration => with_quit;
        /// How long a plaintext greeting may keep silent before the session asks the driver to
        /// probe whether the port expects implicit TLS ([`Action::ProbeTls`]): 3 s. The greeting
        /// keeps its full deadline; only the probe's answer can end the wait early. `None`
        /// never probes.
        ///
        /// [`Action::ProbeTls`]: super::Action::ProbeTls
        copy tls_probe: Option<Duration> => with_tls_probe;
    }

    /// One timeout for every wait on the server, as Python's `smtplib` and msmtp take one:
    /// the TLS handshake and each reply (greeting, commands, MAIL, RCPT, DATA, each data
    /// block, the end of the data, QUIT). Connecting and the TLS probe keep their defaults.
    ///
    /// ```
    /// # use smtpwire::session::Timeouts;
    /// # use std::time::Duration;
    /// let timeouts = Timeouts::uniform(Duration::from_secs(20));
    /// assert_eq!(timeouts.data_termination(), Duration::from_secs(20));
    /// assert_eq!(timeouts.connect(), Timeouts::default().connect());
    /// ```
    pub fn uniform(timeout: Duration) -> Self {
        Self {
            tls_handshake: timeout,
            greeting: timeout,
            command: timeout,
            mail: timeout,
            rcpt: timeout,
            data_initiation: timeout,
            data_block: timeout,
            data_termination: timeout,
            quit: timeout,
            ..Self::default()
        }
    }
}

/// Which command carries the message data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataCommand {
    /// BDAT when the server offers CHUNKING and PIPELINING (no end-of-data ambiguity on this
    /// hop), DATA otherwise.
    #[default]
    Auto,
    /// Always DATA.
    Data,
}

/// Everything a [`Session`](super::Session) needs to know before it starts.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    pub(crate) client_name: ClientName,
    pub(crate) tls_policy: TlsPolicy,
    pub(crate) credentials: Option<Credentials>,
    pub(crate) mechanism: Option<Mechanism>,
    pub(crate) timeouts: Timeouts,
    pub(crate) reply_limits: ReplyLimits,
    pub(crate) line_endings: LineEndings,
    pub(crate) data_command: DataCommand,
    pub(crate) pipelining: bool,
    pub(crate) max_recipients: usize,
    pub(crate) bdat_chunk_size: usize,
    pub(crate) transcript: bool,
    pub(crate) transcript_limit: usize,
    plaintext_auth: bool,
}

impl SessionConfig {
    /// A configuration with the given TLS policy and defaults for everything else.
    pub fn new(tls: TlsPolicy) -> Self {
        Self {
            client_name: ClientName::default(),
            tls_policy: tls,
            credentials: None,
            mechanism: None,
            timeouts: Timeouts::default(),
            reply_limits: ReplyLimits::default(),
            line_endings: LineEndings::default(),
            data_command: DataCommand::default(),
            pipelining: true,
            max_recipients: 100,
            bdat_chunk_size: 1 << 20,
            transcript: false,
            transcript_limit: 10_000,
            plaintext_auth: false,
        }
    }

    settings! {
        /// The name sent in EHLO/HELO (default: `localhost`).
        borrow client_name: ClientName => with_client_name;
        /// When to encrypt (set by [`SessionConfig::new`]).
        copy tls_policy: TlsPolicy => with_tls_policy;
        /// Who to authenticate as (default: nobody, and no AUTH).
        optional credentials: Credentials => with_credentials;
        /// A mechanism to insist on (default: the best one offered: PLAIN, then LOGIN).
        optional mechanism: Mechanism => with_mechanism;
        /// Reply deadlines (default: [`Timeouts::default`]).
        copy timeouts: Timeouts => with_timeouts;
        /// Bounds on what the server may send (default: [`ReplyLimits::default`]).
        copy reply_limits: ReplyLimits => with_reply_limits;
        /// What to do with bare CR and LF in message data (default: [`LineEndings::default`]).
        copy line_endings: LineEndings => with_line_endings;
        /// DATA or BDAT (default: [`DataCommand::Auto`]).
        copy data_command: DataCommand => with_data_command;
        /// Whether to pipeline (RFC 2920) when the server offers it (default: yes).
        copy pipelining: bool => with_pipelining;
        /// Most RCPTs per transaction; the rest go in a further transaction (RFC 5321
        /// §4.5.3.1.8 requires servers to take at least 100; the default).
        copy max_recipients: usize => with_max_recipients;
        /// Size of each BDAT chunk (default: 1 MiB).
        copy bdat_chunk_size: usize => with_bdat_chunk_size;
        /// Whether to keep a [`Transcript`](crate::transcript::Transcript) of the dialogue
        /// (default: no).
        copy transcript: bool => with_transcript;
        /// The most transcript entries kept; older ones are dropped and counted (default
        /// 10,000: about the last 1,200 messages of a long-lived connection).
        copy transcript_limit: usize => with_transcript_limit;
    }

    /// Allows sending credentials over a connection without TLS, where anyone on the path can
    /// read them. Only for loopback relays and tests.
    pub fn dangerous_allow_plaintext_auth(mut self) -> Self {
        self.plaintext_auth = true;
        self
    }

    /// Whether [`SessionConfig::dangerous_allow_plaintext_auth`] was called.
    pub fn allows_plaintext_auth(&self) -> bool {
        self.plaintext_auth
    }
}
