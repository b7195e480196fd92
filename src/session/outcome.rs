//! What the caller learns about each mail transaction.

use crate::address::Mailbox;
use crate::error::Phase;
use crate::reply::Reply;

/// Identifies the message given to [`Session::send_mail`](super::Session::send_mail), so that
/// [`Action::SendData`](super::Action::SendData) and [`Action::Finished`](super::Action::Finished)
/// can be matched to it when transactions are pipelined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailId(pub(crate) u64);

impl MailId {
    /// The number: 0 for the session's first message, then counting up.
    pub fn get(self) -> u64 {
        self.0
    }
}

/// The outcome of one mail transaction, recipient by recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailOutcome {
    recipients: Vec<RecipientOutcome>,
    final_reply: Option<Reply>,
    deferred: Vec<Mailbox>,
    continues: bool,
}

/// What happened to one recipient in a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientOutcome {
    mailbox: Mailbox,
    accepted: bool,
    phase: Phase,
    reply: Reply,
}

impl MailOutcome {
    pub(crate) fn new(
        recipients: Vec<RecipientOutcome>,
        final_reply: Option<Reply>,
        deferred: Vec<Mailbox>,
        continues: bool,
    ) -> Self {
        Self {
            recipients,
            final_reply,
            deferred,
            continues,
        }
    }

    pub(crate) fn continuing(mut self) -> Self {
        self.continues = true;
        self
    }

    /// Every recipient of this transaction, in envelope order.
    pub fn recipients(&self) -> &[RecipientOutcome] {
        &self.recipients
    }

    /// The recipients the server took responsibility for.
    pub fn accepted(&self) -> impl Iterator<Item = &RecipientOutcome> {
        self.recipients.iter().filter(|r| r.accepted)
    }

    /// The recipients that were refused, with the reply that refused each.
    pub fn rejected(&self) -> impl Iterator<Item = &RecipientOutcome> {
        self.recipients.iter().filter(|r| !r.accepted)
    }

    /// The reply to the end of the message data (its text usually carries the queue id), or
    /// `None` when no data was sent.
    pub fn final_reply(&self) -> Option<&Reply> {
        self.final_reply.as_ref()
    }

    /// Whether the message was accepted for every recipient of this transaction.
    pub fn is_complete_success(&self) -> bool {
        !self.recipients.is_empty() && self.recipients.iter().all(|r| r.accepted)
    }

    /// Recipients left for a further transaction: deferred by the server (452 "too many
    /// recipients") or over the per-transaction limit. They are not in [`recipients`].
    ///
    /// [`recipients`]: MailOutcome::recipients
    pub fn deferred(&self) -> &[Mailbox] {
        &self.deferred
    }

    /// Whether the session goes on with a further transaction for the [`deferred`] recipients:
    /// expect another [`Action::SendData`](super::Action::SendData) for the same message,
    /// unless the driver calls
    /// [`Session::cancel_continuation`](super::Session::cancel_continuation) (e.g. when the
    /// data was streamed and cannot be sent again). When this transaction failed, the
    /// deferred recipients are left to the caller.
    ///
    /// [`deferred`]: MailOutcome::deferred
    pub fn continues(&self) -> bool {
        self.continues
    }
}

impl RecipientOutcome {
    pub(crate) fn new(mailbox: Mailbox, accepted: bool, phase: Phase, reply: Reply) -> Self {
        Self {
            mailbox,
            accepted,
            phase,
            reply,
        }
    }

    /// The recipient.
    pub fn mailbox(&self) -> &Mailbox {
        &self.mailbox
    }

    /// Whether the server took responsibility for delivering to this recipient.
    pub fn is_accepted(&self) -> bool {
        self.accepted
    }

    /// Where it was decided: `DataEnd` for accepted recipients, else the step that refused.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The deciding reply: the final reply for accepted recipients, the refusal otherwise.
    pub fn reply(&self) -> &Reply {
        &self.reply
    }
}
