//! The bounded reply framer: the only buffer that holds bytes received from the server.
//!
//! STUB — to be implemented (see the issue). The public surface below is fixed.

use super::Reply;
use std::fmt;

/// Size limits on what the server may send; each overflow is a [`FramingError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplyLimits {
    /// Longest reply line, CRLF included. RFC 5321 §4.5.3.1.5 says 512, but real EHLO and 5xx
    /// lines run longer; 4 KiB by default.
    pub max_line_len: usize,
    /// Most lines in one reply; 256 by default (real EHLO replies have 10-30).
    pub max_lines: usize,
    /// Most bytes in one reply; 64 KiB by default.
    pub max_reply_len: usize,
}

impl Default for ReplyLimits {
    fn default() -> Self {
        Self {
            max_line_len: 4096,
            max_lines: 256,
            max_reply_len: 64 * 1024,
        }
    }
}

/// Why the bytes from the server are not a valid reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FramingError {
    /// A line longer than [`ReplyLimits::max_line_len`].
    LineTooLong,
    /// A reply with more than [`ReplyLimits::max_lines`] lines.
    TooManyLines,
    /// A reply longer than [`ReplyLimits::max_reply_len`] bytes.
    ReplyTooLong,
    /// A line that does not start with a valid three-digit code (`2x0`, `099`, `600`, `25 x`).
    BadCode,
    /// Something other than SP, `-` or CRLF after the code (`2500`, `250x`).
    BadSeparator,
    /// A line ended by a bare LF, or a bare CR inside a line (only CRLF ends a line).
    BareLineEnding,
    /// Lines of one multiline reply with different codes.
    CodeMismatch,
}

impl fmt::Display for FramingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::LineTooLong => "reply line too long",
            Self::TooManyLines => "reply has too many lines",
            Self::ReplyTooLong => "reply too long",
            Self::BadCode => "malformed reply code",
            Self::BadSeparator => "malformed separator after reply code",
            Self::BareLineEnding => "reply line not ended by CRLF",
            Self::CodeMismatch => "lines of one reply carry different codes",
        })
    }
}

impl std::error::Error for FramingError {}

/// Splits server bytes into complete [`Reply`]s, never holding more than the limits allow.
#[derive(Debug, Default)]
pub struct ReplyFramer {
    limits: ReplyLimits,
    buffer: Vec<u8>,
}

impl ReplyFramer {
    /// A framer with the given limits.
    pub fn new(limits: ReplyLimits) -> Self {
        Self {
            limits,
            buffer: Vec::new(),
        }
    }

    /// Appends bytes read from the server.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Returns the next complete reply, `Ok(None)` if more bytes are needed, or the error that
    /// makes the stream unusable (errors are sticky: later calls return the same error).
    pub fn next_reply(&mut self) -> Result<Option<Reply>, FramingError> {
        let _ = &self.limits;
        Ok(None)
    }

    /// Bytes received but not yet returned as part of a reply.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }
}
