//! `smtpwire bulk`: send many messages through a connection pool, with a rate limit, retries
//! and an outcome log that makes a re-run after a crash or Ctrl-C resume without sending any
//! message twice.
//!
//! The outcome log is append-only JSON lines. Before a message is sent a `started` line is
//! written and fsynced; after its final result a result line (`accepted`, `partial`,
//! `rejected`, `not_sent`, `unknown`) is written and fsynced before the next message is taken.
//! On a re-run, a message whose last line is `accepted`, `partial` or `rejected` is skipped; a
//! message left `started` (the tool died while sending it) or `unknown` may have been
//! delivered, so it is listed and not sent again unless `--resend-unknown` is given.
//!
//! The log is read back as bytes, line by line: a damaged line (cut by a crash, perhaps inside
//! a multi-byte character) is skipped with a warning, never fatal to every later re-run.
//!
//! The log is locked for the whole run (an exclusive `flock`, which dies with the process):
//! a second run on the same log could read it before the first run's result lines are in and
//! send the same messages again, so it stops at once with exit 75.

use crate::compose::{Draft, Problems};
use crate::dsn::Dsn;
use crate::exit::{CliError, Exit};
use crate::message_file;
use crate::send::default_from;
use crate::target::TargetArgs;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};
use smtpwire::envelope::Envelope;
use smtpwire::mime::Message;
use smtpwire::pool::{Mailer, Rate, RetryPolicy};
use smtpwire::{Report, Status, Verdict};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const AFTER_HELP: &str = "\
Examples:
  smtpwire bulk --provider qq --user 1234567@qq.com --password-env QQ_AUTH_CODE \\
      --messages orders.jsonl --outcomes orders.log --rate 20/min --concurrency 2
  smtpwire bulk --account work --messages outbox/ --outcomes outbox.log

Every message needs a `message_id`: it is what the outcome log records, so that running the
same command again (after a crash or Ctrl-C) skips what was accepted and sends the rest.
A message that may have been delivered (the connection was lost after its data, or the tool
stopped while sending it) is listed and not sent again unless --resend-unknown is given.

A line of the outcome log that cannot be read (cut short by a crash, even in the middle
of a multi-byte character) is skipped with a warning; the message's earlier line then
stands, so a message cut after its `started` line counts as delivery unknown.

The outcome log is locked while a run uses it: a second run on the same log stops at once
(exit 75) instead of sending what the first is sending. The lock ends with the run, even
when it is killed, so there is never a stale lock to remove.

Exit codes:
  0   every message was accepted (now or by an earlier run)
  79  some messages may or may not have been delivered: they are listed
  75  some messages were not sent (temporary failures, Ctrl-C), or another run holds the
      outcome log: run the same command again
  69  some messages were refused for good, or some of their recipients were
  64 usage   65 bad message (every problem is listed, with its line)   74 I/O error";

/// Flags of `smtpwire bulk`.
#[derive(Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct BulkArgs {
    #[command(flatten, next_help_heading = "Connection")]
    target: TargetArgs,
    /// The messages: a JSON-lines file (one message per line, the JSON form of `send
    /// --message`) or a directory of `.json` files (one message each, in name order).
    #[arg(long, value_name = "FILE.jsonl|DIR")]
    messages: PathBuf,
    /// The outcome log (JSON lines), appended to and read back on a re-run (default: the
    /// messages path with `.outcomes.jsonl` added).
    #[arg(long, value_name = "FILE")]
    outcomes: Option<PathBuf>,
    /// Most messages per second or per minute, e.g. `10/s` or `20/min` (default: no limit).
    #[arg(long, value_name = "N/s|N/min", value_parser = parse_rate)]
    rate: Option<Rate>,
    /// Messages in flight at once, and connections open at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,
    /// Retries of a message after a temporary failure (connection lost before the data, 4xx).
    #[arg(long, value_name = "N", default_value_t = 3)]
    retries: u32,
    /// Sends again the messages that may already have been delivered (left `started` or
    /// `unknown` in the log): only after checking they were not.
    #[arg(long)]
    resend_unknown: bool,
    /// Prints only the summary.
    #[arg(long, short)]
    quiet: bool,
}

