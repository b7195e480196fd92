//! The one way settings are written: consuming, documented methods.
//!
//! Every configuration type is configured by chaining methods that take and return the
//! value, each documented with its default; no public fields, no `&mut` setters:
//!
//! ```
//! # use smtpwire::session::{SessionConfig, Timeouts, TlsPolicy};
//! # use std::time::Duration;
//! let session = SessionConfig::new(TlsPolicy::StartTlsRequired)
//!     .with_timeouts(Timeouts::default().with_greeting(Duration::from_secs(30)))
//!     .with_transcript(true);
//! assert_eq!(session.timeouts().greeting(), Duration::from_secs(30));
//! ```
//!
//! A value that is itself the configuration (`ClientConfig`, `SessionConfig`, `Timeouts`,
//! `ReplyLimits`, `TlsConfig`, `RetryPolicy`, like `Envelope`) sets with `with_x` and reads
//! back with `x()`; a builder of something else (`MailerBuilder`, `MessageBuilder`,
//! `Attachment`) sets with `x` alone. The plain setters and getters are written once here,
//! rather than by hand for each of some fifty settings; those that check or convert their
//! value (`TlsConfig::with_pem_file`, `RetryPolicy::with_max_attempts`) are written out.

/// Writes, inside an `impl` block, a consuming setter (and usually a getter) per setting.
///
/// Each line is `KIND field: Type => setter;` under the setting's documentation, which both
/// methods carry. `KIND` says how the field is read back:
/// - `copy`: `field()` returns a copy;
/// - `borrow`: `field()` returns `&Type`;
/// - `optional`: the field is an `Option<Type>`; the setter takes a `Type` or an
///   `Option<Type>` (`None` goes back to the default); `field()` returns `Option<&Type>`;
/// - `set`, `set_optional`: a setter only (a builder of something else), storing the value
///   as is, or anything `Into<Type>` in `Some`.
macro_rules! settings {
    (@setter optional $setter:ident $field:ident [$($doc:expr)*] $type:ty) => {
        $(#[doc = $doc])*
        #[must_use]
        pub fn $setter(mut self, $field: impl Into<Option<$type>>) -> Self {
            self.$field = $field.into();
            self
        }
    };
    (@setter set_optional $setter:ident $field:ident [$($doc:expr)*] $type:ty) => {
        $(#[doc = $doc])*
        #[must_use]
        pub fn $setter(mut self, $field: impl Into<$type>) -> Self {
            self.$field = Some($field.into());
            self
        }
    };
    (@setter $kind:ident $setter:ident $field:ident [$($doc:expr)*] $type:ty) => {
        $(#[doc = $doc])*
        #[must_use]
        pub fn $setter(mut self, $field: $type) -> Self {
            self.$field = $field;
            self
        }
    };
    (@getter copy [$($doc:expr)*] $field:ident $type:ty) => {
        $(#[doc = $doc])*
        pub fn $field(&self) -> $type {
            self.$field
        }
    };
    (@getter borrow [$($doc:expr)*] $field:ident $type:ty) => {
        $(#[doc = $doc])*
        pub fn $field(&self) -> &$type {
            &self.$field
        }
    };
    (@getter optional [$($doc:expr)*] $field:ident $type:ty) => {
        $(#[doc = $doc])*
        pub fn $field(&self) -> Option<&$type> {
            self.$field.as_ref()
        }
    };
    (@getter $setter_only:ident [$($doc:expr)*] $field:ident $type:ty) => {};
    ($( $(#[doc = $doc:expr])* $kind:ident $field:ident: $type:ty => $setter:ident; )*) => {
        $(
            settings!(@setter $kind $setter $field [$($doc)*] $type);
            settings!(@getter $kind [$($doc)*] $field $type);
        )*
    };
}
