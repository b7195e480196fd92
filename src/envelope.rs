//! The envelope of one message: who it is from and to, and the ESMTP parameters it needs.

use crate::address::Mailbox;
use crate::error::InputError;

/// The reverse-path, forward-paths and parameters of one mail transaction (RFC 5321 §3.3).
///
/// The message headers (From, To, Cc) do not decide where mail goes; the envelope does.
/// Bcc recipients appear here and nowhere in the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    from: Option<Mailbox>,
    recipients: Vec<Recipient>,
    size: Option<u64>,
    body: Body,
    ret: Option<Ret>,
    envid: Option<String>,
    /// The message's headers hold UTF-8 addresses (RFC 6532), whatever the paths hold.
    utf8_headers: bool,
}

/// One forward-path, with its delivery status notification requests (RFC 3461).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    mailbox: Mailbox,
    notify: Option<Notify>,
    orcpt: bool,
}

/// What the message data contains, for the `BODY` parameter (RFC 6152, RFC 3030).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Body {
    /// ASCII only, lines within 998 octets: needs no extension.
    #[default]
    SevenBit,
    /// Bytes above 127 in lines: needs 8BITMIME, sent as `BODY=8BITMIME`.
    EightBitMime,
    /// Arbitrary binary: needs BINARYMIME and CHUNKING, sent as `BODY=BINARYMIME` with BDAT.
    BinaryMime,
}

/// `RET`: how much of the message a failure notification returns (RFC 3461 §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ret {
    /// The whole message.
    Full,
    /// Only the headers.
    Headers,
}

/// `NOTIFY`: when the recipient's server should send a notification (RFC 3461 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notify {
    /// Never send one.
    Never,
    /// Any combination of success, failure and delay.
    On {
        /// On delivery.
        success: bool,
        /// On failure.
        failure: bool,
        /// When delivery is delayed.
        delay: bool,
    },
}

/// RFC 3461 §4.4: an ENVID is at most 100 characters, xtext-encoded.
const MAX_ENVID: usize = 100;

impl Envelope {
    /// An envelope from `from` (`None` for the null reverse-path `<>` of bounces) to `recipients`.
    ///
    /// # Errors
    /// [`InputError::NoRecipients`] when `recipients` is empty.
    pub fn new(
        from: Option<Mailbox>,
        recipients: impl IntoIterator<Item = Recipient>,
    ) -> Result<Self, InputError> {
        let recipients: Vec<Recipient> = recipients.into_iter().collect();
        if recipients.is_empty() {
            return Err(InputError::NoRecipients);
        }
        Ok(Self {
            from,
            recipients,
            size: None,
            body: Body::SevenBit,
            ret: None,
            envid: None,
            utf8_headers: false,
        })
    }

    /// Declares the message size in octets, sent as `SIZE=` when the server offers SIZE and
    /// checked against the server's limit before MAIL is sent (RFC 1870).
    pub fn with_size(mut self, size: u64) -> Self {
        self.size = Some(size);
        self
    }

    /// Declares what the message data contains.
    pub fn with_body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }

    /// Declares that the message's headers hold UTF-8 addresses (RFC 6532), so MAIL needs the
    /// `SMTPUTF8` parameter even when every path is ASCII (RFC 6531 §3.4): a UTF-8 Reply-To.
    pub fn with_utf8_headers(mut self) -> Self {
        self.utf8_headers = true;
        self
    }

    /// Asks every recipient's server for delivery status notifications on the given events
    /// (RFC 3461 §4.1).
    pub fn with_notify(mut self, notify: Notify) -> Self {
        for recipient in &mut self.recipients {
            recipient.notify = Some(notify);
        }
        self
    }

    /// Asks failure notifications to return the full message or only its headers.
    pub fn with_ret(mut self, ret: Ret) -> Self {
        self.ret = Some(ret);
        self
    }

    /// Sets the envelope identifier returned in notifications (RFC 3461 §4.4).
    ///
    /// # Errors
    /// [`InputError::Parameter`] when the xtext-encoded value exceeds 100 characters.
    pub fn with_envid(mut self, envid: &str) -> Result<Self, InputError> {
        if xtext_len(envid.as_bytes()) > MAX_ENVID {
            return Err(InputError::Parameter("ENVID longer than 100 characters"));
        }
        self.envid = Some(envid.to_owned());
        Ok(self)
    }

    /// The reverse-path; `None` is the null path `<>`.
    pub fn from(&self) -> Option<&Mailbox> {
        self.from.as_ref()
    }

    /// The forward-paths.
    pub fn recipients(&self) -> &[Recipient] {
        &self.recipients
    }

    /// The declared size, if any.
    pub fn size(&self) -> Option<u64> {
        self.size
    }

    /// The declared body type.
    pub fn body(&self) -> Body {
        self.body
    }

    /// The `RET` request, if any.
    pub fn ret(&self) -> Option<Ret> {
        self.ret
    }

    /// The `ENVID`, if any.
    pub fn envid(&self) -> Option<&str> {
        self.envid.as_deref()
    }

    /// Whether any address, or the message's headers, need SMTPUTF8 (RFC 6531).
    pub fn needs_smtputf8(&self) -> bool {
        self.utf8_headers
            || self.from.as_ref().is_some_and(Mailbox::needs_smtputf8)
            || self.recipients.iter().any(|r| r.mailbox.needs_smtputf8())
    }

    /// Whether any DSN parameter is asked for (RFC 3461).
    pub fn needs_dsn(&self) -> bool {
        self.ret.is_some()
            || self.envid.is_some()
            || self
                .recipients
                .iter()
                .any(|r| r.notify.is_some() || r.orcpt)
    }

    /// The envelope a built MIME message implies (Sender or From; To, Cc and Bcc), with its
    /// exact size declared, `BODY=8BITMIME` when it has 8-bit parts, and SMTPUTF8 when any of
    /// its addresses, in the headers too, has a UTF-8 local part.
    ///
    /// # Errors
    /// [`InputError::NoRecipients`] when the message has no recipient.
    pub fn for_message(message: &crate::mime::Message) -> Result<Self, InputError> {
        let recipients = message.envelope_to().iter().cloned().map(Recipient::new);
        let body = if message.needs_8bitmime() {
            Body::EightBitMime
        } else {
            Body::SevenBit
        };
        let envelope = Self::new(Some(message.envelope_from().clone()), recipients)?
            .with_size(message.encoded_len())
            .with_body(body);
        Ok(if message.needs_smtputf8() {
            envelope.with_utf8_headers()
        } else {
            envelope
        })
    }

    /// Moves the recipients out, for the session's transaction to own without a copy; the
    /// rest of the envelope stays for a further transaction ([`Envelope::with_recipients`]).
    pub(crate) fn take_recipients(&mut self) -> Vec<Recipient> {
        std::mem::take(&mut self.recipients)
    }

    /// The same envelope with only `recipients`, for a further transaction.
    pub(crate) fn with_recipients(&self, recipients: Vec<Recipient>) -> Self {
        Self {
            recipients,
            ..self.clone()
        }
    }
}

