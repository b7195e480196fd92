//! `smtpwire sendmail`, and the binary itself when it is run as `sendmail`: the command line
//! of sendmail and msmtp, for cron, `git send-email`, mutt, PHP's `mail()` and every Unix
//! tool that runs `sendmail [flags] recipient…` with the message on standard input.

use crate::compose::Problems;
use crate::deliver::{self, Attempt};
use crate::exit::{CliError, Exit};
use crate::output::OutputArgs;
use crate::raw::{self, RawMessage};
use crate::target::TargetArgs;
use clap::{ArgAction, Args, Parser};
use smtpwire::address::Mailbox;
use smtpwire::envelope::{Notify, Recipient, Ret};
use smtpwire::mime::{Date, Message, NamedAddress};
use std::io::Write as _;
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Reads the message from standard input and sends it through the account named `default` in
the accounts file, unless -a, --server or --provider says otherwise. Without -i, a line
holding a single dot ends the message, as in sendmail (msmtp ignores -i and never stops
there); mutt, git send-email, cron and PHP all pass -i or -oi. With -t, the recipients on
the command line are added to those of the To, Cc and Bcc fields, as msmtp and Postfix do
(Sendmail 8 would instead leave them out). Bcc and Resent-Bcc fields are removed. A
message without a From field gets one (with -F's name, at the envelope sender), and
one without Date or Message-ID gets those, as msmtp does.

Accepted and ignored, as msmtp does: -o X (except -oi), -O OPTION=VALUE (except
IgnoreDots), -B TYPE, -bm, -h N, -L TAG, -A X, -G, -m, -n. Other -b modes (-bp, -bs, ...)
are refused.

Installed as `sendmail` (ln -s \"$(command -v smtpwire)\" /usr/sbin/sendmail), the binary takes
this command line directly.

Examples:
  echo 'All good.' | smtpwire sendmail me@example.com              (cron's way)
  smtpwire sendmail -t -i < message.eml
  git send-email --sendmail-cmd='smtpwire sendmail' --to=list@example.com 0001-fix.patch
  mutt: set sendmail=\"smtpwire sendmail -a work\"

The accounts file (-C, default ~/.config/smtpwire/config.toml) may name a log file per
account: logfile = \"/var/log/smtpwire.log\". --logfile overrides it. Each message adds one
line: time, account, server, sender, recipients, size, the server's reply, exit status.

Exit codes (sysexits): 0 sent; 64 usage; 65 bad message; 69 refused; 75 temporary failure;
77 authentication; 78 configuration; 79 delivery unknown (see `smtpwire --help`).";

/// Flags of `smtpwire sendmail`: sendmail's and msmtp's, plus smtpwire's connection flags.
#[derive(Args, Debug)]
#[command(
    after_help = AFTER_HELP,
    disable_help_flag = true,
    mut_arg("account", |a| a.short('a').help("The account to use [default: `default`]")),
    mut_arg("config", |a| a.short('C')),
)]
pub struct SendmailArgs {
    /// Recipients (address lists are split at commas); `--` before any that starts with `-`.
    #[arg(value_name = "RECIPIENT")]
    recipients: Vec<String>,
    /// Also sends to the addresses in the message's To, Cc and Bcc fields (or its newest
    /// Resent-To, Resent-Cc and Resent-Bcc).
    #[arg(short = 't', long = "read-recipients", help_heading = "Envelope")]
    read_recipients: bool,
    /// The envelope sender; `<>` for none [default: the account's from, else its user, else
    /// the message's Sender or From]. -r is the same.
    #[arg(
        short = 'f',
        short_alias = 'r',
        long = "from",
        value_name = "ADDRESS",
        help_heading = "Envelope"
    )]
    from: Option<String>,
    #[command(flatten, next_help_heading = "Envelope")]
    dsn: DsnFlags,
    /// A line holding a single dot does not end the message (-oi is the same).
    #[arg(short = 'i', action = ArgAction::Count, help_heading = "Message")]
    ignore_dots: u8,
    /// The full name for the From field given to a message that has none.
    #[arg(short = 'F', value_name = "NAME", help_heading = "Message")]
    full_name: Option<String>,
    /// Appends one line per message to this file (msmtp's logfile) [default: the account's
    /// `logfile`].
    #[arg(short = 'X', long, value_name = "FILE", help_heading = "Output")]
    logfile: Option<PathBuf>,
    /// Shows the SMTP dialogue on stderr (secrets redacted), like --transcript.
    #[arg(short = 'v', action = ArgAction::Count, help_heading = "Output")]
    verbose: u8,
    /// Prints the message as it would be sent and its envelope; sends nothing.
    #[arg(long, help_heading = "Output")]
    dry_run: bool,
    #[command(flatten, next_help_heading = "Connection")]
    target: TargetArgs,
    #[command(flatten, next_help_heading = "Output")]
    output: OutputArgs,
    /// Prints help.
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
    /// sendmail's mode: only -bm (deliver a message) is supported.
    #[arg(short = 'b', value_name = "MODE", hide = true)]
    mode: Option<String>,
    /// sendmail's options: -oi is -i, the others are ignored.
    #[arg(short = 'o', value_name = "OPTION", hide = true, action = ArgAction::Append)]
    options: Vec<String>,
    /// sendmail's long options: IgnoreDots is -i, the others are ignored.
    #[arg(short = 'O', value_name = "OPTION=VALUE", hide = true, action = ArgAction::Append)]
    long_options: Vec<String>,
    /// Ignored sendmail options that take a value: -A, -B, -h, -L.
    #[arg(short = 'A', hide = true, action = ArgAction::Append)]
    ignored_a: Vec<String>,
    #[arg(short = 'B', hide = true, action = ArgAction::Append)]
    ignored_b: Vec<String>,
    #[arg(short = 'h', hide = true, action = ArgAction::Append)]
    ignored_h: Vec<String>,
    #[arg(short = 'L', hide = true, action = ArgAction::Append)]
    ignored_l: Vec<String>,
    /// Ignored sendmail flags: -G, -m, -n.
    #[arg(short = 'G', hide = true, action = ArgAction::Count)]
    ignored_g: u8,
    #[arg(short = 'm', hide = true, action = ArgAction::Count)]
    ignored_m: u8,
    #[arg(short = 'n', hide = true, action = ArgAction::Count)]
    ignored_n: u8,
}

