//! What the server offers, from its EHLO reply (RFC 5321 §4.1.1.1 and the extension RFCs).
//!
//! ```text
//! ehlo-ok-rsp  = ( "250" SP Domain [ SP ehlo-greet ] CRLF )
//!              / ( "250-" Domain [ SP ehlo-greet ] CRLF
//!                  *( "250-" ehlo-line CRLF )
//!                  "250" SP ehlo-line CRLF )
//! ehlo-line    = ehlo-keyword *( SP ehlo-param )
//! ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
//! ehlo-param   = 1*(%d33-126)
//! ```

use crate::auth::Mechanism;
use crate::reply::Reply;

/// Most AUTH mechanisms kept; real servers offer fewer than ten, EAST's `250-all` test 63.
const MAX_MECHANISMS: usize = 64;

/// Most unrecognised extensions kept, so a capability bomb costs bounded memory.
const MAX_OTHER_EXTENSIONS: usize = 64;

/// The SIZE extension's announced limit (RFC 1870).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SizeLimit {
    /// `SIZE` or `SIZE 0`, or a value too large to mean anything: no fixed limit.
    Unlimited,
    /// The largest message the server accepts, in octets.
    Max(u64),
}

/// A service extension this crate does not act on, as the server announced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extension {
    keyword: String,
    params: Vec<String>,
}

impl Extension {
    /// The `ehlo-keyword`, in upper case (keywords are case-insensitive), e.g. `VRFY`.
    pub fn keyword(&self) -> &str {
        &self.keyword
    }

    /// The `ehlo-param`s, as sent; bytes that are not UTF-8 are replaced.
    pub fn params(&self) -> &[String] {
        &self.params
    }
}

/// The service extensions a server announced in its EHLO reply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    domain: String,
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
    other: Vec<Extension>,
}

impl Capabilities {
    /// Reads the capabilities from a positive EHLO reply.
    ///
    /// The first line names the server; each further line announces one extension. Keywords
    /// are matched ignoring case; lines that are blank or do not start with a valid
    /// `ehlo-keyword` are skipped, and unknown extensions are kept up to a bound.
    pub fn from_ehlo(reply: &Reply) -> Self {
        let mut capabilities = Self::default();
        let Some((greeting, lines)) = reply.lines().split_first() else {
            return capabilities;
        };
        if let Some(domain) = words(greeting).next() {
            capabilities.domain = String::from_utf8_lossy(domain).into_owned();
        }
        for line in lines {
            capabilities.add(line);
        }
        capabilities
    }

    /// The server's name for itself: the first word of the reply (a domain or an address
    /// literal), as sent; empty if the reply has no text.
    pub fn domain(&self) -> &str {
        &self.domain
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
    /// The extensions this crate does not act on (e.g. `VRFY`, `ETRN`), in the order announced;
    /// at most 64 are kept.
    pub fn other_extensions(&self) -> &[Extension] {
        &self.other
    }

    /// Records the extension announced by one `ehlo-line`.
    fn add(&mut self, line: &[u8]) {
        let mut words = words(line);
        let Some(first) = words.next() else {
            return;
        };
        // Old servers announce `AUTH=PLAIN LOGIN` (from a draft of RFC 2554). An ehlo-keyword
        // cannot contain "=", so splitting there never changes a well-formed line.
        let mut halves = first.splitn(2, |&b| b == b'=');
        let keyword = halves.next().unwrap_or(first);
        let mut params = halves.filter(|param| !param.is_empty()).chain(words);
        match keyword.to_ascii_uppercase().as_slice() {
            b"STARTTLS" => self.starttls = true,
            b"AUTH" => {
                for name in params.filter(|name| is_sasl_mech(name)) {
                    let mechanism = Mechanism::from_name(name);
                    if self.auth.len() < MAX_MECHANISMS && !self.auth.contains(&mechanism) {
                        self.auth.push(mechanism);
                    }
                }
            }
            b"SIZE" => {
                let limit = params.next().map_or(SizeLimit::Unlimited, size_limit);
                self.size.get_or_insert(limit);
            }
            b"PIPELINING" => self.pipelining = true,
            b"8BITMIME" => self.eight_bit_mime = true,
            b"SMTPUTF8" => self.smtputf8 = true,
            b"CHUNKING" => self.chunking = true,
            b"BINARYMIME" => self.binary_mime = true,
            b"DSN" => self.dsn = true,
            b"ENHANCEDSTATUSCODES" => self.enhanced_status_codes = true,
            b"REQUIRETLS" => self.requiretls = true,
            keyword if is_ehlo_keyword(keyword) && self.other.len() < MAX_OTHER_EXTENSIONS => {
                self.other.push(Extension {
                    keyword: String::from_utf8_lossy(keyword).into_owned(),
                    params: params
                        .map(|param| String::from_utf8_lossy(param).into_owned())
                        .collect(),
                });
            }
            _ => {}
        }
    }
}

/// The words of a line: runs of bytes between spaces.
// RFC 5321 separates them with one SP; tabs and repeated spaces are tolerated, which also makes
// a blank line simply have no words (RUSTSEC-2026-0562: a panic on one was a DoS).
fn words(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&b| b == b' ' || b == b'\t')
        .filter(|word| !word.is_empty())
}

/// `ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")`
fn is_ehlo_keyword(word: &[u8]) -> bool {
    word.first().is_some_and(u8::is_ascii_alphanumeric)
        && word.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-')
}

/// `sasl-mech = 1*20mech-char`, `mech-char = UPPER-ALPHA / DIGIT / HYPHEN / UNDERSCORE`
/// (RFC 4422 §3.1), with lower case tolerated.
fn is_sasl_mech(word: &[u8]) -> bool {
    (1..=20).contains(&word.len())
        && word
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `size-param = [1*DIGIT]` (RFC 1870 §4); 0, or a value that is not a number that fits in a
/// `u64`, announces no fixed limit.
fn size_limit(param: &[u8]) -> SizeLimit {
    let value = param.iter().try_fold(0_u64, |value, &b| {
        let digit = char::from(b).to_digit(10)?;
        value.checked_mul(10)?.checked_add(u64::from(digit))
    });
    match value {
        Some(max) if max > 0 => SizeLimit::Max(max),
        _ => SizeLimit::Unlimited,
    }
}
