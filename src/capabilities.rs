//! What the server offers, from its EHLO reply (RFC 5321 §4.1.1.1 and the extension RFCs).
//!
//! STUB — to be implemented. The public surface below is fixed.

use crate::auth::Mechanism;
use crate::reply::Reply;

/// The SIZE extension's announced limit (RFC 1870).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SizeLimit {
    /// `SIZE` or `SIZE 0`, or a value too large to mean anything: no fixed limit.
    Unlimited,
    /// The largest message the server accepts, in octets.
    Max(u64),
}

/// The service extensions a server announced in its EHLO reply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    starttls: bool,
    auth: Vec<Mechanism>,
    size: Option<SizeLimit>,
    pipelining: bool,
    eight_bit_mime: bool,
    smtputf8: bool,
    chunking: bool,
    binary_mime: bool,
    dsn: bool,
    enhanced_status_codes: bool,
    requiretls: bool,
}

impl Capabilities {
    /// Reads the capabilities from a positive EHLO reply.
    pub fn from_ehlo(reply: &Reply) -> Self {
        let _ = reply;
        Self::default()
    }

    /// STARTTLS (RFC 3207).
    pub fn starttls(&self) -> bool {
        self.starttls
    }
    /// The AUTH mechanisms offered (RFC 4954), from `AUTH` and the old `AUTH=` form.
    pub fn auth_mechanisms(&self) -> &[Mechanism] {
        &self.auth
    }
    /// Whether `mechanism` is offered.
    pub fn supports_auth(&self, mechanism: &Mechanism) -> bool {
        self.auth.contains(mechanism)
    }
    /// SIZE (RFC 1870), with its limit; `None` when not offered.
    pub fn size(&self) -> Option<SizeLimit> {
        self.size
    }
    /// PIPELINING (RFC 2920).
    pub fn pipelining(&self) -> bool {
        self.pipelining
    }
    /// 8BITMIME (RFC 6152).
    pub fn eight_bit_mime(&self) -> bool {
        self.eight_bit_mime
    }
    /// SMTPUTF8 (RFC 6531).
    pub fn smtputf8(&self) -> bool {
        self.smtputf8
    }
    /// CHUNKING: the BDAT command (RFC 3030).
    pub fn chunking(&self) -> bool {
        self.chunking
    }
    /// BINARYMIME (RFC 3030).
    pub fn binary_mime(&self) -> bool {
        self.binary_mime
    }
    /// DSN (RFC 3461).
    pub fn dsn(&self) -> bool {
        self.dsn
    }
    /// ENHANCEDSTATUSCODES (RFC 2034).
    pub fn enhanced_status_codes(&self) -> bool {
        self.enhanced_status_codes
    }
    /// REQUIRETLS (RFC 8689).
    pub fn requiretls(&self) -> bool {
        self.requiretls
    }
}
