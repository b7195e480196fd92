//! The TLS step: the handshake, and the certificate shown and explained.

use super::*;

impl Check {
    // ===== TLS =====

    pub(super) async fn tls_step(&mut self) -> bool {
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
        // The protocol and cipher suite are in the summary line.
        let details = examined
            .as_ref()
            .map(|e| self.certificate_lines(e, style))
            .unwrap_or_default();
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
                        explain::printable(explain::first_line(&plaintext))
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

    pub(super) fn certificate_lines(&self, examined: &Examined, style: Style) -> Vec<String> {
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

    pub(super) fn handshake_failure(
        &self,
        error: HandshakeError,
        took: Duration,
        implicit: bool,
    ) -> Step {
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
}

pub(super) fn certificate_json(examined: &Examined, host: &str) -> serde_json::Value {
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
