//! The message `send` builds, from flags or from a message file (see `message_file`).
//!
//! Every field is checked on its own and every problem is collected with where it came from
//! (`--to`, `attachments[2].path`), so one run lists them all, before anything is sent.

use crate::exit::{CliError, Exit};
use clap::Args;
use smtpwire::mime::{self, Address, Attachment, Message, MessageBuilder, MessageId, NamedAddress};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The message flags of `smtpwire send`.
#[derive(Args, Debug, Default)]
pub struct ContentArgs {
    /// The author (From) and envelope sender [default: the account's `from`, else --user].
    #[arg(long, value_name = "ADDRESS")]
    pub from: Option<String>,
    /// Recipients (To): repeat the flag or separate addresses with commas.
    #[arg(long, value_name = "ADDRESS,...")]
    pub to: Vec<String>,
    /// Copy recipients (Cc), as --to.
    #[arg(long, value_name = "ADDRESS,...")]
    pub cc: Vec<String>,
    /// Blind copy recipients: in the envelope only, never in the headers.
    #[arg(long, value_name = "ADDRESS,...")]
    pub bcc: Vec<String>,
    /// Where replies should go (Reply-To).
    #[arg(long, value_name = "ADDRESS,...")]
    pub reply_to: Vec<String>,
    /// The subject, any text on one line.
    #[arg(long, value_name = "TEXT")]
    pub subject: Option<String>,
    /// The plain text body: the text itself, or @FILE to read it from a file (@- for stdin).
    #[arg(long, value_name = "TEXT|@FILE")]
    pub text: Option<String>,
    /// The HTML body, as --text; with --text as well, mail clients pick the one they show.
    #[arg(long, value_name = "HTML|@FILE")]
    pub html: Option<String>,
    /// Attaches a file (repeatable); its name and type come from the path.
    #[arg(long, value_name = "PATH")]
    pub attach: Vec<PathBuf>,
    /// Embeds a file in the HTML body (repeatable); the HTML refers to it as
    /// `cid:FILE-NAME`, e.g. `<img src="cid:logo.png">`.
    #[arg(long, value_name = "PATH")]
    pub inline: Vec<PathBuf>,
    /// Adds a header, `'Name: value'` (repeatable), e.g. `'X-Priority: 1'`; In-Reply-To and
    /// References are accepted too.
    #[arg(long, value_name = "'NAME: VALUE'")]
    pub header: Vec<String>,
}

impl ContentArgs {
    /// The flags that describe the message, by name, for refusing them next to `--message`.
    pub fn given(&self) -> Vec<&'static str> {
        let flags = [
            ("--from", self.from.is_some()),
            ("--to", !self.to.is_empty()),
            ("--cc", !self.cc.is_empty()),
            ("--bcc", !self.bcc.is_empty()),
            ("--reply-to", !self.reply_to.is_empty()),
            ("--subject", self.subject.is_some()),
            ("--text", self.text.is_some()),
            ("--html", self.html.is_some()),
            ("--attach", !self.attach.is_empty()),
            ("--inline", !self.inline.is_empty()),
            ("--header", !self.header.is_empty()),
        ];
        flags
            .into_iter()
            .filter_map(|(name, given)| given.then_some(name))
            .collect()
    }
}

/// A value and where it came from, for error messages: `--to`, `to[1]`.
#[derive(Clone, Debug)]
pub struct Sourced<T> {
    /// The flag or field path.
    pub at: String,
    /// The value.
    pub value: T,
}

impl<T> Sourced<T> {
    /// A value from `at`.
    pub fn new(at: impl Into<String>, value: T) -> Self {
        Self {
            at: at.into(),
            value,
        }
    }
}

/// A file to attach or embed.
#[derive(Clone, Debug, Default)]
pub struct FileSpec {
    /// Where it is.
    pub path: PathBuf,
    /// The name the recipient sees, instead of the file's own.
    pub name: Option<String>,
    /// The media type, instead of the one guessed from the name.
    pub content_type: Option<String>,
    /// Set for a part embedded in the HTML body.
    pub content_id: Option<String>,
}

