//! RFC 5322 addresses (§3.4): mailboxes and groups, parsed from what people type and written
//! with display names as atoms, quoted strings or RFC 2047 encoded-words.
//!
//! Input is text, not wire format: the parser accepts UTF-8 anywhere RFC 6532 does, never
//! decodes encoded-words, and refuses obsolete syntax (routes, CFWS between dots).

use super::encoded_word;
use super::error::{check_line, Invalid};
use super::header::{push_quoted, HeaderWriter};
use super::punycode::domain_to_ascii;
use std::fmt;

/// RFC 5321 §4.5.3.1.1: the local part is at most 64 octets.
const MAX_LOCAL: usize = 64;

/// A header address (RFC 5322 `mailbox`): an optional display name and an address, as in
/// `张三 <zhangsan@qq.com>`. The envelope's address is [`crate::address::Mailbox`].
///
/// The domain is kept in ASCII (punycode for internationalised names); the local part is kept
/// as it goes on the wire, quotes included when it needs them.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct NamedAddress {
    name: Option<String>,
    address: String,
    at: usize,
}

/// A named group of mailboxes (RFC 5322 §3.4), possibly empty: `undisclosed-recipients:;`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Group {
    name: String,
    members: Vec<NamedAddress>,
}

/// One entry of an address list: a mailbox or a group.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Address {
    /// A single address, with or without a display name.
    Single(NamedAddress),
    /// A group of mailboxes.
    Group(Group),
}

impl NamedAddress {
    /// A mailbox without a display name, from an `addr-spec` such as `alice@example.com`,
    /// `"a b"@example.com` or `用户@例子.中国`.
    pub fn new(address: &str) -> Result<Self, Invalid> {
        check_line(address)?;
        let mut p = Parser::new(address);
        let mailbox = p.addr_spec()?;
        p.end()?;
        Ok(mailbox)
    }

    /// A mailbox with a display name, which may hold any text without line breaks.
    pub fn with_name(name: &str, address: &str) -> Result<Self, Invalid> {
        check_line(name)?;
        let mut mailbox = Self::new(address)?;
        mailbox.name = (!name.is_empty()).then(|| name.to_owned());
        Ok(mailbox)
    }

    /// Parses an RFC 5322 `mailbox`: `alice@example.com` or `Alice Liddell <alice@example.com>`.
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        match parse_single(text)? {
            Address::Single(mailbox) => Ok(mailbox),
            Address::Group(_) => Err(Invalid::Syntax("a group where a mailbox is expected")),
        }
    }

    /// The display name, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The address, `local-part@domain`, with the domain in ASCII.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The local part as it goes on the wire, quotes included.
    pub fn local_part(&self) -> &str {
        self.halves().0
    }

    /// The domain in ASCII, or an address literal such as `[192.0.2.1]`.
    pub fn domain(&self) -> &str {
        self.halves().1
    }

    /// The address cut at its `@` (the one parsing found: a quoted local part may hold more).
    fn halves(&self) -> (&str, &str) {
        let (local, at_domain) = self.address.split_at(self.at.min(self.address.len()));
        (local, at_domain.get(1..).unwrap_or_default())
    }

    /// Whether the address needs SMTPUTF8 and RFC 6532 headers (its local part is not ASCII).
    pub fn needs_smtputf8(&self) -> bool {
        !self.address.is_ascii()
    }
}

impl fmt::Debug for NamedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "NamedAddress({name:?} <{}>)", self.address),
            None => write!(f, "NamedAddress(<{}>)", self.address),
        }
    }
}

impl std::str::FromStr for NamedAddress {
    type Err = Invalid;
    fn from_str(text: &str) -> Result<Self, Invalid> {
        Self::parse(text)
    }
}

impl Group {
    /// A group named `name` with `members`; no members gives `name:;`.
    pub fn new(name: &str, members: Vec<NamedAddress>) -> Result<Self, Invalid> {
        check_line(name)?;
        if name.is_empty() {
            return Err(Invalid::Empty);
        }
        Ok(Self {
            name: name.to_owned(),
            members,
        })
    }

    /// The group's display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The mailboxes in the group.
    pub fn members(&self) -> &[NamedAddress] {
        &self.members
    }
}

impl Address {
    /// Parses an RFC 5322 `address-list`: mailboxes and groups separated by commas.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, Invalid> {
        check_line(text)?;
        let mut p = Parser::new(text);
        let mut list = Vec::new();
        loop {
            list.push(p.address()?);
            p.cfws()?;
            if p.at_end() {
                return Ok(list);
            }
            p.expect(',', "expected ',' between addresses")?;
        }
    }

    /// The mailboxes this entry stands for: itself, or a group's members.
    pub fn mailboxes(&self) -> &[NamedAddress] {
        match self {
            Self::Single(mailbox) => std::slice::from_ref(mailbox),
            Self::Group(group) => &group.members,
        }
    }
}

fn parse_single(text: &str) -> Result<Address, Invalid> {
    check_line(text)?;
    let mut p = Parser::new(text);
    let address = p.address()?;
    p.end()?;
    Ok(address)
}

