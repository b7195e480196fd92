//! What a delivery shows: the redacted transcript (stderr and/or a file), a summary, or a
//! JSON result on stdout; and the exit status it earns.

use crate::deliver::Attempt;
use crate::exit::{CliError, Exit};
use clap::Args;
use serde::Serialize;
use smtpwire::reply::Reply;
use smtpwire::session::TlsPolicy;
use smtpwire::transcript::{stamp, Entry};
use smtpwire::transport::TlsInfo;
use smtpwire::Delivery;
use smtpwire::{Report, Status};
use std::fmt::Write as _;
use std::io::{BufRead, Write as _};
use std::path::PathBuf;

/// How `send` and `raw` report.
#[derive(Args, Debug, Default)]
pub struct OutputArgs {
    /// Shows the SMTP dialogue on stderr, swaks-style, with timings and TLS details; AUTH
    /// secrets are shown as `<redacted N bytes>` and the message as its size.
    /// `--transcript=full` shows the message's header section as well (never the body).
    #[arg(
        long,
        value_enum,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "dialogue",
        value_name = "WHAT"
    )]
    pub transcript: Option<TranscriptDetail>,
    /// Writes that transcript to a file as well.
    #[arg(long, value_name = "PATH")]
    pub transcript_file: Option<PathBuf>,
    /// Prints the result as JSON on stdout: status, message id, each recipient's reply, the
    /// final reply, bytes, duration, and the error if any.
    #[arg(long)]
    pub json: bool,
}

/// How much of the message a transcript shows.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TranscriptDetail {
    /// The dialogue; the message as its size.
    Dialogue,
    /// The dialogue and the message's header section.
    Full,
}

impl OutputArgs {
    /// Whether the session should keep a transcript.
    pub fn wants_transcript(&self) -> bool {
        self.transcript.is_some() || self.transcript_file.is_some()
    }

    /// Creates the transcript file now, so that a bad path stops us before anything is sent.
    pub fn check(&self) -> Result<(), CliError> {
        match &self.transcript_file {
            Some(path) => std::fs::File::create(path).map(drop).map_err(|e| {
                CliError::new(
                    Exit::IoErr,
                    format!("cannot write the transcript to {}: {e}", path.display()),
                )
            }),
            None => Ok(()),
        }
    }

    /// Passes on an error met before anything was sent, printing it as JSON first if asked.
    pub fn not_sent(&self, error: CliError) -> CliError {
        if self.json {
            let report = JsonReport {
                status: "failed",
                exit: error.exit as u8,
                error: Some(JsonError::from_cli(&error, None)),
                ..JsonReport::default()
            };
            print_json(&report);
        }
        error
    }
}

/// Shows an attempt as asked and turns it into the exit status: 0 when every recipient took
/// the message; 75 when some were deferred (4xx) and 69 when any was refused for good (5xx),
/// even though the others got it; the library error's status when the message did not go.
///
/// A transcript file that cannot be written is a warning, not the outcome.
/// `summary` prints a few human lines on stdout on success (`send` does, `raw` only with
/// `--verbose`, like sendmail).
pub fn finish(
    attempt: &Attempt,
    message_id: Option<&str>,
    out: &OutputArgs,
    summary: bool,
) -> Result<Exit, CliError> {
    if out.wants_transcript() {
        let text = transcript(attempt, out.transcript == Some(TranscriptDetail::Full));
        if out.transcript.is_some() {
            eprint!("{text}");
        }
        if let Some(path) = &out.transcript_file {
            // Only a warning: the outcome of the delivery must not be hidden behind it, or a
            // sent message could look unsent and be sent again.
            if let Err(error) = std::fs::write(path, &text) {
                eprintln!(
                    "smtpwire: warning: cannot write the transcript to {}: {error}",
                    path.display()
                );
            }
        }
    }
    let verdict = verdict(attempt);
    let exit = verdict.as_ref().err().map_or(Exit::Ok, |e| e.exit);
    if out.json {
        print_json(&JsonReport::new(
            attempt,
            message_id,
            exit,
            verdict.as_ref().err(),
        ));
    } else if let (true, Ok(report)) = (summary, &attempt.result) {
        print!("{}", human(attempt, report, message_id));
    }
    verdict.map(|()| Exit::Ok)
}

