//! Builds RFC 5322 messages with MIME bodies; knows nothing about SMTP.
//!
//! ```
//! use smtpwire::mime::{Attachment, Message};
//!
//! let message = Message::builder()
//!     .from("张三 <zhangsan@qq.com>")
//!     .to("李四 <lisi@163.com>, bob@example.com")
//!     .bcc("audit@example.com")
//!     .subject("季度报告 Q3")
//!     .text("请查收附件。")
//!     .html("<p>请查收附件。</p>")
//!     .attach(Attachment::from_bytes("报告.pdf", b"%PDF-1.7".to_vec()))
//!     .build()?;
//!
//! assert_eq!(message.envelope_to().len(), 3);
//! let bytes = message.to_bytes()?;
//! assert_eq!(bytes.len() as u64, message.encoded_len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What comes out is ready for SMTP `DATA` as it is: CRLF line endings only, no NUL, no line
//! over 998 octets, headers folded at 78 columns. Whatever the caller passes, no value can
//! start a header line of its own: line breaks are refused with a typed [`Error`], everything
//! else is quoted or encoded (RFC 2047 words in headers, RFC 2231 and RFC 2047 for file names).
//!
//! Bodies are 7bit, quoted-printable or base64, whichever fits (8bit only when allowed).
//! Attachments from files are read and encoded block by block while the message is written, so
//! memory use does not grow with their size; [`Message::encoded_len`] is known beforehand.
//! Boundaries and the Message-ID come from an injectable [`RandomSource`] and the date from
//! [`MessageBuilder::date`], so output can be made byte-for-byte reproducible.

mod address;
mod attachment;
mod boundary;
mod builder;
mod content_type;
mod date;
mod encoded_word;
mod envelope;
mod error;
mod header;
mod message_id;
mod param;
mod part;
mod punycode;
mod stream;
mod transfer;

pub use address::{Address, Group, IntoAddresses, NamedAddress};
pub use attachment::{Attachment, Disposition};
pub use boundary::{OsRandom, RandomSource, SeededRandom};
pub use builder::MessageBuilder;
pub use content_type::ContentType;
pub use date::Date;
pub use error::{Error, Field, Invalid};
pub use message_id::MessageId;
pub use stream::Reader;

use envelope::Paths;
use std::io::{self, BufRead, Write};
use std::sync::Arc;
use stream::Segment;

/// A built message: immutable, cheap to clone, and writable any number of times with the same
/// bytes.
#[derive(Clone)]
pub struct Message {
    segments: Arc<[Segment]>,
    encoded_len: u64,
    paths: Paths,
    message_id: MessageId,
    needs_8bitmime: bool,
    needs_smtputf8: bool,
}

impl Message {
    /// Starts a message.
    pub fn builder() -> MessageBuilder {
        MessageBuilder::new()
    }

    fn new(
        segments: Vec<Segment>,
        paths: Paths,
        message_id: MessageId,
        needs_8bitmime: bool,
        utf8_headers: bool,
    ) -> Self {
        let encoded_len = segments.iter().map(Segment::encoded_len).sum();
        let needs_smtputf8 = utf8_headers || paths.needs_smtputf8();
        Self {
            segments: segments.into(),
            encoded_len,
            paths,
            message_id,
            needs_8bitmime,
            needs_smtputf8,
        }
    }

    /// The exact length of the encoded message in octets, for the SMTP `SIZE` parameter.
    pub fn encoded_len(&self) -> u64 {
        self.encoded_len
    }

    /// The envelope's reverse-path (`MAIL FROM`): given to the builder, or `Sender`, or else
    /// the first `From`.
    pub fn envelope_from(&self) -> &crate::address::Mailbox {
        &self.paths.from
    }

    /// The envelope's forward-paths (`RCPT TO`): given to the builder, or every `To`, `Cc` and
    /// `Bcc` address (group members included), each once.
    pub fn envelope_to(&self) -> &[crate::address::Mailbox] {
        &self.paths.to
    }

    /// The Message-ID, generated unless one was given.
    pub fn message_id(&self) -> &MessageId {
        &self.message_id
    }

    /// Whether a body is 8bit, so the server must offer 8BITMIME (`BODY=8BITMIME`).
    pub fn needs_8bitmime(&self) -> bool {
        self.needs_8bitmime
    }

    /// Whether the headers or the envelope hold UTF-8 addresses, so the server must offer
    /// SMTPUTF8.
    pub fn needs_smtputf8(&self) -> bool {
        self.needs_smtputf8
    }

    /// The encoded message as a stream, for feeding a transport chunk by chunk.
    pub fn reader(&self) -> Reader {
        Reader::new(Arc::clone(&self.segments))
    }

    /// Writes the encoded message to `out`, attachments from files in bounded chunks.
    pub fn write_to<W: Write + ?Sized>(&self, out: &mut W) -> io::Result<()> {
        let mut reader = self.reader();
        loop {
            let chunk = reader.fill_buf()?;
            if chunk.is_empty() {
                return Ok(());
            }
            out.write_all(chunk)?;
            let n = chunk.len();
            reader.consume(n);
        }
    }

    /// The encoded message in memory; fails only if an attachment file cannot be read.
    pub fn to_bytes(&self) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(usize::try_from(self.encoded_len).unwrap_or(0));
        self.write_to(&mut out)?;
        Ok(out)
    }
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("message_id", &self.message_id)
            .field("encoded_len", &self.encoded_len)
            .field("envelope_from", &self.paths.from)
            .field("envelope_to", &self.paths.to)
            .finish_non_exhaustive()
    }
}
