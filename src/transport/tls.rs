//! TLS for the transport: rustls with the ring provider, TLS 1.2 at least, verification on.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// Which certificates to trust, and how.
///
/// By default: the Mozilla roots from `webpki-roots`, with host name checks. Private CAs are
/// added with [`TlsConfig::with_pem_file`] or [`TlsConfig::with_der`]; turning verification off
/// is possible only through [`TlsConfig::dangerous_accept_any_certificate`].
///
/// The rustls configuration is built on first use and shared by every clone made after
/// that, so the connections of a pool, or one connection per message, reuse TLS sessions
/// (resumption: a shorter handshake) and do not rebuild the root store each time. With a
/// [`CertificateObserver`] each connection gets its own, so that every handshake shows its
/// chain.
#[derive(Clone)]
pub struct TlsConfig {
    roots: RootCertStore,
    verify: bool,
    observer: Option<Arc<dyn CertificateObserver>>,
    /// The rustls configuration, once built; every setter starts a new one.
    built: Arc<OnceLock<Arc<rustls::ClientConfig>>>,
}

/// Sees each certificate chain a server presents and the verdict on it, before the verdict
/// is acted on: for diagnostics such as `smtpwire check`, which explains a chain that
/// failed. It cannot change the verdict: a chain that fails still fails the handshake.
pub trait CertificateObserver: Send + Sync + fmt::Debug {
    /// `chain` is the end-entity certificate first, then the intermediates as sent.
    fn observe(
        &self,
        chain: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        verdict: &Result<(), rustls::Error>,
    );
}

impl Default for TlsConfig {
    fn default() -> Self {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        Self {
            roots,
            verify: true,
            observer: None,
            built: Arc::default(),
        }
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("trust_anchors", &self.roots.len())
            .field("verify", &self.verify)
            .field("observer", &self.observer)
            .finish()
    }
}

impl TlsConfig {
    /// Trusts only the given anchors (no public roots), e.g. a test CA.
    pub fn empty() -> Self {
        Self {
            roots: RootCertStore::empty(),
            verify: true,
            observer: None,
            built: Arc::default(),
        }
    }

    /// Adds every certificate of a PEM file as a trust anchor.
    ///
    /// # Errors
    /// The file cannot be read, holds no certificate, or a certificate is not a valid anchor.
    pub fn with_pem_file(self, path: impl AsRef<Path>) -> std::io::Result<Self> {
        let pem = std::fs::read(path)?;
        self.with_pem(&pem)
    }

    /// Adds every certificate of PEM text as a trust anchor.
    ///
    /// # Errors
    /// No certificate in the text, or one that is not a valid anchor.
    pub fn with_pem(mut self, pem: &[u8]) -> std::io::Result<Self> {
        let mut added = 0;
        for certificate in CertificateDer::pem_slice_iter(pem) {
            let certificate = certificate.map_err(invalid_data)?;
            self.roots.add(certificate).map_err(invalid_data)?;
            self.built = Arc::default();
            added += 1;
        }
        if added == 0 {
            return Err(invalid_data("no certificate in the PEM data"));
        }
        Ok(self)
    }

    /// Adds one DER-encoded certificate as a trust anchor.
    ///
    /// # Errors
    /// The certificate is not a valid anchor.
    pub fn with_der(mut self, der: &[u8]) -> std::io::Result<Self> {
        self.roots
            .add(CertificateDer::from(der.to_vec()))
            .map_err(invalid_data)?;
        self.built = Arc::default();
        Ok(self)
    }

    /// Accepts any certificate for any host: anyone on the path can then read and change the
    /// session, credentials included. Only for throw-away tests.
    #[must_use]
    pub fn dangerous_accept_any_certificate(mut self) -> Self {
        self.verify = false;
        self.built = Arc::default();
        self
    }

    /// Whether certificates are verified.
    pub fn verifies_certificates(&self) -> bool {
        self.verify
    }

    /// Shows every chain the server presents, and the verdict on it, to `observer`.
    #[must_use]
    pub fn with_certificate_observer(mut self, observer: Arc<dyn CertificateObserver>) -> Self {
        self.observer = Some(observer);
        self.built = Arc::default();
        self
    }

    /// The trust anchors: the public web roots and those added, for callers that examine a
    /// chain themselves (e.g. to tell an unknown issuer from a wrong clock).
    pub fn roots(&self) -> &RootCertStore {
        &self.roots
    }

    /// The rustls configuration this makes (ring, TLS 1.2 and 1.3), for callers that run a
    /// handshake themselves, such as a diagnostic probe.
    ///
    /// # Errors
    /// rustls refusing the protocol versions for the provider (not expected with ring), or an
    /// observer set on a configuration without trust anchors.
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
        // An observer wants to see every chain; a resumed session presents none.
        if self.observer.is_some() {
            return self.build();
        }
        if let Some(built) = self.built.get() {
            return Ok(built.clone());
        }
        let built = self.build()?;
        Ok(self.built.get_or_init(|| built).clone())
    }

    fn build(&self) -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?;
        if self.verify && self.observer.is_none() {
            return Ok(Arc::new(
                builder
                    .with_root_certificates(self.roots.clone())
                    .with_no_client_auth(),
            ));
        }
        let webpki = if self.verify {
            let roots = Arc::new(self.roots.clone());
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
            Some(webpki)
        } else {
            None
        };
        let verifier = Arc::new(Verifier {
            webpki,
            algorithms: provider.signature_verification_algorithms,
            observer: self.observer.clone(),
        });
        Ok(Arc::new(
            builder
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth(),
        ))
    }
}

