//! The outbox's tables: created and upgraded by `smtpwire outbox init`, one numbered version
//! at a time, each in a transaction under an advisory lock so that two inits never race.
//!
//! The table `smtpwire.outbox` is the contract with applications (README.md shows it).
//! A version, once released, is never edited: a change is a new version.

use super::db::{self, DbError};
use super::DatabaseArgs;
use crate::exit::{CliError, Exit};
use clap::Args;
use tokio_postgres::Client;

/// Each version's SQL, in order: `VERSIONS[n - 1]` makes version n.
const VERSIONS: &[&str] = &[V1];

/// The version this build reads and writes.
pub const CURRENT: i32 = 1;

const V1: &str = r#"
CREATE TABLE smtpwire.outbox (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The application's key for the message: a second INSERT with the same one is refused
    -- (or skipped with ON CONFLICT DO NOTHING), so a retried transaction never mails twice.
    message_id       text NOT NULL UNIQUE CHECK (message_id <> ''),
    -- Either the JSON form of `smtpwire send --message` ...
    message          jsonb CHECK (message IS NULL OR jsonb_typeof(message) = 'object'),
    -- ... or the RFC 5322 bytes with their envelope ('' is the null sender <>).
    raw              bytea,
    mail_from        text,
    rcpt_to          text[],
    state            text NOT NULL DEFAULT 'queued' CHECK (state IN
                       ('queued', 'sending', 'accepted', 'partial', 'rejected', 'deferred', 'unknown')),
    -- Tries so far (each may hold several SMTP attempts of the pool).
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    -- The worker that holds the row while `sending`, or last held it.
    lease_owner      text,
    lease_expires_at timestamptz,
    -- Per recipient: status and the server's reply; the attempts and the final replies.
    outcome          jsonb,
    queue_id         text,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    CONSTRAINT outbox_one_form CHECK ((message IS NULL) <> (raw IS NULL)),
    CONSTRAINT outbox_raw_envelope CHECK (
        raw IS NULL OR (mail_from IS NOT NULL AND rcpt_to IS NOT NULL AND cardinality(rcpt_to) > 0)),
    CONSTRAINT outbox_json_has_no_envelope CHECK (
        message IS NULL OR (mail_from IS NULL AND rcpt_to IS NULL))
);

CREATE INDEX outbox_due ON smtpwire.outbox (next_attempt_at, id)
    WHERE state IN ('queued', 'deferred');
CREATE INDEX outbox_sending ON smtpwire.outbox (lease_expires_at) WHERE state = 'sending';
CREATE INDEX outbox_recent ON smtpwire.outbox (state, updated_at);

-- Wakes the workers (LISTEN smtpwire_outbox) when an insert commits; never before.
CREATE FUNCTION smtpwire.outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('smtpwire_outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON smtpwire.outbox
    FOR EACH STATEMENT EXECUTE FUNCTION smtpwire.outbox_notify();

-- The rate limit shared by all workers: one row per token taken, kept an hour for audit.
CREATE TABLE smtpwire.rate_grants (
    bucket     text NOT NULL,
    granted_at timestamptz NOT NULL,
    message_id text
);
CREATE INDEX rate_grants_bucket_time ON smtpwire.rate_grants (bucket, granted_at);

-- Takes up to cardinality(p_ids) tokens of `p_bucket`, at most p_limit per p_per in any
-- window, one per message id. Returns how many were taken and, when that is fewer than
-- asked, the milliseconds until the next one comes back. Serialised per bucket by an
-- advisory lock held until the grants commit.
CREATE FUNCTION smtpwire.take_rate_tokens(p_bucket text, p_limit integer, p_per interval, p_ids text[])
RETURNS TABLE (granted integer, wait_ms double precision) LANGUAGE plpgsql AS $$
DECLARE
    v_now   timestamptz;
    v_used  integer;
    v_want  integer := coalesce(cardinality(p_ids), 0);
    v_take  integer;
    v_back  timestamptz;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('smtpwire.rate:' || p_bucket, 0));
    v_now := clock_timestamp();
    SELECT count(*) INTO v_used FROM smtpwire.rate_grants
        WHERE bucket = p_bucket AND granted_at > v_now - p_per;
    v_take := least(greatest(p_limit - v_used, 0), v_want);
    IF v_take > 0 THEN
        INSERT INTO smtpwire.rate_grants (bucket, granted_at, message_id)
            SELECT p_bucket, v_now, id FROM unnest(p_ids[1:v_take]) AS id;
    END IF;
    granted := v_take;
    wait_ms := 0;
    IF v_take < v_want THEN
        SELECT g.granted_at INTO v_back FROM smtpwire.rate_grants g
            WHERE g.bucket = p_bucket AND g.granted_at > v_now - p_per
            ORDER BY g.granted_at
            OFFSET greatest(v_used + v_take - p_limit, 0) LIMIT 1;
        wait_ms := greatest(extract(epoch FROM (coalesce(v_back, v_now) + p_per - v_now)) * 1000, 1);
    END IF;
    RETURN NEXT;
