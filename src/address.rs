//! Validated envelope addresses (RFC 5321 §4.1.2, RFC 6531) and the EHLO client name.
//!
//! STUB — to be implemented. The public surface below is fixed.

use crate::error::InputError;
use std::fmt;
use std::net::IpAddr;

/// An envelope mailbox, `local-part@domain`, validated so it can be put in `MAIL FROM:<…>` or
/// `RCPT TO:<…>` as is: no CR, LF, NUL, SP, `<` or `>` can be in it, and RFC 5321 §4.5.3.1
/// length limits hold (local part 64 octets, domain 255, the whole path 256).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Mailbox {
    text: String,
    at: usize,
}

impl Mailbox {
    /// Parses and validates an address such as `alice@example.com`, `"a b"@example.com`,
    /// `user@[192.0.2.1]` or (needing SMTPUTF8) `用户@例子.中国`.
    pub fn parse(text: &str) -> Result<Self, InputError> {
        let at = text.rfind('@').ok_or(InputError::Address("no @"))?;
        Ok(Self {
            text: text.to_owned(),
            at,
        })
    }

    /// The part before the `@`, as it goes on the wire (quotes included).
    pub fn local_part(&self) -> &str {
        self.text.get(..self.at).unwrap_or_default()
    }

    /// The part after the `@`: a domain or an address literal.
    pub fn domain(&self) -> &str {
        self.text.get(self.at + 1..).unwrap_or_default()
    }

    /// Whether sending this address needs the server's SMTPUTF8 extension (non-ASCII).
    pub fn needs_smtputf8(&self) -> bool {
        !self.text.is_ascii()
    }

    /// The address as it goes between `<` and `>`.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mailbox({:?})", self.text)
    }
}

impl std::str::FromStr for Mailbox {
    type Err = InputError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The name a client gives itself in EHLO/HELO: a domain or an address literal (RFC 5321 §4.1.1.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClientName {
    /// A domain name such as `mail.example.com` (ASCII letters, digits, hyphens, dots).
    Domain(String),
    /// An IP address, sent as `[192.0.2.1]` or `[IPv6:2001:db8::1]`.
    Address(IpAddr),
}

impl ClientName {
    /// Parses a domain, `[a.b.c.d]`, `[IPv6:…]`, or a bare IP address.
    pub fn parse(text: &str) -> Result<Self, InputError> {
        Ok(Self::Domain(text.to_owned()))
    }
}

impl Default for ClientName {
    /// `localhost`, as most clients send when they know no better name.
    fn default() -> Self {
        Self::Domain(String::from("localhost"))
    }
}

impl fmt::Display for ClientName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Domain(name) => f.write_str(name),
            Self::Address(IpAddr::V4(ip)) => write!(f, "[{ip}]"),
            Self::Address(IpAddr::V6(ip)) => write!(f, "[IPv6:{ip}]"),
        }
    }
}
