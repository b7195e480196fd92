//! `smtpwire outbox run`: one worker. Any number may run against the same table, on any
//! number of machines.
//!
//! A row's life here: claimed with `FOR UPDATE SKIP LOCKED` and committed `sending` under a
//! lease (this worker's name, an expiry, the try's number) before anything is sent; sent
//! through the pool; its outcome committed only where the lease and the try's number are
//! still this worker's. A heartbeat extends the leases of the rows held. A worker never
//! starts a send whose lease may have run out, and every worker turns rows whose lease
//! expired while `sending` into `unknown`, which nothing sends again without an operator.
//! So a message goes out at most once per claim, and a claim is made only of a row that was
//! certainly not delivered (`queued`, or `deferred` after a try that certainly failed).

use super::db::{self, Db, DbError};
use super::mailer::{self, Settings, Verdict};
use super::message::{self, Claimed, Unsendable};
use super::metrics::{self, Stats};
use super::rate::SharedRate;
use super::{schema, DatabaseArgs};
use crate::compose::Sourced;
use crate::exit::{CliError, Exit};
use crate::send::default_from;
use crate::target::TargetArgs;
use clap::Args;
use serde_json::{json, Value};
use smtpwire::pool::{Mailer, Metrics, Rate};
use std::collections::{HashMap, VecDeque};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, Notify, Semaphore};
use tokio::task::JoinSet;

const AFTER_HELP: &str = "\
Each message is committed `sending`, with a lease held by this worker, before it goes out;
its outcome is committed after. A worker that dies leaves its messages `sending`: when the
lease expires another worker marks them `unknown` (they may have been delivered), and they
are not sent again until `smtpwire outbox resend --unknown` says so.

States: queued → sending → accepted | partial | rejected | deferred | unknown. A deferred
message (a temporary failure: 4xx, a lost connection before the data) is tried again at its
next attempt time, the wait doubling from --retry-delay up to --max-retry-delay; after
--max-attempts tries it is given up (rejected, with the last error). 5xx refusals stop.

SIGINT or SIGTERM: no new claims; the messages in flight are finished and recorded, the
claimed ones not yet started are released for other workers; exit 0.

Examples:
  smtpwire outbox run --database postgresql://mailer@db.internal/shop \\
      --provider qq --user 1234567@qq.com --password-env QQ_AUTH_CODE \\
      --shared-rate 10/s --concurrency 2 --metrics 127.0.0.1:9187
  smtpwire outbox run --database … --account work --until-empty     # from cron";

/// Flags of `smtpwire outbox run`.
#[derive(Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct RunArgs {
    #[command(flatten)]
    db: DatabaseArgs,
    #[command(flatten, next_help_heading = "Connection")]
    target: TargetArgs,
    /// Connections to the mail server, and so messages in flight at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,
    /// Rows claimed by one query, kept by this worker until sent. Larger batches cost the
    /// database less; but a worker that dies leaves every row it holds `unknown`, sent or not.
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1000))]
    batch: u16,
    /// This worker's own limit, e.g. `10/s` or `20/min`.
    #[arg(long, value_name = "N/s|N/min", value_parser = crate::bulk::parse_rate)]
    rate: Option<Rate>,
    /// A limit shared by every worker with the same --rate-key, kept in the database:
    /// `10/s` across three workers is 10/s in all. Each try then takes one token and makes
    /// one SMTP attempt; a try that fails for now is deferred rather than retried at once.
    #[arg(long, value_name = "N/s|N/min", value_parser = crate::bulk::parse_rate)]
    shared_rate: Option<Rate>,
    /// The name of the shared limit (default: USER@HOST:PORT of the account).
    #[arg(long, value_name = "KEY", requires = "shared_rate")]
    rate_key: Option<String>,
    /// Retries of a message within one try, after a temporary failure (as `bulk`).
    #[arg(long, value_name = "N", default_value_t = 3)]
    retries: u32,
    /// Seconds before a deferred message's second try; doubles with each try.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = parse_secs)]
    retry_delay: Duration,
    /// The longest wait between two tries.
    #[arg(long, value_name = "SECS", default_value = "3600", value_parser = parse_secs)]
    max_retry_delay: Duration,
    /// Tries of a message before it is given up as rejected.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    max_attempts: u32,
    /// Seconds a claim lasts without a heartbeat (the worker renews it every quarter).
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = parse_secs)]
    lease: Duration,
    /// Seconds between looks at the table when no notification comes (LISTEN/NOTIFY wakes
    /// the worker at once on insert).
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = parse_secs)]
    poll: Duration,
    /// The directory that attachment and template paths in JSON messages are relative to.
    /// Without it a message naming a file is refused (rejected), and with it only paths
    /// below it are read: a row must not mail this machine's own files.
    #[arg(long, value_name = "DIR")]
    files: Option<PathBuf>,
    /// Serves the pool's and the outbox's metrics in Prometheus text format on
    /// http://ADDR:PORT/metrics.
    #[arg(long, value_name = "ADDR:PORT")]
    metrics: Option<SocketAddr>,
    /// Prints a progress line every SECS seconds (default: every 10 s on a terminal).
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    progress: Option<Duration>,
    /// Exits once nothing is due and nothing is in flight (for cron, and tests).
    #[arg(long)]
    until_empty: bool,
    /// This worker's name in the lease column (default: the host name); the process id and a
    /// random suffix are added.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Prints only errors and the summary.
    #[arg(long, short)]
    quiet: bool,
}

