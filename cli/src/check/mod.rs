//! `smtpwire check`: a step-by-step diagnosis of a server and an account.
//!
//! DNS, TCP connect to each address, greeting, EHLO, STARTTLS or implicit TLS (with the
//! certificate examined even when it fails), EHLO after TLS, AUTH, optionally MAIL FROM then
//! RSET, and QUIT. Each step gets a mark, what was seen, and on trouble why and what to do.
//! It never sends mail: no RCPT, no DATA. The dialogue is driven by the library's own
//! [`Session`](smtpwire::session::Session), so its rules hold (no password without TLS, no
//! byte after a failed handshake) and its transcript is the redacted one.

mod certificate;
mod conn;
mod explain;
mod network;
mod report;
mod smtp;
mod tls;

use crate::exit::{exit_for, CliError, Exit};
use crate::target::{Target, TargetArgs};
use certificate::{ChainTrust, Dates, Examined, Trust};
use clap::Args;
use conn::{Answer, Conn, HandshakeError};
use explain::{Family, Speaks};
use report::{Report, Status, Step, Style};
use rustls::pki_types::ServerName;
use serde_json::json;
use smtpwire::address::Mailbox;
use smtpwire::command::{Command, MailCommand};
use smtpwire::envelope::Body;
use smtpwire::reply::Reply;
use smtpwire::session::{Action, SessionConfig, TlsPolicy};
use smtpwire::transcript::{Entry, Transcript};
use smtpwire::{Error, ErrorKind, InputError, Phase, TlsMismatch, Unsupported};
use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;

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
    let trust = Trust::new(target.ca_file.as_deref()).map_err(CliError::config)?;
    let mut session = target.client_config(true)?.session;
    if target.timeout.is_none() {
        // A diagnosis should not wait the RFC's five minutes for each reply.
        let t = &mut session.timeouts;
        t.connect = Duration::from_secs(10);
        t.tls_handshake = Duration::from_secs(20);
        for slot in [&mut t.greeting, &mut t.command, &mut t.mail] {
            *slot = Duration::from_secs(30);
        }
        t.quit = Duration::from_secs(5);
    }
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
        session,
        started: Instant::now(),
        conn: None,
        greeting_clock: None,
        pending_error: None,
        greeted: false,
        target,
    };
    check.header();
    check.run().await;
    let transcript = check.conn.as_ref().and_then(Conn::transcript);
    let exit = check.report.exit();
    if args.json {
        check.print_json(
            args.transcript.then_some(transcript.as_ref()).flatten(),
            exit,
        );
    } else {
        check.print_summary(exit);
        if args.transcript {
            match &transcript {
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
    session: SessionConfig,
    started: Instant,
    conn: Option<Conn>,
    /// The server's clock, when its greeting carries a date.
    greeting_clock: Option<i64>,
    /// What the session decided after a reply that itself was fine (STARTTLS missing after a
    /// good EHLO, no usable AUTH): reported by the step it concerns.
    pending_error: Option<Error>,
    /// Whether the server answered with an SMTP reply: only then is a QUIT worth sending
    /// after a failure.
    greeted: bool,
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
        self.conn = Some(Conn::new(tcp, self.session.clone(), self.started));
        let ok = self.opening(address).await;
        if ok && self.auth_step().await && self.mail_from_step().await {
            self.quit_step().await;
        } else if let Some(conn) = self.conn.as_mut().filter(|_| self.greeted) {
            // After a refusal the connection is still sound: say goodbye (RFC 5321 §3.8), as
            // long as the other end spoke SMTP at all. After a failed handshake the socket is
            // gone and nothing at all is written.
            let _ = conn.quit(Duration::from_secs(2)).await;
        }
    }

    /// Greeting, EHLO, TLS (either way) and EHLO after it. Returns whether AUTH may follow.
    async fn opening(&mut self, address: SocketAddr) -> bool {
        match self.policy() {
            TlsPolicy::Implicit => {
                self.tls_step().await
                    && self.greeting_step(address).await
                    && self.ehlo_step("ehlo").await
            }
            TlsPolicy::Plaintext => {
                if !(self.greeting_step(address).await && self.ehlo_step("ehlo").await) {
                    return false;
                }
                let mut step = Step::new("tls", "TLS", Status::Warn, Duration::ZERO)
                    .summary("not used (--tls none)")
                    .why(
                        "Everything, the password included, crosses the network in clear. That \
                         is only acceptable to a relay on this machine.",
                    );
                if self.target.port != 25 {
                    step = step.fix(
                        "Use --tls implicit (465) or --tls starttls (587) for a real provider.",
                    );
                }
                self.report.push(step)
            }
            _ => {
                if !(self.greeting_step(address).await && self.ehlo_step("ehlo").await) {
                    return false;
                }
                match self.starttls_step().await {
                    Some(true) => self.tls_step().await && self.ehlo_step("ehlo_tls").await,
                    Some(false) => true,
                    None => false,
                }
            }
        }
    }

    fn conn(&mut self) -> Option<&mut Conn> {
        self.conn.as_mut()
    }

    fn timeouts(&self) -> smtpwire::session::Timeouts {
        self.session.timeouts
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
        assert_eq!(bare_address("me@qq.com"), "me@qq.com");
        assert_eq!(bare_address(" <me@qq.com> "), "me@qq.com");
        assert_eq!(bare_address("Wang Wei <me@qq.com>"), "me@qq.com");
        assert_eq!(bare_address("\"a <b>\" <me@qq.com>"), "me@qq.com");
    }
}
