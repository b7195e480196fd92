//! The MIME tree of a message (RFC 2046 §5.1): laid out from the bodies and attachments, then
//! rendered into segments.

use super::attachment::{Attachment, Disposition, Source};
use super::boundary::{boundary, RandomSource};
use super::content_type::ContentType;
use super::error::{check_line, Error, Field, Invalid};
use super::header::{write_field, HeaderWriter};
use super::message_id::check_content_id;
use super::param;
use super::stream::Segment;
use super::transfer::{
    base64_lines, canonical_text, choose_for_text, QuotedPrintable, TransferEncoding,
};
use std::fs::File;
use std::path::PathBuf;

/// File names longer than this (in octets) are refused.
const MAX_FILE_NAME: usize = 1024;

/// Draws per boundary before giving up on a source that keeps colliding with the content.
const BOUNDARY_DRAWS: usize = 8;

/// A body part or a multipart.
pub(crate) enum Node {
    Leaf {
        headers: Vec<u8>,
        body: Body,
    },
    Multipart {
        subtype: &'static str,
        children: Vec<Node>,
    },
}

/// The content of a leaf part.
pub(crate) enum Body {
    /// Encoded text; 7bit and 8bit text is checked against boundaries.
    Text(Vec<u8>, TransferEncoding),
    /// Bytes in memory, base64-encoded when written.
    Base64(Vec<u8>),
    /// A file of known length, base64-encoded when written.
    File(PathBuf, u64),
}

impl Node {
    /// Whether the encoded node (headers, blank line, body) ends with CRLF.
    fn ends_with_crlf(&self) -> bool {
        match self {
            Self::Multipart { .. } => false,
            Self::Leaf {
                body: Body::Text(text, _),
                ..
            } => text.is_empty() || text.ends_with(b"\r\n"),
            Self::Leaf {
                body: Body::Base64(data),
                ..
            } => data.is_empty(),
            Self::Leaf {
                body: Body::File(_, len),
                ..
            } => *len == 0,
        }
    }

    fn multipart_count(&self) -> usize {
        match self {
            Self::Leaf { .. } => 0,
            Self::Multipart { children, .. } => {
                1 + children.iter().map(Self::multipart_count).sum::<usize>()
            }
        }
    }

    /// Text that goes out unencoded, where a boundary could collide.
    fn unencoded<'a>(&'a self, out: &mut Vec<&'a [u8]>) {
        match self {
            Self::Leaf {
                body: Body::Text(text, TransferEncoding::SevenBit | TransferEncoding::EightBit),
                ..
            } => out.push(text),
            Self::Leaf { .. } => {}
            Self::Multipart { children, .. } => {
                children.iter().for_each(|child| child.unencoded(out))
            }
        }
    }
}

/// Turns the tree into segments, after `head` (the message header fields).
pub(crate) fn render(
    root: Node,
    head: Vec<u8>,
    random: &mut dyn RandomSource,
) -> Result<Vec<Segment>, Error> {
    let mut boundaries = {
        let mut plain = Vec::new();
        root.unencoded(&mut plain);
        let mut drawn: Vec<String> = Vec::new();
        for _ in 0..root.multipart_count() {
            let fresh = draw(random, &plain, &drawn)?;
            drawn.push(fresh);
        }
        drawn
    };
    // Multiparts are rendered in the order they were counted: pre-order.
    boundaries.reverse();
    let ends_with_crlf = root.ends_with_crlf();
    let mut renderer = Renderer {
        segments: Vec::new(),
        current: head,
        boundaries,
    };
    renderer.node(root);
    if !ends_with_crlf {
        renderer.current.extend_from_slice(b"\r\n");
    }
    renderer.flush();
    Ok(renderer.segments)
}

/// A boundary that occurs in no unencoded text and differs from the others.
fn draw(random: &mut dyn RandomSource, plain: &[&[u8]], drawn: &[String]) -> Result<String, Error> {
    for _ in 0..BOUNDARY_DRAWS {
        let candidate = boundary(random);
        let collides = drawn.contains(&candidate)
            || plain
                .iter()
                .any(|text| contains(text, candidate.as_bytes()));
        if !collides {
            return Ok(candidate);
        }
    }
    Err(Error::BoundaryCollision)
}

struct Renderer {
    segments: Vec<Segment>,
    current: Vec<u8>,
    boundaries: Vec<String>,
}

impl Renderer {
    fn flush(&mut self) {
        if !self.current.is_empty() {
            self.segments
                .push(Segment::Bytes(std::mem::take(&mut self.current)));
        }
    }

    fn node(&mut self, node: Node) {
        match node {
            Node::Leaf { headers, body } => {
                self.current.extend_from_slice(&headers);
                self.current.extend_from_slice(b"\r\n");
                match body {
                    Body::Text(text, _) => self.current.extend_from_slice(&text),
                    Body::Base64(data) => {
                        self.flush();
                        self.segments.push(Segment::Base64(data));
                    }
                    Body::File(path, len) => {
                        self.flush();
                        self.segments.push(Segment::File { path, len });
                    }
                }
            }
            Node::Multipart { subtype, children } => {
                let boundary = self.boundaries.pop().unwrap_or_default();
                let mut w = HeaderWriter::new(&mut self.current, "Content-Type");
                w.token(&format!("multipart/{subtype};"));
                if subtype == "related" {
                    // RFC 2387 §3.1: `type` names the root part's type; the root is the HTML.
                    w.token("type=\"text/html\";");
                }
                w.token(&format!("boundary=\"{boundary}\""));
                w.finish();
                self.current.extend_from_slice(b"\r\n");
                for child in children {
                    self.delimiter(&boundary, b"\r\n");
                    self.node(child);
                    // The CRLF before a delimiter belongs to the delimiter (RFC 2046 §5.1.1).
                    self.current.extend_from_slice(b"\r\n");
                }
                self.delimiter(&boundary, b"--");
            }
        }
    }

