//! Message data encoding for DATA (RFC 5321 §4.1.1.4, §4.5.2) and BDAT (RFC 3030).
//!
//! The data after DATA ends at the first `CRLF . CRLF`, and many servers also end it at
//! sequences such as `LF . LF` or `CR . CR`. Message data that carries such a sequence ends the
//! message early and has the rest read as SMTP commands: a second, spoofed message (SMTP
//! smuggling, CVE-2023-51764; RUSTSEC-2021-0069 and RUSTSEC-2026-0561 in lettre).
//! [`DataEncoder`] closes this off: it sends line breaks only as CRLF (RFC 5321 §2.3.8), stuffs
//! every line that starts with `.` (§4.5.2) and writes the terminator once, at the end.

use crate::error::InputError;

/// RFC 5322 §2.1.1: a line is at most 998 octets, excluding the CRLF.
///
/// RFC 5321 §4.5.3.1.6 does not count the dot added by stuffing, so neither does this.
const MAX_LINE_LEN: usize = 998;

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
    ///
    /// Line endings are still normalised or refused, and NUL and long lines refused: the next
    /// hop may relay the message with DATA.
    Bdat,
}

/// A streaming encoder for message data: state is kept across chunks, so any split of the
/// input gives the same output.
///
/// It guarantees the wire never carries an early end of data (SMTP smuggling): every line
/// ends in CRLF, every line that starts with `.` is stuffed, and the terminator is added
/// exactly once. NUL bytes and lines over 998 octets are refused.
///
/// Feed the message with [`encode`](Self::encode), as many times as needed, then call
/// [`finish`](Self::finish) once. The first error is sticky: every later call returns it, so
/// a failed message can never be terminated and sent as if it were whole.
///
/// ```
/// use smtpwire::data::{DataEncoder, Framing, LineEndings};
///
/// let mut encoder = DataEncoder::new(Framing::Data, LineEndings::Normalize);
/// let mut wire = Vec::new();
/// encoder.encode(b"Subject: hi\n\n.hidden\r", &mut wire)?;
/// encoder.encode(b"\nbye", &mut wire)?;
/// encoder.finish(&mut wire)?;
/// assert_eq!(wire, b"Subject: hi\r\n\r\n..hidden\r\nbye\r\n.\r\n");
/// # Ok::<(), smtpwire::InputError>(())
/// ```
#[derive(Clone, Debug)]
pub struct DataEncoder {
    framing: Framing,
    line_endings: LineEndings,
    state: State,
    /// Input octets in the current line so far; 0 at the start of a line.
    line_len: usize,
    /// The last input octet was a CR. It becomes a line break once the next octet (or
    /// `finish`) shows whether it was part of a CRLF, so nothing is written for it yet.
    pending_cr: bool,
}

#[derive(Clone, Debug)]
enum State {
    Open,
    Finished,
    Failed(InputError),
}

impl DataEncoder {
    /// An encoder for the given framing and line-ending policy.
    pub fn new(framing: Framing, line_endings: LineEndings) -> Self {
        Self {
            framing,
            line_endings,
            state: State::Open,
            line_len: 0,
            pending_cr: false,
        }
    }

    /// Encodes the next chunk of message data, appending the wire bytes to `out`.
    ///
    /// # Errors
    ///
    /// [`InputError::Nul`], [`InputError::LineTooLong`], or (in [`LineEndings::Strict`] mode)
    /// [`InputError::BareLineEnding`]; the same error again after any earlier failure, and
    /// [`InputError::WrongState`] after [`finish`](Self::finish). On error nothing is appended
    /// to `out`.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), InputError> {
        self.check_open()?;
        let start = out.len();
        // Lines longer than 32 octets grow by at most 2 (a stuffed dot, a CR added to a LF),
        // so this usually makes the one allocation for the chunk.
        out.reserve(input.len() + input.len() / 32 + 2);
        self.encode_lines(input, out).inspect_err(|error| {
            out.truncate(start);
            self.state = State::Failed(error.clone());
        })
    }

    /// Ends the data: appends CRLF if the data did not end with one, then (for DATA) `.` CRLF.
    ///
    /// Empty data ends with `.` CRLF alone for DATA, and with nothing for BDAT.
    ///
    /// # Errors
    ///
    /// [`InputError::BareLineEnding`] if the data ended with a CR in strict mode; the earlier
    /// error after any failure; [`InputError::WrongState`] if called twice. On error nothing is
    /// appended to `out`.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), InputError> {
        self.check_open()?;
        if self.pending_cr {
            self.pending_cr = false;
            if let Err(error) = self.bare_line_ending() {
                self.state = State::Failed(error.clone());
                return Err(error);
            }
            out.extend_from_slice(b"\r\n");
        } else if self.line_len > 0 {
            // RFC 5321 §4.1.1.4: add the missing CRLF, but never an extra empty line.
            out.extend_from_slice(b"\r\n");
        }
        if self.framing == Framing::Data {
            out.extend_from_slice(b".\r\n");
        }
        self.line_len = 0;
        self.state = State::Finished;
        Ok(())
    }

    fn check_open(&self) -> Result<(), InputError> {
        match &self.state {
            State::Open => Ok(()),
            State::Finished => Err(InputError::WrongState("message data already finished")),
            State::Failed(error) => Err(error.clone()),
        }
    }

    /// Copies each run of ordinary octets whole, and stops only at CR, LF and NUL.
    fn encode_lines(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), InputError> {
        if self.pending_cr {
            let Some((&next, rest)) = input.split_first() else {
                return Ok(());
            };
            self.pending_cr = false;
            if next == b'\n' {
                input = rest;
            } else {
                self.bare_line_ending()?;
            }
            self.end_line(out);
        }
        while let Some(&first) = input.first() {
            if self.line_len == 0 && first == b'.' && self.framing == Framing::Data {
                out.push(b'.');
            }
            let (run, rest) = split_at_special(input);
            if run.len() > MAX_LINE_LEN - self.line_len {
                return Err(InputError::LineTooLong);
            }
            self.line_len += run.len();
            out.extend_from_slice(run);
            input = match rest {
                [] => return Ok(()),
                [b'\r', b'\n', rest @ ..] => rest,
                [b'\r'] => {
                    self.pending_cr = true;
                    return Ok(());
                }
                [b'\r' | b'\n', rest @ ..] => {
                    self.bare_line_ending()?;
                    rest
                }
                [_nul, ..] => return Err(InputError::Nul),
            };
            self.end_line(out);
        }
        Ok(())
    }

    fn end_line(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"\r\n");
        self.line_len = 0;
    }

    fn bare_line_ending(&self) -> Result<(), InputError> {
        match self.line_endings {
            LineEndings::Normalize => Ok(()),
            LineEndings::Strict => Err(InputError::BareLineEnding),
        }
    }
}

