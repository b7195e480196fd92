//! `smtpwire raw`: send a complete RFC 5322 message as it is, like sendmail, so cron jobs,
//! `git send-email` and scripts can use smtpwire as they would msmtp.

use crate::compose::Problems;
use crate::deliver::{self, deliver, Payload};
use crate::exit::{CliError, Exit};
use crate::output::{self, OutputArgs};
use crate::target::{Target, TargetArgs};
use clap::Args;
use smtpwire::address::Mailbox as SmtpMailbox;
use smtpwire::envelope::{Body, Envelope, Recipient};
use smtpwire::mime::{Address, Mailbox};
use std::io::Read;
use std::path::PathBuf;

const AFTER_HELP: &str = "\
The message goes out byte for byte, except that Bcc header fields are always removed (the
Bcc recipients get it through the envelope only). Line endings are made CRLF and lines
starting with a dot are escaped on the way out; a line holding a single dot does not end
the input.

Examples:
  smtpwire raw --account work -t < message.eml
  printf 'Subject: backup done\\n\\nAll good.\\n' | smtpwire raw --account work --to me@example.com
  git send-email --sendmail-cmd='smtpwire raw --account work -t' ...

Exit codes: 0 sent; 69 refused, or some recipients refused for good (listed); 75 temporary
failure or some recipients refused for now; 79 delivery unknown (the connection was lost
after the message was sent: check before sending again); 64 usage; 65 bad message;
66 missing file; 68 unknown host; 74 I/O; 76 protocol; 77 authentication; 78 configuration.";

/// Flags of `smtpwire raw`.
#[derive(Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct RawArgs {
    #[command(flatten, next_help_heading = "Connection")]
    target: TargetArgs,
    /// The envelope sender (MAIL FROM) [default: the message's Sender, else its From, else
    /// the account's `from` or --user].
    #[arg(long, short = 'f', value_name = "ADDRESS", help_heading = "Envelope")]
    from: Option<String>,
    /// Recipients (RCPT TO): repeat the flag or separate addresses with commas.
    #[arg(long, value_name = "ADDRESS,...", help_heading = "Envelope")]
    to: Vec<String>,
    /// Also sends to the addresses in the message's To, Cc and Bcc fields, like sendmail -t.
    #[arg(short = 't', long = "read-recipients", help_heading = "Envelope")]
    read_recipients: bool,
    /// The message file [default: standard input].
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    /// Prints the message as it would be sent (Bcc removed) and its envelope; sends nothing.
    #[arg(long, help_heading = "Output")]
    dry_run: bool,
    #[command(flatten, next_help_heading = "Output")]
    output: OutputArgs,
    /// Prints a summary on success; by default raw is silent then, like sendmail (cron mails
    /// any output).
    #[arg(long, short, help_heading = "Output")]
    verbose: bool,
}

/// Runs `smtpwire raw`.
pub async fn run(args: RawArgs) -> Result<Exit, CliError> {
    let prepared = prepare(&args).map_err(|e| args.output.not_sent(e))?;
    let Prepared {
        envelope,
        bytes,
        message_id,
        target,
    } = prepared;
    let Some(target) = target else {
        let to: Vec<String> = envelope
            .recipients()
            .iter()
            .map(|r| r.mailbox().as_str().to_owned())
            .collect();
        let from = envelope.from().map(SmtpMailbox::as_str).unwrap_or_default();
        return output::dry_run(&args.output, message_id.as_deref(), from, &to, &bytes);
    };
    let config = target
        .client_config(args.output.wants_transcript())
        .map_err(|e| args.output.not_sent(e))?;
    let attempt = deliver(
        config,
        Payload::Raw {
            envelope,
            bytes: &bytes,
        },
    )
    .await;
    output::finish(&attempt, message_id.as_deref(), &args.output, args.verbose)
}

struct Prepared {
    envelope: Envelope,
    bytes: Vec<u8>,
    message_id: Option<String>,
    target: Option<Target>,
}

