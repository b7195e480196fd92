//! The redacted record of a session's dialogue, for auditing and learning.
//!
//! It is built only from redacted views: AUTH payloads appear as `<redacted N bytes>` and
//! message data as a byte count, so a transcript can be shared as is.

use crate::reply::write_escaped;
use std::fmt;
use std::time::Duration;

/// One line of the dialogue.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Entry {
    /// A command line the client sent (redacted, without CRLF).
    Client(String),
    /// A reply line the server sent (raw bytes, without CRLF).
    Server(Vec<u8>),
    /// Message data the client sent, summarised.
    Data {
        /// Octets written on the wire, dot-stuffing and terminator included.
        bytes: u64,
    },
    /// Something that is not a line: TLS started, the connection closed.
    Event(String),
}

/// The dialogue so far, each entry stamped with the time the driver last reported.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transcript {
    entries: Vec<(Duration, Entry)>,
    now: Duration,
}

impl Transcript {
    /// Sets the elapsed time stamped on the entries that follow (the core has no clock).
    pub fn set_elapsed(&mut self, elapsed: Duration) {
        self.now = elapsed;
    }

    /// Adds an entry.
    pub fn push(&mut self, entry: Entry) {
        self.entries.push((self.now, entry));
    }

    /// The entries, each with its elapsed time.
    pub fn entries(&self) -> &[(Duration, Entry)] {
        &self.entries
    }
}

impl fmt::Display for Transcript {
    /// swaks-style lines: `[  0.012s] S: 220 mx.example.com ESMTP`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (at, entry) in &self.entries {
            write!(f, "[{:>8.3}s] ", at.as_secs_f64())?;
            match entry {
                Entry::Client(line) => write!(f, "C: {line}")?,
                Entry::Server(line) => {
                    f.write_str("S: ")?;
                    write_escaped(f, line, usize::MAX)?;
                }
                Entry::Data { bytes } => write!(f, "C: <message data, {bytes} bytes>")?,
                Entry::Event(text) => write!(f, "*  {text}")?,
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