/// `N/s`, `N/min` or `N/hour`, for `--rate` here and in `smtpwire outbox`.
pub(crate) fn parse_rate(text: &str) -> Result<Rate, String> {
    let (count, unit) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?}: expected N/s or N/min"))?;
    let count: u32 = count
        .trim()
        .parse()
        .map_err(|_| format!("{text:?}: expected a whole number before the /"))?;
    if count == 0 {
        return Err("a rate of 0 sends nothing".into());
    }
    match unit.trim() {
        "s" | "sec" | "second" => Ok(Rate::per_second(count)),
        "m" | "min" | "minute" => Ok(Rate::per_minute(count)),
        "h" | "hour" => Ok(Rate::new(count, Duration::from_secs(3600))),
        other => Err(format!("{other:?}: expected s, min or hour")),
    }
}

/// One message to send.
struct Item {
    key: String,
    message: Message,
    /// Delivery status notifications asked for by the message's `notify`, `ret`, `envid`.
    dsn: Dsn,
}

/// What the log says of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Logged {
    /// Accepted by every recipient, or by some (the others refused or to be sent by hand).
    Done,
    /// Refused for good.
    Rejected,
    /// Certainly not delivered: send it.
    NotSent,
    /// Started but never finished, or delivery unknown.
    Unknown,
}

/// Runs `smtpwire bulk`.
pub async fn run(args: BulkArgs) -> Result<Exit, CliError> {
    let target = args.target.resolve()?;
    let items = load(&args)?;
    let log_path = args.outcomes.clone().unwrap_or_else(|| {
        let mut name = args.messages.as_os_str().to_owned();
        name.push(".outcomes.jsonl");
        PathBuf::from(name)
    });
    // Locked before it is read: a second run on the same log stops here, before it can
    // decide anything from what the first run is still writing.
    let log = OutcomeLog::open(&log_path)?;
    let previous = read_log(&log_path)?;

    let mut queue = VecDeque::new();
    let mut already = 0usize;
    let mut rejected_before = 0usize;
    let mut unknown: Vec<&str> = Vec::new();
    let mut resending = 0usize;
    for item in &items {
        match previous.get(&item.key) {
            Some(Logged::Done) => already += 1,
            Some(Logged::Rejected) => rejected_before += 1,
            Some(Logged::Unknown) if !args.resend_unknown => unknown.push(&item.key),
            Some(Logged::Unknown) => {
                resending += 1;
                queue.push_back(item);
            }
            Some(Logged::NotSent) | None => queue.push_back(item),
        }
    }
    if !previous.is_empty() {
        println!(
            "{}: {} of {} messages already done ({} accepted, {} refused); {} to send",
            log_path.display(),
            already + rejected_before,
            items.len(),
            already,
            rejected_before,
            queue.len()
        );
    }
    if !unknown.is_empty() {
        println!(
            "{} message(s) may already have been delivered and are NOT sent again \
             (check the recipients, then re-run with --resend-unknown to send them anyway):",
            unknown.len()
        );
        for key in &unknown {
            println!("  ? {key}");
        }
    }
    if resending > 0 {
        println!(
            "--resend-unknown: sending {resending} message(s) that may already have been delivered"
        );
    }
    if queue.is_empty() {
        println!("nothing to send: every message is in the outcome log");
        return Ok(if unknown.is_empty() {
            if rejected_before > 0 {
                Exit::Unavailable
            } else {
                Exit::Ok
            }
        } else {
            Exit::DeliveryUnknown
        });
    }

    let config = target.client_config(false)?;
    let mut builder = Mailer::builder(config)
        .max_connections(usize::from(args.concurrency))
        .retry(RetryPolicy::default().with_max_attempts(args.retries.saturating_add(1)));
    if let Some(rate) = args.rate {
        builder = builder.message_rate(rate);
    }
    let mailer = builder.build();
    log.start_on_a_fresh_line()?;
    let log = Arc::new(log);

    let progress = if std::io::stderr().is_terminal() && !args.quiet {
        progress_bar(queue.len(), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        let progress = progress.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.store(true, Ordering::SeqCst);
                let text = "interrupted: taking no new messages; waiting for those in flight";
                if progress.is_hidden() {
                    eprintln!("{text}");
                } else {
                    progress.println(text);
                }
            }
        });
    }

    let queue: VecDeque<(String, Message, Dsn)> = queue
        .into_iter()
        .map(|item| (item.key.clone(), item.message.clone(), item.dsn.clone()))
        .collect();
    let queue = Arc::new(Mutex::new(queue));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let queue = Arc::clone(&queue);
        let stop = Arc::clone(&stop);
        let mailer = mailer.clone();
        let log = Arc::clone(&log);
        let tally = Arc::clone(&tally);
        let progress = progress.clone();
        let quiet = args.quiet;
        workers.push(tokio::spawn(async move {
            loop {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                let Some((key, message, dsn)) = next else {
                    break;
                };
                let result = send_one(&mailer, &log, &key, &message, &dsn).await;
                let line = match result {
                    Ok((state, summary)) => {
                        if let Ok(mut t) = tally.lock() {
                            t.add(state, &key);
                        }
                        summary
                    }
                    Err(error) => {
                        // The log cannot be written: stop everything, nothing is safe now.
                        stop.store(true, Ordering::SeqCst);
                        if let Ok(mut t) = tally.lock() {
                            t.log_error.get_or_insert(error.message.clone());
                        }
                        format!("! {key}: {}", error.message)
                    }
                };
                if !quiet {
                    progress.suspend(|| println!("{line}"));
                }
                progress.inc(1);
            }
        }));
    }
    for worker in workers {
        let _ = worker.await;
    }
    progress.finish_and_clear();
    mailer.close().await;
    let left = queue.lock().map(|q| q.len()).unwrap_or(0);
    let tally = tally.lock().map(|t| t.clone()).unwrap_or_default();
    if let Some(error) = &tally.log_error {
        return Err(CliError::new(
            Exit::IoErr,
            format!(
                "cannot write the outcome log {}: {error}",
                log_path.display()
            ),
        ));
    }
    println!(
        "sent {}: {} accepted, {} partly accepted, {} refused, {} not sent, {} delivery unknown{}; \
         {} already done before; outcomes in {}",
        tally.accepted + tally.partial + tally.rejected + tally.not_sent + tally.unknown.len(),
        tally.accepted,
        tally.partial,
        tally.rejected,
        tally.not_sent,
        tally.unknown.len(),
        if left > 0 {
            format!("; interrupted with {left} not started (run the same command again)")
        } else {
            String::new()
        },
        already + rejected_before,
        log_path.display()
    );
    for key in &tally.unknown {
        println!("  ? {key}: may have been delivered; not sent again without --resend-unknown");
    }
    Ok(if !tally.unknown.is_empty() || !unknown.is_empty() {
        Exit::DeliveryUnknown
    } else if tally.not_sent > 0 || left > 0 {
        Exit::TempFail
    } else if tally.rejected > 0 || tally.partial > 0 || rejected_before > 0 {
        Exit::Unavailable
    } else {
        Exit::Ok
    })
}

