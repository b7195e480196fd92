//! The pool's own cost per message, with the network taken out: the mailer over an in-memory
//! server that accepts everything, with no rate limiter and with one that never has to wait.
//! The difference is what the rate limiter costs a sender that stays under its limit.
//!
//! Over real sockets see `examples/pool_throughput.rs`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use smtpwire::address::Mailbox;
use smtpwire::envelope::{Envelope, Recipient};
use smtpwire::pool::{Mailer, Rate, RetryPolicy};
use smtpwire::session::{SessionConfig, TlsPolicy};
use smtpwire::transport::ClientConfig;
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream};

#[path = "../tests/pool_support/in_memory.rs"]
mod in_memory;
use in_memory::{InMemory, Serve};

/// A server that accepts every message.
struct Accepting;

impl Serve for Accepting {
    fn serve(&self, stream: DuplexStream) -> impl Future<Output = ()> + Send + 'static {
        serve(stream)
    }
}

async fn serve(stream: DuplexStream) {
    let mut stream = BufReader::new(stream);
    let _ = stream.write_all(b"220 bench ESMTP\r\n").await;
    let mut line = Vec::new();
    let mut data = false;
    loop {
        line.clear();
        if stream.read_until(b'\n', &mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let reply: &[u8] = if data {
            if line != b".\r\n" {
                continue;
            }
            data = false;
            b"250 2.0.0 Ok: queued as BENCH\r\n"
        } else if line.starts_with(b"EHLO") {
            b"250-bench\r\n250 PIPELINING\r\n"
        } else if line.starts_with(b"DATA") {
            data = true;
            b"354 go ahead\r\n"
        } else if line.starts_with(b"QUIT") {
            b"221 bye\r\n"
        } else {
            b"250 2.0.0 Ok\r\n"
        };
        if stream.write_all(reply).await.is_err() {
            return;
        }
    }
}

fn mailer(rate: Option<Rate>) -> Mailer<InMemory<Accepting>> {
    let config =
        ClientConfig::new("bench.test", 25).with_session(SessionConfig::new(TlsPolicy::Plaintext));
    let mut builder = Mailer::builder(config)
        .connector(InMemory(Accepting))
        .max_connections(1)
        .retry(RetryPolicy::never());
    if let Some(rate) = rate {
        builder = builder.message_rate(rate).recipient_rate(rate);
    }
    builder.build()
}

fn pool(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let envelope = Envelope::new(
        Some(Mailbox::parse("bench@x.test").unwrap()),
        [Recipient::new(Mailbox::parse("sink@y.test").unwrap())],
    )
    .unwrap();
    let mut message = b"Subject: bench\r\n\r\n".to_vec();
    while message.len() < 1024 {
        message.extend_from_slice(&[b'x'; 62]);
        message.extend_from_slice(b"\r\n");
    }
    message.truncate(1024);

    let mut group = c.benchmark_group("pool_send_1KiB_in_memory");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(5));
    let never_waits = Rate::per_second(u32::MAX);
    for (name, rate) in [
        ("no_rate_limit", None),
        ("rate_limit_never_reached", Some(never_waits)),
    ] {
        let mailer = mailer(rate);
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                runtime.block_on(async {
                    let started = Instant::now();
                    for _ in 0..iterations {
                        mailer.send(envelope.clone(), &message).await.unwrap();
                    }
                    started.elapsed()
                })
            });
        });
    }
    group.finish();
}

criterion_group!(benches, pool);
criterion_main!(benches);