    fn delimiter(&mut self, boundary: &str, end: &[u8]) {
        self.current.extend_from_slice(b"--");
        self.current.extend_from_slice(boundary.as_bytes());
        self.current.extend_from_slice(end);
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Lays out the parts: `mixed` > `alternative` > `related`, each level only when needed.
pub(crate) fn body_tree(
    text: Option<String>,
    html: Option<String>,
    attachments: Vec<Attachment>,
    allow_8bit: bool,
) -> Result<Node, Error> {
    let (inline, attached): (Vec<_>, Vec<_>) = attachments
        .into_iter()
        .partition(|a| a.content_id.is_some());
    if !inline.is_empty() && html.is_none() {
        return Err(Error::InlineWithoutHtml);
    }
    let text = text.map(|text| text_leaf(&text, "plain", allow_8bit));
    let html = match html {
        Some(html) if inline.is_empty() => Some(text_leaf(&html, "html", allow_8bit)),
        Some(html) => {
            let mut children = vec![text_leaf(&html, "html", allow_8bit)];
            for attachment in inline {
                children.push(attachment_leaf(attachment)?);
            }
            Some(Node::Multipart {
                subtype: "related",
                children,
            })
        }
        None => None,
    };
    let body = match (text, html) {
        (Some(text), Some(html)) => Some(Node::Multipart {
            subtype: "alternative",
            children: vec![text, html],
        }),
        (text, html) => text.or(html),
    };
    if attached.is_empty() {
        return Ok(body.unwrap_or_else(|| text_leaf("", "plain", allow_8bit)));
    }
    let mut children: Vec<Node> = body.into_iter().collect();
    for attachment in attached {
        children.push(attachment_leaf(attachment)?);
    }
    Ok(Node::Multipart {
        subtype: "mixed",
        children,
    })
}

pub(crate) fn has_8bit(node: &Node) -> bool {
    match node {
        Node::Leaf {
            body: Body::Text(_, encoding),
            ..
        } => *encoding == TransferEncoding::EightBit,
        Node::Leaf { .. } => false,
        Node::Multipart { children, .. } => children.iter().any(has_8bit),
    }
}

fn text_leaf(text: &str, subtype: &str, allow_8bit: bool) -> Node {
    let canonical = canonical_text(text);
    let encoding = choose_for_text(&canonical, allow_8bit);
    let body = match encoding {
        TransferEncoding::QuotedPrintable => {
            let mut out = Vec::with_capacity(canonical.len() * 2);
            QuotedPrintable::encode(&canonical, &mut out);
            out
        }
        TransferEncoding::Base64 => {
            let mut out = Vec::with_capacity(canonical.len() * 3 / 2);
            base64_lines(&canonical, true, &mut out);
            out
        }
        TransferEncoding::SevenBit | TransferEncoding::EightBit => canonical,
    };
    let headers = format!(
        "Content-Type: text/{subtype}; charset=utf-8\r\nContent-Transfer-Encoding: {}\r\n",
        encoding.as_str()
    );
    Node::Leaf {
        headers: headers.into_bytes(),
        body: Body::Text(body, encoding),
    }
}

fn attachment_leaf(attachment: Attachment) -> Result<Node, Error> {
    let (body, name_from_path) = match attachment.source {
        Source::Bytes(data) => (Body::Base64(data), None),
        Source::File(path) => {
            let measured = File::open(&path)
                .and_then(|file| file.metadata())
                .and_then(|meta| {
                    if meta.is_file() {
                        Ok(meta.len())
                    } else {
                        Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidInput,
                            "not a regular file",
                        ))
                    }
                });
            let len = match measured {
                Ok(len) => len,
                Err(source) => return Err(Error::File { path, source }),
            };
            let name = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned());
            (Body::File(path, len), name)
        }
    };
    let file_name = attachment.file_name.or(name_from_path).unwrap_or_default();
    let file_name =
        checked_file_name(&file_name).map_err(|reason| Error::invalid(Field::FileName, reason))?;
    let content_type = match &attachment.content_type {
        Some(given) => ContentType::parse(given)
            .map_err(|reason| Error::invalid(Field::ContentType, reason))?,
        None => ContentType::from_file_name(file_name),
    };
    let content_id = attachment
        .content_id
        .as_deref()
        .map(check_content_id)
        .transpose()
        .map_err(|reason| Error::invalid(Field::ContentId, reason))?;

    let mut headers = Vec::with_capacity(256);
    write_field(&mut headers, "Content-Type", |w| {
        w.token(content_type.as_str());
        param::write_quoted(w, "name", file_name);
    });
    headers.extend_from_slice(b"Content-Transfer-Encoding: base64\r\n");
    write_field(&mut headers, "Content-Disposition", |w| {
        w.token(match attachment.disposition {
            Disposition::Attachment => "attachment",
            Disposition::Inline => "inline",
        });
        param::write_file_name(w, "filename", file_name);
    });
    if let Some(id) = content_id {
        write_field(&mut headers, "Content-ID", |w| w.token(&format!("<{id}>")));
    }
    Ok(Node::Leaf { headers, body })
}

/// The last path component of a file name, refused if it could break a header or is empty.
fn checked_file_name(name: &str) -> Result<&str, Invalid> {
    check_line(name)?;
    let base = param::base_name(name);
    if base.is_empty() || base == "." || base == ".." {
        return Err(Invalid::Empty);
    }
    if base.len() > MAX_FILE_NAME {
        return Err(Invalid::TooLong);
    }
    Ok(base)
}