impl From<NamedAddress> for Address {
    fn from(mailbox: NamedAddress) -> Self {
        Self::Single(mailbox)
    }
}

impl From<Group> for Address {
    fn from(group: Group) -> Self {
        Self::Group(group)
    }
}

/// Anything the builder's address methods accept: text in RFC 5322 syntax, or typed values.
pub trait IntoAddresses {
    /// The addresses, or why the text is not an address list.
    fn into_addresses(self) -> Result<Vec<Address>, Invalid>;
}

impl IntoAddresses for &str {
    fn into_addresses(self) -> Result<Vec<Address>, Invalid> {
        Address::parse_list(self)
    }
}

impl IntoAddresses for &String {
    fn into_addresses(self) -> Result<Vec<Address>, Invalid> {
        Address::parse_list(self)
    }
}

impl IntoAddresses for String {
    fn into_addresses(self) -> Result<Vec<Address>, Invalid> {
        Address::parse_list(&self)
    }
}

impl IntoAddresses for (&str, &str) {
    /// `(display name, address)`.
    fn into_addresses(self) -> Result<Vec<Address>, Invalid> {
        Ok(vec![NamedAddress::with_name(self.0, self.1)?.into()])
    }
}

impl IntoAddresses for NamedAddress {
    fn into_addresses(self) -> Result<Vec<Address>, Invalid> {
        Ok(vec![self.into()])
    }
}

impl IntoAddresses for Group {
    fn into_addresses(self) -> Result<Vec<Address>, Invalid> {
        Ok(vec![self.into()])
    }
}

impl IntoAddresses for Address {
    fn into_addresses(self) -> Result<Vec<Address>, Invalid> {
        Ok(vec![self])
    }
}

impl<T: Into<Address>> IntoAddresses for Vec<T> {
    fn into_addresses(self) -> Result<Vec<Address>, Invalid> {
        Ok(self.into_iter().map(Into::into).collect())
    }
}

/// RFC 5322 `atext`, widened to UTF-8 by RFC 6532.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || "!#$%&'*+-/=?^_`{|}~".contains(c)
        || (!c.is_ascii() && !c.is_control())
}

