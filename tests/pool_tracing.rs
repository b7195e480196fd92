//! With the `tracing` feature, the mailer's events come out as `tracing` events inside a span
//! per send and per connection: `cargo test --features tracing --test pool_tracing`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod pool_support;

use pool_support::*;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Keeps span names and each event's fields as text.
#[derive(Clone, Default)]
struct Capture {
    lines: Arc<Mutex<Vec<String>>>,
    next_id: Arc<AtomicU64>,
}

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = Fields(format!("span {}", span.metadata().name()));
        span.record(&mut fields);
        self.lines.lock().unwrap().push(fields.0);
        Id::from_u64(self.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(format!("event {}", event.metadata().target()));
        event.record(&mut fields);
        self.lines.lock().unwrap().push(fields.0);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

#[tokio::test(start_paused = true)]
async fn events_and_spans_without_secrets() {
    const PASSWORD: &str = "wvkfmhzqjdpxnbta";
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let config = config_with_password("user@x.test", PASSWORD);
    let server = Scripted::new();
    server.then(
        [
            vec![GREETING, EHLO_AUTH, "235 2.7.0 ok"],
            deliver(1, "250 2.0.0 Ok: queued as Q1"),
        ]
        .concat(),
    );
    let mailer = mailer_with(config, &server).build();
    send(&mailer, &["b@y.test"]).await.unwrap();

    let lines = capture.lines.lock().unwrap().join("\n");
    for expected in [
        "span smtpwire.send host=mx.test",
        "span smtpwire.connect host=mx.test port=25",
        "event smtpwire::pool::events message=connected",
        "message=authenticated",
        "message=recipient accepted",
        "queue_id=\"Q1\"",
        "message=send finished accepted=1 rejected=0 not_sent=0 unknown=0 attempts=1",
    ] {
        assert!(lines.contains(expected), "no {expected:?} in\n{lines}");
    }
    assert!(!lines.contains(PASSWORD), "{lines}");
}
