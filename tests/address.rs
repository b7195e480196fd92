//! `Mailbox` and `ClientName` validation: RFC 5321 grammar, length limits, and the injection
//! cases of security anchors E41/E42.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use proptest::prelude::*;
use smtpwire::address::{ClientName, Mailbox};
use smtpwire::InputError;
use std::net::IpAddr;

/// Mailboxes RFC 5321 allows; each splits into its local part and domain at its last `@`.
const VALID: &[&str] = &[
    "alice@example.com",
    "a.b.c@example.com",
    "!#$%&'*+-/=?^_`{|}~@example.com",
    "user+tag@sub.example.co.uk",
    "user@localhost",
    "user@a-b.c0",
    "user@x--y.example",
    "user@123.example",
    "0@0",
    "\"a b\"@example.com",
    "\"a@b\"@example.com",
    "\"a\\\"b\"@example.com",
    "\"a\\\\b\"@example.com",
    "\"\\ \"@example.com",
    "\"\"@example.com",
    "\"<x>\"@example.com",
    "\"a.@.b\"@example.com",
    "user@[192.0.2.1]",
    "user@[IPv6:2001:db8::1]",
    "user@[ipv6:::1]",
    "user@[IPv6:::ffff:192.0.2.1]",
    "user@[IPv6:2001:db8:0:0:0:0:0:1]",
    "u@[IPv6:1:2:3:4:5:6::]",
    "u@[IPv6:1:2:3:4::1.2.3.4]",
    "u@[IPv6:1:2:3:4:5:6:1.2.3.4]",
];

/// Mailboxes that need SMTPUTF8, split the same way.
const VALID_UTF8: &[&str] = &[
    "用户@例子.中国",
    "jörg@exämple.de",
    "ascii@bücher.example",
    "\"ünï cödé\"@example.com",
    "δοκιμή@παράδειγμα.δοκιμή",
];

/// `(address, reason)`.
const INVALID: &[(&str, &str)] = &[
    // E41: envelope address injection.
    ("\"a\r\nRCPT TO:<x@evil>\"@example.org", "control character"),
    ("a@b>\r\nRCPT TO:<c@d", "control character"),
    ("a b@c", "invalid local part"),
    ("a@b\0", "control character"),
    // Controls of every kind, quoted or not.
    ("a\n@example.com", "control character"),
    ("a@example.com\r", "control character"),
    ("\"a\tb\"@example.com", "control character"),
    ("a\u{7f}@example.com", "control character"),
    ("a\u{85}b@example.com", "control character"),
    ("a@exa\u{2028}mple.com", "control character"),
    // Local part.
    ("", "no @"),
    ("alice", "no @"),
    ("alice.example.com", "no @"),
    ("@example.com", "invalid local part"),
    (".a@example.com", "invalid local part"),
    ("a.@example.com", "invalid local part"),
    ("a..b@example.com", "invalid local part"),
    ("<a@example.com", "invalid local part"),
    ("a>b@example.com", "invalid local part"),
    ("a(b)@example.com", "invalid local part"),
    ("a,b@example.com", "invalid local part"),
    ("a\"b@example.com", "invalid local part"),
    ("\"abc@example.com", "invalid quoted local part"),
    ("\"a\\\"@example.com", "invalid quoted local part"),
    ("\"a\\é\"@example.com", "invalid quoted local part"),
    ("\"a\"b@example.com", "no @ after the quoted local part"),
    ("\"a\".b@example.com", "no @ after the quoted local part"),
    // Domain.
    ("a@", "invalid domain"),
    ("a@b>", "invalid domain"),
    ("a@b c", "invalid domain"),
    ("a@b@c", "invalid domain"),
    ("a@-b.example", "invalid domain"),
    ("a@b-.example", "invalid domain"),
    ("a@b..example", "invalid domain"),
    ("a@.example", "invalid domain"),
    ("a@example.", "invalid domain"),
    ("a@b_c.example", "invalid domain"),
    ("a@\"b\".example", "invalid domain"),
    ("a@192.0.2.1]", "invalid domain"),
    // Address literals.
    ("a@[]", "invalid address literal"),
    ("a@[192.0.2.1", "invalid address literal"),
    ("a@[192.0.2.256]", "invalid address literal"),
    ("a@[192.0.2]", "invalid address literal"),
    ("a@[010.0.2.1]", "invalid address literal"),
    ("a@[ 192.0.2.1]", "invalid address literal"),
    ("a@[2001:db8::1]", "invalid address literal"),
    ("a@[IPv6:2001:db8::g]", "invalid address literal"),
    ("a@[IPv6:192.0.2.1]", "invalid address literal"),
    // `::` for one group (RFC 5321 IPv6-comp: at most 6 groups besides the `::`).
    ("a@[IPv6:1:2:3:4:5:6:7::]", "invalid address literal"),
    ("a@[IPv6:1:2:3::4:5:6:7]", "invalid address literal"),
    ("a@[IPv6:1:2:3:4:5::1.2.3.4]", "invalid address literal"),
    ("a@[IPv4:192.0.2.1]", "invalid address literal"),
    ("a@[x-tag:anything]", "invalid address literal"),
    ("a@[192.0.2.1]x", "invalid address literal"),
    ("a@[192.0.2.1]]", "invalid address literal"),
];

