//! The bounded reply framer: the only buffer that holds bytes received from the server.
//!
//! Lines are checked and parsed in [`ReplyFramer::push`], as their bytes arrive; complete
//! replies wait in a queue for [`ReplyFramer::next_reply`]. Scanning a raw buffer lazily in
//! `next_reply` was rejected:
//! * that buffer keeps every byte pushed between two calls, even after a fault that makes them
//!   useless; here a fault is found when its byte is pushed, and nothing after it is stored;
//! * staying linear then needs a scan position carried across calls; here each byte is looked
//!   at once, and only an unfinished line is ever copied.

use super::{grammar, Reply, ReplyCode};
use std::collections::VecDeque;
use std::sync::Arc;
use std::{fmt, mem};

const CR: u8 = b'\r';
const LF: u8 = b'\n';

/// Size limits on what the server may send; each overflow is a [`FramingError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyLimits {
    pub(crate) max_line_len: usize,
    pub(crate) max_lines: usize,
    pub(crate) max_reply_len: usize,
}

impl ReplyLimits {
    settings! {
        /// Longest reply line, CRLF included. RFC 5321 §4.5.3.1.5 says 512, but real EHLO and
        /// 5xx lines run longer; 4 KiB by default.
        copy max_line_len: usize => with_max_line_len;
        /// Most lines in one reply; 256 by default (real EHLO replies have 10-30).
        copy max_lines: usize => with_max_lines;
        /// Most bytes in one reply; 64 KiB by default.
        copy max_reply_len: usize => with_max_reply_len;
    }
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
///
/// Feed it every byte read from the server with [`push`](Self::push), then call
/// [`next_reply`](Self::next_reply) until it returns `Ok(None)`. Replies come out in order, and
/// the sequence of results does not depend on how the bytes were split into pushes.
///
/// # Security
///
/// Each line is checked as it arrives: an overlong line fails as soon as it cannot fit, and a
/// bare CR or LF as soon as it is seen, so a hostile server can make the framer hold at most
/// [`ReplyLimits::max_reply_len`] bytes of an unfinished reply. After an error the framer drops
/// what it holds of the broken reply and ignores further input.
#[derive(Debug, Default)]
pub struct ReplyFramer {
    limits: ReplyLimits,
    /// The line being received, without its CRLF; it ends with the CR of a CRLF that was split
    /// between two pushes.
    line: Vec<u8>,
    /// The multiline reply being received, once its first line is in.
    partial: Option<PartialReply>,
    /// Complete replies not yet returned, each with its length on the wire.
    ready: VecDeque<(Reply, usize)>,
    /// The wire length of all of `ready`.
    ready_len: usize,
    error: Option<FramingError>,
}

/// The complete lines of a reply whose last line has not arrived yet.
#[derive(Debug)]
struct PartialReply {
    code: ReplyCode,
    lines: Vec<Vec<u8>>,
    /// Bytes on the wire, CRLFs included.
    len: usize,
}

impl ReplyFramer {
    /// A framer with the given limits.
    pub fn new(limits: ReplyLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Appends bytes read from the server.
    ///
    /// Lines are checked here, so once the stream is known to be broken the rest of `bytes` is
    /// not stored; [`next_reply`](Self::next_reply) reports the error.
    pub fn push(&mut self, mut bytes: &[u8]) {
        while self.error.is_none() && !bytes.is_empty() {
            match self.scan(bytes) {
                Ok(rest) => bytes = rest,
                Err(error) => self.fail(error),
            }
        }
    }

    /// Returns the next complete reply, `Ok(None)` if more bytes are needed, or the error that
    /// makes the stream unusable (errors are sticky: later calls return the same error).
    ///
    /// # Errors
    ///
    /// A [`FramingError`] once the bytes after the last returned reply cannot be a valid reply
    /// within the limits. Replies that were complete before the fault are returned first.
    pub fn next_reply(&mut self) -> Result<Option<Reply>, FramingError> {
        match self.ready.pop_front() {
            Some((reply, len)) => {
                self.ready_len -= len;
                Ok(Some(reply))
            }
            None => self.error.map_or(Ok(None), Err),
        }
    }

    /// Bytes received but not yet returned as part of a reply.
    ///
    /// Complete replies waiting in the framer count; after an error, the dropped bytes of the
    /// broken reply do not. The session checks this is zero when the `220` to STARTTLS is
    /// returned: anything else was injected before the TLS handshake.
    pub fn buffered(&self) -> usize {
        self.ready_len + self.partial_len() + self.line.len()
    }

    /// Takes `bytes` up to and including the next line ending, or all of them; returns the rest.
    fn scan<'a>(&mut self, bytes: &'a [u8]) -> Result<&'a [u8], FramingError> {
        if self.line.last() == Some(&CR) {
            return match bytes.split_first() {
                Some((&LF, rest)) => {
                    self.line.pop();
                    self.end_held_line(&[])?;
                    Ok(rest)
                }
                _ => Err(FramingError::BareLineEnding),
            };
        }
        let Some(end) = find_line_ending(bytes) else {
            self.check_room(self.line.len() + bytes.len())?;
            self.line.extend_from_slice(bytes);
            return Ok(&[]);
        };
        let (text, ending) = bytes.split_at(end);
        self.check_room(self.line.len() + text.len())?;
        match ending {
            [CR, LF, rest @ ..] => {
                self.end_held_line(text)?;
                Ok(rest)
            }
            [CR] => {
                self.line.extend_from_slice(text);
                self.line.push(CR);
                Ok(&[])
            }
            _ => Err(FramingError::BareLineEnding),
        }
    }

