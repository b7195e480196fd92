//! The envelope the tests send with.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use smtpwire::address::Mailbox;
use smtpwire::envelope::{Envelope, Recipient};

/// An envelope from `from` to `to`, with no options.
pub fn envelope(from: &str, to: &[&str]) -> Envelope {
    Envelope::new(
        Some(Mailbox::parse(from).unwrap()),
        to.iter()
            .map(|r| Recipient::new(Mailbox::parse(r).unwrap())),
    )
    .unwrap()
}