/// RFC 5322 `dot-atom-text`.
fn is_dot_atom(text: &str) -> bool {
    !text.is_empty()
        && text
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

/// A recursive-descent parser over the RFC 5322 §3.4 grammar.
struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }

    fn rest(&self) -> &'a str {
        self.text.get(self.pos..).unwrap_or_default()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn expect(&mut self, c: char, why: &'static str) -> Result<(), Invalid> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Invalid::Syntax(why))
        }
    }

    fn end(&mut self) -> Result<(), Invalid> {
        self.cfws()?;
        if self.at_end() {
            Ok(())
        } else {
            Err(Invalid::Syntax("unexpected text after the address"))
        }
    }

    /// `CFWS`: spaces, tabs and (nested) comments, all skipped.
    fn cfws(&mut self) -> Result<(), Invalid> {
        loop {
            match self.peek() {
                Some(' ' | '\t') => self.pos += 1,
                Some('(') => self.comment()?,
                _ => return Ok(()),
            }
        }
    }

    fn comment(&mut self) -> Result<(), Invalid> {
        let mut depth = 0usize;
        loop {
            match self.bump() {
                Some('(') => depth += 1,
                Some(')') => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                Some('\\') => {
                    self.bump();
                }
                Some(_) => {}
                None => return Err(Invalid::Syntax("unterminated comment")),
            }
        }
    }

    /// `quoted-string`, returning its content with quoted-pairs resolved.
    fn quoted_string(&mut self) -> Result<String, Invalid> {
        self.expect('"', "expected '\"'")?;
        let mut content = String::new();
        loop {
            match self.bump() {
                Some('"') => return Ok(content),
                Some('\\') => match self.bump() {
                    Some(c) if c == ' ' || c == '\t' || !c.is_control() => content.push(c),
                    _ => return Err(Invalid::Syntax("a quoted-pair needs a printable character")),
                },
                Some(c) if c == ' ' || c == '\t' || !c.is_control() => content.push(c),
                Some(_) => return Err(Invalid::Syntax("a control character in a quoted string")),
                None => return Err(Invalid::Syntax("unterminated quoted string")),
            }
        }
    }

    /// A run of `atext`, and of dots when `dots` (for `obs-phrase` and `dot-atom`).
    fn atom(&mut self, dots: bool) -> &'a str {
        let rest = self.rest();
        let len = rest
            .char_indices()
            .find(|&(_, c)| !(is_atext(c) || (dots && c == '.')))
            .map_or(rest.len(), |(i, _)| i);
        self.pos += len;
        rest.get(..len).unwrap_or_default()
    }

    /// `phrase`: the words of a display name, possibly none.
    fn phrase(&mut self) -> Result<Vec<String>, Invalid> {
        let mut words = Vec::new();
        loop {
            self.cfws()?;
            match self.peek() {
                Some('"') => words.push(self.quoted_string()?),
                Some(c) if is_atext(c) || c == '.' => words.push(self.atom(true).to_owned()),
                _ => return Ok(words),
            }
        }
    }

    /// `address = mailbox / group`.
    fn address(&mut self) -> Result<Address, Invalid> {
        self.cfws()?;
        let start = self.pos;
        let words = self.phrase()?;
        match self.peek() {
            Some('<') => {
                let mut mailbox = self.angle_addr()?;
                mailbox.name = (!words.is_empty()).then(|| words.join(" "));
                Ok(Address::Single(mailbox))
            }
            Some(':') if !words.is_empty() => {
                self.pos += 1;
                let mut members = Vec::new();
                loop {
                    self.cfws()?;
                    if self.peek() == Some(';') {
                        self.pos += 1;
                        return Ok(Address::Group(Group {
                            name: words.join(" "),
                            members,
                        }));
                    }
                    if !members.is_empty() {
                        self.expect(',', "expected ',' or ';' in a group")?;
                    }
                    match self.address()? {
                        Address::Single(mailbox) => members.push(mailbox),
                        Address::Group(_) => return Err(Invalid::Syntax("a group inside a group")),
                    }
                }
            }
            _ => {
                self.pos = start;
                self.cfws()?;
                let mailbox = self.addr_spec()?;
                self.cfws()?;
                Ok(Address::Single(mailbox))
            }
        }
    }

    /// `angle-addr = "<" addr-spec ">"`.
    fn angle_addr(&mut self) -> Result<NamedAddress, Invalid> {
        self.expect('<', "expected '<'")?;
        self.cfws()?;
        let mailbox = self.addr_spec()?;
        self.cfws()?;
        self.expect('>', "expected '>' after the address")?;
        Ok(mailbox)
    }

    /// `addr-spec = local-part "@" domain`.
    fn addr_spec(&mut self) -> Result<NamedAddress, Invalid> {
        let mut address = if self.peek() == Some('"') {
            let content = self.quoted_string()?;
            if is_dot_atom(&content) {
                content
            } else {
                let mut quoted = String::new();
                push_quoted(&mut quoted, &content);
                quoted
            }
        } else {
            let local = self.atom(true);
            if !is_dot_atom(local) {
                return Err(Invalid::Syntax(
                    "the local part is not a dot-atom or quoted string",
                ));
            }
            local.to_owned()
        };
        if address.len() > MAX_LOCAL {
            return Err(Invalid::TooLong);
        }
        self.expect('@', "expected '@' in the address")?;
        let at = address.len();
        address.push('@');
        if self.peek() == Some('[') {
            let rest = self.rest();
            let end = rest
                .find(']')
                .ok_or(Invalid::Syntax("unterminated domain literal"))?;
            let literal = rest.get(..=end).unwrap_or_default();
            let inner = literal.get(1..end).unwrap_or_default();
            if inner.is_empty()
                || !inner
                    .bytes()
                    .all(|b| (0x21..0x7f).contains(&b) && !b"[]\\".contains(&b))
            {
                return Err(Invalid::Syntax(
                    "a domain literal holds printable ascii only",
                ));
            }
            address.push_str(literal);
            self.pos += literal.len();
        } else {
            let domain = self.atom(true);
            address.push_str(&domain_to_ascii(domain)?);
        }
        Ok(NamedAddress {
            name: None,
            address,
            at,
        })
    }
}

/// Writes an address list, folding between addresses and around display names.
pub(crate) fn write_list(w: &mut HeaderWriter<'_>, list: &[Address]) {
    for (i, address) in list.iter().enumerate() {
        if i > 0 {
            w.glue(",");
        }
        match address {
            Address::Single(mailbox) => write_mailbox(w, mailbox),
            Address::Group(group) => {
                write_phrase(w, &group.name);
                w.glue(":");
                for (j, mailbox) in group.members.iter().enumerate() {
                    if j > 0 {
                        w.glue(",");
                    }
                    write_mailbox(w, mailbox);
                }
                w.glue(";");
            }
        }
    }
}

fn write_mailbox(w: &mut HeaderWriter<'_>, mailbox: &NamedAddress) {
    match &mailbox.name {
        Some(name) => {
            write_phrase(w, name);
            w.token(&format!("<{}>", mailbox.address));
        }
        None => w.token(&mailbox.address),
    }
}

/// Writes a display name so that it re-parses to exactly the same text and nothing else:
/// atoms as they are, other ASCII as one quoted-string, and anything non-ASCII, long or
/// resembling an encoded-word as encoded-words (allowed in a phrase, RFC 2047 §5 (3)).
fn write_phrase(w: &mut HeaderWriter<'_>, name: &str) {
    const MAX_QUOTED: usize = 76;
    let printable = name.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !name.contains("=?")
        && !name.contains("?=");
    let atoms = name
        .split(' ')
        .all(|word| !word.is_empty() && word.len() <= MAX_QUOTED && word.chars().all(is_atext));
    if printable && atoms {
        for word in name.split(' ') {
            w.token(word);
        }
        return;
    }
    if printable && name.len() + 2 <= MAX_QUOTED {
        let mut quoted = String::new();
        push_quoted(&mut quoted, name);
        if quoted.len() <= MAX_QUOTED {
            w.token(&quoted);
            return;
        }
    }
    encoded_word::write(w, name, "", "");
}
