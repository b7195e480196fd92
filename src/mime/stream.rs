//! Writing a built message out: pre-rendered bytes, and base64 encoded block by block from
//! memory or from files, so memory stays bounded whatever the attachments weigh.

use super::transfer::{base64_len, base64_lines, BASE64_LINE_INPUT};
use std::fs::File;
use std::io::{self, BufRead, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Input octets per encoded block: whole base64 lines, about 78 KiB of output.
const BLOCK: usize = BASE64_LINE_INPUT * 1024;

/// A piece of the encoded message.
pub(crate) enum Segment {
    /// Already encoded: headers, boundaries, text bodies.
    Bytes(Vec<u8>),
    /// An attachment in memory, base64-encoded as it is written.
    Base64(Vec<u8>),
    /// An attachment file of `len` octets, read and base64-encoded as it is written.
    File { path: PathBuf, len: u64 },
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bytes(bytes) => write!(f, "Bytes({} octets)", bytes.len()),
            Self::Base64(data) => write!(f, "Base64({} octets)", data.len()),
            Self::File { path, len } => write!(f, "File({}, {len} octets)", path.display()),
        }
    }
}

impl Segment {
    pub(crate) fn encoded_len(&self) -> u64 {
        match self {
            Self::Bytes(bytes) => bytes.len() as u64,
            Self::Base64(data) => base64_len(data.len() as u64),
            Self::File { len, .. } => base64_len(*len),
        }
    }
}

/// The encoded message as a byte stream, produced chunk by chunk as it is read.
///
/// Implements [`BufRead`], so a transport can take each chunk with `fill_buf` and hand it on
/// without copying, and [`Read`]. Reading an attachment file fails if the file no longer has
/// the size it had when the message was built, since the announced size would be wrong.
pub struct Reader {
    segments: Arc<[Segment]>,
    index: usize,
    /// Position within the current segment's source.
    offset: u64,
    /// Encoded output of the current block, and how much of it was consumed.
    buf: Vec<u8>,
    pos: usize,
    input: Vec<u8>,
    file: Option<File>,
}

impl Reader {
    pub(crate) fn new(segments: Arc<[Segment]>) -> Self {
        Self {
            segments,
            index: 0,
            offset: 0,
            buf: Vec::new(),
            pos: 0,
            input: Vec::new(),
            file: None,
        }
    }

    /// Encodes the next block when the buffer is spent, skipping finished segments, until
    /// there is output or the message has ended.
    fn prepare(&mut self) -> io::Result<()> {
        let segments = Arc::clone(&self.segments);
        while self.pos >= self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            let Some(segment) = segments.get(self.index) else {
                return Ok(());
            };
            let more = match segment {
                Segment::Bytes(bytes) => {
                    if self.offset < bytes.len() as u64 {
                        return Ok(());
                    }
                    false
                }
                Segment::Base64(data) => {
                    let start = usize::try_from(self.offset).unwrap_or(usize::MAX);
                    let block = data.get(start..).unwrap_or_default();
                    let block = block.get(..BLOCK).unwrap_or(block);
                    base64_lines(block, start == 0, &mut self.buf);
                    self.offset += block.len() as u64;
                    !block.is_empty()
                }
                Segment::File { path, len } => self.file_block(path, *len)?,
            };
            if !more {
                self.index += 1;
                self.offset = 0;
            }
        }
        Ok(())
    }

    /// Reads and encodes the next block of a file; `false` once it has been read whole.
    fn file_block(&mut self, path: &Path, len: u64) -> io::Result<bool> {
        let changed = |how: &str| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "attachment {} {how} after the message was built",
                    path.display()
                ),
            )
        };
        if self.offset == 0 && self.file.is_none() {
            self.file = Some(File::open(path)?);
        }
        let Some(file) = self.file.as_mut() else {
            return Ok(false);
        };
        if self.offset == len {
            if file.read(&mut [0])? != 0 {
                return Err(changed("grew"));
            }
            self.file = None;
            return Ok(false);
        }
        let want = usize::try_from(len - self.offset).map_or(BLOCK, |left| left.min(BLOCK));
        self.input.resize(want, 0);
        file.read_exact(&mut self.input).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                changed("shrank")
            } else {
                e
            }
        })?;
        base64_lines(&self.input, self.offset == 0, &mut self.buf);
        self.offset += want as u64;
        Ok(true)
    }
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("segment", &self.index)
            .field("of", &self.segments.len())
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

impl BufRead for Reader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.prepare()?;
        if self.pos < self.buf.len() {
            return Ok(self.buf.get(self.pos..).unwrap_or_default());
        }
        Ok(match self.segments.get(self.index) {
            Some(Segment::Bytes(bytes)) => usize::try_from(self.offset)
                .ok()
                .and_then(|offset| bytes.get(offset..))
                .unwrap_or_default(),
            _ => &[],
        })
    }

    fn consume(&mut self, amount: usize) {
        if self.pos < self.buf.len() {
            self.pos += amount;
        } else {
            self.offset += amount as u64;
        }
    }
}

impl Read for Reader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let chunk = self.fill_buf()?;
        let n = chunk.len().min(out.len());
        if let (Some(to), Some(from)) = (out.get_mut(..n), chunk.get(..n)) {
            to.copy_from_slice(from);
        }
        self.consume(n);
        Ok(n)
    }
}
