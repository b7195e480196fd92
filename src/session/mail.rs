//! Mail transactions: MAIL, RCPT and DATA or BDAT, replies matched in order (RFC 2920), and
//! the outcome of each transaction.

use super::report::{RecipientResult, Report, Status, TransactionOutcome};
use super::transaction::{Transaction, TransactionState};
use super::{unexpected, DataCommand, Event, Expect, MailId, Session, Stage};
use crate::capabilities::{Capabilities, SizeLimit};
use crate::command::{Command, MailCommand, MAX_COMMAND_LINE};
use crate::envelope::{Body, Envelope};
use crate::error::{Error, InputError, Phase, Unsupported};
use crate::reply::{Reply, ReplyCode};
use crate::transcript::Entry;
use std::collections::VecDeque;

impl Session {
    pub(super) fn start_transaction(
        &mut self,
        id: MailId,
        mut envelope: Envelope,
        use_bdat: bool,
    ) -> Result<(), Error> {
        let declare_size = self.capabilities.as_ref().and_then(Capabilities::size);
        let mail = MailCommand {
            from: envelope.from().cloned(),
            size: envelope.size().filter(|_| declare_size.is_some()),
            body: envelope.body(),
            smtputf8: envelope.needs_smtputf8(),
            ret: envelope.ret(),
            envid: envelope.envid().map(str::to_owned),
        };
        let mut recipients = envelope.take_recipients();
        // `clamp` would panic on an empty list; an envelope never has one, but no input may panic.
        let keep = self.config.max_recipients.max(1).min(recipients.len());
        let deferred = recipients.split_off(keep);
        let mut commands = VecDeque::with_capacity(recipients.len() + 2);
        commands.push_back((Command::Mail(mail), Expect::Mail(id)));
        for recipient in &recipients {
            commands.push_back((Command::Rcpt(recipient.clone()), Expect::Rcpt(id)));
        }
        for (command, _) in &commands {
            // Encoded into a kept scratch buffer: checking the length allocates nothing.
            self.scratch.clear();
            command.encode(&mut self.scratch);
            if self.scratch.len() > MAX_COMMAND_LINE {
                return Err(Error::input(
                    Phase::MailFrom,
                    InputError::Parameter("command line over 512 octets"),
                ));
            }
        }
        if !use_bdat {
            commands.push_back((Command::Data, Expect::Data(id)));
        }
        let mut transaction = Transaction {
            id,
            envelope,
            recipients: recipients.into_iter().map(|r| (r, None)).collect(),
            deferred,
            deferred_by_server: 0,
            deferral: None,
            unsent: commands,
            refusal: None,
            open: false,
            use_bdat,
            state: TransactionState::Envelope,
        };
        self.send_unsent(&mut transaction);
        self.transactions.push_back(transaction);
        Ok(())
    }