/// `Ok` when every recipient took the message, else the error to report: each recipient
/// that did not take it, with its reply.
fn verdict(attempt: &Attempt) -> Result<(), CliError> {
    let report = match &attempt.result {
        Ok(report) if report.is_complete() => return Ok(()),
        Ok(report) => report,
        Err(error) => {
            let mut cli = CliError::from(error.clone());
            // None accepted: name each refusal, not only the first.
            if let Some(report) = error.report().filter(|r| r.recipients().len() > 1) {
                for recipient in report.not_accepted() {
                    let _ = write!(cli.message, "\n  {}", refusal(recipient));
                }
            }
            return Err(cli);
        }
    };
    let refused: Vec<_> = report.not_accepted().collect();
    let mut message = format!(
        "{} of {} recipients did not take the message; the others did:",
        refused.len(),
        report.recipients().len()
    );
    for recipient in &refused {
        let _ = write!(message, "\n  {}", refusal(recipient));
    }
    let permanent = refused.iter().any(|r| r.status() == Status::Rejected);
    Err(if permanent {
        CliError::new(Exit::Unavailable, message)
            .hint("a 5xx refusal is final: check those addresses before sending to them again")
    } else {
        CliError::new(Exit::TempFail, message)
            .hint("the refusals are temporary (4xx): send to those recipients again later")
    })
}

/// `address: reply`, or what kept the message from it.
fn refusal(recipient: &smtpwire::RecipientResult) -> String {
    match (recipient.status(), recipient.reply()) {
        (Status::Deferred, None) => format!(
            "{}: deferred by the server (too many recipients), not sent",
            recipient.mailbox().as_str()
        ),
        _ => recipient.to_string(),
    }
}

fn human(attempt: &Attempt, report: &Report, message_id: Option<&str>) -> String {
    let mut text = String::from("sent");
    if let Some(id) = message_id {
        let _ = write!(text, " {id}");
    }
    let _ = write!(text, " via {} ({})", attempt.server, used(attempt));
    if let Some(tls) = &attempt.tls {
        let _ = write!(text, ", {tls}");
    }
    text.push('\n');
    for recipient in report.recipients() {
        let mark = if recipient.is_accepted() {
            "✓"
        } else {
            "✗"
        };
        if recipient.is_accepted() {
            let _ = write!(text, "  {mark} {}", recipient.mailbox().as_str());
        } else {
            let _ = write!(text, "  {mark} {}", refusal(recipient));
        }
        text.push('\n');
    }
    if let Some(reply) = report.final_reply() {
        let _ = writeln!(
            text,
            "  {reply}; {} bytes in {:.3} s",
            report.bytes(),
            report.duration().as_secs_f64()
        );
    }
    text
}

/// The TLS policy in words.
pub fn policy(policy: TlsPolicy) -> &'static str {
    match policy {
        TlsPolicy::Implicit => "implicit TLS",
        TlsPolicy::StartTlsRequired => "STARTTLS",
        TlsPolicy::StartTlsOpportunistic => "opportunistic STARTTLS",
        TlsPolicy::Plaintext => "no TLS",
        _ => "TLS",
    }
}

/// What the connection used, as the session reported it: opportunistic STARTTLS that was not
/// offered or was refused is plaintext, and says so.
fn used(attempt: &Attempt) -> &'static str {
    if attempt.stayed_plaintext {
        "no TLS: STARTTLS was not available (opportunistic)"
    } else {
        policy(attempt.policy)
    }
}

/// The redacted dialogue, swaks-style, with the certificate after the handshake.
pub fn transcript(attempt: &Attempt, headers: bool) -> String {
    let mut text = format!(
        "=== Trying {} ({})...\n",
        attempt.server,
        policy(attempt.policy)
    );
    match attempt.peer {
        Some(peer) => {
            let _ = writeln!(text, "=== Connected to {peer}");
        }
        None => {
            if let Err(error) = &attempt.result {
                let _ = writeln!(text, "=== Could not connect: {error}");
            }
            return text;
        }
    }
    let Some(transcript) = &attempt.transcript else {
        if let Err(error) = &attempt.result {
            let _ = writeln!(
                text,
                "=== The session failed before it said anything: {error}"
            );
        }
        return text;
    };
    if transcript.dropped() > 0 {
        let _ = writeln!(
            text,
            "*  … {} earlier entries not kept (the transcript keeps the last {})",
            transcript.dropped(),
            transcript.limit()
        );
    }
    for (at, entry) in transcript.entries() {
        let _ = writeln!(text, "{} {entry}", stamp(*at));
        if let (true, Entry::Data { .. }) = (headers, entry) {
            for line in String::from_utf8_lossy(&attempt.headers).lines() {
                let _ = writeln!(text, "{:11} C| {line}", "");
            }
        }
        let handshake =
            matches!(entry, Entry::Event(event) if event.starts_with("TLS established"));
        if let (true, Some(tls)) = (handshake, &attempt.tls) {
            for line in certificate_lines(tls) {
                let _ = writeln!(text, "{:11} *    {line}", "");
            }
        }
    }
    if let Err(error) = &attempt.result {
        let _ = writeln!(text, "=== Failed: {error}");
    }
    text
}

