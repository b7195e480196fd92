//! `smtpwire outbox status`, `list` and `resend`: what the table says, and the operator's
//! one way to send again a message that may already have been delivered.

use super::db::{self, DbError};
use super::{schema, DatabaseArgs};
use crate::exit::{CliError, Exit};
use clap::{Args, ValueEnum};
use serde_json::{json, Value};
use tokio_postgres::Client;

/// A row's state, as the table spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum State {
    /// Waiting for its first try.
    Queued,
    /// Claimed by a worker, under its lease.
    Sending,
    /// Every recipient accepted.
    Accepted,
    /// Some recipients accepted.
    Partial,
    /// Refused for good, invalid, or given up.
    Rejected,
    /// To be tried again at its next attempt time.
    Deferred,
    /// May have been delivered: not sent again without `resend --unknown`.
    Unknown,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Accepted => "accepted",
            Self::Partial => "partial",
            Self::Rejected => "rejected",
            Self::Deferred => "deferred",
            Self::Unknown => "unknown",
        }
    }
}

const STATES: [&str; 7] = [
    "queued", "sending", "deferred", "accepted", "partial", "rejected", "unknown",
];

/// Flags of `smtpwire outbox status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    db: DatabaseArgs,
    /// Prints one JSON object instead.
    #[arg(long)]
    json: bool,
    /// How many recent failures to show.
    #[arg(long, value_name = "N", default_value_t = 10)]
    failures: u32,
}

/// Flags of `smtpwire outbox list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    db: DatabaseArgs,
    /// The state to list.
    #[arg(long, value_enum)]
    state: State,
    /// At most this many, the most recently changed first.
    #[arg(long, value_name = "N", default_value_t = 100)]
    limit: u32,
    /// Prints JSON lines instead.
    #[arg(long)]
    json: bool,
}

/// Flags of `smtpwire outbox resend`.
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["unknown", "rejected"])))]
#[command(group(clap::ArgGroup::new("whom").required(true).args(["message_id", "all"])))]
pub struct ResendArgs {
    #[command(flatten)]
    db: DatabaseArgs,
    /// Queues messages in state unknown: they may already have been delivered, so check
    /// with the recipients (or the server's logs) first.
    #[arg(long)]
    unknown: bool,
    /// Queues messages in state rejected (after fixing what made them fail).
    #[arg(long)]
    rejected: bool,
    /// The messages, by message_id (repeatable).
    #[arg(long, value_name = "ID")]
    message_id: Vec<String>,
    /// Every message in that state.
    #[arg(long)]
    all: bool,
}

async fn open(db_args: &DatabaseArgs, what: &str) -> Result<Client, CliError> {
    let config = db::config(db_args, what)?;
    let client = db::connect_once(&config).await?;
    schema::check(&client).await?;
    Ok(client)
}

fn failed(error: DbError) -> CliError {
    db::unavailable(&error)
}

/// Runs `smtpwire outbox status`.
pub async fn status(args: StatusArgs) -> Result<Exit, CliError> {
    let client = open(&args.db, "smtpwire outbox status").await?;
    let counts = db::timed(client.query(
        "SELECT state, count(*) FROM smtpwire.outbox GROUP BY state",
        &[],
    ))
    .await
    .map_err(failed)?;
    let extra = db::timed(client.query_one(
        "SELECT
            (SELECT extract(epoch FROM now() - min(created_at))::float8
               FROM smtpwire.outbox WHERE state = 'queued'),
            (SELECT count(*) FROM smtpwire.outbox
               WHERE state IN ('queued', 'deferred') AND next_attempt_at <= now()),
            (SELECT count(*) FROM smtpwire.outbox
               WHERE state = 'sending' AND lease_expires_at < now())",
        &[],
    ))
    .await
    .map_err(failed)?;
    let oldest: Option<f64> = extra.get(0);
    let due: i64 = extra.get(1);
    let expired: i64 = extra.get(2);
    let limit = i64::from(args.failures);
    let recent = db::timed(client.query(
        "SELECT message_id, state, attempts, coalesce(last_error, ''),
                to_json(updated_at) #>> '{}'
         FROM smtpwire.outbox
         WHERE state IN ('rejected', 'partial', 'unknown', 'deferred')
         ORDER BY updated_at DESC LIMIT $1",
        &[&limit],
    ))
    .await
    .map_err(failed)?;

    let mut by_state = serde_json::Map::new();
    for state in STATES {
        let n = counts
            .iter()
            .find(|r| r.get::<_, &str>(0) == state)
            .map_or(0, |r| r.get::<_, i64>(1));
        by_state.insert(state.to_owned(), json!(n));
    }
    let failures: Vec<Value> = recent
        .iter()
        .map(|r| {
            json!({
                "message_id": r.get::<_, String>(0),
                "state": r.get::<_, String>(1),
                "attempts": r.get::<_, i32>(2),
                "error": r.get::<_, String>(3),
                "updated_at": r.get::<_, String>(4),
            })
        })
        .collect();
    if args.json {
        let value = json!({
            "states": by_state,
            "due": due,
            "sending_lease_expired": expired,
            "oldest_queued_seconds": oldest,
            "recent_failures": failures,
        });
        println!("{value}");
        return Ok(Exit::Ok);
    }
    for state in STATES {
        println!("{state:>9}  {}", by_state.get(state).unwrap_or(&json!(0)));
    }
    println!(
        "due now: {due}; oldest queued: {}",
        oldest.map_or_else(|| "none".to_owned(), age)
    );
    if expired > 0 {
        println!(
            "{expired} message(s) still `sending` past their lease: the next worker to look \
             marks them unknown"
        );
    }
    if !failures.is_empty() {
        println!("recent failures:");
        for f in &failures {
            println!(
                "  {} {} {} (tries {}): {}",
                f["updated_at"].as_str().unwrap_or_default(),
                f["state"].as_str().unwrap_or_default(),
                f["message_id"].as_str().unwrap_or_default(),
                f["attempts"],
                f["error"].as_str().unwrap_or_default()
            );
        }
    }
    Ok(Exit::Ok)
}

