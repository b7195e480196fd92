//! One mail transaction (RFC 5321 §3.3): its recipients, their replies, and its outcome.

use super::report::{MailId, RecipientResult, Status, TransactionOutcome};
use super::Expect;
use crate::command::Command;
use crate::data::{DataEncoder, Framing, LineEndings};
use crate::envelope::{Envelope, Recipient};
use crate::error::Phase;
use crate::reply::Reply;
use std::collections::VecDeque;

/// One mail transaction (RFC 5321 §3.3), from MAIL to the final reply.
#[derive(Debug)]
pub(super) struct Transaction {
    pub(super) id: MailId,
    pub(super) envelope: Envelope,
    /// The RCPTs of this transaction, with their replies as they arrive.
    pub(super) recipients: Vec<(Recipient, Option<Reply>)>,
    /// Recipients for a further transaction: deferred with 452, then those over the limit.
    pub(super) deferred: Vec<Recipient>,
    /// How many of `deferred` the server deferred with 452 (they precede the others).
    pub(super) deferred_by_server: usize,
    /// The 452 that deferred them.
    pub(super) deferral: Option<Reply>,
    /// Commands not yet sent because the server does not pipeline.
    pub(super) unsent: VecDeque<(Command, Expect)>,
    /// The reply that ended the transaction early, and where.
    pub(super) refusal: Option<(Phase, Reply)>,
    /// Whether MAIL was accepted and no final reply has closed the transaction: RSET needed
    /// to abandon it.
    pub(super) open: bool,
    pub(super) use_bdat: bool,
    pub(super) state: TransactionState,
}

#[derive(Debug)]
pub(super) enum TransactionState {
    /// Waiting for the replies to MAIL, RCPT and DATA.
    Envelope,
    /// The server waits for the data.
    Data(Box<DataState>),
    /// The end of data was sent; waiting for the final reply.
    DataSent,
    /// No data will be sent; waiting for the replies still due.
    Abandoned,
}

#[derive(Debug)]
pub(super) struct DataState {
    pub(super) encoder: DataEncoder,
    /// BDAT only: encoded bytes not yet sent in a chunk.
    pub(super) chunk: Vec<u8>,
    pub(super) wire_bytes: u64,
}

impl Transaction {
    pub(super) fn accepted_count(&self) -> usize {
        self.recipients
            .iter()
            .filter(|(_, r)| r.as_ref().is_some_and(Reply::is_positive))
            .count()
    }

    pub(super) fn all_rcpt_replies_in(&self) -> bool {
        self.recipients.iter().all(|(_, r)| r.is_some())
    }

    /// Records the first refusal; no data will be sent.
    pub(super) fn refuse(&mut self, phase: Phase, reply: Reply) {
        if self.refusal.is_none() {
            self.refusal = Some((phase, reply));
        }
        if !matches!(self.state, TransactionState::DataSent) {
            self.state = TransactionState::Abandoned;
        }
    }

    pub(super) fn start_data(&mut self, line_endings: LineEndings) {
        let framing = if self.use_bdat {
            Framing::Bdat
        } else {
            Framing::Data
        };
        self.state = TransactionState::Data(Box::new(DataState {
            encoder: DataEncoder::new(framing, line_endings),
            chunk: Vec::new(),
            wire_bytes: 0,
        }));
    }

    /// The verdict per recipient. `final_reply` is the reply to the end of data, if any.
    pub(super) fn outcome(
        &self,
        final_reply: Option<Reply>,
        continues: bool,
    ) -> TransactionOutcome {
        let recipients = self
            .recipients
            .iter()
            .map(|(recipient, rcpt_reply)| {
                let mailbox = recipient.mailbox().clone();
                match (rcpt_reply, &self.refusal, &final_reply) {
                    (_, Some((Phase::MailFrom, refusal)), _) => {
                        refused(mailbox, Phase::MailFrom, refusal.clone())
                    }
                    (Some(r), _, _) if !r.is_positive() => {
                        refused(mailbox, Phase::RcptTo, r.clone())
                    }
                    (_, Some((phase, refusal)), _) => refused(mailbox, *phase, refusal.clone()),
                    (Some(_), None, Some(done)) => RecipientResult::answered(
                        mailbox,
                        Status::Accepted,
                        Phase::DataEnd,
                        done.clone(),
                    ),
                    (rcpt, None, _) => RecipientResult::decided(
                        mailbox,
                        Status::NotSent,
                        Phase::RcptTo,
                        rcpt.clone(),
                    ),
                }
            })
            .collect();
        let deferred = self.deferred.iter().map(|r| r.mailbox().clone()).collect();
        TransactionOutcome::new(recipients, final_reply, deferred, continues)
    }

    /// The recipients left for a further transaction that will not come, each with the 452
    /// that deferred it (or none: over the per-transaction limit, never tried).
    pub(super) fn unsent_deferred(&self) -> impl Iterator<Item = RecipientResult> + '_ {
        self.deferred.iter().enumerate().map(|(index, recipient)| {
            let reply = (index < self.deferred_by_server)
                .then(|| self.deferral.clone())
                .flatten();
            RecipientResult::decided(
                recipient.mailbox().clone(),
                Status::Deferred,
                Phase::RcptTo,
                reply,
            )
        })
    }
}

/// A refusal: for good with a 5xx, for now otherwise.
fn refused(mailbox: crate::address::Mailbox, phase: Phase, reply: Reply) -> RecipientResult {
    let status = if reply.is_permanent() {
        Status::Rejected
    } else {
        Status::Deferred
    };
    RecipientResult::answered(mailbox, status, phase, reply)
}
