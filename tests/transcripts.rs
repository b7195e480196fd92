//! Replays every `tests/transcripts/*.smtp` file against the pure session, byte for byte.
//!
//! A transcript is a list of lines:
//! * `S: text` — the server sends `text` CRLF; consecutive `S:` lines arrive in one read.
//!   `S| text` sends `text` with no CRLF added.
//! * `C: text` — the client must have sent `text` CRLF by the next server line or directive.
//! * `! config key=value …` — the session's configuration (first line).
//! * `! tls` — the session must ask for the TLS handshake now; it succeeds.
//! * `! mail FROM TO[,TO…] [size=N] [body=8bit|binary] [envid=X] [=> ERROR]` — starts a
//!   transaction (`-` is the null reverse-path); with `=> ERROR` it must be refused so.
//! * `! data TEXT` — the session must ask for data now; `TEXT` is written and finished.
//! * `! finished ID +accepted@x -rejected@x:CODE ~deferred@x … [continues]` — the next
//!   transaction outcome.
//! * `! error PHASE KIND [delivery=Unknown]` — the session must fail so.
//! * `! eof` — the server closes the connection (the driver calls `Session::fail`).
//! * `! quit`, `! noop`, `! ready`, `! closed`.
//!
//! Escapes in text: `\r`, `\n`, `\t`, `\\`, `\xNN`. Lines starting with `#` are comments.
//!
//! Each file runs twice: with each group of server lines in one read, and one byte at a time
//! (the session driven after every byte), unless it says `! config no-chunking`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::fs;
use std::path::Path;
use support::{describe, parse_config, unescape};

use smtpwire::address::Mailbox;
use smtpwire::envelope::{Body, Envelope, Recipient};
use smtpwire::session::{Action, Event, Session, TransactionOutcome};
use smtpwire::Error;

#[derive(Clone, Copy, PartialEq)]
enum Feed {
    Grouped,
    ByteByByte,
}

struct Runner {
    name: String,
    session: Session,
    expected: Vec<u8>,
    actual: Vec<u8>,
    last: Option<Result<Action, Error>>,
    finished: Vec<(u64, TransactionOutcome)>,
    feed: Feed,
    now: std::time::Instant,
    secrets: Vec<String>,
}

impl Runner {
    /// Drives the session until it waits for something: input, TLS, data, a command, or an end.
    fn drive(&mut self) {
        loop {
            let action = self.session.next_action(self.now);
            while let Some(event) = self.session.poll_event() {
                if let Event::TransactionFinished { id, outcome } = event {
                    self.finished.push((mail_id(id), outcome));
                }
            }
            match action {
                Ok(Action::Send(bytes)) => self.actual.extend_from_slice(&bytes),
                other => {
                    self.last = Some(other);
                    return;
                }
            }
        }
    }

    fn check_client(&self, line_no: usize) {
        assert_eq!(
            String::from_utf8_lossy(&self.actual),
            String::from_utf8_lossy(&self.expected),
            "{}:{line_no}: client bytes differ",
            self.name
        );
    }

    fn server(&mut self, bytes: &[u8], line_no: usize) {
        self.drive();
        self.check_client(line_no);
        match self.feed {
            Feed::Grouped => self.session.feed(bytes),
            Feed::ByteByByte => {
                for (i, byte) in bytes.iter().enumerate() {
                    self.session.feed(std::slice::from_ref(byte));
                    if i + 1 < bytes.len() {
                        self.drive();
                    }
                }
            }
        }
    }

    fn last_action(&self) -> String {
        match &self.last {
            Some(Ok(action)) => format!("{action:?}"),
            Some(Err(error)) => describe(error),
            None => String::from("nothing"),
        }
    }