fn parse_secs(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?}: expected seconds, e.g. 5 or 0.5"))?;
    if !(0.001..=86_400.0 * 30.0).contains(&secs) {
        return Err(format!(
            "{text:?}: expected between 0.001 and 2592000 seconds"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Runs `smtpwire outbox run`.
pub async fn run(args: RunArgs) -> Result<Exit, CliError> {
    if args.retry_delay > args.max_retry_delay {
        return Err(CliError::usage(
            "--retry-delay is longer than --max-retry-delay",
        ));
    }
    let target = args.target.resolve()?;
    let config = target.client_config(false)?;
    let from = default_from(&args.target, Some(&target));
    let db_config = db::config(&args.db, "smtpwire outbox run")?;
    {
        let client = db::connect_once(&db_config).await?;
        schema::check(&client).await?;
    }
    let db = Db::new(db_config);
    let owner = owner_name(args.name.as_deref());
    let shared = args.shared_rate.map(|rate| SharedRate {
        bucket: args.rate_key.clone().unwrap_or_else(|| {
            let user = target
                .credentials
                .as_ref()
                .map(|c| c.username().to_owned())
                .unwrap_or_default();
            format!("{user}@{}:{}", target.host, target.port)
        }),
        rate,
    });
    let pool_metrics = Metrics::new();
    let settings = Settings {
        connections: usize::from(args.concurrency),
        // With a shared limit each SMTP attempt must take a token: one attempt per try.
        attempts: if shared.is_some() {
            1
        } else {
            args.retries.saturating_add(1)
        },
        rate: args.rate,
    };
    let mailer = mailer::build(config, &settings, &pool_metrics);
    let stats = Arc::new(Stats::default());

    if let Some(addr) = args.metrics {
        let render = {
            let (pool_metrics, stats, db) = (pool_metrics.clone(), Arc::clone(&stats), db.clone());
            move || metrics::render(&pool_metrics.snapshot(), &stats, db.busy(), db.errors())
        };
        let bound = metrics::serve(addr, render).await?;
        if !args.quiet {
            eprintln!("outbox: metrics on http://{bound}/metrics");
        }
    }

    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        eprintln!("outbox: stopping: finishing the messages in flight, releasing the others");
        let _ = stop_tx.send(true);
    });

    let progress = args.progress.or_else(|| {
        (std::io::stderr().is_terminal() && !args.quiet).then_some(Duration::from_secs(10))
    });
    if let Some(every) = progress {
        tokio::spawn(metrics::progress(
            db.clone(),
            Arc::clone(&stats),
            every,
            stop.clone(),
        ));
    }

    let started = Instant::now();
    let worker = Arc::new(Worker {
        db: db.clone(),
        owner: owner.clone(),
        lease: args.lease,
        mailer: mailer.clone(),
        shared,
        files: args.files.clone(),
        default_from: from,
        stats: Arc::clone(&stats),
        held: Mutex::new(HashMap::new()),
        last_heartbeat: Mutex::new(None),
        committed: Notify::new(),
        stop,
        retry_delay: args.retry_delay,
        max_retry_delay: args.max_retry_delay,
        max_attempts: args.max_attempts,
        batch: usize::from(args.batch),
        in_flight_max: usize::from(args.concurrency) * 2,
        poll: args.poll,
        until_empty: args.until_empty,
        quiet: args.quiet,
    });
    if !args.quiet {
        eprintln!("outbox: worker {owner} running");
    }
    let unrecorded = Arc::clone(&worker).run().await;
    mailer::close(&mailer).await;

    let s = stats.snapshot();
    let wall = started.elapsed();
    println!(
        "outbox run: {} accepted, {} partly accepted, {} rejected, {} deferred, {} unknown; \
         {} released; database waits {:.1}s (summed over tasks) in {:.1}s ({} errors, {} \
         reconnections)",
        s.accepted,
        s.partial,
        s.rejected,
        s.deferred,
        s.unknown,
        s.released,
        db.busy().as_secs_f64(),
        wall.as_secs_f64(),
        db.errors(),
        db.reconnects(),
    );
    if unrecorded.is_empty() {
        Ok(Exit::Ok)
    } else {
        Err(CliError::new(
            Exit::IoErr,
            format!(
                "the outcome of {} message(s) could not be recorded: they will show as unknown \
                 once their leases expire: {}",
                unrecorded.len(),
                unrecorded.join(", ")
            ),
        ))
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// `NAME:PID:RANDOM`: unique per process, so a restarted worker never takes over the leases
/// of the one before it.
fn owner_name(name: Option<&str>) -> String {
    use std::hash::BuildHasher;
    let host = name.map(str::to_owned).unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "worker".into())
    });
    let random = std::collections::hash_map::RandomState::new().hash_one(std::process::id());
    format!("{host}:{}:{:08x}", std::process::id(), random as u32)
}

