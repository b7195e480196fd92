//! Content-Transfer-Encoding (RFC 2045 §6): which one a body gets, and the encoders.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// Input octets per base64 line: 57 octets make exactly 76 characters (RFC 2045 §6.8).
pub(crate) const BASE64_LINE_INPUT: usize = 57;
const BASE64_LINE: usize = 76;
/// RFC 2045 §6.7 (5): encoded lines are at most 76 characters, soft break `=` included.
const QP_LINE: usize = 76;
/// Text with longer lines is not sent as 7bit, although RFC 5322 would allow up to 998.
const MAX_7BIT_LINE: usize = 78;
/// RFC 5322 §2.1.1: no line may be longer than 998 octets without its CRLF.
const MAX_LINE: usize = 998;

/// How a body is encoded for transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TransferEncoding {
    SevenBit,
    EightBit,
    QuotedPrintable,
    Base64,
}

impl TransferEncoding {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::SevenBit => "7bit",
            Self::EightBit => "8bit",
            Self::QuotedPrintable => "quoted-printable",
            Self::Base64 => "base64",
        }
    }
}

/// An uppercase hexadecimal digit for a nibble.
pub(crate) fn hex_digit(nibble: u8) -> u8 {
    let nibble = nibble & 0xf;
    if nibble < 10 {
        b'0' + nibble
    } else {
        b'A' + nibble - 10
    }
}

/// Text in canonical form (RFC 2045 §6.7, RFC 2046 §4.1.1): every line break a CRLF, whatever
/// the caller used, and a final CRLF after non-empty text so the message ends with a line.
pub(crate) fn canonical_text(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 32 + 2);
    let mut bytes = text.bytes().peekable();
    while let Some(b) = bytes.next() {
        match b {
            b'\r' => {
                bytes.next_if_eq(&b'\n');
                out.extend_from_slice(b"\r\n");
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            _ => out.push(b),
        }
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Picks the encoding for canonical text: 7bit when it is plain ASCII with short lines; 8bit
/// when allowed and the lines fit; otherwise the shorter of quoted-printable and base64.
///
/// Lines starting with `From ` (rewritten to `>From ` by mbox delivery) and lines ending in
/// spaces (stripped by some transports) also rule out 7bit and 8bit, as RFC 2049 §3 advises.
pub(crate) fn choose_for_text(text: &[u8], allow_8bit: bool) -> TransferEncoding {
    let mut clean = true;
    let mut max_line = 0;
    for line in text.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        max_line = max_line.max(line.len());
        clean &= !line.starts_with(b"From ")
            && !line.ends_with(b" ")
            && !line.ends_with(b"\t")
            && !line.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f);
    }
    let ascii = text.is_ascii();
    if clean && ascii && max_line <= MAX_7BIT_LINE {
        return TransferEncoding::SevenBit;
    }
    if clean && allow_8bit && max_line <= MAX_LINE {
        return if ascii {
            TransferEncoding::SevenBit
        } else {
            TransferEncoding::EightBit
        };
    }
    let mut qp = QuotedPrintable::default();
    let qp_len = qp.encoded_len(text);
    if qp_len <= base64_len(text.len() as u64) as usize {
        TransferEncoding::QuotedPrintable
    } else {
        TransferEncoding::Base64
    }
}

/// The RFC 2045 §6.7 quoted-printable encoder for canonical text: CRLF is a line break, any
/// other CR or LF is encoded. Besides `=` and non-printables it encodes trailing whitespace and
/// the `F` of a line starting `From `, so no transport has a reason to touch the result.
#[derive(Default)]
pub(crate) struct QuotedPrintable {
    out: Vec<u8>,
}

impl QuotedPrintable {
    /// Encodes `text` into `out`.
    pub(crate) fn encode(text: &[u8], out: &mut Vec<u8>) {
        let mut qp = Self {
            out: std::mem::take(out),
        };
        qp.run(text, true);
        *out = qp.out;
    }

    fn encoded_len(&mut self, text: &[u8]) -> usize {
        self.run(text, false)
    }

    /// Encodes, or only counts when `!write`; returns the encoded length.
    fn run(&mut self, text: &[u8], write: bool) -> usize {
        let mut total = 0;
        let mut column = 0;
        let mut i = 0;
        while let Some(&b) = text.get(i) {
            let rest = text.get(i..).unwrap_or_default();
            if rest.starts_with(b"\r\n") {
                self.emit(b"\r\n", write, &mut total);
                column = 0;
                i += 2;
                continue;
            }
            let after = text.get(i + 1..).unwrap_or_default();
            let line_end = after.is_empty() || after.starts_with(b"\r\n");
            let mut width = Self::width(b, column == 0 && rest.starts_with(b"From "), line_end);
            // Keep room for the soft break `=`, except for the last character of a line.
            let limit = if line_end { QP_LINE } else { QP_LINE - 1 };
            if column + width > limit {
                self.emit(b"=\r\n", write, &mut total);
                column = 0;
                width = Self::width(b, rest.starts_with(b"From "), line_end);
            }
            if width == 1 {
                self.emit(&[b], write, &mut total);
            } else {
                self.emit(&[b'=', hex_digit(b >> 4), hex_digit(b)], write, &mut total);
            }
            column += width;
            i += 1;
        }
        total
    }

