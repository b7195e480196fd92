//! `smtpwire bulk` end to end: bad input is listed by line before anything is sent, the
//! outcome log makes a re-run skip what was accepted and list what may have been delivered,
//! and a run killed mid-way then resumed delivers every message exactly once (checked in
//! Postfix's Maildir). Real-server tests skip without the servers of `scripts/test-servers.sh`,
//! except under `CI=true`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "fixtures/common.rs"]
mod common;

use common::{outputs, server_dropping_after_data, servers, smtpwire, token, Sentinel};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

fn message(key: &str, token: &str) -> String {
    json!({
        "message_id": key,
        "from": "tester@smtpwire.test",
        "to": "tester@smtpwire.test",
        "subject": format!("bulk {key}"),
        "text": format!("token {token}\nmessage {key}\n"),
    })
    .to_string()
}

fn write_messages(dir: &Path, token: &str, count: usize) -> (std::path::PathBuf, Vec<String>) {
    let keys: Vec<String> = (0..count).map(|i| format!("{token}-{i}")).collect();
    let mut text = String::new();
    for key in &keys {
        text.push_str(&message(key, token));
        text.push('\n');
    }
    let path = dir.join("messages.jsonl");
    std::fs::write(&path, text).unwrap();
    (path, keys)
}

fn plain(address: &str) -> Vec<String> {
    ["--server", address, "--tls", "none", "--insecure-plaintext"]
        .map(String::from)
        .to_vec()
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

/// How many times each message_id of `token` arrived in the Maildir, by its Message-ID.
fn delivered_counts(maildir: &Path, token: &str) -> HashMap<String, usize> {
    let recent = SystemTime::now() - Duration::from_secs(900);
    let mut counts = HashMap::new();
    for sub in ["new", "cur"] {
        for entry in std::fs::read_dir(maildir.join(sub))
            .into_iter()
            .flatten()
            .flatten()
        {
            if !entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= recent)
            {
                continue;
            }
            let text = String::from_utf8_lossy(&std::fs::read(entry.path()).unwrap_or_default())
                .into_owned();
            for line in text.lines() {
                let lower = line.to_ascii_lowercase();
                if let Some(rest) = lower.strip_prefix("message-id:") {
                    let id = rest.trim().trim_start_matches('<');
                    if let Some((key, _)) = id.split_once('@') {
                        if key.starts_with(&token.to_ascii_lowercase()) {
                            *counts.entry(key.to_owned()).or_insert(0) += 1;
                        }
                    }
                    break;
                }
            }
        }
    }
    counts
}

