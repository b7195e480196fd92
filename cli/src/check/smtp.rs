//! The SMTP steps: the opening as the library's client steps through it (greeting, EHLO,
//! STARTTLS, TLS, AUTH), then the MAIL FROM probe and QUIT.
//!
//! Each step is judged by the session: a reply is reported with the phase it answers, and it
//! failed when the session's error names that phase. Reply codes here only choose which
//! explanation to show.

use super::*;
use smtpwire::auth::Mechanism;
use smtpwire::session::Event;

/// What the opening has seen of a step that spans several events.
#[derive(Default)]
struct Opening {
    /// EHLO's refusal, while the session tries HELO.
    refused_ehlo: Option<Reply>,
    /// The last AUTH reply, shown once AUTH succeeds.
    auth_reply: Option<Reply>,
    /// Whether the STARTTLS step was reported.
    starttls_reported: bool,
}

/// Whether an error in `failed` concerns the step of a reply to `answered`.
fn same_step(failed: Phase, answered: Phase) -> bool {
    let step = |phase| match phase {
        Phase::Helo => Phase::Ehlo,
        other => other,
    };
    step(failed) == step(answered)
}

impl Check {
    /// Steps the library's client through the opening, reporting each step as it ends.
    /// Returns whether the session became ready (and, with a user, logged in).
    pub(super) async fn opening(&mut self, client: &mut Conn) -> bool {
        let mut opening = Opening::default();
        let mut mark = Instant::now();
        loop {
            let event = client.next_event().await;
            let took = mark.elapsed();
            let go_on = match event {
                Ok(Event::Reply { phase, reply, .. }) => {
                    // The session has judged the reply already: its error says if it ended here.
                    let failed = client
                        .session()
                        .error()
                        .filter(|e| same_step(e.phase(), phase))
                        .cloned();
                    match self.on_reply(client, &mut opening, phase, reply, failed, took) {
                        Some(go_on) => go_on,
                        // The step goes on: HELO after a refused EHLO, AUTH challenges.
                        None => continue,
                    }
                }
                Ok(Event::TlsEstablished) => self.tls_passed(client, took),
                Ok(Event::StayedPlaintext) if opening.starttls_reported => true,
                Ok(Event::StayedPlaintext) => self.report.push(
                    Step::new("starttls", "STARTTLS", Status::Warn, took)
                        .summary("not offered: going on without TLS (--tls opportunistic)")
                        .why("The connection stays unencrypted; smtpwire will not log in over it.")
                        .fix("Use --tls implicit (465) or --tls starttls (587) with a provider that encrypts."),
                ),
                Ok(Event::Authenticated { mechanism }) => {
                    self.auth_passed(client, opening.auth_reply.take(), &mechanism, took)
                }
                Ok(Event::Ready) => return self.user.is_some() || self.auth_not_tested(client),
                Ok(_) => continue,
                Err(error) => {
                    let step = self.failure(client, &error, took);
                    self.report.push(step);
                    return false;
                }
            };
            if !go_on {
                return false;
            }
            mark = Instant::now();
        }
    }

    /// Reports the step a reply ends; `None` while the step goes on.
    fn on_reply(
        &mut self,
        client: &Conn,
        opening: &mut Opening,
        phase: Phase,
        reply: Reply,
        failed: Option<Error>,
        took: Duration,
    ) -> Option<bool> {
        if let Some(error) = &failed {
            if phase == Phase::StartTls {
                opening.starttls_reported = true;
            }
            let step = self.failure(client, error, took);
            return Some(self.report.push(step));
        }
        Some(match phase {
            Phase::Greeting => self.greeting_passed(&reply, took),
            Phase::Ehlo if client.session().phase() == Phase::Helo => {
                opening.refused_ehlo = Some(reply);
                return None;
            }
            Phase::Ehlo | Phase::Helo => {
                self.ehlo_passed(client, &reply, opening.refused_ehlo.take(), took)
            }
            Phase::StartTls => {
                opening.starttls_reported = true;
                self.starttls_answered(client, &reply, took)
            }
            Phase::Auth => {
                opening.auth_reply = Some(reply);
                return None;
            }
            _ => return None,
        })
    }