    fn directive(&mut self, words: &[&str], line_no: usize) {
        let at = format!("{}:{line_no}", self.name);
        self.drive();
        self.check_client(line_no);
        match words {
            ["tls"] => {
                assert!(
                    matches!(self.last, Some(Ok(Action::StartTls))),
                    "{at}: expected StartTls, got {}",
                    self.last_action()
                );
                self.session.tls_established("TLSv1_3").unwrap();
            }
            ["mail", from, to, rest @ ..] => {
                let (options, error) = match rest.iter().position(|w| *w == "=>") {
                    Some(i) => (&rest[..i], Some(rest[i + 1..].join(" "))),
                    None => (rest, None),
                };
                let envelope = envelope(from, to, options);
                match (self.session.send_mail(envelope), error) {
                    (Ok(_), None) => {}
                    (Err(e), Some(expected)) => assert_eq!(describe(&e), expected, "{at}"),
                    (result, expected) => {
                        panic!("{at}: send_mail gave {result:?}, expected {expected:?}")
                    }
                }
            }
            ["data", ..] => {
                assert!(
                    matches!(self.last, Some(Ok(Action::SendData(_)))),
                    "{at}: expected SendData, got {}",
                    self.last_action()
                );
                let text = unescape(&words[1..].join(" "));
                // Uneven chunks, so the encoder's state is carried across writes.
                for chunk in text.chunks(7) {
                    self.session.write_data(chunk).unwrap();
                }
                self.session.finish_data().unwrap();
            }
            ["finished", id, expected @ ..] => {
                assert!(
                    !self.finished.is_empty(),
                    "{at}: no transaction finished; last {}",
                    self.last_action()
                );
                let (got_id, outcome) = self.finished.remove(0);
                assert_eq!(got_id.to_string(), *id, "{at}: mail id");
                let mut got: Vec<String> = outcome
                    .recipients()
                    .iter()
                    .map(|r| match (r.is_accepted(), r.reply()) {
                        (true, _) => format!("+{}", r.mailbox()),
                        (false, Some(reply)) => format!("-{}:{}", r.mailbox(), reply.code()),
                        (false, None) => format!("-{}:none", r.mailbox()),
                    })
                    .collect();
                got.extend(outcome.deferred().iter().map(|m| format!("~{m}")));
                if outcome.continues() {
                    got.push("continues".into());
                }
                assert_eq!(got.join(" "), expected.join(" "), "{at}: outcome");
            }
            ["error", expected @ ..] => {
                let got = self.last_action();
                assert_eq!(got, expected.join(" "), "{at}: error");
                self.check_no_secret(&got, &at);
            }
            ["eof"] => {
                let error = self.session.fail(smtpwire::ErrorKind::ConnectionClosed);
                self.check_no_secret(&error.to_string(), &at);
            }
            ["quit"] => self.session.quit().unwrap(),
            ["noop"] => self.session.noop().unwrap(),
            ["ready"] => assert!(
                matches!(self.last, Some(Ok(Action::Ready))),
                "{at}: expected Ready, got {}",
                self.last_action()
            ),
            ["closed"] => assert!(
                matches!(self.last, Some(Ok(Action::Closed))),
                "{at}: expected Closed, got {}",
                self.last_action()
            ),
            _ => panic!("{at}: unknown directive {words:?}"),
        }
    }

    fn check_no_secret(&self, text: &str, at: &str) {
        for secret in &self.secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{at}: secret {secret:?} leaked in {text:?}"
            );
        }
    }
}

fn mail_id(id: smtpwire::session::MailId) -> u64 {
    id.get()
}

fn envelope(from: &str, to: &str, options: &[&str]) -> Envelope {
    let from = (from != "-").then(|| Mailbox::parse(from).unwrap());
    let recipients = to
        .split(',')
        .map(|r| Recipient::new(Mailbox::parse(r).unwrap()));
    let mut envelope = Envelope::new(from, recipients).unwrap();
    for option in options {
        let (key, value) = option.split_once('=').unwrap();
        envelope = match key {
            "size" => envelope.with_size(value.parse().unwrap()),
            "body" if value == "8bit" => envelope.with_body(Body::EightBitMime),
            "body" if value == "binary" => envelope.with_body(Body::BinaryMime),
            "envid" => envelope.with_envid(value).unwrap(),
            _ => panic!("unknown mail option {option}"),
        };
    }
    envelope
}

