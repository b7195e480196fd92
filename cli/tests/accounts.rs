//! The accounts file end to end: a mistake in it never shows the password, a file others
//! could change is refused before anything in it is used, and `smtpwire accounts example`
//! prints a sample that the real loader accepts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "fixtures/common.rs"]
mod common;

use common::{assert_prints, outputs, smtpwire, succeeded, Sentinel};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Looks like an authorization code; no four characters of it appear in any normal output.
const SECRET: &str = "Qz8vKx3wJm5tYh2r";

/// Writes an accounts file with `mode` in a fresh private directory.
fn accounts_file(dir: &Path, text: &str, mode: u32) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// `send --account work` with the file, against a listener that must see no connection.
fn send_with(config: &Path, extra: &[&str]) -> std::process::Output {
    let sentinel = Sentinel::start();
    let output = smtpwire()
        .args(["send", "--account", "work", "--config"])
        .arg(config)
        .args(["--to", "b@example.com", "--text", "x"])
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(sentinel.connections(), 0);
    output
}

fn assert_no_part_of_the_secret(text: &str) {
    let chars: Vec<char> = SECRET.chars().collect();
    for window in chars.windows(4) {
        let piece: String = window.iter().collect();
        assert!(
            !text.contains(&piece),
            "{piece:?} of the password in:\n{text}"
        );
    }
}

#[test]
fn a_toml_mistake_is_told_by_line_and_key_without_the_password() {
    let head =
        "# my accounts\n[accounts.work]\nserver = \"127.0.0.1:1\"\nuser = \"me@example.com\"\n";
    let cases = [
        // A misspelt key: the parser quoted the whole line, password and all.
        (
            format!("{head}passwd = \"{SECRET}\"\n"),
            "line 5, column 1 (key passwd)",
        ),
        // An unterminated string.
        (format!("{head}password = \"{SECRET}\n"), "line 5, column"),
        // A value of the wrong type: serde's message quotes the value itself.
        (
            format!("{head}password = {}\n", 8_675_309_112_233_u64),
            "line 5, column 12 (key password)",
        ),
        // An unterminated multi-line string runs to the end of the file.
        (
            format!("{head}password = '''{SECRET}\n"),
            "line 6, column 1: invalid multiline",
        ),
    ];
    for (text, place) in cases {
        let dir = tempfile::tempdir().unwrap();
        let config = accounts_file(dir.path(), &text, 0o600);
        for json in [false, true] {
            let output = send_with(&config, if json { &["--json"] } else { &[] });
            let (stdout, stderr) = outputs(&output);
            assert_no_part_of_the_secret(&stdout);
            assert_no_part_of_the_secret(&stderr);
            assert!(!stdout.contains("8675309") && !stderr.contains("8675309"));
            assert_eq!(output.status.code(), Some(78), "{stdout}\n{stderr}");
            assert!(stderr.contains(place), "{place} in {stderr}");
            if json {
                let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
                assert_eq!(report["exit"], 78);
                assert!(report["error"]["message"].as_str().unwrap().contains(place));
            }
        }
    }
}

/// An account whose password command leaves a mark when it runs.
fn command_account(marker: &Path) -> String {
    format!(
        "[accounts.work]\nserver = \"127.0.0.1:1\"\nuser = \"me@example.com\"\n\
         password_cmd = \"touch {} && echo secret\"\n",
        marker.display()
    )
}

#[test]
fn an_accounts_file_others_can_change_is_refused_before_its_command_runs() {
    for mode in [0o620, 0o602, 0o666] {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let config = accounts_file(dir.path(), &command_account(&marker), mode);
        let output = send_with(&config, &[]);
        let (stdout, stderr) = outputs(&output);
        assert_eq!(
            output.status.code(),
            Some(78),
            "{mode:o}: {stdout}\n{stderr}"
        );
        assert!(stderr.contains("others can write to it"), "{stderr}");
        assert!(stderr.contains("chmod go-w"), "{stderr}");
        assert!(
            !marker.exists(),
            "the password command ran from an unsafe file"
        );
        // Not even a dry run uses it.
        let output = send_with(&config, &["--dry-run"]);
        assert_eq!(output.status.code(), Some(78), "{}", outputs(&output).1);
    }

    // In a directory others can write to, someone could swap the file.
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let config = accounts_file(dir.path(), &command_account(&marker), 0o600);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let output = send_with(&config, &[]);
    let (_, stderr) = outputs(&output);
    assert_eq!(output.status.code(), Some(78), "{stderr}");
    assert!(
        stderr.contains("others can write to its directory"),
        "{stderr}"
    );
    assert!(!marker.exists());
    // A sticky directory (like /tmp) is fine: others cannot replace what is yours there.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let output = send_with(&config, &[]);
    assert_ne!(output.status.code(), Some(78), "{}", outputs(&output).1);
    assert!(marker.exists(), "the command of a safe file runs");
}

