//! The SMTP session: one explicit state machine, bytes in, actions out, no I/O.
//!
//! # Driving a session
//!
//! Loop on [`Session::next_action`] and carry out what it returns:
//!
//! | [`Action`] | what the driver does |
//! |---|---|
//! | `Send { bytes, timeout }` | write all of `bytes`, each write within `timeout` |
//! | `Receive { timeout }` | read some bytes and pass them to [`Session::feed`]; give up (see [`Session::fail`]) if no complete reply arrived within `timeout` |
//! | `StartTls { timeout }` | run the TLS handshake on the same socket, then call [`Session::tls_established`] |
//! | `SendData(id)` | pass message `id` to [`Session::write_data`] in chunks, then call [`Session::finish_data`] |
//! | `Finished(id, outcome)` | a transaction for message `id` ended; `outcome` says, recipient by recipient |
//! | `Ready` | call [`Session::send_mail`], [`Session::noop`] or [`Session::quit`] |
//! | `Closed` | close the connection |
//!
//! On end of file, an I/O error, a TLS error or a timeout, the driver calls [`Session::fail`],
//! which stamps the error with the phase and whether a message may have been delivered.
//! Errors are sticky: after one, `next_action` returns it again.
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
//!  Ready ─send_mail─▶ MAIL, RCPT…, DATA (one write with PIPELINING) ─354─▶ SendData ─finish_data─▶ final reply ─▶ Finished ─▶ Ready
//!                      refusal ─▶ RSET if a transaction is open ─▶ Finished (recipients refused)
//!  Ready ─quit─▶ QUIT ─▶ Closed          any state ─421─▶ error (transient)          any violation ─▶ error (sticky)
//! ```

mod config;
mod mail;
mod opening;
mod outcome;
mod transaction;

pub use config::{DataCommand, SessionConfig, Timeouts, TlsPolicy};
pub use outcome::{MailId, MailOutcome, RecipientOutcome};

use crate::auth::SaslExchange;
use crate::capabilities::Capabilities;
use crate::command::Command;
use crate::envelope::Envelope;
use crate::error::{Delivery, Error, ErrorKind, InputError, Phase, ProtocolViolation};
use crate::reply::{Reply, ReplyCode, ReplyFramer};
use crate::transcript::{Entry, Transcript};
use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;
use transaction::{Transaction, TransactionState};

/// What the driver must do next; see the [module docs](self) for the loop.
#[must_use = "a session does nothing unless its actions are carried out"]
#[non_exhaustive]
pub enum Action {
    /// Write all of these bytes to the server, each write within `timeout`.
    Send {
        /// The bytes, possibly several pipelined commands.
        bytes: Vec<u8>,
        /// The deadline for each write (RFC 5321 §4.5.3.2.5, "data block").
        timeout: Duration,
    },
    /// Read from the server and [`Session::feed`] the bytes; a complete reply is due within
    /// `timeout`.
    Receive {
        /// The deadline for the whole reply.
        timeout: Duration,
    },
    /// Run the TLS handshake now, on the same connection, then call
    /// [`Session::tls_established`].
    StartTls {
        /// The deadline for the handshake.
        timeout: Duration,
    },
    /// The server waits for the data of this message: [`Session::write_data`], then
    /// [`Session::finish_data`].
    SendData(MailId),
    /// A mail transaction for this message has ended.
    Finished(MailId, MailOutcome),
    /// Nothing is in flight: send mail, NOOP or QUIT.
    Ready,
    /// The session is over: close the connection.
    Closed,
}

/// One SMTP session with one server. Performs no I/O; see the [module docs](self).
pub struct Session {
    config: SessionConfig,
    stage: Stage,
    framer: ReplyFramer,
    outbox: Vec<u8>,
    /// Replies awaited, in the order the commands were sent (RFC 2920 §3.1).
    pending: VecDeque<Expect>,
    /// Edge-triggered actions for the driver: finished transactions.
    events: VecDeque<Action>,
    transactions: VecDeque<Transaction>,
    /// Further transactions for deferred recipients, started once the pipeline allows.
    continuations: VecDeque<(MailId, Envelope)>,
    capabilities: Option<Capabilities>,
    tls_active: bool,
    authenticated: bool,
    sasl: Option<SaslExchange>,
    next_id: u64,
    replies: u64,
    failed: Option<Error>,
    transcript: Option<Transcript>,
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
            Self::Mail(_) => Phase::MailFrom,
            Self::Rcpt(_) => Phase::RcptTo,
            Self::Data(_) => Phase::Data,
            Self::Bdat(_) => Phase::DataBody,
            Self::DataEnd(_) => Phase::DataEnd,
            Self::Rset => Phase::Reset,
            Self::Noop => Phase::Noop,
            Self::Quit => Phase::Quit,
        }
    }
}

