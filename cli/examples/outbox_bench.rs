//! Throughput of `smtpwire outbox run`: messages per second through 1, 2 and 4 worker
//! processes from PostgreSQL to Postfix's `smtp-sink`, and the database's share of the work.
//!
//! ```sh
//! scripts/test-postgres.sh up && eval "$(scripts/test-postgres.sh env)"
//! cargo build --release -p smtpwire-cli
//! cargo run --release -p smtpwire-cli --example outbox_bench -- 20000
//! ```
//!
//! For each worker count: a fresh database, N raw messages of about 1 KiB, a fresh smtp-sink,
//! the workers (`--concurrency 8 --batch 64`, no rate limit) started together, the clock
//! stopped when every row is `accepted`. CPU time is read from /proc: the workers', and that
//! of the PostgreSQL backends serving them. "database wait" is the time the workers' tasks
//! spent waiting for the database, summed over tasks, per message.

#[path = "../../examples/support/smtp_sink.rs"]
mod smtp_sink;

use smtp_sink::SmtpSink;
use std::error::Error;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_postgres::{Client, NoTls};

async fn connect(url: &str) -> Result<Client, Box<dyn Error>> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// utime + stime of a process, in seconds (Linux /proc; 100 ticks per second).
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The fields after the command name, which is in parentheses and may hold spaces.
    let Some((_, rest)) = stat.rsplit_once(") ") else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

struct Row {
    workers: usize,
    seconds: f64,
    worker_cpu: f64,
    postgres_cpu: f64,
    db_wait: f64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let total: i32 = std::env::args().nth(1).map_or(Ok(20_000), |n| n.parse())?;
    let admin = std::env::var("SMTPWIRE_TEST_POSTGRES")
        .map_err(|_| "set SMTPWIRE_TEST_POSTGRES (scripts/test-postgres.sh env)")?;
    let binary: PathBuf = std::env::current_exe()?
        .parent()
        .and_then(|examples| examples.parent())
        .map(|dir| dir.join("smtpwire"))
        .ok_or("no target directory")?;
    if !binary.exists() {
        return Err(format!(
            "{} not found: cargo build --release -p smtpwire-cli",
            binary.display()
        )
        .into());
    }
    let mut rows = Vec::new();
    for workers in [1, 2, 4] {
        let name = format!("smtpwire_bench_{}_{workers}", std::process::id());
        let admin_client = connect(&admin).await?;
        admin_client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await?;
        let url = format!("{admin} dbname={name}");
        let init = Command::new(&binary)
            .args(["outbox", "init", "--database", &url])
            .output()?;
        if !init.status.success() {
            return Err(String::from_utf8_lossy(&init.stderr).into_owned().into());
        }
        let db = connect(&url).await?;
        let body = "x".repeat(72);
        db.execute(
            "INSERT INTO smtpwire.outbox (message_id, raw, mail_from, rcpt_to)
             SELECT 'bench-' || i,
                    convert_to('From: <bench@example.com>' || E'\\r\\n' ||
                               'To: <sink@example.com>' || E'\\r\\n' ||
                               'Subject: bench ' || i || E'\\r\\n' ||
                               'Message-ID: <bench-' || i || '@example.com>' || E'\\r\\n' ||
                               E'\\r\\n' || repeat($2 || E'\\r\\n', 12), 'UTF8'),
                    'bench@example.com', ARRAY['sink@example.com']
             FROM generate_series(1, $1) AS i",
            &[&total, &body],
        )
        .await?;
        db.batch_execute("VACUUM ANALYZE smtpwire.outbox").await?;
        let sink = SmtpSink::start(false).await?;

        let started = Instant::now();
        let mut children: Vec<Child> = (0..workers)
            .map(|n| {
                Command::new(&binary)
                    .args(["outbox", "run", "--database"])
                    .arg(format!("{url} application_name=bench-{n}"))
                    .args(["--server", &sink.addr.to_string()])
                    .args(["--tls", "none", "--insecure-plaintext", "--quiet"])
                    .args(["--concurrency", "8", "--batch", "64", "--poll", "1"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
            })
            .collect::<Result<_, _>>()?;
        let seconds = loop {
            let done: i64 = db
                .query_one(
                    "SELECT count(*) FROM smtpwire.outbox WHERE state = 'accepted'",
                    &[],
                )
                .await?
                .get(0);
            if done >= i64::from(total) {
                break started.elapsed().as_secs_f64();
            }
            if started.elapsed() > Duration::from_secs(1800) {
                return Err("not done in 30 minutes".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let worker_cpu: f64 = children.iter().map(|c| cpu_seconds(c.id())).sum();
        let backends: Vec<i32> = db
            .query(
                "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'bench-%'
                 AND datname = current_database()",
                &[],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let postgres_cpu: f64 = backends
            .iter()
            .map(|&pid| cpu_seconds(u32::try_from(pid).unwrap_or(0)))
            .sum();
        let mut db_wait = 0.0;
        for child in &mut children {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
        for child in children {
            let output = child.wait_with_output()?;
            let text = String::from_utf8_lossy(&output.stdout);
            // "… database waits 1.2s (summed over tasks) in 3.4s …"
            db_wait += text
                .split("database waits ")
                .nth(1)
                .and_then(|rest| rest.split('s').next())
                .and_then(|n| n.parse::<f64>().ok())
                .unwrap_or(0.0);
        }
        drop(sink);
        drop(db);
        admin_client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await?;
        println!(
            "{workers} worker(s): {total} messages in {seconds:.2}s = {:.0}/s",
            f64::from(total) / seconds
        );
        rows.push(Row {
            workers,
            seconds,
            worker_cpu,
            postgres_cpu,
            db_wait,
        });
    }
    println!();
    println!("| workers | messages/s | worker CPU s | PostgreSQL backends CPU s | database share of CPU | database wait per message |");
    println!("|---|---|---|---|---|---|");
    for row in &rows {
        println!(
            "| {} | {:.0} | {:.1} | {:.1} | {:.0}% | {:.2} ms |",
            row.workers,
            f64::from(total) / row.seconds,
            row.worker_cpu,
            row.postgres_cpu,
            100.0 * row.postgres_cpu / (row.postgres_cpu + row.worker_cpu).max(0.001),
            1000.0 * row.db_wait / f64::from(total),
        );
    }
    Ok(())
}
