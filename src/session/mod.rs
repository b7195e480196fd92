//! The SMTP session: one explicit state machine, bytes in, actions and events out, no I/O and
//! no clock.
//!
//! # Driving a session
//!
//! Loop on [`Session::next_action`] (passing the current time) and carry out what it returns;
//! after each step, drain [`Session::poll_event`] for what happened:
//!
//! | [`Action`] | what the driver does |
//! |---|---|
//! | `Send(bytes)` | write all of `bytes` |
//! | `Receive` | read some bytes and pass them to [`Session::feed`] |
//! | `StartTls` | run the TLS handshake on the same socket, then call [`Session::tls_established`] (or [`Session::tls_failed`]) |
//! | `ProbeTls` | the greeting is slow: open a second connection to the same address, send a TLS ClientHello and pass what comes back to [`Session::tls_probe_answered`], while reading on as before |
//! | `SendData(id)` | pass message `id` to [`Session::write_data`] in chunks, then call [`Session::finish_data`] |
//! | `Ready` | call [`Session::send_mail`], [`Session::noop`], [`Session::probe_sender`] or [`Session::quit`] |
//! | `Closed` | close the connection |
//!
//! Deadlines belong to the session (RFC 5321 §4.5.3.2, per reply, not per read): whatever the
//! driver waits on, it waits at most until [`Session::poll_timeout`], and then calls
//! [`Session::handle_timeout`]. On end of file or an I/O error the driver calls
//! [`Session::fail`], which stamps the error with the phase and whether a message may have
//! been delivered. Errors are sticky: after one, `next_action` returns it again.
//!
//! Every verdict is the session's: each message ends with [`Event::MessageFinished`] carrying
//! its [`Report`] (or the error, report attached), even when the session fails; a TLS record
//! where a greeting is due, a plaintext greeting to a TLS handshake and the answer to the TLS
//! probe become [`ErrorKind::WrongTlsMode`].
//!
//! # States
//!
//! ```text
//!  Implicit TLS: ──StartTls──▶ tls_established ─┐
//!                                               ▼
//!  connect ──────────────────────────────▶ Greeting ─220─▶ EHLO ─250─┬─▶ (TLS wanted, not on) STARTTLS ─220─▶ StartTls action
//!             554/421 ─▶ error           5xx & TLS not required ─▶ HELO     454/5xx & required ─▶ error      │
//!                                                                    │        tls_established: forget capabilities, EHLO again ◀┘
//!                                                                    ▼
//!                                         (credentials?) AUTH ─334─▶ answer … ─235─▶ Ready ; 535/534/538/454 ─▶ error
//!  Ready ─send_mail─▶ MAIL, RCPT…, DATA (one write with PIPELINING) ─354─▶ SendData ─finish_data─▶ final reply ─▶ MessageFinished ─▶ Ready
//!                      refusal ─▶ RSET if a transaction is open ─▶ MessageFinished (recipients refused)
//!  Ready ─quit─▶ QUIT ─▶ Closed          any state ─421─▶ error (transient)          any violation ─▶ error (sticky)
//! ```

mod config;
mod event;
mod mail;
mod opening;
mod report;
mod transaction;

pub use config::{DataCommand, SessionConfig, Timeouts, TlsPolicy};
pub use event::Event;
pub use report::{MailId, RecipientResult, Report, Status, TransactionOutcome, Verdict};

use crate::auth::SaslExchange;
use crate::capabilities::Capabilities;
use crate::command::{Command, MailCommand};
use crate::envelope::Envelope;
use crate::error::{Delivery, Error, ErrorKind, InputError, Phase, ProtocolViolation, TlsMismatch};
use crate::reply::{Reply, ReplyCode, ReplyFramer};
use crate::transcript::{Entry, Transcript};
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use transaction::{Transaction, TransactionState};

/// The largest write buffer [`Session::recycle`] keeps: room for a data chunk of the
/// transport's size and the commands around it, not a whole large message.
const MAX_RECYCLED: usize = 1024 * 1024;

/// What the driver must do next; see the [module docs](self) for the loop.
#[must_use = "a session does nothing unless its actions are carried out"]
#[non_exhaustive]
pub enum Action {
    /// Write all of these bytes to the server (possibly several pipelined commands), by
    /// [`Session::poll_timeout`]; then, if you like, hand the buffer back with
    /// [`Session::recycle`].
    Send(Vec<u8>),
    /// Read from the server and [`Session::feed`] the bytes; the reply is due by
    /// [`Session::poll_timeout`].
    Receive,
    /// Run the TLS handshake now, on the same connection, by [`Session::poll_timeout`], then
    /// call [`Session::tls_established`] or [`Session::tls_failed`].
    StartTls,
    /// The greeting is late: find out whether the port expects implicit TLS by sending a TLS
    /// ClientHello on a second connection to the same address, and pass the answer to
    /// [`Session::tls_probe_answered`]. Keep reading this connection meanwhile: a slow but
    /// real greeting still wins.
    ProbeTls,
    /// The server waits for the data of this message: [`Session::write_data`], then
    /// [`Session::finish_data`].
    SendData(MailId),
    /// Nothing is in flight: send mail, NOOP, a sender probe or QUIT.
    Ready,
    /// The session is over: close the connection.
    Closed,
}