/// Waits until at least `at_least` messages of `token` arrived and the count stays still.
fn settled_counts(maildir: &Path, token: &str, at_least: usize) -> HashMap<String, usize> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = 0;
    let mut still = 0;
    loop {
        let counts = delivered_counts(maildir, token);
        let total: usize = counts.values().sum();
        if total >= at_least && total == last {
            still += 1;
            if still >= 10 {
                return counts;
            }
        } else {
            still = 0;
        }
        last = total;
        if Instant::now() > deadline {
            return counts;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn invalid_lines_are_listed_with_their_line_numbers_and_nothing_is_sent() {
    let sentinel = Sentinel::start();
    let dir = tempfile::tempdir().unwrap();
    let token = token();
    let lines = [
        message("a", &token),
        "{not json".to_owned(),
        message("b", &token),
        json!({"message_id": "c", "from": "tester@smtpwire.test", "subject": "no one", "text": "x"})
            .to_string(),
        message("a", &token),
        json!({"from": "tester@smtpwire.test", "to": "x@smtpwire.test", "subject": "s", "text": "x"})
            .to_string(),
    ];
    let path = dir.path().join("m.jsonl");
    std::fs::write(&path, lines.join("\n")).unwrap();
    let output = smtpwire()
        .arg("bulk")
        .args(plain(&sentinel.address))
        .arg("--messages")
        .arg(&path)
        .output()
        .unwrap();
    let (stdout, stderr) = outputs(&output);
    assert_eq!(output.status.code(), Some(65), "{stdout}\n{stderr}");
    assert!(stderr.contains("nothing was sent"), "{stderr}");
    assert!(
        stderr.contains("m.jsonl:2: message: not valid JSON"),
        "{stderr}"
    );
    assert!(stderr.contains("m.jsonl:4:"), "{stderr}");
    assert!(stderr.contains("m.jsonl:5: message_id"), "{stderr}");
    assert!(
        stderr.contains("m.jsonl:6: message_id: required"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("m.jsonl:1:") && !stderr.contains("m.jsonl:3:"),
        "{stderr}"
    );
    assert_eq!(sentinel.connections(), 0);
    assert!(!dir.path().join("m.jsonl.outcomes.jsonl").exists());
}

#[test]
fn a_started_line_without_a_result_is_reported_unknown_and_not_resent() {
    let sentinel = Sentinel::start();
    let dir = tempfile::tempdir().unwrap();
    let token = token();
    let (path, keys) = write_messages(dir.path(), &token, 3);
    let log = dir.path().join("out.jsonl");
    let lines = [
        json!({"message_id": keys[0], "outcome": "started"}),
        json!({"message_id": keys[1], "outcome": "started"}),
        json!({"message_id": keys[1], "outcome": "accepted", "attempts": 1}),
        json!({"message_id": keys[2], "outcome": "started"}),
        json!({"message_id": keys[2], "outcome": "unknown", "attempts": 1}),
    ];
    let mut text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    text.push_str("{\"message_id\": \"cut short"); // a crash in the middle of a line
    std::fs::write(&log, &text).unwrap();
    let output = smtpwire()
        .arg("bulk")
        .args(plain(&sentinel.address))
        .arg("--messages")
        .arg(&path)
        .arg("--outcomes")
        .arg(&log)
        .output()
        .unwrap();
    let (stdout, stderr) = outputs(&output);
    assert_eq!(output.status.code(), Some(79), "{stdout}\n{stderr}");
    assert!(stdout.contains(&format!("? {}", keys[0])), "{stdout}");
    assert!(stdout.contains(&format!("? {}", keys[2])), "{stdout}");
    assert!(!stdout.contains(&format!("? {}", keys[1])), "{stdout}");
    assert!(stdout.contains("--resend-unknown"), "{stdout}");
    assert!(stdout.contains("nothing to send"), "{stdout}");
    assert_eq!(sentinel.connections(), 0, "nothing may be sent");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        text,
        "log untouched"
    );
}

#[test]
fn a_connection_lost_after_the_data_is_logged_unknown_and_never_retried() {
    let address = server_dropping_after_data();
    let dir = tempfile::tempdir().unwrap();
    let token = token();
    let (path, keys) = write_messages(dir.path(), &token, 1);
    let log = dir.path().join("out.jsonl");
    let run = || {
        smtpwire()
            .arg("bulk")
            .args(plain(&address))
            .args(["--retries", "3", "--messages"])
            .arg(&path)
            .arg("--outcomes")
            .arg(&log)
            .output()
            .unwrap()
    };
    let output = run();
    let (stdout, stderr) = outputs(&output);
    assert_eq!(output.status.code(), Some(79), "{stdout}\n{stderr}");
    assert_eq!(log_states(&log)[&keys[0]], "unknown");
    let record: Value = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["outcome"] == "unknown")
        .unwrap();
    assert_eq!(record["attempts"], 1, "{record}");
    assert_eq!(record["recipients"][0]["status"], "unknown", "{record}");
    // The dropping server took its one connection; a re-run must not even try.
    let again = run();
    let (stdout, stderr) = outputs(&again);
    assert_eq!(again.status.code(), Some(79), "{stdout}\n{stderr}");
    assert!(stdout.contains(&format!("? {}", keys[0])), "{stdout}");
    assert!(stdout.contains("nothing to send"), "{stdout}");
}

#[test]
fn twenty_messages_are_sent_and_logged_and_a_rerun_sends_nothing() {
    let Some(servers) = servers() else { return };
    let dir = tempfile::tempdir().unwrap();
    let token = token();
    let (path, keys) = write_messages(dir.path(), &token, 20);
    let log = dir.path().join("out.jsonl");
    let run = || {
        smtpwire()
            .arg("bulk")
            .args(plain(&servers.plain))
            .args(["--concurrency", "3", "--rate", "200/s", "--messages"])
            .arg(&path)
            .arg("--outcomes")
            .arg(&log)
            .output()
            .unwrap()
    };
    let output = run();
    let (stdout, stderr) = outputs(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("sent 20: 20 accepted"), "{stdout}");
    let states = log_states(&log);
    assert_eq!(states.len(), 20);
    assert!(states.values().all(|s| s == "accepted"), "{states:?}");
    for line in std::fs::read_to_string(&log).unwrap().lines() {
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

    let again = run();
    let (stdout, stderr) = outputs(&again);
    assert!(again.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("nothing to send"), "{stdout}");
    assert!(
        stdout.contains("20 of 20 messages already done"),
        "{stdout}"
    );

    let counts = settled_counts(&servers.maildir, &token, 20);
    for key in &keys {
        assert_eq!(
            counts.get(&key.to_ascii_lowercase()),
            Some(&1),
            "{key}: {counts:?}"
        );
    }
}

#[test]
fn a_run_killed_mid_way_and_resumed_delivers_every_message_once() {
    let Some(servers) = servers() else { return };
    let dir = tempfile::tempdir().unwrap();
    let token = token();
    let (path, keys) = write_messages(dir.path(), &token, 200);
    let log = dir.path().join("out.jsonl");
    let home = std::env::temp_dir().join("smtpwire-cli-tests-empty-home");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_smtpwire"))
        .env("HOME", &home)
        .env_remove("SMTPWIRE_PASSWORD")
        .arg("bulk")
        .args(plain(&servers.plain))
        .args(["--concurrency", "4", "--rate", "60/s", "--messages"])
        .arg(&path)
        .arg("--outcomes")
        .arg(&log)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it (SIGKILL, by its PID) once a fair part is done.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let done = log_states(&log)
            .values()
            .filter(|s| *s == "accepted")
            .count();
        if done >= 50 || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    let _ = child.wait();
    let first = log_states(&log);
    let accepted_first = first.values().filter(|s| *s == "accepted").count();
    let in_flight = first.values().filter(|s| *s == "started").count();
    assert!(
        (50..200).contains(&accepted_first),
        "killed too late or too early: {accepted_first}"
    );

    let output = smtpwire()
        .arg("bulk")
        .args(plain(&servers.plain))
        .args(["--concurrency", "4", "--messages"])
        .arg(&path)
        .arg("--outcomes")
        .arg(&log)
        .output()
        .unwrap();
    let (stdout, stderr) = outputs(&output);
    let states = log_states(&log);
    let unknown: Vec<&String> = states
        .iter()
        .filter(|(_, s)| *s == "started" || *s == "unknown")
        .map(|(k, _)| k)
        .collect();
    let accepted = states.values().filter(|s| *s == "accepted").count();
    assert_eq!(unknown.len(), in_flight, "{stdout}");
    assert_eq!(accepted + unknown.len(), 200, "{stdout}\n{stderr}");
    let expected = if unknown.is_empty() { 0 } else { 79 };
    assert_eq!(output.status.code(), Some(expected), "{stdout}\n{stderr}");
    for key in &unknown {
        assert!(stdout.contains(&format!("? {key}")), "{stdout}");
    }

    let counts = settled_counts(&servers.maildir, &token, accepted);
    let mut unknown_delivered = 0;
    for key in &keys {
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
    let dir = tempfile::tempdir().unwrap();
    let token = token();
    let (path, keys) = write_messages(dir.path(), &token, 80);
    let log = dir.path().join("out.jsonl");
    let home = std::env::temp_dir().join("smtpwire-cli-tests-empty-home");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_smtpwire"))
        .env("HOME", &home)
        .arg("bulk")
        .args(plain(&servers.plain))
        .args(["--concurrency", "4", "--rate", "20/s", "--messages"])
        .arg(&path)
        .arg("--outcomes")
        .arg(&log)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while log_states(&log)
        .values()
        .filter(|s| *s == "accepted")
        .count()
        < 10
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let (stdout, stderr) = outputs(&output);
    assert_eq!(output.status.code(), Some(75), "{stdout}\n{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(
        stdout.contains("not started (run the same command again)"),
        "{stdout}"
    );
    let states = log_states(&log);
    assert!(
        states.values().all(|s| s == "accepted"),
        "every message in flight finished: {states:?}"
    );
    let first = states.len();
    assert!(first < 80, "interrupted too late: {first}");

    let output = smtpwire()
        .arg("bulk")
        .args(plain(&servers.plain))
        .arg("--messages")
        .arg(&path)
        .arg("--outcomes")
        .arg(&log)
        .output()
        .unwrap();
    let (stdout, stderr) = outputs(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("sent {}: {} accepted", 80 - first, 80 - first)),
        "{stdout}"
    );
    let counts = settled_counts(&servers.maildir, &token, 80);
    for key in &keys {
        assert_eq!(
            counts.get(&key.to_ascii_lowercase()),
            Some(&1),
            "{key}: {counts:?}"
        );
    }
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
            message(&format!("{token}-{i}"), &token),
        )
        .unwrap();
    }
    std::fs::write(outbox.join("notes.txt"), "not a message").unwrap();
    let log = dir.path().join("out.jsonl");
    let output = smtpwire()
        .arg("bulk")
        .args(plain(&servers.plain))
        .args(["--concurrency", "1", "--messages"])
        .arg(&outbox)
        .arg("--outcomes")
        .arg(&log)
        .output()
        .unwrap();
    let (stdout, stderr) = outputs(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let order: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("✓ "))
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (0..3).map(|i| format!("{token}-{i}")).collect();
    assert_eq!(order, expected, "{stdout}");
    let counts = settled_counts(&servers.maildir, &token, 3);
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
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let command = line.trim_end().to_ascii_uppercase();
            if command.starts_with("EHLO") {
                writer.write_all(b"250-recorder\r\n250 8BITMIME\r\n")?;
            } else if command == "DATA" {
                writer.write_all(b"354 go ahead\r\n")?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line)? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    data.push_str(&line);
                }
                kept.lock().unwrap().push(data);
                writer.write_all(b"250 2.0.0 ok\r\n")?;
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
    let dir = tempfile::tempdir().unwrap();
    let token = token();
    let (path, keys) = write_messages(dir.path(), &token, 3);
    let log = dir.path().join("out.jsonl");
    let command = || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_smtpwire"));
        command
            .env(
                "HOME",
                std::env::temp_dir().join("smtpwire-cli-tests-empty-home"),
            )
            .env_remove("SMTPWIRE_PASSWORD")
            .arg("bulk")
            .args(plain(&server.address))
            .args(["--concurrency", "1", "--messages"])
            .arg(&path)
            .arg("--outcomes")
            .arg(&log)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        command
    };
    // The first run has logged its first message as started and waits for the greeting.
    let first = command().spawn().unwrap();
    server.wait_for_connection();
    let second = command().output().unwrap();
    let (stdout, stderr) = outputs(&second);
    server.release.send(()).unwrap();
    let first = first.wait_with_output().unwrap();
    let (first_out, first_err) = outputs(&first);
    let counts = server.counts();
    for key in &keys {
        assert_eq!(counts.get(key), Some(&1), "{key}: {counts:?}\n{stdout}");
    }
    assert!(first.status.success(), "{first_out}\n{first_err}");
    assert_eq!(second.status.code(), Some(75), "{stdout}\n{stderr}");
    assert!(stderr.contains("in use by another"), "{stderr}");
    assert!(
        !stdout.contains('✓'),
        "the second run sent something: {stdout}"
    );
    assert!(log_states(&log).values().all(|s| s == "accepted"));
}

