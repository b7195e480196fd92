//! What happened, reported beside the actions: observers (transcripts, metrics, `check`)
//! learn the dialogue from these and never parse bytes again.

use super::report::{MailId, Report, TransactionOutcome};
use crate::auth::Mechanism;
use crate::error::{Error, Phase};
use crate::reply::Reply;

/// Something that happened in the session, taken with
/// [`Session::poll_event`](super::Session::poll_event). A driver drains them after every
/// step; the queue grows until it does.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Event {
    /// A complete reply arrived; `phase` names the command it answers (`Greeting` for the
    /// greeting, `DataBody` for a BDAT chunk that is not the last).
    Reply {
        /// The command answered.
        phase: Phase,
        /// The message it belongs to, for MAIL, RCPT, DATA and BDAT.
        mail: Option<MailId>,
        /// The reply as received.
        reply: Reply,
    },
    /// The TLS handshake succeeded: implicit TLS, or after STARTTLS (capabilities were
    /// forgotten and EHLO goes again).
    TlsEstablished,
    /// STARTTLS was refused or not offered and the policy allowed going on in plaintext.
    StayedPlaintext,
    /// AUTH succeeded.
    Authenticated {
        /// The mechanism used.
        mechanism: Mechanism,
    },
    /// The session is ready for mail (after the greeting, EHLO, TLS and AUTH).
    Ready,
    /// A mail transaction ended, recipient by recipient; a message may take several.
    TransactionFinished {
        /// The message.
        id: MailId,
        /// Each recipient's verdict in this transaction.
        outcome: TransactionOutcome,
    },
    /// A message is done: `Ok` when at least one recipient was accepted, else the error
    /// that decided (a refusal, or the session's failure) with the [`Report`] attached.
    MessageFinished {
        /// The message.
        id: MailId,
        /// Its report, or why no recipient accepted it.
        result: Result<Report, Error>,
    },
}