    pub(super) fn on_transaction_reply(
        &mut self,
        id: MailId,
        expect: Expect,
        reply: Reply,
    ) -> Result<(), Error> {
        let phase = expect.phase();
        let Some(index) = self.transactions.iter().position(|t| t.id == id) else {
            return Err(unexpected(phase, reply));
        };
        let Some(transaction) = self.transactions.get_mut(index) else {
            return Err(unexpected(phase, reply));
        };
        match expect {
            Expect::Mail(_) => match reply.code().class() {
                2 => transaction.open = true,
                3 => return Err(unexpected(phase, reply)),
                _ => transaction.refuse(Phase::MailFrom, reply),
            },
            Expect::Rcpt(_) => {
                if reply.code().class() == 3 {
                    return Err(unexpected(phase, reply));
                }
                let accepted_before = transaction.accepted_count() > 0;
                let Some(slot) = transaction.recipients.iter().position(|(_, r)| r.is_none())
                else {
                    return Err(unexpected(phase, reply));
                };
                // RFC 5321 §4.5.3.1.10: 452 after some acceptances means "too many
                // recipients": this one and the rest go in a further transaction.
                if reply.code() == ReplyCode::INSUFFICIENT_STORAGE && accepted_before {
                    let (recipient, _) = transaction.recipients.remove(slot);
                    transaction
                        .deferred
                        .insert(transaction.deferred_by_server, recipient);
                    transaction.deferred_by_server += 1;
                    transaction.deferral = Some(reply);
                } else if let Some((_, slot)) = transaction.recipients.get_mut(slot) {
                    *slot = Some(reply);
                }
                if transaction.all_rcpt_replies_in() && transaction.accepted_count() == 0 {
                    let last = transaction.recipients.last().and_then(|(_, r)| r.clone());
                    if let Some(last) = last {
                        transaction.refuse(Phase::RcptTo, last);
                    }
                }
                if transaction.use_bdat
                    && transaction.all_rcpt_replies_in()
                    && transaction.refusal.is_none()
                {
                    transaction.start_data(self.config.line_endings);
                }
            }
            Expect::Data(_) => {
                if reply.code() == ReplyCode::START_MAIL_INPUT {
                    if transaction.refusal.is_some() {
                        // RFC 2920 §3.1: DATA accepted with no valid recipient; end it with a
                        // lone dot so nothing is delivered.
                        transaction.state = TransactionState::Abandoned;
                        transaction.open = false;
                        self.outbox.extend_from_slice(b".\r\n");
                        self.pending.push_back(Expect::DataEnd(id));
                        self.record(Entry::Data { bytes: 3 });
                        return Ok(());
                    }
                    transaction.start_data(self.config.line_endings);
                } else if reply.is_positive() {
                    return Err(unexpected(phase, reply));
                } else {
                    transaction.refuse(Phase::Data, reply);
                }
            }
            Expect::Bdat(_) => {
                if reply.code().class() == 3 {
                    return Err(unexpected(phase, reply));
                }
                if !reply.is_positive() {
                    transaction.refuse(Phase::DataBody, reply);
                }
            }
            _ => {}
        }
        self.advance_transaction(index);
        Ok(())
    }

    /// Sends what the transaction still has to send, or ends it if it was refused.
    pub(super) fn advance_transaction(&mut self, index: usize) {
        let Some(mut transaction) = self.transactions.remove(index) else {
            return;
        };
        let refused = transaction.refusal.is_some();
        let waiting = self.pending.iter().any(|e| e.belongs_to(transaction.id));
        if refused && matches!(transaction.state, TransactionState::Envelope) {
            transaction.unsent.clear();
            transaction.state = TransactionState::Abandoned;
        }
        if !refused {
            self.send_unsent(&mut transaction);
        }
        if matches!(transaction.state, TransactionState::Abandoned) && !waiting {
            if transaction.open {
                self.send(Command::Rset, Expect::Rset);
            }
            self.finish_transaction(&transaction, None, false);
            return;
        }
        self.transactions.insert(index, transaction);
    }

    pub(super) fn on_final_reply(&mut self, id: MailId, reply: Reply) -> Result<(), Error> {
        let Some(index) = self.transactions.iter().position(|t| t.id == id) else {
            return Err(unexpected(Phase::DataEnd, reply));
        };
        let Some(mut transaction) = self.transactions.remove(index) else {
            return Err(unexpected(Phase::DataEnd, reply));
        };
        if matches!(transaction.state, TransactionState::Abandoned) {
            // The reply to the lone dot after a DATA that should have been refused.
            self.finish_transaction(&transaction, None, false);
            return Ok(());
        }
        match reply.code().class() {
            2 => {}
            3 => {
                return Err(unexpected(Phase::DataEnd, reply));
            }
            _ => {
                if transaction.refusal.is_none() {
                    transaction.refusal = Some((Phase::DataEnd, reply.clone()));
                }
            }
        }
        let resendable = self.messages.iter().any(|m| m.id == id && m.resendable);
        let continues =
            transaction.refusal.is_none() && !transaction.deferred.is_empty() && resendable;
        self.finish_transaction(&transaction, Some(reply), continues);
        if continues {
            let rest = transaction
                .envelope
                .with_recipients(std::mem::take(&mut transaction.deferred));
            self.continuations.push_back((id, rest));
        }
        Ok(())
    }

