//! What can be wrong with a message, field by field.

use std::{fmt, io, path::PathBuf};

/// A message that cannot be built: nothing was encoded.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A value the caller gave cannot be written into `field` safely or correctly.
    Invalid {
        /// Where the value was going.
        field: Field,
        /// What is wrong with it.
        reason: Invalid,
    },
    /// There is no `From`: RFC 5322 §3.6 requires an originator.
    MissingFrom,
    /// `From` names several authors but there is no `Sender` (RFC 5322 §3.6.2).
    MissingSender,
    /// A part with a Content-ID needs an HTML body that can refer to it by `cid:`.
    InlineWithoutHtml,
    /// Every boundary drawn from the random source occurred in the content; a constant source
    /// can cause this, a random one cannot.
    BoundaryCollision,
    /// An attachment file could not be opened or measured.
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// The field a rejected value was meant for.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Field {
    /// `From`.
    From,
    /// `Sender`.
    Sender,
    /// `Reply-To`.
    ReplyTo,
    /// `To`.
    To,
    /// `Cc`.
    Cc,
    /// `Bcc` (envelope only).
    Bcc,
    /// `Subject`.
    Subject,
    /// `Message-ID`.
    MessageId,
    /// `In-Reply-To`.
    InReplyTo,
    /// `References`.
    References,
    /// The name of a custom header.
    HeaderName,
    /// The value of the custom header with this name.
    Header(String),
    /// The content type of an attachment.
    ContentType,
    /// The file name of an attachment.
    FileName,
    /// The Content-ID of an inline part.
    ContentId,
    /// An address of the SMTP envelope.
    Envelope,
}

/// Why a value was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Invalid {
    /// CR, LF, NEL (U+0085), or the Unicode line or paragraph separator (U+2028, U+2029):
    /// any of them could start a new header line.
    LineBreak,
    /// A NUL character.
    Nul,
    /// The value is empty where something is required.
    Empty,
    /// The value is longer than its field allows.
    TooLong,
    /// The value does not follow the field's grammar.
    Syntax(&'static str),
    /// An address with a non-ASCII local part, which needs SMTPUTF8 (RFC 6531) and RFC 6532
    /// headers; see [`MessageBuilder::allow_utf8_addresses`](super::MessageBuilder::allow_utf8_addresses).
    NeedsSmtpUtf8,
    /// A header the builder writes itself (`From`, `Content-Type`, …), not a custom one.
    Reserved,
    /// The envelope validator refused the address.
    Envelope(crate::InputError),
}

impl Error {
    pub(crate) fn invalid(field: Field, reason: Invalid) -> Self {
        Self::Invalid { field, reason }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid { field, reason } => write!(f, "invalid {field}: {reason}"),
            Self::MissingFrom => f.write_str("the message has no from address"),
            Self::MissingSender => {
                f.write_str("a message with several from addresses needs a sender")
            }
            Self::InlineWithoutHtml => f.write_str("parts with a content-id need an html body"),
            Self::BoundaryCollision => f.write_str("every boundary drawn occurs in the content"),
            Self::File { path, source } => {
                write!(f, "cannot attach {}: {source}", path.display())
            }
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::From => f.write_str("from"),
            Self::Sender => f.write_str("sender"),
            Self::ReplyTo => f.write_str("reply-to"),
            Self::To => f.write_str("to"),
            Self::Cc => f.write_str("cc"),
            Self::Bcc => f.write_str("bcc"),
            Self::Subject => f.write_str("subject"),
            Self::MessageId => f.write_str("message-id"),
            Self::InReplyTo => f.write_str("in-reply-to"),
            Self::References => f.write_str("references"),
            Self::HeaderName => f.write_str("header name"),
            Self::Header(name) => write!(f, "{name:?} header"),
            Self::ContentType => f.write_str("content type"),
            Self::FileName => f.write_str("file name"),
            Self::ContentId => f.write_str("content-id"),
            Self::Envelope => f.write_str("envelope address"),
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LineBreak => f.write_str("contains a line break"),
            Self::Nul => f.write_str("contains a nul character"),
            Self::Empty => f.write_str("is empty"),
            Self::TooLong => f.write_str("is too long"),
            Self::Syntax(why) => f.write_str(why),
            Self::NeedsSmtpUtf8 => {
                f.write_str("a non-ascii local part needs smtputf8, which was not allowed")
            }
            Self::Reserved => f.write_str("is written by the builder itself"),
            Self::Envelope(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Invalid { reason, .. } => Some(reason),
            Self::File { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl std::error::Error for Invalid {}

/// Refuses what could end a header line: CR, LF, NEL, LS, PS, and NUL.
pub(crate) fn check_line(value: &str) -> Result<(), Invalid> {
    for c in value.chars() {
        match c {
            '\0' => return Err(Invalid::Nul),
            '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}' => return Err(Invalid::LineBreak),
            _ => {}
        }
    }
    Ok(())
}
