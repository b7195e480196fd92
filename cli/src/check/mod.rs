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
mod report;

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
            Mailbox::parse(text.trim().trim_start_matches('<').trim_end_matches('>'))
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
        } else if let Some(conn) = &mut self.conn {
            // After a refusal the connection is still sound: say goodbye. After a failed
            // handshake the socket is gone and nothing at all is written.
            let _ = conn.quit(Duration::from_secs(2)).await;
        }
    }

    /// Greeting, EHLO, TLS (either way) and EHLO after it. Returns whether AUTH may follow.
    async fn opening(&mut self, address: SocketAddr) -> bool {
        match self.policy() {
            TlsPolicy::Implicit => {
                self.tls_step(address).await
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
                    Some(true) => self.tls_step(address).await && self.ehlo_step("ehlo_tls").await,
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

    // ===== DNS =====

    async fn dns(&mut self) -> Option<Vec<SocketAddr>> {
        let started = Instant::now();
        let host = self
            .target
            .host
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = self.target.port;
        if let Ok(ip) = host.parse::<IpAddr>() {
            let step = Step::pass("dns", "DNS", started.elapsed())
                .summary(format!("{ip} is an address: nothing to look up"))
                .data(json!({ "addresses": [ip.to_string()] }));
            self.report.push(step);
            return Some(vec![SocketAddr::new(ip, port)]);
        }
        let limit = self.timeouts().connect;
        let lookup = tokio::time::timeout(limit, tokio::net::lookup_host((host, port))).await;
        let took = started.elapsed();
        let error = match lookup {
            Ok(Ok(found)) => {
                let mut addresses: Vec<SocketAddr> = Vec::new();
                for address in found {
                    if !addresses.contains(&address) {
                        addresses.push(address);
                    }
                }
                if !addresses.is_empty() {
                    let count = addresses.len();
                    let mut step = Step::pass("dns", "DNS", took)
                        .summary(format!(
                            "{host} → {count} address{}",
                            if count == 1 { "" } else { "es" }
                        ))
                        .details(addresses.iter().map(|a| {
                            format!(
                                "{} ({})",
                                a.ip(),
                                if a.is_ipv4() { "IPv4" } else { "IPv6" }
                            )
                        }))
                        .data(json!({
                            "addresses": addresses.iter().map(|a| a.ip().to_string()).collect::<Vec<_>>()
                        }));
                    if let Some(incoming) = incoming_server(host) {
                        step = step.warn(
                            format!(
                                "{host} looks like the {incoming} server, which receives mail \
                                 into your mailbox; sending goes through the SMTP server."
                            ),
                            Some("Use the provider's SMTP host (smtp.qq.com, smtp.163.com, …; see `smtpwire providers`).".into()),
                        );
                    }
                    self.report.push(step);
                    return Some(addresses);
                }
                "the name has no address".to_owned()
            }
            Ok(Err(error)) => error.to_string(),
            Err(_) => {
                let step = Step::fail("dns", "DNS", took, Exit::TempFail)
                    .summary(format!("no answer for {host} within {} s", limit.as_secs()))
                    .why("No DNS server answered in time: this machine may be offline, or its DNS servers unreachable.")
                    .fix("Check the network connection and the DNS settings, then try again.");
                self.report.push(step);
                return None;
            }
        };
        let temporary = error.contains("emporary") || error.contains("try again");
        let mut step = Step::fail("dns", "DNS", took, Exit::NoHost)
            .summary(format!("{host} does not resolve"))
            .detail(format!("resolver: {error}"));
        step = if temporary {
            step.why("The DNS lookup failed for now: this machine may be offline, or its DNS servers do not answer.")
                .fix("Check the network connection and the DNS settings, then try again.")
        } else {
            step.why(format!("There is no such host name as {host}: most often a typo."))
                .fix("Check the spelling. The usual SMTP hosts: smtp.qq.com, smtp.163.com, smtp.126.com, smtp.gmail.com, smtp.office365.com (`smtpwire providers` lists them), or use --provider NAME.")
        };
        self.report.push(step);
        None
    }

    // ===== TCP =====

    async fn connect(&mut self, addresses: &[SocketAddr]) -> Option<(TcpStream, SocketAddr)> {
        let started = Instant::now();
        let limit = self.timeouts().connect;
        let mut attempts = tokio::task::JoinSet::new();
        for (index, address) in addresses.iter().copied().enumerate() {
            attempts.spawn(async move {
                let began = Instant::now();
                let result = tokio::time::timeout(limit, TcpStream::connect(address)).await;
                (index, address, began.elapsed(), result)
            });
        }
        let mut results = Vec::new();
        while let Some(joined) = attempts.join_next().await {
            if let Ok(result) = joined {
                results.push(result);
            }
        }
        results.sort_by_key(|(index, ..)| *index);
        let took = started.elapsed();
        let mut chosen = None;
        let mut lines = Vec::new();
        let mut failures = Vec::new();
        let mut data = Vec::new();
        for (_, address, elapsed, result) in results {
            let outcome = match result {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    let used = chosen.is_none();
                    if used {
                        chosen = Some((stream, address));
                    }
                    lines.push(format!(
                        "{address}: connected in {:.0} ms{}",
                        elapsed.as_secs_f64() * 1000.0,
                        if used { " (used)" } else { "" }
                    ));
                    data.push(json!({ "address": address.to_string(), "result": "connected" }));
                    continue;
                }
                Ok(Err(error)) => ConnectFailure::from_io(error),
                Err(_) => ConnectFailure::TimedOut,
            };
            lines.push(format!("{address}: {}", outcome.describe(limit)));
            data.push(json!({ "address": address.to_string(), "result": outcome.id() }));
            failures.push((address, outcome));
        }
        let port = self.target.port;
        let data = json!({ "attempts": data });
        match chosen {
            Some((stream, address)) => {
                let mut step = Step::pass("connect", "TCP connect", took)
                    .summary(format!("connected to {address}"))
                    .data(data);
                if !failures.is_empty() {
                    step = step.details(lines).warn(
                        format!(
                            "{} of {} addresses did not take the connection. smtpwire moves on \
                             to the next address, but each failed attempt costs time.",
                            failures.len(),
                            addresses.len()
                        ),
                        failures
                            .iter()
                            .any(|(a, _)| a.is_ipv6())
                            .then(|| "If it is the IPv6 addresses, this network may have no working IPv6.".to_owned()),
                    );
                }
                self.report.push(step);
                Some((stream, address))
            }
            None => {
                let (address, first) = failures.into_iter().next()?;
                let exit = first.exit();
                let (why, fix) = first.explain(address, port, self.host_family, limit);
                let step = Step::fail("connect", "TCP connect", took, exit)
                    .summary(format!("{address}: {}", first.short()))
                    .details(if addresses.len() > 1 {
                        lines
                    } else {
                        Vec::new()
                    })
                    .why(why)
                    .fix(fix)
                    .data(data);
                self.report.push(step);
                None
            }
        }
    }

    // ===== greeting =====

    async fn greeting_step(&mut self, address: SocketAddr) -> bool {
        let started = Instant::now();
        let implicit = self.policy() == TlsPolicy::Implicit;
        let probe_after = Duration::from_secs(3).min(self.timeouts().greeting);
        let port = self.target.port;
        let Some(conn) = self.conn() else {
            return false;
        };
        if !implicit && !conn.readable_within(probe_after).await {
            // Silence: a plain SMTP server greets at once; a port waiting for a TLS
            // ClientHello says nothing. Ask a second connection whether it speaks TLS.
            if self.speaks_tls(address).await {
                let step = Step::fail(
                    "greeting",
                    "greeting",
                    started.elapsed(),
                    exit_for(&Error::new(
                        ErrorKind::WrongTlsMode(TlsMismatch::ServerSpeaksTls),
                        Phase::Greeting,
                    )),
                )
                .summary(format!(
                    "no greeting after {} s: port {port} waits for TLS",
                    probe_after.as_secs()
                ))
                .why(format!(
                    "The server said nothing, and a second connection that started with TLS got a \
                     TLS answer: port {port} speaks implicit TLS (\"SMTPS\", normally 465), and \
                     {} waits for a plaintext greeting that never comes. This is the classic \
                     mix-up of implicit TLS and STARTTLS.",
                    self.mode_word()
                ))
                .fix(format!(
                    "Use --tls implicit for port {port} (the default for 465), or connect to the \
                     STARTTLS port (587) with --tls starttls."
                ));
                self.report.push(step);
                return false;
            }
        }
        let Some(conn) = self.conn() else {
            return false;
        };
        if !implicit {
            // A TLS record is not a line: the reply framer would wait for a line end until
            // the deadline. Recognise it from the first bytes instead.
            let peeked = conn.peek().await;
            if explain::what_it_speaks(&peeked) == Some(Speaks::Tls) {
                let step = self.greeting_failure(None, None, &peeked, started.elapsed(), implicit);
                return self.report.push(step);
            }
        }
        let Some(conn) = self.conn() else {
            return false;
        };
        let answer = conn.await_reply().await;
        let first = conn.first_bytes().to_vec();
        let took = started.elapsed();
        let Answer { reply, outcome } = answer;
        match (reply, outcome) {
            (Some(reply), Ok(())) if reply.code().get() == 220 => {
                self.greeting_clock = explain::find_date(&reply.text_lossy());
                self.report
                    .push(Step::pass("greeting", "greeting", took).summary(reply.to_string()))
            }
            (reply, outcome) => {
                let error = outcome.err();
                let step = self.greeting_failure(reply, error, &first, took, implicit);
                self.report.push(step)
            }
        }
    }

    fn mode_word(&self) -> &'static str {
        match self.policy() {
            TlsPolicy::Plaintext => "plain SMTP",
            _ => "STARTTLS",
        }
    }

    /// Whether a fresh connection to `address` gets a TLS handshake going. Nothing is sent
    /// after the handshake; the connection is dropped at once.
    async fn speaks_tls(&self, address: SocketAddr) -> bool {
        let Ok(config) = self.trust.probe_config() else {
            return false;
        };
        let Ok(name) = ServerName::try_from(self.tls_name()) else {
            return false;
        };
        let probe = async {
            let tcp = TcpStream::connect(address).await.ok()?;
            let handshake = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await;
            Some(match handshake {
                Ok(_) => true,
                Err(error) => matches!(
                    error
                        .get_ref()
                        .and_then(|e| e.downcast_ref::<rustls::Error>()),
                    Some(rustls::Error::AlertReceived(_))
                ),
            })
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(5), probe).await,
            Ok(Some(true))
        )
    }

    fn tls_name(&self) -> String {
        self.target
            .host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned()
    }

    fn greeting_failure(
        &self,
        reply: Option<Reply>,
        error: Option<Error>,
        first: &[u8],
        took: Duration,
        implicit: bool,
    ) -> Step {
        let port = self.target.port;
        let exit = error.as_ref().map_or(Exit::Protocol, exit_for);
        let step = |exit| Step::fail("greeting", "greeting", took, exit);
        let speaks = explain::what_it_speaks(first);
        if !implicit && speaks == Some(Speaks::Tls) {
            return step(exit_for(&Error::new(
                ErrorKind::WrongTlsMode(TlsMismatch::ServerSpeaksTls),
                Phase::Greeting,
            )))
            .summary("TLS bytes instead of an SMTP greeting")
            .detail(format!("received: {}", explain::printable(first)))
            .why(format!(
                "The server answered with a TLS record: port {port} expects implicit TLS from the \
                 first byte, not {}.",
                self.mode_word()
            ))
            .fix(format!(
                "Use --tls implicit for port {port}, or the STARTTLS port 587."
            ));
        }
        if let Some(other @ (Speaks::Imap | Speaks::Pop3 | Speaks::Other(_))) = speaks {
            let name = match other {
                Speaks::Imap => "IMAP",
                Speaks::Pop3 => "POP3",
                Speaks::Other(name) => name,
                Speaks::Tls => "TLS",
            };
            return step(Exit::Protocol)
                .summary(format!("this is a {name} server, not SMTP"))
                .detail(format!("received: {}", explain::printable(first_line(first))))
                .why(format!(
                    "Port {port} answers in {name}: IMAP (143/993) and POP3 (110/995) are for \
                     reading mail, SMTP (465/587) for sending it."
                ))
                .fix("Use the provider's SMTP host and port, e.g. smtp.qq.com:465 (see `smtpwire providers`).");
        }
        if let Some(reply) = reply.filter(|r| r.code().get() != 220) {
            let code = reply.code().get();
            let summary = reply.to_string();
            return match code {
                421 => step(Exit::TempFail)
                    .summary(summary)
                    .why("The server is not taking connections right now (busy, or too many connections from this address).")
                    .fix("Wait a few minutes and try again; close other mail programs using the same account."),
                554 | 550 | 521 => step(exit)
                    .summary(summary)
                    .why("The server refuses to talk to this machine at all: its address is probably on a blocklist (home and cloud addresses are, for port 25), or the server only serves its own network.")
                    .fix("Use the provider's submission port with a login (465 or 587) instead of 25; from a cloud server, use a relay service."),
                _ => step(exit)
                    .summary(summary)
                    .why("The server's first words are not the \"220\" that opens an SMTP session.")
                    .fix("Check the host and port."),
            };
        }
        let Some(error) = error else {
            return step(Exit::Protocol).summary("no greeting");
        };
        match error.kind() {
            ErrorKind::Timeout if port == 465 && !implicit => step(exit_for(&Error::new(
                ErrorKind::WrongTlsMode(TlsMismatch::ServerSpeaksTls),
                Phase::Greeting,
            )))
            .summary("no greeting: port 465 waits for TLS")
            .why("Port 465 speaks implicit TLS: the server waits for the client's TLS handshake and says nothing first.")
            .fix("Use --tls implicit (the default for 465), or --tls starttls on port 587."),
            ErrorKind::Timeout => step(exit)
                .summary(format!("no greeting within {} s", self.timeouts().greeting.as_secs()))
                .why("The connection opened but the server never greeted: an overloaded server, a firewall or proxy that accepts connections but passes nothing, or a port that speaks another protocol.")
                .fix("Check the port (465 implicit TLS, 587 STARTTLS), try again later, or raise --timeout."),
            ErrorKind::ConnectionClosed => step(exit)
                .summary("the server closed the connection without a greeting")
                .why("The server hung up at once: it may refuse this machine's address (a blocklist or rate limit), or expect something else on this port.")
                .fix(format!("Try again later; check the port{}.", if implicit { "" } else { " (465 expects --tls implicit)" })),
            ErrorKind::Protocol(smtpwire::ProtocolViolation::UnsolicitedData) => step(exit)
                .summary("the server sent more than its greeting before being asked")
                .why("An SMTP server must wait for EHLO after its greeting; this one kept talking, which smtpwire refuses (it could be answers injected on the path).")
                .fix("Try again; if it persists, tell the server's administrator."),
            ErrorKind::Protocol(_) => step(exit)
                .summary(format!("not an SMTP greeting: {}", explain::printable(first)))
                .why("What the server sent is not an SMTP reply: this port does not speak SMTP.")
                .fix("Check the host and port."),
            _ => step(exit).summary(error.to_string()),
        }
    }

    // ===== EHLO =====

    async fn ehlo_step(&mut self, id: &'static str) -> bool {
        let title = Self::title(id);
        let started = Instant::now();
        let Some(conn) = self.conn() else {
            return false;
        };
        let mut answer = conn.await_reply().await;
        let mut helo_note = None;
        if let (Some(reply), Ok(())) = (&answer.reply, &answer.outcome) {
            if reply.code().class() != 2 {
                // EHLO refused and the session fell back to HELO (TLS is on or optional).
                helo_note = Some(reply.to_string());
                answer = conn.await_reply().await;
            }
        }
        let took = started.elapsed();
        let Answer { reply, outcome } = answer;
        let Some(reply) = reply.filter(|r| r.code().class() == 2) else {
            let error = outcome.err();
            let exit = error.as_ref().map_or(Exit::Protocol, exit_for);
            let mut step = Step::fail(id, title, took, exit);
            let shown = error
                .as_ref()
                .and_then(|e| e.reply().map(ToString::to_string))
                .or_else(|| error.as_ref().map(ToString::to_string))
                .unwrap_or_else(|| "no answer".into());
            step = step.summary(shown);
            step = match error.as_ref().map(Error::kind) {
                Some(ErrorKind::Unsupported(Unsupported::Ehlo)) | Some(ErrorKind::Rejected) => step
                    .why(format!(
                        "The server refused EHLO {}. Some servers refuse a client name such as \
                         \"localhost\" or one that does not resolve.",
                        self.session.client_name
                    ))
                    .fix("Give a real host name of this machine with --ehlo NAME."),
                Some(ErrorKind::Timeout) => step
                    .why("The server did not answer EHLO in time.")
                    .fix("Try again later, or raise --timeout."),
                Some(ErrorKind::ConnectionClosed) => step
                    .why(
                        "The server hung up after EHLO: it may refuse this client name or address.",
                    )
                    .fix("Try --ehlo with this machine's real host name, or try again later."),
                _ => step,
            };
            self.report.push(step);
            return false;
        };
        let lines: Vec<String> = reply
            .lines()
            .iter()
            .skip(1)
            .map(|l| explain::printable(l))
            .collect();
        let Some(conn) = self.conn() else {
            return false;
        };
        let capabilities = conn.session().capabilities().cloned().unwrap_or_default();
        let mechanisms: Vec<String> = capabilities
            .auth_mechanisms()
            .iter()
            .map(|m| m.name().to_owned())
            .collect();
        let tls_on = conn.session().is_tls();
        let mut notable = Vec::new();
        if capabilities.starttls() && !tls_on {
            notable.push("STARTTLS".to_owned());
        }
        if !mechanisms.is_empty() {
            notable.push(format!("AUTH {}", mechanisms.join(" ")));
        }
        let summary = format!(
            "{}: {} extension{}{}",
            explain::printable(capabilities.domain().as_bytes()),
            lines.len(),
            if lines.len() == 1 { "" } else { "s" },
            if notable.is_empty() {
                String::new()
            } else {
                format!(", incl. {}", notable.join(", "))
            }
        );
        let mut step = Step::pass(id, title, took)
            .summary(summary)
            .details(columns(&lines))
            .data(json!({
                "domain": capabilities.domain(),
                "extensions": lines,
                "starttls": capabilities.starttls(),
                "auth": mechanisms,
                "tls": tls_on,
            }));
        if let Some(refused) = helo_note {
            step = step.warn(
                format!("EHLO was refused ({refused}) and HELO accepted: no extensions at all, so no STARTTLS and no AUTH."),
                Some("Try --ehlo with this machine's real host name.".into()),
            );
        }
        let wants_starttls = matches!(
            self.policy(),
            TlsPolicy::StartTlsRequired | TlsPolicy::StartTlsOpportunistic
        );
        if !tls_on && wants_starttls && !mechanisms.is_empty() {
            step = step.warn(
                "The server offers AUTH before TLS: a client that does not insist on TLS could \
                 send the password in clear. smtpwire never does; it logs in only after STARTTLS.",
                None,
            );
        }
        let go_on = self.report.push(step);
        // The session's decision after EHLO (STARTTLS missing, no AUTH, …) belongs to the next
        // step; keep it there.
        if let Err(error) = outcome {
            self.pending_error = Some(error);
        }
        go_on
    }
}