fn err(reason: &'static str) -> Result<Mailbox, InputError> {
    Err(InputError::Address(reason))
}

#[test]
fn accepts_rfc_5321_mailboxes() {
    for &text in VALID {
        let mailbox = Mailbox::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        let (local_part, domain) = text.rsplit_once('@').unwrap();
        assert_eq!(mailbox.as_str(), text);
        assert_eq!(mailbox.to_string(), text);
        assert_eq!(mailbox.local_part(), local_part, "{text:?}");
        assert_eq!(mailbox.domain(), domain, "{text:?}");
        assert!(!mailbox.needs_smtputf8(), "{text:?}");
    }
}

#[test]
fn accepts_utf8_mailboxes_that_need_smtputf8() {
    for &text in VALID_UTF8 {
        let mailbox = Mailbox::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        let (local_part, domain) = text.rsplit_once('@').unwrap();
        assert_eq!(mailbox.local_part(), local_part, "{text:?}");
        assert_eq!(mailbox.domain(), domain, "{text:?}");
        assert!(mailbox.needs_smtputf8(), "{text:?}");
    }
}

#[test]
fn refuses_invalid_mailboxes_with_a_reason() {
    for &(text, reason) in INVALID {
        assert_eq!(Mailbox::parse(text), err(reason), "{text:?}");
    }
}

#[test]
fn from_str_and_debug() {
    let mailbox: Mailbox = "alice@example.com".parse().unwrap();
    assert_eq!(format!("{mailbox:?}"), "Mailbox(\"alice@example.com\")");
    assert!("a b@c".parse::<Mailbox>().is_err());
}

fn repeat(c: char, n: usize) -> String {
    std::iter::repeat_n(c, n).collect()
}

#[test]
fn local_part_limit_is_64_octets() {
    let at_limit = format!("{}@example.com", repeat('a', 64));
    assert!(Mailbox::parse(&at_limit).is_ok());
    let over = format!("{}@example.com", repeat('a', 65));
    assert_eq!(Mailbox::parse(&over), err("local part over 64 octets"));
    // Octets, not characters: 22 × 3 octets.
    let utf8 = format!("{}@example.com", repeat('用', 22));
    assert_eq!(Mailbox::parse(&utf8), err("local part over 64 octets"));
    let quoted = format!("\"{}\"@example.com", repeat(' ', 62));
    assert!(Mailbox::parse(&quoted).is_ok());
    let quoted = format!("\"{}\"@example.com", repeat(' ', 63));
    assert_eq!(Mailbox::parse(&quoted), err("local part over 64 octets"));
}

/// A domain of exactly `len` octets, in labels of at most 63.
fn domain_of(len: usize) -> String {
    let labels = format!("{}.", repeat('d', 63)).repeat(len / 64 + 1);
    match &labels[..len] {
        ends_with_dot if ends_with_dot.ends_with('.') => format!("{}.e", &labels[..len - 2]),
        domain => domain.to_owned(),
    }
}

