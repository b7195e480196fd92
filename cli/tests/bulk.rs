//! `smtpwire bulk` end to end: bad input is listed by line before anything is sent, the
//! outcome log makes a re-run skip what was accepted and list what may have been delivered,
//! and a run killed mid-way then resumed delivers every message exactly once (checked in
//! Postfix's Maildir). Real-server tests skip without the servers of `scripts/test-servers.sh`,
//! except under `CI=true`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "fixtures/common.rs"]
mod common;

use common::{
    assert_contains, binary, exited, messages_file, outputs, server_dropping_after_data, servers,
    smtpwire, succeeded, token, Sentinel,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

fn message(key: &str, token: &str) -> Value {
    json!({
        "message_id": key,
        "from": "tester@smtpwire.test",
        "to": "tester@smtpwire.test",
        "subject": format!("bulk {key}"),
        "text": format!("token {token}\nmessage {key}\n"),
    })
}

/// A temporary directory with `messages.jsonl`, messages whose keys begin with a fresh token,
/// and the path for their outcome log.
struct Batch {
    /// Removed with the batch.
    _dir: tempfile::TempDir,
    token: String,
    messages: PathBuf,
    keys: Vec<String>,
    log: PathBuf,
}

impl Batch {
    fn new(count: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let token = token();
        let keys: Vec<String> = (0..count).map(|i| format!("{token}-{i}")).collect();
        let messages: Vec<Value> = keys.iter().map(|key| message(key, &token)).collect();
        Self {
            messages: messages_file(dir.path(), &messages),
            log: dir.path().join("out.jsonl"),
            _dir: dir,
            token,
            keys,
        }
    }

    /// Runs `bulk` to `address` with `extra` on these messages, logging outcomes.
    fn run(&self, address: &str, extra: &[&str]) -> Output {
        bulk(address, extra, &self.messages, Some(&self.log))
    }

    /// The arguments of [`Batch::run`].
    fn args(&self, address: &str, extra: &[&str]) -> Vec<OsString> {
        bulk_args(address, extra, &self.messages, Some(&self.log))
    }

    /// Starts [`Batch::run`] in the background, its output going to `output()`.
    fn spawn(&self, address: &str, extra: &[&str], output: fn() -> Stdio) -> Child {
        binary()
            .args(self.args(address, extra))
            .stdout(output())
            .stderr(output())
            .spawn()
            .unwrap()
    }
}

/// The arguments of `bulk` to `address` without TLS: `extra`, then the messages and, if given,
/// the outcome log.
fn bulk_args(address: &str, extra: &[&str], messages: &Path, log: Option<&Path>) -> Vec<OsString> {
    let mut args: Vec<OsString> = ["bulk"]
        .iter()
        .chain(&common::plain(address))
        .chain(extra)
        .chain(&["--messages"])
        .map(OsString::from)
        .collect();
    args.push(messages.into());
    if let Some(log) = log {
        args.extend(["--outcomes".into(), log.into()]);
    }
    args
}

/// Runs [`bulk_args`] to its end.
fn bulk(address: &str, extra: &[&str], messages: &Path, log: Option<&Path>) -> Output {
    smtpwire()
        .args(bulk_args(address, extra, messages, log))
        .output()
        .unwrap()
}

/// The last outcome of each message_id in the log.
fn log_states(path: &Path) -> BTreeMap<String, String> {
    let mut states = BTreeMap::new();
    let bytes = std::fs::read(path).unwrap_or_default();
    for line in bytes.split(|&b| b == b'\n') {
        let Ok(value) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        let key = value["message_id"].as_str().unwrap().to_owned();
        let outcome = value["outcome"].as_str().unwrap().to_owned();
        states.insert(key, outcome);
    }
    states
}

/// How many messages the log holds with `outcome`.
fn count(states: &BTreeMap<String, String>, outcome: &str) -> usize {
    states.values().filter(|s| *s == outcome).count()
}

/// Waits (up to 30 s) until the log holds `accepted` accepted messages.
fn wait_for_accepted(log: &Path, accepted: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&log_states(log), "accepted") < accepted && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every one of `keys` arrived exactly once in the Maildir.
fn assert_each_arrived_once(maildir: &Path, token: &str, keys: &[String]) {
    let counts = common::settled_maildir_counts(maildir, token, keys.len());
    for key in keys {
        assert_eq!(
            counts.get(&key.to_ascii_lowercase()),
            Some(&1),
            "{key}: {counts:?}"
        );
    }
}

/// Runs `bulk` on a file of these lines against a listener that must see no connection: it
/// must exit 65 and start no outcome log. Returns its standard error.
fn refused_lines(lines: &[String]) -> String {
    let sentinel = Sentinel::start();
    let dir = tempfile::tempdir().unwrap();
    let path = lines_file(dir.path(), lines);
    let (_, stderr) = exited(&bulk(&sentinel.address, &[], &path, None), 65);
    assert_eq!(sentinel.connections(), 0);
    assert!(!dir.path().join("m.jsonl.outcomes.jsonl").exists());
    stderr
}

#[test]
fn invalid_lines_are_listed_with_their_line_numbers_and_nothing_is_sent() {
    let token = token();
    let stderr = refused_lines(&[
        message("a", &token).to_string(),
        "{not json".to_owned(),
        message("b", &token).to_string(),
        json!({"message_id": "c", "from": "tester@smtpwire.test", "subject": "no one", "text": "x"})
            .to_string(),
        message("a", &token).to_string(),
        json!({"from": "tester@smtpwire.test", "to": "x@smtpwire.test", "subject": "s", "text": "x"})
            .to_string(),
    ]);
    assert_contains(
        &stderr,
        &[
            "nothing was sent",
            "m.jsonl:2: message: not valid JSON",
            "m.jsonl:4:",
            "m.jsonl:5: message_id",
            "m.jsonl:6: message_id: required",
        ],
    );
    assert!(
        !stderr.contains("m.jsonl:1:") && !stderr.contains("m.jsonl:3:"),
        "{stderr}"
    );
}

#[test]
fn a_started_line_without_a_result_is_reported_unknown_and_not_resent() {
    let sentinel = Sentinel::start();
    let batch = Batch::new(3);
    let lines = [
        json!({"message_id": batch.keys[0], "outcome": "started"}),
        json!({"message_id": batch.keys[1], "outcome": "started"}),
        json!({"message_id": batch.keys[1], "outcome": "accepted", "attempts": 1}),
        json!({"message_id": batch.keys[2], "outcome": "started"}),
        json!({"message_id": batch.keys[2], "outcome": "unknown", "attempts": 1}),
    ];
    let mut text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    text.push_str("{\"message_id\": \"cut short"); // a crash in the middle of a line
    std::fs::write(&batch.log, &text).unwrap();
    let output = batch.run(&sentinel.address, &[]);
    let (stdout, _) = exited(&output, 79);
    assert_contains(
        &stdout,
        &[
            &format!("? {}", batch.keys[0]),
            &format!("? {}", batch.keys[2]),
            "--resend-unknown",
            "nothing to send",
        ],
    );
    assert!(
        !stdout.contains(&format!("? {}", batch.keys[1])),
        "{stdout}"
    );
    assert_eq!(sentinel.connections(), 0, "nothing may be sent");
    assert_eq!(
        std::fs::read_to_string(&batch.log).unwrap(),
        text,
        "log untouched"
    );
}

#[test]
fn a_connection_lost_after_the_data_is_logged_unknown_and_never_retried() {
    let address = server_dropping_after_data();
    let batch = Batch::new(1);
    let run = || batch.run(&address, &["--retries", "3"]);
    exited(&run(), 79);
    assert_eq!(log_states(&batch.log)[&batch.keys[0]], "unknown");
    let record: Value = std::fs::read_to_string(&batch.log)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["outcome"] == "unknown")
        .unwrap();
    assert_eq!(record["attempts"], 1, "{record}");
    assert_eq!(record["recipients"][0]["status"], "unknown", "{record}");
    // The dropping server took its one connection; a re-run must not even try.
    let (stdout, _) = exited(&run(), 79);
    assert_contains(
        &stdout,
        &[&format!("? {}", batch.keys[0]), "nothing to send"],
    );
}

