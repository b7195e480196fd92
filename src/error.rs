//! The one error type, split by who is at fault.

use crate::reply::{FramingError, Reply};
use crate::session::Report;
use crate::transcript::Transcript;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Everything that can go wrong in a session, with the phase it went wrong in.
///
/// Check [`Error::kind`] for who is at fault, [`Error::reply`] for the server's words,
/// [`Error::delivery`] before retrying (a message may have been delivered although the
/// session failed), and [`Error::is_transient`] for whether trying again later can help.
/// A failed send carries its [`Report`] (every recipient's verdict, every refusal), and a
/// session with a transcript carries the dialogue up to the failure.
#[derive(Clone)]
pub struct Error(Box<Inner>);

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    phase: Phase,
    delivery: Delivery,
    reply: Option<Reply>,
    report: Option<Report>,
    transcript: Option<Arc<Transcript>>,
}

/// Who is at fault, and how.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The host name could not be resolved to an address.
    Resolve(Arc<std::io::Error>),
    /// Reading from or writing to the connection failed.
    Io(Arc<std::io::Error>),
    /// The TLS handshake or the TLS layer failed (certificate, protocol version, alert).
    Tls(Arc<dyn std::error::Error + Send + Sync>),
    /// The TLS mode does not match what the port speaks: the most common configuration
    /// mistake (implicit TLS against a STARTTLS port, or the other way round).
    WrongTlsMode(TlsMismatch),
    /// The server did not answer within the phase's deadline.
    Timeout,
    /// The server closed the connection.
    ConnectionClosed,
    /// The server broke the protocol; the connection cannot be trusted any more.
    Protocol(ProtocolViolation),
    /// The server refused; [`Error::reply`] holds its reply.
    Rejected,
    /// The server lacks something this session needs.
    Unsupported(Unsupported),
    /// The caller asked for something invalid; nothing was sent for it.
    Input(InputError),
    /// A [`Mailer`](crate::pool::Mailer)'s circuit breaker is open after repeated connection
    /// or authentication failures: nothing was sent. It lets one connection through after
    /// `retry_after`.
    CircuitOpen {
        /// How long until then.
        retry_after: Duration,
    },
    /// The [`Mailer`](crate::pool::Mailer) was closed: nothing was sent.
    MailerClosed,
}

/// Which way the TLS mode was mixed up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsMismatch {
    /// Implicit TLS was used, but the server greeted in plaintext: the port speaks STARTTLS
    /// (usually 587 or 25) or plain SMTP.
    ServerSpeaksPlaintext,
    /// Plain SMTP or STARTTLS was used, but the server sent TLS bytes: the port expects
    /// implicit TLS (usually 465).
    ServerSpeaksTls,
}

/// How the server broke the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolViolation {
    /// The bytes are not a well-formed reply.
    Framing(FramingError),
    /// A reply code that makes no sense for the command (e.g. 354 to STARTTLS, 250 to DATA).
    UnexpectedReply,
    /// A reply, or part of one, arrived when none was expected.
    UnsolicitedData,
    /// Bytes followed the `220` to STARTTLS before the TLS handshake: a response-injection
    /// attempt (CVE-2021-22947 class). They were not used.
    DataAfterStartTls,
    /// An AUTH challenge that is not valid base64 (RFC 4954 §4: the client cancels with `*`).
    InvalidChallenge,
    /// More AUTH challenges than the mechanism has steps (the exchange was cancelled with `*`).
    UnexpectedChallenge,
}

/// What the server lacks.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unsupported {
    /// TLS is required, but the server does not offer STARTTLS.
    StartTls,
    /// The server does not offer AUTH, or none of the mechanisms we may use.
    Auth,
    /// The envelope needs SMTPUTF8 (RFC 6531), which the server does not offer.
    SmtpUtf8,
    /// 8-bit message data needs 8BITMIME (RFC 6152), which the server does not offer.
    EightBitMime,
    /// Delivery status notifications were asked for, but the server does not offer DSN.
    Dsn,
    /// The message is larger than the limit the server announced with SIZE (RFC 1870).
    MessageTooLarge {
        /// The message size in octets.
        size: u64,
        /// The server's limit in octets.
        limit: u64,
    },
    /// The server answered EHLO with an error and HELO would give up on TLS.
    Ehlo,
}