#[test]
fn domain_limit_is_255_octets() {
    let over = format!("a@{}", domain_of(256));
    assert_eq!(Mailbox::parse(&over), err("domain over 255 octets"));
    // At 255 the domain itself is fine, but no mailbox with it fits in a 256-octet path.
    let at_limit = format!("a@{}", domain_of(255));
    assert_eq!(Mailbox::parse(&at_limit), err("path over 256 octets"));
    assert!(ClientName::parse(&domain_of(255)).is_ok());
    assert_eq!(
        ClientName::parse(&domain_of(256)),
        Err(InputError::ClientName)
    );
}

#[test]
fn path_limit_is_256_octets() {
    // `<` + 64 + `@` + 189 + `>` = 256.
    let at_limit = format!("{}@{}", repeat('a', 64), domain_of(189));
    assert_eq!(at_limit.len() + 2, 256);
    assert!(Mailbox::parse(&at_limit).is_ok());
    let over = format!("{}@{}", repeat('a', 64), domain_of(190));
    assert_eq!(Mailbox::parse(&over), err("path over 256 octets"));
}

#[test]
fn label_limit_is_63_octets() {
    assert!(Mailbox::parse(&format!("a@{}.example", repeat('x', 63))).is_ok());
    let over = format!("a@{}.example", repeat('x', 64));
    assert_eq!(Mailbox::parse(&over), err("invalid domain"));
    assert!(ClientName::parse(&repeat('x', 64)).is_err());
}

#[test]
fn client_name_accepts_domains() {
    for name in [
        "mail.example.com",
        "localhost",
        "a-b.c0",
        "xn--bcher-kva.example",
        "1.2.3",
    ] {
        let parsed = ClientName::parse(name).unwrap_or_else(|e| panic!("{name:?}: {e}"));
        assert!(matches!(&parsed, ClientName::Domain { 0: domain, .. } if domain == name));
        assert_eq!(parsed.to_string(), name);
    }
}

#[test]
fn client_name_accepts_address_literals_and_bare_addresses() {
    for (name, ip, display) in [
        ("[192.0.2.1]", "192.0.2.1", "[192.0.2.1]"),
        ("192.0.2.1", "192.0.2.1", "[192.0.2.1]"),
        ("[IPv6:2001:db8::1]", "2001:db8::1", "[IPv6:2001:db8::1]"),
        (
            "[ipv6:2001:DB8:0:0:0:0:0:1]",
            "2001:db8::1",
            "[IPv6:2001:db8::1]",
        ),
        ("2001:db8::1", "2001:db8::1", "[IPv6:2001:db8::1]"),
        ("::1", "::1", "[IPv6:::1]"),
    ] {
        let parsed = ClientName::parse(name).unwrap_or_else(|e| panic!("{name:?}: {e}"));
        assert_eq!(parsed, ClientName::Address(ip.parse::<IpAddr>().unwrap()));
        assert_eq!(parsed.to_string(), display);
        assert_eq!(parsed, name.parse().unwrap());
    }
}

#[test]
fn client_name_refuses_everything_else_e42() {
    for name in [
        "client.test\r\nMAIL FROM:<x>",
        "client.test\n",
        "client test",
        "",
        " ",
        "client.test ",
        "例子.中国",
        "-client.test",
        "client-.test",
        "client..test",
        "client.test.",
        "client_test",
        "[]",
        "[client.test]",
        "[192.0.2.1",
        "192.0.2.1]",
        "[192.0.2.256]",
        "[2001:db8::1]",
        "[IPv6:192.0.2.1]",
        "[x-tag:anything]",
        "IPv6:2001:db8::1",
        "<client.test>",
        "a\0",
    ] {
        assert_eq!(
            ClientName::parse(name),
            Err(InputError::ClientName),
            "{name:?}"
        );
    }
}

#[test]
fn client_name_defaults_to_localhost() {
    assert_eq!(ClientName::default().to_string(), "localhost");
    assert_eq!(
        ClientName::default(),
        ClientName::parse("localhost").unwrap()
    );
}

/// Bytes that would end or split an SMTP command line if unquoted.
const UNSAFE: &[u8] = b"\0\r\n<> ";

