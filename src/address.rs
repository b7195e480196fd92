//! Validated envelope addresses (RFC 5321 §4.1.2, RFC 6531) and the EHLO client name.
//!
//! Both go into command lines as they are, so they are parsed once, strictly, against the RFC
//! 5321 grammar. A CR or LF would end the command line and start another (SMTP command
//! injection: MimeKit CVE-2026-30227 in addresses, nodemailer GHSA-vvjj-xcjg-gr5g in the EHLO
//! name), and a `>` would end the path early.

use crate::error::InputError;
use std::fmt;
use std::net::IpAddr;

/// RFC 5321 §4.5.3.1.1.
const MAX_LOCAL_PART_LEN: usize = 64;
/// RFC 5321 §4.5.3.1.2.
const MAX_DOMAIN_LEN: usize = 255;
/// RFC 5321 §4.5.3.1.3, counting the `<` and `>` around the mailbox.
const MAX_PATH_LEN: usize = 256;
/// RFC 1035 §2.3.4. Not checked for U-labels, whose limit applies to their A-label form.
const MAX_LABEL_LEN: usize = 63;

/// An envelope mailbox, `local-part@domain`, validated so it can be put in `MAIL FROM:<…>` or
/// `RCPT TO:<…>` as is: no CR, LF, NUL, SP, `<` or `>` can be in it, and RFC 5321 §4.5.3.1
/// length limits hold (local part 64 octets, domain 255, the whole path 256).
///
/// SP, `<` and `>` can appear only inside a quoted local part, where RFC 5321 allows them.
///
/// ```
/// use smtpwire::address::Mailbox;
///
/// let mailbox = Mailbox::parse("\"a@b\"@example.com")?;
/// assert_eq!(mailbox.local_part(), "\"a@b\"");
/// assert_eq!(mailbox.domain(), "example.com");
/// assert!(Mailbox::parse("a@b>\r\nRCPT TO:<c@d").is_err());
/// # Ok::<(), smtpwire::InputError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Mailbox {
    text: String,
    /// The index of the `@` that ends the local part.
    at: usize,
}

