//! `smtpwire sendmail`, and the binary run as `sendmail`, driven by clients nobody here wrote
//! (`git send-email`, mutt) and the way cron calls it, against the private Postfix of
//! `scripts/test-servers.sh`; what arrived is read back from its Maildir. The exact envelope
//! parameters are checked against a scripted server.
//!
//! Without the servers, or without git-email and mutt (see `.ci/install-test-servers.sh`),
//! these tests skip with a message, except under `CI=true`, where they fail.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "fixtures/common.rs"]
mod common;

use common::scripted;

use assert_cmd::Command;
use common::{assert_contains, delivered, exited, outputs, servers, succeeded, token, Servers};
use mail_parser::{MessageParser, MimeHeaders};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

/// A home with an accounts file whose `default` account is Postfix's submission port, and the
/// binary linked as `bin/sendmail`, as a system would install it.
struct Installed {
    dir: tempfile::TempDir,
    password: String,
}

impl Installed {
    fn new(servers: &Servers) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("home/.config/smtpwire");
        std::fs::create_dir_all(&config).unwrap();
        std::fs::write(
            config.join("config.toml"),
            format!(
                "[accounts.default]\nserver = {:?}\nca_file = {:?}\nuser = {:?}\n\
                 password_env = \"TEST_SECRET\"\nfrom = {:?}\nlogfile = \"~/sendmail.log\"\n",
                common::by_name(&servers.submission),
                servers.ca,
                servers.user,
                servers.user,
            ),
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        std::os::unix::fs::symlink(
            env!("CARGO_BIN_EXE_smtpwire"),
            dir.path().join("bin/sendmail"),
        )
        .unwrap();
        Self {
            dir,
            password: servers.password.clone(),
        }
    }

    fn sendmail(&self) -> PathBuf {
        self.dir.path().join("bin/sendmail")
    }

    /// Runs the installed `sendmail` (as [`Installed::command`] runs programs) with `args`
    /// and the message on standard input.
    fn sendmail_with(&self, args: &[&str], message: impl Into<Vec<u8>>) -> Output {
        let mut command = self.command(self.sendmail());
        command.args(args).write_stdin(message).output().unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("home/sendmail.log")).unwrap_or_default()
    }

    /// `program` with this home, the account's password in its variable and nothing else of
    /// the caller's mail setup.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let home = self.dir.path().join("home");
        let mut command = Command::new(program);
        command
            .current_dir(self.dir.path())
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("TEST_SECRET", &self.password)
            .env_remove("SMTPWIRE_PASSWORD")
            .env_remove("CI")
            .env_remove("GIT_DIR")
            .env_remove("MAIL")
            .timeout(Duration::from_secs(120));
        command
    }
}

/// The servers, a home [`Installed`] against them and a fresh token to find the test's mail
/// by, or `None` (see [`servers`]).
fn installed() -> Option<(Servers, Installed, String)> {
    let servers = servers()?;
    let installed = Installed::new(&servers);
    Some((servers, installed, token()))
}

/// A client program from Debian's packages, or `None` with a message (a failure under
/// `CI=true`: `.ci/install-test-servers.sh` installs it there).
fn client(path: &str, package: &str) -> Option<PathBuf> {
    let path = PathBuf::from(path);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but {} is missing: .ci/install-test-servers.sh installs {package}",
        path.display()
    );
    eprintln!(
        "skipping: {} missing (apt-get install {package})",
        path.display()
    );
    None
}