impl Recipient {
    /// A recipient with no DSN requests.
    pub fn new(mailbox: Mailbox) -> Self {
        Self {
            mailbox,
            notify: None,
            orcpt: false,
        }
    }

    /// Asks for delivery status notifications on the given events (RFC 3461 §4.1).
    pub fn with_notify(mut self, notify: Notify) -> Self {
        self.notify = Some(notify);
        self
    }

    /// Sends the address as the original recipient (`ORCPT=rfc822;…`, RFC 3461 §4.2), so
    /// notifications name it even if the server rewrites it.
    pub fn with_orcpt(mut self) -> Self {
        self.orcpt = true;
        self
    }

    /// The mailbox.
    pub fn mailbox(&self) -> &Mailbox {
        &self.mailbox
    }

    /// The `NOTIFY` request, if any.
    pub fn notify(&self) -> Option<Notify> {
        self.notify
    }

    /// Whether `ORCPT` is sent.
    pub fn orcpt(&self) -> bool {
        self.orcpt
    }
}

impl From<Mailbox> for Recipient {
    fn from(mailbox: Mailbox) -> Self {
        Self::new(mailbox)
    }
}

/// Appends `value` as RFC 3461 §4 xtext: `!` to `~` except `+` and `=` as they are, every
/// other octet as `+XX`. Nothing it writes can end or split a command line.
pub(crate) fn xtext_encode(value: &[u8], out: &mut Vec<u8>) {
    for &b in value {
        if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
            out.push(b);
        } else {
            out.extend([b'+', hex_digit(b >> 4), hex_digit(b & 0xf)]);
        }
    }
}

fn hex_digit(nibble: u8) -> u8 {
    match nibble {
        0..=9 => b'0' + nibble,
        _ => b'A' + (nibble - 10),
    }
}

fn xtext_len(value: &[u8]) -> usize {
    value
        .iter()
        .map(|&b| {
            if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
                1
            } else {
                3
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn xtext_escapes_plus_equals_space_and_controls() {
        let mut out = Vec::new();
        xtext_encode(b"a+b=c d\r\n\xe4", &mut out);
        assert_eq!(out, b"a+2Bb+3Dc+20d+0D+0A+E4");
        assert_eq!(xtext_len(b"a+b=c d\r\n\xe4"), out.len());
    }

    #[test]
    fn envid_is_bounded() {
        let env = Envelope::new(None, [Recipient::new(Mailbox::parse("a@b.c").unwrap())]).unwrap();
        assert!(env.clone().with_envid(&"x".repeat(100)).is_ok());
        assert_eq!(
            env.with_envid(&"=".repeat(34)),
            Err(InputError::Parameter("ENVID longer than 100 characters"))
        );
    }

    #[test]
    fn a_utf8_address_only_in_the_headers_still_needs_smtputf8() {
        let build = |reply_to: &str| {
            crate::mime::Message::builder()
                .from("a@example.com")
                .to("b@example.com")
                .reply_to(reply_to)
                .text("x")
                .allow_utf8_addresses(true)
                .build()
                .unwrap()
        };
        let ascii = Envelope::for_message(&build("c@example.com")).unwrap();
        assert!(!ascii.needs_smtputf8());
        let utf8 = Envelope::for_message(&build("用户@example.com")).unwrap();
        assert!(utf8
            .recipients()
            .iter()
            .all(|r| !r.mailbox().needs_smtputf8()));
        assert!(utf8.needs_smtputf8());
    }

    #[test]
    fn no_recipients_is_an_error() {
        assert_eq!(
            Envelope::new(None, Vec::<Recipient>::new()),
            Err(InputError::NoRecipients)
        );
    }
}
