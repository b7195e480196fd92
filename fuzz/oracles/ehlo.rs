//! Oracle for EHLO parsing, run by the `ehlo` fuzz target and over the corpus by
//! `tests/corpus_reply.rs`.
//!
//! Every reply framed from the data, and the data itself split into lines at LF (so that
//! lines the framer would refuse reach the parser too), are read as an EHLO reply: nothing
//! panics, the lists stay within their bounds, and only well-formed names get into them.

use smtpwire::auth::Mechanism;
use smtpwire::capabilities::Capabilities;
use smtpwire::reply::{Reply, ReplyCode, ReplyFramer};

/// Checks every property above on `data`; panics on a violation.
pub fn run(data: &[u8]) {
    let mut framer = ReplyFramer::default();
    framer.push(data);
    while let Ok(Some(reply)) = framer.next_reply() {
        check(&Capabilities::from_ehlo(&reply));
    }
    let lines = data.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    check(&Capabilities::from_ehlo(&Reply::new(
        ReplyCode::OK,
        None,
        lines,
    )));
}

fn check(capabilities: &Capabilities) {
    let mechanisms = capabilities.auth_mechanisms();
    assert!(mechanisms.len() <= 64, "{} mechanisms", mechanisms.len());
    for (i, mechanism) in mechanisms.iter().enumerate() {
        assert!(!mechanisms[..i].contains(mechanism), "{mechanism:?} twice");
        assert!(capabilities.supports_auth(mechanism));
        if let Mechanism::Other(name) = mechanism {
            assert!((1..=20).contains(&name.len()), "{name:?}");
            assert!(name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_'));
        }
    }
    let extensions = capabilities.other_extensions();
    assert!(extensions.len() <= 64, "{} extensions", extensions.len());
    for extension in extensions {
        let keyword = extension.keyword();
        assert!(
            keyword.starts_with(|c: char| c.is_ascii_alphanumeric()),
            "{keyword:?}"
        );
        assert!(keyword
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-'));
        assert!(extension.params().iter().all(|param| !param.is_empty()));
    }
    assert!(!capabilities.domain().contains([' ', '\t']));
}