/// Subject, issuer, names and validity of the server's certificate.
fn certificate_lines(tls: &TlsInfo) -> Vec<String> {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let Some(der) = tls.peer_certificates.first() else {
        return Vec::new();
    };
    let Ok((_, certificate)) = X509Certificate::from_der(der) else {
        return vec!["certificate: (could not be parsed)".to_owned()];
    };
    let mut lines = vec![
        format!("certificate: {}", certificate.subject()),
        format!("issuer: {}", certificate.issuer()),
    ];
    if let Ok(Some(names)) = certificate.subject_alternative_name() {
        let names: Vec<String> = names
            .value
            .general_names
            .iter()
            .map(|name| match name {
                GeneralName::DNSName(dns) => (*dns).to_owned(),
                GeneralName::IPAddress(&[a, b, c, d]) => {
                    std::net::Ipv4Addr::new(a, b, c, d).to_string()
                }
                GeneralName::IPAddress(bytes) => <[u8; 16]>::try_from(*bytes)
                    .map(|octets| std::net::Ipv6Addr::from(octets).to_string())
                    .unwrap_or_else(|_| "?".to_owned()),
                other => format!("{other:?}"),
            })
            .collect();
        lines.push(format!("names: {}", names.join(", ")));
    }
    let validity = certificate.validity();
    lines.push(format!(
        "valid: {} to {}",
        validity.not_before, validity.not_after
    ));
    lines.push(match (tls.verified, tls.peer_certificates.len()) {
        (false, _) => "NOT verified".to_owned(),
        (true, 1) => "verified (a chain of 1 certificate)".to_owned(),
        (true, n) => format!("verified (a chain of {n} certificates)"),
    });
    lines
}

/// `--dry-run`: the message on stdout as it would be sent, and its envelope on stderr; or
/// all of it as JSON.
pub fn dry_run(
    out: &OutputArgs,
    message_id: Option<&str>,
    from: &str,
    to: &[&str],
    bytes: &[u8],
) -> Result<Exit, CliError> {
    let mut body = bytes;
    dry_run_streamed(out, message_id, from, to, bytes.len() as u64, &mut body)
}

/// `--dry-run` of a message read chunk by chunk (`len` octets), as the real send streams it:
/// a 200 MB attachment is never held in memory whole, not even for `--json`.
pub fn dry_run_streamed(
    out: &OutputArgs,
    message_id: Option<&str>,
    from: &str,
    to: &[&str],
    len: u64,
    message: &mut dyn BufRead,
) -> Result<Exit, CliError> {
    let stdout = std::io::stdout();
    let mut stdout = std::io::BufWriter::new(stdout.lock());
    let written = if out.json {
        let report = JsonReport {
            status: "dry_run",
            message_id: message_id.map(str::to_owned),
            envelope: Some(JsonEnvelope {
                from: from.to_owned(),
                to: to.iter().map(|t| (*t).to_owned()).collect(),
            }),
            bytes: Some(len),
            ..JsonReport::default()
        };
        let head = serde_json::to_string_pretty(&report)
            .map_err(|e| CliError::new(Exit::IoErr, format!("cannot write the JSON: {e}")))?;
        // The report's last key, "message", is written as its content is read.
        let head = head.strip_suffix("\n}").unwrap_or(&head);
        write_out(
            &mut stdout,
            format!("{head},\n  \"message\": \"").as_bytes(),
        )?;
        let mut escaper = JsonEscaper::default();
        let copied = copy_message(message, |chunk| {
            let escaped = escaper.push(chunk);
            write_out(&mut stdout, escaped.as_bytes())
        })?;
        let tail = escaper.finish();
        write_out(&mut stdout, format!("{tail}\"\n}}\n").as_bytes())?;
        copied
    } else {
        copy_message(message, |chunk| write_out(&mut stdout, chunk))?
    };
    stdout
        .flush()
        .map_err(|e| CliError::new(Exit::IoErr, format!("cannot write the message: {e}")))?;
    if !out.json {
        let to: Vec<String> = to.iter().map(|t| format!("<{t}>")).collect();
        eprintln!(
            "smtpwire: dry run, nothing sent: {written} bytes from <{from}> to {}",
            to.join(", ")
        );
    }
    Ok(Exit::Ok)
}

