//! The outbox's only contact with `smtpwire::pool`: building the mailer, sending one message,
//! and reading the pool's outcome into a verdict. If the pool's API changes, this file alone
//! changes.
//!
//! The verdict is the one `smtpwire bulk` reads from the same outcome: it comes from each
//! recipient's [`Status`], which the pool derives from the typed errors; nothing here looks
//! at a reply code.

use serde_json::{json, Value};
use smtpwire::envelope::Envelope;
use smtpwire::pool::{Mailer, Metrics, Outcome, Rate, RetryPolicy, Status};
use smtpwire::transport::ClientConfig;

/// How the worker's pool is set up.
pub struct Settings {
    /// Connections (and so sends) at once.
    pub connections: usize,
    /// Attempts of one message within one try, the first included.
    pub attempts: u32,
    /// This process's own rate limit, if any.
    pub rate: Option<Rate>,
}

/// The pool, with `metrics` observing it.
pub fn build(config: ClientConfig, settings: &Settings, metrics: &Metrics) -> Mailer {
    let mut builder = Mailer::builder(config)
        .max_connections(settings.connections)
        .retry(RetryPolicy::default().max_attempts(settings.attempts))
        .observer(metrics.clone());
    if let Some(rate) = settings.rate {
        builder = builder.message_rate(rate);
    }
    builder.build()
}

/// What became of one try of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every recipient accepted.
    Accepted,
    /// Some accepted; the others refused, or not sent.
    Partial,
    /// Every recipient refused for good.
    Rejected,
    /// Certainly not delivered to anyone: a later try cannot make a duplicate.
    NotSent,
    /// May have been delivered: never tried again without an operator.
    Unknown,
}

/// A try's verdict and its record for the `outcome` column.
pub struct Sent {
    /// What became of it.
    pub verdict: Verdict,
    /// Each recipient, the final replies, attempts, duration.
    pub record: Value,
    /// The server's queue id, when its reply names one.
    pub queue_id: Option<String>,
    /// Why nothing was accepted, when nothing was.
    pub error: Option<String>,
}

/// Sends one message through the pool and reads the result.
pub async fn send(mailer: &Mailer, envelope: Envelope, bytes: &[u8]) -> Sent {
    let (verdict, outcome, error) = match mailer.send(envelope, bytes).await {
        Ok(outcome) if outcome.is_complete() => (Verdict::Accepted, outcome, None),
        Ok(outcome) => (Verdict::Partial, outcome, None),
        Err(error) => {
            let text = error.to_string();
            let outcome = error.into_outcome();
            let verdict = if outcome.with_status(Status::Unknown).next().is_some() {
                Verdict::Unknown
            } else if outcome
                .recipients()
                .iter()
                .all(|r| r.status() == Status::Rejected)
            {
                Verdict::Rejected
            } else {
                Verdict::NotSent
            };
            (verdict, outcome, Some(text))
        }
    };
    Sent {
        verdict,
        queue_id: outcome.queue_id(),
        record: record(&outcome),
        error,
    }
}

fn record(outcome: &Outcome) -> Value {
    let recipients: Vec<Value> = outcome
        .recipients()
        .iter()
        .map(|r| {
            json!({
                "address": r.mailbox().as_str(),
                "status": match r.status() {
                    Status::Accepted => "accepted",
                    Status::Rejected => "rejected",
                    Status::Unknown => "unknown",
                    _ => "not_sent",
                },
                "reply": r.reply().map(ToString::to_string),
                "error": r.error().map(ToString::to_string),
            })
        })
        .collect();
    json!({
        "recipients": recipients,
        "smtp_attempts": outcome.attempts(),
        "final_replies": outcome.final_replies().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "duration_ms": u64::try_from(outcome.duration().as_millis()).unwrap_or(u64::MAX),
    })
}

/// Says goodbye to the pool's connections.
pub async fn close(mailer: &Mailer) {
    mailer.close().await;
}
