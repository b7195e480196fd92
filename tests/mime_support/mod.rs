//! Shared checks for the MIME tests: wire invariants, and the two independent parsers
//! (mail-parser, and Python's `email` package) as oracles.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use mail_parser::MimeHeaders;
use std::path::PathBuf;
use std::process::Command;

/// What every encoded message must satisfy for SMTP DATA to take it unchanged.
pub(crate) fn assert_wire_safe(bytes: &[u8]) {
    assert!(!bytes.contains(&0), "NUL in output");
    assert!(bytes.ends_with(b"\r\n"), "message does not end with CRLF");
    let mut line_len = 0;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(bytes.get(i + 1), Some(&b'\n'), "bare CR at {i}"),
            b'\n' => {
                assert_eq!(bytes[i - 1], b'\r', "bare LF at {i}");
                assert!(
                    line_len - 1 <= 998,
                    "line of {} octets ending at {i}",
                    line_len - 1
                );
                line_len = 0;
                continue;
            }
            _ => {}
        }
        line_len += 1;
    }
    let head_end = find(bytes, b"\r\n\r\n").map_or(bytes.len(), |i| i + 2);
    for line in bytes[..head_end].split(|&b| b == b'\n') {
        assert!(line.len() <= 999, "header line too long");
    }
}

pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The top-level header lines, unfolded, as (name, raw value).
pub(crate) fn header_fields(bytes: &[u8]) -> Vec<(String, String)> {
    let end = find(bytes, b"\r\n\r\n").expect("no header end");
    let head = std::str::from_utf8(&bytes[..end]).expect("header is not UTF-8");
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            fields
                .last_mut()
                .expect("continuation first")
                .1
                .push_str(line);
        } else {
            let (name, value) = line.split_once(':').expect("header line without ':'");
            fields.push((name.to_owned(), value.to_owned()));
        }
    }
    fields
}

/// What a parser decoded from a message.
#[derive(Default, PartialEq)]
pub(crate) struct Decoded {
    pub(crate) subject: Option<String>,
    /// (field, display name, address) for every mailbox, group members included.
    pub(crate) addresses: Vec<(String, Option<String>, String)>,
    pub(crate) text: Option<String>,
    pub(crate) html: Option<String>,
    /// (file name, content).
    pub(crate) attachments: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for Decoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let attachments: Vec<_> = self
            .attachments
            .iter()
            .map(|(name, data)| {
                format!(
                    "{name:?}: {} bytes {:02x?}…",
                    data.len(),
                    &data[..data.len().min(8)]
                )
            })
            .collect();
        f.debug_struct("Decoded")
            .field("subject", &self.subject)
            .field("addresses", &self.addresses)
            .field(
                "text",
                &self
                    .text
                    .as_ref()
                    .map(|t| t.chars().take(300).collect::<String>()),
            )
            .field(
                "html",
                &self
                    .html
                    .as_ref()
                    .map(|t| t.chars().take(300).collect::<String>()),
            )
            .field("attachments", &attachments)
            .finish()
    }
}

pub(crate) fn mail_parser(bytes: &[u8]) -> Decoded {
    let message = mail_parser::MessageParser::default()
        .parse(bytes)
        .expect("mail-parser failed");
    let mut decoded = Decoded {
        subject: message.subject().map(str::to_owned),
        ..Decoded::default()
    };
    for (field, address) in [
        ("from", message.from()),
        ("to", message.to()),
        ("cc", message.cc()),
    ] {
        if let Some(address) = address {
            for addr in address.iter() {
                decoded.addresses.push((
                    field.to_owned(),
                    addr.name().map(str::to_owned),
                    addr.address().unwrap_or_default().to_owned(),
                ));
            }
        }
    }
    decoded.text = message
        .text_part(0)
        .and_then(|p| p.text_contents())
        .map(normalize);
    decoded.html = message
        .html_part(0)
        .and_then(|p| p.text_contents())
        .map(normalize);
    if message.text_part(0).map(|p| p.is_text_html()) == Some(true) {
        decoded.text = None;
    }
    if message.html_part(0).map(|p| p.is_text_html()) == Some(false) {
        decoded.html = None;
    }
    for part in message.attachments() {
        decoded.attachments.push((
            part.attachment_name().unwrap_or_default().to_owned(),
            part.contents().to_vec(),
        ));
    }
    decoded
}

