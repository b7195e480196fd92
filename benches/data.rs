//! Throughput of [`DataEncoder`] on a 64 MiB body, against lettre's dot-stuffer.
//!
//! lettre's `ClientCodec` is private (lettre 0.11.23), so its `encode` is copied below as is;
//! it only stuffs, with no line-ending normalisation and no checks, so it is a floor for what
//! a byte-at-a-time encoder costs.

#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use smtpwire::data::{DataEncoder, Framing, LineEndings};
use std::time::Duration;

const BODY_LEN: usize = 64 << 20;
/// The chunk size a transport would write per call.
const CHUNK_LEN: usize = 64 << 10;

/// 76-octet lines of base64-like text, every 50th starting with `.`.
fn body(line_ending: &[u8]) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut body = Vec::with_capacity(BODY_LEN + 80);
    let mut line_number = 0usize;
    while body.len() < BODY_LEN {
        let line = (0..76).map(|at| {
            if at == 0 && line_number % 50 == 0 {
                b'.'
            } else {
                ALPHABET[(line_number * 7 + at) % ALPHABET.len()]
            }
        });
        body.extend(line);
        body.extend_from_slice(line_ending);
        line_number += 1;
    }
    body
}

fn encode(body: &[u8], line_endings: LineEndings, wire: &mut Vec<u8>) {
    wire.clear();
    let mut encoder = DataEncoder::new(Framing::Data, line_endings);
    for chunk in body.chunks(CHUNK_LEN) {
        encoder.encode(chunk, wire).unwrap();
    }
    encoder.finish(wire).unwrap();
}

fn lettre_encode(body: &[u8], wire: &mut Vec<u8>) {
    wire.clear();
    let mut codec = lettre_codec::ClientCodec::new();
    for chunk in body.chunks(CHUNK_LEN) {
        codec.encode(chunk, wire);
    }
    wire.extend_from_slice(b"\r\n.\r\n");
}

fn data(c: &mut Criterion) {
    let crlf_body = body(b"\r\n");
    let lf_body = body(b"\n");
    let mut wire = Vec::with_capacity(BODY_LEN * 11 / 10);

    let mut group = c.benchmark_group("data");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Bytes(BODY_LEN as u64));
    for (name, body, line_endings) in [
        ("crlf-strict", &crlf_body, LineEndings::Strict),
        ("crlf-normalize", &crlf_body, LineEndings::Normalize),
        ("lf-normalize", &lf_body, LineEndings::Normalize),
    ] {
        group.bench_function(BenchmarkId::new("smtpwire", name), |b| {
            b.iter(|| encode(black_box(body), line_endings, &mut wire));
        });
    }
    group.bench_function(BenchmarkId::new("lettre", "crlf"), |b| {
        b.iter(|| lettre_encode(black_box(&crlf_body), &mut wire));
    });
    group.finish();
}

criterion_group!(benches, data);
criterion_main!(benches);

/// lettre 0.11.23, `src/transport/smtp/client/mod.rs` (MIT), unchanged but for visibility.
mod lettre_codec {
    #[derive(Debug)]
    pub(super) struct ClientCodec {
        status: CodecStatus,
    }

    impl ClientCodec {
        pub(super) fn new() -> Self {
            Self {
                status: CodecStatus::StartOfNewLine,
            }
        }

        pub(super) fn encode(&mut self, frame: &[u8], buf: &mut Vec<u8>) {
            for &b in frame {
                buf.push(b);
                match (b, self.status) {
                    (b'\r', _) => {
                        self.status = CodecStatus::StartingNewLine;
                    }
                    (b'\n', CodecStatus::StartingNewLine) => {
                        self.status = CodecStatus::StartOfNewLine;
                    }
                    (_, CodecStatus::StartingNewLine) => {
                        self.status = CodecStatus::MiddleOfLine;
                    }
                    (b'.', CodecStatus::StartOfNewLine) => {
                        self.status = CodecStatus::MiddleOfLine;
                        buf.push(b'.');
                    }
                    (_, CodecStatus::StartOfNewLine) => {
                        self.status = CodecStatus::MiddleOfLine;
                    }
                    _ => {}
                }
            }
        }
    }

    #[derive(Debug, Copy, Clone)]
    #[allow(clippy::enum_variant_names)]
    enum CodecStatus {
        MiddleOfLine,
        StartingNewLine,
        StartOfNewLine,
    }
}