/// The verifier of every configuration but the plain default: the chain checked by webpki
/// against the roots (or, dangerously, not at all), then shown to the observer if any.
#[derive(Debug)]
struct Verifier {
    /// `None`: any certificate is accepted ([`TlsConfig::dangerous_accept_any_certificate`]).
    webpki: Option<Arc<WebPkiServerVerifier>>,
    /// The handshake signatures are checked in every case: the connection needs them.
    algorithms: WebPkiSupportedAlgorithms,
    observer: Option<Arc<dyn CertificateObserver>>,
}

/// rustls asks every verifier for both handshake-signature checks; they differ only in the
/// function of `rustls::crypto` they call.
macro_rules! handshake_signature_checks {
    ($($check:ident),*) => {$(
        fn $check(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::$check(message, cert, dss, &self.algorithms)
        }
    )*};
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = match &self.webpki {
            Some(webpki) => webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ),
            None => Ok(ServerCertVerified::assertion()),
        };
        if let Some(observer) = &self.observer {
            let chain: Vec<CertificateDer<'_>> = std::iter::once(end_entity.clone())
                .chain(intermediates.iter().cloned())
                .collect();
            let shown = verdict.as_ref().map(|_| ()).map_err(Clone::clone);
            observer.observe(&chain, server_name, &shown);
        }
        verdict
    }

    handshake_signature_checks!(verify_tls12_signature, verify_tls13_signature);

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

fn invalid_data(error: impl fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, error.to_string())
}

/// What the TLS handshake settled on, for diagnostics.
#[derive(Clone, Debug)]
pub struct TlsInfo {
    /// `TLSv1_3` or `TLSv1_2`.
    pub protocol: String,
    /// The cipher suite, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher_suite: String,
    /// The server's certificate chain, leaf first, in DER.
    pub peer_certificates: Vec<Vec<u8>>,
    /// Whether the chain and host name were verified.
    pub verified: bool,
    /// How long the handshake took.
    pub handshake: std::time::Duration,
}

impl TlsInfo {
    pub(crate) fn from_connection(
        connection: &rustls::ClientConnection,
        verified: bool,
        handshake: std::time::Duration,
    ) -> Self {
        Self {
            protocol: connection
                .protocol_version()
                .map(|v| format!("{v:?}"))
                .unwrap_or_default(),
            cipher_suite: connection
                .negotiated_cipher_suite()
                .map(|s| format!("{:?}", s.suite()))
                .unwrap_or_default(),
            peer_certificates: connection
                .peer_certificates()
                .map(|chain| chain.iter().map(|c| c.as_ref().to_vec()).collect())
                .unwrap_or_default(),
            verified,
            handshake,
        }
    }
}

impl fmt::Display for TlsInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.protocol, self.cipher_suite)?;
        if !self.verified {
            f.write_str(" (certificate NOT verified)")?;
        }
        Ok(())
    }
}

/// The server name for SNI and certificate checks: a DNS name, or an IP address (no SNI is
/// sent for those, and the certificate must carry the IP).
pub(crate) fn server_name(
    host: &str,
) -> Result<ServerName<'static>, rustls::pki_types::InvalidDnsNameError> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned())
}

/// The first flight of a TLS handshake (a ClientHello) for `host`, to ask a port whether it
/// speaks TLS at all; the certificate is never looked at, and nothing follows it.
pub(crate) fn client_hello(host: &str) -> Result<Vec<u8>, rustls::Error> {
    let probe = TlsConfig::empty().dangerous_accept_any_certificate();
    let name = server_name(host)
        .or_else(|_| ServerName::try_from("localhost"))
        .map_err(|e| rustls::Error::General(e.to_string()))?;
    let mut connection = rustls::ClientConnection::new(probe.client_config()?, name)?;
    let mut hello = Vec::new();
    while connection.wants_write() {
        connection
            .write_tls(&mut hello)
            .map_err(|e| rustls::Error::General(e.to_string()))?;
    }
    Ok(hello)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{CertificateObserver, TlsConfig};
    use rustls::pki_types::{CertificateDer, ServerName};
    use rustls::Error;
    use std::sync::Arc;

    #[derive(Debug)]
    struct Quiet;

    impl CertificateObserver for Quiet {
        fn observe(&self, _: &[CertificateDer<'_>], _: &ServerName<'_>, _: &Result<(), Error>) {}
    }

    #[test]
    fn clones_share_one_rustls_configuration_until_a_setter_changes_it() {
        let config = TlsConfig::empty();
        let first = config.client_config().unwrap();
        let clone = config.clone();
        assert!(Arc::ptr_eq(&first, &clone.client_config().unwrap()));
        assert!(Arc::ptr_eq(&first, &config.client_config().unwrap()));

        let clone = clone.dangerous_accept_any_certificate();
        let changed = clone.client_config().unwrap();
        assert!(!Arc::ptr_eq(&first, &changed), "a setter starts a new one");
        assert!(Arc::ptr_eq(&first, &config.client_config().unwrap()));

        let clone = clone.with_certificate_observer(Arc::new(Quiet));
        let observed = clone.client_config().unwrap();
        assert!(
            !Arc::ptr_eq(&observed, &clone.client_config().unwrap()),
            "with an observer every connection shows its chain: no shared sessions"
        );
    }
}