const PYTHON: &str = r#"
import sys, os
from email import policy
from email.parser import BytesParser
path, out = sys.argv[1], sys.argv[2]
with open(path, 'rb') as f:
    msg = BytesParser(policy=policy.default).parse(f)
def emit(*fields):
    print(' '.join(fields))
def h(s):
    return s.encode('utf-8', 'surrogateescape').hex() + 'h'
if msg['subject'] is not None:
    emit('subject', h(str(msg['subject'])))
for field in ('from', 'to', 'cc'):
    header = msg[field]
    if header is None:
        continue
    for addr in header.addresses:
        emit('address', field, h(addr.display_name), h(addr.addr_spec))
if msg.get('bcc') is not None:
    emit('bcc')
for kind in ('plain', 'html'):
    part = msg.get_body((kind,))
    if part is not None and part.get_content_type() == 'text/' + kind:
        emit(kind, h(part.get_content()))
for i, part in enumerate(msg.walk()):
    if part.is_multipart() or not part.get_filename():
        continue
    data = part.get_content()
    if isinstance(data, str):
        data = data.encode('utf-8')
    dest = os.path.join(out, str(i))
    with open(dest, 'wb') as f:
        f.write(data)
    emit('attachment', h(part.get_filename()), dest)
defects = [str(d) for p in msg.walk() for d in p.defects]
emit('defects', h(';'.join(defects)))
"#;

fn unhex(text: &str) -> String {
    let text = text.strip_suffix('h').unwrap();
    let bytes: Vec<u8> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect();
    String::from_utf8(bytes).unwrap()
}

/// Whether Python's `email` package is there; on CI its absence is a failure.
pub(crate) fn python_available() -> bool {
    let found = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "python3 is required on CI"
        );
        eprintln!("python3 not found: skipping the Python round trip");
    }
    found
}

fn scratch_dir() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "smtpwire-mime-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Decodes with Python's `email` package (`policy.default`); the defects it reported come back
/// as the second value.
pub(crate) fn python(bytes: &[u8]) -> (Decoded, String) {
    let dir = scratch_dir();
    let eml = dir.join("message.eml");
    std::fs::write(&eml, bytes).unwrap();
    let out = dir.join("parts");
    std::fs::create_dir_all(&out).unwrap();
    let output = Command::new("python3")
        .arg("-c")
        .arg(PYTHON)
        .arg(&eml)
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut decoded = Decoded::default();
    let mut defects = String::new();
    for line in String::from_utf8(output.stdout).unwrap().lines() {
        let words: Vec<&str> = line.split(' ').collect();
        match words.as_slice() {
            ["subject", s] => decoded.subject = Some(unhex(s)),
            ["address", field, name, addr] => {
                let name = unhex(name);
                decoded.addresses.push((
                    (*field).to_owned(),
                    (!name.is_empty()).then_some(name),
                    unhex(addr),
                ));
            }
            ["bcc"] => panic!("python found a Bcc header"),
            ["plain", s] => decoded.text = Some(normalize(unhex(s))),
            ["html", s] => decoded.html = Some(normalize(unhex(s))),
            ["attachment", name, path] => decoded
                .attachments
                .push((unhex(name), std::fs::read(path).unwrap())),
            ["defects", d] => defects = unhex(d),
            _ => panic!("unexpected python output {line:?}"),
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
    (decoded, defects)
}

/// Line endings as `\n`, for comparing decoded text with what was given.
pub(crate) fn normalize(text: impl AsRef<str>) -> String {
    text.as_ref().replace("\r\n", "\n").replace('\r', "\n")
}
