//! Content types (RFC 2045 §5) for attachments, given or guessed from the file name.

use super::error::{check_line, Invalid};
use std::fmt;

/// A media type, `type/subtype`, without parameters: `charset`, `name` and `boundary` are the
/// builder's to write.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContentType(String);

/// Extensions the builder recognises; anything else is `application/octet-stream`.
const TABLE: &[(&str, &str)] = &[
    ("7z", "application/x-7z-compressed"),
    ("avif", "image/avif"),
    ("bmp", "image/bmp"),
    ("csv", "text/csv"),
    ("doc", "application/msword"),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    ("epub", "application/epub+zip"),
    ("gif", "image/gif"),
    ("gz", "application/gzip"),
    ("heic", "image/heic"),
    ("htm", "text/html"),
    ("html", "text/html"),
    ("ics", "text/calendar"),
    ("jpeg", "image/jpeg"),
    ("jpg", "image/jpeg"),
    ("json", "application/json"),
    ("md", "text/markdown"),
    ("mov", "video/quicktime"),
    ("mp3", "audio/mpeg"),
    ("mp4", "video/mp4"),
    ("odp", "application/vnd.oasis.opendocument.presentation"),
    ("ods", "application/vnd.oasis.opendocument.spreadsheet"),
    ("odt", "application/vnd.oasis.opendocument.text"),
    ("ogg", "audio/ogg"),
    ("pdf", "application/pdf"),
    ("png", "image/png"),
    ("ppt", "application/vnd.ms-powerpoint"),
    (
        "pptx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
    ("rar", "application/vnd.rar"),
    ("rtf", "application/rtf"),
    ("svg", "image/svg+xml"),
    ("tar", "application/x-tar"),
    ("tif", "image/tiff"),
    ("tiff", "image/tiff"),
    ("txt", "text/plain"),
    ("wav", "audio/wav"),
    ("webp", "image/webp"),
    ("xls", "application/vnd.ms-excel"),
    (
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ("xml", "application/xml"),
    ("zip", "application/zip"),
];

impl ContentType {
    /// `application/octet-stream`: bytes of unknown kind.
    pub fn octet_stream() -> Self {
        Self(String::from("application/octet-stream"))
    }

    /// Parses `type/subtype`, two RFC 2045 tokens, lower-cased. Multipart and message types are
    /// refused: the builder makes multiparts itself, and RFC 2046 §5.2 forbids base64 for
    /// `message/*`.
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        check_line(text)?;
        let (kind, subtype) = text
            .split_once('/')
            .ok_or(Invalid::Syntax("a content type is type/subtype"))?;
        let is_token = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| (0x21..0x7f).contains(&b) && !b"()<>@,;:\\\"/[]?=".contains(&b))
        };
        if !is_token(kind) || !is_token(subtype) {
            return Err(Invalid::Syntax(
                "a content type is two tokens without parameters",
            ));
        }
        if text.len() > 127 {
            return Err(Invalid::TooLong);
        }
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("multipart/") || lower.starts_with("message/") {
            return Err(Invalid::Syntax(
                "multipart and message types are not for attachments",
            ));
        }
        Ok(Self(lower))
    }

    /// The type for a file name's extension, from a small built-in table.
    pub fn from_file_name(name: &str) -> Self {
        let extension = name
            .rsplit_once('.')
            .map(|(_, ext)| ext.to_ascii_lowercase())
            .unwrap_or_default();
        TABLE
            .binary_search_by(|(ext, _)| (*ext).cmp(extension.as_str()))
            .ok()
            .and_then(|i| TABLE.get(i))
            .map_or_else(Self::octet_stream, |(_, mime)| Self(String::from(*mime)))
    }

    /// `type/subtype`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_for_binary_search() {
        assert!(TABLE.windows(2).all(|w| matches!(w, [a, b] if a.0 < b.0)));
    }

    #[test]
    fn guesses_by_extension() {
        assert_eq!(
            ContentType::from_file_name("报告.PDF").as_str(),
            "application/pdf"
        );
        assert_eq!(
            ContentType::from_file_name("a.tar.gz").as_str(),
            "application/gzip"
        );
        assert_eq!(
            ContentType::from_file_name("noext").as_str(),
            "application/octet-stream"
        );
    }
}
