//! What a send reports: each recipient's outcome, the final reply, bytes and time.

use crate::address::Mailbox;
use crate::error::{Error, Phase};
use crate::reply::Reply;
use crate::session::{MailOutcome, RecipientOutcome};
use std::time::Duration;

/// The outcome of one message, over every transaction it took.
#[derive(Clone, Debug, Default)]
pub struct SendReport {
    recipients: Vec<RecipientOutcome>,
    final_replies: Vec<Reply>,
    deferred: Vec<Mailbox>,
    bytes: u64,
    duration: Duration,
}

impl SendReport {
    pub(crate) fn add(&mut self, outcome: MailOutcome) {
        self.recipients.extend(outcome.recipients().iter().cloned());
        self.final_replies.extend(outcome.final_reply().cloned());
        // A further transaction, if any, reports the deferred recipients itself.
        self.deferred = if outcome.continues() {
            Vec::new()
        } else {
            outcome.deferred().to_vec()
        };
    }

    pub(crate) fn add_bytes(&mut self, bytes: u64) {
        self.bytes += bytes;
    }

    /// Done: an error when no recipient at all was accepted, the report otherwise.
    pub(crate) fn finish(mut self, duration: Duration) -> Result<Self, Error> {
        self.duration = duration;
        if self.accepted().next().is_some() {
            return Ok(self);
        }
        match self.recipients.first() {
            Some(first) => Err(Error::rejected(first.phase(), first.reply().clone())),
            None => Err(Error::input(
                Phase::RcptTo,
                crate::InputError::WrongState("no recipient was tried"),
            )),
        }
    }

    /// Every recipient, in envelope order (those of a further transaction after the first's).
    pub fn recipients(&self) -> &[RecipientOutcome] {
        &self.recipients
    }

    /// The recipients the server took responsibility for.
    pub fn accepted(&self) -> impl Iterator<Item = &RecipientOutcome> {
        self.recipients.iter().filter(|r| r.is_accepted())
    }

    /// The recipients that were refused, each with the reply that refused it.
    pub fn rejected(&self) -> impl Iterator<Item = &RecipientOutcome> {
        self.recipients.iter().filter(|r| !r.is_accepted())
    }

    /// Recipients deferred by the server and not tried again (see [`Client::send_reader`]).
    ///
    /// [`Client::send_reader`]: super::Client::send_reader
    pub fn deferred(&self) -> &[Mailbox] {
        &self.deferred
    }

    /// The last reply to the end of the message data; its text usually carries the queue id.
    pub fn final_reply(&self) -> Option<&Reply> {
        self.final_replies.last()
    }

    /// Every final reply, one per transaction.
    pub fn final_replies(&self) -> &[Reply] {
        &self.final_replies
    }

    /// Octets of message data given to the session (before dot-stuffing).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// From the start of the send to its last reply.
    pub fn duration(&self) -> Duration {
        self.duration
    }
}