/// Invalid input from the caller, caught before anything was sent for it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InputError {
    /// Not a valid mailbox for the envelope (RFC 5321 `Mailbox`), with the reason.
    Address(&'static str),
    /// Not a valid EHLO name (a domain or an address literal).
    ClientName,
    /// An ESMTP parameter value that cannot be sent (e.g. ENVID longer than 100 octets).
    Parameter(&'static str),
    /// A user name or password containing NUL, or empty.
    Credentials(&'static str),
    /// Credentials were given for a connection without TLS and without the
    /// `dangerous_allow_plaintext_auth` opt-in.
    PlaintextAuth,
    /// The envelope has no recipient.
    NoRecipients,
    /// Message data with a bare CR or LF, in strict mode (RFC 5321 §2.3.8).
    BareLineEnding,
    /// Message data with a NUL byte.
    Nul,
    /// Message data with a line over 998 octets (RFC 5322 §2.1.1).
    LineTooLong,
    /// A session method called in a state that does not allow it, with what was expected.
    WrongState(&'static str),
}

/// Whether the message may have reached the server, for callers deciding about a retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Delivery {
    /// The message was certainly not accepted: retrying cannot make a duplicate.
    NotSent,
    /// The end of the message data was sent but its reply never came: the server may have
    /// accepted the message (RFC 5321 §6.1). Retrying may deliver it twice.
    Unknown,
}

/// The step of the session in which something went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// Opening the TCP connection.
    Connect,
    /// The TLS handshake (implicit TLS, or after STARTTLS).
    TlsHandshake,
    /// Waiting for the server's greeting.
    Greeting,
    /// EHLO.
    Ehlo,
    /// HELO, after EHLO was refused.
    Helo,
    /// STARTTLS.
    StartTls,
    /// AUTH.
    Auth,
    /// MAIL FROM.
    MailFrom,
    /// RCPT TO.
    RcptTo,
    /// DATA, up to the 354.
    Data,
    /// Sending the message data.
    DataBody,
    /// Waiting for the reply to the end of the message data (`.` or `BDAT … LAST`).
    DataEnd,
    /// RSET.
    Reset,
    /// NOOP.
    Noop,
    /// QUIT.
    Quit,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "connect",
            Self::TlsHandshake => "TLS handshake",
            Self::Greeting => "greeting",
            Self::Ehlo => "EHLO",
            Self::Helo => "HELO",
            Self::StartTls => "STARTTLS",
            Self::Auth => "AUTH",
            Self::MailFrom => "MAIL FROM",
            Self::RcptTo => "RCPT TO",
            Self::Data => "DATA",
            Self::DataBody => "message data",
            Self::DataEnd => "end of message data",
            Self::Reset => "RSET",
            Self::Noop => "NOOP",
            Self::Quit => "QUIT",
        })
    }
}

impl Error {
    /// An error of `kind` in `phase`; the message was not sent.
    pub fn new(kind: ErrorKind, phase: Phase) -> Self {
        Self(Box::new(Inner {
            kind,
            phase,
            delivery: Delivery::NotSent,
            reply: None,
            report: None,
            transcript: None,
        }))
    }

    /// The server refused in `phase` with `reply`.
    pub fn rejected(phase: Phase, reply: Reply) -> Self {
        Self::new(ErrorKind::Rejected, phase).with_reply(reply)
    }

    /// The server broke the protocol in `phase`.
    pub fn protocol(phase: Phase, violation: ProtocolViolation) -> Self {
        Self::new(ErrorKind::Protocol(violation), phase)
    }

    /// The caller gave invalid input in `phase`.
    pub fn input(phase: Phase, error: InputError) -> Self {
        Self::new(ErrorKind::Input(error), phase)
    }

    /// The server lacks what `phase` needs.
    pub fn unsupported(phase: Phase, what: Unsupported) -> Self {
        Self::new(ErrorKind::Unsupported(what), phase)
    }

    /// Attaches the server reply this error is about.
    pub fn with_reply(mut self, reply: Reply) -> Self {
        self.0.reply = Some(reply);
        self
    }

    /// Marks whether the message may have been delivered.
    pub fn with_delivery(mut self, delivery: Delivery) -> Self {
        self.0.delivery = delivery;
        self
    }

    /// Attaches the report of the message this error ended: each recipient's verdict.
    pub fn with_report(mut self, report: Report) -> Self {
        self.0.report = Some(report);
        self
    }

    pub(crate) fn with_transcript(mut self, transcript: Arc<Transcript>) -> Self {
        self.0.transcript = Some(transcript);
        self
    }

    /// Who is at fault, and how.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// The phase of the session that failed.
    pub fn phase(&self) -> Phase {
        self.0.phase
    }

    /// The server's reply, when the error is about one.
    pub fn reply(&self) -> Option<&Reply> {
        self.0.reply.as_ref()
    }

    /// Whether the message may have been delivered despite the error.
    pub fn delivery(&self) -> Delivery {
        self.0.delivery
    }

    /// For a send that accepted no recipient: what became of each one (every refusal, or the
    /// verdict the failure left), as a successful send would report it.
    pub fn report(&self) -> Option<&Report> {
        self.0.report.as_ref()
    }

    /// The dialogue up to the failure, when the session kept a transcript: a failed AUTH
    /// still shows what was said.
    pub fn transcript(&self) -> Option<&Transcript> {
        self.0.transcript.as_deref()
    }

    /// Whether the server refused the credentials for good (a 5xx to AUTH, such as 535): trying
    /// them again cannot help and may get the account locked.
    pub fn is_auth_refusal(&self) -> bool {
        self.0.phase == Phase::Auth
            && matches!(self.0.kind, ErrorKind::Rejected)
            && self.0.reply.as_ref().is_some_and(Reply::is_permanent)
    }