/// One SMTP session with one server. Performs no I/O and reads no clock; see the
/// [module docs](self).
pub struct Session {
    config: SessionConfig,
    stage: Stage,
    framer: ReplyFramer,
    outbox: Vec<u8>,
    /// Where a command line is encoded to check its length before anything is sent.
    scratch: Vec<u8>,
    /// Replies awaited, in the order the commands were sent (RFC 2920 §3.1).
    pending: VecDeque<Expect>,
    /// What happened, for the driver to take.
    events: VecDeque<Event>,
    transactions: VecDeque<Transaction>,
    /// Messages not yet finished, with the report of their finished transactions.
    messages: Vec<Message>,
    /// Further transactions for deferred recipients, started once the pipeline allows.
    continuations: VecDeque<(MailId, Envelope)>,
    capabilities: Option<Capabilities>,
    tls_active: bool,
    authenticated: bool,
    sasl: Option<SaslExchange>,
    next_id: u64,
    replies: u64,
    /// Whether any byte arrived before TLS: the first one tells a TLS record from SMTP.
    plaintext_seen: bool,
    failed: Option<Error>,
    transcript: Option<Transcript>,
    /// The time the driver last passed, and the first one (transcript stamps).
    now: Option<Instant>,
    origin: Option<Instant>,
    deadline: Option<Deadline>,
    probe: Probe,
    /// The reply to the last sender probe.
    probe_reply: Option<Reply>,
    /// Whether QUIT was sent: it is said once, also after a refusal.
    quit_sent: bool,
    /// QUIT was asked for while a message was in flight; it goes out as soon as nothing it
    /// could cut off remains (see [`Session::quit`]).
    quit_due: bool,
}

/// A message in flight: what its finished transactions said so far.
#[derive(Debug)]
struct Message {
    id: MailId,
    report: Report,
    started: Option<Instant>,
    /// Whether its data can be sent again for a further transaction.
    resendable: bool,
}

/// What the driver is waiting on, and until when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Deadline {
    at: Instant,
    waiting: Waiting,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Waiting {
    /// A write of the bytes last handed out.
    Write,
    /// The reply with this index (replies received before it).
    Reply(u64),
    /// The TLS handshake.
    Handshake,
}

/// The TLS-mode probe for a greeting that does not come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Probe {
    /// Not asked for yet; due at this instant while the greeting is awaited.
    Waiting(Option<Instant>),
    /// Due: the next action asks for it.
    Due,
    /// Asked for, or not applicable any more.
    Done,
}

/// Where the connection as a whole stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Implicit TLS: the handshake comes before the greeting.
    TlsBeforeGreeting,
    /// Greeting, EHLO, STARTTLS or AUTH in progress.
    Opening,
    /// STARTTLS was accepted: the handshake is due.
    TlsAfterStartTls,
    /// Mail transactions may run.
    Ready,
    /// QUIT was sent.
    Quitting,
    /// Nothing more will happen.
    Closed,
}

/// A reply the session waits for, and what it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    Auth,
    /// The reply to `*`, after which the session fails with the violation.
    AuthCancel(ProtocolViolation),
    Mail(MailId),
    Rcpt(MailId),
    Data(MailId),
    /// The reply to a BDAT chunk that is not the last.
    Bdat(MailId),
    /// The reply to the end of data (`.` or `BDAT … LAST`).
    DataEnd(MailId),
    /// MAIL FROM sent to test a sender, not to send mail.
    ProbeMail,
    Rset,
    Noop,
    Quit,
}

impl Expect {
    fn phase(self) -> Phase {
        match self {
            Self::Greeting => Phase::Greeting,
            Self::Ehlo => Phase::Ehlo,
            Self::Helo => Phase::Helo,
            Self::StartTls => Phase::StartTls,
            Self::Auth | Self::AuthCancel(_) => Phase::Auth,
            Self::Mail(_) | Self::ProbeMail => Phase::MailFrom,
            Self::Rcpt(_) => Phase::RcptTo,
            Self::Data(_) => Phase::Data,
            Self::Bdat(_) => Phase::DataBody,
            Self::DataEnd(_) => Phase::DataEnd,
            Self::Rset => Phase::Reset,
            Self::Noop => Phase::Noop,
            Self::Quit => Phase::Quit,
        }
    }

    fn mail(self) -> Option<MailId> {
        match self {
            Self::Mail(id)
            | Self::Rcpt(id)
            | Self::Data(id)
            | Self::Bdat(id)
            | Self::DataEnd(id) => Some(id),
            _ => None,
        }
    }
}

/// `Debug` shows what the bytes are, never the bytes: they may carry AUTH payloads.
impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Send(bytes) => f.debug_struct("Send").field("len", &bytes.len()).finish(),
            Self::Receive => f.write_str("Receive"),
            Self::StartTls => f.write_str("StartTls"),
            Self::ProbeTls => f.write_str("ProbeTls"),
            Self::SendData(id) => f.debug_tuple("SendData").field(id).finish(),
            Self::Ready => f.write_str("Ready"),
            Self::Closed => f.write_str("Closed"),
        }
    }
}