/// `Debug` shows what the bytes are, never the bytes: they may carry AUTH payloads.
impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Send { bytes, timeout } => f
                .debug_struct("Send")
                .field("len", &bytes.len())
                .field("timeout", timeout)
                .finish(),
            Self::Receive { timeout } => {
                f.debug_struct("Receive").field("timeout", timeout).finish()
            }
            Self::StartTls { timeout } => f
                .debug_struct("StartTls")
                .field("timeout", timeout)
                .finish(),
            Self::SendData(id) => f.debug_tuple("SendData").field(id).finish(),
            Self::Finished(id, outcome) => {
                f.debug_tuple("Finished").field(id).field(outcome).finish()
            }
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
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session about to read the server's greeting (or, with implicit TLS, to start TLS).
    pub fn new(config: SessionConfig) -> Self {
        let stage = if config.tls == TlsPolicy::Implicit {
            Stage::TlsBeforeGreeting
        } else {
            Stage::Opening
        };
        let mut pending = VecDeque::new();
        if stage == Stage::Opening {
            pending.push_back(Expect::Greeting);
        }
        Self {
            framer: ReplyFramer::new(config.reply_limits),
            transcript: config.transcript.then(Transcript::default),
            config,
            stage,
            outbox: Vec::new(),
            pending,
            events: VecDeque::new(),
            transactions: VecDeque::new(),
            continuations: VecDeque::new(),
            capabilities: None,
            tls_active: false,
            authenticated: false,
            sasl: None,
            next_id: 0,
            replies: 0,
            failed: None,
        }
    }

    /// Passes bytes read from the server.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.framer.push(bytes);
    }

    /// Returns what the driver must do next.
    ///
    /// # Errors
    /// The error that ended the session; the same error on every later call.
    pub fn next_action(&mut self) -> Result<Action, Error> {
        loop {
            if let Some(error) = &self.failed {
                return Err(error.clone());
            }
            if !self.outbox.is_empty() {
                return Ok(Action::Send {
                    bytes: std::mem::take(&mut self.outbox),
                    timeout: self.config.timeouts.data_block,
                });
            }
            if let Some(action) = self.events.pop_front() {
                return Ok(action);
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
                    return Ok(Action::Receive {
                        timeout: self.timeout_for(expect),
                    });
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

    /// Reports that the TLS handshake asked for by [`Action::StartTls`] succeeded.
    ///
    /// Everything learned before TLS is forgotten and EHLO is sent again (RFC 3207 §4.2).
    ///
    /// # Errors
    /// [`InputError::WrongState`] if no handshake was asked for.
    pub fn tls_established(&mut self) -> Result<(), Error> {
        match self.stage {
            Stage::TlsBeforeGreeting => {
                self.event("TLS established".into());
                self.pending.push_back(Expect::Greeting);
            }
            Stage::TlsAfterStartTls => {
                self.event("TLS established: capabilities forgotten, EHLO again".into());
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
        Ok(())
    }

    /// Starts a mail transaction for `envelope`, returning the id that
    /// [`Action::SendData`] and [`Action::Finished`] will carry.
    ///
    /// Allowed on [`Action::Ready`] and, when the server pipelines, right after
    /// [`Session::finish_data`] (the next envelope then leaves with the end of the data).
    ///
    /// # Errors
    /// Before anything is sent, and without ending the session: the envelope needs an
    /// extension the server lacks (SMTPUTF8, 8BITMIME, DSN), the declared size exceeds the
    /// server's SIZE limit, or a command line would exceed 512 octets.
    pub fn send_mail(&mut self, envelope: Envelope) -> Result<MailId, Error> {
        self.check_can_send_mail()?;
        let capabilities = self.capabilities.clone().unwrap_or_default();
        let use_bdat = self.check_envelope(&envelope, &capabilities)?;
        let id = MailId(self.next_id);
        self.start_transaction(id, envelope, use_bdat, &capabilities)?;
        self.next_id += 1;
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
        let mut tail = Vec::new();
        if let Err(e) = data.encoder.finish(&mut tail) {
            return Err(self.set_failed(Error::input(Phase::DataBody, e)));
        }
        if use_bdat {
            data.chunk.extend_from_slice(&tail);
            data.wire_bytes += data.chunk.len() as u64;
            self.send_bdat(id, std::mem::take(&mut data.chunk), true);
        } else {
            data.wire_bytes += tail.len() as u64;
            self.outbox.extend_from_slice(&tail);
            self.pending.push_back(Expect::DataEnd(id));
        }
        self.record(Entry::Data {
            bytes: data.wire_bytes,
        });
        Ok(())
    }

    /// Drops the further transaction announced by a [`MailOutcome::continues`] for message
    /// `id`, e.g. because its data was streamed and cannot be sent again. Returns whether one
    /// was dropped; its recipients stay in [`MailOutcome::deferred`] for the caller.
    pub fn cancel_continuation(&mut self, id: MailId) -> bool {
        let before = self.continuations.len();
        self.continuations.retain(|(waiting, _)| *waiting != id);
        before != self.continuations.len()
    }

    /// Sends NOOP, e.g. to check an idle connection before reuse.
    ///
    /// # Errors
    /// [`InputError::WrongState`] unless the session is ready.
    pub fn noop(&mut self) -> Result<(), Error> {
        if self.stage != Stage::Ready || !self.transactions.is_empty() {
            return Err(Error::input(
                Phase::Noop,
                InputError::WrongState("noop when not ready"),
            ));
        }
        self.send(Command::Noop, Expect::Noop);
        Ok(())
    }

    /// Sends QUIT. Whatever the server answers, even junk, the session then ends.
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
        if matches!(self.stage, Stage::Quitting | Stage::Closed) || self.failed.is_some() {
            return Ok(());
        }
        self.stage = Stage::Quitting;
        self.send(Command::Quit, Expect::Quit);
        Ok(())
    }

    /// Ends the session because of something only the driver sees (end of file, an I/O or TLS
    /// error, a deadline passed) and returns the error, stamped with the phase and whether a
    /// message may have been delivered.
    ///
    /// After QUIT was sent nothing is lost: the session just closes, and
    /// [`Session::next_action`] returns [`Action::Closed`] (servers such as QQ Mail drop the
    /// connection instead of answering QUIT).
    pub fn fail(&mut self, kind: ErrorKind) -> Error {
        let error = Error::new(kind, self.phase()).with_delivery(self.delivery());
        if matches!(self.stage, Stage::Quitting | Stage::Closed) && self.failed.is_none() {
            self.close();
            return error;
        }
        self.set_failed(error)
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

    /// How many complete replies were received. A driver enforcing a deadline per reply
    /// starts a new deadline when this changes.
    pub fn replies_received(&self) -> u64 {
        self.replies
    }

    /// What the server offered in its last EHLO reply (after TLS, the post-TLS one).
    pub fn capabilities(&self) -> Option<&Capabilities> {
        self.capabilities.as_ref()
    }

    /// Whether the session can carry more mail: opened, not failed, not quitting. A pool
    /// keeps a connection only while this holds.
    pub fn is_usable(&self) -> bool {
        self.failed.is_none() && self.stage == Stage::Ready
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        self.tls_active
    }

    /// Whether AUTH succeeded.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// Bytes received and not yet consumed. The driver checks it is zero before a TLS
    /// handshake; the session already refuses to go on otherwise.
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

    /// Stamps later transcript entries with `elapsed` (the core has no clock).
    pub fn set_elapsed(&mut self, elapsed: Duration) {
        if let Some(transcript) = &mut self.transcript {
            transcript.set_elapsed(elapsed);
        }
    }

    /// Adds a note to the transcript, e.g. the negotiated TLS version and cipher suite.
    pub fn note(&mut self, text: impl Into<String>) {
        self.event(text.into());
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

    /// The message whose data the server is waiting for, if any. A driver streaming a large
    /// message checks it between chunks: a refused BDAT chunk ends the transaction early.
    pub fn data_wanted(&self) -> Option<MailId> {
        self.transaction_taking_data()
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
            Stage::TlsBeforeGreeting | Stage::TlsAfterStartTls => Action::StartTls {
                timeout: self.config.timeouts.tls_handshake,
            },
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
            Expect::Mail(_) => t.mail,
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

    fn set_failed(&mut self, error: Error) -> Error {
        self.event(format!("session failed: {error}"));
        self.stage = Stage::Closed;
        self.failed = Some(error.clone());
        error
    }

    fn close(&mut self) {
        self.stage = Stage::Closed;
        self.pending.clear();
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
        matches!(self,
            Self::Mail(i) | Self::Rcpt(i) | Self::Data(i) | Self::Bdat(i) | Self::DataEnd(i) if i == id)
    }
}

fn unexpected(phase: Phase, reply: Reply) -> Error {
    Error::protocol(phase, ProtocolViolation::UnexpectedReply).with_reply(reply)
}
