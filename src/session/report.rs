//! What the caller learns about each message: one verdict per recipient, decided by the
//! session from what it saw, never re-derived by a driver.

use crate::address::Mailbox;
use crate::error::{Delivery, Error, Phase};
use crate::reply::Reply;
use std::fmt;
use std::time::Duration;

/// Identifies the message given to [`Session::send_mail`](super::Session::send_mail), so that
/// [`Action::SendData`](super::Action::SendData) and the finishing
/// [`Event`](super::Event)s can be matched to it when transactions are pipelined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailId(pub(crate) u64);

impl MailId {
    /// The number: 0 for the session's first message, then counting up.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for MailId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Where one recipient stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// The server took responsibility for delivering to it.
    Accepted,
    /// The server refused it for good (5xx): sending again cannot help.
    Rejected,
    /// Not accepted, for now: a 4xx reply, or the connection failed before the end of the
    /// data. Certainly not delivered; trying again later may succeed.
    Deferred,
    /// Certainly not delivered, and trying again as is cannot help: TLS or protocol failure,
    /// invalid input, no connection to be had.
    NotSent,
    /// The server may have accepted it: the connection was lost between the end of the data
    /// and its reply (RFC 5321 §6.1). Sending again may deliver it twice.
    Unknown,
}

impl Status {
    /// Whether the message may have reached this recipient.
    pub fn delivery(self) -> Delivery {
        match self {
            Self::Unknown => Delivery::Unknown,
            _ => Delivery::NotSent,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::Deferred => "deferred",
            Self::NotSent => "not sent",
            Self::Unknown => "unknown",
        })
    }
}

/// What became of a message as a whole, from its recipients' statuses: the one reading that
/// logs and queues (`smtpwire bulk`, the outbox) record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Every recipient accepted it.
    Accepted,
    /// Some accepted it; the others refused it or did not get it.
    Partial,
    /// Every recipient refused it for good.
    Rejected,
    /// Certainly delivered to no one: sending it again cannot make a duplicate.
    NotSent,
    /// It may have been delivered: do not send it again blindly.
    Unknown,
}

/// What became of one recipient.
#[derive(Clone, Debug)]
pub struct RecipientResult {
    mailbox: Mailbox,
    status: Status,
    phase: Phase,
    reply: Option<Reply>,
    error: Option<Error>,
}

impl PartialEq for RecipientResult {
    /// Errors compare by their display: two failures of the same kind, phase and reply.
    fn eq(&self, other: &Self) -> bool {
        self.mailbox == other.mailbox
            && self.status == other.status
            && self.phase == other.phase
            && self.reply == other.reply
            && self.error.as_ref().map(ToString::to_string)
                == other.error.as_ref().map(ToString::to_string)
    }
}

impl RecipientResult {
    pub(crate) fn answered(mailbox: Mailbox, status: Status, phase: Phase, reply: Reply) -> Self {
        Self::decided(mailbox, status, phase, Some(reply))
    }

    /// A recipient decided in `phase`, by `reply` when there was one.
    pub(crate) fn decided(
        mailbox: Mailbox,
        status: Status,
        phase: Phase,
        reply: Option<Reply>,
    ) -> Self {
        Self {
            mailbox,
            status,
            phase,
            reply,
            error: None,
        }
    }

    /// A recipient whose fate a failure decided (a lost connection, a TLS error).
    pub(crate) fn failed(mailbox: Mailbox, status: Status, error: &Error) -> Self {
        Self {
            mailbox,
            status,
            phase: error.phase(),
            reply: error.reply().cloned(),
            error: Some(error.clone()),
        }
    }

    /// The recipient.
    pub fn mailbox(&self) -> &Mailbox {
        &self.mailbox
    }

    /// Where it stands.
    pub fn status(&self) -> Status {
        self.status
    }

    /// Whether the server took responsibility for delivering to it.
    pub fn is_accepted(&self) -> bool {
        self.status == Status::Accepted
    }

    /// Where it was decided: `DataEnd` for accepted recipients, else the step that refused or
    /// failed.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The deciding reply: the final reply for accepted recipients, the refusal otherwise;
    /// `None` when a failure decided without a reply.
    pub fn reply(&self) -> Option<&Reply> {
        self.reply.as_ref()
    }

    /// The failure that decided it, when not a reply to it: a lost connection, TLS.
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }
}