fn write_out(out: &mut impl std::io::Write, bytes: &[u8]) -> Result<(), CliError> {
    out.write_all(bytes)
        .map_err(|e| CliError::new(Exit::IoErr, format!("cannot write the message: {e}")))
}

/// Hands each chunk of `message` to `write`; returns the octets copied. A read error is an
/// attachment that cannot be read (66).
fn copy_message(
    message: &mut dyn BufRead,
    mut write: impl FnMut(&[u8]) -> Result<(), CliError>,
) -> Result<u64, CliError> {
    let mut total = 0u64;
    loop {
        let chunk = message
            .fill_buf()
            .map_err(|e| CliError::new(Exit::NoInput, format!("cannot read an attachment: {e}")))?;
        if chunk.is_empty() {
            return Ok(total);
        }
        let n = chunk.len();
        write(chunk)?;
        message.consume(n);
        total += n as u64;
    }
}

/// Escapes bytes for the inside of a JSON string, chunk by chunk: a UTF-8 sequence split
/// between chunks is kept until it is whole, and invalid bytes become U+FFFD, as
/// `String::from_utf8_lossy` would make them.
#[derive(Default)]
struct JsonEscaper {
    pending: Vec<u8>,
}

impl JsonEscaper {
    fn push(&mut self, chunk: &[u8]) -> String {
        self.pending.extend_from_slice(chunk);
        let mut out = String::with_capacity(self.pending.len() + 16);
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(text) => {
                    escape_json(text, &mut out);
                    rest = &[];
                    break;
                }
                Err(error) => {
                    let (valid, after) = rest.split_at(error.valid_up_to());
                    escape_json(std::str::from_utf8(valid).unwrap_or_default(), &mut out);
                    match error.error_len() {
                        Some(bad) => {
                            out.push('\u{fffd}');
                            rest = after.get(bad..).unwrap_or_default();
                        }
                        // An incomplete sequence at the end: wait for the next chunk.
                        None => {
                            rest = after;
                            break;
                        }
                    }
                }
            }
        }
        self.pending = rest.to_vec();
        out
    }

    /// What is left: an incomplete sequence at the very end is invalid.
    fn finish(self) -> String {
        if self.pending.is_empty() {
            String::new()
        } else {
            "\u{fffd}".to_owned()
        }
    }
}

