//! smtpwire: an SMTP client you can read, audit and fuzz.
//!
//! The crate is built in layers, and dependencies point one way only:
//!
//! ```text
//!  codecs (pure, leaf)          session (pure)            transport (tokio + rustls)
//!  reply  capabilities          Session: bytes in,   -->  drives a Session over a socket;
//!  address command auth   -->   actions out, one         no protocol decisions of its own
//!  data   secret                explicit state machine
//!
//!  mime (pure): builds RFC 5322 messages; knows nothing of SMTP
//! ```
//!
//! * The codecs and the [`session`] perform no I/O, read no clock and draw no random numbers:
//!   timeouts are data ([`session::Action::Receive`] carries the RFC 5321 §4.5.3.2 deadline), and
//!   the caller moves the bytes. They build and test with `--no-default-features`.
//! * The `tokio` feature (on by default) adds the async transport: a thin shell that carries out
//!   the session's [`session::Action`]s over TCP and TLS.
//! * `mime` knows nothing about SMTP; the transport sends whatever bytes it produces.
//!
//! Security invariants held by the core, each with a test:
//! * the TLS policy is explicit; when TLS is required and cannot be had, nothing more is sent;
//! * any byte received after the `220` to STARTTLS and before the handshake is fatal;
//! * capabilities learned before TLS are forgotten after it, and EHLO is sent again;
//! * credentials are never sent without TLS unless the caller opted in through a `dangerous_` API;
//! * message data never carries an early end-of-data sequence, whatever the input;
//! * every buffer has a bound, and secrets never appear in `Debug`, errors or transcripts.

#![cfg_attr(docsrs, feature(doc_cfg))]

#[macro_use]
mod settings;

pub mod address;
pub mod auth;
pub mod capabilities;
pub mod command;
pub mod data;
pub mod envelope;
mod error;
pub mod mime;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod pool;
pub mod reply;
mod secret;
pub mod session;
pub mod transcript;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod transport;

pub use error::{
    Delivery, Error, ErrorKind, InputError, Phase, ProtocolViolation, TlsMismatch, Unsupported,
};
pub use secret::{Secret, Zeroize};
pub use session::{RecipientResult, Report, Status, Verdict};

/// The README's examples, compiled as doc tests so they cannot rot. They use the transport, so
/// they are left out of `cargo test --no-default-features` (the sans-IO core alone).
#[cfg(all(doctest, feature = "tokio"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