fn age(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    match s {
        0..=119 => format!("{s}s ago"),
        120..=7199 => format!("{}min ago", s / 60),
        _ => format!("{}h ago", s / 3600),
    }
}

/// Runs `smtpwire outbox list`.
pub async fn list(args: ListArgs) -> Result<Exit, CliError> {
    let client = open(&args.db, "smtpwire outbox list").await?;
    let limit = i64::from(args.limit);
    let rows = db::timed(client.query(
        "SELECT message_id, attempts, coalesce(last_error, ''), coalesce(lease_owner, ''),
                to_json(updated_at) #>> '{}', queue_id,
                to_json(next_attempt_at) #>> '{}'
         FROM smtpwire.outbox WHERE state = $1
         ORDER BY updated_at DESC LIMIT $2",
        &[&args.state.as_str(), &limit],
    ))
    .await
    .map_err(failed)?;
    for row in &rows {
        let (id, attempts, error, owner, updated): (String, i32, String, String, String) =
            (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        let queue_id: Option<String> = row.get(5);
        let next: String = row.get(6);
        if args.json {
            println!(
                "{}",
                json!({
                    "message_id": id, "state": args.state.as_str(), "attempts": attempts,
                    "error": error, "worker": owner, "updated_at": updated,
                    "queue_id": queue_id, "next_attempt_at": next,
                })
            );
        } else {
            let detail = if error.is_empty() {
                queue_id
                    .map(|q| format!("queued as {q}"))
                    .unwrap_or_default()
            } else {
                error
            };
            println!("{updated}  {id}  tries {attempts}  {owner}  {detail}");
        }
    }
    if !args.json && rows.is_empty() {
        println!("no message is {}", args.state.as_str());
    }
    Ok(Exit::Ok)
}

/// Runs `smtpwire outbox resend`.
pub async fn resend(args: ResendArgs) -> Result<Exit, CliError> {
    let state = if args.unknown { "unknown" } else { "rejected" };
    let client = open(&args.db, "smtpwire outbox resend").await?;
    let rows = db::timed(client.query(
        "UPDATE smtpwire.outbox
         SET state = 'queued', next_attempt_at = now(), lease_expires_at = NULL,
             lease_owner = NULL, updated_at = now(), finished_at = NULL
         WHERE state = $1 AND ($2 OR message_id = ANY($3))
         RETURNING message_id",
        &[&state, &args.all, &args.message_id],
    ))
    .await
    .map_err(failed)?;
    db::timed(client.batch_execute("NOTIFY smtpwire_outbox"))
        .await
        .map_err(failed)?;
    for row in &rows {
        println!("queued again: {}", row.get::<_, &str>(0));
    }
    let missing: Vec<&String> = args
        .message_id
        .iter()
        .filter(|id| !rows.iter().any(|r| r.get::<_, &str>(0) == id.as_str()))
        .collect();
    for id in &missing {
        eprintln!("smtpwire: {id}: no such message in state {state}; left alone");
    }
    println!("{} message(s) queued again", rows.len());
    Ok(if missing.is_empty() {
        Exit::Ok
    } else {
        Exit::DataErr
    })
}
