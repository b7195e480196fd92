//! The certificate half of `check`: see what the server presents even when it fails
//! verification, and say in plain words why it fails.
//!
//! The handshake is the library's, with its roots (the Mozilla roots plus `--ca-file`) and
//! its verification; a [`Recorder`] it is given sees the chain and the verdict. A chain that
//! fails still fails the handshake, and nothing is ever sent over it. The recorded chain is
//! then examined piece by piece (trust, host name, dates) against the same roots, so the
//! report can say which of them is wrong.

use super::report::{date_time, span};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, RootCertStore};
use smtpwire::transport::{CertificateObserver, TlsConfig};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// Which certificates this check trusts: the roots of the library's TLS configuration.
pub(crate) struct Trust {
    roots: RootCertStore,
    /// The library's default roots alone: a chain trusted by `roots` but not by these ends in
    /// a CA from `--ca-file`.
    public: RootCertStore,
    ca_file: Option<PathBuf>,
    provider: Arc<CryptoProvider>,
}

impl Trust {
    /// The roots `tls` verifies with; `ca_file` is what `--ca-file` added to them, to name it.
    pub(crate) fn new(tls: &TlsConfig, ca_file: Option<&Path>) -> Self {
        Self {
            roots: tls.roots().clone(),
            public: TlsConfig::default().roots().clone(),
            ca_file: ca_file.map(Path::to_owned),
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        }
    }

    /// The CA file, if one was given.
    pub(crate) fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// Looks at a chain piece by piece: who it names, whether it chains to a trusted CA
    /// (at a time when it is valid, so that a wrong clock and an unknown CA are told apart),
    /// whether it covers `host`, and whether it is valid at `now`.
    pub(crate) fn examine(&self, seen: &Seen, host: &str, now: i64) -> Examined {
        let leaf = seen.chain.first().and_then(|der| Info::parse(der));
        let intermediates: Vec<Info> = seen
            .chain
            .iter()
            .skip(1)
            .filter_map(|d| Info::parse(d))
            .collect();
        let ders: Vec<CertificateDer<'static>> = seen
            .chain
            .iter()
            .map(|d| CertificateDer::from(d.clone()))
            .collect();
        let (trust, name) = match (ders.split_first(), &leaf) {
            (Some((end_entity, rest)), Some(info)) => match ParsedCertificate::try_from(end_entity)
            {
                Ok(parsed) => {
                    let at = if (info.not_before..=info.not_after).contains(&now) {
                        now
                    } else {
                        info.not_before + (info.not_after - info.not_before) / 2
                    };
                    let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                        u64::try_from(at).unwrap_or_default(),
                    ));
                    let algorithms = self.provider.signature_verification_algorithms.all;
                    let chained = |roots: &RootCertStore| {
                        rustls::client::verify_server_cert_signed_by_trust_anchor(
                            &parsed, roots, rest, at, algorithms,
                        )
                    };
                    let trust = match chained(&self.roots) {
                        Ok(()) => ChainTrust::Trusted {
                            private: self.ca_file.is_some() && chained(&self.public).is_err(),
                        },
                        Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) => {
                            ChainTrust::UnknownIssuer
                        }
                        Err(other) => ChainTrust::Other(other.to_string()),
                    };
                    let name = match ServerName::try_from(host) {
                        Ok(server_name) => {
                            rustls::client::verify_server_name(&parsed, &server_name).is_ok()
                        }
                        Err(_) => false,
                    };
                    (trust, name)
                }
                Err(error) => (ChainTrust::Other(error.to_string()), false),
            },
            _ => (
                ChainTrust::Other("the server sent no certificate".into()),
                false,
            ),
        };
        let dates = leaf.as_ref().map_or(Dates::Valid { left: 0 }, |info| {
            if now < info.not_before {
                Dates::NotYetValid {
                    early: info.not_before - now,
                }
            } else if now > info.not_after {
                Dates::Expired {
                    late: now - info.not_after,
                }
            } else {
                Dates::Valid {
                    left: info.not_after - now,
                }
            }
        });
        Examined {
            leaf,
            intermediates,
            trust,
            name_matches: name,
            dates,
            now,
            verdict: seen.verdict.clone(),
        }
    }
}

