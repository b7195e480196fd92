//! SASL authentication (RFC 4954): PLAIN (RFC 4616), LOGIN, XOAUTH2.

use crate::secret::Secret;

/// A SASL mechanism name, as offered in EHLO and sent in AUTH.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mechanism {
    /// PLAIN (RFC 4616): user and password in one message. The preferred choice under TLS.
    Plain,
    /// LOGIN (draft-murchison-sasl-login): user, then password, each after a prompt.
    Login,
    /// XOAUTH2: an OAuth 2.0 bearer token (Gmail, Outlook).
    XOAuth2,
    /// Any other mechanism the server offers; kept so it can be shown, never used.
    Other(String),
}

impl Mechanism {
    /// Recognises a mechanism name, ignoring ASCII case.
    pub fn from_name(name: &[u8]) -> Self {
        if name.eq_ignore_ascii_case(b"PLAIN") {
            Self::Plain
        } else if name.eq_ignore_ascii_case(b"LOGIN") {
            Self::Login
        } else if name.eq_ignore_ascii_case(b"XOAUTH2") {
            Self::XOAuth2
        } else {
            Self::Other(String::from_utf8_lossy(name).to_ascii_uppercase())
        }
    }

    /// The name as sent after `AUTH`.
    pub fn name(&self) -> &str {
        match self {
            Self::Plain => "PLAIN",
            Self::Login => "LOGIN",
            Self::XOAuth2 => "XOAUTH2",
            Self::Other(name) => name,
        }
    }
}

/// What to authenticate with. The password or token is a [`Secret`] and never printed.
#[derive(Clone, Debug)]
pub struct Credentials {
    username: String,
    secret: Secret<String>,
}

impl Credentials {
    /// A user name and a password (for QQ Mail and 163, the "authorization code").
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            secret: Secret::new(password.into()),
        }
    }

    /// The user name.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The password or token.
    pub fn secret(&self) -> &Secret<String> {
        &self.secret
    }
}