    /// Reports a transaction's verdicts; unless a further one follows, the message is done.
    fn finish_transaction(
        &mut self,
        transaction: &Transaction,
        final_reply: Option<Reply>,
        continues: bool,
    ) {
        let id = transaction.id;
        let outcome = transaction.outcome(final_reply, continues);
        let Some(at) = self.messages.iter().position(|m| m.id == id) else {
            return;
        };
        if let Some(message) = self.messages.get_mut(at) {
            message.report.add(&outcome);
            if !continues {
                for result in transaction.unsent_deferred() {
                    message.report.push(result);
                }
            }
        }
        self.events
            .push_back(Event::TransactionFinished { id, outcome });
        if !continues {
            self.finish_message(at, None);
        }
    }

    /// Ends message `at` of the list: its result is the report when a recipient accepted it,
    /// else the error that decided (`failure`, or the first refusal), report attached.
    pub(super) fn finish_message(&mut self, at: usize, failure: Option<&Error>) {
        if at >= self.messages.len() {
            return;
        }
        let message = self.messages.remove(at);
        let mut report = message.report;
        if let (Some(started), Some(now)) = (message.started, self.now) {
            report.set_duration(now.saturating_duration_since(started));
        }
        let result = message_result(report, failure);
        self.events.push_back(Event::MessageFinished {
            id: message.id,
            result,
        });
    }

    /// The session failed: every message in flight ends. Recipients whose data end was sent
    /// without a reply may have it ([`Status::Unknown`]); the others certainly do not, and
    /// may be tried again when the failure is transient.
    pub(super) fn finish_messages_after(&mut self, error: &Error) {
        let not_delivered = if error.is_transient() {
            Status::Deferred
        } else {
            Status::NotSent
        };
        for message in &mut self.messages {
            for transaction in self.transactions.iter().filter(|t| t.id == message.id) {
                let awaiting_final = matches!(transaction.state, TransactionState::DataSent);
                let outcome: TransactionOutcome = transaction.outcome(None, false);
                for (result, (_, rcpt_reply)) in
                    outcome.recipients().iter().zip(&transaction.recipients)
                {
                    let refused = rcpt_reply.as_ref().is_some_and(|r| !r.is_positive())
                        || transaction.refusal.is_some();
                    if refused {
                        message.report.push(result.clone());
                        continue;
                    }
                    let status = if awaiting_final {
                        Status::Unknown
                    } else {
                        not_delivered
                    };
                    message.report.push(RecipientResult::failed(
                        result.mailbox().clone(),
                        status,
                        error,
                    ));
                }
                for recipient in &transaction.deferred {
                    message.report.push(RecipientResult::failed(
                        recipient.mailbox().clone(),
                        not_delivered,
                        error,
                    ));
                }
            }
            for (_, envelope) in self
                .continuations
                .iter()
                .filter(|(id, _)| *id == message.id)
            {
                for recipient in envelope.recipients() {
                    message.report.push(RecipientResult::failed(
                        recipient.mailbox().clone(),
                        not_delivered,
                        error,
                    ));
                }
            }
        }
        while !self.messages.is_empty() {
            self.finish_message(0, Some(error));
        }
        self.continuations.clear();
    }

    /// Starts a further transaction for deferred recipients once nothing but final replies
    /// is in flight (nothing may follow DATA in a pipeline). It keeps the message's id: the
    /// driver sends the same data again.
    pub(super) fn start_continuation(&mut self) -> bool {
        if self.continuations.is_empty() || self.check_can_send_mail().is_err() {
            return false;
        }
        let Some((id, envelope)) = self.continuations.pop_front() else {
            return false;
        };
        let started = self
            .check_envelope(&envelope)
            .and_then(|use_bdat| self.start_transaction(id, envelope, use_bdat));
        if let Err(error) = started {
            self.set_failed(error);
        }
        true
    }

