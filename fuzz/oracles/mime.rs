//! Fuzz oracle for the MIME builder: arbitrary builder inputs → encode → parse → compare.
//!
//! The input is split at 0xFF into fields (flags, subject, display name, address list, text,
//! HTML, file name, attachment bytes, custom header value). Whatever the builder accepts must
//! come out wire-safe and decode, with mail-parser, to exactly what went in. Every refusal is
//! one the input explains, each named below: a line break or NUL, an empty value, a file name
//! over 1,024 octets, a non-ASCII local part without SMTPUTF8, or a recipient the envelope
//! cannot carry, for the reason RFC 5321's parser gives. Any other refusal is a finding.

use mail_parser::{MessageParser, MimeHeaders};
use smtpwire::address::Mailbox;
use smtpwire::mime::{
    Address, Attachment, Error, Field, Invalid, Message, NamedAddress, SeededRandom,
};
use smtpwire::InputError;

pub fn run(data: &[u8]) {
    let mut fields = data.split(|&b| b == 0xff);
    let flags = fields.next().and_then(|f| f.first().copied()).unwrap_or(0);
    let mut text = || String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned();
    let (subject, name, to, body, html, file_name) =
        (text(), text(), text(), text(), text(), text());
    let (attachment, header) = (text().into_bytes(), text());
    let breaks = |s: &str| s.contains(['\r', '\n', '\0', '\u{85}', '\u{2028}', '\u{2029}']);

    let from = match NamedAddress::with_name(&name, "from@example.com") {
        Ok(from) => from,
        Err(_) => return assert!(breaks(&name), "display name refused: {name:?}"),
    };
    let to_list = Address::parse_list(&to).ok();
    let mut builder = Message::builder()
        .from(from)
        .subject(subject.as_str())
        .text(body.as_str())
        .header("X-Fuzz", &header)
        .allow_8bit(flags & 1 != 0)
        .allow_utf8_addresses(flags & 2 != 0)
        .random_source(SeededRandom::new(u64::from(flags)));
    if to_list.is_some() {
        builder = builder.to(to.as_str());
    }
    if flags & 4 != 0 {
        builder = builder.html(html.as_str());
    }
    if flags & 8 != 0 {
        let part = Attachment::from_bytes(file_name.as_str(), attachment.clone());
        builder = builder.attach(if flags & 16 != 0 && flags & 4 != 0 {
            part.content_id("part")
        } else {
            part
        });
    }
    let message = match builder.build() {
        Ok(message) => message,
        Err(Error::Invalid {
            reason: Invalid::LineBreak | Invalid::Nul,
            ..
        }) => {
            return assert!(breaks(&subject) || breaks(&header) || breaks(&file_name));
        }
        Err(Error::Invalid {
            reason: Invalid::Empty,
            ..
        }) => return,
        Err(Error::Invalid {
            reason: Invalid::TooLong,
            ..
        }) => return assert!(file_name.len() > 1024),
        Err(Error::Invalid {
            reason: Invalid::NeedsSmtpUtf8,
            ..
        }) => return assert!(flags & 2 == 0),
        // A header may hold addresses the envelope cannot carry (RFC 5322 allows a tab in a
        // quoted local part, any domain literal, a path over RFC 5321's 256 octets): the
        // refusal must name the reason RFC 5321's parser gives for one of them.
        Err(Error::Invalid {
            field: Field::Envelope,
            reason: Invalid::Envelope(InputError::Address(why)),
        }) => {
            let refused = recipients(&to_list)
                .any(|m| Mailbox::parse(m.address()) == Err(InputError::Address(why)));
            return assert!(refused, "{to:?}: {why}");
        }
        Err(e) => panic!("unexpected refusal: {e}"),
    };
    let bytes = message.to_bytes().expect("in-memory messages always write");
    assert_eq!(bytes.len() as u64, message.encoded_len());
    check_wire(&bytes);

    let parsed = MessageParser::default()
        .parse(&bytes[..])
        .expect("mail-parser rejects our output");
    assert_eq!(parsed.subject().unwrap_or_default(), subject);
    let parsed_from = parsed.from().and_then(|a| a.first()).expect("no From");
    assert_eq!(parsed_from.address(), Some("from@example.com"));
    assert_eq!(parsed_from.name().unwrap_or_default(), name);
    if let Some(list) = &to_list {
        let mailboxes: Vec<&NamedAddress> = list.iter().flat_map(Address::mailboxes).collect();
        let parsed_to: Vec<_> = parsed.to().map(|a| a.iter().collect()).unwrap_or_default();
        assert_eq!(parsed_to.len(), mailboxes.len(), "address count for {to:?}");
        // mail-parser 0.11 drops quoted local parts ("a b"@x reads as @x); compare the rest.
        for (got, want) in parsed_to.iter().zip(&mailboxes) {
            if !want.local_part().starts_with('"') {
                assert_eq!(got.address(), Some(want.address()));
            }
        }
    }
    assert_eq!(
        parsed
            .headers()
            .iter()
            .filter(|h| h.name().eq_ignore_ascii_case("subject"))
            .count(),
        1
    );
    assert!(parsed
        .headers()
        .iter()
        .all(|h| !h.name().eq_ignore_ascii_case("bcc")));

    let expected_body = canonical(&body);
    let text_part = parsed
        .text_part(0)
        .filter(|p| !p.is_text_html())
        .and_then(|p| p.text_contents());
    assert_eq!(text_part.map(canonical).unwrap_or_default(), expected_body);
    if flags & 8 != 0 {
        let base = file_name.rsplit(['/', '\\']).next().unwrap_or_default();
        let part = parsed.attachments().next().expect("attachment lost");
        assert_eq!(part.attachment_name(), Some(base));
        if !part.is_text() {
            assert_eq!(part.contents(), &attachment[..]);
        }
    }
}

/// Every mailbox of the parsed `To` list.
fn recipients(list: &Option<Vec<Address>>) -> impl Iterator<Item = &NamedAddress> {
    list.iter().flatten().flat_map(Address::mailboxes)
}

/// Line endings as `\n`, with the final line break the encoder adds to text.
fn canonical(text: &str) -> String {
    let mut text = text.replace("\r\n", "\n").replace('\r', "\n");
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// CRLF only, no NUL, no line over 998 octets.
fn check_wire(bytes: &[u8]) {
    assert!(!bytes.contains(&0), "NUL in output");
    let mut line = 0usize;
    let mut previous = 0u8;
    for &b in bytes {
        match b {
            b'\n' => {
                assert_eq!(previous, b'\r', "bare LF");
                assert!(line <= 999, "line too long");
                line = 0;
            }
            _ if previous == b'\r' => panic!("bare CR"),
            _ => line += 1,
        }
        previous = b;
    }
    assert!(bytes.ends_with(b"\r\n"));
}
