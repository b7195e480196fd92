//! Server replies (RFC 5321 §4.2) and enhanced status codes (RFC 3463).
//!
//! Bytes from the server go through two stages:
//! 1. [`ReplyFramer`] owns the input buffer, splits it into CRLF-terminated lines, groups
//!    the lines of one (possibly multiline) reply and enforces every size limit;
//! 2. the crate-private `grammar` module parses each complete line with nom.
//!
//! Reply text is kept as bytes: servers send non-UTF-8 text (QQ Mail answers a failed AUTH in
//! GBK), and a client must act on reply codes only, never on text (RFC 5321 §4.2).

use std::fmt;
use std::sync::Arc;

mod framer;
mod grammar;

pub use framer::{FramingError, ReplyFramer, ReplyLimits};

/// A three-digit reply code, validated on construction: first digit 2-5, second 0-5, third 0-9.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyCode(u16);

impl ReplyCode {
    /// `220 <domain> Service ready`.
    pub const SERVICE_READY: Self = Self(220);
    /// `221 <domain> Service closing transmission channel`.
    pub const CLOSING: Self = Self(221);
    /// `235 Authentication successful` (RFC 4954).
    pub const AUTH_SUCCESSFUL: Self = Self(235);
    /// `250 Requested mail action okay, completed`.
    pub const OK: Self = Self(250);
    /// `334` server challenge during AUTH (RFC 4954).
    pub const AUTH_CONTINUE: Self = Self(334);
    /// `354 Start mail input`.
    pub const START_MAIL_INPUT: Self = Self(354);
    /// `421 Service not available, closing transmission channel`.
    pub const SERVICE_NOT_AVAILABLE: Self = Self(421);
    /// `452 Insufficient system storage`, also "too many recipients" (RFC 5321 §4.5.3.1.10).
    pub const INSUFFICIENT_STORAGE: Self = Self(452);
    /// `554 Transaction failed` (also "no SMTP service here" as a greeting).
    pub const TRANSACTION_FAILED: Self = Self(554);

    /// Returns the code if `value` is a valid SMTP reply code.
    pub fn new(value: u16) -> Option<Self> {
        let (first, second) = (value / 100, value / 10 % 10);
        ((2..=5).contains(&first) && second <= 5).then_some(Self(value))
    }

    /// The code as a number, e.g. `250`.
    pub fn get(self) -> u16 {
        self.0
    }

    /// What the first digit says about the outcome.
    pub fn severity(self) -> Severity {
        match self.0 / 100 {
            2 => Severity::PositiveCompletion,
            3 => Severity::PositiveIntermediate,
            4 => Severity::TransientNegative,
            _ => Severity::PermanentNegative,
        }
    }

    /// The first digit, 2 to 5.
    pub fn class(self) -> u8 {
        // The constructor keeps the value within 200..=559, so this never truncates.
        (self.0 / 100) as u8
    }
}

/// `250`, not `ReplyCode(250)`: codes read in assertions and logs as the server wrote them.
impl fmt::Debug for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The first digit of a reply code (RFC 5321 §4.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Severity {
    /// 2yz: the requested action was completed.
    PositiveCompletion,
    /// 3yz: accepted so far; the server waits for more (354 after DATA, 334 during AUTH).
    PositiveIntermediate,
    /// 4yz: not done this time; the same request may succeed later.
    TransientNegative,
    /// 5yz: not done, and repeating the request will not help.
    PermanentNegative,
}

/// An RFC 3463 enhanced status code, `class.subject.detail`, such as `5.7.8`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnhancedCode {
    class: u8,
    subject: u16,
    detail: u16,
}

impl EnhancedCode {
    /// Returns the code if it is well formed: class 2, 4 or 5; subject and detail 0-999.
    pub fn new(class: u8, subject: u16, detail: u16) -> Option<Self> {
        (matches!(class, 2 | 4 | 5) && subject <= 999 && detail <= 999).then_some(Self {
            class,
            subject,
            detail,
        })
    }

    /// 2 (success), 4 (persistent transient failure) or 5 (permanent failure).
    pub fn class(self) -> u8 {
        self.class
    }

    /// The subject, e.g. 7 for security or policy status.
    pub fn subject(self) -> u16 {
        self.subject
    }

    /// The detail within the subject.
    pub fn detail(self) -> u16 {
        self.detail
    }
}