/// Reads the message and works out its envelope; nothing touches the network.
fn prepare(args: &RawArgs) -> Result<Prepared, CliError> {
    args.output.check()?;
    let target = deliver::target(&args.target, args.dry_run)?;
    let input = read_input(args.file.as_ref())?;
    let message = RawMessage::parse(&input);
    let mut problems = Problems::default();

    let mut recipients: Vec<SmtpMailbox> = Vec::new();
    let mut add = |at: &str, text: &str, problems: &mut Problems| {
        for mailbox in mailboxes(at, text, problems) {
            if !recipients.contains(&mailbox) {
                recipients.push(mailbox);
            }
        }
    };
    for list in &args.to {
        add("--to", list, &mut problems);
    }
    if args.read_recipients {
        for name in ["To", "Cc", "Bcc"] {
            for value in message.values(name) {
                add(&format!("{name} header"), &value, &mut problems);
            }
        }
    }
    if recipients.is_empty() && problems.is_empty() {
        let (exit, what) = if args.read_recipients {
            (Exit::DataErr, "the message has no To, Cc or Bcc field")
        } else {
            (
                Exit::Usage,
                "give --to, or -t to take them from the message's To, Cc and Bcc",
            )
        };
        problems.add(exit, "recipients", what);
    }

    let sender = envelope_sender(args, &message, target.as_ref(), &mut problems);
    problems.into_result()?;
    let bytes = message.without_bcc();
    let body = if bytes.is_ascii() {
        Body::SevenBit
    } else {
        Body::EightBitMime
    };
    let envelope = Envelope::new(sender, recipients.into_iter().map(Recipient::new))
        .map_err(|e| CliError::new(Exit::DataErr, format!("envelope: {e}")))?
        .with_size(bytes.len() as u64)
        .with_body(body);
    Ok(Prepared {
        envelope,
        message_id: message
            .values("Message-ID")
            .first()
            .map(|id| id.trim().to_owned()),
        bytes,
        target,
    })
}

fn read_input(file: Option<&PathBuf>) -> Result<Vec<u8>, CliError> {
    match file {
        Some(path) => std::fs::read(path).map_err(|e| {
            CliError::new(
                Exit::NoInput,
                format!("cannot read the message {}: {e}", path.display()),
            )
        }),
        None => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|e| CliError::new(Exit::IoErr, format!("cannot read stdin: {e}")))?;
            Ok(bytes)
        }
    }
    .and_then(|bytes| match bytes.is_empty() {
        true => Err(CliError::new(Exit::DataErr, "the message is empty")
            .hint("give the message as a file, or on standard input")),
        false => Ok(bytes),
    })
}

/// `--from`, else the message's Sender, else its From, else the account's address.
fn envelope_sender(
    args: &RawArgs,
    message: &RawMessage,
    target: Option<&Target>,
    problems: &mut Problems,
) -> Option<SmtpMailbox> {
    let header = ["Sender", "From"].into_iter().find_map(|name| {
        let value = message.values(name).into_iter().next()?;
        Some((format!("{name} header"), value))
    });
    let account = target
        .and_then(|t| {
            let user = t.credentials.as_ref().map(|c| c.username().to_owned());
            t.from.clone().or(user)
        })
        .or_else(|| args.target.user.clone())
        .map(|from| ("the account's from".to_owned(), from));
    let Some((at, text)) = args
        .from
        .clone()
        .map(|from| ("--from".to_owned(), from))
        .or(header)
        .or(account)
    else {
        problems.add(
            Exit::DataErr,
            "sender",
            "the message has no From field: give --from ADDRESS",
        );
        return None;
    };
    let mut found = mailboxes(&at, &text, problems).into_iter();
    let sender = found.next();
    if sender.is_none() && problems.is_empty() {
        // An empty group, `undisclosed:;`, would make the null sender of a bounce.
        problems.add(Exit::DataErr, format!("{at} {text:?}"), "holds no address");
    }
    sender
}

/// The envelope mailboxes of an address list (group members included, display names dropped).
fn mailboxes(at: &str, text: &str, problems: &mut Problems) -> Vec<SmtpMailbox> {
    let addresses = match Address::parse_list(text) {
        Ok(addresses) => addresses,
        Err(why) => {
            problems.add(Exit::DataErr, format!("{at} {text:?}"), why);
            return Vec::new();
        }
    };
    addresses
        .iter()
        .flat_map(Address::mailboxes)
        .map(Mailbox::address)
        .filter_map(|address| match SmtpMailbox::parse(address) {
            Ok(mailbox) => Some(mailbox),
            Err(why) => {
                problems.add(Exit::DataErr, format!("{at} {address:?}"), why);
                None
            }
        })
        .collect()
}

/// A message split into its header fields (each with its folded lines, as read) and the rest.
struct RawMessage<'a> {
    fields: Vec<&'a [u8]>,
    rest: &'a [u8],
}

