//! File name parameters of Content-Type and Content-Disposition (RFC 2231, RFC 2183).
//!
//! Non-ASCII or long names go out twice: as the standard RFC 2231 `filename*=UTF-8''…`, and as an
//! RFC 2047 encoded-word inside a quoted `name=`/`filename=`. RFC 2047 §5 forbids the latter,
//! but QQ webmail shows RFC 2231-only names as `tcmime.*.bin` and older Outlook as "untitled",
//! and every parser we know decodes it; parsers that understand RFC 2231 prefer `filename*`.

use super::encoded_word;
use super::header::{push_quoted, HeaderWriter};
use super::transfer::hex_digit;

/// ASCII names up to this length go out as one plain quoted-string.
const MAX_PLAIN: usize = 60;
/// Percent-encoded octets per RFC 2231 continuation section, so each fits a folded line.
const SECTION: usize = 54;

/// Strips directories (`/` and `\`) from a file name: only the last component is sent.
pub(crate) fn base_name(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name)
}

fn is_plain(value: &str) -> bool {
    value.len() <= MAX_PLAIN
        && value.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !value.contains("=?")
        && !value.contains("?=")
        && !value.starts_with(' ')
        && !value.ends_with(' ')
}

/// Writes `; attribute="value"`, with an RFC 2047 fallback when the value is not plain ASCII.
pub(crate) fn write_quoted(w: &mut HeaderWriter<'_>, attribute: &str, value: &str) {
    w.glue(";");
    if is_plain(value) {
        let mut token = format!("{attribute}=");
        push_quoted(&mut token, value);
        w.token(&token);
    } else {
        encoded_word::write(w, value, &format!("{attribute}=\""), "\"");
    }
}

/// Writes `attribute` both ways when needed: the RFC 2231 extended form, split into
/// continuation sections when long, then the quoted form from [`write_quoted`].
///
/// The extended form goes first because parsers that see both keep the first (Python) or
/// merge a plain value that comes first with later sections (mail-parser 0.11).
pub(crate) fn write_file_name(w: &mut HeaderWriter<'_>, attribute: &str, value: &str) {
    if !is_plain(value) {
        let sections = percent_sections(value);
        if let [only] = sections.as_slice() {
            w.glue(";");
            w.token(&format!("{attribute}*=UTF-8''{only}"));
        } else {
            for (i, section) in sections.iter().enumerate() {
                w.glue(";");
                let charset = if i == 0 { "UTF-8''" } else { "" };
                w.token(&format!("{attribute}*{i}*={charset}{section}"));
            }
        }
    }
    write_quoted(w, attribute, value);
}

/// RFC 2231 `attribute-char`: a token character other than `*`, `'` and `%`.
fn is_attribute_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b)
}

/// Percent-encodes `value` into sections of at most [`SECTION`] octets, never splitting a
/// character: RFC 2231 allows it, but some decoders decode each section on its own.
fn percent_sections(value: &str) -> Vec<String> {
    let mut sections = vec![String::new()];
    let mut buf = [0; 4];
    for c in value.chars() {
        let mut encoded = String::with_capacity(12);
        for b in c.encode_utf8(&mut buf).bytes() {
            if is_attribute_char(b) {
                encoded.push(char::from(b));
            } else {
                encoded.push('%');
                encoded.push(char::from(hex_digit(b >> 4)));
                encoded.push(char::from(hex_digit(b & 0xf)));
            }
        }
        match sections.last_mut() {
            Some(last) if last.len() + encoded.len() <= SECTION => last.push_str(&encoded),
            _ => sections.push(encoded),
        }
    }
    sections
}