/// The progress bar on a terminal: done/total, the rate and the time left.
fn progress_bar(len: usize, target: ProgressDrawTarget) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len as u64), target);
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} {rate} eta {eta} {msg}") {
        // indicatif's own {per_sec} prints four decimals ("812.1560/s").
        bar.set_style(style.with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&human_rate(state.per_sec()));
            },
        ));
    }
    bar
}

/// A rate as people read it: `120/s`, `2.5/s`, or per minute under one a second (`20/min`,
/// the unit of `--rate 20/min`).
fn human_rate(per_second: f64) -> String {
    let (value, unit) = if per_second >= 1.0 {
        (per_second, "s")
    } else {
        (per_second * 60.0, "min")
    };
    if !value.is_finite() {
        "-".to_owned()
    } else if value >= 10.0 || value == 0.0 {
        format!("{value:.0}/{unit}")
    } else {
        format!("{value:.1}/{unit}")
    }
}

#[derive(Clone, Debug, Default)]
struct Tally {
    accepted: usize,
    partial: usize,
    rejected: usize,
    not_sent: usize,
    unknown: Vec<String>,
    log_error: Option<String>,
}

impl Tally {
    fn add(&mut self, state: &str, key: &str) {
        match state {
            "accepted" => self.accepted += 1,
            "partial" => self.partial += 1,
            "rejected" => self.rejected += 1,
            "unknown" => self.unknown.push(key.to_owned()),
            _ => self.not_sent += 1,
        }
    }
}

