//! Message identifiers (RFC 5322 §3.6.4) and Content-IDs (RFC 2045 §7, RFC 2392).

use super::boundary::RandomSource;
use super::error::{check_line, Invalid};
use std::fmt;

/// Identifiers longer than this are refused; real ones are far shorter.
const MAX_LEN: usize = 250;

/// A message identifier, `id-left@id-right`, written between angle brackets.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MessageId(String);

impl MessageId {
    /// Parses `<id-left@id-right>`; the angle brackets may be left out.
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        check_line(text)?;
        let inner = strip_brackets(text.trim());
        let (left, right) = inner
            .split_once('@')
            .ok_or(Invalid::Syntax("a message-id needs an '@'"))?;
        if !is_dot_atom_text(left) {
            return Err(Invalid::Syntax(
                "the part of a message-id before '@' is not a dot-atom",
            ));
        }
        if !is_dot_atom_text(right) && !is_no_fold_literal(right) {
            return Err(Invalid::Syntax(
                "the part of a message-id after '@' is not a domain",
            ));
        }
        if inner.len() > MAX_LEN {
            return Err(Invalid::TooLong);
        }
        Ok(Self(inner.to_owned()))
    }

    /// Parses a whitespace-separated list, as in `In-Reply-To` and `References`.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, Invalid> {
        check_line(text)?;
        let ids: Vec<Self> = text
            .split([' ', '\t'])
            .filter(|id| !id.is_empty())
            .map(Self::parse)
            .collect::<Result<_, _>>()?;
        if ids.is_empty() {
            return Err(Invalid::Empty);
        }
        Ok(ids)
    }

    /// 128 random bits, in hex, at `domain`.
    pub(crate) fn generate(random: &mut dyn RandomSource, domain: &str) -> Self {
        Self(format!("{:032x}@{domain}", random.next_u128()))
    }

    /// The identifier without angle brackets.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageId {
    /// With angle brackets, as in the header.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}>", self.0)
    }
}

/// Checks a Content-ID given without brackets: a dot-atom, optionally `@` and a domain.
///
/// RFC 2392 wants a full msg-id, but `<logo>` referenced as `cid:logo` is what mail clients
/// write and read, so the `@` part is optional; the characters are held to `atext` either way.
pub(crate) fn check_content_id(id: &str) -> Result<String, Invalid> {
    check_line(id)?;
    let inner = strip_brackets(id);
    let valid = match inner.split_once('@') {
        Some((left, right)) => is_dot_atom_text(left) && is_dot_atom_text(right),
        None => is_dot_atom_text(inner),
    };
    if !valid {
        return Err(Invalid::Syntax(
            "a content-id is atext, dots and at most one '@'",
        ));
    }
    if inner.len() > MAX_LEN {
        return Err(Invalid::TooLong);
    }
    Ok(inner.to_owned())
}

fn strip_brackets(text: &str) -> &str {
    text.strip_prefix('<')
        .and_then(|t| t.strip_suffix('>'))
        .unwrap_or(text)
}

/// RFC 5322 `dot-atom-text`, ASCII only.
fn is_dot_atom_text(text: &str) -> bool {
    !text.is_empty()
        && text.split('.').all(|atom| {
            !atom.is_empty()
                && atom
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b))
        })
}

/// RFC 5322 `no-fold-literal = "[" *dtext "]"`.
fn is_no_fold_literal(text: &str) -> bool {
    text.strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .is_some_and(|inner| {
            inner
                .bytes()
                .all(|b| (0x21..0x7f).contains(&b) && !b"[]\\".contains(&b))
        })
}
