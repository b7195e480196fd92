//! Randomness for multipart boundaries and Message-IDs, injectable so output can be byte-exact.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::{SystemTime, UNIX_EPOCH};

/// Where the builder gets its random numbers.
///
/// The default, [`OsRandom`], is seeded by the operating system; [`SeededRandom`] gives the same
/// sequence for the same seed, for golden files and tests.
pub trait RandomSource: Send {
    /// The next 128 random bits.
    fn next_u128(&mut self) -> u128;
}

/// Random numbers seeded by the operating system, from `std` alone.
///
/// `std` keys the SipHash behind [`RandomState`] with 128 bits from the OS; hashing a counter,
/// the time and the process id with that key gives values nobody without the key can predict,
/// and the counter makes them distinct. That is what boundaries need: not secrecy, but that no
/// one can write content containing the boundary in advance. Two hashes give the 128 bits.
pub struct OsRandom {
    keys: RandomState,
    counter: u64,
}

impl Default for OsRandom {
    fn default() -> Self {
        Self {
            keys: RandomState::new(),
            counter: 0,
        }
    }
}

impl OsRandom {
    fn half(&self, lane: u8) -> u64 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        self.keys
            .hash_one((lane, self.counter, nanos, std::process::id()))
    }
}

impl RandomSource for OsRandom {
    fn next_u128(&mut self) -> u128 {
        self.counter = self.counter.wrapping_add(1);
        (u128::from(self.half(0)) << 64) | u128::from(self.half(1))
    }
}

impl std::fmt::Debug for OsRandom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OsRandom")
    }
}

/// A deterministic sequence (SplitMix64) for reproducible output: never for mail sent to
/// people who could exploit a guessable boundary.
#[derive(Clone, Debug)]
pub struct SeededRandom {
    state: u64,
}

impl SeededRandom {
    /// The sequence for `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl RandomSource for SeededRandom {
    fn next_u128(&mut self) -> u128 {
        (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64())
    }
}

/// A boundary of 128 random bits after `=_`: the `=_` cannot occur in quoted-printable or
/// base64 output, and 34 characters stay well within RFC 2046's 70.
pub(crate) fn boundary(random: &mut dyn RandomSource) -> String {
    format!("=_{:032x}", random.next_u128())
}