/// The DSN flags of `smtpwire sendmail`, msmtp's (RFC 3461).
#[derive(Args, Debug)]
struct DsnFlags {
    /// Delivery status notifications: `never`, or any of `success,failure,delay` (RFC 3461).
    #[arg(short = 'N', long = "dsn-notify", value_name = "WHEN")]
    notify: Option<String>,
    /// What a failure notification returns: `full` or `hdrs` (RFC 3461).
    #[arg(short = 'R', long = "dsn-return", value_name = "full|hdrs")]
    ret: Option<String>,
    /// The envelope id that notifications carry back (RFC 3461 ENVID).
    #[arg(short = 'V', long = "dsn-envid", value_name = "ENVID")]
    envid: Option<String>,
}

/// The command line of the binary when it is run as `sendmail`.
#[derive(Parser, Debug)]
#[command(
    name = "sendmail",
    about = "smtpwire as sendmail: sends the message on standard input to the recipients"
)]
pub struct SendmailCli {
    #[command(flatten)]
    pub args: SendmailArgs,
}

/// Whether the binary was run under the name `sendmail` (a link, as msmtp-mta installs).
pub fn invoked_as_sendmail() -> bool {
    std::env::args_os()
        .next()
        .map(PathBuf::from)
        .is_some_and(|path| path.file_name().is_some_and(|name| name == "sendmail"))
}

