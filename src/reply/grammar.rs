//! nom parsers for reply lines (RFC 5321 §4.2) and enhanced status codes (RFC 3463 §2).
//!
//! Every parser reads complete input: the framer hands over one whole line without its CRLF,
//! so nom's `Incomplete` cannot occur, and no nom type leaves this module.

use super::{EnhancedCode, FramingError, ReplyCode};
use nom::branch::alt;
use nom::bytes::complete::{tag, take_while_m_n};
use nom::combinator::{all_consuming, eof, map, map_opt, rest, value};
use nom::sequence::{preceded, terminated};
use nom::{IResult, Parser};

/// One line of a reply, without its CRLF.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ReplyLine<'a> {
    pub(crate) code: ReplyCode,
    /// No `-` after the code: this line ends the reply.
    pub(crate) is_last: bool,
    /// Everything after the separator.
    pub(crate) text: &'a [u8],
}

/// Parses one line of `Reply-line`, cut by the framer before its CRLF:
///
/// ```text
/// Reply-line = *( Reply-code "-" [ textstring ] CRLF )
///              Reply-code [ SP textstring ] CRLF
/// ```
///
/// # Errors
///
/// [`FramingError::BadCode`] when the line does not start with a `Reply-code` (an empty line
/// included), [`FramingError::BadSeparator`] when the code is followed by anything but SP, `-`
/// or the end of the line.
pub(crate) fn reply_line(line: &[u8]) -> Result<ReplyLine<'_>, FramingError> {
    let (after_code, code) = reply_code(line).map_err(|_| FramingError::BadCode)?;
    let (_, (is_last, text)) = all_consuming(separator_and_text)
        .parse(after_code)
        .map_err(|_| FramingError::BadSeparator)?;
    Ok(ReplyLine {
        code,
        is_last,
        text,
    })
}

/// `Reply-code = %x32-35 %x30-35 %x30-39`
///
/// [`ReplyCode::new`] holds the digit ranges; this parser reads three ASCII digits.
fn reply_code(input: &[u8]) -> IResult<&[u8], ReplyCode> {
    map_opt(take_while_m_n(3, 3, |b: u8| b.is_ascii_digit()), |digits| {
        ReplyCode::new(decimal(digits))
    })
    .parse(input)
}

/// What follows the code, and whether it ends the reply: `"-" [ textstring ]` on every line
/// but the last, `[ SP textstring ]` on the last.
// RFC 5321 §4.2: "Servers SHOULD send the <SP> if subsequent text is not sent, but clients MUST
// be prepared for it to be omitted", so `250` and `250 ` both end a reply with empty text.
fn separator_and_text(input: &[u8]) -> IResult<&[u8], (bool, &[u8])> {
    alt((
        map(preceded(tag("-"), textstring), |text| (false, text)),
        map(preceded(tag(" "), textstring), |text| (true, text)),
        value((true, &b""[..]), eof),
    ))
    .parse(input)
}

/// `textstring = 1*(%d09 / %d32-126) ; HT, SP, Printable US-ASCII`, here optional and widened
/// to the rest of the line.
// Servers send 8-bit and control bytes too (QQ Mail answers a failed AUTH in GBK); the client
// acts on codes only, so every byte is kept. CR and LF cannot occur: the framer cuts lines at
// the first of either.
fn textstring(input: &[u8]) -> IResult<&[u8], &[u8]> {
    rest.parse(input)
}

/// Reads the enhanced status code at the start of a reply's text, if there is one.
///
/// RFC 2034 §4 puts `status-code` first in the text, followed by a space; a code followed by
/// anything else (`5.1.1x`, `5.1111.1`) is text, not a code.
pub(crate) fn enhanced_code(text: &[u8]) -> Option<EnhancedCode> {
    terminated(status_code, alt((tag(" "), eof)))
        .parse(text)
        .ok()
        .map(|(_, code)| code)
}

/// `status-code = class "." subject "." detail`
fn status_code(input: &[u8]) -> IResult<&[u8], EnhancedCode> {
    map_opt(
        (class, tag("."), subject, tag("."), detail),
        |(class, _, subject, _, detail)| EnhancedCode::new(class, subject, detail),
    )
    .parse(input)
}

/// `class = "2" / "4" / "5"`
fn class(input: &[u8]) -> IResult<&[u8], u8> {
    alt((value(2, tag("2")), value(4, tag("4")), value(5, tag("5")))).parse(input)
}

/// `subject = 1*3digit`
fn subject(input: &[u8]) -> IResult<&[u8], u16> {
    map(take_while_m_n(1, 3, |b: u8| b.is_ascii_digit()), decimal).parse(input)
}

