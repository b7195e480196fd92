//! The SMTP paths a message implies: who it is from and to whom it goes.

use crate::address::Mailbox;

/// The reverse-path and forward-paths for sending a message (RFC 5321 §3.3), in the types the
/// SMTP layer validates. [`crate::envelope::Envelope::for_message`] turns them into the one
/// SMTP envelope.
///
/// Derived from the headers unless given: `Sender`, or else `From`, and every `To`, `Cc` and
/// `Bcc` recipient, group members included, each once. `Bcc` appears only here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Paths {
    pub(crate) from: Mailbox,
    pub(crate) to: Vec<Mailbox>,
}

impl Paths {
    /// Whether any address needs the server's SMTPUTF8 extension.
    pub(crate) fn needs_smtputf8(&self) -> bool {
        self.from.needs_smtputf8() || self.to.iter().any(Mailbox::needs_smtputf8)
    }
}