    /// Fails once a line of `len` bytes before its CRLF cannot fit the limits.
    fn check_room(&self, len: usize) -> Result<(), FramingError> {
        let reply_room = self.limits.max_reply_len.saturating_sub(self.partial_len());
        // Both bounds grow with the line, so the tighter one is always crossed first, whatever
        // the chunking; reporting it keeps the error independent of how the bytes arrived.
        let (room, error) = if self.limits.max_line_len <= reply_room {
            (self.limits.max_line_len, FramingError::LineTooLong)
        } else {
            (reply_room, FramingError::ReplyTooLong)
        };
        if len.saturating_add(2) > room {
            Err(error)
        } else {
            Ok(())
        }
    }

    /// Ends the line made of the held bytes followed by `tail`, copying only when both are
    /// non-empty.
    fn end_held_line(&mut self, tail: &[u8]) -> Result<(), FramingError> {
        if self.line.is_empty() {
            return self.end_line(tail);
        }
        let mut line = mem::take(&mut self.line);
        line.extend_from_slice(tail);
        let ended = self.end_line(&line);
        line.clear();
        self.line = line;
        ended
    }

    /// Adds a complete line, CRLF stripped, to the reply being received.
    fn end_line(&mut self, line: &[u8]) -> Result<(), FramingError> {
        let parsed = grammar::reply_line(line)?;
        if parsed.is_last && self.partial.is_none() && self.limits.max_lines > 0 {
            // The common one-line reply: no list of lines to build and copy.
            let len = line.len() + 2;
            let enhanced = grammar::enhanced_code(parsed.text);
            let lines = Arc::from([parsed.text.to_vec()]);
            self.complete(Reply::shared(parsed.code, enhanced, lines), len);
            return Ok(());
        }
        let mut reply = match self.partial.take() {
            Some(reply) if reply.code != parsed.code => return Err(FramingError::CodeMismatch),
            Some(reply) => reply,
            None => PartialReply {
                code: parsed.code,
                lines: Vec::new(),
                len: 0,
            },
        };
        reply.lines.push(parsed.text.to_vec());
        reply.len += line.len() + 2;
        // A continuation line promises one more line: fail as soon as that one cannot fit.
        let lines_due = reply.lines.len() + usize::from(!parsed.is_last);
        if lines_due > self.limits.max_lines {
            return Err(FramingError::TooManyLines);
        }
        if parsed.is_last {
            let enhanced = reply
                .lines
                .first()
                .and_then(|text| grammar::enhanced_code(text));
            self.complete(Reply::new(reply.code, enhanced, reply.lines), reply.len);
        } else {
            self.partial = Some(reply);
        }
        Ok(())
    }

    /// Queues a finished reply, `len` bytes on the wire, for [`ReplyFramer::next_reply`].
    fn complete(&mut self, reply: Reply, len: usize) {
        self.ready_len += len;
        self.ready.push_back((reply, len));
    }

    fn partial_len(&self) -> usize {
        self.partial.as_ref().map_or(0, |reply| reply.len)
    }

    /// Makes `error` sticky and frees what is held of the broken reply.
    fn fail(&mut self, error: FramingError) {
        self.error = Some(error);
        self.partial = None;
        self.line = Vec::new();
    }
}

/// The index of the first CR or LF in `bytes`.
fn find_line_ending(bytes: &[u8]) -> Option<usize> {
    // A whole chunk is tested without an early exit, which compiles to SIMD; then only the
    // chunk holding the line ending, or the short tail, is searched byte by byte.
    const CHUNK: usize = 16;
    let has_line_ending = |chunk: &[u8]| {
        chunk
            .iter()
            .fold(0, |found, &b| found | u8::from(b == CR) | u8::from(b == LF))
            != 0
    };
    let skipped = CHUNK
        * bytes
            .chunks_exact(CHUNK)
            .take_while(|chunk| !has_line_ending(chunk))
            .count();
    let at = bytes
        .get(skipped..)?
        .iter()
        .position(|&b| b == CR || b == LF)?;
    Some(skipped + at)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn find_line_ending_at_every_position_around_chunk_edges() {
        for len in [0, 1, 15, 16, 17, 31, 32, 33, 100] {
            let mut bytes = vec![b'a'; len];
            assert_eq!(find_line_ending(&bytes), None, "len {len}");
            for at in 0..len {
                for ending in [CR, LF] {
                    bytes[at] = ending;
                    assert_eq!(find_line_ending(&bytes), Some(at), "len {len}, at {at}");
                    bytes[at] = b'a';
                }
            }
        }
        assert_eq!(find_line_ending(b"250 ok\n\r"), Some(6));
    }
}
