//! `smtpwire raw`: send a complete RFC 5322 message as it is, like sendmail, so cron jobs,
//! `git send-email` and scripts can use smtpwire as they would msmtp.

use crate::compose::Problems;
use crate::deliver::{self, deliver, Attempt, Payload};
use crate::exit::{CliError, Exit};
use crate::output::{self, OutputArgs};
use crate::target::{Target, TargetArgs};
use clap::Args;
use smtpwire::address::Mailbox;
use smtpwire::data::{DataEncoder, Framing, LineEndings};
use smtpwire::envelope::{Body, Envelope, Recipient};
use smtpwire::mime::{Address, NamedAddress};
use std::io::Read;
use std::path::PathBuf;

const AFTER_HELP: &str = "\
The message goes out byte for byte, except that line endings are made CRLF (a lone CR or
LF counts as a line end, as on the wire) and Bcc and Resent-Bcc header fields are always
removed, `Bcc :` included (the Bcc recipients get it through the envelope only). Lines
starting with a dot are escaped on the way out; a line holding a single dot does not end
the input. -t reads To, Cc and Bcc, or the newest Resent-To, Resent-Cc and Resent-Bcc.

Examples:
  smtpwire raw --account work -t < message.eml
  printf 'Subject: backup done\\n\\nAll good.\\n' | smtpwire raw --account work --to me@example.com
  git send-email --sendmail-cmd='smtpwire sendmail' ...     (see `smtpwire sendmail --help`)

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
    send_prepared(prepared, &args.output, args.verbose, |_| {}).await
}

/// Sends a prepared message, or prints it when there is no target (a dry run); `seen` gets
/// the attempt before its report is printed (`sendmail` logs it). Shared by `raw` and
/// `sendmail`.
pub(crate) async fn send_prepared(
    prepared: Prepared,
    output: &OutputArgs,
    verbose: bool,
    seen: impl FnOnce(&Attempt),
) -> Result<Exit, CliError> {
    let Prepared {
        envelope,
        bytes,
        message_id,
        target,
    } = prepared;
    let Some(target) = target else {
        return dry_run(output, &envelope, message_id.as_deref(), &bytes);
    };
    let config = target
        .client_config(output.wants_transcript())
        .map_err(|e| output.not_sent(e))?;
    let attempt = deliver(
        config,
        Payload::Raw {
            envelope,
            bytes: &bytes,
        },
    )
    .await;
    seen(&attempt);
    output::finish(&attempt, message_id.as_deref(), output, verbose)
}

/// Prints the message and its envelope instead of sending them.
pub fn dry_run(
    out: &OutputArgs,
    envelope: &Envelope,
    message_id: Option<&str>,
    bytes: &[u8],
) -> Result<Exit, CliError> {
    let to: Vec<&str> = envelope
        .recipients()
        .iter()
        .map(|r| r.mailbox().as_str())
        .collect();
    let from = envelope.from().map(Mailbox::as_str).unwrap_or_default();
    output::dry_run(out, message_id, from, &to, bytes)
}

/// A message ready to go: its envelope, its octets and where to send them.
pub struct Prepared {
    /// The envelope, with the exact size declared.
    pub envelope: Envelope,
    /// The message as it goes out: CRLF line ends, no Bcc field.
    pub bytes: Vec<u8>,
    /// Its Message-ID, for the report.
    pub message_id: Option<String>,
    /// Where to send it; `None` for a dry run.
    pub target: Option<Target>,
}