fn escape_json(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

fn print_json(report: &JsonReport) {
    match serde_json::to_string_pretty(report) {
        Ok(json) => println!("{json}"),
        Err(error) => eprintln!("smtpwire: cannot write the JSON result: {error}"),
    }
}

/// The `--json` result; every key is always present, `null` when unknown.
#[derive(Debug, Default, Serialize)]
struct JsonReport {
    /// `sent`, `partial`, `failed`, `delivery_unknown` or `dry_run`.
    status: &'static str,
    /// The exit status.
    exit: u8,
    /// The Message-ID, with angle brackets.
    message_id: Option<String>,
    /// `host:port`.
    server: Option<String>,
    /// What TLS negotiated.
    tls: Option<JsonTls>,
    /// The envelope.
    envelope: Option<JsonEnvelope>,
    /// Each recipient's outcome.
    recipients: Vec<JsonRecipient>,
    /// Recipients the server deferred and that were not tried again.
    deferred: Vec<String>,
    /// The reply to the end of the data.
    final_reply: Option<JsonReply>,
    /// Octets of message data.
    bytes: Option<u64>,
    /// From the start of the send to its last reply.
    duration_ms: Option<u64>,
    /// Why it failed.
    error: Option<JsonError>,
    /// `--dry-run` only: the message as it would be sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

/// TLS as negotiated.
#[derive(Debug, Serialize)]
struct JsonTls {
    protocol: String,
    cipher: String,
    verified: bool,
}

/// The envelope.
#[derive(Debug, Serialize)]
struct JsonEnvelope {
    /// The reverse-path.
    from: String,
    /// The forward-paths.
    to: Vec<String>,
}

/// One recipient's outcome.
#[derive(Debug, Serialize)]
struct JsonRecipient {
    address: String,
    accepted: bool,
    /// Where it was decided: `end of message data` when accepted, else the refusing step.
    phase: String,
    reply: JsonReply,
}

/// A server reply.
#[derive(Debug, Serialize)]
struct JsonReply {
    code: u16,
    enhanced: Option<String>,
    text: String,
}

impl From<&Reply> for JsonReply {
    fn from(reply: &Reply) -> Self {
        let enhanced = reply.enhanced().map(|e| e.to_string());
        let text = reply.text_lossy();
        // The enhanced code is part of the text on the wire; keep the text readable.
        let text = match &enhanced {
            Some(code) => text
                .strip_prefix(code.as_str())
                .unwrap_or(&text)
                .trim_start(),
            None => text.as_str(),
        };
        Self {
            code: reply.code().get(),
            enhanced,
            text: text.to_owned(),
        }
    }
}

/// Why a send failed.
#[derive(Debug, Serialize)]
struct JsonError {
    message: String,
    hint: Option<String>,
    phase: Option<String>,
    reply: Option<JsonReply>,
    /// `not_sent`, or `unknown` when the message may have been delivered.
    delivery: &'static str,
}

impl JsonError {
    fn from_cli(error: &CliError, library: Option<&smtpwire::Error>) -> Self {
        Self {
            message: error.message.clone(),
            hint: error.hint.clone(),
            phase: library.map(|e| e.phase().to_string()),
            reply: library
                .and_then(smtpwire::Error::reply)
                .map(JsonReply::from),
            delivery: match library.map(smtpwire::Error::delivery) {
                Some(Delivery::Unknown) => "unknown",
                _ => "not_sent",
            },
        }
    }
}

impl JsonReport {
    fn new(
        attempt: &Attempt,
        message_id: Option<&str>,
        exit: Exit,
        error: Option<&CliError>,
    ) -> Self {
        let mut report = Self {
            status: "sent",
            exit: exit as u8,
            message_id: message_id.map(str::to_owned),
            server: Some(attempt.server.clone()),
            tls: attempt.tls.as_ref().map(|tls| JsonTls {
                protocol: tls.protocol.clone(),
                cipher: tls.cipher_suite.clone(),
                verified: tls.verified,
            }),
            envelope: Some(JsonEnvelope {
                from: attempt.envelope_from.clone(),
                to: attempt.envelope_to.clone(),
            }),
            ..Self::default()
        };
        match &attempt.result {
            Ok(sent) => {
                report.recipients = sent
                    .recipients()
                    .iter()
                    .filter_map(|r| {
                        Some(JsonRecipient {
                            address: r.mailbox().as_str().to_owned(),
                            accepted: r.is_accepted(),
                            phase: r.phase().to_string(),
                            reply: r.reply()?.into(),
                        })
                    })
                    .collect();
                report.deferred = sent
                    .with_status(Status::Deferred)
                    .filter(|r| r.reply().is_none())
                    .map(|r| r.mailbox().as_str().to_owned())
                    .collect();
                report.final_reply = sent.final_reply().map(JsonReply::from);
                report.bytes = Some(sent.bytes());
                report.duration_ms = u64::try_from(sent.duration().as_millis()).ok();
                if let Some(error) = error {
                    report.status = "partial";
                    report.error = Some(JsonError::from_cli(error, None));
                }
            }
            Err(failure) => {
                report.status = if failure.delivery() == Delivery::Unknown {
                    "delivery_unknown"
                } else {
                    "failed"
                };
                report.error = error.map(|error| JsonError::from_cli(error, Some(failure)));
            }
        }
        report
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_json_escaper_matches_serde_json_however_the_bytes_are_cut() {
        let mut input = "From: 张三 <a@b.c>\r\nSubject: \"q\" \\ \t\u{1}\u{7f}\r\n\r\nçé 😀\n"
            .as_bytes()
            .to_vec();
        input.extend_from_slice(b"bad \xff\xfe end \xe5\x92"); // invalid, then cut short
        let expected = serde_json::to_string(&String::from_utf8_lossy(&input)).unwrap();
        for size in 1..=input.len() {
            let mut escaper = JsonEscaper::default();
            let mut out = String::from("\"");
            for chunk in input.chunks(size) {
                out.push_str(&escaper.push(chunk));
            }
            out.push_str(&escaper.finish());
            out.push('"');
            let parsed: String = serde_json::from_str(&out).unwrap();
            assert_eq!(parsed, String::from_utf8_lossy(&input), "chunks of {size}");
            assert_eq!(serde_json::from_str::<String>(&expected).unwrap(), parsed);
        }
    }
}
