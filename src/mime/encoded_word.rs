//! RFC 2047 encoded-words: non-ASCII text in headers, as `=?UTF-8?B?…?=` or `=?UTF-8?Q?…?=`.

use super::header::{HeaderWriter, FOLD_AT};
use super::transfer::hex_digit;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// `=?UTF-8?B?` and `?=` around the encoded text.
const OVERHEAD: usize = 12;
/// RFC 2047 §2: an encoded-word is at most 75 characters long.
const MAX_WORD: usize = 75;
/// Enough room for one four-byte character in either encoding; with less, fold first.
const MIN_ROOM: usize = OVERHEAD + 12;

/// Writes `text` as encoded-words, each a separate token so the writer can fold between them.
///
/// `prefix` is glued before the first word and `suffix` after the last one (the quotes of a
/// parameter value). Words hold whole characters only (RFC 2047 §5 (3)), and B or Q is chosen
/// for the whole text, whichever is shorter. Q uses only the characters RFC 2047 §5 (3) allows
/// in a phrase, so the same words are valid in every header context.
pub(crate) fn write(w: &mut HeaderWriter<'_>, text: &str, prefix: &str, suffix: &str) {
    let q = q_len(text) <= 4 * text.len().div_ceil(3);
    let mut rest = text;
    let mut first = true;
    loop {
        // One more column for a `,` or `;` that may be glued after the token.
        let reserve = if first { prefix.len() } else { 0 } + suffix.len() + 1;
        let mut room = w.room().saturating_sub(reserve);
        // Splitting costs more than folding: some decoders (Python's in display names) put a
        // space between adjacent encoded-words, so keep the rest whole when a fresh line fits it.
        let whole = OVERHEAD
            + if q {
                q_len(rest)
            } else {
                4 * rest.len().div_ceil(3)
            };
        let fresh_room = (FOLD_AT - 1).saturating_sub(reserve).min(MAX_WORD);
        // Never fold right after the field name, though: split the first word instead.
        let fold_to_keep_whole = whole > room && whole <= fresh_room && !w.at_start();
        if room < MIN_ROOM || fold_to_keep_whole {
            w.fold();
            room = (FOLD_AT - 1).saturating_sub(reserve);
        }
        let budget = room.min(MAX_WORD).saturating_sub(OVERHEAD);
        let (chunk, tail) = rest.split_at(fitting(rest, budget, q));
        rest = tail;
        let mut token = String::with_capacity(MAX_WORD + reserve);
        if first {
            token.push_str(prefix);
        }
        if q {
            token.push_str("=?UTF-8?Q?");
            push_q(&mut token, chunk);
        } else {
            token.push_str("=?UTF-8?B?");
            token.push_str(&STANDARD.encode(chunk));
        }
        token.push_str("?=");
        if rest.is_empty() {
            token.push_str(suffix);
            w.token(&token);
            return;
        }
        w.token(&token);
        first = false;
    }
}

/// The length in bytes of the longest prefix of `text` whose encoding fits `budget`; at least
/// one character, so every call makes progress.
fn fitting(text: &str, budget: usize, q: bool) -> usize {
    let mut q_used = 0;
    let mut end = 0;
    for (i, c) in text.char_indices() {
        let next = i + c.len_utf8();
        let fits = if q {
            q_used += c
                .encode_utf8(&mut [0; 4])
                .bytes()
                .map(q_byte_len)
                .sum::<usize>();
            q_used <= budget
        } else {
            4 * next.div_ceil(3) <= budget
        };
        if !fits {
            break;
        }
        end = next;
    }
    if end == 0 {
        text.chars().next().map_or(0, char::len_utf8)
    } else {
        end
    }
}

fn is_q_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'!' | b'*' | b'+' | b'-' | b'/')
}

fn q_byte_len(b: u8) -> usize {
    if is_q_safe(b) || b == b' ' {
        1
    } else {
        3
    }
}

fn q_len(text: &str) -> usize {
    text.bytes().map(q_byte_len).sum()
}

fn push_q(out: &mut String, text: &str) {
    for b in text.bytes() {
        if is_q_safe(b) {
            out.push(char::from(b));
        } else if b == b' ' {
            out.push('_');
        } else {
            out.push('=');
            out.push(char::from(hex_digit(b >> 4)));
            out.push(char::from(hex_digit(b & 0xf)));
        }
    }
}
