//! The redacted record of a session's dialogue, for auditing and learning.
//!
//! It is built only by the session, from redacted views: AUTH payloads appear as
//! `<redacted N bytes>` and message data as a byte count, so a transcript can be shared as is.
//! It is bounded: past [`SessionConfig::transcript_limit`](crate::session::SessionConfig)
//! entries the oldest are dropped and counted, so a pooled connection that lives for days and
//! sends a hundred thousand messages keeps only its recent dialogue.

use crate::reply::write_escaped;
use std::collections::VecDeque;
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

/// The dialogue so far (its last [`limit`](Transcript::limit) entries), each entry stamped
/// with the time since the session started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transcript {
    entries: VecDeque<(Duration, Entry)>,
    limit: usize,
    dropped: u64,
    now: Duration,
}

impl Transcript {
    /// An empty transcript keeping at most `limit` entries (at least one).
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            limit: limit.max(1),
            dropped: 0,
            now: Duration::ZERO,
        }
    }

    /// Sets the elapsed time stamped on the entries that follow (the core has no clock).
    pub(crate) fn set_elapsed(&mut self, elapsed: Duration) {
        self.now = elapsed;
    }

    /// Adds an entry, dropping the oldest one past the limit.
    pub(crate) fn push(&mut self, entry: Entry) {
        if self.entries.len() == self.limit {
            self.entries.pop_front();
            self.dropped += 1;
        }
        self.entries.push_back((self.now, entry));
    }

    /// The entries kept, oldest first, each with its elapsed time.
    pub fn entries(&self) -> impl DoubleEndedIterator<Item = &(Duration, Entry)> + '_ {
        self.entries.iter()
    }

    /// How many entries are kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.dropped == 0
    }

    /// How many of the oldest entries were dropped to stay within the limit.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The most entries kept.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// One entry as a transcript line, without its time stamp: `C: EHLO …`, `S: 250 …`.
impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Client(line) => write!(f, "C: {line}"),
            Self::Server(line) => {
                f.write_str("S: ")?;
                write_escaped(f, line, usize::MAX)
            }
            Self::Data { bytes } => write!(f, "C: <message data, {bytes} bytes>"),
            Self::Event(text) => write!(f, "*  {text}"),
        }
    }
}

/// A time stamp as transcripts show it: `[  0.012s]`.
pub fn stamp(at: Duration) -> impl fmt::Display {
    struct Stamp(Duration);
    impl fmt::Display for Stamp {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "[{:>8.3}s]", self.0.as_secs_f64())
        }
    }
    Stamp(at)
}

impl fmt::Display for Transcript {
    /// swaks-style lines: `[  0.012s] S: 220 mx.example.com ESMTP`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dropped > 0 {
            let at = self.entries.front().map_or(self.now, |(at, _)| *at);
            writeln!(
                f,
                "{} *  … {} earlier entries not kept (the transcript keeps the last {})",
                stamp(at),
                self.dropped,
                self.limit
            )?;
        }
        for (at, entry) in &self.entries {
            writeln!(f, "{} {entry}", stamp(*at))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_entries_and_counts_the_rest() {
        let mut transcript = Transcript::new(3);
        for i in 0..5 {
            transcript.push(Entry::Client(format!("NOOP {i}")));
        }
        assert_eq!(transcript.len(), 3);
        assert_eq!(transcript.dropped(), 2);
        let text = transcript.to_string();
        assert!(text.contains("2 earlier entries not kept"), "{text}");
        assert!(!text.contains("NOOP 1"), "{text}");
        assert!(text.contains("NOOP 2") && text.contains("NOOP 4"), "{text}");
    }
}
