//! Throughput of the pooled mailer: 1 KiB messages per second to a local `smtp-sink` with 1, 2
//! and 4 connections, and the rate limiter's cost when it never has to wait.
//!
//! ```sh
//! cargo run --release --example pool_throughput            # 10,000 messages per run
//! cargo run --release --example pool_throughput -- 50000
//! ```
//!
//! Each configuration runs five times and reports the median. The machine's load average is
//! printed alongside: on a shared machine the absolute numbers move, the ratios less so.

#[path = "support/smtp_sink.rs"]
mod smtp_sink;

use smtp_sink::SmtpSink;
use smtpwire::address::Mailbox;
use smtpwire::envelope::{Envelope, Recipient};
use smtpwire::pool::{Mailer, Rate, RetryPolicy};
use smtpwire::session::TlsPolicy;
use smtpwire::transport::ClientConfig;
use std::error::Error;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Tasks per connection: enough that a connection never waits for work.
const TASKS_PER_CONNECTION: usize = 4;
const RUNS: usize = 5;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let messages: usize = std::env::args().nth(1).map_or(Ok(10_000), |n| n.parse())?;
    let sink = SmtpSink::start(false).await?;
    println!(
        "{messages} messages of 1 KiB per run, median of {RUNS} runs; smtp-sink at {}; load average {}",
        sink.addr,
        load_average()
    );
    println!("| connections | msgs/s |");
    println!("|---|---|");
    for connections in [1, 2, 4] {
        let mut rates = Vec::new();
        for _ in 0..RUNS {
            rates.push(run(sink.addr, connections, None, messages).await?);
        }
        println!("| {connections} | {:.0} |", median(rates));
    }
    // Without a limiter and with one that never waits, run in turns so that a change in the
    // machine's load hits both alike.
    println!();
    println!("| connections | no rate limit | limit never reached | difference |");
    println!("|---|---|---|---|");
    let unlimited = Some(Rate::per_second(u32::MAX));
    for connections in [1, 4] {
        let (mut without, mut with) = (Vec::new(), Vec::new());
        for _ in 0..RUNS {
            without.push(run(sink.addr, connections, None, messages).await?);
            with.push(run(sink.addr, connections, unlimited, messages).await?);
        }
        let (without, with) = (median(without), median(with));
        println!(
            "| {connections} | {without:.0} | {with:.0} | {:+.1} % |",
            (with / without - 1.0) * 100.0
        );
    }
    println!("load average after: {}", load_average());
    Ok(())
}

fn median(mut rates: Vec<f64>) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates.get(rates.len() / 2).copied().unwrap_or_default()
}

/// Messages per second over one run, connections opened beforehand excluded.
async fn run(
    addr: SocketAddr,
    connections: usize,
    rate: Option<Rate>,
    messages: usize,
) -> Result<f64, Box<dyn Error>> {
    let config = ClientConfig::new("127.0.0.1", addr.port())
        .map_session(|session| session.with_tls_policy(TlsPolicy::Plaintext));
    let mut builder = Mailer::builder(config)
        .max_connections(connections)
        .retry(RetryPolicy::never());
    if let Some(rate) = rate {
        builder = builder.message_rate(rate).recipient_rate(rate);
    }
    let mailer = builder.build();
    let envelope = Envelope::new(
        Some(Mailbox::parse("bench@smtpwire.test")?),
        [Recipient::new(Mailbox::parse("sink@smtpwire.test")?)],
    )?;
    let message = Arc::new(message());
    // Warm up: open every connection before the clock starts.
    let warm: Vec<_> = (0..connections)
        .map(|_| {
            let (mailer, envelope, message) = (mailer.clone(), envelope.clone(), message.clone());
            tokio::spawn(async move { mailer.send(envelope, &message).await.map(|_| ()) })
        })
        .collect();
    for task in warm {
        task.await??;
    }

    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections * TASKS_PER_CONNECTION)
        .map(|_| {
            let (mailer, envelope, message, next) = (
                mailer.clone(),
                envelope.clone(),
                message.clone(),
                next.clone(),
            );
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < messages {
                    mailer.send(envelope.clone(), &message).await?;
                }
                Ok::<_, smtpwire::Error>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed();
    mailer.close().await;
    Ok(messages as f64 / elapsed.as_secs_f64())
}

fn message() -> Vec<u8> {
    let mut message =
        b"From: <bench@smtpwire.test>\r\nTo: <sink@smtpwire.test>\r\nSubject: bench\r\n\r\n"
            .to_vec();
    while message.len() < 1022 {
        message.push(b'x');
        if message.len() % 78 == 0 {
            message.extend_from_slice(b"\r\n");
        }
    }
    message.truncate(1022);
    message.extend_from_slice(b"\r\n");
    message
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