#[test]
fn twenty_messages_are_sent_and_logged_and_a_rerun_sends_nothing() {
    let Some(servers) = servers() else { return };
    let batch = Batch::new(20);
    let extra = ["--concurrency", "3", "--rate", "200/s"];
    let run = || batch.run(&servers.plain, &extra);
    let (stdout, _) = succeeded(&run());
    assert!(stdout.contains("sent 20: 20 accepted"), "{stdout}");
    let states = log_states(&batch.log);
    assert_eq!(states.len(), 20);
    assert!(states.values().all(|s| s == "accepted"), "{states:?}");
    for line in std::fs::read_to_string(&batch.log).unwrap().lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        if record["outcome"] == "accepted" {
            assert!(record["queue_id"].is_string(), "{record}");
            assert_eq!(record["attempts"], 1, "{record}");
            assert!(record["recipients"][0]["reply"]
                .as_str()
                .unwrap()
                .starts_with("250"));
        }
    }

    let (stdout, _) = succeeded(&run());
    assert_contains(
        &stdout,
        &["nothing to send", "20 of 20 messages already done"],
    );
    assert_each_arrived_once(&servers.maildir, &batch.token, &batch.keys);
}

#[test]
fn a_run_killed_mid_way_and_resumed_delivers_every_message_once() {
    let Some(servers) = servers() else { return };
    let batch = Batch::new(200);
    let extra = ["--concurrency", "4", "--rate", "60/s"];
    let mut child = batch.spawn(&servers.plain, &extra, Stdio::null);
    // Kill it (SIGKILL, by its PID) once a fair part is done.
    wait_for_accepted(&batch.log, 50);
    child.kill().unwrap();
    let _ = child.wait();
    let first = log_states(&batch.log);
    let accepted_first = count(&first, "accepted");
    let in_flight = count(&first, "started");
    assert!(
        (50..200).contains(&accepted_first),
        "killed too late or too early: {accepted_first}"
    );

    let output = batch.run(&servers.plain, &["--concurrency", "4"]);
    let (stdout, stderr) = outputs(&output);
    let states = log_states(&batch.log);
    let unknown: Vec<&String> = states
        .iter()
        .filter(|(_, s)| *s == "started" || *s == "unknown")
        .map(|(k, _)| k)
        .collect();
    let accepted = count(&states, "accepted");
    assert_eq!(unknown.len(), in_flight, "{stdout}");
    assert_eq!(accepted + unknown.len(), 200, "{stdout}\n{stderr}");
    let expected = if unknown.is_empty() { 0 } else { 79 };
    assert_eq!(output.status.code(), Some(expected), "{stdout}\n{stderr}");
    for key in &unknown {
        assert!(stdout.contains(&format!("? {key}")), "{stdout}");
    }

    let counts = common::settled_maildir_counts(&servers.maildir, &batch.token, accepted);
    let mut unknown_delivered = 0;
    for key in &batch.keys {
        let count = counts.get(&key.to_ascii_lowercase()).copied().unwrap_or(0);
        if unknown.contains(&key) {
            assert!(count <= 1, "{key} arrived {count} times");
            unknown_delivered += count;
        } else {
            assert_eq!(count, 1, "{key} arrived {count} times");
        }
    }
    eprintln!(
        "crash-resume: first run accepted {accepted_first} and left {in_flight} in flight when killed; \
         the re-run sent {} more; server received {} distinct, 0 duplicates; \
         {} reported unknown ({unknown_delivered} of them had in fact arrived)",
        accepted - accepted_first,
        counts.len(),
        unknown.len()
    );
}