/// Sends one message, with its `started` line before and its result line after. Returns the
/// result's name and a line for the user; fails only when the log cannot be written.
async fn send_one(
    mailer: &Mailer,
    log: &OutcomeLog,
    key: &str,
    message: &Message,
    dsn: &Dsn,
) -> Result<(&'static str, String), CliError> {
    let envelope = Envelope::for_message(message)
        .map_err(|e| e.to_string())
        .and_then(|envelope| dsn.apply(envelope).map_err(|e| e.message));
    log.append(&json!({
        "message_id": key,
        "outcome": "started",
        "header_message_id": message.message_id().to_string(),
    }))?;
    let envelope = match envelope {
        Ok(envelope) => envelope,
        Err(error) => {
            log.append(&json!({
                "message_id": key,
                "outcome": "not_sent",
                "attempts": 0,
                "error": error,
            }))?;
            return Ok(("not_sent", format!("✗ {key}: {error}")));
        }
    };
    // Streamed: attachments are read as the data goes out, once per attempt.
    let (outcome, error) = match mailer.send_message_with(envelope, message).await {
        Ok(outcome) => (outcome, None),
        Err(error) => (
            error.report().cloned().unwrap_or_default(),
            Some(error.to_string()),
        ),
    };
    let state = match outcome.verdict() {
        Verdict::Accepted => "accepted",
        Verdict::Partial => "partial",
        Verdict::Rejected => "rejected",
        Verdict::NotSent => "not_sent",
        Verdict::Unknown => "unknown",
    };
    log.append(&record(key, state, &outcome, error.as_deref()))?;
    let mark = match state {
        "accepted" => "✓",
        "unknown" => "?",
        "partial" => "~",
        _ => "✗",
    };
    let detail = match (&error, outcome.queue_id()) {
        (Some(error), _) => format!(": {error}"),
        (None, Some(id)) => format!(" (queued as {id})"),
        (None, None) => String::new(),
    };
    Ok((state, format!("{mark} {key} {state}{detail}")))
}

/// Each recipient of a report as logs record it (bulk's outcome log, the outbox's row):
/// address, status, the deciding reply or failure.
pub(crate) fn recipients_record(outcome: &Report) -> Vec<Value> {
    outcome
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
        .collect()
}

fn record(key: &str, state: &str, outcome: &Report, error: Option<&str>) -> Value {
    let recipients = recipients_record(outcome);
    json!({
        "message_id": key,
        "outcome": state,
        "recipients": recipients,
        "attempts": outcome.attempts(),
        "queue_id": outcome.queue_id(),
        "final_replies": outcome.final_replies().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "duration_ms": u64::try_from(outcome.duration().as_millis()).unwrap_or(u64::MAX),
        "error": error,
    })
}