/// `mailbox: reply`, or `mailbox: status (failure)` when no reply decided.
impl fmt::Display for RecipientResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.reply, &self.error) {
            (Some(reply), _) => write!(f, "{}: {reply}", self.mailbox),
            (None, Some(error)) => write!(f, "{}: {} ({error})", self.mailbox, self.status),
            (None, None) => write!(f, "{}: {}", self.mailbox, self.status),
        }
    }
}

/// The outcome of one mail transaction (MAIL to final reply), recipient by recipient, as
/// [`Event::TransactionFinished`](super::Event::TransactionFinished) reports it. A message
/// may take several (a 452 "too many recipients"); [`Report`] sums them up.
#[derive(Clone, Debug, PartialEq)]
pub struct TransactionOutcome {
    recipients: Vec<RecipientResult>,
    final_reply: Option<Reply>,
    deferred: Vec<Mailbox>,
    continues: bool,
}

impl TransactionOutcome {
    pub(crate) fn new(
        recipients: Vec<RecipientResult>,
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

    /// Every recipient of this transaction, in envelope order.
    pub fn recipients(&self) -> &[RecipientResult] {
        &self.recipients
    }

    /// The reply to the end of the message data, or `None` when no data was sent.
    pub fn final_reply(&self) -> Option<&Reply> {
        self.final_reply.as_ref()
    }

    /// Recipients left for a further transaction: deferred by the server (452 "too many
    /// recipients") or over the per-transaction limit. They are not in
    /// [`recipients`](Self::recipients).
    pub fn deferred(&self) -> &[Mailbox] {
        &self.deferred
    }

    /// Whether the session goes on with a further transaction for the
    /// [`deferred`](Self::deferred) recipients (the driver sends the same data again).
    pub fn continues(&self) -> bool {
        self.continues
    }
}

/// What became of one message, over every transaction (and, from a
/// [`Mailer`](crate::pool::Mailer), every attempt) it took: the one result type of a send.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    recipients: Vec<RecipientResult>,
    final_replies: Vec<Reply>,
    bytes: u64,
    attempts: u32,
    duration: Duration,
}

impl Report {
    pub(crate) fn new(recipients: Vec<RecipientResult>) -> Self {
        Self {
            recipients,
            attempts: 1,
            ..Self::default()
        }
    }

    /// Every recipient, in envelope order.
    pub fn recipients(&self) -> &[RecipientResult] {
        &self.recipients
    }

    /// The recipients the server took responsibility for.
    pub fn accepted(&self) -> impl Iterator<Item = &RecipientResult> {
        self.with_status(Status::Accepted)
    }

    /// The recipients not accepted, each with the reply or failure that decided it.
    pub fn not_accepted(&self) -> impl Iterator<Item = &RecipientResult> {
        self.recipients.iter().filter(|r| !r.is_accepted())
    }

    /// The recipients with this status.
    pub fn with_status(&self, status: Status) -> impl Iterator<Item = &RecipientResult> {
        self.recipients.iter().filter(move |r| r.status == status)
    }

    /// Whether every recipient was accepted.
    pub fn is_complete(&self) -> bool {
        !self.recipients.is_empty() && self.recipients.iter().all(RecipientResult::is_accepted)
    }

    /// The message as a whole: accepted, partly, refused, certainly not sent, or in doubt.
    pub fn verdict(&self) -> Verdict {
        let accepted = self.accepted().count();
        if accepted > 0 {
            return if accepted == self.recipients.len() {
                Verdict::Accepted
            } else {
                Verdict::Partial
            };
        }
        if self.with_status(Status::Unknown).next().is_some() {
            Verdict::Unknown
        } else if !self.recipients.is_empty()
            && self.recipients.iter().all(|r| r.status == Status::Rejected)
        {
            Verdict::Rejected
        } else {
            Verdict::NotSent
        }
    }

    /// [`Delivery::Unknown`] when any recipient may have the message without a reply saying
    /// so.
    pub fn delivery(&self) -> Delivery {
        if self.with_status(Status::Unknown).next().is_some() {
            Delivery::Unknown
        } else {
            Delivery::NotSent
        }
    }

    /// The last reply to the end of the message data; its text usually carries the queue id.
    pub fn final_reply(&self) -> Option<&Reply> {
        self.final_replies.last()
    }

