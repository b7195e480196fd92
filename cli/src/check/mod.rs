//! `smtpwire check`: a step-by-step diagnosis of a server and an account.
//!
//! DNS, TCP connect to each address, greeting, EHLO, STARTTLS or implicit TLS (with the
//! certificate examined even when it fails), EHLO after TLS, AUTH, optionally MAIL FROM then
//! RSET, and QUIT. Each step gets a mark, what was seen, and on trouble why and what to do.
//! It never sends mail: no RCPT, no DATA.
//!
//! After the TCP connection, the library's [`Client`] drives everything, stepped one
//! [`Event`](smtpwire::session::Event) at a time: the session decides what is sent, whether a
//! reply ends it, when the port turns out to speak the other TLS mode (its TLS probe) and
//! what the transcript shows. This module only watches and explains: each reply with the
//! phase it answers, the session's typed error, the certificate chain the handshake saw (a
//! [`CertificateObserver`](smtpwire::transport::CertificateObserver)) and, to name what a port
//! that is not SMTP said, a copy of the first bytes that arrived.

mod certificate;
mod explain;
mod network;
mod report;
mod smtp;
mod tls;

use crate::exit::{exit_for, CliError, Exit};
use crate::target::{Target, TargetArgs};
use certificate::{ChainTrust, Dates, Examined, Recorder, Trust};
use clap::Args;
use explain::{Family, Speaks};
use network::Recorded;
use report::{Report, Status, Step, Style};
use serde_json::json;
use smtpwire::address::Mailbox;
use smtpwire::reply::Reply;
use smtpwire::session::TlsPolicy;
use smtpwire::transcript::Transcript;
use smtpwire::transport::{Client, ClientConfig};
use smtpwire::{Error, ErrorKind, InputError, Phase, TlsMismatch, Unsupported};
use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// The library's client over the recorded TCP stream.
type Conn = Client<Recorded>;

const ABOUT: &str = "\
Runs every step of a connection and a login and says, step by step, what works and what does \
not, with the reason and the fix: DNS, TCP connect to each address (refused, timed out or \
filtered), greeting, EHLO capabilities, STARTTLS or implicit TLS (protocol, cipher, certificate \
subject, issuer, names, dates, trust, host name), EHLO after TLS, AUTH and, with a password, a \
real login.

It never sends mail. With --from it also tests that the server takes that sender (MAIL FROM, \
then RSET: no recipient, no data), which catches QQ Mail's 501 and 163's 553 for a sender other \
than the login.

Exit status: 0 when every step passes (warnings allowed), else that of the first failing step \
(68 unknown host, 69 refused or unavailable, 75 temporary, 76 protocol, 77 login refused, 78 \
wrong TLS mode or configuration).

Examples:
  smtpwire check --provider qq --user 1234567@qq.com --password-env QQ_AUTH_CODE
  smtpwire check --server smtp.163.com:465 --user me@163.com --password-env CODE --from me@163.com
  smtpwire check --server mail.example.com:587 --ca-file company-ca.pem --json";

/// Flags of `smtpwire check`.
#[derive(Args, Debug)]
#[command(after_long_help = ABOUT)]
pub struct CheckArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Also check that the server takes this sender: MAIL FROM, then RSET. No recipient and no
    /// data are sent, so no mail is sent. Default: the account's `from`, if any.
    #[arg(long, value_name = "ADDRESS")]
    from: Option<String>,
    /// Prints the steps as JSON on stdout instead of text.
    #[arg(long)]
    json: bool,
    /// ASCII marks ([ok], [FAIL]) and no colour, even on a terminal.
    #[arg(long)]
    plain: bool,
    /// Prints the redacted SMTP dialogue to stderr at the end (in the JSON with --json).
    #[arg(long)]
    transcript: bool,
}