/// Every message, or every problem with its line (or file) and field.
fn load(args: &BulkArgs) -> Result<Vec<Item>, CliError> {
    let path = &args.messages;
    let mut sources: Vec<(Place, String, PathBuf)> = Vec::new(); // (place, text, base)
    let meta = std::fs::metadata(path)
        .map_err(|e| CliError::new(Exit::NoInput, format!("--messages {}: {e}", path.display())))?;
    let read = |p: &Path| {
        std::fs::read_to_string(p)
            .map_err(|e| CliError::new(Exit::NoInput, format!("cannot read {}: {e}", p.display())))
    };
    if meta.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| CliError::new(Exit::NoInput, format!("{}: {e}", path.display())))?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for file in files {
            let text = read(&file)?;
            let place = Place {
                file: file.display().to_string(),
                line: None,
            };
            sources.push((place, text, path.clone()));
        }
    } else {
        let text = read(path)?;
        let base = path.parent().unwrap_or(Path::new(".")).to_owned();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let place = Place {
                file: path.display().to_string(),
                line: Some(n + 1),
            };
            sources.push((place, line.to_owned(), base.clone()));
        }
    }
    if sources.is_empty() {
        return Err(CliError::new(
            Exit::NoInput,
            format!("--messages {}: no messages", path.display()),
        ));
    }
    let mut problems = Folded::default();
    let mut items = Vec::new();
    let mut seen: HashMap<String, String> = HashMap::new();
    let fallback_from = default_from(&args.target, None);
    for (place, text, base) in &sources {
        let mut here = Problems::default();
        let draft: Option<Draft> = message_file::parse(text, "message", base, &mut here);
        let built = draft.and_then(|mut draft| {
            let key = draft.message_id.as_ref().map(|k| k.value.trim().to_owned());
            match &key {
                None => here.add(
                    Exit::DataErr,
                    "message_id",
                    "required by bulk: the outcome log knows each message by it",
                ),
                Some(key) => {
                    if let Some(first) = seen.get(key) {
                        here.add(
                            Exit::DataErr,
                            "message_id",
                            format!("{key:?} is also the message_id at {first}"),
                        );
                    } else {
                        seen.insert(key.clone(), place.to_string());
                    }
                }
            }
            if draft.from.is_none() {
                draft.from = fallback_from.clone();
            }
            let dsn = std::mem::take(&mut draft.dsn);
            let message = draft.build(&mut here);
            key.zip(message).map(|(key, message)| (key, message, dsn))
        });
        if here.is_empty() {
            if let Some((key, message, dsn)) = built {
                items.push(Item { key, message, dsn });
            }
        } else {
            problems.add(place, here);
        }
    }
    problems.into_problems().into_result()?;
    Ok(items)
}

/// Where a message came from: a line of a JSON-lines file, or a file of a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Place {
    file: String,
    line: Option<usize>,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.file),
            None => f.write_str(&self.file),
        }
    }
}

/// The problems of every message, each listed once: the same mistake on 203 lines is one
/// line saying where and how often, not 203 lines.
#[derive(Default)]
struct Folded {
    /// (exit status, field, what, where), in the order first seen.
    groups: Vec<(Exit, String, String, Vec<Place>)>,
    index: HashMap<(String, String), usize>,
}

impl Folded {
    fn add(&mut self, place: &Place, problems: Problems) {
        for (exit, at, what) in problems.into_parts() {
            let key = (at, what);
            if let Some(places) = self
                .index
                .get(&key)
                .and_then(|&i| self.groups.get_mut(i))
                .map(|group| &mut group.3)
            {
                // The same problem twice in one message is one problem.
                if places.last() != Some(place) {
                    places.push(place.clone());
                }
                continue;
            }
            self.index.insert(key.clone(), self.groups.len());
            self.groups.push((exit, key.0, key.1, vec![place.clone()]));
        }
    }

    fn into_problems(self) -> Problems {
        let mut problems = Problems::default();
        for (exit, at, what, places) in self.groups {
            problems.add(exit, format!("{}: {at}", places_label(&places)), what);
        }
        problems
    }
}

/// `orders.jsonl:7`, `orders.jsonl:1-100,102-204 (203 lines)`, `out/a.json, out/b.json, …
/// (12 files)`.
fn places_label(places: &[Place]) -> String {
    const SHOWN: usize = 8;
    match places {
        [] => String::new(),
        [only] => only.to_string(),
        [first, ..] => {
            let lines: Vec<usize> = places.iter().filter_map(|p| p.line).collect();
            if lines.len() == places.len() {
                let mut ranges: Vec<(usize, usize)> = Vec::new();
                for line in lines.iter().copied() {
                    match ranges.last_mut() {
                        Some((_, end)) if *end + 1 == line => *end = line,
                        _ => ranges.push((line, line)),
                    }
                }
                let mut text: Vec<String> = ranges
                    .iter()
                    .take(SHOWN)
                    .map(|&(start, end)| {
                        if start == end {
                            start.to_string()
                        } else {
                            format!("{start}-{end}")
                        }
                    })
                    .collect();
                if ranges.len() > SHOWN {
                    text.push("…".into());
                }
                format!("{}:{} ({} lines)", first.file, text.join(","), lines.len())
            } else {
                let mut names: Vec<String> = places.iter().take(2).map(Place::to_string).collect();
                if places.len() > 2 {
                    names.push("…".into());
                }
                format!("{} ({} files)", names.join(", "), places.len())
            }
        }
    }
}