    /// The failing step for the session's error, by the phase it names.
    fn failure(&self, client: &Conn, error: &Error, took: Duration) -> Step {
        match error.phase() {
            Phase::Greeting => self.greeting_failure(error, took),
            Phase::TlsHandshake => self.tls_failure(error, took),
            Phase::Ehlo | Phase::Helo => self.ehlo_failure(client, error, took),
            Phase::StartTls => self.starttls_failure(error, took),
            Phase::Auth => self.auth_failure(client, error, took),
            _ => {
                Step::fail("greeting", "greeting", took, exit_for(error)).summary(error.to_string())
            }
        }
    }

    // ===== greeting =====

    fn greeting_passed(&mut self, reply: &Reply, took: Duration) -> bool {
        self.greeting_clock = explain::find_date(&reply.text_lossy());
        let mut step = Step::pass("greeting", "greeting", took).summary(reply.to_string());
        if let Some(server) = self.greeting_clock {
            let now = report::now_unix();
            let skew = now - server;
            if skew.abs() > 300 {
                step = step.warn(
                    format!(
                        "The greeting gives the server's time as {}, but this machine's clock \
                         says {}: {} {}. A clock this far off makes certificates look expired \
                         or not yet valid, and dates mail wrongly.",
                        report::date_time(server),
                        report::date_time(now),
                        report::span(skew),
                        if skew > 0 { "ahead" } else { "behind" }
                    ),
                    Some(
                        "If this machine's clock is the wrong one, turn on network time \
                         (`timedatectl set-ntp true`)."
                            .to_owned(),
                    ),
                );
            }
        }
        self.report.push(step)
    }