/// `Debug` leaves out the byte buffers, which may hold AUTH payloads.
impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("stage", &self.stage)
            .field("pending", &self.pending)
            .field("tls_active", &self.tls_active)
            .field("authenticated", &self.authenticated)
            .field("capabilities", &self.capabilities)
            .field("transactions", &self.transactions.len())
            .field("outbox_len", &self.outbox.len())
            .field("buffered_input", &self.framer.buffered())
            .field("deadline", &self.deadline)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session about to read the server's greeting (or, with implicit TLS, to start TLS).
    pub fn new(config: SessionConfig) -> Self {
        let stage = if config.tls_policy == TlsPolicy::Implicit {
            Stage::TlsBeforeGreeting
        } else {
            Stage::Opening
        };
        let mut pending = VecDeque::new();
        if stage == Stage::Opening {
            pending.push_back(Expect::Greeting);
        }
        // Only a plaintext greeting can turn out to be a TLS port in disguise.
        let probe = if stage == Stage::Opening && config.timeouts.tls_probe.is_some() {
            Probe::Waiting(None)
        } else {
            Probe::Done
        };
        Self {
            framer: ReplyFramer::new(config.reply_limits),
            transcript: config
                .transcript
                .then(|| Transcript::new(config.transcript_limit)),
            config,
            stage,
            outbox: Vec::new(),
            scratch: Vec::new(),
            pending,
            events: VecDeque::new(),
            transactions: VecDeque::new(),
            messages: Vec::new(),
            continuations: VecDeque::new(),
            capabilities: None,
            tls_active: false,
            authenticated: false,
            sasl: None,
            next_id: 0,
            replies: 0,
            plaintext_seen: false,
            failed: None,
            now: None,
            origin: None,
            deadline: None,
            probe,
            probe_reply: None,
            quit_sent: false,
            quit_due: false,
        }
    }

    /// Passes bytes read from the server.
    ///
    /// A TLS record (a handshake or an alert) where a plaintext greeting is due means the
    /// port expects implicit TLS: the session fails with [`ErrorKind::WrongTlsMode`] at once
    /// rather than when the greeting's deadline passes.
    pub fn feed(&mut self, bytes: &[u8]) {
        let first_plaintext = !self.tls_active && !self.plaintext_seen;
        if first_plaintext && !bytes.is_empty() {
            self.plaintext_seen = true;
            self.probe = Probe::Done;
        }
        let greeting_due = self.pending.front() == Some(&Expect::Greeting);
        if first_plaintext && greeting_due && matches!(bytes.first(), Some(0x15 | 0x16)) {
            if self.failed.is_none() {
                self.set_failed(Error::new(
                    ErrorKind::WrongTlsMode(TlsMismatch::ServerSpeaksTls),
                    Phase::Greeting,
                ));
            }
            return;
        }
        self.framer.push(bytes);
    }

    /// Returns what the driver must do next. `now` is the current time: deadlines start
    /// from it, and transcript entries are stamped with the time since the first call.
    ///
    /// # Errors
    /// The error that ended the session; the same error on every later call.
    pub fn next_action(&mut self, now: Instant) -> Result<Action, Error> {
        self.set_now(now);
        let action = self.step();
        self.deadline = match &action {
            Ok(Action::Send(_)) => Some(Deadline {
                at: now + self.config.timeouts.data_block,
                waiting: Waiting::Write,
            }),
            Ok(Action::Receive) => self.reply_deadline(now),
            Ok(Action::StartTls) => match self.deadline {
                kept @ Some(Deadline {
                    waiting: Waiting::Handshake,
                    ..
                }) => kept,
                _ => Some(Deadline {
                    at: now + self.config.timeouts.tls_handshake,
                    waiting: Waiting::Handshake,
                }),
            },
            // The greeting is still awaited while the probe runs.
            Ok(Action::ProbeTls) => self.deadline,
            _ => None,
        };
        if self.probe == Probe::Waiting(None) && matches!(action, Ok(Action::Receive)) {
            if let Some(after) = self.config.timeouts.tls_probe {
                self.probe = Probe::Waiting(Some(now + after));
            }
        }
        action
    }

    /// The instant by which what the driver waits on (a write, a reply, the handshake, the
    /// moment to probe a silent server) must have happened; `None` while the driver owes
    /// the session nothing from the server. Call [`Session::handle_timeout`] when it passes.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let deadline = self.deadline.map(|d| d.at);
        let probe = match self.probe {
            Probe::Waiting(at) => at,
            _ => None,
        };
        match (deadline, probe) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Tells the session the time; if a deadline has passed, the session fails with
    /// [`ErrorKind::Timeout`] (stamped with the phase and whether a message may have been
    /// delivered) and [`Session::next_action`] returns it. Past the probe instant of a
    /// silent greeting, the next action is [`Action::ProbeTls`].
    pub fn handle_timeout(&mut self, now: Instant) {
        self.set_now(now);
        if let Probe::Waiting(Some(at)) = self.probe {
            if now >= at {
                self.probe = Probe::Due;
            }
        }
        if self.deadline.is_some_and(|d| now >= d.at) {
            if self.failed.is_none() {
                self.deadline = None;
                self.fail(ErrorKind::Timeout);
            } else {
                // The QUIT said after a refusal went unanswered: nothing is lost.
                self.close();
            }
        }
    }

    /// Reports what a second connection to the same address answered to a TLS ClientHello
    /// (empty if it closed or said nothing). A TLS record while the greeting is still
    /// awaited means the port expects implicit TLS: the session fails with
    /// [`ErrorKind::WrongTlsMode`]. Anything else changes nothing: the greeting may still come.
    pub fn tls_probe_answered(&mut self, answer: &[u8]) {
        let still_silent = !self.plaintext_seen && self.pending.front() == Some(&Expect::Greeting);
        if !still_silent || self.failed.is_some() {
            return;
        }
        if matches!(answer.first(), Some(0x15 | 0x16)) {
            self.event("TLS probe: a second connection to this port answered with TLS".into());
            self.set_failed(Error::new(
                ErrorKind::WrongTlsMode(TlsMismatch::ServerSpeaksTls),
                Phase::Greeting,
            ));
        } else {
            self.event(
                "TLS probe: the port does not answer TLS; still waiting for the greeting".into(),
            );
        }
    }

    /// Reports that the TLS handshake asked for by [`Action::StartTls`] succeeded.
    /// `details` (protocol, cipher suite, certificate) goes into the transcript.
    ///
    /// Everything learned before TLS is forgotten and EHLO is sent again (RFC 3207 §4.2).
    ///
    /// # Errors
    /// [`InputError::WrongState`] if no handshake was asked for.
    pub fn tls_established(&mut self, details: &str) -> Result<(), Error> {
        match self.stage {
            Stage::TlsBeforeGreeting => {
                self.event(format!("TLS established: {details}"));
                self.pending.push_back(Expect::Greeting);
            }
            Stage::TlsAfterStartTls => {
                self.event(format!(
                    "TLS established: {details}; capabilities forgotten, EHLO again"
                ));
                self.capabilities = None;
                self.send_ehlo();
            }
            _ => {
                return Err(Error::input(
                    Phase::TlsHandshake,
                    InputError::WrongState("tls_established without Action::StartTls"),
                ))
            }
        }
        self.tls_active = true;
        self.stage = Stage::Opening;
        self.deadline = None;
        self.events.push_back(Event::TlsEstablished);
        Ok(())
    }

    /// Reports that the TLS handshake failed, and returns the error. `peer_spoke_tls` says
    /// whether what came back was TLS at all: a handshake answered by plaintext before the
    /// greeting means the port speaks STARTTLS or plain SMTP, not implicit TLS.
    pub fn tls_failed(
        &mut self,
        error: Arc<dyn std::error::Error + Send + Sync>,
        peer_spoke_tls: bool,
    ) -> Error {
        let kind = if !peer_spoke_tls && self.stage == Stage::TlsBeforeGreeting {
            ErrorKind::WrongTlsMode(TlsMismatch::ServerSpeaksPlaintext)
        } else {
            ErrorKind::Tls(error)
        };
        self.fail(kind)
    }

    /// Starts a mail transaction for `envelope`, returning the id that
    /// [`Action::SendData`] and the finishing [`Event`]s carry.
    ///
    /// Allowed on [`Action::Ready`] and, when the server pipelines, right after
    /// [`Session::finish_data`] (the next envelope then leaves with the end of the data).
    /// Recipients the server defers (452) get a further transaction, for which the driver
    /// sends the same data again.
    ///
    /// # Errors
    /// Before anything is sent, and without ending the session: the envelope needs an
    /// extension the server lacks (SMTPUTF8, 8BITMIME, DSN), the declared size exceeds the
    /// server's SIZE limit, or a command line would exceed 512 octets.
    pub fn send_mail(&mut self, envelope: Envelope) -> Result<MailId, Error> {
        self.start_message(envelope, true)
    }

    /// As [`Session::send_mail`], for data that can be sent only once (streamed): recipients
    /// the server defers are reported [`Status::Deferred`] instead of getting a further
    /// transaction.
    ///
    /// # Errors
    /// As [`Session::send_mail`].
    pub fn send_mail_once(&mut self, envelope: Envelope) -> Result<MailId, Error> {
        self.start_message(envelope, false)
    }

    fn start_message(&mut self, envelope: Envelope, resendable: bool) -> Result<MailId, Error> {
        self.check_can_send_mail()?;
        let use_bdat = self.check_envelope(&envelope)?;
        let id = MailId(self.next_id);
        self.start_transaction(id, envelope, use_bdat)?;
        self.next_id += 1;
        self.messages.push(Message {
            id,
            report: Report::new(Vec::new()),
            started: self.now,
            resendable,
        });
        Ok(id)
    }

    /// Encodes the next chunk of message data (dot-stuffing, line endings, BDAT framing).
    ///
    /// # Errors
    /// [`InputError::WrongState`] if the server is not waiting for data. Invalid data (a NUL,
    /// a line over 998 octets, a bare CR or LF in strict mode) ends the session: part of the
    /// message may be on the wire, and only closing the connection stops it from being
    /// delivered truncated.
    pub fn write_data(&mut self, chunk: &[u8]) -> Result<(), Error> {
        let chunk_size = self.config.bdat_chunk_size.max(1);
        let Some(transaction) = self
            .transactions
            .iter_mut()
            .find(|t| matches!(t.state, TransactionState::Data(_)))
        else {
            return Err(Error::input(
                Phase::DataBody,
                InputError::WrongState("write_data without Action::SendData"),
            ));
        };
        let (id, use_bdat) = (transaction.id, transaction.use_bdat);
        let TransactionState::Data(data) = &mut transaction.state else {
            return Ok(());
        };
        let (encoded, full_chunk) = if use_bdat {
            let encoded = data.encoder.encode(chunk, &mut data.chunk);
            let full = (data.chunk.len() >= chunk_size).then(|| std::mem::take(&mut data.chunk));
            (encoded, full)
        } else {
            let before = self.outbox.len();
            let encoded = data.encoder.encode(chunk, &mut self.outbox);
            data.wire_bytes += (self.outbox.len() - before) as u64;
            (encoded, None)
        };
        if let Some(full_chunk) = full_chunk {
            data.wire_bytes += full_chunk.len() as u64;
            self.send_bdat(id, full_chunk, false);
        }
        if let Some(message) = self.messages.iter_mut().find(|m| m.id == id) {
            message.report.add_bytes(chunk.len() as u64);
        }
        encoded.map_err(|e| self.set_failed(Error::input(Phase::DataBody, e)))
    }

    /// Ends the message data (`CRLF . CRLF`, or `BDAT … LAST`).
    ///
    /// From here until the final reply arrives, a lost connection leaves the delivery
    /// [`Delivery::Unknown`].
    ///
    /// # Errors
    /// As [`Session::write_data`].
    pub fn finish_data(&mut self) -> Result<(), Error> {
        let Some(transaction) = self.data_transaction() else {
            return Err(Error::input(
                Phase::DataBody,
                InputError::WrongState("finish_data without Action::SendData"),
            ));
        };
        let state = std::mem::replace(&mut transaction.state, TransactionState::DataSent);
        let TransactionState::Data(mut data) = state else {
            return Ok(());
        };
        let id = transaction.id;
        let use_bdat = transaction.use_bdat;
        let out = if use_bdat {
            &mut data.chunk
        } else {
            &mut self.outbox
        };
        let before = out.len();
        let finished = data.encoder.finish(out);
        let tail = out.len() - before;
        if let Err(e) = finished {
            return Err(self.set_failed(Error::input(Phase::DataBody, e)));
        }
        if use_bdat {
            data.wire_bytes += data.chunk.len() as u64;
            self.send_bdat(id, std::mem::take(&mut data.chunk), true);
        } else {
            data.wire_bytes += tail as u64;
            self.pending.push_back(Expect::DataEnd(id));
        }
        self.record(Entry::Data {
            bytes: data.wire_bytes,
        });
        Ok(())
    }

    /// Hands back the buffer of an [`Action::Send`] once it is written, so the next one is
    /// built in it rather than in a new allocation (optional: a driver that drops its buffers
    /// loses only speed). The written bytes are wiped first: they may hold an AUTH line.
    pub fn recycle(&mut self, mut buffer: Vec<u8>) {
        crate::secret::wipe_in_use(&mut buffer);
        if self.outbox.is_empty()
            && buffer.capacity() > self.outbox.capacity()
            && buffer.capacity() <= MAX_RECYCLED
        {
            self.outbox = buffer;
        }
    }

    /// Sends NOOP, e.g. to check an idle connection before reuse.
    ///
    /// # Errors
    /// [`InputError::WrongState`] unless the session is ready.
    pub fn noop(&mut self) -> Result<(), Error> {
        self.check_idle(Phase::Noop, "noop when not ready")?;
        self.send(Command::Noop, Expect::Noop);
        Ok(())
    }

    /// Asks whether the server would take mail from `from` (`None`: the null reverse-path)
    /// without sending any: MAIL FROM, then RSET (also after a refusal). The answer is in
    /// [`Session::take_probe_reply`] (and an [`Event::Reply`]); a refusal does not end the
    /// session, a 421 does.
    ///
    /// # Errors
    /// [`InputError::WrongState`] unless the session is ready.
    pub fn probe_sender(&mut self, from: Option<crate::address::Mailbox>) -> Result<(), Error> {
        self.check_idle(Phase::MailFrom, "probe_sender when not ready")?;
        let smtputf8 = from
            .as_ref()
            .is_some_and(crate::address::Mailbox::needs_smtputf8);
        let mail = MailCommand {
            from,
            size: None,
            body: crate::envelope::Body::SevenBit,
            smtputf8,
            ret: None,
            envid: None,
        };
        self.probe_reply = None;
        self.send(Command::Mail(mail), Expect::ProbeMail);
        Ok(())
    }

    /// The reply to the last [`Session::probe_sender`], once it arrived.
    pub fn take_probe_reply(&mut self) -> Option<Reply> {
        self.probe_reply.take()
    }

    /// Sends QUIT. Whatever the server answers, even junk, the session then ends.
    ///
    /// Asked for while messages are in flight, QUIT waits until it can cut nothing off: with
    /// PIPELINING it leaves right behind the end of the last message's data (RFC 2920 §3.1:
    /// QUIT may end a group), so a connection that sends one message costs no extra round
    /// trip; otherwise, or while a further transaction may follow (deferred recipients),
    /// it leaves once every message has finished.
    ///
    /// After a failure QUIT is still said when the connection is sound and in step: the
    /// server refused something (other than with 421, after which it closes itself) or
    /// lacks something, and no reply is outstanding (RFC 5321 §3.8: the client ends the
    /// session with QUIT). A driver that keeps the session after its error, such as
    /// `smtpwire check`, so says goodbye after a refused login. Otherwise nothing is sent.
    /// The session's error stays: [`Session::next_action`] returns it again once QUIT is
    /// answered.
    ///
    /// # Errors
    /// [`InputError::WrongState`] while message data is being written.
    pub fn quit(&mut self) -> Result<(), Error> {
        if self.transaction_taking_data().is_some() {
            return Err(Error::input(
                Phase::Quit,
                InputError::WrongState("quit during data"),
            ));
        }
        if self.quit_sent {
            return Ok(());
        }
        match &self.failed {
            Some(error) if !self.in_step_after(error) => return Ok(()),
            Some(_) => {}
            None if matches!(self.stage, Stage::Quitting | Stage::Closed) => return Ok(()),
            None => {}
        }
        if self.quit_waits() {
            self.quit_due = true;
        } else {
            self.say_quit();
        }
        Ok(())
    }

    fn say_quit(&mut self) {
        self.quit_due = false;
        self.stage = Stage::Quitting;
        self.quit_sent = true;
        self.send(Command::Quit, Expect::Quit);
    }

    /// Whether QUIT would cut off a message in flight: anything but final replies is still
    /// due, a further transaction may follow, or the server takes no pipelined commands.
    fn quit_waits(&self) -> bool {
        if self.transactions.is_empty() && self.continuations.is_empty() {
            return false;
        }
        let only_final_replies_due = self
            .transactions
            .iter()
            .all(|t| matches!(t.state, TransactionState::DataSent) && t.deferred.is_empty())
            && !self.pending.iter().any(|expect| {
                matches!(
                    expect,
                    Expect::Mail(_) | Expect::Rcpt(_) | Expect::Data(_) | Expect::Bdat(_)
                )
            });
        !(self.pipelining() && only_final_replies_due && self.continuations.is_empty())
    }

    /// Whether the connection is still sound and in step after `error`: the server answered
    /// every command, refused or lacked something, and sent nothing more.
    fn in_step_after(&self, error: &Error) -> bool {
        let refused = match error.kind() {
            // After 421 the server closes the connection itself.
            ErrorKind::Rejected => error
                .reply()
                .is_none_or(|r| r.code() != ReplyCode::SERVICE_NOT_AVAILABLE),
            ErrorKind::Unsupported(_)
            | ErrorKind::Input(InputError::PlaintextAuth | InputError::Credentials(_)) => true,
            _ => false,
        };
        refused
            && error.phase() != Phase::DataBody
            && self.pending.is_empty()
            && self.framer.buffered() == 0
            && self.transactions.is_empty()
            && self.stage == Stage::Closed
    }

    /// Ends the session because of something only the driver sees (end of file, an I/O
    /// error) and returns the error, stamped with the phase and whether a message may have
    /// been delivered. Every message in flight ends with [`Event::MessageFinished`].
    ///
    /// After QUIT was sent nothing is lost: the session just closes, and
    /// [`Session::next_action`] returns [`Action::Closed`] (servers such as QQ Mail drop the
    /// connection instead of answering QUIT).
    pub fn fail(&mut self, kind: ErrorKind) -> Error {
        if let Some(error) = self.failed.clone() {
            // The connection broke during the QUIT said after a refusal.
            if self.stage == Stage::Quitting {
                self.close();
            }
            return error;
        }
        let error = Error::new(kind, self.phase()).with_delivery(self.delivery());
        if matches!(self.stage, Stage::Quitting | Stage::Closed) && self.messages.is_empty() {
            self.close();
            return error;
        }
        self.set_failed(error)
    }

    /// What happened since the last call, oldest first; see [`Event`].
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The phase the session is in: the reply it waits for, else what it does.
    pub fn phase(&self) -> Phase {
        if let Some(expect) = self.pending.front() {
            return expect.phase();
        }
        if self.transaction_taking_data().is_some() {
            return Phase::DataBody;
        }
        match self.stage {
            Stage::TlsBeforeGreeting | Stage::TlsAfterStartTls => Phase::TlsHandshake,
            Stage::Quitting | Stage::Closed => Phase::Quit,
            Stage::Opening => Phase::Greeting,
            Stage::Ready => Phase::MailFrom,
        }
    }

    /// Whether a message may have been delivered if the session failed now: the end of its
    /// data was sent and its reply has not arrived.
    pub fn delivery(&self) -> Delivery {
        let awaiting_final = self.pending.iter().any(|e| matches!(e, Expect::DataEnd(_)))
            || self
                .transactions
                .iter()
                .any(|t| matches!(t.state, TransactionState::DataSent));
        if awaiting_final {
            Delivery::Unknown
        } else {
            Delivery::NotSent
        }
    }

    /// What the server offered in its last EHLO reply (after TLS, the post-TLS one).
    pub fn capabilities(&self) -> Option<&Capabilities> {
        self.capabilities.as_ref()
    }

    /// The error that ended the session, if it failed. A driver stepping the session event
    /// by event (`smtpwire check`) sees at once whether the reply it was just given ended
    /// the session, without waiting on the server for the next one.
    pub fn error(&self) -> Option<&Error> {
        self.failed.as_ref()
    }

    /// Whether the session can carry more mail: opened, not failed, not quitting. A pool
    /// keeps a connection only while this holds.
    pub fn is_usable(&self) -> bool {
        self.failed.is_none() && self.stage == Stage::Ready
    }

    /// Whether the server pipelines (RFC 2920) and the configuration allows it: the next
    /// envelope may then follow a message's data in the same write.
    pub fn pipelines(&self) -> bool {
        self.pipelining()
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        self.tls_active
    }

    /// Whether AUTH succeeded.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// Bytes received and not yet consumed. The session refuses to start TLS otherwise.
    pub fn buffered_input(&self) -> usize {
        self.framer.buffered()
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The transcript, if enabled in the configuration.
    pub fn transcript(&self) -> Option<&Transcript> {
        self.transcript.as_ref()
    }

    /// The message whose data the server is waiting for, if any. A driver streaming a large
    /// message checks it between chunks: a refused BDAT chunk ends the transaction early.
    pub fn data_wanted(&self) -> Option<MailId> {
        self.transaction_taking_data()
    }

    // ===== the loop =====

    fn step(&mut self) -> Result<Action, Error> {
        loop {
            if let Some(error) = &self.failed {
                // Only the QUIT said after a refusal goes on; then the error again.
                if self.stage != Stage::Quitting {
                    return Err(error.clone());
                }
            }
            if self.quit_due && self.failed.is_none() && !self.quit_waits() {
                self.say_quit();
            }
            if !self.outbox.is_empty() {
                return Ok(Action::Send(std::mem::take(&mut self.outbox)));
            }
            if self.probe == Probe::Due {
                self.probe = Probe::Done;
                if !self.plaintext_seen && self.pending.front() == Some(&Expect::Greeting) {
                    self.event("no greeting yet: probing whether the port expects TLS".into());
                    return Ok(Action::ProbeTls);
                }
            }
            if self.start_continuation() {
                continue;
            }
            let Some(&expect) = self.pending.front() else {
                return self.idle_action();
            };
            match self.framer.next_reply() {
                Ok(Some(reply)) => {
                    self.pending.pop_front();
                    self.replies += 1;
                    self.record_reply(&reply);
                    self.events.push_back(Event::Reply {
                        phase: expect.phase(),
                        mail: expect.mail(),
                        reply: reply.clone(),
                    });
                    if let Err(error) = self.check_nothing_unsolicited(expect, &reply) {
                        return Err(self.set_failed(error));
                    }
                    if let Err(error) = self.on_reply(expect, reply) {
                        return Err(self.set_failed(error));
                    }
                }
                Ok(None) => {
                    if let Some(id) = self.transaction_taking_data() {
                        return Ok(Action::SendData(id));
                    }
                    return Ok(Action::Receive);
                }
                // Some servers (QQ Mail) answer QUIT with junk; the session is over anyway.
                Err(_) if expect == Expect::Quit => self.close(),
                Err(framing) => {
                    let error =
                        Error::protocol(expect.phase(), ProtocolViolation::Framing(framing))
                            .with_delivery(self.delivery());
                    return Err(self.set_failed(error));
                }
            }
        }
    }

    fn on_reply(&mut self, expect: Expect, reply: Reply) -> Result<(), Error> {
        let phase = expect.phase();
        // RFC 5321 §3.8: 421 ends the session, whatever was asked.
        if reply.code() == ReplyCode::SERVICE_NOT_AVAILABLE && expect != Expect::Quit {
            return Err(Error::rejected(phase, reply).with_delivery(self.delivery_after(expect)));
        }
        match expect {
            Expect::Greeting => self.on_greeting(reply),
            Expect::Ehlo => self.on_ehlo(reply),
            Expect::Helo => self.on_helo(reply),
            Expect::StartTls => self.on_starttls(reply),
            Expect::Auth => self.on_auth(reply),
            Expect::AuthCancel(violation) => {
                Err(Error::protocol(phase, violation).with_reply(reply))
            }
            Expect::Mail(id) | Expect::Rcpt(id) | Expect::Data(id) | Expect::Bdat(id) => {
                self.on_transaction_reply(id, expect, reply)
            }
            Expect::DataEnd(id) => self.on_final_reply(id, reply),
            Expect::ProbeMail => {
                if reply.code().class() == 3 {
                    return Err(unexpected(phase, reply));
                }
                // RSET whatever the answer, so the probe leaves no trace of the sender behind
                // even on a server that keeps state from a refused MAIL.
                self.send(Command::Rset, Expect::Rset);
                self.probe_reply = Some(reply);
                Ok(())
            }
            Expect::Rset | Expect::Noop => match reply.severity() {
                crate::reply::Severity::PositiveCompletion => Ok(()),
                _ if reply.is_positive() => Err(unexpected(phase, reply)),
                _ => Err(Error::rejected(phase, reply)),
            },
            Expect::Quit => {
                self.close();
                Ok(())
            }
        }
    }

    // ===== helpers =====

    fn set_now(&mut self, now: Instant) {
        let origin = *self.origin.get_or_insert(now);
        self.now = Some(now);
        if let Some(transcript) = &mut self.transcript {
            transcript.set_elapsed(now.saturating_duration_since(origin));
        }
    }

    /// The deadline of the reply awaited: kept while the same reply is awaited, so a server
    /// trickling bytes cannot stretch it.
    fn reply_deadline(&self, now: Instant) -> Option<Deadline> {
        let expect = *self.pending.front()?;
        match self.deadline {
            Some(
                kept @ Deadline {
                    waiting: Waiting::Reply(index),
                    ..
                },
            ) if index == self.replies => Some(kept),
            _ => Some(Deadline {
                at: now + self.timeout_for(expect),
                waiting: Waiting::Reply(self.replies),
            }),
        }
    }

    fn check_idle(&self, phase: Phase, what: &'static str) -> Result<(), Error> {
        if self.stage != Stage::Ready || !self.transactions.is_empty() || self.failed.is_some() {
            return Err(Error::input(phase, InputError::WrongState(what)));
        }
        Ok(())
    }

    fn pipelining(&self) -> bool {
        self.config.pipelining
            && self
                .capabilities
                .as_ref()
                .is_some_and(Capabilities::pipelining)
    }

    fn send(&mut self, command: Command, expect: Expect) {
        if self.transcript.is_some() {
            self.record(Entry::Client(command.redacted().to_string()));
        }
        command.encode(&mut self.outbox);
        self.pending.push_back(expect);
    }

    fn data_transaction(&mut self) -> Option<&mut Transaction> {
        self.transactions
            .iter_mut()
            .find(|t| matches!(t.state, TransactionState::Data(_)))
    }

    fn transaction_taking_data(&self) -> Option<MailId> {
        self.transactions
            .iter()
            .find(|t| matches!(t.state, TransactionState::Data(_)))
            .map(|t| t.id)
    }

    fn idle_action(&mut self) -> Result<Action, Error> {
        if let Some(id) = self.transaction_taking_data() {
            return self.data_action(id);
        }
        if self.framer.buffered() > 0 {
            let error = Error::protocol(self.phase(), ProtocolViolation::UnsolicitedData);
            return Err(self.set_failed(error));
        }
        Ok(match self.stage {
            Stage::TlsBeforeGreeting | Stage::TlsAfterStartTls => Action::StartTls,
            Stage::Ready => Action::Ready,
            Stage::Closed | Stage::Quitting => Action::Closed,
            // Opening always has a reply pending or a stage change; reaching here is a bug in
            // the session, reported rather than looped on.
            Stage::Opening => {
                return Err(self.set_failed(Error::input(
                    self.phase(),
                    InputError::WrongState("session stalled while opening"),
                )))
            }
        })
    }

    /// Asks for data, unless the server already answered in the middle of it (a `552 message
    /// too big` before the end, security anchors 58): DATA cannot be stopped cleanly — the
    /// terminator would deliver a truncated message — so the session ends, nothing delivered.
    fn data_action(&mut self, id: MailId) -> Result<Action, Error> {
        if self.framer.buffered() == 0 {
            return Ok(Action::SendData(id));
        }
        let error = match self.framer.next_reply() {
            Ok(None) => return Ok(Action::SendData(id)),
            Ok(Some(reply)) if reply.is_positive() => {
                Error::protocol(Phase::DataBody, ProtocolViolation::UnexpectedReply)
                    .with_reply(reply)
            }
            Ok(Some(reply)) => Error::rejected(Phase::DataBody, reply),
            Err(framing) => Error::protocol(Phase::DataBody, ProtocolViolation::Framing(framing)),
        };
        Err(self.set_failed(error))
    }

    /// Once every command sent has its reply, any byte left is a reply nobody asked for; it
    /// must not be taken as the answer to the next command. After the `220` to STARTTLS it
    /// is a response-injection attempt (CVE-2021-22947, aiosmtplib CVE-2026-55558).
    fn check_nothing_unsolicited(&self, handled: Expect, reply: &Reply) -> Result<(), Error> {
        if !self.pending.is_empty() || handled == Expect::Quit || self.framer.buffered() == 0 {
            return Ok(());
        }
        let violation = if handled == Expect::StartTls && reply.code() == ReplyCode::SERVICE_READY {
            ProtocolViolation::DataAfterStartTls
        } else {
            ProtocolViolation::UnsolicitedData
        };
        Err(Error::protocol(handled.phase(), violation).with_reply(reply.clone()))
    }

    fn timeout_for(&self, expect: Expect) -> Duration {
        let t = &self.config.timeouts;
        match expect {
            Expect::Greeting => t.greeting,
            Expect::Mail(_) | Expect::ProbeMail => t.mail,
            Expect::Rcpt(_) => t.rcpt,
            Expect::Data(_) => t.data_initiation,
            Expect::Bdat(_) => t.data_block,
            Expect::DataEnd(_) => t.data_termination,
            Expect::Quit => t.quit,
            Expect::Ehlo
            | Expect::Helo
            | Expect::StartTls
            | Expect::Auth
            | Expect::AuthCancel(_)
            | Expect::Rset
            | Expect::Noop => t.command,
        }
    }

    /// The delivery state for an error raised by the reply to `expect`: a reply to the end of
    /// data that says "no" is a definite answer.
    fn delivery_after(&self, expect: Expect) -> Delivery {
        match expect {
            Expect::DataEnd(_) => Delivery::NotSent,
            _ => self.delivery(),
        }
    }

    /// Ends the session: every message in flight finishes with its verdict, and the error
    /// carries the transcript so far.
    fn set_failed(&mut self, error: Error) -> Error {
        self.event(format!("session failed: {error}"));
        let error = match &self.transcript {
            Some(transcript) => error.with_transcript(Arc::new(transcript.clone())),
            None => error,
        };
        self.finish_messages_after(&error);
        self.stage = Stage::Closed;
        self.deadline = None;
        self.failed = Some(error.clone());
        error
    }

    fn close(&mut self) {
        self.stage = Stage::Closed;
        self.pending.clear();
        self.deadline = None;
    }

    fn record(&mut self, entry: Entry) {
        if let Some(transcript) = &mut self.transcript {
            transcript.push(entry);
        }
    }

    fn record_reply(&mut self, reply: &Reply) {
        if self.transcript.is_some() {
            for line in reply.to_wire().split(|&b| b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if !line.is_empty() {
                    self.record(Entry::Server(line.to_vec()));
                }
            }
        }
    }

    fn event(&mut self, text: String) {
        self.record(Entry::Event(text));
    }
}

