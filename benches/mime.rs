//! MIME encoding throughput for a message with a 10 MiB attachment: ours against the raw
//! `base64` crate (the floor any encoder pays) and against lettre's builder.
//!
//! `cargo bench --bench mime`; compare the reported throughputs.

#![allow(clippy::expect_used, missing_docs)] // A benchmark: a failure should stop it loudly; criterion generates undocumented items.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

const SIZE: usize = 10 << 20;

fn payload() -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..SIZE)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u8
        })
        .collect()
}

fn ours(data: &[u8]) -> Vec<u8> {
    smtpwire::mime::Message::builder()
        .from("张三 <zhangsan@qq.com>")
        .to("李四 <lisi@163.com>")
        .subject("季度报告")
        .text("请查收附件。")
        .attach(smtpwire::mime::Attachment::from_bytes(
            "报告.pdf",
            data.to_vec(),
        ))
        .build()
        .expect("valid message")
        .to_bytes()
        .expect("in memory")
}

fn lettre(data: &[u8]) -> Vec<u8> {
    use lettre::message::{header::ContentType, Attachment, MultiPart, SinglePart};
    lettre::Message::builder()
        .from("张三 <zhangsan@qq.com>".parse().expect("valid"))
        .to("李四 <lisi@163.com>".parse().expect("valid"))
        .subject("季度报告")
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain(String::from("请查收附件。")))
                .singlepart(Attachment::new(String::from("报告.pdf")).body(
                    data.to_vec(),
                    ContentType::parse("application/pdf").expect("valid"),
                )),
        )
        .expect("valid message")
        .formatted()
}

fn raw_base64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

fn bench(c: &mut Criterion) {
    let data = payload();
    let mut group = c.benchmark_group("10MiB attachment");
    group.throughput(Throughput::Bytes(SIZE as u64));
    group.sample_size(20);
    group.bench_function("raw base64 crate", |b| {
        b.iter(|| raw_base64(black_box(&data)))
    });
    group.bench_function("smtpwire", |b| b.iter(|| ours(black_box(&data))));
    group.bench_function("lettre", |b| b.iter(|| lettre(black_box(&data))));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