/// Splits `bytes` before its first CR, LF or NUL: the octets that end a run of ordinary data.
fn split_at_special(bytes: &[u8]) -> (&[u8], &[u8]) {
    let at = find_special(bytes).unwrap_or(bytes.len());
    bytes.split_at_checked(at).unwrap_or((bytes, &[]))
}

const LANE: usize = size_of::<u64>();
const ONES: u64 = u64::from_ne_bytes([0x01; LANE]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; LANE]);

/// The index of the first CR, LF or NUL, a 64-bit word at a time.
///
/// SWAR ("SIMD within a register") scans at several GB/s with neither `unsafe` nor a
/// dependency; `iter().position` is not vectorised because of its early exit.
fn find_special(bytes: &[u8]) -> Option<usize> {
    let mut words = bytes.chunks_exact(LANE);
    for (index, word) in (&mut words).enumerate() {
        let mut lanes = [0; LANE];
        lanes.copy_from_slice(word);
        let word = u64::from_le_bytes(lanes);
        // Octets below 0x0E are rare in mail (TAB aside), so one cheap test clears most words.
        if lanes_below(word, b'\r' + 1) == 0 {
            continue;
        }
        let found = lanes_equal(word, b'\r') | lanes_equal(word, b'\n') | lanes_equal(word, 0);
        if found != 0 {
            // Little-endian, so the lowest flagged lane is the first octet; a false flag can
            // only sit above a true one.
            return Some(index * LANE + found.trailing_zeros() as usize / 8);
        }
    }
    let tail = words.remainder();
    let tail_start = bytes.len() - tail.len();
    tail.iter()
        .position(|&octet| matches!(octet, b'\r' | b'\n' | 0))
        .map(|at| tail_start + at)
}

/// Flags (with its high bit) a lane of `word` below `bound` (at most 0x80), and possibly lanes
/// above such a lane, which a borrow may reach.
fn lanes_below(word: u64, bound: u8) -> u64 {
    word.wrapping_sub(ONES * u64::from(bound)) & !word & HIGHS
}

/// Flags a lane of `word` equal to `octet`, and possibly lanes above such a lane.
fn lanes_equal(word: u64, octet: u8) -> u64 {
    lanes_below(word ^ (ONES * u64::from(octet)), 1)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn find_special_matches_a_byte_scan() {
        let mut bytes = [b'a'; 40];
        assert_eq!(find_special(&bytes), None);
        for at in 0..bytes.len() {
            for special in [b'\r', b'\n', 0] {
                bytes[at] = special;
                assert_eq!(find_special(&bytes), Some(at));
                // Octets one above a special, where a borrow could flag a lane falsely.
                if at + 1 < bytes.len() {
                    for after in [0x01, b'\r' ^ 0x01, b'\n' ^ 0x01, 0] {
                        bytes[at + 1] = after;
                        assert_eq!(find_special(&bytes), Some(at));
                    }
                    bytes[at + 1] = b'a';
                }
                bytes[at] = b'a';
            }
        }
    }

    #[test]
    fn find_special_ignores_near_misses() {
        let near: Vec<u8> = (0..=255u8)
            .filter(|octet| !matches!(octet, b'\r' | b'\n' | 0))
            .collect();
        assert_eq!(find_special(&near), None);
        let mut with_cr = near.clone();
        with_cr.push(b'\r');
        assert_eq!(find_special(&with_cr), Some(near.len()));
    }
}