/// What a finished try leaves to commit.
struct Finished {
    id: i64,
    attempt: i32,
    message_id: String,
    state: &'static str,
    record: Value,
    queue_id: Option<String>,
    error: Option<String>,
    retry_in: Option<Duration>,
}

struct Worker {
    db: Db,
    owner: String,
    lease: Duration,
    mailer: Mailer,
    shared: Option<SharedRate>,
    files: Option<PathBuf>,
    default_from: Option<Sourced<String>>,
    stats: Arc<Stats>,
    /// Rows claimed and not yet committed: id → the try's number.
    held: Mutex<HashMap<i64, i32>>,
    /// When the last heartbeat that succeeded was sent.
    last_heartbeat: Mutex<Option<Instant>>,
    committed: Notify,
    stop: watch::Receiver<bool>,
    retry_delay: Duration,
    max_retry_delay: Duration,
    max_attempts: u32,
    batch: usize,
    in_flight_max: usize,
    poll: Duration,
    until_empty: bool,
    quiet: bool,
}

const CLAIM: &str = "\
WITH due AS (
    SELECT id FROM smtpwire.outbox
    WHERE state IN ('queued', 'deferred') AND next_attempt_at <= now()
    ORDER BY next_attempt_at, id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE smtpwire.outbox o
SET state = 'sending', attempts = o.attempts + 1, lease_owner = $2,
    lease_expires_at = now() + make_interval(secs => $3), updated_at = now()
FROM due WHERE o.id = due.id
RETURNING o.id, o.message_id, o.message, o.raw, o.mail_from, o.rcpt_to, o.attempts";