#[test]
fn a_log_line_cut_inside_a_utf8_character_is_skipped_like_a_cut_ascii_line() {
    let server = Recorder::start(false);
    let dir = tempfile::tempdir().unwrap();
    let token = token();
    let (path, keys) = write_messages(dir.path(), &token, 2);
    let log = dir.path().join("out.jsonl");
    let mut bytes = Vec::new();
    for line in [
        json!({"message_id": keys[0], "outcome": "started"}),
        json!({"message_id": keys[0], "outcome": "accepted", "attempts": 1}),
        json!({"message_id": keys[1], "outcome": "started"}),
    ] {
        bytes.extend_from_slice(format!("{line}\n").as_bytes());
    }
    // A crash while writing a Chinese reply: the line ends after the first byte of "箱".
    let cut = json!({"message_id": keys[1], "outcome": "unknown",
        "error": "550 邮箱不可用"})
    .to_string();
    let at = cut.find('箱').unwrap() + 1;
    bytes.extend_from_slice(&cut.as_bytes()[..at]);
    std::fs::write(&log, &bytes).unwrap();
    let run = |extra: &[&str]| {
        smtpwire()
            .arg("bulk")
            .args(plain(&server.address))
            .args(extra)
            .arg("--messages")
            .arg(&path)
            .arg("--outcomes")
            .arg(&log)
            .output()
            .unwrap()
    };
    let output = run(&[]);
    let (stdout, stderr) = outputs(&output);
    assert_eq!(output.status.code(), Some(79), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("ignoring unreadable line(s) [4]"),
        "{stderr}"
    );
    assert!(stdout.contains(&format!("? {}", keys[1])), "{stdout}");
    assert!(stdout.contains("nothing to send"), "{stdout}");
    assert!(server.counts().is_empty());
    assert_eq!(std::fs::read(&log).unwrap(), bytes, "log untouched");

    let output = run(&["--resend-unknown"]);
    let (stdout, stderr) = outputs(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("ignoring unreadable line(s) [4]"),
        "{stderr}"
    );
    assert!(stdout.contains("sent 1: 1 accepted"), "{stdout}");
    assert_eq!(
        server.counts(),
        BTreeMap::from([(keys[1].clone(), 1)]),
        "only the unknown message is sent again"
    );
    assert_eq!(log_states(&log)[&keys[1]], "accepted");
}