#[test]
fn ctrl_c_finishes_the_messages_in_flight_and_a_rerun_sends_the_rest() {
    let Some(servers) = servers() else { return };
    let batch = Batch::new(80);
    let extra = ["--concurrency", "4", "--rate", "20/s"];
    let child = batch.spawn(&servers.plain, &extra, Stdio::piped);
    wait_for_accepted(&batch.log, 10);
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (stdout, stderr) = exited(&child.wait_with_output().unwrap(), 75);
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(
        stdout.contains("not started (run the same command again)"),
        "{stdout}"
    );
    let states = log_states(&batch.log);
    assert!(
        states.values().all(|s| s == "accepted"),
        "every message in flight finished: {states:?}"
    );
    let first = states.len();
    assert!(first < 80, "interrupted too late: {first}");

    let (stdout, _) = succeeded(&batch.run(&servers.plain, &[]));
    assert!(
        stdout.contains(&format!("sent {}: {} accepted", 80 - first, 80 - first)),
        "{stdout}"
    );
    assert_each_arrived_once(&servers.maildir, &batch.token, &batch.keys);
}

#[test]
fn a_directory_of_message_files_is_sent_in_name_order() {
    let Some(servers) = servers() else { return };
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox");
    std::fs::create_dir(&outbox).unwrap();
    let token = token();
    for i in 0..3 {
        std::fs::write(
            outbox.join(format!("{i}.json")),
            message(&format!("{token}-{i}"), &token).to_string(),
        )
        .unwrap();
    }
    std::fs::write(outbox.join("notes.txt"), "not a message").unwrap();
    let log = dir.path().join("out.jsonl");
    let output = bulk(&servers.plain, &["--concurrency", "1"], &outbox, Some(&log));
    let (stdout, _) = succeeded(&output);
    let order: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("✓ "))
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (0..3).map(|i| format!("{token}-{i}")).collect();
    assert_eq!(order, expected, "{stdout}");
    let counts = common::settled_maildir_counts(&servers.maildir, &token, 3);
    assert_eq!(counts.len(), 3, "{counts:?}");
}