/// Everything a message is made of, before it is checked.
#[derive(Debug, Default)]
pub struct Draft {
    /// An idempotency key or a whole Message-ID.
    pub message_id: Option<Sourced<String>>,
    /// The author.
    pub from: Option<Sourced<String>>,
    /// Reply-To lists.
    pub reply_to: Vec<Sourced<String>>,
    /// To lists.
    pub to: Vec<Sourced<String>>,
    /// Cc lists.
    pub cc: Vec<Sourced<String>>,
    /// Bcc lists.
    pub bcc: Vec<Sourced<String>>,
    /// The subject.
    pub subject: Option<Sourced<String>>,
    /// The plain text body.
    pub text: Option<String>,
    /// The HTML body.
    pub html: Option<Sourced<String>>,
    /// Attachments and inline parts.
    pub files: Vec<Sourced<FileSpec>>,
    /// Extra headers.
    pub headers: Vec<Sourced<(String, String)>>,
    /// Delivery status notifications asked for (the message file's `notify`, `ret`, `envid`).
    pub dsn: crate::dsn::Dsn,
    /// Where the draft came from, for reporting what is missing.
    pub origin: Origin,
}

/// Flags or a message file: a missing sender or recipient is a usage error (64) in one, a
/// data error (65) in the other, and named after the flag or the field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Origin {
    /// The command line.
    #[default]
    Flags,
    /// A `--message` file.
    File,
}

impl Origin {
    fn missing(self, problems: &mut Problems, at: &str, flags: &str, fields: &str) {
        let (exit, what) = match self {
            Self::Flags => (Exit::Usage, flags),
            Self::File => (Exit::DataErr, fields),
        };
        problems.add(exit, at, what);
    }
}

/// Problems found in the input, each with where it is; reported all at once.
#[derive(Debug, Default)]
pub struct Problems {
    list: Vec<Problem>,
}

#[derive(Debug)]
struct Problem {
    exit: Exit,
    at: String,
    what: String,
}

impl Problems {
    /// Records a problem at `at` (a flag or a field path).
    pub fn add(&mut self, exit: Exit, at: impl Into<String>, what: impl fmt::Display) {
        self.list.push(Problem {
            exit,
            at: at.into(),
            what: what.to_string(),
        });
    }

    /// Each problem as (exit status, place, what), for a caller that groups them.
    pub fn into_parts(self) -> impl Iterator<Item = (Exit, String, String)> {
        self.list.into_iter().map(|p| (p.exit, p.at, p.what))
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// `Ok` when nothing was found; otherwise one error listing every problem, with the exit
    /// status of the first (66 for a missing file, 65 for bad data, 64 for a missing flag).
    pub fn into_result(self) -> Result<(), CliError> {
        let Some(first) = self.list.first() else {
            return Ok(());
        };
        let exit = first.exit;
        let message = if let [only] = self.list.as_slice() {
            format!("{}: {}; nothing was sent", only.at, only.what)
        } else {
            let mut text = format!("{} problems; nothing was sent:", self.list.len());
            for problem in &self.list {
                text.push_str(&format!("\n  {}: {}", problem.at, problem.what));
            }
            text
        };
        let hint = self.list.iter().find_map(|p| hint_for(&p.what));
        let error = CliError::new(exit, message);
        Err(match hint {
            Some(hint) => error.hint(hint),
            None => error,
        })
    }
}

fn hint_for(what: &str) -> Option<&'static str> {
    if what.contains("line break") {
        Some("headers are one line each: remove the line breaks (a CR or LF could forge headers)")
    } else if what.contains("No such file") || what.contains("cannot read") {
        Some("check the path; relative paths in a message file are relative to that file")
    } else {
        None
    }
}

/// `@-`: a body read from standard input.
const STDIN: &str = "@-";

/// Reads `--text`/`--html`: the text itself, or `@FILE`, or `@-` for standard input.
pub fn read_body(at: &str, value: &str, problems: &mut Problems) -> Option<String> {
    let Some(path) = value.strip_prefix('@') else {
        return Some(value.to_owned());
    };
    let read = if path == "-" {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes).map(|_| bytes)
    } else {
        std::fs::read(path)
    };
    match read {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Some(text),
            Err(_) => {
                problems.add(Exit::DataErr, at, format!("{path} is not UTF-8 text"));
                None
            }
        },
        Err(error) => {
            problems.add(Exit::NoInput, at, format!("cannot read {path}: {error}"));
            None
        }
    }
}