/// Runs `smtpwire sendmail`, and logs the outcome when a log file is set.
pub async fn run(mut args: SendmailArgs) -> Result<Exit, CliError> {
    if args.verbose > 0 {
        args.output.transcript = Some(crate::output::TranscriptDetail::Dialogue);
    }
    if args.target.account.is_none()
        && args.target.server.is_none()
        && args.target.provider.is_none()
    {
        args.target.account = Some(crate::target::DEFAULT_ACCOUNT.to_owned());
    }
    let mut log = Log {
        path: args.logfile.clone(),
        account: args.target.account.clone(),
        ..Log::default()
    };
    let outcome = send(&args, &mut log).await;
    log.write(&outcome);
    outcome
}

async fn send(args: &SendmailArgs, log: &mut Log) -> Result<Exit, CliError> {
    let prepared = prepare(args, log).map_err(|e| args.output.not_sent(e))?;
    raw::send_prepared(prepared, &args.output, false, |attempt| {
        log.attempt(attempt)
    })
    .await
}

/// Reads the message and works out its envelope; nothing touches the network.
fn prepare(args: &SendmailArgs, log: &mut Log) -> Result<raw::Prepared, CliError> {
    args.output.check()?;
    if let Some(mode) = args.mode.as_deref().filter(|mode| *mode != "m") {
        return Err(CliError::usage(format!(
            "-b{mode}: only -bm (deliver a message) is supported"
        )));
    }
    let dsn = Dsn::parse(&args.dsn)?;
    let target = deliver::target(&args.target, args.dry_run).map_err(|e| {
        if args.target.account.as_deref() == Some(crate::target::DEFAULT_ACCOUNT) && e.exit == Exit::Config {
            e.hint("sendmail uses the account named `default`: add [accounts.default] to the accounts file, or give -a NAME or --server")
        } else {
            e
        }
    })?;
    if let Some(target) = &target {
        log.path = log.path.take().or_else(|| target.logfile.clone());
        log.user = target.credentials.as_ref().map(|c| c.username().to_owned());
    }

    let mut input = raw::normalise(&strip_mbox_from_line(&raw::read_input(None)?))?;
    if !args.ignores_dots() {
        cut_at_lone_dot(&mut input);
    }
    let message = RawMessage::parse(&input);
    let mut problems = Problems::default();

    let recipients = raw::recipients(
        ("recipient", &args.recipients),
        args.read_recipients.then_some(&message),
        "give them as arguments, or -t to take them from the message's To, Cc and Bcc",
        &mut problems,
    );

    let null_sender = matches!(args.from.as_deref(), Some("<>" | ""));
    let sender = if null_sender {
        None
    } else {
        // The account comes before the message: providers refuse any other sender, and
        // cron's `From: root (Cron Daemon)` is no address to send from.
        let account = target
            .as_ref()
            .and_then(raw::account_sender)
            .or_else(|| args.target.user.clone());
        let mut candidates = vec![];
        candidates.extend(args.from.clone().map(|from| ("-f".to_owned(), from)));
        candidates.extend(account.map(|from| ("the account's from".to_owned(), from)));
        candidates.extend(message.sender_fields());
        raw::envelope_sender(candidates, "give -f ADDRESS", &mut problems)
    };
    problems.into_result()?;
    log.from = sender.as_ref().map(|s| s.as_str().to_owned());
    log.recipients = recipients.iter().map(|r| r.as_str().to_owned()).collect();

    let added = match &sender {
        Some(sender) => missing_fields(&message, sender, args.full_name.as_deref())?,
        None => Vec::new(),
    };
    let bytes = message.to_send(&added);
    log.size = Some(bytes.len());
    let recipients = recipients.into_iter().map(|mailbox| match dsn.notify {
        Some(notify) => Recipient::new(mailbox).with_notify(notify),
        None => Recipient::new(mailbox),
    });
    let mut envelope = raw::envelope(sender, recipients, &bytes)?;
    if let Some(ret) = dsn.ret {
        envelope = envelope.with_ret(ret);
    }
    if let Some(envid) = &args.dsn.envid {
        envelope = envelope
            .with_envid(envid)
            .map_err(|e| CliError::usage(format!("-V {envid:?}: {e}")))?;
    }
    let message_id = RawMessage::parse(&bytes).message_id();
    Ok(raw::Prepared {
        envelope,
        bytes,
        message_id,
        target,
    })
}