impl Expect {
    fn belongs_to(self, id: MailId) -> bool {
        self.mail() == Some(id)
    }
}

fn unexpected(phase: Phase, reply: Reply) -> Error {
    Error::protocol(phase, ProtocolViolation::UnexpectedReply).with_reply(reply)
}

#[cfg(test)]
mod tests {
    use super::{Action, Session, SessionConfig, TlsPolicy, MAX_RECYCLED};
    use std::time::Instant;

    /// A plaintext session that has read the greeting: its next action sends EHLO.
    fn greeted() -> Session {
        let mut session = Session::new(SessionConfig::new(TlsPolicy::Plaintext));
        session.feed(b"220 mx.test ESMTP\r\n");
        session
    }

    fn sent(session: &mut Session) -> Vec<u8> {
        let action = session.next_action(Instant::now());
        assert!(
            matches!(action, Ok(Action::Send(_))),
            "expected bytes to send, got {action:?}"
        );
        match action {
            Ok(Action::Send(bytes)) => bytes,
            _ => Vec::new(),
        }
    }

    #[test]
    fn a_recycled_buffer_carries_the_next_command_and_nothing_of_its_past() {
        let mut session = greeted();
        let mut buffer = Vec::with_capacity(4096);
        buffer.extend_from_slice(b"AUTH PLAIN secret\r\n");
        let at = buffer.as_ptr();
        session.recycle(buffer);
        let ehlo = sent(&mut session);
        assert_eq!(ehlo, b"EHLO localhost\r\n");
        assert_eq!(ehlo.as_ptr(), at, "the allocation is reused");
        assert!(ehlo.capacity() >= 4096);
    }

    #[test]
    fn a_buffer_too_large_to_keep_is_dropped() {
        let mut session = greeted();
        session.recycle(Vec::with_capacity(MAX_RECYCLED + 1));
        assert!(sent(&mut session).capacity() <= MAX_RECYCLED);
    }
}
