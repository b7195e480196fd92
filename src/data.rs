//! Message data encoding for DATA (RFC 5321 §4.1.1.4, §4.5.2) and BDAT (RFC 3030).
//!
//! STUB — to be implemented. The public surface below is fixed.

use crate::error::InputError;

/// What to do with a CR or LF that is not part of a CRLF pair.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LineEndings {
    /// Turn each bare CR and bare LF into CRLF (RFC 5321 §2.3.8 forbids sending them bare).
    #[default]
    Normalize,
    /// Refuse message data that contains a bare CR or LF, with [`InputError::BareLineEnding`].
    Strict,
}

/// How the encoded data is framed on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Framing {
    /// After DATA: dot-stuffing, ended by `CRLF . CRLF`.
    Data,
    /// In BDAT chunks: no dot-stuffing (the chunk sizes frame the data), ended by CRLF.
    Bdat,
}

/// A streaming encoder for message data: state is kept across chunks, so any split of the
/// input gives the same output.
///
/// It guarantees the wire never carries an early end of data (SMTP smuggling): every line
/// ends in CRLF, every line that starts with `.` is stuffed, and the terminator is added
/// exactly once. NUL bytes and lines over 998 octets are refused.
#[derive(Clone, Debug)]
pub struct DataEncoder {
    framing: Framing,
    line_endings: LineEndings,
}

impl DataEncoder {
    /// An encoder for the given framing and line-ending policy.
    pub fn new(framing: Framing, line_endings: LineEndings) -> Self {
        Self {
            framing,
            line_endings,
        }
    }

    /// Encodes the next chunk of message data, appending the wire bytes to `out`.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), InputError> {
        let _ = (self.framing, self.line_endings);
        out.extend_from_slice(input);
        Ok(())
    }

    /// Ends the data: appends CRLF if the data did not end with one, then (for DATA) `.` CRLF.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), InputError> {
        out.extend_from_slice(b".\r\n");
        Ok(())
    }
}
