//! Peak memory growth while writing a message with a 100 MiB file attachment.
//!
//! `cargo run --release --example mime_memory` (Linux: reads the peak resident set size,
//! `VmHWM`, from `/proc/self/status`; `/usr/bin/time -v` reports the same figure).

use smtpwire::mime::{Attachment, Message};
use std::io::Write;

const SIZE: usize = 100 << 20;

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
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

    let before = peak_rss_kib();
    let message = Message::builder()
        .from("张三 <zhangsan@qq.com>")
        .to("李四 <lisi@163.com>")
        .subject("100 MiB")
        .text("附件很大。")
        .attach(Attachment::from_file(&path).file_name("大文件.bin"))
        .build()?;
    let mut written = 0u64;
    let mut counter = CountingSink(&mut written);
    message.write_to(&mut counter)?;
    let after = peak_rss_kib();
    std::fs::remove_file(&path)?;

    println!(
        "attachment: {} MiB, message: {written} bytes (announced {})",
        SIZE >> 20,
        message.encoded_len()
    );
    match (before, after) {
        (Some(before), Some(after)) => println!(
            "peak RSS before {before} KiB, after {after} KiB: growth {} KiB ({:.2} MiB)",
            after - before,
            (after - before) as f64 / 1024.0
        ),
        _ => println!("peak RSS is only measured on Linux; use /usr/bin/time -v"),
    }
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
