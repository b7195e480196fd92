//! The real test servers of `scripts/test-servers.sh` (a private Postfix and aiosmtpd on
//! loopback), from its `SMTPWIRE_TEST_*` variables, and reading delivered mail back: the one
//! server-environment helper, included by `#[path]` from the CLI's tests too.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

/// The servers and the test account.
pub struct Servers {
    /// Postfix, plain SMTP (`127.0.0.1:PORT`).
    pub plain: String,
    /// Postfix submission: STARTTLS, then AUTH.
    pub submission: String,
    /// Postfix submissions: implicit TLS, then AUTH.
    pub smtps: String,
    /// aiosmtpd: STARTTLS, then AUTH.
    pub aiosmtpd: String,
    /// The CA that signed the servers' certificate (for `localhost` and 127.0.0.1).
    pub ca: PathBuf,
    pub user: String,
    pub password: String,
    /// The test user's Maildir (Postfix delivers there).
    pub maildir: PathBuf,
    /// Where aiosmtpd writes each message.
    pub aiosmtpd_dir: PathBuf,
    /// A recipient Postfix refuses with 550.
    pub rejected: String,
    /// A recipient Postfix defers with 450.
    pub deferred: String,
    /// The directory of the bad certificates (`untrusted`, `wrong-host`, `expired`).
    pub tls: PathBuf,
}

/// The servers, or `None` with a message; under `CI=true` their absence is a failure.
pub fn servers() -> Option<Servers> {
    let var = |name: &str| std::env::var(format!("SMTPWIRE_TEST_{name}")).ok();
    let found = (|| {
        Some(Servers {
            plain: var("POSTFIX_PLAIN")?,
            submission: var("POSTFIX_SUBMISSION")?,
            smtps: var("POSTFIX_SMTPS")?,
            aiosmtpd: var("AIOSMTPD")?,
            ca: var("CA")?.into(),
            user: var("USER")?,
            password: var("PASSWORD")?,
            maildir: var("MAILDIR")?.into(),
            aiosmtpd_dir: var("AIOSMTPD_DIR")?.into(),
            rejected: var("RCPT_REJECTED")?,
            deferred: var("RCPT_DEFERRED")?,
            tls: PathBuf::from(var("UNTRUSTED_CERT")?).parent()?.to_owned(),
        })
    })();
    skip_unless_ci(
        found,
        "CI=true but the test servers are not up: run scripts/test-servers.sh up and export its env",
        "skipping: real test servers not running (scripts/test-servers.sh up; eval \"$(scripts/test-servers.sh env)\")",
    )
}

/// `found`; or, when it is `None`, a failure under `CI=true` (CI must run every test),
/// otherwise `None` after saying `skipping`.
pub fn skip_unless_ci<T>(found: Option<T>, failure: &str, skipping: &str) -> Option<T> {
    if found.is_none() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{failure}");
        eprintln!("{skipping}");
    }
    found
}

/// The port of an `address:port`.
pub fn port(address: &str) -> u16 {
    address.rsplit(':').next().unwrap().parse().unwrap()
}

/// `localhost:PORT` for one of the addresses: the certificate names localhost, so connecting
/// by name checks SNI and the name too.
pub fn by_name(address: &str) -> String {
    format!("localhost:{}", port(address))
}

/// A string found nowhere else, to pick a message out of a shared mailbox.
pub fn token(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}{nanos}x{}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Every delivered file in `dir` holding `token` (one per recipient for Postfix), waiting up
/// to 15 s for at least `count`. Only files changed in the last ten minutes are read.
pub fn delivered(dir: &Path, token: &str, count: usize) -> Vec<Vec<u8>> {
    let recent = SystemTime::now() - Duration::from_secs(600);
    let mut found = Vec::new();
    for _ in 0..150 {
        found.clear();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let fresh = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= recent);
            if !fresh || path.extension().is_some_and(|e| e == "json") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap_or_default();
            if bytes.windows(token.len()).any(|w| w == token.as_bytes()) {
                found.push(bytes);
            }
        }
        if found.len() >= count {
            return found;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "{count} message(s) with {token} never arrived in {} (found {})",
        dir.display(),
        found.len()
    );
}