/// Runs `smtpwire check`.
pub async fn run(args: CheckArgs) -> Result<Exit, CliError> {
    let target = args.target.resolve()?;
    let from = match args.from.as_deref().or(target.from.as_deref()) {
        Some(text) => Some(
            Mailbox::parse(bare_address(text))
                .map_err(|e| CliError::usage(format!("--from {text:?}: {e}")))?,
        ),
        None => None,
    };
    let mut config = target.client_config(true)?;
    if target.timeout.is_none() {
        // A diagnosis should not wait the RFC's five minutes for each reply.
        let seconds = Duration::from_secs;
        let timeouts = config
            .session()
            .timeouts()
            .with_connect(seconds(10))
            .with_tls_handshake(seconds(20))
            .with_greeting(seconds(30))
            .with_command(seconds(30))
            .with_mail(seconds(30))
            .with_quit(seconds(5));
        config = config.map_session(|session| session.with_timeouts(timeouts));
    }
    // The handshake verifies with the library's own roots (--ca-file included); the check
    // sees the chain and the verdict, and examines the chain against the same roots.
    let trust = Trust::new(config.tls(), target.ca_file.as_deref());
    let certificates = Arc::new(Recorder::default());
    let tls = config
        .tls()
        .clone()
        .with_certificate_observer(certificates.clone());
    let config = config.with_tls(tls);
    let terminal = std::io::stdout().is_terminal() && !args.plain;
    let style = Style {
        unicode: terminal,
        color: terminal && std::env::var_os("NO_COLOR").is_none(),
    };
    let user = target.credentials.as_ref().map(|c| c.username().to_owned());
    let family = Family::detect(&target.host, user.as_deref());
    let mut check = Check {
        report: Report::new(style, args.json),
        family,
        host_family: Family::of_host(&target.host),
        user,
        from,
        trust,
        certificates,
        first_bytes: Arc::new(Mutex::new(Vec::new())),
        config,
        greeting_clock: None,
        transcript: None,
        target,
    };
    check.header();
    check.run().await;
    let exit = check.report.exit();
    if args.json {
        check.print_json(
            args.transcript
                .then_some(check.transcript.as_ref())
                .flatten(),
            exit,
        );
    } else {
        check.print_summary(exit);
        if args.transcript {
            match &check.transcript {
                Some(transcript) => eprint!("{transcript}"),
                None => eprintln!("(no SMTP dialogue: the connection was never opened)"),
            }
        }
    }
    Ok(exit)
}

/// `Name <me@qq.com>` or `<me@qq.com>` → `me@qq.com`.
fn bare_address(text: &str) -> &str {
    let text = text.trim();
    match (text.rfind('<'), text.strip_suffix('>')) {
        (Some(open), Some(inner)) => inner.get(open + 1..).unwrap_or(text),
        _ => text,
    }
}

struct Check {
    target: Target,
    report: Report,
    /// The provider, from the host or else the user's address: for login and sender advice.
    family: Family,
    /// The provider the host itself belongs to: for certificates and ports.
    host_family: Family,
    user: Option<String>,
    from: Option<Mailbox>,
    trust: Trust,
    /// The chain the TLS handshake saw, and the library's verdict on it.
    certificates: Arc<Recorder>,
    /// The first bytes the server sent, to name what a port that is not SMTP speaks.
    first_bytes: Arc<Mutex<Vec<u8>>>,
    /// The library's configuration: the session's and the TLS settings.
    config: ClientConfig,
    /// The server's clock, when its greeting carries a date.
    greeting_clock: Option<i64>,
    /// The session's redacted transcript, once the connection is over.
    transcript: Option<Transcript>,
}

/// The steps a run can have, in order, with their titles.
const STEPS: &[(&str, &str)] = &[
    ("dns", "DNS"),
    ("connect", "TCP connect"),
    ("greeting", "greeting"),
    ("ehlo", "EHLO"),
    ("starttls", "STARTTLS"),
    ("tls", "TLS"),
    ("ehlo_tls", "EHLO after TLS"),
    ("auth", "AUTH"),
    ("mail_from", "MAIL FROM"),
    ("quit", "QUIT"),
];

impl Check {
    fn policy(&self) -> TlsPolicy {
        self.target.tls
    }