/// The outcome need not wait for its WAL to reach the disk (`synchronous_commit` off for this
/// transaction alone): if the database crashes and loses it, the row is `sending` again, its
/// lease runs out, and it becomes `unknown`, which is safe. The claim, by contrast, waits:
/// losing it would put a row that went out back in the queue.
const COMMIT: &str = "\
UPDATE smtpwire.outbox o
SET state = u.state, outcome = u.outcome, queue_id = u.queue_id, last_error = u.error,
    next_attempt_at = CASE WHEN u.retry_in IS NULL THEN o.next_attempt_at
                           ELSE now() + make_interval(secs => u.retry_in) END,
    lease_expires_at = NULL, updated_at = now(),
    finished_at = CASE WHEN u.state = 'deferred' THEN NULL ELSE now() END
FROM unnest($1::bigint[], $2::integer[], $3::text[], $4::jsonb[], $5::text[], $6::text[],
            $7::float8[]) AS u(id, attempt, state, outcome, queue_id, error, retry_in),
     (SELECT set_config('synchronous_commit', 'off', true)) AS relaxed
WHERE o.id = u.id AND o.lease_owner = $8 AND o.attempts = u.attempt
  AND (o.state IN ('sending', 'unknown') OR o.state = u.state)
RETURNING o.id";

const HEARTBEAT: &str = "\
UPDATE smtpwire.outbox SET lease_expires_at = now() + make_interval(secs => $3)
WHERE state = 'sending' AND lease_owner = $1 AND id = ANY($2)";

const RELEASE: &str = "\
UPDATE smtpwire.outbox o
SET state = CASE WHEN o.attempts > 1 THEN 'deferred' ELSE 'queued' END,
    attempts = o.attempts - 1, lease_expires_at = NULL, updated_at = now()
FROM unnest($1::bigint[], $2::integer[]) AS u(id, attempt)
WHERE o.id = u.id AND o.attempts = u.attempt AND o.lease_owner = $3 AND o.state = 'sending'";

/// Rows this worker holds `sending` but does not know of: a claim whose answer was lost.
const RELEASE_ORPHANS: &str = "\
UPDATE smtpwire.outbox
SET state = CASE WHEN attempts > 1 THEN 'deferred' ELSE 'queued' END,
    attempts = attempts - 1, lease_expires_at = NULL, updated_at = now()
WHERE state = 'sending' AND lease_owner = $1 AND NOT (id = ANY($2))";

const REAP: &str = "\
UPDATE smtpwire.outbox
SET state = 'unknown', updated_at = now(), finished_at = now(),
    last_error = 'the lease of ' || coalesce(lease_owner, '?')
                 || ' expired while sending: the message may have been delivered'
WHERE state = 'sending' AND lease_expires_at < now()
RETURNING message_id";

