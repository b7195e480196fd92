//! Reply parsing, framer and grammar together, against lettre's `Response` parser on the same
//! bytes. Run with `cargo bench --bench reply`.
//!
//! `smtpwire` reuses one framer, as a session does for its connection; `smtpwire, new framer`
//! also pays for setting one up, as each call of lettre's parser does.
#![allow(missing_docs, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, Criterion};
use lettre::transport::smtp::response::Response;
use smtpwire::reply::{Reply, ReplyFramer};
use std::hint::black_box;

const OK: &str = "250 2.0.0 Ok\r\n";

const EHLO: &str = "250-mail.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n\
                    250-ETRN\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n\
                    250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n";

fn long_reply(lines: usize) -> String {
    let mut wire: String = (1..lines)
        .map(|i| format!("250-5.7.1 line {i:03} of a long policy explanation\r\n"))
        .collect();
    wire.push_str("250 5.7.1 the end\r\n");
    wire
}

fn smtpwire(framer: &mut ReplyFramer, wire: &[u8]) -> Reply {
    framer.push(wire);
    framer.next_reply().expect("well-formed").expect("complete")
}

fn lettre(wire: &str) -> Response {
    wire.parse().expect("well-formed")
}

fn parse(c: &mut Criterion) {
    let long = long_reply(200);
    for (name, wire) in [
        ("single line", OK),
        ("ehlo 12 lines", EHLO),
        ("200 lines", &long),
    ] {
        let lines = wire.matches("\r\n").count();
        let mut framer = ReplyFramer::default();
        assert_eq!(smtpwire(&mut framer, wire.as_bytes()).lines().len(), lines);
        assert_eq!(lettre(wire).message().count(), lines);

        let mut group = c.benchmark_group(name);
        group.bench_function("smtpwire", |b| {
            b.iter(|| smtpwire(&mut framer, black_box(wire.as_bytes())))
        });
        group.bench_function("smtpwire, new framer", |b| {
            b.iter(|| smtpwire(&mut ReplyFramer::default(), black_box(wire.as_bytes())))
        });
        group.bench_function("lettre", |b| b.iter(|| lettre(black_box(wire))));
        group.finish();
    }
}

criterion_group!(benches, parse);
criterion_main!(benches);
