//! The SMTP envelope a message implies: who it is from and to whom it goes.

use crate::address::Mailbox;

/// The reverse-path and forward-paths for sending a message (RFC 5321 §3.3), in the types the
/// SMTP layer validates.
///
/// Derived from the headers unless given: `Sender`, or else `From`, and every `To`, `Cc` and
/// `Bcc` recipient, group members included, each once. `Bcc` appears only here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    sender: Mailbox,
    recipients: Vec<Mailbox>,
}

impl Envelope {
    /// An explicit envelope. Sending needs at least one recipient.
    pub fn new(sender: Mailbox, recipients: Vec<Mailbox>) -> Self {
        Self { sender, recipients }
    }

    /// The reverse-path, for `MAIL FROM`.
    pub fn sender(&self) -> &Mailbox {
        &self.sender
    }

    /// The forward-paths, for `RCPT TO`, without duplicates.
    pub fn recipients(&self) -> &[Mailbox] {
        &self.recipients
    }

    /// Whether any address needs the server's SMTPUTF8 extension.
    pub fn needs_smtputf8(&self) -> bool {
        self.sender.needs_smtputf8() || self.recipients.iter().any(Mailbox::needs_smtputf8)
    }
}