/// A plain SMTP server on loopback that takes every message and keeps its data. The first
/// connection is held before its greeting until `release` is called, so that a test can act
/// while a run is in the middle of sending.
struct Recorder {
    address: String,
    messages: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    connected: std::sync::mpsc::Receiver<()>,
    release: std::sync::mpsc::Sender<()>,
}

impl Recorder {
    fn start(hold_first: bool) -> Self {
        use std::sync::mpsc::channel;
        use std::sync::{Arc, Mutex};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let (connected_tx, connected) = channel();
        let (release, release_rx) = channel::<()>();
        let kept = Arc::clone(&messages);
        std::thread::spawn(move || {
            let mut release_rx = Some(release_rx);
            for stream in listener.incoming().flatten() {
                let _ = connected_tx.send(());
                let hold = if hold_first { release_rx.take() } else { None };
                let kept = Arc::clone(&kept);
                std::thread::spawn(move || {
                    if let Some(hold) = hold {
                        let _ = hold.recv_timeout(Duration::from_secs(60));
                    }
                    let _ = Self::serve(stream, &kept);
                });
            }
        });
        Self {
            address,
            messages,
            connected,
            release,
        }
    }

    fn serve(
        stream: std::net::TcpStream,
        kept: &std::sync::Mutex<Vec<String>>,
    ) -> std::io::Result<()> {
        use std::io::{BufRead, BufReader, Write};
        let mut writer = stream.try_clone()?;
        let mut reader = BufReader::new(stream);
        writer.write_all(b"220 recorder ESMTP\r\n")?;
        let mut line = String::new();
        // The message being received, between DATA and its final dot.
        let mut data: Option<String> = None;
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if let Some(message) = data.as_mut() {
                if line == ".\r\n" {
                    kept.lock().unwrap().extend(data.take());
                    writer.write_all(b"250 2.0.0 ok\r\n")?;
                } else {
                    message.push_str(&line);
                }
                continue;
            }
            let command = line.trim_end().to_ascii_uppercase();
            if command.starts_with("EHLO") {
                writer.write_all(b"250-recorder\r\n250 8BITMIME\r\n")?;
            } else if command == "DATA" {
                writer.write_all(b"354 go ahead\r\n")?;
                data = Some(String::new());
            } else if command == "QUIT" {
                writer.write_all(b"221 bye\r\n")?;
                return Ok(());
            } else {
                writer.write_all(b"250 ok\r\n")?;
            }
        }
    }

    /// Waits (up to a minute) for the next connection.
    fn wait_for_connection(&self) {
        self.connected
            .recv_timeout(Duration::from_secs(60))
            .expect("no connection");
    }

    /// How many times each message arrived, by the key in its Message-ID.
    fn counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for data in self.messages.lock().unwrap().iter() {
            let id = data
                .lines()
                .find_map(|l| l.strip_prefix("Message-ID: <"))
                .and_then(|rest| rest.split_once('@'))
                .map(|(key, _)| key.to_owned())
                .unwrap_or_default();
            *counts.entry(id).or_insert(0) += 1;
        }
        counts
    }
}