/// Characters that could break a command line, or the grammar.
fn hostile() -> impl Strategy<Value = char> {
    prop::sample::select("\r\n\0 <>\t@\"\\[]:\u{85}".chars().collect::<Vec<_>>())
}

/// Mostly characters from `usual`, now and then a hostile one.
fn text(usual: &str, len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    let usual = prop::sample::select(usual.chars().collect::<Vec<_>>());
    let char = prop_oneof![30 => usual, 1 => hostile()];
    prop::collection::vec(char, len).prop_map(String::from_iter)
}

/// Candidate mailboxes, about a third of them valid.
fn mailbox_like() -> impl Strategy<Value = String> {
    let local_part = prop_oneof![
        text("abz09!#$%&'*+-/=?^_`{|}~.é用", 0..12),
        text("az @<>.é()\\\"", 0..12).prop_map(|quoted| format!("\"{quoted}\"")),
    ];
    let domain = prop_oneof![
        3 => text("abz09-.é", 1..20),
        1 => address_literal_like(),
    ];
    (local_part, domain).prop_map(|(local_part, domain)| format!("{local_part}@{domain}"))
}

/// Candidate address literals: real addresses, sometimes with a stray character.
fn address_literal_like() -> impl Strategy<Value = String> {
    let literal = prop_oneof![
        any::<std::net::Ipv4Addr>().prop_map(|ip| ip.to_string()),
        any::<std::net::Ipv6Addr>().prop_map(|ip| format!("IPv6:{ip}")),
    ];
    let stray = prop::option::weighted(0.2, (hostile(), any::<prop::sample::Index>()));
    (literal, stray).prop_map(|(mut literal, stray)| {
        if let Some((stray, at)) = stray {
            literal.insert(at.index(literal.len()), stray);
        }
        format!("[{literal}]")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn line_breaks_and_nul_are_always_refused(
        text in prop_oneof![any::<String>(), mailbox_like()],
        position in any::<prop::sample::Index>(),
        breaker in prop::sample::select(vec!['\r', '\n', '\0']),
    ) {
        let boundaries: Vec<usize> = (0..=text.len()).filter(|&at| text.is_char_boundary(at)).collect();
        let at = boundaries[position.index(boundaries.len())];
        let text = format!("{}{breaker}{}", &text[..at], &text[at..]);
        prop_assert_eq!(Mailbox::parse(&text), err("control character"));
        prop_assert_eq!(ClientName::parse(&text), Err(InputError::ClientName));
    }

    #[test]
    fn accepted_mailboxes_are_safe_on_a_command_line(text in mailbox_like()) {
        if let Ok(mailbox) = Mailbox::parse(&text) {
            prop_assert_eq!(mailbox.as_str(), &text);
            prop_assert_eq!(format!("{}@{}", mailbox.local_part(), mailbox.domain()), text.clone());
            let local_part = mailbox.local_part();
            let quoted = local_part.starts_with('"');
            for &octet in local_part.as_bytes() {
                let unsafe_here = if quoted { b"\0\r\n".contains(&octet) } else { UNSAFE.contains(&octet) };
                prop_assert!(!unsafe_here, "{:?} in {:?}", octet as char, text);
            }
            prop_assert!(!mailbox.domain().bytes().any(|octet| UNSAFE.contains(&octet)));
            prop_assert!(!text.chars().any(char::is_control));
            prop_assert!(text.len() + 2 <= 256);
            prop_assert_eq!(mailbox.needs_smtputf8(), !text.is_ascii());
        }
    }

    #[test]
    fn accepted_client_names_are_safe_on_a_command_line(
        text in prop_oneof![
            text("abz09-.", 1..24),
            address_literal_like(),
            any::<IpAddr>().prop_map(|ip| ip.to_string()),
        ],
    ) {
        if let Ok(name) = ClientName::parse(&text) {
            let shown = name.to_string();
            prop_assert!(shown.is_ascii());
            prop_assert!(!shown.bytes().any(|octet| UNSAFE.contains(&octet)), "{:?}", shown);
            prop_assert_eq!(ClientName::parse(&shown), Ok(name));
        }
    }
}