/// Reads what an earlier run recorded: the last word on each message_id.
///
/// The log is read as bytes, line by line: a line that is not a whole JSON record — cut short
/// by a crash, even in the middle of a multi-byte character, or otherwise damaged — is skipped
/// with a warning. It cannot hide a sent message: the `started` line of a message is written
/// and fsynced before anything is sent, so a cut result line leaves that `started` line (or
/// an earlier result) as the last word, and a cut `started` line means nothing was sent.
fn read_log(path: &Path) -> Result<BTreeMap<String, Logged>, CliError> {
    use std::io::BufRead;
    let fail = |e: std::io::Error| {
        CliError::new(
            Exit::IoErr,
            format!("cannot read the outcome log {}: {e}", path.display()),
        )
    };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(fail(e)),
    };
    let mut reader = std::io::BufReader::new(file);
    let mut states = BTreeMap::new();
    let mut bad = Vec::new();
    let mut line = Vec::new();
    for n in 1usize.. {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(fail)? == 0 {
            break;
        }
        if line.trim_ascii().is_empty() {
            continue;
        }
        let parsed: Option<(String, String)> =
            serde_json::from_slice::<Value>(&line).ok().and_then(|v| {
                Some((
                    v.get("message_id")?.as_str()?.to_owned(),
                    v.get("outcome")?.as_str()?.to_owned(),
                ))
            });
        let Some((key, outcome)) = parsed else {
            bad.push(n);
            continue;
        };
        let state = match outcome.as_str() {
            "accepted" | "partial" => Logged::Done,
            "rejected" => Logged::Rejected,
            "not_sent" => Logged::NotSent,
            _ => Logged::Unknown, // started, unknown, anything newer
        };
        states.insert(key, state);
    }
    if !bad.is_empty() {
        eprintln!(
            "warning: {}: ignoring unreadable line(s) {:?} (cut short by a crash?); \
             the messages they concern count as delivery unknown",
            path.display(),
            bad
        );
    }
    Ok(states)
}

/// The append-only outcome log: each line written whole and fsynced before going on.
///
/// The file is locked (`flock`, exclusive) for the whole run, so that two runs on one log can
/// never both send a message; the lock goes with the process, even after SIGKILL, so there is
/// no stale lock to clear by hand.
struct OutcomeLog {
    file: Mutex<std::fs::File>,
}

impl OutcomeLog {
    /// Opens the log, creating it (and fsyncing its directory, so the new name survives a
    /// crash) if needed, and locks it; another run holding it is a temporary failure (75).
    fn open(path: &Path) -> Result<Self, CliError> {
        let fail = |e: std::io::Error| {
            CliError::new(
                Exit::IoErr,
                format!("cannot open the outcome log {}: {e}", path.display()),
            )
        };
        let mut options = std::fs::OpenOptions::new();
        options.append(true).read(true);
        let (file, created) = match options.clone().create_new(true).open(path) {
            Ok(file) => (file, true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                (options.open(path).map_err(fail)?, false)
            }
            Err(e) => return Err(fail(e)),
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(CliError::new(
                    Exit::TempFail,
                    format!(
                        "the outcome log {} is in use by another `smtpwire bulk` run; \
                         nothing was sent",
                        path.display()
                    ),
                )
                .hint(
                    "two runs on one log could send a message twice: wait for the other run \
                     to end, then run the same command again",
                ))
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(CliError::new(
                    Exit::IoErr,
                    format!("cannot lock the outcome log {}: {e}", path.display()),
                )
                .hint("keep the outcome log on a local file system that supports locks"))
            }
        }
        if created {
            sync_directory_of(path).map_err(fail)?;
        }
        Ok(Self {
            file: Mutex::new(file),
        })
    }

    /// A crash may have cut the last line short: the next record starts on a fresh line.
    fn start_on_a_fresh_line(&self) -> Result<(), CliError> {
        use std::io::{Read, Seek, SeekFrom};
        let fail = |e: std::io::Error| {
            CliError::new(Exit::IoErr, format!("cannot write the outcome log: {e}"))
        };
        let mut file = self
            .file
            .lock()
            .map_err(|_| CliError::new(Exit::IoErr, "the outcome log lock is poisoned"))?;
        let len = file.metadata().map_err(fail)?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(len - 1)).map_err(fail)?;
            file.read_exact(&mut last).map_err(fail)?;
            if last != *b"\n" {
                file.write_all(b"\n").map_err(fail)?;
            }
        }
        Ok(())
    }

    fn append(&self, record: &Value) -> Result<(), CliError> {
        let mut line = record.to_string();
        line.push('\n');
        tokio::task::block_in_place(|| {
            let mut file = self
                .file
                .lock()
                .map_err(|_| CliError::new(Exit::IoErr, "the outcome log lock is poisoned"))?;
            file.write_all(line.as_bytes())
                .and_then(|()| file.sync_data())
                .map_err(|e| CliError::new(Exit::IoErr, e.to_string()))
        })
    }
}

