//! The MIME tree of a message (RFC 2046 §5.1) and its rendering into segments.

use super::boundary::{boundary, RandomSource};
use super::error::Error;
use super::header::HeaderWriter;
use super::stream::Segment;
use super::transfer::TransferEncoding;
use std::path::PathBuf;

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