    /// Every final reply, one per accepted transaction, in order.
    pub fn final_replies(&self) -> &[Reply] {
        &self.final_replies
    }

    /// The server's queue id from the last final reply that names one, as Postfix, Exim and
    /// others word it (`queued as 4Y7fGh1zXz`, `id=1rABCD-000EFG-HI`).
    pub fn queue_id(&self) -> Option<String> {
        self.final_replies.iter().rev().find_map(queue_id)
    }

    /// Octets of message data given to the session (before dot-stuffing), every
    /// transaction counted.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Attempts made: 1 for a single connection; a [`Mailer`](crate::pool::Mailer) counts
    /// its retries.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// From the start of the send to its last reply (waits and retries included for a
    /// [`Mailer`](crate::pool::Mailer)).
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// Adds a transaction's recipients and final reply.
    pub(crate) fn add(&mut self, outcome: &TransactionOutcome) {
        self.recipients.extend(outcome.recipients.iter().cloned());
        self.final_replies.extend(outcome.final_reply.clone());
    }

    pub(crate) fn add_bytes(&mut self, bytes: u64) {
        self.bytes += bytes;
    }

    /// Adds recipients decided without a transaction of their own (deferred and not tried
    /// again, or caught by a failure).
    pub(crate) fn push(&mut self, result: RecipientResult) {
        self.recipients.push(result);
    }

    pub(crate) fn set_duration(&mut self, duration: Duration) {
        self.duration = duration;
    }

    /// A report for recipients that no transaction reached, decided by `error`: worth trying
    /// again if it may pass, certainly not delivered either way.
    #[cfg(feature = "tokio")]
    pub(crate) fn unsent(mailboxes: impl Iterator<Item = Mailbox>, error: &Error) -> Self {
        let status = if error.is_transient() {
            Status::Deferred
        } else {
            Status::NotSent
        };
        Self::new(
            mailboxes
                .map(|mailbox| RecipientResult::failed(mailbox, status, error))
                .collect(),
        )
    }

    /// Merges a later attempt's report for the recipients that were still open: each
    /// recipient of `later` replaces this report's entry for the same mailbox.
    #[cfg(feature = "tokio")]
    pub(crate) fn merge_attempt(&mut self, later: Report) {
        for result in later.recipients {
            match self
                .recipients
                .iter_mut()
                .find(|r| r.mailbox == result.mailbox && !r.is_accepted())
            {
                Some(slot) => *slot = result,
                None => self.recipients.push(result),
            }
        }
        self.final_replies.extend(later.final_replies);
        self.bytes += later.bytes;
        self.attempts += later.attempts;
    }

    #[cfg(feature = "tokio")]
    pub(crate) fn set_attempts(&mut self, attempts: u32) {
        self.attempts = attempts;
    }
}

/// The token after `queued as ` or `id=` in a reply's text.
pub(crate) fn queue_id(reply: &Reply) -> Option<String> {
    let text = reply.text_lossy();
    let lower = text.to_ascii_lowercase();
    let start = ["queued as ", "id="]
        .iter()
        .find_map(|marker| lower.find(marker).map(|at| at + marker.len()))?;
    let id = text
        .get(start..)?
        .split(|c: char| c.is_whitespace() || c == ';' || c == ',')
        .next()?
        .trim_matches(|c: char| matches!(c, '<' | '>' | '.' | '(' | ')'));
    (!id.is_empty()).then(|| id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::ReplyCode;

    fn reply(text: &str) -> Reply {
        Reply::new(ReplyCode::OK, None, vec![text.as_bytes().to_vec()])
    }

    #[test]
    fn queue_ids_from_the_usual_wordings() {
        assert_eq!(
            queue_id(&reply("2.0.0 Ok: queued as 4Y7fGh1zXz")).as_deref(),
            Some("4Y7fGh1zXz")
        );
        assert_eq!(
            queue_id(&reply("OK id=1rABCD-000EFG-HI")).as_deref(),
            Some("1rABCD-000EFG-HI")
        );
        assert_eq!(
            queue_id(&reply("Ok: queued as <abc.def>")).as_deref(),
            Some("abc.def")
        );
        assert_eq!(queue_id(&reply("OK: queued as.")), None);
        assert_eq!(
            queue_id(&reply("2.0.0 OK 1700000000 x1-20020a - gsmtp")),
            None
        );
    }
}
