//! The outbox's only contact with `smtpwire::pool`: building the mailer, sending one message,
//! and reading the pool's outcome into a verdict. If the pool's API changes, this file alone
//! changes.
//!
//! The verdict is the library's ([`Report::verdict`]), as `smtpwire bulk` records it: nothing
//! here looks at a reply code or counts anything.

use serde_json::{json, Value};
use smtpwire::envelope::Envelope;
use smtpwire::pool::{Mailer, Metrics, Rate, RetryPolicy};
use smtpwire::transport::ClientConfig;
use smtpwire::Report;
pub use smtpwire::Verdict;

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
        .retry(RetryPolicy::default().with_max_attempts(settings.attempts))
        .observer(metrics.clone());
    if let Some(rate) = settings.rate {
        builder = builder.message_rate(rate);
    }
    builder.build()
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
    let (outcome, error) = match mailer.send(envelope, bytes).await {
        Ok(outcome) => (outcome, None),
        Err(error) => (
            error.report().cloned().unwrap_or_default(),
            Some(error.to_string()),
        ),
    };
    Sent {
        verdict: outcome.verdict(),
        queue_id: outcome.queue_id(),
        record: record(&outcome),
        error,
    }
}

fn record(outcome: &Report) -> Value {
    json!({
        "recipients": crate::bulk::recipients_record(outcome),
        "smtp_attempts": outcome.attempts(),
        "final_replies": outcome.final_replies().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "duration_ms": u64::try_from(outcome.duration().as_millis()).unwrap_or(u64::MAX),
    })
}

/// Says goodbye to the pool's connections.
pub async fn close(mailer: &Mailer) {
    mailer.close().await;
}
