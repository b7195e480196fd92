//! Header lines: folding, unstructured values, custom header names (RFC 5322 §2.2, §3.2.5).

use super::encoded_word;
use super::error::{check_line, Invalid};

/// Lines are folded to stay within this many octets where a fold point allows (RFC 5322 §2.1.1).
pub(crate) const FOLD_AT: usize = 78;

/// Words longer than this are written as encoded-words, which can be split anywhere, so that no
/// line can reach the hard limit of 998 octets however long the header name before them.
const MAX_PLAIN_WORD: usize = 800;

/// Header names longer than this would not leave room for a value on the first line.
const MAX_NAME: usize = 76;

/// Writes one header field, folding before a token when the line would grow past [`FOLD_AT`].
///
/// Every token is preceded by one space, which is where a fold can go: folding inserts CRLF
/// before that space, so unfolding restores the value exactly.
pub(crate) struct HeaderWriter<'a> {
    out: &'a mut Vec<u8>,
    line_start: usize,
    /// Whether the current line has anything a fold could follow.
    line_used: bool,
    /// Whether nothing but the field name has been written.
    at_start: bool,
}

impl<'a> HeaderWriter<'a> {
    /// Starts `name:`; the name must already be valid.
    pub(crate) fn new(out: &'a mut Vec<u8>, name: &str) -> Self {
        let line_start = out.len();
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        Self {
            out,
            line_start,
            line_used: true,
            at_start: true,
        }
    }

    /// Whether nothing but the field name has been written yet. Folding here would leave the
    /// first line bare (`Subject:`), which Python's `email` decodes with a leading space.
    pub(crate) fn at_start(&self) -> bool {
        self.at_start
    }

    fn line_len(&self) -> usize {
        self.out.len() - self.line_start
    }

    /// Columns left for a token after a space on the current line.
    pub(crate) fn room(&self) -> usize {
        FOLD_AT.saturating_sub(self.line_len() + 1)
    }

    /// Folds now, unless the line is a fresh continuation already.
    pub(crate) fn fold(&mut self) {
        if self.line_used {
            self.out.extend_from_slice(b"\r\n");
            self.line_start = self.out.len();
            self.line_used = false;
        }
    }

    /// Writes a space and `token`, folding first if the token would not fit.
    pub(crate) fn token(&mut self, token: &str) {
        if !token.is_empty() && token.len() > self.room() {
            self.fold();
        }
        self.out.push(b' ');
        self.out.extend_from_slice(token.as_bytes());
        self.line_used = true;
        self.at_start = false;
    }

    /// Appends `text` to the last token, with no fold point before it (`,`, `;`, `"`).
    pub(crate) fn glue(&mut self, text: &str) {
        self.out.extend_from_slice(text.as_bytes());
    }

    /// Ends the field.
    pub(crate) fn finish(self) {
        self.out.extend_from_slice(b"\r\n");
    }
}

/// Appends `text` as an RFC 5322 `quoted-string`: in double quotes, with a backslash before
/// each `"` and `\`.
pub(crate) fn push_quoted(out: &mut String, text: &str) {
    out.reserve(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// Writes one header field with `body` filling it in.
pub(crate) fn write_field(out: &mut Vec<u8>, name: &str, body: impl FnOnce(&mut HeaderWriter<'_>)) {
    let mut w = HeaderWriter::new(out, name);
    body(&mut w);
    w.finish();
}

/// Whether a word of unstructured text can go on the wire as it is.
///
/// Anything a decoder could take for part of an encoded-word (`=?` or `?=`) is encoded too, so
/// decoding reproduces the caller's literal text (the CVE-2024-6923 class). Both halves count,
/// each on its own, because lenient decoders (mail-parser) read `=?UTF -8?Q?=0D?=` as one
/// encoded-word across the space.
fn is_plain_word(word: &str) -> bool {
    word.len() <= MAX_PLAIN_WORD
        && word.bytes().all(|b| (0x21..0x7f).contains(&b))
        && !word.contains("=?")
        && !word.contains("?=")
}

/// Writes an unstructured value (RFC 5322 §3.2.5): plain words as they are, runs of other words
/// as RFC 2047 encoded-words, folded at spaces.
pub(crate) fn write_unstructured(w: &mut HeaderWriter<'_>, value: &str) -> Result<(), Invalid> {
    check_line(value)?;
    if value.is_empty() {
        return Ok(());
    }
    let mut words = Vec::new();
    let mut start = 0;
    for word in value.split(' ') {
        words.push((start, word));
        start += word.len() + 1;
    }
    let mut encode: Vec<bool> = words.iter().map(|(_, word)| !is_plain_word(word)).collect();
    // A run of spaces (an empty word between two spaces) goes inside an encoded-word with its
    // neighbours: decoders drop whitespace between encoded-words (RFC 2047 §6.2), and many
    // collapse runs of it elsewhere or trim it at the ends of the value.
    for (i, (_, word)) in words.iter().enumerate() {
        if word.is_empty() {
            for j in [i.wrapping_sub(1), i, i + 1] {
                if let Some(flag) = encode.get_mut(j) {
                    *flag = true;
                }
            }
        }
    }
    let mut i = 0;
    while let (Some(&(start, word)), Some(&encoded)) = (words.get(i), encode.get(i)) {
        if !encoded {
            w.token(word);
            i += 1;
            continue;
        }
        // Adjacent encoded-words are joined without the space between them (RFC 2047 §6.2), so
        // a run of words that need encoding goes into one encoded text, spaces included.
        let mut end = i;
        while encode.get(end + 1).copied().unwrap_or(false) {
            end += 1;
        }
        let end_byte = words
            .get(end)
            .map_or(value.len(), |(s, word)| s + word.len());
        encoded_word::write(w, value.get(start..end_byte).unwrap_or_default(), "", "");
        i = end + 1;
    }
    Ok(())
}

/// Checks the name of a custom header: RFC 5322 `ftext`, and not one the builder owns.
pub(crate) fn check_name(name: &str) -> Result<(), Invalid> {
    check_line(name)?;
    if name.is_empty() {
        return Err(Invalid::Empty);
    }
    if name.len() > MAX_NAME {
        return Err(Invalid::TooLong);
    }
    if !name.bytes().all(|b| (0x21..0x7f).contains(&b) && b != b':') {
        return Err(Invalid::Syntax(
            "a header name is printable ascii without ':'",
        ));
    }
    const OWNED: [&str; 14] = [
        "from",
        "sender",
        "reply-to",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "in-reply-to",
        "references",
        "mime-version",
        "return-path",
        "received",
    ];
    let lower = name.to_ascii_lowercase();
    if OWNED.contains(&lower.as_str()) || lower.starts_with("content-") {
        return Err(Invalid::Reserved);
    }
    Ok(())
}
