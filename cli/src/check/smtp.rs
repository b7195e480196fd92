//! The SMTP steps: greeting, EHLO, STARTTLS, AUTH, the MAIL FROM probe and QUIT.

use super::*;

impl Check {
    // ===== greeting =====

    pub(super) async fn greeting_step(&mut self, address: SocketAddr) -> bool {
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
        self.greeted = reply.is_some();
        match (reply, outcome) {
            (Some(reply), Ok(())) if reply.code().get() == 220 => {
                self.greeting_clock = explain::find_date(&reply.text_lossy());
                let mut step = Step::pass("greeting", "greeting", took).summary(reply.to_string());
                if let Some(server) = self.greeting_clock {
                    let now = report::now_unix();
                    let skew = now - server;
                    if skew.abs() > 300 {
                        step = step.warn(
                            format!(
                                "The greeting gives the server's time as {}, but this machine's \
                                 clock says {}: {} {}. A clock this far off makes certificates \
                                 look expired or not yet valid, and dates mail wrongly.",
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
            (reply, outcome) => {
                let error = outcome.err();
                let step = self.greeting_failure(reply, error, &first, took, implicit);
                self.report.push(step)
            }
        }
    }

    /// Whether a fresh connection to `address` gets a TLS handshake going. Nothing is sent
    /// after the handshake; the connection is dropped at once.
    pub(super) async fn speaks_tls(&self, address: SocketAddr) -> bool {
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

    pub(super) fn greeting_failure(
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
                .detail(format!("received: {}", explain::printable(explain::first_line(first))))
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

    pub(super) async fn ehlo_step(&mut self, id: &'static str) -> bool {
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

    // ===== STARTTLS =====

    /// `Some(true)`: the handshake follows; `Some(false)`: no TLS, go on (opportunistic);
    /// `None`: stop.
    pub(super) async fn starttls_step(&mut self) -> Option<bool> {
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
            (Some(reply), outcome)
                if self.policy() == TlsPolicy::StartTlsOpportunistic && !reply.is_positive() =>
            {
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

    // ===== AUTH =====

    pub(super) async fn auth_step(&mut self) -> bool {
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
                            .why("Some providers hang up instead of answering a wrong password or authorization code.")
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

    pub(super) async fn mail_from_step(&mut self) -> bool {
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

    pub(super) async fn quit_step(&mut self) {
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

/// The mechanism of the last AUTH command in the (redacted) transcript.
pub(super) fn used_mechanism(transcript: &Transcript) -> Option<String> {
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
