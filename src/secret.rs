//! A wrapper that keeps secrets out of every printout, and overwrites them when dropped.

use std::fmt;

/// A value that must never be printed: passwords, OAuth tokens, AUTH payloads.
///
/// `Debug` and `Display` show `<redacted>` in every build (debug builds too, unlike wrappers
/// that redact only in release). The value is reached only through [`Secret::expose`], so each
/// place that handles the secret in clear is easy to find.
///
/// When dropped, the value is overwritten with zeros in place ([`Zeroize`]), so that freed
/// memory does not keep the password for whoever allocates it next. This is done without
/// `unsafe`, which bounds what it can promise:
/// * only the allocation the value owns when dropped is cleared: copies made before it was
///   wrapped (the caller's own `String`, a buffer the password was read into) or left behind
///   when a `String` grew by reallocation are not;
/// * the zeros are written through [`std::hint::black_box`], which keeps the compiler from
///   dropping them as dead stores in practice but is documented as best effort;
/// * the bytes sent hold the AUTH line too: the transport wipes each buffer it has written,
///   and a driver of the sans-IO session should do the same with `Action::Send` bytes; the
///   TLS library's records and what the operating system swapped out are beyond reach.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T: Zeroize>(T);

impl<T: Zeroize> Secret<T> {
    /// Wraps a secret value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret in clear. Do not log or format what this returns.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T: Zeroize> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T: Zeroize> Drop for Secret<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<T: Zeroize> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A value whose bytes can be overwritten in place: what a [`Secret`] may hold.
pub trait Zeroize {
    /// Overwrites every byte the value owns with zeros, spare capacity included, keeping the
    /// same allocation, and leaves the value empty.
    fn zeroize(&mut self);
}

impl Zeroize for Vec<u8> {
    fn zeroize(&mut self) {
        overwrite(self);
        self.clear();
    }
}

impl Zeroize for String {
    fn zeroize(&mut self) {
        // `into_bytes` and `from_utf8` keep the allocation: no copy is made. Zeros are valid
        // UTF-8, and an empty vector always is, so the fallback never runs.
        let mut bytes = std::mem::take(self).into_bytes();
        bytes.zeroize();
        *self = String::from_utf8(bytes).unwrap_or_default();
    }
}

impl<const N: usize> Zeroize for [u8; N] {
    fn zeroize(&mut self) {
        self.iter_mut().for_each(|byte| *byte = 0);
        std::hint::black_box(&*self);
    }
}

/// Zeros the bytes in use of a buffer kept for reuse, then empties it. Cheaper than
/// [`Zeroize`] on a large buffer: the spare capacity is left alone, which suffices for a
/// buffer that is only appended to and wiped this way after each use (every byte it ever held
/// was in use at some wipe).
pub(crate) fn wipe_in_use(bytes: &mut Vec<u8>) {
    bytes.fill(0);
    std::hint::black_box(bytes.as_slice());
    bytes.clear();
}

/// Fills the whole allocation of `bytes` with zeros — the bytes in use and the spare capacity,
/// where a truncated secret may linger — and leaves it that long. Growing to the capacity
/// never reallocates.
fn overwrite(bytes: &mut Vec<u8>) {
    bytes.clear();
    bytes.resize(bytes.capacity(), 0);
    std::hint::black_box(bytes.as_slice());
}

#[cfg(test)]
mod tests {
    use super::{overwrite, Secret, Zeroize};
    use std::cell::Cell;
    use std::rc::Rc;

    #[test]
    fn never_prints_the_value() {
        let secret = Secret::new(String::from("hunter2"));
        assert_eq!(format!("{secret:?}"), "<redacted>");
        assert_eq!(format!("{secret}"), "<redacted>");
        assert_eq!(format!("{:#?}", Some(&secret)), "Some(\n    <redacted>,\n)");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn the_whole_allocation_is_overwritten_in_place() {
        let mut bytes = Vec::with_capacity(64);
        bytes.extend_from_slice(b"AGFsaWNlAHMzY3IzdA== and more of the secret");
        // Truncated: the tail of the secret is still in the spare capacity.
        bytes.truncate(3);
        let (pointer, capacity) = (bytes.as_ptr(), bytes.capacity());
        overwrite(&mut bytes);
        assert_eq!(bytes.as_ptr(), pointer, "the same allocation, not a copy");
        assert_eq!(bytes.len(), capacity);
        assert!(bytes.iter().all(|&b| b == 0), "{bytes:?}");
    }

    #[test]
    fn strings_and_vectors_are_wiped_where_they_are_and_left_empty() {
        let mut text = String::with_capacity(32);
        text.push_str("hunter2");
        let (pointer, capacity) = (text.as_ptr(), text.capacity());
        text.zeroize();
        assert!(text.is_empty());
        assert_eq!((text.as_ptr(), text.capacity()), (pointer, capacity));

        let mut bytes = b"hunter2".to_vec();
        let pointer = bytes.as_ptr();
        bytes.zeroize();
        assert!(bytes.is_empty());
        assert_eq!(bytes.as_ptr(), pointer);

        let mut array = *b"hunter2";
        array.zeroize();
        assert_eq!(array, [0; 7]);
    }

    /// Counts the times it was wiped.
    #[derive(Clone, PartialEq, Eq)]
    struct Probe(Rc<Cell<u32>>);

    impl Zeroize for Probe {
        fn zeroize(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }

    #[test]
    fn dropping_a_secret_wipes_it_and_each_clone_wipes_its_own() {
        let wiped = Rc::new(Cell::new(0));
        let secret = Secret::new(Probe(Rc::clone(&wiped)));
        let copy = secret.clone();
        drop(secret);
        assert_eq!(wiped.get(), 1);
        drop(copy);
        assert_eq!(wiped.get(), 2);
    }
}