#[test]
fn a_second_run_on_the_same_log_is_refused_while_the_first_holds_it() {
    let server = Recorder::start(true);
    let batch = Batch::new(3);
    let command = || {
        let mut command = binary();
        command
            .args(batch.args(&server.address, &["--concurrency", "1"]))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    };
    // The first run has logged its first message as started and waits for the greeting.
    let first = command().spawn().unwrap();
    server.wait_for_connection();
    let second = command().output().unwrap();
    let (stdout, stderr) = outputs(&second);
    server.release.send(()).unwrap();
    let first = first.wait_with_output().unwrap();
    let counts = server.counts();
    for key in &batch.keys {
        assert_eq!(counts.get(key), Some(&1), "{key}: {counts:?}\n{stdout}");
    }
    succeeded(&first);
    assert_eq!(second.status.code(), Some(75), "{stdout}\n{stderr}");
    assert!(stderr.contains("in use by another"), "{stderr}");
    assert!(
        !stdout.contains('✓'),
        "the second run sent something: {stdout}"
    );
    assert!(log_states(&batch.log).values().all(|s| s == "accepted"));
}

#[test]
fn a_log_line_cut_inside_a_utf8_character_is_skipped_like_a_cut_ascii_line() {
    let server = Recorder::start(false);
    let batch = Batch::new(2);
    let mut bytes = Vec::new();
    for line in [
        json!({"message_id": batch.keys[0], "outcome": "started"}),
        json!({"message_id": batch.keys[0], "outcome": "accepted", "attempts": 1}),
        json!({"message_id": batch.keys[1], "outcome": "started"}),
    ] {
        bytes.extend_from_slice(format!("{line}\n").as_bytes());
    }
    // A crash while writing a Chinese reply: the line ends after the first byte of "箱".
    let cut = json!({"message_id": batch.keys[1], "outcome": "unknown",
        "error": "550 邮箱不可用"})
    .to_string();
    let at = cut.find('箱').unwrap() + 1;
    bytes.extend_from_slice(&cut.as_bytes()[..at]);
    std::fs::write(&batch.log, &bytes).unwrap();
    let unreadable = "ignoring unreadable line(s) [4]";
    let (stdout, stderr) = exited(&batch.run(&server.address, &[]), 79);
    assert!(stderr.contains(unreadable), "{stderr}");
    assert_contains(
        &stdout,
        &[&format!("? {}", batch.keys[1]), "nothing to send"],
    );
    assert!(server.counts().is_empty());
    assert_eq!(std::fs::read(&batch.log).unwrap(), bytes, "log untouched");

    let output = batch.run(&server.address, &["--resend-unknown"]);
    let (stdout, stderr) = succeeded(&output);
    assert!(stderr.contains(unreadable), "{stderr}");
    assert!(stdout.contains("sent 1: 1 accepted"), "{stdout}");
    assert_eq!(
        server.counts(),
        BTreeMap::from([(batch.keys[1].clone(), 1)]),
        "only the unknown message is sent again"
    );
    assert_eq!(log_states(&batch.log)[&batch.keys[1]], "accepted");
}