    fn width(b: u8, from_line: bool, line_end: bool) -> usize {
        let literal = match b {
            b' ' | b'\t' => !line_end,
            b'=' => false,
            b'F' => !from_line,
            0x21..=0x7e => true,
            _ => false,
        };
        if literal {
            1
        } else {
            3
        }
    }

    fn emit(&mut self, bytes: &[u8], write: bool, total: &mut usize) {
        *total += bytes.len();
        if write {
            self.out.extend_from_slice(bytes);
        }
    }
}

/// The length of `n` octets in base64 with CRLF between 76-character lines.
pub(crate) fn base64_len(n: u64) -> u64 {
    let line = BASE64_LINE_INPUT as u64;
    let lines = n.div_ceil(line);
    n.div_ceil(3) * 4 + lines.saturating_sub(1) * 2
}

/// Appends `input` as base64 lines of 76 characters, CRLF between lines.
///
/// `first` says whether these are the body's first lines; otherwise a CRLF separates them from
/// the lines before. Blocks other than the last must be multiples of 57 octets, so lines stay
/// whole across calls.
///
/// One `encode_slice` call for the whole block, placed at the end of the space reserved, then
/// each line moved forward to make room for its CRLF: per-line calls cost a third more.
pub(crate) fn base64_lines(input: &[u8], first: bool, out: &mut Vec<u8>) {
    if input.is_empty() {
        return;
    }
    let lines = input.len().div_ceil(BASE64_LINE_INPUT);
    let separators = if first { lines - 1 } else { lines };
    let encoded = input.len().div_ceil(3) * 4;
    let start = out.len();
    out.resize(start + encoded + separators * 2, 0);
    let Some(region) = out.get_mut(start..) else {
        return;
    };
    let unbroken = separators * 2;
    if let Some(tail) = region.get_mut(unbroken..) {
        // The tail has exactly the encoded length, so this cannot fail.
        let _ = STANDARD.encode_slice(input, tail);
    }
    // Line i moves from `unbroken + 76 i` to `78 i` (+2 when a CRLF leads): never backwards
    // past data not yet moved, since the source is always at or after the destination.
    let mut to = 0;
    for i in 0..lines {
        if i > 0 || !first {
            if let Some(crlf) = region.get_mut(to..to + 2) {
                crlf.copy_from_slice(b"\r\n");
            }
            to += 2;
        }
        let from = unbroken + i * BASE64_LINE;
        let len = BASE64_LINE.min(region.len() - from);
        region.copy_within(from..from + len, to);
        to += len;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn qp(text: &str) -> String {
        let mut out = Vec::new();
        QuotedPrintable::encode(text.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn quoted_printable() {
        assert_eq!(qp("a=b\r\n"), "a=3Db\r\n");
        assert_eq!(qp("trailing \r\nspace\t"), "trailing=20\r\nspace=09");
        assert_eq!(qp("From me\r\n"), "=46rom me\r\n");
        assert_eq!(qp("é"), "=C3=A9");
        let long = "x".repeat(200);
        let encoded = qp(&long);
        assert!(encoded.split("\r\n").all(|line| line.len() <= 76));
        assert_eq!(encoded.replace("=\r\n", ""), long);
        // A soft break never lands inside an escape; a line's last character may reach column 76.
        let x73 = "x".repeat(73);
        assert_eq!(qp(&format!("{x73}é")), format!("{x73}=\r\n=C3=A9"));
        assert_eq!(qp(&format!("{x73}=")), format!("{x73}=3D"));
    }

    #[test]
    fn base64_lines_match_the_length_formula() {
        for n in [0, 1, 56, 57, 58, 114, 1000] {
            let data = vec![0xa5; n];
            let mut out = Vec::new();
            base64_lines(&data, true, &mut out);
            assert_eq!(out.len() as u64, base64_len(n as u64), "{n}");
            assert!(out.split(|&b| b == b'\n').all(|l| l.len() <= 77));
        }
    }

    #[test]
    fn canonical_line_endings() {
        assert_eq!(canonical_text("a\nb\r\nc\rd"), b"a\r\nb\r\nc\r\nd\r\n");
        assert_eq!(canonical_text(""), b"");
    }
}