impl SendmailArgs {
    /// -i, -oi or -O IgnoreDots[=true].
    fn ignores_dots(&self) -> bool {
        self.ignore_dots > 0
            || self.options.iter().any(|o| o == "i")
            || self.long_options.iter().any(|o| {
                let (name, value) = o.split_once('=').unwrap_or((o, "true"));
                name.eq_ignore_ascii_case("IgnoreDots")
                    && ["true", "t", "yes", "y", "1"].contains(&value.to_ascii_lowercase().as_str())
            })
    }
}

/// The DSN requests of -N and -R (msmtp's `off` means none).
#[derive(Default)]
struct Dsn {
    notify: Option<Notify>,
    ret: Option<Ret>,
}

impl Dsn {
    fn parse(flags: &DsnFlags) -> Result<Self, CliError> {
        let mut dsn = Self::default();
        if let Some(text) = flags
            .notify
            .as_deref()
            .filter(|t| !t.eq_ignore_ascii_case("off"))
        {
            dsn.notify = Some(notify(text).ok_or_else(|| {
                CliError::usage(format!(
                    "-N {text:?}: expected never, or a list of success, failure and delay"
                ))
            })?);
        }
        dsn.ret = match flags.ret.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("off") => None,
            Some("full") => Some(Ret::Full),
            Some("hdrs" | "headers") => Some(Ret::Headers),
            Some(_) => {
                return Err(CliError::usage(format!(
                    "-R {:?}: expected full or hdrs",
                    flags.ret.as_deref().unwrap_or_default()
                )))
            }
        };
        Ok(dsn)
    }
}

/// `never`, or a comma-separated list of `success`, `failure` and `delay`.
fn notify(text: &str) -> Option<Notify> {
    if text.trim().eq_ignore_ascii_case("never") {
        return Some(Notify::Never);
    }
    let (mut success, mut failure, mut delay) = (false, false, false);
    for word in text.split(',') {
        match word.trim().to_ascii_lowercase().as_str() {
            "success" => success = true,
            "failure" => failure = true,
            "delay" => delay = true,
            _ => return None,
        }
    }
    Some(Notify::On {
        success,
        failure,
        delay,
    })
}

/// Drops an mbox `From ` line at the very start (as `git format-patch` writes), as sendmail
/// and Postfix do: it is the mbox separator, not part of the message.
fn strip_mbox_from_line(input: &[u8]) -> Vec<u8> {
    if !input.starts_with(b"From ") {
        return input.to_vec();
    }
    let after = input
        .iter()
        .position(|&b| b == b'\n')
        .map_or(input.len(), |at| at + 1);
    input.get(after..).unwrap_or_default().to_vec()
}

/// Without -i, a line holding a single dot ends the message, as in sendmail: the rest of the
/// input is not sent. `bytes` has CRLF line ends only.
fn cut_at_lone_dot(bytes: &mut Vec<u8>) {
    let mut start = 0;
    while let Some(tail) = bytes.get(start..).filter(|t| !t.is_empty()) {
        let len = tail
            .windows(2)
            .position(|w| w == b"\r\n")
            .unwrap_or(tail.len());
        if tail.get(..len) == Some(b".".as_slice()) {
            bytes.truncate(start);
            return;
        }
        start += len + 2;
    }
}

