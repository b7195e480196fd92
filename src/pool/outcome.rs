//! What became of a message, recipient by recipient, over every attempt, and how each
//! attempt's result is read: the typed error decides, never a guess.

use crate::address::Mailbox;
use crate::envelope::{Envelope, Recipient};
use crate::error::{Delivery, Error, InputError, Phase};
use crate::reply::Reply;
use crate::transport::SendReport;
use std::fmt;
use std::time::Duration;

/// Where one recipient stands after the last attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// The server took responsibility for delivering to it.
    Accepted,
    /// The server refused it for good (5xx): sending again cannot help.
    Rejected,
    /// Certainly not accepted: a transient failure outlasted the retry policy, the breaker was
    /// open, or the failure is not one a retry can mend (TLS, protocol, invalid input).
    /// Sending again cannot make a duplicate.
    NotSent,
    /// The server may have accepted it: the connection was lost after the end of the data
    /// (or, when the message took several transactions, after one of them was accepted).
    /// Sending again may deliver it twice.
    Unknown,
}

/// One recipient's result.
#[derive(Clone, Debug)]
pub struct RecipientResult {
    mailbox: Mailbox,
    status: Status,
    reply: Option<Reply>,
    error: Option<Error>,
}

impl RecipientResult {
    /// The recipient.
    pub fn mailbox(&self) -> &Mailbox {
        &self.mailbox
    }

    /// Where it stands.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The server's last word on it: the final reply if accepted, else the last refusal.
    pub fn reply(&self) -> Option<&Reply> {
        self.reply.as_ref()
    }

    /// The failure that decided it, when not a reply to it: a lost connection, a refused
    /// connection, TLS.
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }
}

/// What became of one message, after every attempt.
#[derive(Clone, Debug)]
pub struct Outcome {
    recipients: Vec<RecipientResult>,
    final_replies: Vec<Reply>,
    attempts: u32,
    duration: Duration,
}

impl Outcome {
    /// Every recipient, in envelope order.
    pub fn recipients(&self) -> &[RecipientResult] {
        &self.recipients
    }

    /// The recipients with this status.
    pub fn with_status(&self, status: Status) -> impl Iterator<Item = &RecipientResult> {
        self.recipients.iter().filter(move |r| r.status == status)
    }

    /// Whether every recipient was accepted.
    pub fn is_complete(&self) -> bool {
        self.recipients.iter().all(|r| r.status == Status::Accepted)
    }

    /// The replies to the end of the data, one per accepted transaction, in order.
    pub fn final_replies(&self) -> &[Reply] {
        &self.final_replies
    }

    /// The server's queue id from the last final reply that names one, as Postfix, Exim and
    /// others do (`queued as 4Y7fGh1zXz`, `id=1rABCD-000EFG-HI`); the whole reply is in
    /// [`Outcome::final_replies`] for servers that word it otherwise.
    pub fn queue_id(&self) -> Option<String> {
        self.final_replies.iter().rev().find_map(queue_id)
    }

    /// Attempts made, the first included.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// From the call to the result, waits and retries included.
    pub fn duration(&self) -> Duration {
        self.duration
    }
}

/// Why no recipient at all was accepted.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Failure {
    /// What ended the last attempt: the server's refusal, a lost or refused connection, TLS, a
    /// protocol violation, invalid input. [`Error::delivery`] says whether the message may
    /// have been delivered all the same.
    Smtp(Error),
    /// The circuit breaker is open after repeated connection or authentication failures:
    /// nothing was sent. It lets one connection through after `retry_after`.
    CircuitOpen {
        /// How long until then.
        retry_after: Duration,
    },
    /// [`Mailer::close`](super::Mailer::close) was called: nothing was sent.
    Closed,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Smtp(error) => write!(f, "{error}"),
            Self::CircuitOpen { retry_after } => write!(
                f,
                "circuit breaker open after repeated connection failures; retry in {retry_after:?}"
            ),
            Self::Closed => f.write_str("the mailer is closed"),
        }
    }
}

/// No recipient was accepted: why, and what became of each.
#[derive(Clone, Debug)]
pub struct SendError {
    failure: Failure,
    outcome: Outcome,
}

impl SendError {
    /// Why the last attempt failed.
    pub fn failure(&self) -> &Failure {
        &self.failure
    }

    /// Each recipient's result: refused, not sent, or unknown.
    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    /// Takes the outcome, e.g. to log it.
    pub fn into_outcome(self) -> Outcome {
        self.outcome
    }

    /// [`Delivery::Unknown`] when any recipient may have the message.
    pub fn delivery(&self) -> Delivery {
        if self.outcome.with_status(Status::Unknown).next().is_some() {
            Delivery::Unknown
        } else {
            Delivery::NotSent
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no recipient accepted after {} attempt(s): {}",
            self.outcome.attempts, self.failure
        )?;
        let in_doubt = self.outcome.with_status(Status::Unknown).count();
        if in_doubt > 0 {
            write!(f, "; {in_doubt} recipient(s) may have the message")?;
        }
        Ok(())
    }
}

impl std::error::Error for SendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.failure {
            Failure::Smtp(error) => Some(error),
            _ => None,
        }
    }
}