#[test]
fn inline_text_html_and_subject_are_templates_filled_from_the_payload() {
    let server = Recorder::start(false);
    let dir = tempfile::tempdir().unwrap();
    let token = token();
    let mut text = String::new();
    let names = ["张三", "<Li & Si>"];
    for (i, name) in names.iter().enumerate() {
        let line = json!({
            "message_id": format!("{token}-{i}"),
            "from": "tester@smtpwire.test",
            "to": "tester@smtpwire.test",
            "subject": "Order {{order.id}} for {{name}}",
            "text": "Hello {{name}}, order {{order.id}} has shipped.",
            "html": "<p>Hello {{name}}</p>",
            "payload": {"name": name, "order": {"id": 1000 + i}},
        });
        text.push_str(&format!("{line}\n"));
    }
    let path = dir.path().join("m.jsonl");
    std::fs::write(&path, &text).unwrap();
    let output = smtpwire()
        .arg("bulk")
        .args(plain(&server.address))
        .args(["--concurrency", "1", "--messages"])
        .arg(&path)
        .output()
        .unwrap();
    let (stdout, stderr) = outputs(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
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
    std::fs::write(&single, text.lines().next().unwrap()).unwrap();
    let output = smtpwire()
        .args(["send", "--dry-run", "--message"])
        .arg(&single)
        .output()
        .unwrap();
    let (stdout, stderr) = outputs(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
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
    let sentinel = Sentinel::start();
    let dir = tempfile::tempdir().unwrap();
    let token = token();
    let mut text = String::new();
    for i in 0..203 {
        let line = json!({
            "message_id": format!("{token}-{i}"),
            "from": "tester@smtpwire.test",
            "to": "tester@smtpwire.test",
            "subject": "hi",
            "text": "Hello {{name}}",
            "payload": {"nom": "x"},
            "colour": "blue",
        });
        text.push_str(&format!("{line}\n"));
    }
    // One line with its own problem, in the middle.
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(100, "{not json");
    let path = dir.path().join("m.jsonl");
    std::fs::write(&path, lines.join("\n")).unwrap();
    let output = smtpwire()
        .arg("bulk")
        .args(plain(&sentinel.address))
        .arg("--messages")
        .arg(&path)
        .output()
        .unwrap();
    let (stdout, stderr) = outputs(&output);
    assert_eq!(output.status.code(), Some(65), "{stdout}\n{stderr}");
    assert_eq!(sentinel.connections(), 0);
    assert_eq!(
        stderr.matches("{{name}} has no value").count(),
        1,
        "folded into one line: {stderr}"
    );
    assert_eq!(stderr.matches("colour").count(), 1, "{stderr}");
    assert!(
        stderr.contains("m.jsonl:1-100,102-204 (203 lines): text: line 1: {{name}} has no value"),
        "{stderr}"
    );
    assert!(
        stderr.contains("m.jsonl:101: message: not valid JSON"),
        "{stderr}"
    );
    assert!(stderr.lines().count() < 10, "{stderr}");
}
