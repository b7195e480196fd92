//! What became of a message over every attempt. Each attempt's verdicts come from the
//! session (its [`Report`], or the report its error carries); this only keeps, recipient by
//! recipient, the latest word, and says who is still worth another attempt.

use crate::address::Mailbox;
use crate::envelope::{Envelope, Recipient};
use crate::error::{Error, InputError, Phase};
use crate::session::{RecipientResult, Report, Status};
use std::time::Duration;

/// Each recipient's standing while the attempts go on.
#[derive(Debug)]
pub(crate) struct Tally {
    recipients: Vec<Recipient>,
    report: Report,
    last_error: Option<Error>,
    retry_unknown: bool,
}

impl Tally {
    pub(crate) fn new(envelope: &Envelope, retry_unknown: bool) -> Self {
        Self {
            recipients: envelope.recipients().to_vec(),
            report: Report::new(Vec::new()),
            last_error: None,
            retry_unknown,
        }
    }

    /// The recipients worth another attempt, in envelope order: never tried, or certainly not
    /// delivered for a reason that may pass ([`Status::Deferred`]); [`Status::Unknown`] ones
    /// only when the retry policy accepts the risk of a duplicate.
    pub(crate) fn pending(&self) -> Vec<Recipient> {
        self.recipients
            .iter()
            .filter(|r| self.worth_retrying(r.mailbox()))
            .cloned()
            .collect()
    }

    pub(crate) fn pending_count(&self) -> usize {
        self.recipients
            .iter()
            .filter(|r| self.worth_retrying(r.mailbox()))
            .count()
    }

    fn worth_retrying(&self, mailbox: &Mailbox) -> bool {
        match self.status(mailbox) {
            None | Some(Status::Deferred) => true,
            Some(Status::Unknown) => self.retry_unknown,
            Some(_) => false,
        }
    }

    fn status(&self, mailbox: &Mailbox) -> Option<Status> {
        self.report
            .recipients()
            .iter()
            .find(|r| r.mailbox() == mailbox)
            .map(RecipientResult::status)
    }

    /// An attempt's result, as the session reported it. An error without a report (no
    /// connection, refused before MAIL) leaves every pending recipient as that error says.
    pub(crate) fn on_attempt(&mut self, pending: &[Recipient], result: Result<Report, Error>) {
        let report = match result {
            Ok(report) => report,
            Err(error) => {
                let report = match error.report() {
                    Some(report) => report.clone(),
                    None => Report::unsent(pending.iter().map(|r| r.mailbox().clone()), &error),
                };
                self.last_error = Some(error);
                report
            }
        };
        self.report.merge_attempt(report);
    }

    pub(crate) fn finish(mut self, attempts: u32, duration: Duration) -> Result<Report, Error> {
        self.report.set_attempts(attempts);
        self.report.set_duration(duration);
        // Recipients no attempt reached (none was made) are not sent.
        let missing: Vec<Mailbox> = self
            .recipients
            .iter()
            .map(|r| r.mailbox().clone())
            .filter(|m| self.status(m).is_none())
            .collect();
        if !missing.is_empty() {
            let error = self.last_error.clone().unwrap_or_else(not_tried);
            self.report
                .merge_attempt(Report::unsent(missing.into_iter(), &error));
            self.report.set_attempts(attempts);
        }
        if self.report.accepted().next().is_some() {
            return Ok(self.report);
        }
        let delivery = self.report.delivery();
        let error = self.last_error.unwrap_or_else(not_tried);
        Err(error.with_delivery(delivery).with_report(self.report))
    }
}

fn not_tried() -> Error {
    Error::input(
        Phase::RcptTo,
        InputError::WrongState("no recipient was tried"),
    )
}
