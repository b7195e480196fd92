//! Punycode (RFC 3492) and the ASCII form of internationalised domain names.
//!
//! Labels are lower-cased and punycoded as IDNA requires; the full UTS #46 mapping and NFC
//! normalisation need Unicode tables that a dependency-free crate does not carry, so callers
//! should pass names in NFC, as virtually all input already is.

use super::error::Invalid;

const BASE: u32 = 36;
const T_MIN: u32 = 1;
const T_MAX: u32 = 26;
const SKEW: u32 = 38;
const DAMP: u32 = 700;
const INITIAL_BIAS: u32 = 72;
const INITIAL_N: u32 = 128;

/// RFC 3492 §6.1.
fn adapt(delta: u32, points: u32, first: bool) -> u32 {
    let mut delta = if first { delta / DAMP } else { delta / 2 };
    delta += delta / points;
    let mut k = 0;
    while delta > ((BASE - T_MIN) * T_MAX) / 2 {
        delta /= BASE - T_MIN;
        k += BASE;
    }
    k + (BASE - T_MIN + 1) * delta / (delta + SKEW)
}

fn digit(d: u32) -> char {
    // 0..=25 are a..z, 26..=35 are 0..=9.
    let b = if d < 26 {
        b'a' + d as u8
    } else {
        b'0' + (d - 26) as u8
    };
    char::from(b)
}

/// Encodes `input` with the RFC 3492 §6.3 algorithm; `None` on arithmetic overflow.
pub(crate) fn encode(input: &str) -> Option<String> {
    let code_points: Vec<u32> = input.chars().map(u32::from).collect();
    let mut output: String = input.chars().filter(char::is_ascii).collect();
    let basic = u32::try_from(output.len()).ok()?;
    let total = u32::try_from(code_points.len()).ok()?;
    if basic > 0 {
        output.push('-');
    }
    let (mut n, mut delta, mut bias, mut handled) = (INITIAL_N, 0u32, INITIAL_BIAS, basic);
    while handled < total {
        let m = code_points.iter().copied().filter(|&c| c >= n).min()?;
        delta = delta.checked_add((m - n).checked_mul(handled + 1)?)?;
        n = m;
        for &c in &code_points {
            if c < n {
                delta = delta.checked_add(1)?;
            }
            if c == n {
                let mut q = delta;
                let mut k = BASE;
                loop {
                    let t = if k <= bias {
                        T_MIN
                    } else if k >= bias + T_MAX {
                        T_MAX
                    } else {
                        k - bias
                    };
                    if q < t {
                        break;
                    }
                    output.push(digit(t + (q - t) % (BASE - t)));
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                output.push(digit(q));
                bias = adapt(delta, handled + 1, handled == basic);
                delta = 0;
                handled += 1;
            }
        }
        delta = delta.checked_add(1)?;
        n = n.checked_add(1)?;
    }
    Some(output)
}

/// The ASCII form of a domain for headers and the envelope: ASCII labels must be LDH
/// (RFC 5321 §4.1.2 `sub-domain`), others become `xn--` A-labels. The ideographic full stop
/// and its variants separate labels, as IDNA says, since that is what a Chinese keyboard types.
pub(crate) fn domain_to_ascii(domain: &str) -> Result<String, Invalid> {
    if domain.is_empty() {
        return Err(Invalid::Syntax("the domain is empty"));
    }
    let mut out = String::with_capacity(domain.len() + 8);
    for label in domain.split(['.', '\u{3002}', '\u{ff0e}', '\u{ff61}']) {
        if !out.is_empty() {
            out.push('.');
        }
        if label.is_ascii() {
            check_ldh(label)?;
            out.push_str(label);
            continue;
        }
        if !label
            .chars()
            .all(|c| !c.is_ascii() || c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(Invalid::Syntax(
                "a domain label has a character not allowed there",
            ));
        }
        if label.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(Invalid::Syntax(
                "a domain label has a control or space character",
            ));
        }
        let lower: String = label.chars().flat_map(char::to_lowercase).collect();
        let encoded = encode(&lower).ok_or(Invalid::TooLong)?;
        let a_label = format!("xn--{encoded}");
        check_ldh(&a_label)?;
        out.push_str(&a_label);
    }
    // RFC 5321 §4.5.3.1.2 allows 255 octets; a DNS name has at most 253 without the root dot.
    if out.len() > 253 {
        return Err(Invalid::TooLong);
    }
    Ok(out)
}

fn check_ldh(label: &str) -> Result<(), Invalid> {
    if label.is_empty() {
        return Err(Invalid::Syntax("the domain has an empty label"));
    }
    if label.len() > 63 {
        return Err(Invalid::TooLong);
    }
    if !label
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(Invalid::Syntax(
            "a domain label has a character other than a-z, 0-9 or '-'",
        ));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(Invalid::Syntax("a domain label starts or ends with '-'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn converts(convert: fn(&str) -> Option<String>, cases: &[(&str, &str)]) {
        for (input, expected) in cases {
            assert_eq!(convert(input).as_deref(), Some(*expected), "{input}");
        }
    }

    #[test]
    fn rfc_3492_samples() {
        // RFC 3492 §7.1: (A) Arabic, (B) Chinese simplified, (L) mixed, (S) ASCII with a hyphen.
        let cases = [
            ("\u{644}\u{64a}\u{647}\u{645}\u{627}\u{628}\u{62a}\u{643}\u{644}\u{645}\u{648}\u{634}\u{639}\u{631}\u{628}\u{64a}\u{61f}", "egbpdaj6bu4bxfgehfvwxn"),
            ("他们为什么不说中文", "ihqwcrb4cv8a8dqg056pqjye"),
            ("3年B組金八先生", "3B-ww4c5e180e575a65lsy2b"),
            ("-> $1.00 <-", "-> $1.00 <--"),
        ];
        converts(encode, &cases);
    }

    #[test]
    fn domains() {
        let cases = [
            ("例子.中国", "xn--fsqu00a.xn--fiqs8s"),
            // An ideographic full stop separates labels too (UTS #46).
            ("例子。中国", "xn--fsqu00a.xn--fiqs8s"),
            ("Bücher.example", "xn--bcher-kva.example"),
            ("Mail.Example.COM", "Mail.Example.COM"),
        ];
        converts(|domain| domain_to_ascii(domain).ok(), &cases);
        for bad in ["", "a..b", "-a.b", "a_b.c", "a b.c", "é é.c", "a.b\u{0}"] {
            assert!(domain_to_ascii(bad).is_err(), "{bad:?}");
        }
    }
}