impl Worker {
    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    async fn stopped_or(&self, wait: Duration) {
        let mut stop = self.stop.clone();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => {}
        }
    }

    fn say(&self, line: &str) {
        if !self.quiet {
            println!("{line}");
        }
    }

    /// Claims, sends and commits until stopped; returns the message ids whose outcome could
    /// not be recorded.
    async fn run(self: Arc<Self>) -> Vec<String> {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let committer = tokio::spawn(Arc::clone(&self).commit_loop(done_rx));
        let heartbeat = tokio::spawn(Arc::clone(&self).heartbeat_loop());
        let slots = Arc::new(Semaphore::new(self.in_flight_max));
        let mut sends = JoinSet::new();
        let mut last_reap: Option<Instant> = None;
        let mut orphans = false;
        let mut failures = 0u32;
        let mut pending: VecDeque<Claimed> = VecDeque::new();
        // When a claim last came back short: the next waits for a notification or --poll.
        let mut drained: Option<Instant> = None;
        let wake = self.db.wake();
        let mut stop = self.stop.clone();
        while !self.stopped() {
            while sends.try_join_next().is_some() {}
            if last_reap.is_none_or(|t| t.elapsed() >= self.poll) {
                last_reap = Some(Instant::now());
                self.housekeeping().await;
            }
            if orphans {
                if let Err(error) = self.release_orphans().await {
                    self.db_trouble("release rows of a lost claim", &error, &mut failures)
                        .await;
                    continue;
                }
                orphans = false;
            }
            // Claims fill a local queue a batch at a time, so that the database sees one
            // claim per batch however few messages go out at once; only messages about to be
            // sent leave it (the rest are given back on a signal).
            let woken = self.db.take_wake();
            let may_claim = drained.is_none_or(|t| woken || t.elapsed() >= self.poll);
            if pending.len() <= self.batch / 2 && may_claim {
                let asked = self.batch - pending.len();
                match self.claim(asked).await {
                    Ok(rows) => {
                        failures = 0;
                        drained = (rows.len() < asked).then(Instant::now);
                        pending.extend(rows);
                    }
                    Err(error) => {
                        // The claim may have committed with its answer lost: find its rows.
                        orphans = true;
                        self.db_trouble("claim", &error, &mut failures).await;
                        continue;
                    }
                }
            }
            if pending.is_empty() {
                if self.until_empty && sends.is_empty() && self.held_count() == 0 {
                    break;
                }
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = self.committed.notified(), if self.until_empty => {}
                    _ = tokio::time::sleep(self.poll) => {}
                    _ = stop.wait_for(|s| *s) => {}
                    _ = sends.join_next(), if !sends.is_empty() => {}
                }
                continue;
            }
            let free = slots.available_permits();
            if free == 0 {
                tokio::select! {
                    _ = sends.join_next() => {}
                    _ = stop.wait_for(|s| *s) => {}
                }
                continue;
            }
            let rows: Vec<Claimed> = pending.drain(..free.min(pending.len())).collect();
            self.dispatch(rows, &slots, &mut sends, &done_tx).await;
        }
        self.release(pending.into_iter().collect()).await;
        while sends.join_next().await.is_some() {}
        drop(done_tx);
        let unrecorded = committer.await.unwrap_or_default();
        heartbeat.abort();
        unrecorded
    }

    /// Logs a database failure and waits a little longer each time (at most 5 s).
    async fn db_trouble(&self, what: &str, error: &DbError, failures: &mut u32) {
        *failures += 1;
        if *failures <= 3 || (*failures).is_multiple_of(20) {
            eprintln!("outbox: {what}: {error}; trying again");
        }
        let wait = Duration::from_millis(100u64 << (*failures).min(6)).min(Duration::from_secs(5));
        self.stopped_or(wait).await;
    }

    fn held_count(&self) -> usize {
        self.held.lock().map(|h| h.len()).unwrap_or(0)
    }

    async fn claim(&self, count: usize) -> Result<Vec<Claimed>, DbError> {
        let limit = i64::try_from(count).unwrap_or(1);
        let lease = self.lease.as_secs_f64();
        let owner = &self.owner;
        let claim_sent = Instant::now();
        let rows = self
            .db
            .with(|conn| async move { conn.query(CLAIM, &[&limit, owner, &lease]).await })
            .await?;
        let claim_done = Instant::now();
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            let message: Option<Value> = row.try_get(2)?;
            claimed.push(Claimed {
                id: row.try_get(0)?,
                message_id: row.try_get(1)?,
                message,
                raw: row.try_get(3)?,
                mail_from: row.try_get(4)?,
                rcpt_to: row.try_get(5)?,
                attempt: row.try_get(6)?,
                claim_sent,
                claim_done,
            });
        }
        claimed.sort_by_key(|c| c.id);
        if let Ok(mut held) = self.held.lock() {
            for row in &claimed {
                held.insert(row.id, row.attempt);
            }
        }
        self.stats.claimed.fetch_add(claimed.len() as u64, Relaxed);
        Ok(claimed)
    }

    /// Takes rate tokens (when shared) and starts a send for each row whose lease is safe.
    async fn dispatch(
        self: &Arc<Self>,
        rows: Vec<Claimed>,
        slots: &Arc<Semaphore>,
        sends: &mut JoinSet<()>,
        done: &mpsc::UnboundedSender<Finished>,
    ) {
        let mut rows: VecDeque<Claimed> = rows.into();
        let mut failures = 0u32;
        while !rows.is_empty() {
            if self.stopped() {
                self.release(rows.drain(..).collect()).await;
                return;
            }
            let ready = match &self.shared {
                None => rows.len(),
                Some(shared) => {
                    let ids: Vec<String> = rows.iter().map(|r| r.message_id.clone()).collect();
                    match shared.take(&self.db, &ids).await {
                        Ok((0, wait)) => {
                            self.stopped_or(wait).await;
                            continue;
                        }
                        Ok((granted, _)) => granted,
                        Err(error) => {
                            self.db_trouble("shared rate", &error, &mut failures).await;
                            continue;
                        }
                    }
                }
            };
            let mut unsafe_rows = Vec::new();
            for row in rows.drain(..ready.min(rows.len())) {
                if !self.lease_safe(&row) {
                    unsafe_rows.push(row);
                    continue;
                }
                let Ok(permit) = Arc::clone(slots).acquire_owned().await else {
                    unsafe_rows.push(row);
                    continue;
                };
                self.stats.in_flight.fetch_add(1, Relaxed);
                let worker = Arc::clone(self);
                let done = done.clone();
                sends.spawn(async move {
                    let finished = worker.send(row).await;
                    worker.stats.in_flight.fetch_sub(1, Relaxed);
                    let _ = done.send(finished);
                    drop(permit);
                });
            }
            if !unsafe_rows.is_empty() {
                eprintln!(
                    "outbox: {} claimed message(s) not sent: their lease may have run out \
                     (the database did not answer the heartbeat)",
                    unsafe_rows.len()
                );
                self.release(unsafe_rows).await;
            }
        }
    }

    /// Whether a send started now would end well inside the row's lease: a third of the lease
    /// is kept in hand.
    fn lease_safe(&self, row: &Claimed) -> bool {
        let mut until = row.claim_sent + self.lease;
        if let Some(beat) = self.last_heartbeat.lock().ok().and_then(|b| *b) {
            if beat >= row.claim_done {
                until = until.max(beat + self.lease);
            }
        }
        Instant::now() + self.lease / 3 < until
    }

    async fn send(&self, row: Claimed) -> Finished {
        let mut finished = Finished {
            id: row.id,
            attempt: row.attempt,
            message_id: row.message_id.clone(),
            state: "deferred",
            record: json!({}),
            queue_id: None,
            error: None,
            retry_in: None,
        };
        let (verdict, error) =
            match message::prepare(&row, self.files.as_deref(), self.default_from.as_ref()) {
                Err(Unsendable::Invalid(problem)) => (
                    Verdict::Rejected,
                    Some(format!("invalid message: {problem}")),
                ),
                Err(Unsendable::Transient(problem)) => (Verdict::NotSent, Some(problem)),
                Ok((envelope, bytes)) => {
                    let sent = mailer::send(&self.mailer, envelope, &bytes).await;
                    finished.record = sent.record;
                    finished.queue_id = sent.queue_id;
                    (sent.verdict, sent.error)
                }
            };
        finished.error = error;
        finished.state = match verdict {
            Verdict::Accepted => "accepted",
            Verdict::Partial => "partial",
            Verdict::Rejected => "rejected",
            Verdict::Unknown => "unknown",
            Verdict::NotSent => {
                if u32::try_from(row.attempt).unwrap_or(u32::MAX) >= self.max_attempts {
                    finished.error = Some(format!(
                        "given up after {} tries: {}",
                        row.attempt,
                        finished.error.as_deref().unwrap_or("not sent")
                    ));
                    "rejected"
                } else {
                    finished.retry_in = Some(self.backoff(row.id, row.attempt));
                    "deferred"
                }
            }
        };
        if let Value::Object(record) = &mut finished.record {
            record.insert("try".into(), json!(row.attempt));
            record.insert("worker".into(), json!(self.owner));
        }
        finished
    }

    /// The wait before the next try: the ceiling doubles from --retry-delay up to
    /// --max-retry-delay; the wait is drawn from its upper half, so that messages that failed
    /// together do not come back together.
    fn backoff(&self, id: i64, attempt: i32) -> Duration {
        use std::hash::BuildHasher;
        let doublings = u32::try_from(attempt.saturating_sub(1))
            .unwrap_or(0)
            .min(30);
        let ceiling = self
            .retry_delay
            .saturating_mul(1 << doublings)
            .min(self.max_retry_delay);
        let random = std::collections::hash_map::RandomState::new().hash_one((id, attempt));
        let fraction = 0.5 + (random >> 11) as f64 / (1u64 << 54) as f64;
        ceiling.mul_f64(fraction)
    }

    /// Puts claimed rows that were never sent back for any worker, and wakes the others.
    async fn release(&self, rows: Vec<Claimed>) {
        if rows.is_empty() {
            return;
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let attempts: Vec<i32> = rows.iter().map(|r| r.attempt).collect();
        let owner = &self.owner;
        let mut failures = 0u32;
        let deadline = Instant::now() + self.lease;
        let (ids, attempts) = (&ids, &attempts);
        loop {
            let result = self
                .db
                .with(|conn| async move {
                    let n = conn.execute(RELEASE, &[ids, attempts, owner]).await?;
                    conn.execute("SELECT pg_notify('smtpwire_outbox', '')", &[])
                        .await?;
                    Ok(n)
                })
                .await;
            match result {
                Ok(n) => {
                    self.stats.released.fetch_add(n, Relaxed);
                    break;
                }
                Err(error) if Instant::now() < deadline => {
                    failures += 1;
                    if failures <= 3 {
                        eprintln!("outbox: release: {error}; trying again");
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(error) => {
                    eprintln!(
                        "outbox: could not release {} message(s) ({error}): never sent, they \
                         will show as unknown when their lease expires",
                        ids.len()
                    );
                    break;
                }
            }
        }
        if let Ok(mut held) = self.held.lock() {
            for row in &rows {
                held.remove(&row.id);
            }
        }
    }

    async fn release_orphans(&self) -> Result<(), DbError> {
        let known: Vec<i64> = self
            .held
            .lock()
            .map(|h| h.keys().copied().collect())
            .unwrap_or_default();
        let owner = &self.owner;
        let released = self
            .db
            .with(|conn| async move { conn.execute(RELEASE_ORPHANS, &[owner, &known]).await })
            .await?;
        self.stats.released.fetch_add(released, Relaxed);
        Ok(())
    }

    /// Marks rows whose lease expired while `sending` as unknown (any worker's), and prunes
    /// old rate grants.
    async fn housekeeping(&self) {
        match self
            .db
            .with(|conn| async move { conn.query(REAP, &[]).await })
            .await
        {
            Ok(rows) => {
                for row in rows {
                    let id: String = row.get(0);
                    eprintln!(
                        "outbox: ? {id}: its worker's lease expired while sending; it may have \
                         been delivered: marked unknown, not sent again"
                    );
                }
            }
            Err(error) => eprintln!("outbox: lease check: {error}"),
        }
        if let Some(shared) = &self.shared {
            let _ = shared.prune(&self.db).await;
        }
    }

    /// Extends the leases of the rows held, and looks for expired ones, every quarter of the
    /// lease.
    async fn heartbeat_loop(self: Arc<Self>) {
        let every = self.lease / 4;
        let lease = self.lease.as_secs_f64();
        loop {
            tokio::time::sleep(every).await;
            let ids: Vec<i64> = self
                .held
                .lock()
                .map(|h| h.keys().copied().collect())
                .unwrap_or_default();
            let sent = Instant::now();
            let owner = &self.owner;
            let ids = &ids;
            let result = self
                .db
                .with(|conn| async move { conn.execute(HEARTBEAT, &[owner, ids, &lease]).await })
                .await;
            match result {
                Ok(_) => {
                    if let Ok(mut beat) = self.last_heartbeat.lock() {
                        *beat = Some(sent);
                    }
                }
                Err(error) => eprintln!("outbox: heartbeat: {error}"),
            }
            // However long --poll is, expired leases are found within a quarter of a lease.
            self.housekeeping().await;
        }
    }

    /// Commits outcomes as they come, many per statement; keeps trying while the database is
    /// away. Returns the message ids it had to give up on (only when stopping).
    async fn commit_loop(
        self: Arc<Self>,
        mut done: mpsc::UnboundedReceiver<Finished>,
    ) -> Vec<String> {
        let mut unrecorded = Vec::new();
        while let Some(first) = done.recv().await {
            let mut batch = vec![first];
            while batch.len() < 512 {
                match done.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            let mut failures = 0u32;
            let mut failing_since: Option<Instant> = None;
            let applied = loop {
                match self.commit(&batch).await {
                    Ok(applied) => break Some(applied),
                    Err(error) => {
                        let since = *failing_since.get_or_insert_with(Instant::now);
                        if self.stopped() && since.elapsed() > self.lease {
                            eprintln!("outbox: giving up recording outcomes: {error}");
                            break None;
                        }
                        failures += 1;
                        if failures <= 3 || failures.is_multiple_of(20) {
                            eprintln!("outbox: record outcomes: {error}; trying again");
                        }
                        let wait = Duration::from_millis(50u64 << failures.min(7));
                        tokio::time::sleep(wait.min(Duration::from_secs(5))).await;
                    }
                }
            };
            let Some(applied) = applied else {
                unrecorded.extend(batch.iter().map(|f| f.message_id.clone()));
                continue;
            };
            if let Ok(mut held) = self.held.lock() {
                for finished in &batch {
                    held.remove(&finished.id);
                }
            }
            for finished in &batch {
                if !applied.contains(&finished.id) {
                    self.stats.lost.fetch_add(1, Relaxed);
                    eprintln!(
                        "outbox: ! {}: {} but no longer held by this worker (its lease ran \
                         out); the table keeps what it says",
                        finished.message_id, finished.state
                    );
                    continue;
                }
                self.stats.count(finished.state);
                self.report(finished);
            }
            self.committed.notify_one();
        }
        unrecorded
    }

    fn report(&self, finished: &Finished) {
        let id = &finished.message_id;
        let error = finished.error.as_deref().unwrap_or("");
        match finished.state {
            "accepted" => {}
            "partial" => self.say(&format!(
                "~ {id} partial: some recipients refused or not sent"
            )),
            "unknown" => self.say(&format!(
                "? {id} unknown: {error}; may have been delivered: not sent again"
            )),
            "deferred" => self.say(&format!(
                "… {id} deferred (try {}): {error}; next in {:.0}s",
                finished.attempt,
                finished.retry_in.unwrap_or_default().as_secs_f64()
            )),
            state => self.say(&format!("✗ {id} {state}: {error}")),
        }
    }

    async fn commit(&self, batch: &[Finished]) -> Result<Vec<i64>, DbError> {
        let ids: Vec<i64> = batch.iter().map(|f| f.id).collect();
        let attempts: Vec<i32> = batch.iter().map(|f| f.attempt).collect();
        let states: Vec<&str> = batch.iter().map(|f| f.state).collect();
        let outcomes: Vec<Value> = batch.iter().map(|f| f.record.clone()).collect();
        let queue_ids: Vec<Option<String>> = batch.iter().map(|f| f.queue_id.clone()).collect();
        let errors: Vec<Option<String>> = batch.iter().map(|f| f.error.clone()).collect();
        let retry_in: Vec<Option<f64>> = batch
            .iter()
            .map(|f| f.retry_in.map(|d| d.as_secs_f64()))
            .collect();
        let owner = &self.owner;
        let params = (
            &ids, &attempts, &states, &outcomes, &queue_ids, &errors, &retry_in,
        );
        let rows = self
            .db
            .with(|conn| async move {
                let (ids, attempts, states, outcomes, queue_ids, errors, retry_in) = params;
                conn.query(
                    COMMIT,
                    &[
                        ids, attempts, states, outcomes, queue_ids, errors, retry_in, owner,
                    ],
                )
                .await
            })
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}