fn run(path: &Path, feed: Feed) {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let text = fs::read_to_string(path).unwrap();
    let mut lines = text.lines().enumerate().peekable();
    let (config, options) = match lines.peek() {
        Some((_, line)) if line.starts_with("! config") => {
            let line = lines.next().unwrap().1;
            parse_config(line.trim_start_matches("! config"))
        }
        _ => parse_config(""),
    };
    if options.no_chunking && feed == Feed::ByteByByte {
        return;
    }
    let mut runner = Runner {
        name: format!(
            "{name} ({})",
            if feed == Feed::Grouped {
                "grouped"
            } else {
                "byte by byte"
            }
        ),
        session: Session::new(config),
        expected: Vec::new(),
        actual: Vec::new(),
        last: None,
        finished: Vec::new(),
        feed,
        now: std::time::Instant::now(),
        secrets: options.secrets,
    };
    let mut server_bytes: Vec<u8> = Vec::new();
    let mut server_line = 0;
    for (index, line) in lines {
        let line_no = index + 1;
        // An empty line of either side may lose its trailing space in an editor.
        let line = match line {
            "C:" => "C: ",
            "S:" => "S: ",
            line => line,
        };
        let server_line_now = line.starts_with("S:") || line.starts_with("S|");
        if !server_line_now && !server_bytes.is_empty() {
            runner.server(&std::mem::take(&mut server_bytes), server_line);
        }
        if let Some(rest) = line.strip_prefix("S: ") {
            server_line = line_no;
            server_bytes.extend(unescape(rest));
            server_bytes.extend_from_slice(b"\r\n");
        } else if let Some(rest) = line.strip_prefix("S| ") {
            server_line = line_no;
            server_bytes.extend(unescape(rest));
        } else if let Some(rest) = line.strip_prefix("C: ") {
            runner.expected.extend(unescape(rest));
            runner.expected.extend_from_slice(b"\r\n");
        } else if let Some(rest) = line.strip_prefix("C| ") {
            runner.expected.extend(unescape(rest));
        } else if let Some(rest) = line.strip_prefix("! ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            runner.directive(&words, line_no);
        } else if !(line.trim().is_empty() || line.starts_with('#')) {
            panic!("{name}:{line_no}: cannot read {line:?}");
        }
    }
    if !server_bytes.is_empty() {
        runner.server(&server_bytes, server_line);
    }
    runner.drive();
    runner.check_client(usize::MAX);
    assert!(
        runner.finished.is_empty(),
        "{}: unchecked outcomes {:?}",
        runner.name,
        runner.finished
    );
    // Nothing the session shows may contain a secret.
    let shown = format!(
        "{:?}\n{}\n{}",
        runner.session,
        runner
            .session
            .transcript()
            .map(|t| t.to_string())
            .unwrap_or_default(),
        runner.last_action()
    );
    runner.check_no_secret(&shown, &runner.name);
}

#[test]
fn transcripts() {
    let mut paths: Vec<_> =
        fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "smtp"))
            .collect();
    paths.sort();
    assert!(
        paths.len() >= 20,
        "expected the transcript corpus, found {}",
        paths.len()
    );
    for path in &paths {
        run(path, Feed::Grouped);
        run(path, Feed::ByteByByte);
    }
}

/// A connection that lives long keeps only the newest part of its dialogue: the transcript
/// is bounded, and says how much it dropped (a pooled connection once held 800,004 entries
/// after 100,000 messages).
#[test]
fn a_long_lived_session_keeps_a_bounded_transcript() {
    let (config, _) = parse_config("");
    let mut session = Session::new(config.with_transcript_limit(100));
    let now = std::time::Instant::now();
    let mut in_data = false;
    let mut sent = 0;
    loop {
        match session.next_action(now).unwrap() {
            Action::Send(bytes) => {
                // Answer every command line, as a pipelining server does.
                let mut replies = String::new();
                for line in String::from_utf8_lossy(&bytes).split("\r\n") {
                    let reply = match line {
                        "." if in_data => {
                            in_data = false;
                            "250 2.0.0 queued"
                        }
                        _ if in_data => continue,
                        l if l.starts_with("EHLO") => "250-mx.test\r\n250 PIPELINING",
                        "DATA" => {
                            in_data = true;
                            "354 go ahead"
                        }
                        "QUIT" => "221 bye",
                        l if l.starts_with("MAIL") || l.starts_with("RCPT") => "250 ok",
                        _ => continue,
                    };
                    replies.push_str(reply);
                    replies.push_str("\r\n");
                }
                session.feed(replies.as_bytes());
            }
            Action::Receive => session.feed(b"220 mx.test ESMTP\r\n"),
            Action::Ready if sent < 1000 => {
                sent += 1;
                session
                    .send_mail(envelope("a@x.test", "b@y.test", &[]))
                    .unwrap();
            }
            Action::Ready => session.quit().unwrap(),
            Action::SendData(_) => {
                session.write_data(b"Subject: x\r\n\r\nhi\r\n").unwrap();
                session.finish_data().unwrap();
            }
            Action::Closed => break,
            other => panic!("unexpected {other:?}"),
        }
        while session.poll_event().is_some() {}
    }
    let transcript = session.transcript().unwrap();
    assert_eq!(transcript.len(), 100);
    assert!(transcript.dropped() > 7_000, "{}", transcript.dropped());
    let text = transcript.to_string();
    assert!(text.contains("earlier entries not kept"), "{text}");
    assert!(
        text.contains("C: QUIT"),
        "the newest entries are kept: {text}"
    );
}