impl Mailbox {
    /// Parses and validates an address such as `alice@example.com`, `"a b"@example.com`,
    /// `user@[192.0.2.1]` or (needing SMTPUTF8) `用户@例子.中国`.
    ///
    /// `Mailbox = Local-part "@" ( Domain / address-literal )` (RFC 5321 §4.1.2), with the
    /// UTF-8 extensions of RFC 6531 §3.3. General address literals are refused.
    ///
    /// # Errors
    ///
    /// [`InputError::Address`] with the reason, if `text` is not such a mailbox.
    pub fn parse(text: &str) -> Result<Self, InputError> {
        if text.chars().any(is_forbidden) {
            return Err(InputError::Address("control character"));
        }
        let at = local_part_len(text)?;
        let (local_part, domain) = text.split_at_checked(at).unwrap_or((text, ""));
        let domain = domain
            .strip_prefix('@')
            .ok_or(InputError::Address("no @ after the quoted local part"))?;
        if local_part.len() > MAX_LOCAL_PART_LEN {
            return Err(InputError::Address("local part over 64 octets"));
        }
        if let Some(literal) = domain.strip_prefix('[') {
            literal
                .strip_suffix(']')
                .and_then(address_literal)
                .ok_or(InputError::Address("invalid address literal"))?;
        } else if domain.len() > MAX_DOMAIN_LEN {
            return Err(InputError::Address("domain over 255 octets"));
        } else if !is_domain(domain) {
            return Err(InputError::Address("invalid domain"));
        }
        if text.len() + "<>".len() > MAX_PATH_LEN {
            return Err(InputError::Address("path over 256 octets"));
        }
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
///
/// Outside the crate a `Domain` comes only from [`ClientName::parse`] (or `Default`), so it
/// has been validated and cannot smuggle a line break into EHLO.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClientName {
    /// A domain name such as `mail.example.com` (ASCII letters, digits, hyphens, dots).
    #[non_exhaustive]
    Domain(String),
    /// An IP address, sent as `[192.0.2.1]` or `[IPv6:2001:db8::1]`.
    Address(IpAddr),
}

impl ClientName {
    /// Parses a domain, `[a.b.c.d]`, `[IPv6:…]`, or a bare IP address.
    ///
    /// `Domain / address-literal` (RFC 5321 §4.1.1.1), ASCII only: an A-label stands for an
    /// internationalised name.
    ///
    /// # Errors
    ///
    /// [`InputError::ClientName`] if `text` is none of these.
    pub fn parse(text: &str) -> Result<Self, InputError> {
        if let Some(literal) = text.strip_prefix('[') {
            return literal
                .strip_suffix(']')
                .and_then(address_literal)
                .map(Self::Address)
                .ok_or(InputError::ClientName);
        }
        if let Ok(address) = text.parse() {
            return Ok(Self::Address(address));
        }
        if text.is_ascii() && text.len() <= MAX_DOMAIN_LEN && is_domain(text) {
            Ok(Self::Domain(text.to_owned()))
        } else {
            Err(InputError::ClientName)
        }
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

impl std::str::FromStr for ClientName {
    type Err = InputError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Characters never allowed in an address, quoted or not: ASCII controls (CR, LF, NUL, TAB…),
/// and the Unicode ones some software takes for line breaks (C1 controls such as U+0085 NEL,
/// U+2028, U+2029).
fn is_forbidden(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Validates the local part at the start of `text` and returns its length in octets, which is
/// where the `@` before the domain must be: a quoted local part may itself contain `@`.
///
/// `Local-part = Dot-string / Quoted-string`
fn local_part_len(text: &str) -> Result<usize, InputError> {
    if let Some(quoted) = text.strip_prefix('"') {
        return quoted_string_len(quoted)
            .map(|len| len + '"'.len_utf8())
            .ok_or(InputError::Address("invalid quoted local part"));
    }
    let len = text.find('@').ok_or(InputError::Address("no @"))?;
    let dot_string = text.get(..len).unwrap_or_default();
    if dot_string.split('.').all(is_atom) {
        Ok(len)
    } else {
        Err(InputError::Address("invalid local part"))
    }
}

/// The length of a quoted string after its opening DQUOTE, up to and including the closing one.
///
/// `Quoted-string = DQUOTE *QcontentSMTP DQUOTE`,
/// `QcontentSMTP = qtextSMTP / quoted-pairSMTP`, `quoted-pairSMTP = %d92 %d32-126`,
/// `qtextSMTP = %d32-33 / %d35-91 / %d93-126 / UTF8-non-ascii` (RFC 6531 §3.3).
fn quoted_string_len(text: &str) -> Option<usize> {
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Some(at + 1),
            '\\' => {
                let (_, escaped) = chars.next()?;
                if !matches!(escaped, ' '..='~') {
                    return None;
                }
            }
            ' '..='~' => {}
            c if !c.is_ascii() => {}
            _ => return None,
        }
    }
    None
}

/// `Atom = 1*atext` (RFC 5321 §4.1.2), atext as in RFC 5322 §3.2.3 plus UTF8-non-ascii
/// (RFC 6531 §3.3).
fn is_atom(atom: &str) -> bool {
    !atom.is_empty() && atom.chars().all(is_atext)
}

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

/// `Domain = sub-domain *("." sub-domain)`, `sub-domain = Let-dig [Ldh-str]`,
/// `Ldh-str = *( ALPHA / DIGIT / "-" ) Let-dig` (RFC 5321 §4.1.2), or a U-label
/// (RFC 6531 §3.3), taken as any non-ASCII characters in a sub-domain.
fn is_domain(domain: &str) -> bool {
    domain.split('.').all(|label| {
        label.starts_with(is_let_dig)
            && label.ends_with(is_let_dig)
            && label.chars().all(|c| is_let_dig(c) || c == '-')
            && (label.len() <= MAX_LABEL_LEN || !label.is_ascii())
    })
}

/// `Let-dig = ALPHA / DIGIT`, or a character of a U-label.
fn is_let_dig(c: char) -> bool {
    c.is_ascii_alphanumeric() || !c.is_ascii()
}

/// The only tag of a `General-address-literal` that RFC 5321 §4.1.3 defines.
const IPV6_TAG: &str = "IPv6:";

/// The address in the text between `[` and `]`.
///
/// `address-literal = "[" ( IPv4-address-literal / IPv6-address-literal ) "]"`; the third
/// form, `General-address-literal`, has no registered tag besides `IPv6` and is refused.
/// std's parsers accept the RFC 5321 §4.1.3 forms and a little more: `::` standing for a
/// single group, which `IPv6-comp` does not allow and is refused here; and they refuse
/// leading zeros in an IPv4 `Snum` (`010`), which some resolvers read as octal.
fn address_literal(literal: &str) -> Option<IpAddr> {
    // ABNF strings are case-insensitive (RFC 5234 §2.3), so `ipv6:` is the same tag.
    let tag = literal
        .get(..IPV6_TAG.len())
        .filter(|tag| tag.eq_ignore_ascii_case(IPV6_TAG));
    let Some(tag) = tag else {
        return literal.parse().ok().map(IpAddr::V4);
    };
    let ipv6 = literal.get(tag.len()..)?;
    // `IPv6-comp`: "No more than 6 groups in addition to the '::' may be present"; an
    // embedded IPv4 address (`IPv6v4-comp`) takes the place of two.
    let groups: usize = ipv6
        .split(':')
        .filter(|group| !group.is_empty())
        .map(|group| if group.contains('.') { 2 } else { 1 })
        .sum();
    if ipv6.contains("::") && groups > 6 {
        return None;
    }
    ipv6.parse().ok().map(IpAddr::V6)
}