/// A `m.jsonl` in `dir` with these lines.
fn lines_file(dir: &Path, lines: &[String]) -> PathBuf {
    let path = dir.join("m.jsonl");
    std::fs::write(&path, lines.join("\n")).unwrap();
    path
}

/// A message of `token` numbered `i` from inline templates, filled from `payload`.
fn templated(token: &str, i: usize, subject: &str, text: &str, payload: Value) -> Value {
    json!({
        "message_id": format!("{token}-{i}"),
        "from": "tester@smtpwire.test",
        "to": "tester@smtpwire.test",
        "subject": subject,
        "text": text,
        "payload": payload,
    })
}

#[test]
fn inline_text_html_and_subject_are_templates_filled_from_the_payload() {
    let server = Recorder::start(false);
    let dir = tempfile::tempdir().unwrap();
    let token = token();
    let names = ["张三", "<Li & Si>"];
    let lines: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut line = templated(
                &token,
                i,
                "Order {{order.id}} for {{name}}",
                "Hello {{name}}, order {{order.id}} has shipped.",
                json!({"name": name, "order": {"id": 1000 + i}}),
            );
            line["html"] = json!("<p>Hello {{name}}</p>");
            line.to_string()
        })
        .collect();
    let path = lines_file(dir.path(), &lines);
    succeeded(&bulk(&server.address, &["--concurrency", "1"], &path, None));
    let messages = server.messages.lock().unwrap().clone();
    assert_eq!(messages.len(), 2);
    for (i, name) in names.iter().enumerate() {
        let data = messages
            .iter()
            .find(|m| m.contains(&format!("{token}-{i}@")))
            .unwrap();
        let parsed = mail_parser::MessageParser::default()
            .parse(data.as_bytes())
            .unwrap();
        let id = 1000 + i;
        assert_eq!(
            parsed.subject(),
            Some(format!("Order {id} for {name}").as_str())
        );
        assert_eq!(
            parsed.body_text(0).unwrap().trim_end(),
            format!("Hello {name}, order {id} has shipped.")
        );
        let html = parsed.body_html(0).unwrap();
        assert!(html.contains("<p>Hello ") && !html.contains("{{"), "{html}");
        if name.contains('<') {
            assert!(
                html.contains("&lt;Li &amp; Si&gt;"),
                "escaped in HTML: {html}"
            );
        }
    }

    // `send --message` reads the same form: the same file line makes the same message.
    let single = dir.path().join("one.json");
    std::fs::write(&single, &lines[0]).unwrap();
    let output = smtpwire()
        .args(["send", "--dry-run", "--message"])
        .arg(&single)
        .output()
        .unwrap();
    succeeded(&output);
    let parsed = mail_parser::MessageParser::default()
        .parse(output.stdout.as_slice())
        .unwrap();
    assert_eq!(parsed.subject(), Some("Order 1000 for 张三"));
    assert_eq!(
        parsed.body_text(0).unwrap().trim_end(),
        "Hello 张三, order 1000 has shipped."
    );
}

#[test]
fn a_placeholder_without_a_value_in_inline_text_is_an_error_reported_once_per_kind() {
    let token = token();
    let mut lines: Vec<String> = (0..203)
        .map(|i| {
            let mut line = templated(&token, i, "hi", "Hello {{name}}", json!({"nom": "x"}));
            line["colour"] = json!("blue");
            line.to_string()
        })
        .collect();
    // One line with its own problem, in the middle.
    lines.insert(100, "{not json".to_owned());
    let stderr = refused_lines(&lines);
    assert_eq!(
        stderr.matches("{{name}} has no value").count(),
        1,
        "folded into one line: {stderr}"
    );
    assert_eq!(stderr.matches("colour").count(), 1, "{stderr}");
    assert_contains(
        &stderr,
        &[
            "m.jsonl:1-100,102-204 (203 lines): text: line 1: {{name}} has no value",
            "m.jsonl:101: message: not valid JSON",
        ],
    );
    assert!(stderr.lines().count() < 10, "{stderr}");
}