    /// Whether the same request may succeed later: a 4xx reply, a timeout, a lost connection.
    ///
    /// Check [`Error::delivery`] too: a transient error after the end of the message data may
    /// still mean the message was delivered.
    pub fn is_transient(&self) -> bool {
        match &self.0.kind {
            ErrorKind::Resolve(_)
            | ErrorKind::Io(_)
            | ErrorKind::Timeout
            | ErrorKind::ConnectionClosed
            | ErrorKind::CircuitOpen { .. } => true,
            ErrorKind::Rejected => self.0.reply.as_ref().is_some_and(Reply::is_transient),
            _ => false,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Resolve(e) => write!(f, "cannot resolve the host name: {e}"),
            Self::Io(e) => write!(f, "i/o error: {e}"),
            Self::Tls(e) => write!(f, "tls error: {e}"),
            Self::WrongTlsMode(mismatch) => write!(f, "{mismatch}"),
            Self::Timeout => f.write_str("timed out waiting for the server"),
            Self::ConnectionClosed => f.write_str("the server closed the connection"),
            Self::Protocol(v) => write!(f, "protocol violation by the server: {v}"),
            Self::Rejected => f.write_str("rejected by the server"),
            Self::Unsupported(u) => write!(f, "not supported by the server: {u}"),
            Self::Input(e) => write!(f, "invalid input: {e}"),
            Self::CircuitOpen { retry_after } => write!(
                f,
                "circuit breaker open after repeated connection failures; retry in {retry_after:?}"
            ),
            Self::MailerClosed => f.write_str("the mailer is closed"),
        }
    }
}

impl fmt::Display for TlsMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ServerSpeaksPlaintext => {
                "the server answered in plaintext: this port speaks STARTTLS or plain SMTP, \
                 not implicit TLS (port 465 expects implicit TLS; use STARTTLS on 587)"
            }
            Self::ServerSpeaksTls => {
                "the server answered with TLS: this port expects implicit TLS \
                 (as port 465 does), not STARTTLS or plain SMTP"
            }
        })
    }
}

impl fmt::Display for ProtocolViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Framing(e) => write!(f, "{e}"),
            Self::UnexpectedReply => f.write_str("unexpected reply code"),
            Self::UnsolicitedData => f.write_str("data sent when no reply was due"),
            Self::DataAfterStartTls => {
                f.write_str("data after the STARTTLS reply and before the TLS handshake")
            }
            Self::InvalidChallenge => f.write_str("AUTH challenge is not base64"),
            Self::UnexpectedChallenge => f.write_str("more AUTH challenges than the mechanism has"),
        }
    }
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StartTls => f.write_str("STARTTLS is required but not offered"),
            Self::Auth => f.write_str("no usable AUTH mechanism is offered"),
            Self::SmtpUtf8 => f.write_str("the envelope needs SMTPUTF8, which is not offered"),
            Self::EightBitMime => f.write_str("8-bit data needs 8BITMIME, which is not offered"),
            Self::Dsn => f.write_str("delivery notifications need DSN, which is not offered"),
            Self::MessageTooLarge { size, limit } => {
                write!(
                    f,
                    "message of {size} bytes exceeds the server's limit of {limit}"
                )
            }
            Self::Ehlo => f.write_str("EHLO was refused and HELO cannot negotiate TLS"),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Address(why) => write!(f, "invalid address: {why}"),
            Self::ClientName => f.write_str("invalid EHLO name"),
            Self::Parameter(why) => write!(f, "invalid ESMTP parameter: {why}"),
            Self::Credentials(why) => write!(f, "invalid credentials: {why}"),
            Self::PlaintextAuth => f.write_str(
                "refusing to send credentials without TLS (see dangerous_allow_plaintext_auth)",
            ),
            Self::NoRecipients => f.write_str("no recipients"),
            Self::BareLineEnding => f.write_str("message data has a bare CR or LF"),
            Self::Nul => f.write_str("message data has a NUL byte"),
            Self::LineTooLong => f.write_str("message data has a line over 998 octets"),
            Self::WrongState(expected) => write!(f, "not allowed now: {expected}"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.0.phase, self.0.kind)?;
        if let Some(reply) = &self.0.reply {
            write!(f, ": {reply}")?;
        }
        if self.0.delivery == Delivery::Unknown {
            f.write_str(" (delivery unknown: the message may have been accepted)")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.0.kind)
            .field("phase", &self.0.phase)
            .field("delivery", &self.0.delivery)
            .field("reply", &self.0.reply)
            .field("report", &self.0.report)
            .finish_non_exhaustive()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0.kind {
            ErrorKind::Io(e) | ErrorKind::Resolve(e) => Some(e.as_ref()),
            ErrorKind::Tls(e) => Some(e.as_ref()),
            ErrorKind::Protocol(ProtocolViolation::Framing(e)) => Some(e),
            _ => None,
        }
    }
}

impl std::error::Error for InputError {}
impl std::error::Error for TlsMismatch {}
impl std::error::Error for Unsupported {}
impl std::error::Error for ProtocolViolation {}