impl<'a> RawMessage<'a> {
    /// The header section runs to the first empty line, or to the first line that is neither
    /// a field nor the continuation of one (a message without headers is all body).
    fn parse(input: &'a [u8]) -> Self {
        let mut fields: Vec<&'a [u8]> = Vec::new();
        let mut offset = 0;
        let mut field_start = None;
        while offset < input.len() {
            let tail = input.get(offset..).unwrap_or_default();
            let line_len = tail
                .iter()
                .position(|&b| b == b'\n')
                .map_or(tail.len(), |i| i + 1);
            let line = tail.get(..line_len).unwrap_or_default();
            let continuation = matches!(line.first(), Some(b' ' | b'\t'));
            if continuation && field_start.is_some() {
                offset += line_len;
                continue;
            }
            if let Some(start) = field_start.take() {
                fields.push(input.get(start..offset).unwrap_or_default());
            }
            if field_name(line).is_none() {
                break;
            }
            field_start = Some(offset);
            offset += line_len;
        }
        if let Some(start) = field_start {
            fields.push(input.get(start..offset).unwrap_or_default());
        }
        Self {
            fields,
            rest: input.get(offset..).unwrap_or_default(),
        }
    }

    /// The unfolded values of every field called `name`.
    fn values(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|field| is_named(field, name))
            .map(|field| {
                let colon = field.iter().position(|&b| b == b':').unwrap_or(field.len());
                let value = field.get(colon + 1..).unwrap_or_default();
                let text = String::from_utf8_lossy(value);
                text.split(['\r', '\n'])
                    .map(str::trim)
                    .filter(|part| !part.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    /// The message as it goes out: every field but Bcc, then the rest untouched.
    fn without_bcc(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            self.fields.iter().map(|f| f.len()).sum::<usize>() + self.rest.len(),
        );
        for field in &self.fields {
            if !is_named(field, "Bcc") {
                out.extend_from_slice(field);
            }
        }
        out.extend_from_slice(self.rest);
        out
    }
}

/// The name of a header field, `Subject` in `Subject: hi`: printable ASCII up to the colon
/// (RFC 5322 ftext); `None` for a line that does not start a field.
fn field_name(line: &[u8]) -> Option<&[u8]> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = line.get(..colon)?;
    let ftext = name.iter().all(|&b| (0x21..0x7f).contains(&b));
    (!name.is_empty() && ftext).then_some(name)
}

fn is_named(field: &[u8], name: &str) -> bool {
    field_name(field).is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const MESSAGE: &[u8] = b"From: Alice <alice@example.com>\r\n\
To: bob@example.com,\r\n  \"Carol, C.\" <carol@example.com>\r\n\
Bcc: secret@example.com,\r\n\thidden@example.com\r\n\
Subject: hi\r\n\
\r\n\
Bcc: this is body text, not a header\r\n";

    #[test]
    fn header_fields_are_unfolded() {
        let message = RawMessage::parse(MESSAGE);
        assert_eq!(
            message.values("to"),
            ["bob@example.com, \"Carol, C.\" <carol@example.com>"]
        );
        assert_eq!(
            message.values("BCC"),
            ["secret@example.com, hidden@example.com"]
        );
        assert!(message.values("Cc").is_empty());
    }

    #[test]
    fn bcc_fields_are_removed_and_nothing_else() {
        let sent = RawMessage::parse(MESSAGE).without_bcc();
        let expected: &[u8] = b"From: Alice <alice@example.com>\r\n\
To: bob@example.com,\r\n  \"Carol, C.\" <carol@example.com>\r\n\
Subject: hi\r\n\
\r\n\
Bcc: this is body text, not a header\r\n";
        assert_eq!(
            String::from_utf8_lossy(&sent),
            String::from_utf8_lossy(expected)
        );
    }

    #[test]
    fn a_message_without_headers_is_all_body() {
        let message = RawMessage::parse(b"just text\nmore: text\n");
        assert!(message.fields.is_empty());
        assert_eq!(message.without_bcc(), b"just text\nmore: text\n");
        let lf = RawMessage::parse(b"Bcc: x@example.com\nSubject: s\n\nbody\n");
        assert_eq!(lf.without_bcc(), b"Subject: s\n\nbody\n");
    }

    #[test]
    fn group_members_and_display_names_give_envelope_mailboxes() {
        let mut problems = Problems::default();
        let found = mailboxes(
            "To header",
            "team: a@example.com, B <b@example.com>;, c@example.com",
            &mut problems,
        );
        let found: Vec<&str> = found.iter().map(SmtpMailbox::as_str).collect();
        assert_eq!(found, ["a@example.com", "b@example.com", "c@example.com"]);
        assert!(problems.is_empty());
        assert!(mailboxes("--to", "bob@", &mut problems).is_empty());
        assert!(!problems.is_empty());
    }
}