/// The From (with `full_name`, at the envelope sender), Date and Message-ID fields the message
/// lacks, as sendmail and msmtp add them. The library's builder writes them (RFC 2047 for a
/// name that is not ASCII, folding, a random Message-ID at the sender's domain), so they are
/// taken from a message it builds rather than written a second way here.
fn missing_fields(
    message: &RawMessage,
    sender: &Mailbox,
    full_name: Option<&str>,
) -> Result<Vec<u8>, CliError> {
    let wanted: Vec<&str> = ["From", "Date", "Message-ID"]
        .into_iter()
        .filter(|name| !message.has(name))
        .collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let from = NamedAddress::with_name(full_name.unwrap_or_default(), sender.as_str())
        .map_err(|e| CliError::new(Exit::DataErr, format!("-F {full_name:?}: {e}")))?;
    let built = Message::builder()
        .from(from)
        .envelope(sender.clone(), vec![sender.clone()])
        .allow_utf8_addresses(true)
        .date(Date::now())
        .text("")
        .build()?
        .to_bytes()
        .map_err(|e| CliError::new(Exit::IoErr, format!("cannot write the From field: {e}")))?;
    let header = RawMessage::parse(&built);
    let mut fields = Vec::new();
    for name in wanted {
        for field in header.fields_named(name) {
            fields.extend_from_slice(field);
        }
    }
    Ok(fields)
}

/// One line per message in the log file, for unattended use: never a secret (the user name
/// is no secret; the password never reaches this module).
#[derive(Default)]
struct Log {
    path: Option<PathBuf>,
    account: Option<String>,
    server: Option<String>,
    user: Option<String>,
    from: Option<String>,
    recipients: Vec<String>,
    size: Option<usize>,
    reply: Option<String>,
}

impl Log {
    fn attempt(&mut self, attempt: &Attempt) {
        self.server = Some(attempt.server.clone());
        self.reply = match &attempt.result {
            Ok(report) => report.final_reply().map(ToString::to_string),
            Err(error) => error.reply().map(ToString::to_string),
        };
    }

    /// Appends the line; a log that cannot be written is a warning, never the outcome, or a
    /// sent message could look unsent and be sent again.
    fn write(&self, outcome: &Result<Exit, CliError>) {
        let Some(path) = self.path.as_deref().map(expand_home) else {
            return;
        };
        let line = self.line(outcome, &Date::now().to_string());
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut file| file.write_all(line.as_bytes()));
        if let Err(error) = written {
            eprintln!(
                "smtpwire: warning: cannot write the log {}: {error}",
                path.display()
            );
        }
    }

    /// `key=value` pairs; text that could hold spaces or line breaks is quoted and escaped, so
    /// every message is exactly one line.
    fn line(&self, outcome: &Result<Exit, CliError>, time: &str) -> String {
        let mut line = format!("{time}:");
        let mut pair = |key: &str, value: &str| line.push_str(&format!(" {key}={value}"));
        if let Some(account) = &self.account {
            pair("account", &format!("{account:?}"));
        }
        if let Some(server) = &self.server {
            pair("server", server);
        }
        if let Some(user) = &self.user {
            pair("user", &format!("{user:?}"));
        }
        if let Some(from) = &self.from {
            pair("from", &format!("{from:?}"));
        }
        if !self.recipients.is_empty() {
            pair("recipients", &format!("{:?}", self.recipients.join(",")));
        }
        if let Some(size) = self.size {
            pair("size", &size.to_string());
        }
        if let Some(reply) = &self.reply {
            pair("reply", &format!("{:?}", reply.trim_end()));
        }
        match outcome {
            Ok(exit) => pair("exitcode", sysexits_name(*exit)),
            Err(error) => {
                pair("error", &format!("{:?}", error.message));
                pair("exitcode", sysexits_name(error.exit));
            }
        }
        line.push('\n');
        line
    }
}