END
$$;
"#;

/// Flags of `smtpwire outbox init`.
#[derive(Args, Debug)]
pub struct InitArgs {
    #[command(flatten)]
    db: DatabaseArgs,
}

/// Runs `smtpwire outbox init`.
pub async fn init(args: InitArgs) -> Result<Exit, CliError> {
    let config = db::config(&args.db, "smtpwire outbox init")?;
    let mut client = db::connect_once(&config).await?;
    let (before, after) = migrate(&mut client)
        .await
        .map_err(|e| CliError::new(Exit::Unavailable, format!("outbox init: {e}")))??;
    if before == after {
        println!("the outbox schema is up to date (version {after})");
    } else if before == 0 {
        println!("created the outbox schema (version {after}): table smtpwire.outbox");
    } else {
        println!("upgraded the outbox schema from version {before} to {after}");
    }
    Ok(Exit::Ok)
}

/// Brings the schema to [`CURRENT`]; returns the versions before and after. The inner
/// error is a database newer than this build.
async fn migrate(client: &mut Client) -> Result<Result<(i32, i32), CliError>, DbError> {
    let transaction = db::timed(client.transaction()).await?;
    // One init at a time, whatever the schema's state (the lock ends with the transaction).
    db::timed(transaction.batch_execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('smtpwire.outbox.schema', 0));
         CREATE SCHEMA IF NOT EXISTS smtpwire;
         CREATE TABLE IF NOT EXISTS smtpwire.schema_version (
             version    integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         );",
    ))
    .await?;
    let row = db::timed(transaction.query_one(
        "SELECT coalesce(max(version), 0) FROM smtpwire.schema_version",
        &[],
    ))
    .await?;
    let before: i32 = row.get(0);
    if before > CURRENT {
        return Ok(Err(newer(before)));
    }
    for (version, sql) in (1..).zip(VERSIONS) {
        if version <= before {
            continue;
        }
        db::timed(transaction.batch_execute(sql)).await?;
        db::timed(transaction.execute(
            "INSERT INTO smtpwire.schema_version (version) VALUES ($1)",
            &[&version],
        ))
        .await?;
    }
    db::timed(transaction.commit()).await?;
    Ok(Ok((before, CURRENT)))
}

fn newer(version: i32) -> CliError {
    CliError::config(format!(
        "the outbox schema is at version {version}, newer than this smtpwire knows ({CURRENT})"
    ))
    .hint("upgrade smtpwire on this machine")
}

/// Checks the schema is the one this build knows, before a command relies on it.
pub async fn check(client: &Client) -> Result<(), CliError> {
    let exists = db::timed(client.query_one(
        "SELECT to_regclass('smtpwire.schema_version') IS NOT NULL",
        &[],
    ))
    .await
    .map_err(|e| db::unavailable(&e))?;
    let version: i32 = if exists.get(0) {
        db::timed(client.query_one(
            "SELECT coalesce(max(version), 0) FROM smtpwire.schema_version",
            &[],
        ))
        .await
        .map_err(|e| db::unavailable(&e))?
        .get(0)
    } else {
        0
    };
    match version {
        CURRENT => Ok(()),
        v if v > CURRENT => Err(newer(v)),
        0 => Err(CliError::config("the database has no outbox schema")
            .hint("run `smtpwire outbox init --database …` first")),
        v => Err(CliError::config(format!(
            "the outbox schema is at version {v}; this smtpwire needs {CURRENT}"
        ))
        .hint("run `smtpwire outbox init --database …` to upgrade it")),
    }
}