    pub(super) fn greeting_failure(&self, error: &Error, took: Duration) -> Step {
        let port = self.target.port;
        let implicit = self.policy() == TlsPolicy::Implicit;
        let first = self.first_bytes();
        let step = Step::fail("greeting", "greeting", took, exit_for(error));
        let speaks = explain::what_it_speaks(&first);
        if let ErrorKind::WrongTlsMode(_) = error.kind() {
            if speaks == Some(Speaks::Tls) {
                return step
                    .summary("TLS bytes instead of an SMTP greeting")
                    .detail(format!("received: {}", explain::printable(&first)))
                    .why(format!(
                        "The server answered with a TLS record: port {port} expects implicit TLS \
                         from the first byte, not {}.",
                        self.mode_word()
                    ))
                    .fix(format!(
                        "Use --tls implicit for port {port}, or the STARTTLS port 587."
                    ));
            }
            // Silence, and the session's probe (a second connection that began with TLS)
            // got a TLS answer.
            let silent = self.timeouts().tls_probe().unwrap_or_default().as_secs();
            return step
                .summary(format!(
                    "no greeting after {silent} s: port {port} waits for TLS"
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
        }
        if let Some(other @ (Speaks::Imap | Speaks::Pop3 | Speaks::Other(_))) = speaks {
            let name = match other {
                Speaks::Imap => "IMAP",
                Speaks::Pop3 => "POP3",
                Speaks::Other(name) => name,
                Speaks::Tls => "TLS",
            };
            return step
                .summary(format!("this is a {name} server, not SMTP"))
                .detail(format!(
                    "received: {}",
                    explain::printable(explain::first_line(&first))
                ))
                .why(format!(
                    "Port {port} answers in {name}: IMAP (143/993) and POP3 (110/995) are for \
                     reading mail, SMTP (465/587) for sending it."
                ))
                .fix("Use the provider's SMTP host and port, e.g. smtp.qq.com:465 (see `smtpwire providers`).");
        }
        let shown = error.reply().map(ToString::to_string);
        match error.kind() {
            ErrorKind::Rejected => {
                let step = step.summary(shown.unwrap_or_else(|| error.to_string()));
                match error.reply().map(|r| r.code().get()) {
                    Some(421) => step
                        .why("The server is not taking connections right now (busy, or too many connections from this address).")
                        .fix("Wait a few minutes and try again; close other mail programs using the same account."),
                    Some(554 | 550 | 521) => step
                        .why("The server refuses to talk to this machine at all: its address is probably on a blocklist (home and cloud addresses are, for port 25), or the server only serves its own network.")
                        .fix("Use the provider's submission port with a login (465 or 587) instead of 25; from a cloud server, use a relay service."),
                    _ => step
                        .why("The server's first words are not the \"220\" that opens an SMTP session.")
                        .fix("Check the host and port."),
                }
            }
            ErrorKind::Protocol(smtpwire::ProtocolViolation::UnexpectedReply) => step
                .summary(shown.unwrap_or_else(|| error.to_string()))
                .why("The server's first words are not the \"220\" that opens an SMTP session.")
                .fix("Check the host and port."),
            ErrorKind::Timeout => step
                .summary(format!("no greeting within {} s", self.timeouts().greeting().as_secs()))
                .why("The connection opened but the server never greeted: an overloaded server, a firewall or proxy that accepts connections but passes nothing, or a port that speaks another protocol.")
                .fix("Check the port (465 implicit TLS, 587 STARTTLS), try again later, or raise --timeout."),
            ErrorKind::ConnectionClosed => step
                .summary("the server closed the connection without a greeting")
                .why("The server hung up at once: it may refuse this machine's address (a blocklist or rate limit), or expect something else on this port.")
                .fix(format!("Try again later; check the port{}.", if implicit { "" } else { " (465 expects --tls implicit)" })),
            ErrorKind::Protocol(smtpwire::ProtocolViolation::UnsolicitedData) => step
                .summary("the server sent more than its greeting before being asked")
                .why("An SMTP server must wait for EHLO after its greeting; this one kept talking, which smtpwire refuses (it could be answers injected on the path).")
                .fix("Try again; if it persists, tell the server's administrator."),
            ErrorKind::Protocol(_) => step
                .summary(format!("not an SMTP greeting: {}", explain::printable(&first)))
                .why("What the server sent is not an SMTP reply: this port does not speak SMTP.")
                .fix("Check the host and port."),
            _ => step.summary(error.to_string()),
        }
    }

    // ===== EHLO =====

    /// `ehlo`, or `ehlo_tls` for the EHLO that follows STARTTLS.
    fn ehlo_id(&self, client: &Conn) -> &'static str {
        if self.policy() != TlsPolicy::Implicit && client.session().is_tls() {
            "ehlo_tls"
        } else {
            "ehlo"
        }
    }

    /// EHLO (or HELO after it) accepted: what the server offers.
    fn ehlo_passed(
        &mut self,
        client: &Conn,
        reply: &Reply,
        refused_ehlo: Option<Reply>,
        took: Duration,
    ) -> bool {
        let id = self.ehlo_id(client);
        let lines: Vec<String> = reply
            .lines()
            .iter()
            .skip(1)
            .map(|l| explain::printable(l))
            .collect();
        let capabilities = client.session().capabilities().cloned().unwrap_or_default();
        let mechanisms: Vec<String> = capabilities
            .auth_mechanisms()
            .iter()
            .map(|m| m.name().to_owned())
            .collect();
        let tls_on = client.session().is_tls();
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
        let mut step = Step::pass(id, Self::title(id), took)
            .summary(summary)
            .details(columns(&lines))
            .data(json!({
                "domain": capabilities.domain(),
                "extensions": lines,
                "starttls": capabilities.starttls(),
                "auth": mechanisms,
                "tls": tls_on,
            }));
        if let Some(refused) = refused_ehlo {
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
        if !self.report.push(step) {
            return false;
        }
        if self.policy() != TlsPolicy::Plaintext {
            return true;
        }
        let mut step = Step::new("tls", "TLS", Status::Warn, Duration::ZERO)
            .summary("not used (--tls none)")
            .why(
                "Everything, the password included, crosses the network in clear. That is only \
                 acceptable to a relay on this machine.",
            );
        if self.target.port != 25 {
            step =
                step.fix("Use --tls implicit (465) or --tls starttls (587) for a real provider.");
        }
        self.report.push(step)
    }

    fn ehlo_failure(&self, client: &Conn, error: &Error, took: Duration) -> Step {
        let id = self.ehlo_id(client);
        let shown = error
            .reply()
            .map_or_else(|| error.to_string(), ToString::to_string);
        let step = Step::fail(id, Self::title(id), took, exit_for(error)).summary(shown);
        match error.kind() {
            ErrorKind::Unsupported(Unsupported::Ehlo) | ErrorKind::Rejected => step
                .why(format!(
                    "The server refused EHLO {}. Some servers refuse a client name such as \
                     \"localhost\" or one that does not resolve.",
                    self.config.session().client_name()
                ))
                .fix("Give a real host name of this machine with --ehlo NAME."),
            ErrorKind::Timeout => step
                .why("The server did not answer EHLO in time.")
                .fix("Try again later, or raise --timeout."),
            ErrorKind::ConnectionClosed => step
                .why("The server hung up after EHLO: it may refuse this client name or address.")
                .fix("Try --ehlo with this machine's real host name, or try again later."),
            _ => step,
        }
    }

    // ===== STARTTLS =====

    /// STARTTLS answered without ending the session: the handshake follows, or (with
    /// --tls opportunistic) the session stays in plaintext.
    fn starttls_answered(&mut self, client: &Conn, reply: &Reply, took: Duration) -> bool {
        let step = if client.session().phase() == Phase::TlsHandshake {
            Step::pass("starttls", "STARTTLS", took).summary(format!("{reply}: TLS handshake next"))
        } else {
            Step::new("starttls", "STARTTLS", Status::Warn, took)
                .summary(format!("{reply}: going on without TLS (--tls opportunistic)"))
                .why("The server offered STARTTLS and then refused it; the connection stays unencrypted.")
        };
        self.report.push(step)
    }

    fn starttls_failure(&self, error: &Error, took: Duration) -> Step {
        let port = self.target.port;
        let step = Step::fail("starttls", "STARTTLS", took, exit_for(error));
        let shown = error
            .reply()
            .map_or_else(|| error.to_string(), ToString::to_string);
        match error.kind() {
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
            ErrorKind::Protocol(smtpwire::ProtocolViolation::DataAfterStartTls) => step
                .summary(shown)
                .why("More bytes followed the server's \"220\" to STARTTLS, before the TLS handshake. That is how an attacker on the path injects answers into the encrypted session (CVE-2021-22947); smtpwire stopped without using them.")
                .fix("Use another network, or --tls implicit on port 465; tell the server's administrator if it persists."),
            ErrorKind::Rejected => step
                .summary(shown)
                .why("The server offered STARTTLS but refused to start it.")
                .fix(format!("Try again later, or use --tls implicit on port 465.{}", self.provider_ports())),
            _ => step.summary(shown),
        }
    }

    // ===== AUTH =====

    /// The mechanisms the server offers, and that in words.
    fn offered(client: &Conn) -> (Vec<String>, String) {
        let offered: Vec<String> = client
            .session()
            .capabilities()
            .map(|c| {
                c.auth_mechanisms()
                    .iter()
                    .map(|m| m.name().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        let text = if offered.is_empty() {
            "no AUTH offered".to_owned()
        } else {
            format!("offers {}", offered.join(" "))
        };
        (offered, text)
    }

    fn auth_passed(
        &mut self,
        client: &Conn,
        reply: Option<Reply>,
        mechanism: &Mechanism,
        took: Duration,
    ) -> bool {
        let (offered, offered_text) = Self::offered(client);
        let user = self.user.clone().unwrap_or_default();
        let mechanism = mechanism.name();
        let reply = reply.map(|r| format!("{r}: ")).unwrap_or_default();
        let step = Step::pass("auth", "AUTH", took)
            .summary(format!("{reply}logged in as {user} with {mechanism}"))
            .detail(format!("{offered_text}; the password was accepted"))
            .data(json!({ "offered": offered, "mechanism": mechanism, "user": user }));
        self.report.push(step)
    }

    /// No user: the login is not tested; say what the server would take.
    fn auth_not_tested(&mut self, client: &Conn) -> bool {
        let port = self.target.port;
        let (offered, offered_text) = Self::offered(client);
        let step = if offered.is_empty() {
            Step::new("auth", "AUTH", Status::Warn, Duration::ZERO)
                .summary(offered_text)
                .why(format!(
                    "Port {port} takes no logins: it only takes mail for the server's own \
                     domains (a relay or an MX), not mail from you to anyone."
                ))
                .fix("To send with an account, use the provider's submission port: 465 or 587.")
        } else {
            Step::new("auth", "AUTH", Status::Skip, Duration::ZERO)
                .summary(format!("{offered_text}; login not tested (no --user)"))
                .fix("Add --user ADDRESS and --password-env VAR (for QQ Mail and 163: the authorization code, 授权码) to test the login too.")
        };
        self.report.push(step.data(json!({ "offered": offered })))
    }

    fn auth_failure(&self, client: &Conn, error: &Error, took: Duration) -> Step {
        let port = self.target.port;
        let (offered, offered_text) = Self::offered(client);
        let user = self.user.clone().unwrap_or_default();
        let step =
            Step::fail("auth", "AUTH", took, exit_for(error)).data(json!({ "offered": offered }));
        match (error.kind(), error.reply()) {
            (ErrorKind::Unsupported(Unsupported::Auth), _) if offered.is_empty() => step
                .summary(format!("{offered_text}; {error}"))
                .why(format!("Port {port} offers no login at all: it takes mail for the server's own domains only."))
                .fix(format!("Use the provider's submission port (465 with --tls implicit, 587 with --tls starttls).{}", self.provider_ports())),
            (ErrorKind::Unsupported(Unsupported::Auth), _) => step
                .summary(format!("{offered_text}; {error}"))
                .why(format!(
                    "None of the offered mechanisms ({}) is one smtpwire may use here{}.",
                    offered.join(" "),
                    match &self.target.mechanism {
                        Some(m) => format!(" (you asked for --auth {})", m.name().to_lowercase()),
                        None => " (PLAIN, LOGIN, or XOAUTH2 with --auth xoauth2)".to_owned(),
                    }
                ))
                .fix("Pick an offered mechanism with --auth (plain, login, xoauth2)."),
            (ErrorKind::Input(InputError::PlaintextAuth), _) => step
                .summary(format!("{offered_text}; {error}"))
                .why("The connection is not encrypted, so smtpwire will not send the password.")
                .fix("Use --tls starttls (587) or --tls implicit (465)."),
            (_, Some(reply)) if !reply.is_positive() => {
                let (why, fix) = explain::auth_refused(reply, self.family, &user);
                step.summary(reply.to_string()).why(why).fix(fix)
            }
            (ErrorKind::ConnectionClosed, _) => step
                .summary("the server closed the connection during AUTH")
                .why("Some providers hang up instead of answering a wrong password or authorization code.")
                .fix("Check the password: for QQ Mail, 163 and 126 it must be the authorization code (授权码) from the web mailbox's settings, not the login password."),
            (ErrorKind::Timeout, _) => step
                .summary("no answer to AUTH")
                .why("The server did not answer the login in time.")
                .fix("Try again later, or raise --timeout."),
            _ => step.summary(error.to_string()),
        }
    }

    // ===== MAIL FROM =====

    /// The session's sender probe: MAIL FROM, then RSET. Returns whether the check goes on.
    pub(super) async fn mail_from_step(&mut self, client: &mut Conn) -> bool {
        let Some(from) = self.from.clone() else {
            return true;
        };
        let started = Instant::now();
        let answer = client.probe_sender(Some(from.clone())).await;
        let rset = replies_taken(client)
            .await
            .into_iter()
            .find(|(phase, _)| *phase == Phase::Reset)
            .map_or_else(|| "no answer".to_owned(), |(_, reply)| reply.to_string());
        let took = started.elapsed();
        let nothing_sent = "No recipient was given and no data sent: no mail was sent.";
        let step = match answer {
            Ok(reply) if reply.is_positive() => {
                let mut step = Step::pass("mail_from", "MAIL FROM", took)
                    .summary(format!("<{from}> accepted: {reply}"))
                    .detail(format!("then RSET: {rset}"))
                    .detail(nothing_sent);
                if let Some(note) = explain::mail_from_note(self.family) {
                    step = step.detail(note);
                }
                step
            }
            Ok(reply) => {
                let exit = exit_for(&Error::rejected(Phase::MailFrom, reply.clone()));
                let (why, fix) = explain::mail_from_refused(
                    &reply,
                    self.family,
                    from.as_str(),
                    self.user.as_deref(),
                );
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

    pub(super) async fn quit_step(&mut self, client: &mut Conn) {
        let started = Instant::now();
        let _ = client.quit().await;
        let answer = replies_taken(client)
            .await
            .into_iter()
            .find(|(phase, _)| *phase == Phase::Quit);
        let step = Step::pass("quit", "QUIT", started.elapsed()).summary(match answer {
            Some((_, reply)) => reply.to_string(),
            None => "the server closed without answering (harmless; QQ Mail does this)".into(),
        });
        self.report.push(step);
    }
}

/// The replies of the last call on a client that is now idle (ready, closed or failed): its
/// events were kept, and once they are taken `next_event` says there is nothing to wait for,
/// without touching the connection.
async fn replies_taken(client: &mut Conn) -> Vec<(Phase, Reply)> {
    let mut replies = Vec::new();
    while let Ok(event) = client.next_event().await {
        if let Event::Reply { phase, reply, .. } = event {
            replies.push((phase, reply));
        }
    }
    replies
}

/// Extension lines packed several to a line, so a long EHLO answer stays short.
pub(super) fn columns(items: &[String]) -> Vec<String> {
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
