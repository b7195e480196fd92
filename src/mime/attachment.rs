//! Attachments and inline parts: bytes or a file, a name, a type, a disposition (RFC 2183).

use std::path::PathBuf;

/// A file sent with the message: in memory, or read from disk in bounded chunks while the
/// message is written.
#[derive(Clone, Debug)]
pub struct Attachment {
    pub(crate) source: Source,
    pub(crate) file_name: Option<String>,
    pub(crate) content_type: Option<String>,
    pub(crate) content_id: Option<String>,
    pub(crate) disposition: Disposition,
}

#[derive(Clone, Debug)]
pub(crate) enum Source {
    Bytes(Vec<u8>),
    File(PathBuf),
}

/// How the receiving client should present a part (RFC 2183 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Disposition {
    /// Offered as a file to save (`attachment`).
    Attachment,
    /// Shown within the message (`inline`).
    Inline,
}

impl Attachment {
    /// An attachment of `data` named `file_name`; the type is guessed from the extension.
    pub fn from_bytes(file_name: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        Self::new(Source::Bytes(data.into()), Some(file_name.into()))
    }

    /// An attachment read from `path` when the message is written, named after the file.
    ///
    /// The builder opens the file and takes its size then, so the encoded length is known
    /// before sending; writing fails if the size has changed by the time it is read.
    pub fn from_file(path: impl Into<PathBuf>) -> Self {
        Self::new(Source::File(path.into()), None)
    }

    fn new(source: Source, file_name: Option<String>) -> Self {
        Self {
            source,
            file_name,
            content_type: None,
            content_id: None,
            disposition: Disposition::Attachment,
        }
    }

    settings! {
        /// The name the recipient sees; directories are stripped.
        set_optional file_name: String => file_name;
        /// The media type, `type/subtype`, instead of the one guessed from the file name.
        set_optional content_type: String => content_type;
        /// How the recipient's client should present the part; `attachment` unless set.
        set disposition: Disposition => disposition;
    }

    /// Makes this an inline part of the HTML body, which refers to it as `cid:{id}`: it goes
    /// into a `multipart/related` with the HTML.
    pub fn content_id(mut self, id: impl Into<String>) -> Self {
        self.content_id = Some(id.into());
        self.disposition = Disposition::Inline;
        self
    }
}
