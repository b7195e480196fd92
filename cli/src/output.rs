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
use std::io::Write as _;
use std::path::PathBuf;

/// How `send` and `raw` report.
#[derive(Args, Debug, Default)]
pub struct OutputArgs {
    /// Shows the SMTP dialogue on stderr, swaks-style, with timings and TLS details; AUTH
    /// secrets are shown as `<redacted N bytes>` and the message as its size.
    #[arg(long)]
    pub transcript: bool,
    /// Writes that transcript to a file as well.
    #[arg(long, value_name = "PATH")]
    pub transcript_file: Option<PathBuf>,
    /// Prints the result as JSON on stdout: status, message id, each recipient's reply, the
    /// final reply, bytes, duration, and the error if any.
    #[arg(long)]
    pub json: bool,
}

impl OutputArgs {
    /// Whether the session should keep a transcript.
    pub fn wants_transcript(&self) -> bool {
        self.transcript || self.transcript_file.is_some()
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
        let text = transcript(attempt);
        if out.transcript {
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
    let _ = write!(text, " via {} ({})", attempt.server, policy(attempt.policy));
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

fn policy(policy: TlsPolicy) -> &'static str {
    match policy {
        TlsPolicy::Implicit => "implicit TLS",
        TlsPolicy::StartTlsRequired => "STARTTLS",
        TlsPolicy::StartTlsOpportunistic => "opportunistic STARTTLS",
        TlsPolicy::Plaintext => "no TLS",
        _ => "TLS",
    }
}

/// The redacted dialogue, swaks-style, with the certificate after the handshake.
pub fn transcript(attempt: &Attempt) -> String {
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
                "=== The session failed before it was ready: {error}\n\
                 === (the library keeps no dialogue for a connection that fails to set up)"
            );
        }
        return text;
    };
    for (at, entry) in transcript.entries() {
        let _ = writeln!(text, "{} {entry}", stamp(*at));
        let handshake = matches!(entry, Entry::Event(event) if event.starts_with("TLS handshake"));
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
    to: &[String],
    bytes: &[u8],
) -> Result<Exit, CliError> {
    if out.json {
        print_json(&JsonReport {
            status: "dry_run",
            message_id: message_id.map(str::to_owned),
            envelope: Some(JsonEnvelope {
                from: from.to_owned(),
                to: to.to_vec(),
            }),
            bytes: Some(bytes.len() as u64),
            message: Some(String::from_utf8_lossy(bytes).into_owned()),
            ..JsonReport::default()
        });
        return Ok(Exit::Ok);
    }
    let mut stdout = std::io::stdout();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| CliError::new(Exit::IoErr, format!("cannot write the message: {e}")))?;
    let to: Vec<String> = to.iter().map(|t| format!("<{t}>")).collect();
    eprintln!(
        "smtpwire: dry run, nothing sent: {} bytes from <{from}> to {}",
        bytes.len(),
        to.join(", ")
    );
    Ok(Exit::Ok)
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