/// `~/x` as `$HOME/x`, as msmtp reads its `logfile`; any other path as it is.
fn expand_home(path: &std::path::Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path.to_owned(),
    }
}

/// The sysexits.h name of an exit status, as msmtp logs it.
fn sysexits_name(exit: Exit) -> &'static str {
    match exit {
        Exit::Ok => "EX_OK",
        Exit::Usage => "EX_USAGE",
        Exit::DataErr => "EX_DATAERR",
        Exit::NoInput => "EX_NOINPUT",
        Exit::NoHost => "EX_NOHOST",
        Exit::Unavailable => "EX_UNAVAILABLE",
        Exit::IoErr => "EX_IOERR",
        Exit::TempFail => "EX_TEMPFAIL",
        Exit::Protocol => "EX_PROTOCOL",
        Exit::NoPerm => "EX_NOPERM",
        Exit::Config => "EX_CONFIG",
        Exit::DeliveryUnknown => "DELIVERY_UNKNOWN(79)",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn parse(argv: &[&str]) -> Result<SendmailArgs, clap::Error> {
        SendmailCli::try_parse_from(std::iter::once("sendmail").chain(argv.iter().copied()))
            .map(|cli| cli.args)
    }

    #[test]
    fn the_flags_mutt_git_cron_and_php_pass_are_understood() {
        for argv in [
            &["-oem", "-oi", "--", "a@example.com", "-b@example.com"][..],
            &["-i", "a@example.com"],
            &["-FCronDaemon", "-i", "-B8BITMIME", "-oem", "a@example.com"],
            &["-t", "-i"],
            &["-ti", "-f", "me@example.com", "-odb", "-om", "-oo"],
            &[
                "-bm",
                "-G",
                "-m",
                "-n",
                "-h",
                "17",
                "-L",
                "tag",
                "-Aм",
                "-O",
                "DeliveryMode=b",
            ],
            &[
                "-r",
                "me@example.com",
                "-N",
                "success,failure",
                "-R",
                "hdrs",
                "-V",
                "id1",
            ],
            &[
                "-C",
                "/etc/smtpwire.toml",
                "-a",
                "work",
                "-X",
                "/tmp/log",
                "-v",
                "x@y.z",
            ],
        ] {
            parse(argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        }
        let args = parse(&["-oem", "-oi", "--", "a@example.com", "-b@example.com"]).unwrap();
        assert_eq!(args.recipients, ["a@example.com", "-b@example.com"]);
        assert!(args.ignores_dots());
        assert!(!parse(&["a@example.com"]).unwrap().ignores_dots());
        assert!(parse(&["-OIgnoreDots", "x@y.z"]).unwrap().ignores_dots());
        assert!(!parse(&["-OIgnoreDots=false", "x@y.z"])
            .unwrap()
            .ignores_dots());
        let args = parse(&["-C", "f.toml", "-a", "work", "-r", "me@x.org", "-Fcron"]).unwrap();
        assert_eq!(args.target.config, Some(PathBuf::from("f.toml")));
        assert_eq!(args.target.account.as_deref(), Some("work"));
        assert_eq!(args.from.as_deref(), Some("me@x.org"));
        assert_eq!(args.full_name.as_deref(), Some("cron"));
        assert!(parse(&["-Z"]).is_err());
    }

    #[test]
    fn dsn_flags_are_checked() {
        assert_eq!(notify("never"), Some(Notify::Never));
        assert_eq!(
            notify("Success, delay"),
            Some(Notify::On {
                success: true,
                failure: false,
                delay: true
            })
        );
        assert_eq!(notify("success,never"), None);
        assert_eq!(notify(""), None);
        let ret = |r: &str| Dsn::parse(&parse(&["-R", r]).unwrap().dsn).map(|d| d.ret);
        assert_eq!(ret("full").unwrap(), Some(Ret::Full));
        assert_eq!(ret("HDRS").unwrap(), Some(Ret::Headers));
        assert_eq!(ret("off").unwrap(), None);
        assert_eq!(ret("body").err().unwrap().exit, Exit::Usage);
    }

    #[test]
    fn a_lone_dot_line_ends_the_message() {
        let mut bytes = b"a\r\n..\r\n.x\r\n.\r\nafter\r\n".to_vec();
        cut_at_lone_dot(&mut bytes);
        assert_eq!(bytes, b"a\r\n..\r\n.x\r\n");
        let mut first = b".\r\nafter\r\n".to_vec();
        cut_at_lone_dot(&mut first);
        assert!(first.is_empty());
        let mut none = b"a.\r\n. \r\n".to_vec();
        cut_at_lone_dot(&mut none);
        assert_eq!(none, b"a.\r\n. \r\n");
    }

    #[test]
    fn the_mbox_from_line_is_dropped() {
        assert_eq!(
            strip_mbox_from_line(b"From abc Mon Sep 17 00:00:00 2001\nFrom: a@b.c\n"),
            b"From: a@b.c\n"
        );
        assert_eq!(strip_mbox_from_line(b"From: a@b.c\n"), b"From: a@b.c\n");
    }

    #[test]
    fn missing_from_date_and_message_id_are_added() {
        let sender = Mailbox::parse("cron@example.com").unwrap();
        let bare = RawMessage::parse(b"");
        let added = missing_fields(&bare, &sender, Some("Cron Daemon")).unwrap();
        let added = RawMessage::parse(&added);
        assert_eq!(added.values("From"), ["Cron Daemon <cron@example.com>"]);
        assert_eq!(added.values("Date").len(), 1);
        assert!(added.message_id().unwrap().ends_with("@example.com>"));

        let named = missing_fields(&bare, &sender, Some("守护进程")).unwrap();
        assert!(named.is_ascii(), "{}", String::from_utf8_lossy(&named));
        assert!(missing_fields(&bare, &sender, Some("a\nBcc: x")).is_err());

        let full =
            RawMessage::parse(b"From: x@example.com\r\nDate: d\r\nMessage-ID: <i@d>\r\n\r\n");
        assert!(missing_fields(&full, &sender, None).unwrap().is_empty());
    }

    #[test]
    fn a_log_path_may_start_at_home() {
        let home = PathBuf::from(std::env::var_os("HOME").unwrap());
        assert_eq!(expand_home("~/l.log".as_ref()), home.join("l.log"));
        assert_eq!(
            expand_home("/var/l.log".as_ref()),
            PathBuf::from("/var/l.log")
        );
        assert_eq!(expand_home("~x/l.log".as_ref()), PathBuf::from("~x/l.log"));
    }

    #[test]
    fn a_log_line_is_one_line_and_holds_no_secret() {
        let log = Log {
            path: None,
            account: Some("default".into()),
            server: Some("localhost:2587".into()),
            user: Some("me@example.com".into()),
            from: Some("me@example.com".into()),
            recipients: vec!["a@example.com".into(), "b@example.com".into()],
            size: Some(123),
            reply: Some("250-first\r\n250 2.0.0 queued".into()),
        };
        let line = log.line(&Ok(Exit::Ok), "Mon, 1 Jan 2024 00:00:00 +0000");
        assert_eq!(
            line,
            "Mon, 1 Jan 2024 00:00:00 +0000: account=\"default\" server=localhost:2587 \
             user=\"me@example.com\" from=\"me@example.com\" \
             recipients=\"a@example.com,b@example.com\" size=123 \
             reply=\"250-first\\r\\n250 2.0.0 queued\" exitcode=EX_OK\n"
        );
        let failed = log.line(&Err(CliError::new(Exit::TempFail, "timed out\nagain")), "t");
        assert!(failed.ends_with(" error=\"timed out\\nagain\" exitcode=EX_TEMPFAIL\n"));
        assert_eq!(failed.lines().count(), 1);
    }
}