/// The header section of a delivered copy, without the lines Postfix adds for the one
/// recipient of that copy (which name a Bcc recipient in that recipient's own copy).
fn headers_as_sent(copy: &[u8]) -> String {
    let text = String::from_utf8_lossy(copy);
    let head = text.split("\n\n").next().unwrap_or_default();
    head.lines()
        .filter(|l| !l.starts_with("Delivered-To:") && !l.starts_with("X-Original-To:"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn delivered_to(copies: &[Vec<u8>]) -> Vec<String> {
    let mut to: Vec<String> = copies
        .iter()
        .map(|copy| {
            let parsed = MessageParser::default().parse(copy.as_slice()).unwrap();
            parsed.header_raw("Delivered-To").unwrap().trim().to_owned()
        })
        .collect();
    to.sort();
    to
}

#[test]
fn cron_pipes_a_bare_body_to_sendmail_and_it_arrives_with_headers_added() {
    let Some((servers, installed, token)) = installed() else {
        return;
    };
    // cron (Debian's and cronie) runs `sendmail -FCronDaemon -i -B8BITMIME -oem MAILTO`.
    let output = installed.sendmail_with(
        &[
            "-FCron Daemon",
            "-i",
            "-B8BITMIME",
            "-oem",
            "ops@smtpwire.test",
        ],
        format!("backup {token} done\n.\nstill the body\n"),
    );
    let (stdout, stderr) = succeeded(&output);
    assert!(stdout.is_empty() && stderr.is_empty(), "{stdout}\n{stderr}");
    let copies = delivered(&servers.maildir.join("new"), &token, 1);
    let parsed = MessageParser::default()
        .parse(copies[0].as_slice())
        .unwrap();
    let from = parsed.from().and_then(|f| f.first()).unwrap();
    assert_eq!(from.name(), Some("Cron Daemon"));
    assert_eq!(from.address(), Some(servers.user.as_str()));
    assert!(parsed.date().is_some());
    assert!(parsed.message_id().unwrap().ends_with("@smtpwire.test"));
    assert_eq!(parsed.return_path().as_text(), Some(servers.user.as_str()));
    assert_eq!(
        parsed.body_text(0).unwrap().trim_end(),
        format!("backup {token} done\n.\nstill the body")
    );

    let log = installed.log();
    assert_eq!(log.lines().count(), 1, "{log}");
    assert_contains(
        &log,
        &[
            " account=\"default\" server=localhost:",
            &format!("from=\"{}\" recipients=\"ops@smtpwire.test\"", servers.user),
            " reply=\"250 2.0.0 Ok",
        ],
    );
    assert!(log.trim_end().ends_with(" exitcode=EX_OK"), "{log}");
    assert!(!log.contains(&servers.password), "{log}");
}

#[test]
fn without_i_a_lone_dot_ends_the_message_as_in_sendmail() {
    let Some((servers, installed, token)) = installed() else {
        return;
    };
    let output = installed
        .command(env!("CARGO_BIN_EXE_smtpwire"))
        .args(["sendmail", "ops@smtpwire.test"])
        .write_stdin(format!(
            "Subject: dot {token}\n\nkept\n..stuffed stays\n.\nnot sent {token}\n"
        ))
        .output()
        .unwrap();
    succeeded(&output);
    let copies = delivered(&servers.maildir.join("new"), &format!("dot {token}"), 1);
    let text = String::from_utf8_lossy(&copies[0]);
    assert!(text.ends_with("\n\nkept\n..stuffed stays\n"), "{text}");
    assert!(!text.contains("not sent"), "{text}");
}

#[test]
fn t_adds_the_header_recipients_to_the_arguments_and_strips_bcc() {
    let Some((servers, installed, token)) = installed() else {
        return;
    };
    let output = installed.sendmail_with(
        &["-t", "-oi", "extra@smtpwire.test"],
        format!(
            "From: Someone <someone@smtpwire.test>\nTo: one@smtpwire.test\n\
             Bcc: hidden@smtpwire.test\nSubject: t {token}\n\nhello\n"
        ),
    );
    succeeded(&output);
    let copies = delivered(&servers.maildir.join("new"), &token, 3);
    assert_eq!(
        delivered_to(&copies),
        [
            "extra@smtpwire.test",
            "hidden@smtpwire.test",
            "one@smtpwire.test"
        ]
    );
    for copy in &copies {
        let head = headers_as_sent(copy);
        assert!(!head.contains("Bcc") && !head.contains("hidden"), "{head}");
        // The message's From stays; the account's address is the envelope sender.
        assert_contains(
            &head,
            &[
                "From: Someone <someone@smtpwire.test>",
                &format!("Return-Path: <{}>", servers.user),
            ],
        );
    }
}

#[test]
fn git_send_email_sends_a_patch_through_sendmail() {
    let Some(servers) = servers() else { return };
    let Some(git) = client("/usr/bin/git", "git") else {
        return;
    };
    if client("/usr/lib/git-core/git-send-email", "git-email").is_none() {
        return;
    }
    let installed = Installed::new(&servers);
    let token = token();
    let repo = installed.dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let git_in_repo = |args: &[&str]| {
        let output = installed
            .command(&git)
            .current_dir(&repo)
            .env("GIT_AUTHOR_NAME", "Tester")
            .env("GIT_AUTHOR_EMAIL", &servers.user)
            .env("GIT_COMMITTER_NAME", "Tester")
            .env("GIT_COMMITTER_EMAIL", &servers.user)
            .args(args)
            .output()
            .unwrap();
        let (stdout, stderr) = outputs(&output);
        assert!(output.status.success(), "git {args:?}:\n{stdout}\n{stderr}");
        stdout
    };
    git_in_repo(&["init", "-q"]);
    std::fs::write(repo.join("notes.txt"), format!("line one\n.\n{token}\n")).unwrap();
    git_in_repo(&["add", "notes.txt"]);
    git_in_repo(&["commit", "-q", "-m", &format!("Add notes {token}")]);
    let patch = git_in_repo(&["format-patch", "-1", "-o", "../patches"]);
    let patch = installed
        .dir
        .path()
        .join(patch.trim().trim_start_matches("../"));
    // git send-email passes header lines it does not know, a Bcc among them, into the message
    // as they are (it sends to its own --bcc through the envelope): sendmail must drop it.
    let text = std::fs::read_to_string(&patch).unwrap();
    let text = text.replacen("\nSubject: ", "\nBcc: leaked@smtpwire.test\nSubject: ", 1);
    std::fs::write(&patch, text).unwrap();
    let sendmail_cmd = installed.sendmail();
    git_in_repo(&[
        "send-email",
        &format!("--sendmail-cmd={}", sendmail_cmd.display()),
        "--from=Tester <tester@smtpwire.test>",
        "--to=list@smtpwire.test",
        "--cc=reviewer@smtpwire.test",
        "--bcc=hidden@smtpwire.test",
        "--suppress-cc=all",
        "--confirm=never",
        "--quiet",
        patch.to_str().unwrap(),
    ]);

    let copies = delivered(
        &servers.maildir.join("new"),
        &format!("Add notes {token}"),
        3,
    );
    assert_eq!(
        delivered_to(&copies),
        [
            "hidden@smtpwire.test",
            "list@smtpwire.test",
            "reviewer@smtpwire.test"
        ]
    );
    let sent = std::fs::read_to_string(&patch).unwrap();
    let diff = sent.split("\n---\n").nth(1).unwrap();
    for copy in &copies {
        let head = headers_as_sent(copy);
        assert!(!head.contains("Bcc") && !head.contains("hidden"), "{head}");
        let text = String::from_utf8_lossy(copy);
        assert!(!text.contains("leaked"), "{text}");
        // The diff arrives whole, the line holding a lone `+.` included.
        assert_contains(&text, &[diff.split("\n-- \n").next().unwrap()]);
    }
    assert!(installed.log().contains("exitcode=EX_OK"));
}

/// Mutt 2 leaves the Bcc field out of what it hands to sendmail (even with `write_bcc`) and
/// passes every recipient as an argument after `-oem -oi --`; the hidden one must get the
/// message through the envelope alone, and the attachment must arrive octet for octet.
#[test]
fn mutt_sends_an_attachment_and_a_bcc_recipient_stays_hidden() {
    let Some(servers) = servers() else { return };
    let Some(mutt) = client("/usr/bin/mutt", "mutt") else {
        return;
    };
    let installed = Installed::new(&servers);
    let token = token();
    let dir = installed.dir.path();
    let attachment = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/logo.png");
    std::fs::write(
        dir.join("muttrc"),
        format!(
            "set sendmail=\"{}\"\nset from=\"Tester <{}>\"\nset use_from=yes\n\
             set envelope_from=no\nset record=\"\"\nset copy=no\n\
             set folder=\"{}\"\nset spoolfile=\"\"\nset charset=\"utf-8\"\n\
             set send_charset=\"utf-8\"\n",
            installed.sendmail().display(),
            servers.user,
            dir.display(),
        ),
    )
    .unwrap();
    let output = installed
        .command(mutt)
        .env("TERM", "dumb")
        .args(["-n", "-F", dir.join("muttrc").to_str().unwrap()])
        .args(["-s", &format!("mutt {token}"), "-c", "two@smtpwire.test"])
        .args([
            "-b",
            "hidden@smtpwire.test",
            "-a",
            attachment.to_str().unwrap(),
        ])
        .args(["--", "one@smtpwire.test"])
        .write_stdin(format!("Hello {token}, the logo is attached.\n"))
        .output()
        .unwrap();
    succeeded(&output);

    let copies = delivered(&servers.maildir.join("new"), &format!("mutt {token}"), 3);
    assert_eq!(
        delivered_to(&copies),
        [
            "hidden@smtpwire.test",
            "one@smtpwire.test",
            "two@smtpwire.test"
        ]
    );
    let logo = std::fs::read(&attachment).unwrap();
    for copy in &copies {
        let head = headers_as_sent(copy);
        assert!(!head.contains("Bcc") && !head.contains("hidden"), "{head}");
        let parsed = MessageParser::default().parse(copy.as_slice()).unwrap();
        let attached = parsed.attachments().next().expect("the attachment");
        assert_eq!(attached.attachment_name(), Some("logo.png"));
        assert_eq!(attached.contents(), logo.as_slice());
        assert!(parsed
            .body_text(0)
            .unwrap()
            .contains(&format!("Hello {token}")));
    }
}

#[test]
fn a_refused_recipient_is_logged_with_the_reply_and_exits_69() {
    let Some((servers, installed, _)) = installed() else {
        return;
    };
    let output =
        installed.sendmail_with(&["-i", "--", &servers.rejected], "Subject: refused\n\nx\n");
    exited(&output, 69);
    let log = installed.log();
    assert!(
        log.contains(" error=\"") && log.contains("550 5.1.1"),
        "{log}"
    );
    assert!(log.trim_end().ends_with("exitcode=EX_UNAVAILABLE"), "{log}");
    assert!(!log.contains(&servers.password), "{log}");
}

#[test]
fn dsn_flags_reach_the_wire() {
    let server = scripted::start(scripted::accepting(&["DSN", "PIPELINING"], 3));
    let output = common::smtpwire()
        .args(["sendmail", "--server", &server.address(), "--tls", "none"])
        .args(["--insecure-plaintext", "-f", "bounces@example.com"])
        .args([
            "-N",
            "success,failure",
            "-R",
            "hdrs",
            "-V",
            "batch+7",
            "-oi",
        ])
        .args(["a@example.com", "B <b@example.com>, c@example.com"])
        .write_stdin("Subject: dsn\n\nbody\n")
        .output()
        .unwrap();
    succeeded(&output);
    let received = server.received();
    let commands = received.commands();
    let mail = commands
        .iter()
        .find(|c| c.starts_with("MAIL FROM:"))
        .unwrap();
    assert!(
        mail.starts_with("MAIL FROM:<bounces@example.com>"),
        "{mail}"
    );
    assert!(
        mail.contains(" RET=HDRS") && mail.contains(" ENVID=batch+2B7"),
        "{mail}"
    );
    let rcpts: Vec<&String> = commands
        .iter()
        .filter(|c| c.starts_with("RCPT TO:"))
        .collect();
    assert_eq!(
        rcpts,
        [
            "RCPT TO:<a@example.com> NOTIFY=SUCCESS,FAILURE",
            "RCPT TO:<b@example.com> NOTIFY=SUCCESS,FAILURE",
            "RCPT TO:<c@example.com> NOTIFY=SUCCESS,FAILURE"
        ]
    );
    // -f <> is the null sender of a notification.
    let server = scripted::start(scripted::accepting(&[], 1));
    let output = common::smtpwire()
        .args(["sendmail", "--server", &server.address(), "--tls", "none"])
        .args(["--insecure-plaintext", "-f", "<>", "-i", "a@example.com"])
        .write_stdin("Subject: bounce\n\nbody\n")
        .output()
        .unwrap();
    assert!(output.status.success(), "{:?}", outputs(&output));
    assert!(server
        .received()
        .commands()
        .contains(&"MAIL FROM:<>".to_owned()));
}

/// Runs `smtpwire sendmail` against a listener that must see no connection.
fn refused(args: &[&str], stdin: &str) -> (Option<i32>, String) {
    common::refused_plain("sendmail", args, stdin)
}

#[test]
fn mistakes_are_refused_before_anything_is_sent_with_sysexits() {
    let message = "From: a@example.com\nSubject: s\n\nbody\n";
    let (code, stderr) = refused(&[], message);
    assert_eq!(code, Some(64), "{stderr}");
    assert!(stderr.contains("give them as arguments, or -t"), "{stderr}");
    let (code, stderr) = refused(&["-t"], message);
    assert_eq!(code, Some(65), "{stderr}");
    let (code, stderr) = refused(&["-bp"], message);
    assert_eq!(code, Some(64), "{stderr}");
    assert!(stderr.contains("only -bm"), "{stderr}");
    let (code, stderr) = refused(&["-N", "sometimes", "b@example.com"], message);
    assert_eq!(code, Some(64), "{stderr}");
    let (code, stderr) = refused(&["-V", &"x".repeat(101), "b@example.com"], message);
    assert_eq!(code, Some(64), "{stderr}");
    let (code, stderr) = refused(&["-Z", "b@example.com"], message);
    assert_eq!(code, Some(64), "{stderr}");
    let (code, stderr) = refused(&["root"], message);
    assert_eq!(code, Some(65), "{stderr}");
    let (code, stderr) = refused(&["b@example.com"], "Subject: no sender anywhere\n\nx\n");
    assert_eq!(code, Some(65), "{stderr}");
    assert!(stderr.contains("give -f ADDRESS"), "{stderr}");
}

#[test]
fn without_a_default_account_it_says_how_to_name_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[accounts.work]\nserver = \"localhost:1\"\n").unwrap();
    let output = common::smtpwire()
        .args([
            "sendmail",
            "-C",
            config.to_str().unwrap(),
            "-i",
            "a@example.com",
        ])
        .write_stdin("Subject: s\n\nx\n")
        .output()
        .unwrap();
    let (_, stderr) = exited(&output, 78);
    assert_contains(&stderr, &["no account \"default\"", "[accounts.default]"]);
    // A log file named on the command line records even that.
    let log = dir.path().join("log");
    let output = common::smtpwire()
        .args(["sendmail", "-C", config.to_str().unwrap(), "-X"])
        .args([log.to_str().unwrap(), "-i", "a@example.com"])
        .write_stdin("Subject: s\n\nx\n")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(78));
    let log = std::fs::read_to_string(log).unwrap();
    assert!(log.trim_end().ends_with("exitcode=EX_CONFIG"), "{log}");
}
