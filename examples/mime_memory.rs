//! Peak memory growth while a message with a 100 MiB file attachment is written out: once
//! to a counting sink, then sent with `Client::send_message` over loopback to Postfix's
//! `smtp-sink` (started here and stopped by its PID; skipped when it is not installed).
//!
//! `cargo run --release --example mime_memory` (Linux: the peak resident set size, `VmHWM`
//! from `/proc/self/status`, reset before each phase through `/proc/self/clear_refs`).

#[allow(dead_code, reason = "shared with the throughput benchmark")]
#[path = "throughput/sink.rs"]
mod sink;

use smtpwire::mime::{Attachment, Message};
use smtpwire::session::TlsPolicy;
use smtpwire::transport::{Client, ClientConfig};
use std::io::Write;

const SIZE: usize = 100 << 20;

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets the peak to the current resident set size and returns that.
fn reset_peak() -> Option<u64> {
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    status_kib("VmRSS:")
}

fn report(phase: &str, before: Option<u64>) {
    match (before, status_kib("VmHWM:")) {
        (Some(before), Some(after)) => println!(
            "{phase}: RSS before {before} KiB, peak {after} KiB: growth {} KiB ({:.2} MiB)",
            after.saturating_sub(before),
            after.saturating_sub(before) as f64 / 1024.0
        ),
        _ => println!("{phase}: peak RSS is only measured on Linux; use /usr/bin/time -v"),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path =
        std::env::temp_dir().join(format!("smtpwire-mime-memory-{}.bin", std::process::id()));
    let mut file = std::fs::File::create(&path)?;
    let block: Vec<u8> = (0..1 << 20)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    for _ in 0..SIZE / block.len() {
        file.write_all(&block)?;
    }
    drop(file);
    let result = measure(&path).await;
    std::fs::remove_file(&path)?;
    result
}

async fn measure(path: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let message = Message::builder()
        .from("张三 <zhangsan@qq.com>")
        .to("李四 <lisi@163.com>")
        .subject("100 MiB")
        .text("附件很大。")
        .attach(Attachment::from_file(path).file_name("大文件.bin"))
        .build()?;
    println!(
        "attachment: {} MiB, message: {} bytes",
        SIZE >> 20,
        message.encoded_len()
    );

    let before = reset_peak();
    let mut written = 0u64;
    message.write_to(&mut CountingSink(&mut written))?;
    report(&format!("write_to ({written} bytes)"), before);

    let sink = match sink::Sink::start(true) {
        Ok(sink) => sink,
        Err(error) => {
            println!("send_message: skipped ({error})");
            return Ok(());
        }
    };
    let config = ClientConfig::new("127.0.0.1", sink.addr.port())
        .map_session(|session| session.with_tls_policy(TlsPolicy::Plaintext));
    let before = reset_peak();
    let mut client = Client::connect(config).await?;
    let sent = client.send_message(&message).await?;
    client.quit().await?;
    report(
        &format!("send_message to smtp-sink ({} message bytes)", sent.bytes()),
        before,
    );
    let pid = sink.pid;
    sink.stop()?;
    println!("stopped smtp-sink pid {pid}");
    Ok(())
}

/// Counts what is written and drops it, like a socket would take it away.
struct CountingSink<'a>(&'a mut u64);

impl Write for CountingSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        *self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