    fn mode(&self) -> &'static str {
        match self.policy() {
            TlsPolicy::Implicit => "implicit TLS",
            TlsPolicy::StartTlsRequired => "STARTTLS required",
            TlsPolicy::StartTlsOpportunistic => "STARTTLS if offered",
            _ => "no TLS",
        }
    }

    fn header(&self) {
        let who = match &self.user {
            Some(user) => format!(", logging in as {user}"),
            None => String::new(),
        };
        let provider = self
            .host_family
            .label()
            .map(|l| format!(" ({l})"))
            .unwrap_or_default();
        self.report.say(&format!(
            "smtpwire check: {}:{}{provider}, {}{who}. No mail is sent.\n",
            self.target.host,
            self.target.port,
            self.mode()
        ));
    }

    /// The ids this run plans, in order.
    fn plan(&self) -> Vec<&'static str> {
        let mut ids = vec!["dns", "connect"];
        match self.policy() {
            TlsPolicy::Implicit => ids.extend(["tls", "greeting", "ehlo"]),
            TlsPolicy::Plaintext => ids.extend(["greeting", "ehlo", "tls"]),
            _ => ids.extend(["greeting", "ehlo", "starttls", "tls", "ehlo_tls"]),
        }
        ids.push("auth");
        if self.from.is_some() {
            ids.push("mail_from");
        }
        ids.push("quit");
        ids
    }

    fn not_run(&self) -> Vec<&'static str> {
        self.plan()
            .into_iter()
            // QUIT is sent after a refusal too, just not reported as a step.
            .filter(|id| *id != "quit" && !self.report.steps.iter().any(|s| s.id == *id))
            .collect()
    }

    fn title(id: &str) -> &'static str {
        STEPS
            .iter()
            .find(|(i, _)| *i == id)
            .map_or("?", |(_, title)| title)
    }

    async fn run(&mut self) {
        let Some(addresses) = self.dns().await else {
            return;
        };
        let Some((tcp, address)) = self.connect(&addresses).await else {
            return;
        };
        let stream = Recorded::new(tcp, self.first_bytes.clone());
        let mut client = Client::start(stream, Some(address), self.config.clone());
        if self.opening(&mut client).await && self.mail_from_step(&mut client).await {
            self.quit_step(&mut client).await;
        } else {
            // After a refusal the session still says QUIT (RFC 5321 §3.8); after a broken
            // connection or a failed handshake it sends nothing at all.
            let _ = client.quit().await;
        }
        self.transcript = client.session().transcript().cloned();
    }

    fn timeouts(&self) -> smtpwire::session::Timeouts {
        self.config.session().timeouts()
    }

    /// The first bytes the server sent (up to a few hundred).
    fn first_bytes(&self) -> Vec<u8> {
        self.first_bytes
            .lock()
            .map(|bytes| bytes.clone())
            .unwrap_or_default()
    }

    fn mode_word(&self) -> &'static str {
        match self.policy() {
            TlsPolicy::Plaintext => "plain SMTP",
            _ => "STARTTLS",
        }
    }

    fn tls_name(&self) -> String {
        self.target
            .host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned()
    }

    /// " smtp.qq.com: 465 implicit TLS, 587 STARTTLS." for a known host; else empty.
    fn provider_ports(&self) -> String {
        let Some(provider) = crate::providers::PROVIDERS
            .iter()
            .find(|p| p.host.eq_ignore_ascii_case(&self.target.host))
        else {
            return String::new();
        };
        let mut ports = Vec::new();
        if let Some(port) = provider.implicit_port {
            ports.push(format!("{port} implicit TLS"));
        }
        if let Some(port) = provider.starttls_port {
            ports.push(format!("{port} STARTTLS"));
        }
        format!(" {} takes {}.", provider.host, ports.join(", "))
    }

    // ===== the end =====

    fn print_summary(&self, exit: Exit) {
        let style = self.report.style();
        let mut out = String::from("\n");
        match self.report.failed() {
            None => {
                let warnings = self
                    .report
                    .steps
                    .iter()
                    .filter(|s| s.status == Status::Warn)
                    .count();
                out.push_str(&format!(
                    "{} No problem found{}. No mail was sent.\n",
                    style.mark(Status::Pass),
                    match warnings {
                        0 => String::new(),
                        1 => " (1 warning above)".into(),
                        n => format!(" ({n} warnings above)"),
                    }
                ));
                if self.user.is_none() {
                    out.push_str("  The login was not tested: add --user and a password source.\n");
                }
            }
            Some(step) => {
                out.push_str(&format!(
                    "{} Stopped at {}: {}\n",
                    style.mark(Status::Fail),
                    step.title,
                    step.summary
                ));
                let not_run: Vec<&str> = self.not_run().into_iter().map(Self::title).collect();
                if !not_run.is_empty() {
                    out.push_str(&format!("  Not run: {}.\n", not_run.join(", ")));
                }
                out.push_str(&format!(
                    "  Exit status {}. No mail was sent.\n",
                    exit as u8
                ));
            }
        }
        print!("{out}");
    }

    fn print_json(&self, transcript: Option<&Transcript>, exit: Exit) {
        let mode = match self.policy() {
            TlsPolicy::Implicit => "implicit",
            TlsPolicy::StartTlsRequired => "starttls",
            TlsPolicy::StartTlsOpportunistic => "opportunistic",
            _ => "none",
        };
        let mut value = json!({
            "server": {
                "host": self.target.host,
                "port": self.target.port,
                "tls": mode,
                "provider": self.host_family.label(),
            },
            "user": self.user,
            "from": self.from.as_ref().map(Mailbox::as_str),
            "ok": self.report.failed().is_none(),
            "exit_code": exit as u8,
            "mail_sent": false,
            "steps": self.report.steps,
            "not_run": if self.report.failed().is_some() { self.not_run() } else { Vec::new() },
        });
        if let (Some(transcript), Some(object)) = (transcript, value.as_object_mut()) {
            let lines: Vec<String> = transcript.to_string().lines().map(str::to_owned).collect();
            object.insert("transcript".into(), json!(lines));
        }
        match serde_json::to_string_pretty(&value) {
            Ok(text) => println!("{text}"),
            Err(error) => eprintln!("smtpwire: cannot write the JSON report: {error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sender_may_carry_a_display_name() {
        let written = [
            "me@qq.com",
            " <me@qq.com> ",
            "Wang Wei <me@qq.com>",
            "\"a <b>\" <me@qq.com>",
        ];
        for sender in written {
            assert_eq!(bare_address(sender), "me@qq.com", "{sender}");
        }
    }
}
