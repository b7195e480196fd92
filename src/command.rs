//! SMTP commands, built only from validated types so that no caller input can end a command
//! line early or add one (CR, LF and NUL cannot be expressed).

use crate::address::{ClientName, Mailbox};
use crate::auth::Mechanism;
use crate::envelope::{xtext_encode, Body, Notify, Recipient, Ret};
use crate::secret::Secret;
use std::fmt;

/// RFC 5321 §4.5.3.1.4: a command line is at most 512 octets, CRLF included.
pub const MAX_COMMAND_LINE: usize = 512;

/// One command line the client sends.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `EHLO name`.
    Ehlo(ClientName),
    /// `HELO name`.
    Helo(ClientName),
    /// `STARTTLS` (RFC 3207).
    StartTls,
    /// `AUTH mechanism [initial-response]` (RFC 4954); the response is base64 and secret.
    Auth {
        /// The SASL mechanism.
        mechanism: Mechanism,
        /// The base64 initial response, if the mechanism sends one.
        initial_response: Option<Secret<String>>,
    },
    /// A base64 answer to a `334` challenge, secret.
    AuthResponse(Secret<String>),
    /// `*`: cancels an AUTH exchange (RFC 4954 §4).
    AuthCancel,
    /// `MAIL FROM:<path> [parameters]`.
    Mail(MailCommand),
    /// `RCPT TO:<path> [parameters]`.
    Rcpt(Recipient),
    /// `DATA`.
    Data,
    /// `BDAT size [LAST]` (RFC 3030); the chunk itself follows the line.
    Bdat {
        /// Octets in the chunk that follows.
        size: usize,
        /// Whether this is the last chunk.
        last: bool,
    },
    /// `RSET`.
    Rset,
    /// `NOOP`.
    Noop,
    /// `QUIT`.
    Quit,
}

/// The reverse-path and parameters of a `MAIL` command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailCommand {
    /// The reverse-path; `None` is `<>`.
    pub from: Option<Mailbox>,
    /// `SIZE=` (RFC 1870).
    pub size: Option<u64>,
    /// `BODY=` (RFC 6152, RFC 3030); `SevenBit` sends no parameter.
    pub body: Body,
    /// `SMTPUTF8` (RFC 6531).
    pub smtputf8: bool,
    /// `RET=` (RFC 3461).
    pub ret: Option<Ret>,
    /// `ENVID=`, xtext-encoded on the wire (RFC 3461).
    pub envid: Option<String>,
}

impl Command {
    /// Appends the command line, CRLF included, to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Ehlo(name) => out.extend_from_slice(format!("EHLO {name}").as_bytes()),
            Self::Helo(name) => out.extend_from_slice(format!("HELO {name}").as_bytes()),
            Self::StartTls => out.extend_from_slice(b"STARTTLS"),
            Self::Auth {
                mechanism,
                initial_response,
            } => {
                // Room for the whole line first: growing `out` after the secret is in it
                // would leave a copy of it in freed memory.
                let response_len = initial_response.as_ref().map_or(0, |r| r.expose().len());
                out.reserve("AUTH  =\r\n".len() + mechanism.name().len() + response_len);
                out.extend_from_slice(b"AUTH ");
                out.extend_from_slice(mechanism.name().as_bytes());
                if let Some(response) = initial_response {
                    out.push(b' ');
                    // RFC 4954 §4: an empty initial response is sent as "=".
                    let response = response.expose();
                    out.extend_from_slice(if response.is_empty() {
                        b"="
                    } else {
                        response.as_bytes()
                    });
                }
            }
            Self::AuthResponse(response) => {
                out.reserve(response.expose().len() + 2);
                out.extend_from_slice(response.expose().as_bytes());
            }
            Self::AuthCancel => out.push(b'*'),
            Self::Mail(mail) => mail.encode(out),
            Self::Rcpt(recipient) => encode_rcpt(recipient, out),
            Self::Data => out.extend_from_slice(b"DATA"),
            Self::Bdat { size, last } => {
                out.extend_from_slice(format!("BDAT {size}").as_bytes());
                if *last {
                    out.extend_from_slice(b" LAST");
                }
            }
            Self::Rset => out.extend_from_slice(b"RSET"),
            Self::Noop => out.extend_from_slice(b"NOOP"),
            Self::Quit => out.extend_from_slice(b"QUIT"),
        }
        out.extend_from_slice(b"\r\n");
    }

    /// The command line as bytes, CRLF included.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// A view for logs and transcripts: the line without CRLF, AUTH payloads replaced by
    /// `<redacted N bytes>`.
    pub fn redacted(&self) -> Redacted<'_> {
        Redacted(self)
    }
}

impl MailCommand {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"MAIL FROM:<");
        if let Some(from) = &self.from {
            out.extend_from_slice(from.as_str().as_bytes());
        }
        out.push(b'>');
        if let Some(size) = self.size {
            out.extend_from_slice(format!(" SIZE={size}").as_bytes());
        }
        match self.body {
            Body::SevenBit => {}
            Body::EightBitMime => out.extend_from_slice(b" BODY=8BITMIME"),
            Body::BinaryMime => out.extend_from_slice(b" BODY=BINARYMIME"),
        }
        if self.smtputf8 {
            out.extend_from_slice(b" SMTPUTF8");
        }
        match self.ret {
            Some(Ret::Full) => out.extend_from_slice(b" RET=FULL"),
            Some(Ret::Headers) => out.extend_from_slice(b" RET=HDRS"),
            None => {}
        }
        if let Some(envid) = &self.envid {
            out.extend_from_slice(b" ENVID=");
            xtext_encode(envid.as_bytes(), out);
        }
    }
}