/// `detail = 1*3digit`
fn detail(input: &[u8]) -> IResult<&[u8], u16> {
    map(take_while_m_n(1, 3, |b: u8| b.is_ascii_digit()), decimal).parse(input)
}

/// The value of at most three ASCII digits, which cannot overflow a `u16`.
fn decimal(digits: &[u8]) -> u16 {
    digits
        .iter()
        .fold(0, |value, digit| value * 10 + u16::from(digit - b'0'))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn code(value: u16) -> ReplyCode {
        ReplyCode::new(value).unwrap()
    }

    #[test]
    fn reply_code_reads_three_digits_in_range() {
        for (input, expected) in [
            (&b"250"[..], Some(250)),
            (b"200", Some(200)),
            (b"559", Some(559)),
            (b"2500", Some(250)),
            (b"199", None),
            (b"600", None),
            (b"099", None),
            (b"260", None),
            (b"2x0", None),
            (b"25", None),
            (b"25 ", None),
            (b"", None),
        ] {
            let parsed = reply_code(input).ok().map(|(_, code)| code.get());
            assert_eq!(parsed, expected, "{:?}", input.escape_ascii().to_string());
        }
    }

    #[test]
    fn separator_and_text_tells_continuation_from_last_line() {
        for (input, expected) in [
            (&b"-mx.test"[..], Some((false, &b"mx.test"[..]))),
            (b"-", Some((false, b""))),
            (b" ok", Some((true, b"ok"))),
            (b" ", Some((true, b""))),
            (b"", Some((true, b""))),
            (b"  two spaces", Some((true, b" two spaces"))),
            (b"x", None),
            (b"0 ok", None),
            (b"\t", None),
        ] {
            let parsed = all_consuming(separator_and_text).parse(input).ok();
            assert_eq!(parsed.map(|(_, line)| line), expected);
        }
    }

    #[test]
    fn textstring_keeps_every_byte() {
        assert_eq!(
            textstring(b"a\x00\x1b\xff b").unwrap(),
            (&b""[..], &b"a\x00\x1b\xff b"[..])
        );
        assert_eq!(textstring(b"").unwrap(), (&b""[..], &b""[..]));
    }

    #[test]
    fn reply_line_classifies_errors() {
        assert_eq!(
            reply_line(b"250-234 Text beginning with numbers"),
            Ok(ReplyLine {
                code: code(250),
                is_last: false,
                text: b"234 Text beginning with numbers",
            })
        );
        assert_eq!(
            reply_line(b"334"),
            Ok(ReplyLine {
                code: code(334),
                is_last: true,
                text: b"",
            })
        );
        for (input, error) in [
            (&b""[..], FramingError::BadCode),
            (b"2x0 ok", FramingError::BadCode),
            (b"099 x", FramingError::BadCode),
            (b"600 x", FramingError::BadCode),
            (b"25 ok", FramingError::BadCode),
            (b"2500 ok", FramingError::BadSeparator),
            (b"250xok", FramingError::BadSeparator),
        ] {
            assert_eq!(reply_line(input), Err(error));
        }
    }

    #[test]
    fn status_code_and_its_parts() {
        assert_eq!(class(b"5.").unwrap(), (&b"."[..], 5));
        assert!(class(b"3.").is_err());
        assert_eq!(subject(b"1111").unwrap(), (&b"1"[..], 111));
        assert_eq!(detail(b"0 x").unwrap(), (&b" x"[..], 0));
        assert!(detail(b"x").is_err());
        let (rest, parsed) = status_code(b"5.7.8 x").unwrap();
        assert_eq!((rest, parsed.to_string()), (&b" x"[..], "5.7.8".to_owned()));
        assert_eq!(status_code(b"2.0.0").unwrap().1.to_string(), "2.0.0");
        assert!(status_code(b"5.7").is_err());
        assert!(status_code(b"5..1").is_err());
    }

    #[test]
    fn enhanced_code_must_end_at_space_or_end_of_text() {
        for (text, expected) in [
            (&b"5.1.1 unknown"[..], Some("5.1.1")),
            (b"2.0.0", Some("2.0.0")),
            (b"4.7.0 TLS not available", Some("4.7.0")),
            (b"5.999.999 x", Some("5.999.999")),
            (b"5.1111.1 x", None),
            (b"5.1.1234 x", None),
            (b"5.1.1x", None),
            (b"3.0.0 x", None),
            (b" 5.1.1 x", None),
            (b"mx.test", None),
            (b"", None),
        ] {
            let parsed = enhanced_code(text).map(|code| code.to_string());
            assert_eq!(parsed.as_deref(), expected);
        }
    }
}
