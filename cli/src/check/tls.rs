//! The TLS step: the handshake, and the certificate shown and explained.

use super::*;

impl Check {
    /// What the handshake's verifier saw, examined against the same roots; with its report
    /// lines and its JSON, which both outcomes of the handshake show.
    fn examined(&self, host: &str) -> (Option<Examined>, Vec<String>, Option<serde_json::Value>) {
        let examined = self
            .certificates
            .take()
            .map(|seen| self.trust.examine(&seen, host, report::now_unix()));
        let Some(seen) = &examined else {
            return (None, Vec::new(), None);
        };
        let lines = self.certificate_lines(seen, self.report.style());
        let json = certificate_json(seen, host);
        (examined, lines, Some(json))
    }

    /// The handshake succeeded (implicit TLS, or after STARTTLS).
    pub(super) fn tls_passed(&mut self, client: &Conn, took: Duration) -> bool {
        let host = self.tls_name();
        let (examined, details, certificate) = self.examined(&host);
        let info = client.tls_info();
        let protocol = info.map(|i| protocol_name(&i.protocol));
        let cipher = info.map(|i| i.cipher_suite.clone());
        let data = json!({
            "protocol": protocol,
            "cipher_suite": cipher,
            "certificate": certificate,
        });
        let mut step = Step::pass("tls", "TLS", took)
            .summary(format!(
                "{}, {}; certificate valid for {host}",
                protocol.as_deref().unwrap_or("?"),
                cipher.as_deref().unwrap_or("?")
            ))
            .details(details)
            .data(data);
        if let Some(examined) = examined.filter(|e| !e.all_good()) {
            let (_, why, fix) = explain::certificate_problems(
                &examined,
                &host,
                self.target.port,
                self.host_family,
                self.trust.ca_file(),
                self.greeting_clock,
            );
            step = step.warn(why.join(" "), Some(fix.join(" ")));
        }
        self.report.push(step)
    }

    /// The handshake failed: the session has closed the connection without sending anything
    /// more over it.
    pub(super) fn tls_failure(&self, error: &Error, took: Duration) -> Step {
        let host = self.tls_name();
        let port = self.target.port;
        let (examined, details, certificate) = self.examined(&host);
        let data = json!({
            "protocol": null,
            "cipher_suite": null,
            "certificate": certificate,
        });
        let step = Step::fail("tls", "TLS", took, exit_for(error));
        let step = if let ErrorKind::WrongTlsMode(TlsMismatch::ServerSpeaksPlaintext) = error.kind()
        {
            let first = self.first_bytes();
            let mut step = step.summary("the server answered in plain SMTP, not TLS");
            if !first.is_empty() {
                step = step.detail(format!(
                    "received: {}",
                    explain::printable(explain::first_line(&first))
                ));
            }
            step.why(format!(
                "Port {port} speaks plain SMTP first (it sent an SMTP greeting), so TLS must be \
                 started with STARTTLS there; implicit TLS (--tls implicit) is for ports like \
                 465. This is the classic mix-up of implicit TLS and STARTTLS."
            ))
            .fix(format!(
                "Use --tls starttls on port {port}, or connect to port 465 for implicit TLS.{}",
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
            step.summary(summary)
                .details(details)
                .why(format!(
                    "{} Nothing was sent over this connection: it was closed right after the \
                     handshake failed.",
                    why.join(" ")
                ))
                .fix(fix.join(" "))
        } else {
            self.handshake_failure(step, error).details(details)
        };
        step.data(data)
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

    /// Why a handshake failed, when the certificate is not the reason.
    fn handshake_failure(&self, step: Step, error: &Error) -> Step {
        let port = self.target.port;
        let implicit = self.policy() == TlsPolicy::Implicit;
        let inner = match error.kind() {
            ErrorKind::Tls(inner) => Some(&**inner),
            _ => None,
        };
        if let ErrorKind::Timeout = error.kind() {
            return step
                .summary(format!(
                    "no TLS answer within {} s",
                    self.timeouts().tls_handshake().as_secs()
                ))
                .why(if implicit {
                    format!("Port {port} did not answer the TLS handshake: it may not speak TLS at all, or a firewall holds the connection.")
                } else {
                    "The server accepted STARTTLS but never completed the handshake.".to_owned()
                })
                .fix("Check the port (465 implicit TLS, 587 STARTTLS) and try again.");
        }
        if let Some(e) = inner.and_then(|e| e.downcast_ref::<rustls::Error>()) {
            let step = step.summary(format!("TLS handshake failed: {e}"));
            return match e {
                rustls::Error::AlertReceived(
                    rustls::AlertDescription::ProtocolVersion
                    | rustls::AlertDescription::HandshakeFailure
                    | rustls::AlertDescription::InsufficientSecurity,
                ) => step
                    .why("The server and smtpwire share no TLS version or cipher suite: smtpwire needs TLS 1.2 or 1.3 with modern ciphers; the server probably offers only TLS 1.0/1.1, retired as insecure.")
                    .fix("Only the server's administrator can fix this (enable TLS 1.2 or later). There is no safe workaround."),
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
            };
        }
        let broke = match (error.kind(), inner) {
            (ErrorKind::Io(e), _) => e.to_string(),
            (_, Some(e)) => e.to_string(),
            _ => return step.summary(error.to_string()),
        };
        step.summary(format!("the connection broke during the TLS handshake: {broke}"))
            .why(if implicit {
                format!("The server closed the connection when the handshake began: port {port} may not speak implicit TLS, or it refuses this client's TLS versions.")
            } else {
                "The server closed the connection during the handshake: it may refuse this client's TLS versions.".to_owned()
            })
            .fix(format!("Check the port and TLS mode: 465 with --tls implicit, 587 with --tls starttls.{}", self.provider_ports()))
    }
}

/// `TLSv1_3` → `TLS 1.3`.
fn protocol_name(protocol: &str) -> String {
    match protocol {
        "TLSv1_3" => "TLS 1.3".to_owned(),
        "TLSv1_2" => "TLS 1.2".to_owned(),
        other => other.to_owned(),
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