impl Draft {
    /// A draft from the flags; files named with `@FILE` are read now.
    pub fn from_flags(args: &ContentArgs, problems: &mut Problems) -> Self {
        let list = |flag: &str, values: &[String]| {
            values
                .iter()
                .map(|v| Sourced::new(flag, v.clone()))
                .collect()
        };
        let mut files: Vec<Sourced<FileSpec>> = args
            .attach
            .iter()
            .map(|path| {
                let spec = FileSpec {
                    path: path.clone(),
                    ..FileSpec::default()
                };
                Sourced::new("--attach", spec)
            })
            .collect();
        for path in &args.inline {
            let cid = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned());
            let spec = FileSpec {
                path: path.clone(),
                content_id: cid,
                ..FileSpec::default()
            };
            files.push(Sourced::new("--inline", spec));
        }
        if args.text.as_deref() == Some(STDIN) && args.html.as_deref() == Some(STDIN) {
            // Standard input can be read once: the HTML part would be silently empty.
            problems.add(
                Exit::Usage,
                "--html @-",
                "standard input is already read by --text @-; give one of them as @FILE",
            );
        }
        let headers = args
            .header
            .iter()
            .filter_map(|line| match line.split_once(':') {
                Some((name, value)) => Some(Sourced::new(
                    "--header",
                    (name.trim().to_owned(), value.trim().to_owned()),
                )),
                None => {
                    problems.add(
                        Exit::Usage,
                        "--header",
                        format!("{line:?} is not 'Name: value'"),
                    );
                    None
                }
            })
            .collect();
        Self {
            message_id: None,
            from: args.from.clone().map(|from| Sourced::new("--from", from)),
            reply_to: list("--reply-to", &args.reply_to),
            to: list("--to", &args.to),
            cc: list("--cc", &args.cc),
            bcc: list("--bcc", &args.bcc),
            subject: args.subject.clone().map(|s| Sourced::new("--subject", s)),
            text: args
                .text
                .as_deref()
                .and_then(|t| read_body("--text", t, problems)),
            html: args
                .html
                .as_deref()
                .filter(|h| !(*h == STDIN && args.text.as_deref() == Some(STDIN)))
                .and_then(|h| read_body("--html", h, problems))
                .map(|h| Sourced::new("--html", h)),
            files,
            headers,
            dsn: crate::dsn::Dsn::default(),
            origin: Origin::Flags,
        }
    }

    /// Checks every field, recording each problem, and builds the message when there is none.
    pub fn build(&self, problems: &mut Problems) -> Option<Message> {
        // A non-ASCII local part (用户@example.com, RFC 6532) is written as UTF-8: whether the
        // server offers SMTPUTF8 is known once connected, and the library refuses before MAIL
        // when it does not.
        let mut builder = Message::builder().allow_utf8_addresses(true);

        let from = match &self.from {
            Some(from) => match NamedAddress::parse(&from.value) {
                Ok(mailbox) => Some(mailbox),
                Err(why) => {
                    problems.add(Exit::DataErr, bad(&from.at, &from.value), why);
                    None
                }
            },
            None => {
                self.origin.missing(
                    problems,
                    "from",
                    "no sender: give --from ADDRESS, or use an account with `from`",
                    "no sender: add \"from\", or use an account with `from`",
                );
                None
            }
        };
        if let Some(from) = &from {
            builder = builder.from(from.clone());
        }

        if self.to.is_empty() && self.cc.is_empty() && self.bcc.is_empty() {
            self.origin.missing(
                problems,
                "to",
                "no recipients: give --to, --cc or --bcc",
                "no recipients: add \"to\", \"cc\" or \"bcc\"",
            );
        }
        let address_fields: [(&[Sourced<String>], SetAddresses); 4] = [
            (&self.to, MessageBuilder::to),
            (&self.cc, MessageBuilder::cc),
            (&self.bcc, MessageBuilder::bcc),
            (&self.reply_to, MessageBuilder::reply_to),
        ];
        for (lists, set) in address_fields {
            for list in lists {
                if let Some(addresses) = addresses(list, problems) {
                    builder = set(builder, addresses);
                }
            }
        }

        if let Some(subject) = &self.subject {
            match probe(|b| b.subject(subject.value.as_str())) {
                Ok(()) => builder = builder.subject(subject.value.as_str()),
                Err(why) => problems.add(Exit::DataErr, bad(&subject.at, &subject.value), why),
            }
        }

        for header in &self.headers {
            let (name, value) = &header.value;
            match probe(|b| set_header(b, name, value)) {
                Ok(()) => builder = set_header(builder, name, value),
                Err(Rejected(mime::Error::Invalid {
                    reason: mime::Invalid::Reserved,
                    ..
                })) => problems.add(
                    Exit::DataErr,
                    bad(&header.at, &format!("{name}: {value}")),
                    format!("smtpwire writes {name} itself; use its flag or field instead"),
                ),
                Err(why) => problems.add(
                    Exit::DataErr,
                    bad(&header.at, &format!("{name}: {value}")),
                    why,
                ),
            }
        }

        if let Some(text) = &self.text {
            builder = builder.text(text.as_str());
        }
        if let Some(html) = &self.html {
            builder = builder.html(html.value.as_str());
        }
        for file in &self.files {
            let spec = &file.value;
            let at = bad(&file.at, &spec.path.display().to_string());
            if let Err(why) = check_readable(&spec.path) {
                problems.add(Exit::NoInput, at, why);
                continue;
            }
            if spec.content_id.is_some() && self.html.is_none() {
                problems.add(
                    Exit::Usage,
                    at,
                    "an inline part is shown within the HTML body: give --html too",
                );
                continue;
            }
            match probe(|b| b.html("").attach(spec.attachment_from_bytes())) {
                Ok(()) => builder = builder.attach(spec.attachment()),
                Err(why) => problems.add(Exit::DataErr, at, why),
            }
        }

        if let Some(id) = &self.message_id {
            match message_id(&id.value, from.as_ref()) {
                Ok(id) => {
                    // The same id gives the same boundaries: a re-run is the same message.
                    builder = builder
                        .message_id(id.as_str())
                        .random_source(mime::SeededRandom::new(fnv1a(id.as_str())));
                }
                Err(why) => problems.add(Exit::DataErr, bad(&id.at, &id.value), why),
            }
        }

        if !problems.is_empty() {
            return None;
        }
        match builder.build() {
            Ok(message) => Some(message),
            Err(error) => {
                problems.add(Exit::DataErr, "message", error);
                None
            }
        }
    }
}

