//! `smtpwire outbox`: a transactional outbox on PostgreSQL, drained by any number of workers.
//!
//! An application inserts its mail into `smtpwire.outbox` inside its own transaction, so the
//! mail exists exactly when the transaction commits. Workers (`smtpwire outbox run`, on as
//! many machines as wanted) claim due rows with `FOR UPDATE SKIP LOCKED`, commit them as
//! `sending` with a lease before any byte goes out, send them through the library's pool,
//! and commit the outcome. A row whose lease ran out while `sending` becomes `unknown`: it
//! may have been delivered, so it is never sent again unless an operator says so.
//!
//! Layout: `schema` (the table, its versions), `db` (connections, reconnecting, LISTEN),
//! `tls` (rustls for the database, verifying),
//! `mailer` (the only code that touches `smtpwire::pool`), `message` (a row into an envelope
//! and bytes), `rate` (the rate limit shared through the database), `run` (the worker),
//! `report` (status, list, resend), `metrics` (Prometheus text and the progress line).

mod db;
mod mailer;
mod message;
mod metrics;
mod rate;
mod report;
mod run;
mod schema;
mod tls;

use crate::exit::{CliError, Exit};
use clap::{Args, Subcommand};

const AFTER_HELP: &str = "\
The table smtpwire.outbox is the contract: an application adds a message with one INSERT
inside its own transaction, and it is sent if and only if that transaction commits:

  INSERT INTO smtpwire.outbox (message_id, message)
  VALUES ('order-1234-confirmation',
          '{\"from\": \"shop@example.com\", \"to\": \"zhangsan@qq.com\",
            \"subject\": \"Order 1234\", \"text\": \"Thank you!\"}')
  ON CONFLICT (message_id) DO NOTHING;

`message` is the JSON form of `smtpwire send --message` (see `smtpwire send --help`); or
give `raw` (the RFC 5322 bytes), `mail_from` and `rcpt_to` instead. README.md has the whole
table and a Rust example.

Typical use:
  smtpwire outbox init --database postgresql://mailer@db.internal/shop
  smtpwire outbox run  --database postgresql://mailer@db.internal/shop \\
      --provider qq --user 1234567@qq.com --password-env QQ_AUTH_CODE --shared-rate 10/s
  smtpwire outbox status --database postgresql://mailer@db.internal/shop
  smtpwire outbox list --state unknown --database …
  smtpwire outbox resend --unknown --message-id order-1234-confirmation --database …

The database URL may also come from SMTPWIRE_DATABASE_URL, and its password from PGPASSWORD.";

/// Flags of `smtpwire outbox`.
#[derive(Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct OutboxArgs {
    #[command(subcommand)]
    command: OutboxCommand,
}

#[derive(Subcommand, Debug)]
enum OutboxCommand {
    /// Creates or upgrades the outbox schema (idempotent, versioned).
    Init(schema::InitArgs),
    /// Sends what the outbox holds, until SIGINT or SIGTERM (or, with --until-empty, until
    /// nothing is due).
    Run(Box<run::RunArgs>),
    /// Counts per state, the oldest queued message's age and the recent failures.
    Status(report::StatusArgs),
    /// Lists the messages in a state, e.g. `--state unknown`.
    List(report::ListArgs),
    /// Queues again messages that stopped: `--unknown` ones only after checking they were not
    /// delivered.
    Resend(report::ResendArgs),
}

/// Where the outbox lives.
#[derive(Args, Clone, Debug)]
pub struct DatabaseArgs {
    /// The PostgreSQL database: a URL (`postgresql://user@host:5432/db`) or libpq key=value
    /// pairs (`host=… user=… dbname=…`). Leave the password out: it is read from PGPASSWORD.
    /// `sslmode=require` asks for TLS, and smtpwire then verifies the server's certificate
    /// and name (libpq's verify-full); otherwise the connection is plain (loopback, a Unix
    /// socket such as `host=/run/postgresql`, a private network).
    #[arg(
        long,
        env = "SMTPWIRE_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database: String,
    /// Trusts the CA certificates in this PEM file for the database's TLS too (implies
    /// sslmode=require).
    #[arg(long, env = "SMTPWIRE_DATABASE_CA", value_name = "PEM")]
    pub database_ca: Option<std::path::PathBuf>,
}

/// Runs `smtpwire outbox`.
pub async fn run(args: OutboxArgs) -> Result<Exit, CliError> {
    match args.command {
        OutboxCommand::Init(args) => schema::init(args).await,
        OutboxCommand::Run(args) => run::run(*args).await,
        OutboxCommand::Status(args) => report::status(args).await,
        OutboxCommand::List(args) => report::list(args).await,
        OutboxCommand::Resend(args) => report::resend(args).await,
    }
}
