//! `smtpwire send`: build a message from flags or a JSON message file, and send it.

use crate::compose::{ContentArgs, Draft, Problems, Sourced};
use crate::deliver::{self, deliver, Payload};
use crate::dsn::{Dsn, DsnArgs};
use crate::exit::{CliError, Exit};
use crate::message_file;
use crate::output::{self, OutputArgs};
use crate::target::{Target, TargetArgs};
use clap::Args;
use smtpwire::address::Mailbox;
use smtpwire::envelope::Envelope;
use smtpwire::mime::Message;
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Examples:
  smtpwire send --provider qq --user 1234567@qq.com --password-env QQ_AUTH_CODE \\
      --to friend@163.com --subject '周报' --text @report.txt --attach report.pdf
  smtpwire send --account work --message order.json --json
  smtpwire send --from me@example.com --to you@example.com --subject hi --text hello --dry-run
  smtpwire send --account work --to 用户@example.com --text hi \
      --notify success,failure --ret hdrs --envid order-1234

Addresses with a non-ASCII local part (用户@example.com) are sent with SMTPUTF8 (RFC 6531) when
the server offers it; when it does not, or offers no DSN for --notify/--ret/--envid, nothing is
sent and the error says which.

Exit codes:
  0   every recipient took the message
  69  the server refused (5xx), or some recipients were refused for good while the others
      got the message (the refused ones are listed)
  75  a temporary failure (4xx, timeout), or some recipients were refused for now: try
      those again later
  79  delivery unknown: the connection was lost after the message was sent; it may have
      been delivered, so check before sending again
  64 usage   65 bad message   66 missing file   68 unknown host   74 I/O error
  76 protocol error   77 authentication failed   78 configuration error";

/// Flags of `smtpwire send`.
#[derive(Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct SendArgs {
    #[command(flatten, next_help_heading = "Connection")]
    target: TargetArgs,
    #[command(flatten, next_help_heading = "Message")]
    content: ContentArgs,
    /// Takes the whole message from a JSON file instead of the message flags.
    ///
    /// Fields: `message_id` (a key such as "order-1234" or a whole Message-ID: a re-run with
    /// the same id is the same message), `from`, `to`, `cc`, `bcc`, `reply_to` (a string or
    /// an array), `subject`, `text` and/or `html`, or `template` (a file, `.html` for HTML,
    /// or {"text": FILE, "html": FILE}), `payload` (an object): with either, `{{name}}` in
    /// the subject, text, html and templates is the payload's value, HTML-escaped in HTML,
    /// and a placeholder without a value is an error; `attachments` (paths, or {"path",
    /// "filename", "content_type", "content_id"}), `headers` (an object), `notify`, `ret`,
    /// `envid` (as the flags below, which win over them). Paths are relative to the file.
    /// Every problem is listed with its field path before anything is sent.
    #[arg(long, value_name = "FILE.json", help_heading = "Message")]
    message: Option<PathBuf>,
    #[command(flatten, next_help_heading = "Delivery status notifications (DSN)")]
    dsn: DsnArgs,
    /// Builds the message and prints it on stdout; connects to nothing, sends nothing.
    #[arg(long, help_heading = "Output")]
    dry_run: bool,
    #[command(flatten, next_help_heading = "Output")]
    output: OutputArgs,
    /// Prints nothing on success (errors still go to stderr).
    #[arg(long, short, help_heading = "Output")]
    quiet: bool,
}

/// Runs `smtpwire send`.
pub async fn run(args: SendArgs) -> Result<Exit, CliError> {
    let (message, dsn, target) = prepare(&args).map_err(|e| args.output.not_sent(e))?;
    let Some(target) = target else {
        return dry_run(&message, &args.output).map_err(|e| args.output.not_sent(e));
    };
    let config = target
        .client_config(args.output.wants_transcript())
        .map_err(|e| args.output.not_sent(e))?;
    let envelope = Envelope::for_message(&message)
        .map_err(|e| CliError::new(Exit::DataErr, e.to_string()))
        .and_then(|envelope| dsn.apply(envelope))
        .map_err(|e| args.output.not_sent(e))?;
    let payload = Payload::MessageWith {
        envelope,
        message: &message,
    };
    let attempt = deliver(config, payload).await;
    let id = message.message_id().to_string();
    output::finish(&attempt, Some(&id), &args.output, !args.quiet)
}

/// The message, the notifications asked for (the flags over the message file's fields), and
/// where to send it (none for a dry run). Nothing touches the network.
fn prepare(args: &SendArgs) -> Result<(Message, Dsn, Option<Target>), CliError> {
    if args.message.is_some() {
        let given = args.content.given();
        if !given.is_empty() {
            return Err(CliError::usage(format!(
                "--message holds the whole message, so {} cannot be used with it",
                given.join(", ")
            ))
            .hint("put those fields into the message file, or drop --message"));
        }
    }
    args.output.check()?;
    let flags_dsn = args.dsn.dsn()?;
    let target = deliver::target(&args.target, args.dry_run)?;
    if target.is_none() {
        // A dry run reads no password, but a bad or unsafe accounts file is still an error.
        args.target.account()?;
    }
    let mut problems = Problems::default();
    let draft = match &args.message {
        Some(path) => message_file::load(path, &mut problems),
        None => Some(Draft::from_flags(&args.content, &mut problems)),
    };
    let mut dsn = Dsn::default();
    let message = draft.and_then(|mut draft| {
        if draft.from.is_none() {
            draft.from = default_from(&args.target, target.as_ref());
        }
        dsn = std::mem::take(&mut draft.dsn);
        draft.build(&mut problems)
    });
    problems.into_result()?;
    let message = message.ok_or_else(|| CliError::new(Exit::DataErr, "the message is empty"))?;
    Ok((message, dsn.or(flags_dsn), target))
}

/// The account's `from`, else the user name when it is an address.
pub(crate) fn default_from(args: &TargetArgs, target: Option<&Target>) -> Option<Sourced<String>> {
    let from_target = target.and_then(|t| {
        let user = t.credentials.as_ref().map(|c| c.username().to_owned());
        t.from.clone().or(user)
    });
    // A dry run resolves no target (it would read the password): read the account alone.
    let from = from_target
        .or_else(|| args.user.clone())
        .or_else(|| account_from(args))?;
    Some(Sourced::new(
        "the default sender (the account's from, or --user)",
        from,
    ))
}

fn account_from(args: &TargetArgs) -> Option<String> {
    let account = args.account().ok()??;
    account.from.or(account.user)
}

/// Prints the message as it would be sent, and its envelope; attachments are read and
/// encoded as they are written, as the real send does.
fn dry_run(message: &Message, out: &OutputArgs) -> Result<Exit, CliError> {
    let to: Vec<&str> = message.envelope_to().iter().map(Mailbox::as_str).collect();
    let id = message.message_id().to_string();
    output::dry_run_streamed(
        out,
        Some(&id),
        message.envelope_from().as_str(),
        &to,
        message.encoded_len(),
        &mut message.reader(),
    )
}