/// `--to "bob@"`: the place and the offending value, escaped so that a CR shows as `\r`.
fn bad(at: &str, value: &str) -> String {
    format!("{at} {value:?}")
}

/// One of the builder's address setters: `to`, `cc`, `bcc`, `reply_to`.
type SetAddresses = fn(MessageBuilder, Vec<Address>) -> MessageBuilder;

/// The addresses of one `--to`-style value, or its problem recorded.
fn addresses(list: &Sourced<String>, problems: &mut Problems) -> Option<Vec<Address>> {
    let parsed = if list.value.trim().is_empty() {
        Err(mime::Invalid::Empty)
    } else {
        Address::parse_list(&list.value)
    };
    parsed
        .map_err(|why| problems.add(Exit::DataErr, bad(&list.at, &list.value), why))
        .ok()
}

/// Sets a `--header`: In-Reply-To, References and Reply-To through their typed setters
/// (checked as message ids and addresses), anything else as a custom header.
fn set_header(builder: MessageBuilder, name: &str, value: &str) -> MessageBuilder {
    match name.to_ascii_lowercase().as_str() {
        "in-reply-to" => builder.in_reply_to(value),
        "references" => builder.references(value),
        "reply-to" => builder.reply_to(value),
        _ => builder.header(name, value),
    }
}

/// Runs one setter on a throw-away builder: the library's own rules decide, field by field.
fn probe(set: impl FnOnce(MessageBuilder) -> MessageBuilder) -> Result<(), Rejected> {
    set(Message::builder().from("probe@example.com").text(""))
        .allow_utf8_addresses(true)
        .random_source(mime::SeededRandom::new(0))
        .build()
        .map(drop)
        .map_err(Rejected)
}

/// A builder error shown without the field name, which the problem's place already gives.
struct Rejected(mime::Error);

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            mime::Error::Invalid { reason, .. } => reason.fmt(f),
            other => other.fmt(f),
        }
    }
}