/// Fsyncs the directory holding `path`, so that a file just created there stays after a
/// crash (fsync on the file alone does not make its directory entry durable on Linux).
fn sync_directory_of(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_places_of_a_repeated_problem_are_folded() {
        let line = |n| Place {
            file: "m.jsonl".into(),
            line: Some(n),
        };
        let file = |name: &str| Place {
            file: name.into(),
            line: None,
        };
        assert_eq!(places_label(&[line(7)]), "m.jsonl:7");
        let lines: Vec<Place> = [1, 2, 3, 5, 7, 8].into_iter().map(line).collect();
        assert_eq!(places_label(&lines), "m.jsonl:1-3,5,7-8 (6 lines)");
        let every_other: Vec<Place> = (1..=40).step_by(2).map(line).collect();
        assert_eq!(
            places_label(&every_other),
            "m.jsonl:1,3,5,7,9,11,13,15,… (20 lines)"
        );
        assert_eq!(places_label(&[file("d/a.json")]), "d/a.json");
        assert_eq!(
            places_label(&[file("d/a.json"), file("d/b.json"), file("d/c.json")]),
            "d/a.json, d/b.json, … (3 files)"
        );
    }

    /// A terminal that keeps what is drawn on it.
    #[derive(Clone, Debug, Default)]
    struct Screen(Arc<Mutex<String>>);

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            100
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(&format!("{s}\n"))
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push_str(s);
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            self.write_str("\n")
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_progress_bar_shows_a_rounded_rate() {
        let screen = Screen::default();
        let bar = progress_bar(
            1000,
            ProgressDrawTarget::term_like(Box::new(screen.clone())),
        );
        for _ in 0..300 {
            bar.inc(1);
            std::thread::sleep(Duration::from_millis(1));
        }
        bar.finish();
        let drawn = screen.0.lock().unwrap().clone();
        let last = drawn
            .lines()
            .rev()
            .find(|l| l.contains("300/1000"))
            .unwrap();
        // "300/1000 5.3/s eta …": after the counts, the rate with at most one decimal.
        let rate = last.split_whitespace().nth(2).unwrap();
        assert_ne!(rate, "-", "{last}");
        let (number, unit) = rate.split_once('/').unwrap();
        assert!(unit == "s" || unit == "min", "{last}");
        assert!(number.parse::<f64>().is_ok(), "{last}");
        assert!(
            number
                .split_once('.')
                .is_none_or(|(_, decimals)| decimals.len() <= 1),
            "{last}"
        );
    }

    #[test]
    fn rates_are_rounded_for_people() {
        assert_eq!(human_rate(812.156), "812/s");
        assert_eq!(human_rate(12.6), "13/s");
        assert_eq!(human_rate(2.4567), "2.5/s");
        assert_eq!(human_rate(1.0), "1.0/s");
        assert_eq!(human_rate(20.0 / 60.0), "20/min");
        assert_eq!(human_rate(0.05), "3.0/min");
        assert_eq!(human_rate(0.0), "0/min");
        assert_eq!(human_rate(f64::INFINITY), "-");
        assert_eq!(human_rate(f64::NAN), "-");
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("10/s").unwrap().count(), 10);
        assert_eq!(
            parse_rate("20/min").unwrap().interval(),
            Duration::from_secs(60)
        );
        assert!(parse_rate("0/s").is_err());
        assert!(parse_rate("10").is_err());
        assert!(parse_rate("10/fortnight").is_err());
    }
}