/// Reads the message and works out its envelope; nothing touches the network.
fn prepare(args: &RawArgs) -> Result<Prepared, CliError> {
    args.output.check()?;
    let target = deliver::target(&args.target, args.dry_run)?;
    let input = read_input(args.file.as_ref())?;
    if input.is_empty() {
        return Err(CliError::new(Exit::DataErr, "the message is empty")
            .hint("give the message as a file, or on standard input"));
    }
    let input = normalise(&input)?;
    let message = RawMessage::parse(&input);
    let mut problems = Problems::default();

    let recipients = recipients(
        ("--to", &args.to),
        args.read_recipients.then_some(&message),
        "give --to, or -t to take them from the message's To, Cc and Bcc",
        &mut problems,
    );

    let account = target
        .as_ref()
        .and_then(account_sender)
        .or_else(|| args.target.user.clone());
    let mut candidates = vec![];
    candidates.extend(args.from.clone().map(|from| ("--from".to_owned(), from)));
    candidates.extend(message.sender_fields());
    candidates.extend(account.map(|from| ("the account's from".to_owned(), from)));
    let sender = envelope_sender(candidates, "give --from ADDRESS", &mut problems);
    problems.into_result()?;
    let bytes = message.to_send(&[]);
    Ok(Prepared {
        envelope: envelope(sender, recipients.into_iter().map(Recipient::new), &bytes)?,
        message_id: message.message_id(),
        bytes,
        target,
    })
}

/// The account's `from`, else its user.
pub fn account_sender(target: &Target) -> Option<String> {
    let user = target.credentials.as_ref().map(|c| c.username().to_owned());
    target.from.clone().or(user)
}

/// The envelope for `bytes` as they go out: `SIZE` counts exactly those octets (RFC 1870: the
/// message with CRLF line ends, before dot-stuffing), `BODY=8BITMIME` when any is above 127.
pub fn envelope(
    sender: Option<Mailbox>,
    recipients: impl IntoIterator<Item = Recipient>,
    bytes: &[u8],
) -> Result<Envelope, CliError> {
    let body = if bytes.is_ascii() {
        Body::SevenBit
    } else {
        Body::EightBitMime
    };
    Ok(Envelope::new(sender, recipients)
        .map_err(|e| CliError::new(Exit::DataErr, format!("envelope: {e}")))?
        .with_size(bytes.len() as u64)
        .with_body(body))
}

/// The whole file, or standard input.
pub fn read_input(file: Option<&PathBuf>) -> Result<Vec<u8>, CliError> {
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
}

/// Makes every line end CRLF exactly as the DATA encoder will (a CRLF, a lone CR and a lone
/// LF each become one CRLF, and a last line without one gets one), and refuses what it would
/// refuse (a NUL, a line over 998 octets) before anything is sent.
///
/// The header parser, the Bcc filter and `SIZE` then all work on the octets the server will
/// read: a lone CR that the encoder would turn into a line break cannot hide a field from the
/// parser, and the size cannot fall short of what is sent.
pub fn normalise(input: &[u8]) -> Result<Vec<u8>, CliError> {
    let mut encoder = DataEncoder::new(Framing::Bdat, LineEndings::Normalize);
    let mut out = Vec::with_capacity(input.len() + input.len() / 32 + 2);
    encoder
        .encode(input, &mut out)
        .and_then(|()| encoder.finish(&mut out))
        .map_err(|e| CliError::new(Exit::DataErr, format!("the message cannot be sent: {e}")))?;
    Ok(out)
}

/// The envelope recipients: those given on the command line (`given`: the flag's name and its
/// values), then with `-t` those of the message's To, Cc and Bcc fields. None at all is a
/// problem: a usage mistake (`how` says what to give) or, with `-t`, a message without them.
pub fn recipients(
    given: (&str, &[String]),
    from_headers: Option<&RawMessage<'_>>,
    how: &str,
    problems: &mut Problems,
) -> Vec<Mailbox> {
    let mut recipients: Vec<Mailbox> = Vec::new();
    for list in given.1 {
        add_recipients(&mut recipients, given.0, list, problems);
    }
    if let Some(message) = from_headers {
        for (name, value) in message.header_recipients() {
            add_recipients(&mut recipients, &format!("{name} header"), &value, problems);
        }
    }
    if recipients.is_empty() && problems.is_empty() {
        let (exit, what) = match from_headers {
            Some(_) => (Exit::DataErr, "the message has no To, Cc or Bcc field"),
            None => (Exit::Usage, how),
        };
        problems.add(exit, "recipients", what);
    }
    recipients
}