fn encode_rcpt(recipient: &Recipient, out: &mut Vec<u8>) {
    out.extend_from_slice(b"RCPT TO:<");
    out.extend_from_slice(recipient.mailbox().as_str().as_bytes());
    out.push(b'>');
    match recipient.notify() {
        None => {}
        Some(Notify::Never) => out.extend_from_slice(b" NOTIFY=NEVER"),
        Some(Notify::On {
            success,
            failure,
            delay,
        }) => {
            let events: Vec<&str> = [(success, "SUCCESS"), (failure, "FAILURE"), (delay, "DELAY")]
                .into_iter()
                .filter_map(|(on, name)| on.then_some(name))
                .collect();
            if !events.is_empty() {
                out.extend_from_slice(b" NOTIFY=");
                out.extend_from_slice(events.join(",").as_bytes());
            }
        }
    }
    if recipient.orcpt() {
        // RFC 3461 §4.2: "rfc822;" then the address as xtext.
        out.extend_from_slice(b" ORCPT=rfc822;");
        xtext_encode(recipient.mailbox().as_str().as_bytes(), out);
    }
}

/// A command shown without its secrets; see [`Command::redacted`].
pub struct Redacted<'a>(&'a Command);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Command::Auth {
                mechanism,
                initial_response: Some(response),
            } => write!(
                f,
                "AUTH {} <redacted {} bytes>",
                mechanism.name(),
                response.expose().len()
            ),
            Command::AuthResponse(response) => {
                write!(f, "<redacted {} bytes>", response.expose().len())
            }
            command => {
                let line = command.to_bytes();
                let line = line.strip_suffix(b"\r\n").unwrap_or(&line);
                f.write_str(&String::from_utf8_lossy(line))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn mailbox(text: &str) -> Mailbox {
        Mailbox::parse(text).unwrap()
    }

    #[test]
    fn mail_with_every_parameter() {
        let mail = Command::Mail(MailCommand {
            from: Some(mailbox("a@example.com")),
            size: Some(1234),
            body: Body::EightBitMime,
            smtputf8: true,
            ret: Some(Ret::Headers),
            envid: Some("id 1+2=3".into()),
        });
        assert_eq!(
            mail.to_bytes(),
            b"MAIL FROM:<a@example.com> SIZE=1234 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=id+201+2B2+3D3\r\n"
        );
    }

    #[test]
    fn null_reverse_path() {
        let mail = Command::Mail(MailCommand {
            from: None,
            size: None,
            body: Body::SevenBit,
            smtputf8: false,
            ret: None,
            envid: None,
        });
        assert_eq!(mail.to_bytes(), b"MAIL FROM:<>\r\n");
    }

    #[test]
    fn rcpt_with_dsn() {
        let rcpt = Command::Rcpt(
            Recipient::new(mailbox("b@example.com"))
                .with_notify(Notify::On {
                    success: true,
                    failure: true,
                    delay: false,
                })
                .with_orcpt(),
        );
        assert_eq!(
            rcpt.to_bytes(),
            b"RCPT TO:<b@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@example.com\r\n"
        );
        let never =
            Command::Rcpt(Recipient::new(mailbox("b@example.com")).with_notify(Notify::Never));
        assert_eq!(
            never.to_bytes(),
            b"RCPT TO:<b@example.com> NOTIFY=NEVER\r\n"
        );
    }

    #[test]
    fn auth_lines_are_redacted() {
        let auth = Command::Auth {
            mechanism: Mechanism::Plain,
            initial_response: Some(Secret::new("AGFsaWNlAHMzY3IzdA==".into())),
        };
        assert_eq!(auth.to_bytes(), b"AUTH PLAIN AGFsaWNlAHMzY3IzdA==\r\n");
        assert_eq!(
            auth.redacted().to_string(),
            "AUTH PLAIN <redacted 20 bytes>"
        );
        assert!(!format!("{auth:?}").contains("AGFsaWNl"));
        let response = Command::AuthResponse(Secret::new("czNjcjN0".into()));
        assert_eq!(response.redacted().to_string(), "<redacted 8 bytes>");
        let empty = Command::Auth {
            mechanism: Mechanism::Plain,
            initial_response: Some(Secret::new(String::new())),
        };
        assert_eq!(empty.to_bytes(), b"AUTH PLAIN =\r\n");
    }

    #[test]
    fn simple_commands() {
        assert_eq!(
            Command::Bdat {
                size: 42,
                last: true
            }
            .to_bytes(),
            b"BDAT 42 LAST\r\n"
        );
        assert_eq!(
            Command::Bdat {
                size: 0,
                last: false
            }
            .to_bytes(),
            b"BDAT 0\r\n"
        );
        assert_eq!(
            Command::Ehlo(ClientName::default()).to_bytes(),
            b"EHLO localhost\r\n"
        );
        assert_eq!(Command::AuthCancel.to_bytes(), b"*\r\n");
        assert_eq!(Command::Quit.redacted().to_string(), "QUIT");
    }
}