impl Check {
    // ===== STARTTLS =====

    /// `Some(true)`: the handshake follows; `Some(false)`: no TLS, go on (opportunistic);
    /// `None`: stop.
    async fn starttls_step(&mut self) -> Option<bool> {
        let started = Instant::now();
        let port = self.target.port;
        if let Some(error) = self.pending_error.take() {
            let exit = exit_for(&error);
            let step = Step::fail("starttls", "STARTTLS", started.elapsed(), exit);
            let step = match error.kind() {
                ErrorKind::Unsupported(Unsupported::StartTls) => step
                    .summary(format!("not offered on port {port}"))
                    .why(format!(
                        "The server does not offer STARTTLS here, so the connection would stay \
                         unencrypted, and smtpwire will not send a password or mail over it{}.",
                        if port == 25 {
                            ": port 25 is for mail between servers, and some do not encrypt"
                        } else {
                            ""
                        }
                    ))
                    .fix(format!(
                        "Use the provider's submission port: 465 with --tls implicit, or 587 with \
                         --tls starttls.{}",
                        self.provider_ports()
                    )),
                _ => step.summary(error.to_string()),
            };
            self.report.push(step);
            return None;
        }
        let conn = self.conn()?;
        let offered = conn
            .session()
            .capabilities()
            .is_some_and(smtpwire::capabilities::Capabilities::starttls);
        if !offered {
            let step = Step::new("starttls", "STARTTLS", Status::Warn, started.elapsed())
                .summary("not offered: going on without TLS (--tls opportunistic)")
                .why("The connection stays unencrypted; smtpwire will not log in over it.")
                .fix("Use --tls implicit (465) or --tls starttls (587) with a provider that encrypts.");
            self.report.push(step);
            return Some(false);
        }
        let answer = conn.await_reply().await;
        let took = started.elapsed();
        match (answer.reply, answer.outcome) {
            (Some(reply), Ok(())) if reply.code().get() == 220 => {
                self.report.push(
                    Step::pass("starttls", "STARTTLS", took)
                        .summary(format!("{reply}: TLS handshake next")),
                );
                Some(true)
            }
            (Some(reply), outcome) if self.policy() == TlsPolicy::StartTlsOpportunistic => {
                if let Err(error) = outcome {
                    self.pending_error = Some(error);
                }
                let step = Step::new("starttls", "STARTTLS", Status::Warn, took)
                    .summary(format!("{reply}: going on without TLS (--tls opportunistic)"))
                    .why("The server offered STARTTLS and then refused it; the connection stays unencrypted.");
                self.report.push(step);
                Some(false)
            }
            (reply, outcome) => {
                let error = outcome.err();
                let exit = error.as_ref().map_or(Exit::Protocol, exit_for);
                let mut step = Step::fail("starttls", "STARTTLS", took, exit).summary(
                    reply
                        .as_ref()
                        .map(ToString::to_string)
                        .or_else(|| error.as_ref().map(ToString::to_string))
                        .unwrap_or_default(),
                );
                step = match error.as_ref().map(Error::kind) {
                    Some(ErrorKind::Protocol(smtpwire::ProtocolViolation::DataAfterStartTls)) => step
                        .why("More bytes followed the server's \"220\" to STARTTLS, before the TLS handshake. That is how an attacker on the path injects answers into the encrypted session (CVE-2021-22947); smtpwire stopped without using them.")
                        .fix("Use another network, or --tls implicit on port 465; tell the server's administrator if it persists."),
                    Some(ErrorKind::Rejected) => step
                        .why("The server offered STARTTLS but refused to start it.")
                        .fix(format!("Try again later, or use --tls implicit on port 465.{}", self.provider_ports())),
                    _ => step,
                };
                self.report.push(step);
                None
            }
        }
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

    // ===== TLS =====

    async fn tls_step(&mut self, _address: SocketAddr) -> bool {
        let started = Instant::now();
        let timeout = self.timeouts().tls_handshake;
        let implicit = self.policy() == TlsPolicy::Implicit;
        let host = self.tls_name();
        let port = self.target.port;
        let (config, seen) = match self.trust.client_config() {
            Ok(pair) => pair,
            Err(error) => {
                let step = Step::fail("tls", "TLS", started.elapsed(), Exit::Config).summary(error);
                return self.report.push(step);
            }
        };
        let Ok(name) = ServerName::try_from(host.clone()) else {
            let step = Step::fail("tls", "TLS", started.elapsed(), Exit::Config)
                .summary(format!(
                    "{host:?} is not a name a certificate can be checked against"
                ))
                .fix("Give the server's DNS name or IP address with --server.");
            return self.report.push(step);
        };
        let Some(conn) = self.conn() else {
            return false;
        };
        match conn.take_action() {
            Ok(Action::StartTls { .. }) => {}
            Ok(other) => {
                let step = Step::fail("tls", "TLS", started.elapsed(), Exit::Protocol)
                    .summary(format!("the session did not ask for TLS ({other:?})"));
                return self.report.push(step);
            }
            Err(error) => {
                let step = Step::fail("tls", "TLS", started.elapsed(), exit_for(&error))
                    .summary(error.to_string());
                return self.report.push(step);
            }
        }
        let handshake = conn.start_tls(config, name, timeout).await;
        let took = started.elapsed();
        let seen = seen.lock().ok().and_then(|mut slot| slot.take());
        let examined = seen.map(|s| self.trust.examine(&s, &host, report::now_unix()));
        let style = self.report.style();
        let mut details = Vec::new();
        if let (Some(protocol), Some(cipher)) = (&handshake.protocol, &handshake.cipher) {
            details.push(format!("{:<10}{protocol}, {cipher}", "protocol"));
        }
        if let Some(examined) = &examined {
            details.extend(self.certificate_lines(examined, style));
        }
        let data = json!({
            "protocol": handshake.protocol,
            "cipher_suite": handshake.cipher,
            "certificate": examined.as_ref().map(|e| certificate_json(e, &host)),
        });
        match handshake.result {
            Ok(()) => {
                let mut step = Step::pass("tls", "TLS", took)
                    .summary(format!(
                        "{}, {}; certificate valid for {host}",
                        handshake.protocol.as_deref().unwrap_or("?"),
                        handshake.cipher.as_deref().unwrap_or("?")
                    ))
                    .details(details)
                    .data(data);
                if let Some(examined) = examined.filter(|e| !e.all_good()) {
                    let (_, why, fix) = explain::certificate_problems(
                        &examined,
                        &host,
                        port,
                        self.host_family,
                        self.trust.ca_file(),
                        self.greeting_clock,
                    );
                    step = step.warn(why.join(" "), Some(fix.join(" ")));
                }
                self.report.push(step)
            }
            Err(error) => {
                let plaintext = handshake.plaintext;
                let smtp_reply =
                    plaintext.len() >= 3 && plaintext.iter().take(3).all(u8::is_ascii_digit);
                let step = if implicit && smtp_reply {
                    Step::fail(
                        "tls",
                        "TLS",
                        took,
                        exit_for(&Error::new(
                            ErrorKind::WrongTlsMode(TlsMismatch::ServerSpeaksPlaintext),
                            Phase::TlsHandshake,
                        )),
                    )
                    .summary("the server answered in plain SMTP, not TLS")
                    .detail(format!(
                        "received: {}",
                        explain::printable(first_line(&plaintext))
                    ))
                    .why(format!(
                        "Port {port} speaks plain SMTP first (it sent an SMTP greeting), so TLS \
                         must be started with STARTTLS there; implicit TLS (--tls implicit) is for \
                         ports like 465. This is the classic mix-up of implicit TLS and STARTTLS."
                    ))
                    .fix(format!(
                        "Use --tls starttls on port {port}, or connect to port 465 for implicit \
                         TLS.{}",
                        self.provider_ports()
                    ))
                } else if let Some(examined) = examined.as_ref().filter(|e| !e.all_good()) {
                    let (summary, why, fix) = explain::certificate_problems(
                        examined,
                        &host,
                        port,
                        self.host_family,
                        self.trust.ca_file(),
                        self.greeting_clock,
                    );
                    let exit = match &error {
                        HandshakeError::Tls(e) => exit_for(&Error::new(
                            ErrorKind::Tls(Arc::new(e.clone())),
                            Phase::TlsHandshake,
                        )),
                        _ => Exit::Unavailable,
                    };
                    Step::fail("tls", "TLS", took, exit)
                        .summary(summary)
                        .details(details)
                        .why(format!(
                            "{} Nothing was sent over this connection: it was closed right \
                             after the handshake failed.",
                            why.join(" ")
                        ))
                        .fix(fix.join(" "))
                } else {
                    self.handshake_failure(error, took, implicit)
                        .details(details)
                };
                self.report.push(step.data(data))
            }
        }
    }

    fn certificate_lines(&self, examined: &Examined, style: Style) -> Vec<String> {
        let host = self.tls_name();
        let mut lines: Vec<String> = examined
            .identity_lines()
            .into_iter()
            .map(|(label, value)| format!("{label:<10}{value}"))
            .collect();
        let chain = match &examined.trust {
            ChainTrust::Trusted { private: true } => format!(
                "trusted: issued under a CA from --ca-file {}",
                self.trust
                    .ca_file()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ),
            ChainTrust::Trusted { private: false } => {
                "trusted: issued under a public CA (Mozilla's list)".to_owned()
            }
            ChainTrust::UnknownIssuer => "NOT trusted: no trusted CA issued it".to_owned(),
            ChainTrust::Other(reason) => format!("rejected: {reason}"),
        };
        let trusted = matches!(examined.trust, ChainTrust::Trusted { .. });
        lines.push(format!("{:<10}{} {chain}", "chain", style.sub(trusted)));
        lines.push(format!(
            "{:<10}{} {}",
            "host name",
            style.sub(examined.name_matches),
            if examined.name_matches {
                format!("{host} is covered by the certificate")
            } else {
                format!("{host} is NOT among the certificate's names")
            }
        ));
        lines.push(format!(
            "{:<10}{} {}",
            "dates",
            style.sub(matches!(examined.dates, Dates::Valid { .. })),
            examined.dates_line()
        ));
        lines
    }

    fn handshake_failure(&self, error: HandshakeError, took: Duration, implicit: bool) -> Step {
        let port = self.target.port;
        let fail = |exit| Step::fail("tls", "TLS", took, exit);
        match error {
            HandshakeError::Timeout => fail(Exit::TempFail)
                .summary(format!(
                    "no TLS answer within {} s",
                    self.timeouts().tls_handshake.as_secs()
                ))
                .why(if implicit {
                    format!("Port {port} did not answer the TLS handshake: it may not speak TLS at all, or a firewall holds the connection.")
                } else {
                    "The server accepted STARTTLS but never completed the handshake.".to_owned()
                })
                .fix("Check the port (465 implicit TLS, 587 STARTTLS) and try again."),
            HandshakeError::Tls(e) => {
                let exit = exit_for(&Error::new(
                    ErrorKind::Tls(Arc::new(e.clone())),
                    Phase::TlsHandshake,
                ));
                let step = fail(exit).summary(format!("TLS handshake failed: {e}"));
                match &e {
                    rustls::Error::AlertReceived(
                        rustls::AlertDescription::ProtocolVersion
                        | rustls::AlertDescription::HandshakeFailure
                        | rustls::AlertDescription::InsufficientSecurity,
                    ) => {
                        step.why("The server and smtpwire share no TLS version or cipher suite: smtpwire needs TLS 1.2 or 1.3 with modern ciphers; the server probably offers only TLS 1.0/1.1, retired as insecure.")
                            .fix("Only the server's administrator can fix this (enable TLS 1.2 or later). There is no safe workaround.")
                    }
                    rustls::Error::PeerIncompatible(_) => step
                        .why("The server's TLS is too old or too unusual for smtpwire (TLS 1.2 or later with modern ciphers).")
                        .fix("Only the server's administrator can fix this (enable TLS 1.2 or later)."),
                    rustls::Error::InvalidMessage(_) => step
                        .why(if implicit {
                            format!("What came back is not TLS: port {port} may speak another protocol.")
                        } else {
                            "What came back after STARTTLS is not TLS.".to_owned()
                        })
                        .fix(format!("Check the port: 465 for --tls implicit, 587 for --tls starttls.{}", self.provider_ports())),
                    _ => step,
                }
            }
            HandshakeError::Io(e) => fail(Exit::Unavailable)
                .summary(format!("the connection broke during the TLS handshake: {e}"))
                .why(if implicit {
                    format!("The server closed the connection when the handshake began: port {port} may not speak implicit TLS, or it refuses this client's TLS versions.")
                } else {
                    "The server closed the connection during the handshake: it may refuse this client's TLS versions.".to_owned()
                })
                .fix(format!("Check the port and TLS mode: 465 with --tls implicit, 587 with --tls starttls.{}", self.provider_ports())),
        }
    }

    // ===== AUTH =====

    async fn auth_step(&mut self) -> bool {
        let started = Instant::now();
        let port = self.target.port;
        let Some(conn) = self.conn() else {
            return false;
        };
        let capabilities = conn.session().capabilities().cloned().unwrap_or_default();
        let offered: Vec<String> = capabilities
            .auth_mechanisms()
            .iter()
            .map(|m| m.name().to_owned())
            .collect();
        let offered_text = if offered.is_empty() {
            "no AUTH offered".to_owned()
        } else {
            format!("offers {}", offered.join(" "))
        };
        let data = json!({ "offered": offered });
        let Some(user) = self.user.clone() else {
            let step = if offered.is_empty() {
                Step::new("auth", "AUTH", Status::Warn, started.elapsed())
                    .summary(offered_text)
                    .why(format!(
                        "Port {port} takes no logins: it only takes mail for the server's own \
                         domains (a relay or an MX), not mail from you to anyone."
                    ))
                    .fix("To send with an account, use the provider's submission port: 465 or 587.")
            } else {
                Step::new("auth", "AUTH", Status::Skip, started.elapsed())
                    .summary(format!("{offered_text}; login not tested (no --user)"))
                    .fix("Add --user ADDRESS and --password-env VAR (for QQ Mail and 163: the authorization code, 授权码) to test the login too.")
            };
            return self.report.push(step.data(data));
        };
        if let Some(error) = self.pending_error.take() {
            let step = Step::fail("auth", "AUTH", started.elapsed(), exit_for(&error))
                .summary(format!("{offered_text}; {error}"));
            let step = match error.kind() {
                ErrorKind::Unsupported(Unsupported::Auth) if offered.is_empty() => step
                    .why(format!("Port {port} offers no login at all: it takes mail for the server's own domains only."))
                    .fix(format!("Use the provider's submission port (465 with --tls implicit, 587 with --tls starttls).{}", self.provider_ports())),
                ErrorKind::Unsupported(Unsupported::Auth) => step
                    .why(format!(
                        "None of the offered mechanisms ({}) is one smtpwire may use here{}.",
                        offered.join(" "),
                        match &self.target.mechanism {
                            Some(m) => format!(" (you asked for --auth {})", m.name().to_lowercase()),
                            None => " (PLAIN, LOGIN, or XOAUTH2 with --auth xoauth2)".to_owned(),
                        }
                    ))
                    .fix("Pick an offered mechanism with --auth (plain, login, xoauth2)."),
                ErrorKind::Input(InputError::PlaintextAuth) => step
                    .why("The connection is not encrypted, so smtpwire will not send the password.")
                    .fix("Use --tls starttls (587) or --tls implicit (465)."),
                _ => step,
            };
            return self.report.push(step.data(data));
        }
        loop {
            let Some(conn) = self.conn() else {
                return false;
            };
            let answer = conn.await_reply().await;
            let took = started.elapsed();
            match (answer.reply, answer.outcome) {
                (Some(reply), Ok(())) if reply.code().get() == 334 => continue,
                (Some(reply), Ok(())) if reply.code().class() == 2 => {
                    let mechanism = conn
                        .session()
                        .transcript()
                        .and_then(used_mechanism)
                        .unwrap_or_else(|| "?".into());
                    let step = Step::pass("auth", "AUTH", took)
                        .summary(format!("{reply}: logged in as {user} with {mechanism}"))
                        .detail(format!("{offered_text}; the password was accepted"))
                        .data(json!({ "offered": offered, "mechanism": mechanism, "user": user }));
                    return self.report.push(step);
                }
                (reply, outcome) => {
                    let error = outcome.err();
                    let reply = reply.or_else(|| error.as_ref().and_then(|e| e.reply().cloned()));
                    let exit = error.as_ref().map_or(Exit::Protocol, exit_for);
                    let mut step = Step::fail("auth", "AUTH", took, exit).data(data);
                    step = match (&reply, error.as_ref().map(Error::kind)) {
                        (Some(reply), _) if !reply.is_positive() => {
                            let (why, fix) = explain::auth_refused(reply, self.family, &user);
                            step.summary(reply.to_string()).why(why).fix(fix)
                        }
                        (_, Some(ErrorKind::ConnectionClosed)) => step
                            .summary("the server closed the connection during AUTH")
                            .why("Some providers (QQ Mail among them) hang up instead of answering a wrong password or authorization code.")
                            .fix("Check the password: for QQ Mail, 163 and 126 it must be the authorization code (授权码) from the web mailbox's settings, not the login password."),
                        (_, Some(ErrorKind::Timeout)) => step
                            .summary("no answer to AUTH")
                            .why("The server did not answer the login in time.")
                            .fix("Try again later, or raise --timeout."),
                        _ => step.summary(
                            error.map(|e| e.to_string()).unwrap_or_else(|| "no answer".into()),
                        ),
                    };
                    return self.report.push(step);
                }
            }
        }
    }

    // ===== MAIL FROM =====

    async fn mail_from_step(&mut self) -> bool {
        let Some(from) = self.from.clone() else {
            return true;
        };
        let started = Instant::now();
        let timeouts = self.timeouts();
        let user = self.user.clone();
        let family = self.family;
        let Some(conn) = self.conn() else {
            return false;
        };
        match conn.take_action() {
            Ok(Action::Ready) => {}
            other => {
                let step = Step::fail("mail_from", "MAIL FROM", started.elapsed(), Exit::Protocol)
                    .summary(format!("the session is not ready for MAIL ({other:?})"));
                return self.report.push(step);
            }
        }
        let mail = Command::Mail(MailCommand {
            from: Some(from.clone()),
            size: None,
            body: Body::SevenBit,
            smtputf8: from.needs_smtputf8(),
            ret: None,
            envid: None,
        });
        let reply = conn.exchange(&mail, Phase::MailFrom, timeouts.mail).await;
        // RSET in every case: no transaction stays open, and no RCPT or DATA ever follows.
        let rset = match &reply {
            Ok(_) => conn
                .exchange(&Command::Rset, Phase::Reset, timeouts.command)
                .await
                .map(|r| r.to_string())
                .unwrap_or_else(|e| e.to_string()),
            Err(_) => String::new(),
        };
        let took = started.elapsed();
        let nothing_sent = "No recipient was given and no data sent: no mail was sent.";
        let step = match reply {
            Ok(reply) if reply.code().class() == 2 => {
                let mut step = Step::pass("mail_from", "MAIL FROM", took)
                    .summary(format!("<{from}> accepted: {reply}"))
                    .detail(format!("then RSET: {rset}"))
                    .detail(nothing_sent);
                if let Some(note) = explain::mail_from_note(family) {
                    step = step.detail(note);
                }
                step
            }
            Ok(reply) => {
                let exit = exit_for(&Error::rejected(Phase::MailFrom, reply.clone()));
                let (why, fix) =
                    explain::mail_from_refused(&reply, family, from.as_str(), user.as_deref());
                Step::fail("mail_from", "MAIL FROM", took, exit)
                    .summary(format!("<{from}> refused: {reply}"))
                    .detail(format!("then RSET: {rset}"))
                    .detail(nothing_sent)
                    .why(why)
                    .fix(fix)
            }
            Err(error) => Step::fail("mail_from", "MAIL FROM", took, exit_for(&error))
                .summary(error.to_string())
                .detail(nothing_sent),
        };
        self.report
            .push(step.data(json!({ "from": from.as_str() })))
    }

    // ===== QUIT =====

    async fn quit_step(&mut self) {
        let started = Instant::now();
        let timeout = self.timeouts().quit;
        let Some(conn) = self.conn() else {
            return;
        };
        let reply = conn.quit(timeout).await;
        let step = Step::pass("quit", "QUIT", started.elapsed()).summary(match reply {
            Some(reply) => reply.to_string(),
            None => "the server closed without answering (harmless; QQ Mail does this)".into(),
        });
        self.report.push(step);
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

/// The bytes up to the first line end.
fn first_line(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(bytes.len());
    bytes.get(..end).unwrap_or(bytes)
}

/// Extension lines packed several to a line, so a long EHLO answer stays short.
fn columns(items: &[String]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for item in items {
        if !line.is_empty() && line.chars().count() + item.chars().count() + 2 > 90 {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push_str(", ");
        }
        line.push_str(item);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The mechanism of the last AUTH command in the (redacted) transcript.
fn used_mechanism(transcript: &Transcript) -> Option<String> {
    transcript
        .entries()
        .iter()
        .rev()
        .find_map(|(_, entry)| match entry {
            Entry::Client(line) => line
                .strip_prefix("AUTH ")
                .and_then(|rest| rest.split_whitespace().next())
                .map(str::to_owned),
            _ => None,
        })
}

fn certificate_json(examined: &Examined, host: &str) -> serde_json::Value {
    let info = |i: &certificate::Info| {
        json!({
            "subject": i.subject,
            "issuer": i.issuer,
            "names": i.names,
            "not_before": report::date_time(i.not_before),
            "not_after": report::date_time(i.not_after),
            "self_signed": i.self_signed,
        })
    };
    json!({
        "leaf": examined.leaf.as_ref().map(info),
        "intermediates": examined.intermediates.iter().map(info).collect::<Vec<_>>(),
        "trusted": matches!(examined.trust, ChainTrust::Trusted { .. }),
        "trusted_via_ca_file": matches!(examined.trust, ChainTrust::Trusted { private: true }),
        "host": host,
        "host_matches": examined.name_matches,
        "dates": match examined.dates {
            Dates::Valid { .. } => "valid",
            Dates::NotYetValid { .. } => "not_yet_valid",
            Dates::Expired { .. } => "expired",
        },
        "local_clock": report::date_time(examined.now),
        "verified": examined.verdict.is_ok(),
    })
}

/// `imap.qq.com` → IMAP: the incoming server, a classic mix-up.
fn incoming_server(host: &str) -> Option<&'static str> {
    let host = host.to_ascii_lowercase();
    if host.starts_with("imap.") {
        Some("IMAP (incoming mail)")
    } else if host.starts_with("pop.") || host.starts_with("pop3.") {
        Some("POP3 (incoming mail)")
    } else {
        None
    }
}

/// How a TCP connection attempt failed.
enum ConnectFailure {
    Refused,
    TimedOut,
    Unreachable(String),
    Denied,
    Other(std::io::Error),
}

impl ConnectFailure {
    fn from_io(error: std::io::Error) -> Self {
        let kind = format!("{:?}", error.kind());
        match error.kind() {
            std::io::ErrorKind::ConnectionRefused => Self::Refused,
            std::io::ErrorKind::PermissionDenied => Self::Denied,
            _ if kind == "HostUnreachable"
                || kind == "NetworkUnreachable"
                || matches!(error.raw_os_error(), Some(101 | 113)) =>
            {
                Self::Unreachable(error.to_string())
            }
            _ => Self::Other(error),
        }
    }

    fn id(&self) -> &'static str {
        match self {
            Self::Refused => "refused",
            Self::TimedOut => "timed_out",
            Self::Unreachable(_) => "unreachable",
            Self::Denied => "denied",
            Self::Other(_) => "error",
        }
    }

    fn short(&self) -> String {
        match self {
            Self::Refused => "connection refused".into(),
            Self::TimedOut => "timed out: no answer at all (filtered)".into(),
            Self::Unreachable(_) => "unreachable (no route, or filtered)".into(),
            Self::Denied => "blocked on this machine (permission denied)".into(),
            Self::Other(e) => e.to_string(),
        }
    }

    fn describe(&self, limit: Duration) -> String {
        match self {
            Self::Refused => "refused (nothing listens there, or a firewall rejects)".into(),
            Self::TimedOut => format!(
                "timed out after {} s (filtered: packets dropped silently)",
                limit.as_secs()
            ),
            Self::Unreachable(e) => format!("unreachable ({e})"),
            Self::Denied => "blocked on this machine (permission denied)".into(),
            Self::Other(e) => e.to_string(),
        }
    }

    fn exit(&self) -> Exit {
        match self {
            Self::Refused => exit_for(&Error::new(
                ErrorKind::Io(Arc::new(std::io::ErrorKind::ConnectionRefused.into())),
                Phase::Connect,
            )),
            Self::TimedOut => exit_for(&Error::new(ErrorKind::Timeout, Phase::Connect)),
            Self::Unreachable(_) | Self::Denied => Exit::Unavailable,
            Self::Other(_) => Exit::IoErr,
        }
    }

    fn explain(
        &self,
        address: SocketAddr,
        port: u16,
        family: Family,
        limit: Duration,
    ) -> (String, String) {
        let submission =
            "Submission is 465 (implicit TLS) or 587 (STARTTLS); 25 is for mail between servers.";
        match self {
            Self::Refused => (
                format!(
                    "{} answered that nothing takes connections on port {port}: the port is wrong, \
                     the server is not running, or a firewall rejects the connection.",
                    address.ip()
                ),
                format!(
                    "Check the port. {submission}{}",
                    if family.is_public() { "" } else { " If it is your own server, check that it runs and listens on this address." }
                ),
            ),
            Self::TimedOut => (
                format!(
                    "No answer at all from {address} within {} s: the packets are dropped \
                     silently, which is what a firewall does. Many ISPs, cloud providers (AWS, \
                     Google Cloud, Azure, Alibaba Cloud) and company networks block outgoing \
                     port 25, and some block 465 or 587.",
                    limit.as_secs()
                ),
                format!(
                    "Try the other submission port (465 or 587); on a cloud server, ask the \
                     provider to lift the block or use a relay service; behind a company \
                     firewall, ask its administrator. {submission}"
                ),
            ),
            Self::Unreachable(e) => (
                format!(
                    "A router answered that {} cannot be reached ({e}): no route to it, or a \
                     firewall that rejects with an ICMP message (filtered).{}",
                    address.ip(),
                    if address.is_ipv6() { " This network may have no working IPv6." } else { "" }
                ),
                "Check the network connection, VPN and firewall; try again from another network."
                    .to_owned(),
            ),
            Self::Denied => (
                "This machine's own firewall or security policy forbids the connection.".to_owned(),
                "Allow outgoing connections to this port in the local firewall (or SELinux/AppArmor policy).".to_owned(),
            ),
            Self::Other(e) => (
                format!("The connection failed: {e}."),
                format!("Check the host and port. {submission}"),
            ),
        }
    }
}