/// Adds the mailboxes of an address list to `recipients`, each once.
pub fn add_recipients(
    recipients: &mut Vec<Mailbox>,
    at: &str,
    text: &str,
    problems: &mut Problems,
) {
    for mailbox in mailboxes(at, text, problems) {
        if !recipients.contains(&mailbox) {
            recipients.push(mailbox);
        }
    }
}

/// The envelope sender from the first of `candidates` (where it came from, and the text).
pub fn envelope_sender(
    candidates: Vec<(String, String)>,
    hint: &str,
    problems: &mut Problems,
) -> Option<Mailbox> {
    let Some((at, text)) = candidates.into_iter().next() else {
        problems.add(
            Exit::DataErr,
            "sender",
            format!("the message has no From field: {hint}"),
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
pub fn mailboxes(at: &str, text: &str, problems: &mut Problems) -> Vec<Mailbox> {
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
        .map(NamedAddress::address)
        .filter_map(|address| match Mailbox::parse(address) {
            Ok(mailbox) => Some(mailbox),
            Err(why) => {
                problems.add(Exit::DataErr, format!("{at} {address:?}"), why);
                None
            }
        })
        .collect()
}

/// A message split into its header fields (each with its folded lines, as read) and the rest.
pub struct RawMessage<'a> {
    fields: Vec<&'a [u8]>,
    rest: &'a [u8],
    /// Whether the header section ended at an empty line (or the message ended there).
    separated: bool,
}

impl<'a> RawMessage<'a> {
    /// The header section runs to the first empty line, or to the first line that is neither
    /// a field nor the continuation of one (a message without headers is all body).
    ///
    /// A line ends at CRLF, a lone CR or a lone LF: the rule of the DATA encoder, so that the
    /// fields seen here are the fields the server sees, even in input that was not normalised.
    pub fn parse(input: &'a [u8]) -> Self {
        let mut fields: Vec<&'a [u8]> = Vec::new();
        let mut offset = 0;
        let mut field_start = None;
        let mut separated = true;
        while let Some(tail) = input.get(offset..).filter(|t| !t.is_empty()) {
            let (content, line_len) = next_line(tail);
            let continuation = matches!(content.first(), Some(b' ' | b'\t'));
            if continuation && field_start.is_some() {
                offset += line_len;
                continue;
            }
            if let Some(start) = field_start.take() {
                fields.push(input.get(start..offset).unwrap_or_default());
            }
            if field_name(content).is_none() {
                separated = content.is_empty();
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
            separated,
        }
    }

    /// Whether the message has a field called `name`.
    pub fn has(&self, name: &str) -> bool {
        self.fields.iter().any(|field| is_named(field, name))
    }

    /// Every field called `name`, whole, as read (with its folded lines and line ends).
    pub fn fields_named<'n>(&'n self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + 'n {
        self.fields
            .iter()
            .copied()
            .filter(move |field| is_named(field, name))
    }

    /// The unfolded values of every field called `name`.
    pub fn values(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|field| is_named(field, name))
            .map(|field| unfolded_value(field))
            .collect()
    }

    /// The Message-ID, without surrounding space.
    pub fn message_id(&self) -> Option<String> {
        self.values("Message-ID")
            .first()
            .map(|id| id.trim().to_owned())
    }

    /// The Sender field, else the first From field, with the name of the field.
    pub fn sender_fields(&self) -> Option<(String, String)> {
        ["Sender", "From"].into_iter().find_map(|name| {
            let value = self.values(name).into_iter().next()?;
            Some((format!("{name} header"), value))
        })
    }

    /// The fields `-t` takes recipients from, as (name, value): To, Cc and Bcc; or, when the
    /// message was resent, the Resent-To, Resent-Cc and Resent-Bcc of the newest (topmost)
    /// block of Resent- fields, as sendmail and msmtp do.
    pub fn header_recipients(&self) -> Vec<(String, String)> {
        let resent_block = self
            .fields
            .iter()
            .skip_while(|field| !is_resent(field))
            .take_while(|field| is_resent(field));
        let mut found: Vec<(String, String)> = Vec::new();
        for field in resent_block {
            for name in ["Resent-To", "Resent-Cc", "Resent-Bcc"] {
                if is_named(field, name) {
                    found.push((name.to_owned(), unfolded_value(field)));
                }
            }
        }
        if !found.is_empty() {
            return found;
        }
        for field in &self.fields {
            for name in ["To", "Cc", "Bcc"] {
                if is_named(field, name) {
                    found.push((name.to_owned(), unfolded_value(field)));
                }
            }
        }
        found
    }

    /// The message as it goes out: `extra` (whole fields, CRLF-ended) first, then every field
    /// but Bcc and Resent-Bcc, then the rest untouched.
    ///
    /// Where the header section did not end at an empty line (a line that is not a field
    /// ended it), an empty line is put there, so that no reader of the message can take later
    /// lines, a `Bcc:` among them, for header fields that were not filtered here.
    pub fn to_send(&self, extra: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            extra.len() + self.fields.iter().map(|f| f.len()).sum::<usize>() + self.rest.len() + 2,
        );
        out.extend_from_slice(extra);
        for field in &self.fields {
            if !is_named(field, "Bcc") && !is_named(field, "Resent-Bcc") {
                out.extend_from_slice(field);
            }
        }
        if !self.separated {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(self.rest);
        out
    }
}

/// The first line of `bytes`, without its line end, and its length with it.
fn next_line(bytes: &[u8]) -> (&[u8], usize) {
    match bytes.iter().position(|&b| b == b'\r' || b == b'\n') {
        None => (bytes, bytes.len()),
        Some(at) => {
            let crlf = bytes.get(at..at + 2) == Some(b"\r\n");
            let content = bytes.get(..at).unwrap_or_default();
            (content, at + if crlf { 2 } else { 1 })
        }
    }
}

/// A field's value after the colon, its folded lines joined by single spaces.
fn unfolded_value(field: &[u8]) -> String {
    let colon = field.iter().position(|&b| b == b':').unwrap_or(field.len());
    let value = field.get(colon + 1..).unwrap_or_default();
    String::from_utf8_lossy(value)
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The name of a header field, `Subject` in `Subject: hi`: printable ASCII up to the colon
/// (RFC 5322 ftext), where spaces and tabs before the colon are allowed and dropped (the
/// obsolete form of RFC 5322 §4.5.3, `Bcc : x`, which readers still accept); `None` for a
/// line that does not start a field.
fn field_name(line: &[u8]) -> Option<&[u8]> {
    let colon = line.iter().position(|&b| b == b':')?;
    let mut name = line.get(..colon)?;
    while let [rest @ .., b' ' | b'\t'] = name {
        name = rest;
    }
    let ftext = name.iter().all(|&b| (0x21..0x7f).contains(&b));
    (!name.is_empty() && ftext).then_some(name)
}

fn is_named(field: &[u8], name: &str) -> bool {
    field_name(field).is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
}

fn is_resent(field: &[u8]) -> bool {
    field_name(field).is_some_and(|n| {
        n.get(..7)
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case(b"Resent-"))
    })
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

    fn text(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

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
        let sent = RawMessage::parse(MESSAGE).to_send(&[]);
        let expected: &[u8] = b"From: Alice <alice@example.com>\r\n\
To: bob@example.com,\r\n  \"Carol, C.\" <carol@example.com>\r\n\
Subject: hi\r\n\
\r\n\
Bcc: this is body text, not a header\r\n";
        assert_eq!(text(&sent), text(expected));
    }

    #[test]
    fn lines_end_at_crlf_a_lone_cr_or_a_lone_lf_as_on_the_wire() {
        let message = RawMessage::parse(b"A: 1\rBcc: x\nB: 2\r\n\rbody\r\n");
        assert_eq!(message.values("a"), ["1"]);
        assert_eq!(message.values("bcc"), ["x"]);
        assert_eq!(message.values("b"), ["2"]);
        assert_eq!(text(&message.to_send(&[])), "A: 1\rB: 2\r\n\rbody\r\n");
    }

    #[test]
    fn whitespace_before_the_colon_is_the_obsolete_form_of_a_field() {
        let message = RawMessage::parse(b"Subject: s\r\nBcc \t: x@example.com\r\n\r\nbody\r\n");
        assert_eq!(message.values("Bcc"), ["x@example.com"]);
        assert_eq!(text(&message.to_send(&[])), "Subject: s\r\n\r\nbody\r\n");
        assert!(field_name(b" Bcc: x").is_none());
        assert!(field_name(b" : x").is_none());
    }

    #[test]
    fn a_header_section_cut_short_by_a_stray_line_gets_its_empty_line() {
        // Readers that went on past the stray line would see a Bcc field that is not filtered.
        let message = RawMessage::parse(b"Subject: s\r\nnot a field\r\nBcc: x@example.com\r\n");
        assert_eq!(
            text(&message.to_send(&[])),
            "Subject: s\r\n\r\nnot a field\r\nBcc: x@example.com\r\n"
        );
        let headerless = RawMessage::parse(b"just text\r\nmore: text\r\n");
        assert!(headerless.fields.is_empty());
        assert_eq!(
            text(&headerless.to_send(&[])),
            "\r\njust text\r\nmore: text\r\n"
        );
        let extra = b"From: a@example.com\r\n";
        assert_eq!(
            text(&headerless.to_send(extra)),
            "From: a@example.com\r\n\r\njust text\r\nmore: text\r\n"
        );
        let headers_only = RawMessage::parse(b"Subject: s\r\n");
        assert_eq!(
            text(&headers_only.to_send(extra)),
            "From: a@example.com\r\nSubject: s\r\n"
        );
        assert_eq!(text(&RawMessage::parse(b"").to_send(extra)), text(extra));
    }

    #[test]
    fn t_reads_the_newest_resent_block_when_there_is_one() {
        let resent = RawMessage::parse(
            b"Resent-From: r@example.com\r\nResent-To: new@example.com\r\n\
Resent-Bcc: newhidden@example.com\r\nResent-From: old@example.com\r\nX: y\r\n\
Resent-To: old@example.com\r\nTo: to@example.com\r\n\r\n",
        );
        assert_eq!(
            resent.header_recipients(),
            [
                ("Resent-To".to_owned(), "new@example.com".to_owned()),
                ("Resent-Bcc".to_owned(), "newhidden@example.com".to_owned()),
            ]
        );
        let plain = RawMessage::parse(
            b"Resent-From: r@example.com\r\nTo: a@example.com\r\nCc: b@example.com\r\n\r\n",
        );
        assert_eq!(plain.header_recipients().len(), 2);
        assert!(!text(&resent.to_send(&[])).contains("newhidden"));
    }

    #[test]
    fn normalising_matches_the_encoder() {
        assert_eq!(
            normalise(b"a\rb\nc\r\n.d").unwrap(),
            b"a\r\nb\r\nc\r\n.d\r\n"
        );
        assert_eq!(normalise(b"").unwrap(), b"");
        assert_eq!(normalise(b"a\0b").unwrap_err().exit, Exit::DataErr);
        assert_eq!(normalise(&[b'x'; 999]).unwrap_err().exit, Exit::DataErr);
    }

    #[test]
    fn group_members_and_display_names_give_envelope_mailboxes() {
        let mut problems = Problems::default();
        let found = mailboxes(
            "To header",
            "team: a@example.com, B <b@example.com>;, c@example.com",
            &mut problems,
        );
        let found: Vec<&str> = found.iter().map(Mailbox::as_str).collect();
        assert_eq!(found, ["a@example.com", "b@example.com", "c@example.com"]);
        assert!(problems.is_empty());
        assert!(mailboxes("--to", "bob@", &mut problems).is_empty());
        assert!(!problems.is_empty());
    }
}