/// What the handshake's verifier saw: the chain as sent, leaf first, DER, and its verdict.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub chain: Vec<Vec<u8>>,
    pub verdict: Result<(), rustls::Error>,
}

/// Keeps the last chain the library's verifier saw, with its verdict.
#[derive(Debug, Default)]
pub(crate) struct Recorder(Mutex<Option<Seen>>);

impl Recorder {
    /// What the last handshake saw, if it got as far as a certificate.
    pub(crate) fn take(&self) -> Option<Seen> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }
}

impl CertificateObserver for Recorder {
    fn observe(
        &self,
        chain: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        verdict: &Result<(), rustls::Error>,
    ) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(Seen {
                chain: chain.iter().map(|c| c.as_ref().to_vec()).collect(),
                verdict: verdict.clone(),
            });
        }
    }
}

/// The readable fields of one certificate.
#[derive(Clone, Debug)]
pub(crate) struct Info {
    pub subject: String,
    pub issuer: String,
    /// Subject alternative names: `DNS:…` and `IP:…` as the certificate lists them.
    pub names: Vec<String>,
    /// The DNS names alone, for suggestions.
    pub dns_names: Vec<String>,
    pub not_before: i64,
    pub not_after: i64,
    pub self_signed: bool,
}

impl Info {
    pub(crate) fn parse(der: &[u8]) -> Option<Self> {
        let (_, certificate) = X509Certificate::from_der(der).ok()?;
        let mut names = Vec::new();
        let mut dns_names = Vec::new();
        if let Ok(Some(san)) = certificate.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(dns) => {
                        names.push(format!("DNS:{}", clean(dns)));
                        dns_names.push(clean(dns));
                    }
                    GeneralName::IPAddress(bytes) => names.push(format!("IP:{}", ip(bytes))),
                    GeneralName::RFC822Name(mail) => names.push(format!("email:{}", clean(mail))),
                    _ => {}
                }
            }
        }
        let subject = clean(&certificate.subject().to_string());
        let issuer = clean(&certificate.issuer().to_string());
        Some(Self {
            self_signed: certificate.subject().as_raw() == certificate.issuer().as_raw(),
            subject,
            issuer,
            names,
            dns_names,
            not_before: certificate.validity().not_before.timestamp(),
            not_after: certificate.validity().not_after.timestamp(),
        })
    }

    /// `2026-11-29 03:28:05 UTC → 2029-03-03 03:28:05 UTC`.
    pub(crate) fn validity(&self) -> String {
        format!(
            "{} → {}",
            date_time(self.not_before),
            date_time(self.not_after)
        )
    }
}

fn ip(bytes: &[u8]) -> String {
    match bytes.len() {
        4 => {
            let mut octets = [0u8; 4];
            octets.copy_from_slice(bytes);
            std::net::Ipv4Addr::from(octets).to_string()
        }
        16 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(bytes);
            std::net::Ipv6Addr::from(octets).to_string()
        }
        _ => "(malformed)".into(),
    }
}

/// Certificate text comes from the server: no control characters reach the terminal.
pub(crate) fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Whether the chain ends in a trusted CA, judged at a time when the certificate is valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ChainTrust {
    /// It does; `private` when the anchor came from `--ca-file`.
    Trusted { private: bool },
    /// No trusted CA issued it (or the server left out the intermediate).
    UnknownIssuer,
    /// Something else is wrong with the chain.
    Other(String),
}

/// The leaf's validity against this machine's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dates {
    Valid { left: i64 },
    NotYetValid { early: i64 },
    Expired { late: i64 },
}