#[test]
fn an_accounts_file_of_another_user_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let config = accounts_file(dir.path(), &command_account(&marker), 0o644);
    // Only root can give a file away; elsewhere there is nothing to test.
    let nobody = std::process::Command::new("chown")
        .arg("nobody")
        .arg(&config)
        .status();
    if !nobody.is_ok_and(|s| s.success()) || std::fs::metadata(&config).unwrap().uid() == 0 {
        eprintln!("skipping: cannot chown the file to another user");
        return;
    }
    let output = send_with(&config, &[]);
    let (_, stderr) = outputs(&output);
    assert_eq!(output.status.code(), Some(78), "{stderr}");
    assert!(stderr.contains("not to you"), "{stderr}");
    assert!(!marker.exists());
}

#[test]
fn a_literal_password_needs_a_file_only_its_owner_can_read() {
    let text = format!(
        "[accounts.work]\nserver = \"127.0.0.1:1\"\nuser = \"me@example.com\"\n\
         from = \"Me <me@example.com>\"\npassword = \"{SECRET}\"\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let config = accounts_file(dir.path(), &text, 0o644);
    let output = send_with(&config, &[]);
    let (stdout, stderr) = outputs(&output);
    assert_eq!(output.status.code(), Some(78), "{stderr}");
    assert!(stderr.contains("others can read it"), "{stderr}");
    assert!(stderr.contains("chmod 600"), "{stderr}");
    assert_no_part_of_the_secret(&stdout);
    assert_no_part_of_the_secret(&stderr);

    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let output = send_with(&config, &["--dry-run"]);
    let (stdout, stderr) = outputs(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("From: Me <me@example.com>"), "{stdout}");
    assert_no_part_of_the_secret(&stdout);
}

#[test]
fn the_printed_example_is_accepted_and_its_default_account_is_used() {
    let output = smtpwire().args(["accounts", "example"]).output().unwrap();
    let (example, stderr) = outputs(&output);
    assert!(output.status.success(), "{stderr}");
    // Where `send` looks by default.
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join("smtpwire")).unwrap();
    let config = accounts_file(&home.path().join("smtpwire"), &example, 0o600);

    let output = smtpwire()
        .env("XDG_CONFIG_HOME", home.path())
        .args(["accounts", "check"])
        .output()
        .unwrap();
    let (stdout, _) = succeeded(&output);
    for line in [
        "5 account(s)",
        "  default: smtp.qq.com:465 (implicit TLS), user 1234567@qq.com, from 张三 <1234567@qq.com>, password from $QQ_AUTH_CODE",
        "  163: smtp.163.com:25 (STARTTLS), user someone@163.com, password from its command",
        "  local: localhost:25 (opportunistic STARTTLS), from cron@localhost, password none (no AUTH)",
    ] {
        assert!(stdout.contains(line), "{line}\nin\n{stdout}");
    }
    assert!(
        stdout.contains("  work: smtp.corp.example:587 (STARTTLS)"),
        "{stdout}"
    );

    // With no server named, `send` takes the `default` account: a dry run shows its From.
    let output = smtpwire()
        .env("XDG_CONFIG_HOME", home.path())
        .args(["send", "--to", "b@example.com", "--text", "x", "--dry-run"])
        .output()
        .unwrap();
    let (stdout, stderr) = outputs(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("from <1234567@qq.com>"), "{stderr}");
    assert!(stdout.contains("From: =?UTF-8?"), "{stdout}");

    // The same file made writable by others is refused by `check` too.
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o664)).unwrap();
    let output = smtpwire()
        .args(["accounts", "check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(78), "{}", outputs(&output).1);
}

#[test]
fn help_points_to_the_accounts_example() {
    assert_prints(&["--help"], &["smtpwire accounts example"]);
    assert_prints(&["send", "--help"], &["accounts example"]);
}