    pub(super) fn check_can_send_mail(&self) -> Result<(), Error> {
        let wrong = |what| Err(Error::input(Phase::MailFrom, InputError::WrongState(what)));
        if self.stage != Stage::Ready || self.failed.is_some() {
            return wrong("send_mail before Action::Ready");
        }
        let pipelining = self.pipelining();
        let busy = self
            .transactions
            .iter()
            .any(|t| !matches!(t.state, TransactionState::DataSent));
        if busy || (!pipelining && !self.pending.is_empty()) {
            return wrong("send_mail while a transaction is in progress");
        }
        Ok(())
    }

    /// Checks the envelope against what the server offers; returns whether to use BDAT.
    pub(super) fn check_envelope(&self, envelope: &Envelope) -> Result<bool, Error> {
        let none = Capabilities::default();
        let capabilities = self.capabilities.as_ref().unwrap_or(&none);
        let unsupported = |what| Err(Error::unsupported(Phase::MailFrom, what));
        if envelope.needs_smtputf8() && !capabilities.smtputf8() {
            return unsupported(Unsupported::SmtpUtf8);
        }
        if envelope.needs_dsn() && !capabilities.dsn() {
            return unsupported(Unsupported::Dsn);
        }
        if let (Some(size), Some(SizeLimit::Max(limit))) = (envelope.size(), capabilities.size()) {
            if size > limit {
                return unsupported(Unsupported::MessageTooLarge { size, limit });
            }
        }
        let chunking = capabilities.chunking() && self.pipelining();
        match envelope.body() {
            Body::SevenBit => {}
            Body::EightBitMime if capabilities.eight_bit_mime() => {}
            Body::EightBitMime => return unsupported(Unsupported::EightBitMime),
            Body::BinaryMime if capabilities.binary_mime() && chunking => return Ok(true),
            Body::BinaryMime => return unsupported(Unsupported::EightBitMime),
        }
        Ok(chunking && self.config.data_command == DataCommand::Auto)
    }

    /// Sends the transaction's queued commands: all of them when pipelining, else the next one
    /// once nothing of this transaction is awaited.
    pub(super) fn send_unsent(&mut self, transaction: &mut Transaction) {
        let pipelining = self.pipelining();
        while let Some((command, expect)) = transaction.unsent.pop_front() {
            let waiting = self.pending.iter().any(|e| e.belongs_to(transaction.id));
            if waiting && !pipelining {
                transaction.unsent.push_front((command, expect));
                return;
            }
            self.send(command, expect);
        }
    }

    pub(super) fn send_bdat(&mut self, id: MailId, chunk: Vec<u8>, last: bool) {
        let command = Command::Bdat {
            size: chunk.len(),
            last,
        };
        self.send(
            command,
            if last {
                Expect::DataEnd(id)
            } else {
                Expect::Bdat(id)
            },
        );
        self.outbox.extend_from_slice(&chunk);
    }
}

/// A message's result: `Ok` when a recipient accepted it.
fn message_result(report: Report, failure: Option<&Error>) -> Result<Report, Error> {
    if report.accepted().next().is_some() {
        return Ok(report);
    }
    let error = match failure {
        Some(error) => error.clone().with_delivery(report.delivery()),
        None => match report
            .recipients()
            .iter()
            .find_map(|r| Some((r.phase(), r.reply()?)))
        {
            Some((phase, reply)) => Error::rejected(phase, reply.clone()),
            None => Error::input(
                Phase::RcptTo,
                InputError::WrongState("no recipient was tried"),
            ),
        },
    };
    Err(error.with_report(report))
}
