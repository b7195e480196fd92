//! Helpers shared by the integration tests.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use smtpwire::auth::{Credentials, Mechanism};
use smtpwire::session::{DataCommand, SessionConfig, TlsPolicy};
use smtpwire::{Delivery, Error, ErrorKind};

pub mod envelope;
pub mod scripted;
pub mod servers;

/// Asserts that the kind of an error matches the pattern, showing the error if not.
#[allow(unused_macros)]
macro_rules! assert_kind {
    ($error:expr, $($pattern:tt)+) => {
        assert!(matches!($error.kind(), $($pattern)+), "{}", $error)
    };
}
#[allow(unused_imports)]
pub(crate) use assert_kind;

/// A client configuration for one of the real test servers (`address` is one of
/// `servers`'), trusting the test CA and, with TLS, logging in as the test user.
#[cfg(feature = "tokio")]
pub fn server_config(
    servers: &servers::Servers,
    address: &str,
    tls: TlsPolicy,
) -> smtpwire::transport::ClientConfig {
    // The certificate names localhost and 127.0.0.1; connect by name to check SNI too.
    let credentials =
        (tls != TlsPolicy::Plaintext).then(|| Credentials::new(&servers.user, &servers.password));
    let session = SessionConfig::new(tls).with_credentials(credentials);
    let trust = smtpwire::transport::TlsConfig::empty()
        .with_pem_file(&servers.ca)
        .unwrap();
    smtpwire::transport::ClientConfig::new("localhost", servers::port(address))
        .with_session(session)
        .with_tls(trust)
}

/// Test-only options read from a `! config` line.
#[derive(Default)]
pub struct Options {
    pub no_chunking: bool,
    /// Strings that must never appear in anything the session shows.
    pub secrets: Vec<String>,
}

/// Reads `key=value` words into a session configuration.
pub fn parse_config(words: &str) -> (SessionConfig, Options) {
    let mut config = SessionConfig::new(TlsPolicy::Plaintext).with_transcript(true);
    let mut options = Options::default();
    let (mut user, mut pass, mut oauth2) = (None, None, false);
    for word in words.split_whitespace() {
        let (key, value) = word.split_once('=').unwrap_or((word, ""));
        match key {
            "tls" => {
                config = config.with_tls_policy(match value {
                    "implicit" => TlsPolicy::Implicit,
                    "required" => TlsPolicy::StartTlsRequired,
                    "opportunistic" => TlsPolicy::StartTlsOpportunistic,
                    "none" => TlsPolicy::Plaintext,
                    _ => panic!("unknown tls policy {value}"),
                })
            }
            "user" => user = Some(value.to_owned()),
            "pass" => pass = Some(value.to_owned()),
            "oauth2" => oauth2 = true,
            "mechanism" => config = config.with_mechanism(Mechanism::from_name(value.as_bytes())),
            "pipelining" => config = config.with_pipelining(value != "off"),
            "data" if value == "data" => config = config.with_data_command(DataCommand::Data),
            "max_rcpt" => config = config.with_max_recipients(value.parse().unwrap()),
            "bdat_chunk" => config = config.with_bdat_chunk_size(value.parse().unwrap()),
            "dangerous_plaintext_auth" => config = config.dangerous_allow_plaintext_auth(),
            "no-chunking" => options.no_chunking = true,
            _ => panic!("unknown config {word}"),
        }
    }
    if let (Some(user), Some(pass)) = (user, pass) {
        options.secrets = secret_forms(&user, &pass);
        config = config.with_credentials(if oauth2 {
            Credentials::oauth2(user, pass)
        } else {
            Credentials::new(user, pass)
        });
    }
    (config, options)
}

/// The password and every encoding of it that a leak could show.
pub fn secret_forms(user: &str, pass: &str) -> Vec<String> {
    vec![
        pass.to_owned(),
        BASE64.encode(pass),
        BASE64.encode(format!("\0{user}\0{pass}")),
        BASE64.encode(format!("user={user}\x01auth=Bearer {pass}\x01\x01")),
    ]
}

/// `\r`, `\n`, `\t`, `\\` and `\xNN` escapes to bytes.
pub fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 1 < bytes.len() {
            i += 1;
            match bytes[i] {
                b'r' => out.push(b'\r'),
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'\\' => out.push(b'\\'),
                b'x' => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 2;
                }
                other => panic!("unknown escape \\{}", other as char),
            }
        } else {
            out.push(bytes[i]);
        }
        i += 1;
    }
    out
}

/// A short, exact description of an error: `Phase Kind [detail]`.
pub fn describe(error: &Error) -> String {
    let kind = match error.kind() {
        ErrorKind::Rejected => format!("Rejected {}", error.reply().unwrap().code()),
        ErrorKind::Protocol(v) => format!("{v:?}"),
        ErrorKind::Unsupported(u) => format!("{u:?}"),
        ErrorKind::Input(i) => format!("{i:?}"),
        other => format!("{other:?}"),
    };
    let mut text = format!("{:?} {kind}", error.phase());
    if error.delivery() == Delivery::Unknown {
        text.push_str(" delivery=Unknown");
    }
    text
}