/// Each recipient's standing while the attempts go on; `None` is still to be sent.
#[derive(Debug)]
pub(crate) struct Tally {
    slots: Vec<Slot>,
    final_replies: Vec<Reply>,
    last_failure: Option<Failure>,
}

#[derive(Debug)]
struct Slot {
    recipient: Recipient,
    status: Option<Status>,
    reply: Option<Reply>,
    error: Option<Error>,
}

impl Tally {
    pub(crate) fn new(envelope: &Envelope) -> Self {
        let slots = envelope
            .recipients()
            .iter()
            .map(|recipient| Slot {
                recipient: recipient.clone(),
                status: None,
                reply: None,
                error: None,
            })
            .collect();
        Self {
            slots,
            final_replies: Vec::new(),
            last_failure: None,
        }
    }

    /// The recipients still to be sent, in envelope order.
    pub(crate) fn pending(&self) -> Vec<Recipient> {
        self.pending_slots().map(|s| s.recipient.clone()).collect()
    }

    pub(crate) fn pending_count(&self) -> usize {
        self.pending_slots().count()
    }

    fn pending_slots(&self) -> impl Iterator<Item = &Slot> {
        self.slots.iter().filter(|s| s.status.is_none())
    }

    fn pending_slots_mut(&mut self) -> impl Iterator<Item = &mut Slot> {
        self.slots.iter_mut().filter(|s| s.status.is_none())
    }

    /// A send that got at least one recipient accepted: its report is exact, recipient by
    /// recipient. Recipients it does not mention (deferred and never tried) stay pending.
    pub(crate) fn on_report(&mut self, report: &SendReport) {
        let mut untouched: Vec<&mut Slot> = self.pending_slots_mut().collect();
        for result in report.recipients() {
            let Some(at) = untouched
                .iter()
                .position(|s| s.recipient.mailbox() == result.mailbox())
            else {
                continue;
            };
            let slot = untouched.swap_remove(at);
            slot.reply = Some(result.reply().clone());
            slot.error = None;
            if result.is_accepted() {
                slot.status = Some(Status::Accepted);
            } else if result.reply().is_permanent() {
                slot.status = Some(Status::Rejected);
            }
        }
        self.final_replies
            .extend(report.final_replies().iter().cloned());
    }

    /// The server refused the whole message and the session is fine: nothing was accepted.
    ///
    /// The transport's error then carries only the first recipient's reply. A refusal of MAIL
    /// or of the data is about the message and decides for every recipient; a refusal at RCPT
    /// decides only for the first, and the others stay pending: safe, since none was accepted.
    pub(crate) fn on_refusal(&mut self, error: &Error) {
        let Some(reply) = error.reply() else {
            return self.on_failure(error, false, false);
        };
        let whole_message = matches!(
            error.phase(),
            Phase::MailFrom | Phase::Data | Phase::DataBody | Phase::DataEnd
        );
        for (index, slot) in self.pending_slots_mut().enumerate() {
            if whole_message || index == 0 {
                slot.reply = Some(reply.clone());
                slot.error = None;
                if reply.is_permanent() {
                    slot.status = Some(Status::Rejected);
                }
            } else {
                slot.error = Some(error.clone());
            }
        }
        self.last_failure = Some(Failure::Smtp(error.clone()));
    }

    /// The connection or the session failed. `may_have_completed` says that a transaction of
    /// this send may have been accepted before the failure, which makes every recipient's
    /// delivery unknown whatever the error says.
    pub(crate) fn on_failure(
        &mut self,
        error: &Error,
        may_have_completed: bool,
        retry_unknown: bool,
    ) {
        let unknown = may_have_completed || error.delivery() == Delivery::Unknown;
        let status = match (unknown, error.is_transient()) {
            (true, true) if retry_unknown => None,
            (true, _) => Some(Status::Unknown),
            (false, true) => None,
            (false, false) => Some(Status::NotSent),
        };
        for slot in self.pending_slots_mut() {
            slot.status = status;
            slot.reply = error.reply().cloned();
            slot.error = Some(error.clone());
        }
        self.last_failure = Some(Failure::Smtp(error.clone()));
    }

    /// No connection to send over: opening one failed, the breaker is open, or the mailer is
    /// closed. Only a failed connection may be worth a retry.
    pub(crate) fn on_no_connection(&mut self, failure: Failure) {
        if let Failure::Smtp(error) = &failure {
            return self.on_failure(error, false, false);
        }
        for slot in self.pending_slots_mut() {
            slot.status = Some(Status::NotSent);
        }
        self.last_failure = Some(failure);
    }

    pub(crate) fn finish(self, attempts: u32, duration: Duration) -> Result<Outcome, SendError> {
        let recipients = self
            .slots
            .into_iter()
            .map(|slot| RecipientResult {
                mailbox: slot.recipient.mailbox().clone(),
                status: slot.status.unwrap_or(Status::NotSent),
                reply: slot.reply,
                error: slot.error,
            })
            .collect();
        let outcome = Outcome {
            recipients,
            final_replies: self.final_replies,
            attempts,
            duration,
        };
        if outcome.with_status(Status::Accepted).next().is_some() {
            return Ok(outcome);
        }
        let failure = self.last_failure.unwrap_or_else(|| {
            Failure::Smtp(Error::input(
                Phase::RcptTo,
                InputError::WrongState("no recipient was tried"),
            ))
        });
        Err(SendError { failure, outcome })
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
