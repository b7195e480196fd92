//! A certificate authority and a leaf for `localhost` and 127.0.0.1, made fresh for one run:
//! the loopback server and the throughput benchmark's TLS terminator serve the leaf, their
//! clients trust the CA and nothing else.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use std::error::Error;
use std::sync::Arc;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

/// An acceptor serving the leaf, and the CA certificate (DER) named `ca_name` that signed it.
pub(crate) fn make_tls(ca_name: &str) -> Result<(TlsAcceptor, Vec<u8>), Box<dyn Error>> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, ca_name);
    let ca = ca_params.self_signed(&ca_key)?;
    let leaf_key = KeyPair::generate()?;
    let mut leaf_params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key)?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key)?;
    Ok((TlsAcceptor::from(Arc::new(config)), ca.der().to_vec()))
}