/// A chain, examined.
#[derive(Clone, Debug)]
pub(crate) struct Examined {
    pub leaf: Option<Info>,
    pub intermediates: Vec<Info>,
    pub trust: ChainTrust,
    pub name_matches: bool,
    pub dates: Dates,
    pub now: i64,
    /// What the handshake's own verification said.
    pub verdict: Result<(), rustls::Error>,
}

impl Examined {
    /// Whether every part holds.
    pub(crate) fn all_good(&self) -> bool {
        matches!(self.trust, ChainTrust::Trusted { .. })
            && self.name_matches
            && matches!(self.dates, Dates::Valid { .. })
            && self.verdict.is_ok()
    }

    /// Some of the detail lines: subject, issuer, names, validity.
    pub(crate) fn identity_lines(&self) -> Vec<(String, String)> {
        let mut lines = Vec::new();
        if let Some(leaf) = &self.leaf {
            lines.push(("subject".into(), leaf.subject.clone()));
            lines.push(("issuer".into(), leaf.issuer.clone()));
            lines.push((
                "names".into(),
                if leaf.names.is_empty() {
                    "(none: the certificate lists no subject alternative names)".into()
                } else {
                    leaf.names.join(", ")
                },
            ));
            lines.push(("valid".into(), leaf.validity()));
        }
        for intermediate in &self.intermediates {
            lines.push((
                "then".into(),
                format!(
                    "{} (issued by {}; {})",
                    intermediate.subject,
                    intermediate.issuer,
                    intermediate.validity()
                ),
            ));
        }
        lines
    }

    /// The days (or hours) a span covers, for "expired 3 days ago".
    pub(crate) fn dates_line(&self) -> String {
        match self.dates {
            Dates::Valid { left } => format!(
                "valid now ({} left; this machine's clock: {})",
                span(left),
                date_time(self.now)
            ),
            Dates::NotYetValid { early } => format!(
                "not valid yet by this machine's clock ({}): it starts in {}",
                date_time(self.now),
                span(early)
            ),
            Dates::Expired { late } => format!(
                "expired {} ago by this machine's clock ({})",
                span(late),
                date_time(self.now)
            ),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn certificate(names: &[&str], not_before: (i32, u8, u8), not_after: (i32, u8, u8)) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(
            names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
        )
        .unwrap();
        params.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
        params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "mail.example");
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn a_self_signed_certificate_is_read_and_not_trusted() {
        let der = certificate(&["mail.example", "127.0.0.1"], (2020, 1, 1), (2040, 1, 1));
        let info = Info::parse(&der).unwrap();
        assert_eq!(info.subject, "CN=mail.example");
        assert!(info.self_signed);
        assert_eq!(info.names, ["DNS:mail.example", "IP:127.0.0.1"]);
        let trust = Trust::new(&TlsConfig::default(), None);
        let seen = Seen {
            chain: vec![der],
            verdict: Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            )),
        };
        let now = 1_800_000_000;
        let examined = trust.examine(&seen, "mail.example", now);
        assert_eq!(examined.trust, ChainTrust::UnknownIssuer);
        assert!(examined.name_matches);
        assert!(matches!(examined.dates, Dates::Valid { .. }));
        assert!(!examined.all_good());
        let other = trust.examine(&seen, "smtp.qq.com", now);
        assert!(!other.name_matches);
    }

    #[test]
    fn dates_are_judged_against_the_given_clock() {
        let der = certificate(&["mail.example"], (2020, 1, 1), (2020, 1, 2));
        let trust = Trust::new(&TlsConfig::default(), None);
        let seen = Seen {
            chain: vec![der],
            verdict: Ok(()),
        };
        let expired = trust.examine(&seen, "mail.example", 1_600_000_000);
        assert!(matches!(expired.dates, Dates::Expired { .. }));
        let early = trust.examine(&seen, "mail.example", 1_500_000_000);
        assert!(matches!(early.dates, Dates::NotYetValid { .. }));
    }
}