impl fmt::Debug for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// One complete server reply: a code, an optional enhanced status code and the text lines.
///
/// `lines` hold the text after `"250-"` / `"250 "` of each line, without the CRLF, as bytes.
/// The enhanced code is taken from the first line, and only when its class matches the
/// code's first digit (a `250 5.7.1` keeps its 250 and has no enhanced code).
///
/// Cheap to clone: the event, the report and the error that carry one reply share its text.
#[derive(Clone, PartialEq, Eq)]
pub struct Reply {
    code: ReplyCode,
    enhanced: Option<EnhancedCode>,
    lines: Arc<[Vec<u8>]>,
}

/// How many bytes of reply text `Display` shows before it cuts; keeps hostile replies out of logs.
const DISPLAY_TEXT_LIMIT: usize = 512;

impl Reply {
    /// Builds a reply from its parts; the enhanced code is dropped if its class disagrees.
    pub fn new(code: ReplyCode, enhanced: Option<EnhancedCode>, lines: Vec<Vec<u8>>) -> Self {
        Self::shared(code, enhanced, lines.into())
    }

    /// As [`Reply::new`], from lines already shared: the framer builds a one-line reply
    /// with a single allocation for the list.
    pub(crate) fn shared(
        code: ReplyCode,
        enhanced: Option<EnhancedCode>,
        lines: Arc<[Vec<u8>]>,
    ) -> Self {
        let enhanced = enhanced.filter(|e| e.class() == code.class());
        Self {
            code,
            enhanced,
            lines,
        }
    }

    /// The three-digit reply code.
    pub fn code(&self) -> ReplyCode {
        self.code
    }

    /// The RFC 3463 enhanced status code, when the server sent one of the right class.
    pub fn enhanced(&self) -> Option<EnhancedCode> {
        self.enhanced
    }

    /// The text of each line, as received (enhanced code included).
    pub fn lines(&self) -> &[Vec<u8>] {
        &self.lines
    }

    /// What the first digit says.
    pub fn severity(&self) -> Severity {
        self.code.severity()
    }

    /// 2yz or 3yz.
    pub fn is_positive(&self) -> bool {
        matches!(self.code.class(), 2 | 3)
    }

    /// 4yz: worth trying again later.
    pub fn is_transient(&self) -> bool {
        self.code.class() == 4
    }

    /// 5yz: do not repeat the same request.
    pub fn is_permanent(&self) -> bool {
        self.code.class() == 5
    }

    /// The text lines joined by `\n`, decoded as UTF-8 with invalid bytes replaced.
    pub fn text_lossy(&self) -> String {
        let joined = self.lines.join(&b'\n');
        String::from_utf8_lossy(&joined).into_owned()
    }

    /// The reply as it appeared on the wire (CRLF line endings), e.g. for a transcript.
    pub fn to_wire(&self) -> Vec<u8> {
        let code = self.code.to_string();
        let mut out = Vec::new();
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            out.extend_from_slice(code.as_bytes());
            if i < last {
                out.push(b'-');
            } else if !line.is_empty() {
                out.push(b' ');
            }
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        }
        if self.lines.is_empty() {
            out.extend_from_slice(code.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out
    }
}

/// Writes `bytes` as text safe for a terminal or a log: printable ASCII and valid UTF-8 as is,
/// control characters and invalid bytes escaped as `\xNN`, cut after `limit` bytes.
pub(crate) fn write_escaped(f: &mut fmt::Formatter<'_>, bytes: &[u8], limit: usize) -> fmt::Result {
    let (shown, cut) = match bytes.get(..limit) {
        Some(head) if head.len() < bytes.len() => (head, true),
        _ => (bytes, false),
    };
    for chunk in shown.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                write!(f, "\\x{:02x}", u32::from(c))?;
            } else {
                write!(f, "{c}")?;
            }
        }
        for b in chunk.invalid() {
            write!(f, "\\x{b:02x}")?;
        }
    }
    if cut {
        write!(f, "…")?;
    }
    Ok(())
}

impl fmt::Display for Reply {
    /// `550 5.1.1 no such user`, with multiline text joined by `" / "`, escaped and cut short.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        let mut budget = DISPLAY_TEXT_LIMIT;
        for (i, line) in self.lines.iter().enumerate() {
            if budget == 0 {
                break;
            }
            f.write_str(if i == 0 { " " } else { " / " })?;
            write_escaped(f, line, budget)?;
            budget = budget.saturating_sub(line.len());
        }
        Ok(())
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reply({self})")
    }
}