fn check_readable(path: &Path) -> Result<(), String> {
    match std::fs::File::open(path).and_then(|f| f.metadata()) {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(_) => Err("not a regular file".to_owned()),
        Err(error) => Err(error.to_string()),
    }
}

/// The Message-ID for `key`: taken as it is when it has an `@`, else made unique to the
/// sender's domain (`order-1234` from `shop@example.com` is `<order-1234@example.com>`).
fn message_id(key: &str, from: Option<&NamedAddress>) -> Result<MessageId, mime::Invalid> {
    let key = key.trim();
    if key.is_empty() {
        return Err(mime::Invalid::Empty);
    }
    if key.contains('@') {
        return MessageId::parse(key);
    }
    let domain = from.map_or("localhost", NamedAddress::domain);
    MessageId::parse(&format!("{key}@{domain}"))
}

/// FNV-1a: a stable 64-bit hash, the same on every platform and Rust version.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl FileSpec {
    fn attachment(&self) -> Attachment {
        self.decorate(Attachment::from_file(&self.path))
    }

    /// The same part with no content, for checking its name, type and Content-ID.
    fn attachment_from_bytes(&self) -> Attachment {
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.decorate(Attachment::from_bytes(name, Vec::new()))
    }

    fn decorate(&self, mut attachment: Attachment) -> Attachment {
        if let Some(name) = &self.name {
            attachment = attachment.file_name(name.as_str());
        }
        if let Some(content_type) = &self.content_type {
            attachment = attachment.content_type(content_type.as_str());
        }
        if let Some(cid) = &self.content_id {
            attachment = attachment.content_id(cid.as_str());
        }
        attachment
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn draft() -> Draft {
        Draft {
            from: Some(Sourced::new("--from", "a@example.com".to_owned())),
            to: vec![Sourced::new(
                "--to",
                "b@example.com, C <c@example.com>".to_owned(),
            )],
            ..Draft::default()
        }
    }

    #[test]
    fn a_good_draft_builds() {
        let mut problems = Problems::default();
        let message = draft().build(&mut problems).unwrap();
        assert!(problems.is_empty());
        assert_eq!(message.envelope_to().len(), 2);
    }

    #[test]
    fn every_problem_is_listed_with_its_place() {
        let mut d = draft();
        d.to.push(Sourced::new("--to", "bob@".to_owned()));
        d.subject = Some(Sourced::new(
            "--subject",
            "hi\r\nBcc: x@evil.example".to_owned(),
        ));
        d.headers.push(Sourced::new(
            "--header",
            ("From".to_owned(), "x@y".to_owned()),
        ));
        d.files.push(Sourced::new(
            "--attach",
            FileSpec {
                path: "/nonexistent/file.pdf".into(),
                ..FileSpec::default()
            },
        ));
        let mut problems = Problems::default();
        assert!(d.build(&mut problems).is_none());
        let error = problems.into_result().unwrap_err();
        assert_eq!(error.exit, Exit::DataErr);
        for needle in [
            "4 problems",
            "--to \"bob@\"",
            "--subject \"hi\\r\\nBcc: x@evil.example\": contains a line break",
            "smtpwire writes From itself",
            "/nonexistent/file.pdf",
        ] {
            assert!(
                error.message.contains(needle),
                "{needle} in {}",
                error.message
            );
        }
    }

    #[test]
    fn an_idempotency_key_becomes_a_stable_message_id() {
        let mut d = draft();
        d.message_id = Some(Sourced::new("message_id", "order-1234".to_owned()));
        d.text = Some("hello".to_owned());
        let mut problems = Problems::default();
        let one = d.build(&mut problems).unwrap();
        let two = d.build(&mut problems).unwrap();
        assert_eq!(one.message_id().as_str(), "order-1234@example.com");
        let body = |m: &Message| {
            let text = String::from_utf8(m.to_bytes().unwrap()).unwrap();
            text.split_once("Message-ID").unwrap().1.to_owned()
        };
        assert_eq!(body(&one), body(&two));
    }

    #[test]
    fn no_recipient_is_a_usage_error_for_flags() {
        let mut d = draft();
        d.to.clear();
        let mut problems = Problems::default();
        assert!(d.build(&mut problems).is_none());
        assert_eq!(problems.into_result().unwrap_err().exit, Exit::Usage);
    }
}
