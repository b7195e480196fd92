//! The classic mistakes, recognised from what the server said, and explained in plain words
//! with what to do: the authorization code (授权码) instead of the web password, SMTP not
//! switched on, a sender other than the account, a wrong clock, an untrusted or misnamed
//! certificate.

use super::certificate::{ChainTrust, Dates, Examined};
use super::report::{date_time, days_from_civil, span};
use smtpwire::reply::Reply;

/// Which provider we talk to, from the host name or else the user's domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    Qq,
    Exmail,
    NetEase,
    Sina,
    Aliyun,
    Gmail,
    Outlook,
    ICloud,
    Yahoo,
    Other,
}

impl Family {
    /// From the host name alone: what the certificate and the ports should be.
    pub(crate) fn of_host(host: &str) -> Self {
        Self::detect(host, None)
    }

    /// From the host name, or else the user's domain: what the account wants.
    pub(crate) fn detect(host: &str, user: Option<&str>) -> Self {
        let by_domain = |domain: &str| -> Self {
            let domain = domain.trim_end_matches('.').to_ascii_lowercase();
            let is = |suffix: &str| domain == suffix || domain.ends_with(&format!(".{suffix}"));
            if is("exmail.qq.com") {
                Self::Exmail
            } else if is("qq.com") || is("foxmail.com") {
                Self::Qq
            } else if is("163.com") || is("126.com") || is("yeah.net") || is("188.com") {
                Self::NetEase
            } else if is("sina.com") || is("sina.cn") {
                Self::Sina
            } else if is("aliyun.com") {
                Self::Aliyun
            } else if is("gmail.com") || is("googlemail.com") {
                Self::Gmail
            } else if is("office365.com")
                || is("outlook.com")
                || is("hotmail.com")
                || is("live.com")
            {
                Self::Outlook
            } else if is("me.com") || is("icloud.com") || is("mac.com") {
                Self::ICloud
            } else if is("yahoo.com") || is("yahoo.co.jp") {
                Self::Yahoo
            } else {
                Self::Other
            }
        };
        match by_domain(host) {
            Self::Other => user
                .and_then(|u| u.rsplit_once('@'))
                .map_or(Self::Other, |(_, domain)| by_domain(domain)),
            known => known,
        }
    }

    pub(crate) fn label(self) -> Option<&'static str> {
        Some(match self {
            Self::Qq => "QQ Mail",
            Self::Exmail => "Tencent Exmail",
            Self::NetEase => "NetEase Mail (163/126/yeah)",
            Self::Sina => "Sina Mail",
            Self::Aliyun => "Aliyun Mail",
            Self::Gmail => "Gmail",
            Self::Outlook => "Outlook / Microsoft 365",
            Self::ICloud => "iCloud Mail",
            Self::Yahoo => "Yahoo Mail",
            Self::Other => return None,
        })
    }

    /// Providers whose SMTP password is an authorization code (授权码).
    fn uses_authorization_code(self) -> bool {
        matches!(self, Self::Qq | Self::NetEase | Self::Sina | Self::Aliyun)
    }

    /// A large public provider, whose certificate is certainly publicly trusted and current.
    pub(crate) fn is_public(self) -> bool {
        self != Self::Other
    }

    /// Where to switch SMTP on and get the authorization code.
    fn settings(self) -> &'static str {
        match self {
            Self::Qq => {
                "QQ Mail on the web: Settings (设置) → Account (账户) → \"POP3/IMAP/SMTP/Exchange/\
                 CardDAV/CalDAV service\": turn on the POP3/SMTP (or IMAP/SMTP) service, then \
                 generate an authorization code (生成授权码)"
            }
            Self::NetEase => {
                "163/126 mail on the web: Settings (设置) → POP3/SMTP/IMAP: turn on the SMTP \
                 service (开启服务) and add an authorization code (新增授权密码)"
            }
            Self::Sina => {
                "Sina Mail on the web: Settings (设置) → client POP/IMAP/SMTP: turn the SMTP service \
                 on and use the authorization code it shows"
            }
            Self::Aliyun => {
                "Aliyun Mail on the web: Settings → POP3/SMTP/IMAP: turn SMTP on (and use the \
                 client password if one is required)"
            }
            Self::Exmail => {
                "Tencent Exmail on the web: Settings (设置) → Client settings (客户端设置): turn on \
                 SMTP; with secure login (安全登录) on, generate a client-specific password \
                 (客户端专用密码) and use it"
            }
            Self::Gmail => {
                "Google Account → Security: turn on 2-Step Verification, then create an app \
                 password at https://myaccount.google.com/apppasswords"
            }
            Self::Outlook => {
                "Microsoft 365 admin center → Users → the mailbox → Mail → Manage email apps: \
                 turn on \"Authenticated SMTP\" (or use --auth xoauth2 with an OAuth token)"
            }
            Self::ICloud => "appleid.apple.com → Sign-In and Security → App-Specific Passwords",
            Self::Yahoo => "Yahoo Account security → Generate app password",
            Self::Other => "the mailbox's web settings (often \"POP3/IMAP/SMTP\" or \"mail apps\")",
        }
    }
}

/// The reply text in lower case, for matching.
fn text(reply: &Reply) -> String {
    reply.text_lossy().to_lowercase()
}

fn contains_any(haystack: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| haystack.contains(n))
}

/// Signs that the SMTP service is switched off for the account.
fn service_disabled(reply: &Reply) -> bool {
    let text = text(reply);
    contains_any(
        &text,
        &[
            "no permission",
            "not open",
            "not enabled",
            "is disabled",
            "been disabled",
            "smtpclientauthentication",
            "smtp service",
            "未开启",
            "未开通",
            "没有开启",
            "没有权限",
        ],
    )
}

/// Why AUTH was refused, and what to do. The reply is the server's answer to AUTH.
pub(crate) fn auth_refused(reply: &Reply, family: Family, user: &str) -> (String, String) {
    let code = reply.code().get();
    let lower = text(reply);
    let mut why;
    let mut fix;
    if code / 100 == 4 {
        why = format!(
            "The server could not check the login just now ({reply}): a temporary problem on its \
             side, or too many attempts in a short time."
        );
        fix = "Wait a few minutes and run the check again; if it persists, the provider may have \
               locked the account after failed attempts: log in on the web once."
            .to_owned();
        return (why, fix);
    }
    if contains_any(&lower, &["application-specific password", "app password"]) {
        why = format!(
            "Gmail refuses the account password for SMTP ({reply}): it needs an app password."
        );
        fix = format!(
            "Create one in the {}, and use it as the password.",
            Family::Gmail.settings()
        );
        return (why, fix);
    }
    if contains_any(&lower, &["web browser", "weblogin", "signin"]) {
        why = format!("The provider blocked this sign-in as suspicious ({reply}).");
        fix = "Log in to the mailbox on the web from this machine's network once, confirm it was \
               you, then use an app password or authorization code."
            .to_owned();
        return (why, fix);
    }
    if matches!(code, 530 | 538) && contains_any(&lower, &["starttls", "tls", "encrypt"]) {
        why = format!("The server wants TLS before the login ({reply}).");
        fix = "Use --tls starttls (587) or --tls implicit (465).".to_owned();
        return (why, fix);
    }
    if service_disabled(reply) || matches!(code, 550 | 553 | 554) {
        why = format!(
            "The server refuses SMTP logins for this account ({reply}): the SMTP service is \
             most likely not switched on in the mailbox's settings."
        );
        fix = format!(
            "Switch it on in {}, then use the password it gives you.",
            family.settings()
        );
        if family == Family::Outlook {
            fix.push_str(
                " Microsoft may also have turned off basic authentication for the tenant: then \
                 only --auth xoauth2 works.",
            );
        }
        return (why, fix);
    }
    // 535, 534 and the rest: the user name or the password is wrong.
    why = format!("The server refused the user name or the password ({reply}).");
    match family {
        f if f.uses_authorization_code() => {
            why.push_str(&format!(
                " {} wants the authorization code (授权码) as the SMTP password, not the password \
                 you log in to the website with: the web password is always refused with 535. \
                 A 535 also comes when SMTP is not switched on for the mailbox.",
                f.label().unwrap_or("This provider")
            ));
            fix = format!(
                "Get an authorization code in {}, and pass it with --password-env VAR or \
                 --password-file PATH (never on the command line).",
                f.settings()
            );
        }
        Family::Exmail => {
            why.push_str(
                " Tencent Exmail with secure login (安全登录) on wants a client-specific password \
                 (客户端专用密码), not the web password.",
            );
            fix = format!("Generate one in {}.", Family::Exmail.settings());
        }
        Family::Gmail | Family::ICloud | Family::Yahoo => {
            why.push_str(&format!(
                " {} refuses the normal account password for SMTP: it needs an app password.",
                family.label().unwrap_or("The provider")
            ));
            fix = format!("Create one in {}.", family.settings());
        }
        Family::Outlook => {
            why.push_str(
                " Microsoft 365 often refuses password logins altogether (basic authentication \
                 turned off, or Authenticated SMTP off for the mailbox).",
            );
            fix = format!(
                "Check the password (an app password with MFA on), or ask the admin: {}.",
                Family::Outlook.settings()
            );
        }
        _ => {
            why.push_str(
                " If this is QQ Mail, 163 or 126: the password must be the authorization code \
                 (授权码) made in the mailbox's settings, not the web login password, which \
                 they refuse with 535. Gmail, Outlook, iCloud and Yahoo want an app password.",
            );
            fix = "Check --user (usually the full address) and the password source; for QQ Mail, \
                   163 and 126 generate an authorization code (授权码) in the web mailbox's \
                   settings (POP3/IMAP/SMTP) and use it as the password."
                .to_owned();
        }
    }
    if family != Family::Other && !user.contains('@') {
        fix.push_str(&format!(
            " Also, the user name should be the full address (like 1234567@qq.com), not {user:?}."
        ));
    }
    (why, fix)
}

/// Why MAIL FROM was refused, and what to do.
pub(crate) fn mail_from_refused(
    reply: &Reply,
    family: Family,
    from: &str,
    user: Option<&str>,
) -> (String, String) {
    let code = reply.code().get();
    let lower = text(reply);
    let differs = user.is_some_and(|u| !u.eq_ignore_ascii_case(from));
    if code / 100 == 4 {
        return (
            format!("The server put the sender off for now ({reply})."),
            "Try again later.".to_owned(),
        );
    }
    if contains_any(
        &lower,
        &[
            "authentication required",
            "auth first",
            "need auth",
            "login first",
        ],
    ) || (code == 530 && user.is_none())
    {
        return (
            format!("The server takes mail only after a login ({reply})."),
            "Give --user and a password source (--password-env VAR) so the check logs in first."
                .to_owned(),
        );
    }
    if contains_any(&lower, &["no permission"]) || service_disabled(reply) {
        return (
            format!(
                "The server does not let this account send ({reply}): on 163/126 this is what \
                 an account without the SMTP service switched on gets."
            ),
            format!("Switch SMTP on in {}.", family.settings()),
        );
    }
    let mismatch_words = contains_any(
        &lower,
        &[
            "authoriz",
            "authentic",
            "same as",
            "must equal",
            "must be",
            "not owned",
            "not match",
            "mismatch",
            "login",
        ],
    );
    if differs && (mismatch_words || matches!(code, 501 | 553 | 550)) {
        let user = user.unwrap_or_default();
        return (
            format!(
                "The server refuses {from} as the sender because it is not the account you \
                 logged in as ({user}). QQ Mail answers 501 and 163/126 answer 553 to a MAIL FROM \
                 that differs from the login."
            ),
            format!(
                "Use --from {user} (the From header may still carry a display name: \"Your Name \
                 <{user}>\"). To send as another address, add it as a sender or alias in the \
                 provider's settings first."
            ),
        );
    }
    if mismatch_words {
        return (
            format!("The server does not let this login use {from} as the sender ({reply})."),
            "Use the address you log in with as --from, or allow this address as a sender in \
             the provider's settings."
                .to_owned(),
        );
    }
    (
        format!("The server refused {from} as the sender ({reply})."),
        "Check the address; the server's words above say what it dislikes.".to_owned(),
    )
}

/// A note for a sender the server took: some providers only check later.
pub(crate) fn mail_from_note(family: Family) -> Option<&'static str> {
    match family {
        Family::Outlook => Some(
            "Microsoft 365 checks the sender only after the message data (554 5.2.252 \
             SendAsDenied), so this pass does not prove it will accept it.",
        ),
        Family::Gmail => Some(
            "Gmail accepts any sender here but rewrites From to the account unless the address \
             is added under \"Send mail as\".",
        ),
        _ => None,
    }
}

/// Why the certificate check failed, and what to do, from its examination.
pub(crate) fn certificate_problems(
    examined: &Examined,
    host: &str,
    port: u16,
    family: Family,
    ca_file: Option<&std::path::Path>,
    server_clock: Option<i64>,
) -> (String, Vec<String>, Vec<String>) {
    let mut summary = Vec::new();
    let mut why = Vec::new();
    let mut fix = Vec::new();
    let leaf = examined.leaf.as_ref();
    let issuer = leaf.map_or("(unknown)", |l| l.issuer.as_str());
    match &examined.trust {
        ChainTrust::Trusted { .. } => {}
        ChainTrust::UnknownIssuer => {
            summary.push(format!("certificate not trusted (issued by {issuer})"));
            let anchors = match ca_file {
                Some(path) => format!(
                    "the public CAs (Mozilla's list) or the CA file {}",
                    path.display()
                ),
                None => "the public CAs (Mozilla's list)".to_owned(),
            };
            let mut text = format!(
                "The certificate was issued by \"{issuer}\", which is not one of {anchors}"
            );
            if leaf.is_some_and(|l| l.self_signed) {
                text.push_str(": it is self-signed (the server made it for itself).");
            } else if examined.intermediates.is_empty() {
                text.push_str(
                    " — or the server did not send the intermediate certificate that links it to \
                     a public CA.",
                );
            } else {
                text.push('.');
            }
            if family.is_public() {
                text.push_str(&format!(
                    " {host} has a publicly trusted certificate, so a certificate from an unknown \
                     CA means something between you and the server intercepts the connection \
                     (a company proxy, antivirus \"mail scanning\", a captive portal): do not \
                     send a password through it."
                ));
            }
            why.push(text);
            fix.push(if family.is_public() {
                "Use another network, or turn off the antivirus's or proxy's TLS interception for \
                 mail; then check again."
                    .to_owned()
            } else {
                "If this server uses a private CA (a company relay, a test server), pass that CA's \
                 certificate with --ca-file CA.pem; ask its administrator for it. If the server \
                 should have a public certificate, its administrator must install the full chain."
                    .to_owned()
            });
        }
        ChainTrust::Other(reason) => {
            summary.push(format!("certificate chain rejected ({reason})"));
            why.push(format!(
                "The certificate chain is not acceptable: {reason}."
            ));
            fix.push("The server's administrator must fix the certificate.".to_owned());
        }
    }
    if !examined.name_matches {
        let names = leaf.map_or_else(String::new, |l| l.names.join(", "));
        summary.push(format!("certificate is not for {host}"));
        let is_ip = host.parse::<std::net::IpAddr>().is_ok();
        why.push(format!(
            "The certificate is for {}, not for {host}: either you reached a different server \
             than you meant, or you used another name for it{}.",
            if names.is_empty() {
                "no host name at all".to_owned()
            } else {
                names
            },
            if is_ip { " (an IP address)" } else { "" }
        ));
        let suggestion = leaf
            .and_then(|l| l.dns_names.iter().find(|n| !n.starts_with('*')))
            .map(|name| format!(" Connect with a name it covers: --server {name}:{port}."))
            .unwrap_or_default();
        fix.push(format!(
            "Use the host name the provider documents (see `smtpwire providers`).{suggestion}"
        ));
    }
    match examined.dates {
        Dates::Valid { .. } => {}
        Dates::NotYetValid { early } => {
            let starts = leaf.map_or(0, |l| l.not_before);
            summary.push(format!("certificate not valid until {}", date_time(starts)));
            let mut text = format!(
                "The certificate is valid from {}, but this machine's clock says {} — {} \
                 earlier. A CA does not issue certificates dated in the future, so this \
                 machine's clock is behind (by {} at least).",
                date_time(starts),
                date_time(examined.now),
                span(early),
                span(early)
            );
            if examined.now < WRITTEN {
                text.push_str(" The clock even reads a date before this program was written.");
            }
            why.push(text);
            fix.push(CLOCK_FIX.to_owned());
        }
        Dates::Expired { late } => {
            let ended = leaf.map_or(0, |l| l.not_after);
            summary.push(format!("certificate expired on {}", date_time(ended)));
            let mut text = format!(
                "The certificate expired on {}, {} ago by this machine's clock ({}).",
                date_time(ended),
                span(late),
                date_time(examined.now)
            );
            let chain_expired = !examined.intermediates.is_empty()
                && examined
                    .intermediates
                    .iter()
                    .all(|i| i.not_after < examined.now);
            match server_clock {
                Some(server) if server <= ended && (examined.now - server).abs() > 3600 => {
                    text.push_str(&format!(
                        " The server's greeting gives its own time, {}, when the certificate was \
                         still valid: this machine's clock is {} ahead.",
                        date_time(server),
                        span(examined.now - server)
                    ));
                    fix.push(CLOCK_FIX.to_owned());
                }
                Some(server) => {
                    text.push_str(&format!(
                        " The server's own clock ({}) agrees: the certificate really has expired.",
                        date_time(server)
                    ));
                    fix.push(
                        "Only the server's administrator can fix this by renewing the \
                         certificate; tell them."
                            .to_owned(),
                    );
                }
                None if chain_expired || family.is_public() => {
                    text.push_str(if chain_expired {
                        " Every certificate in the chain has expired by this clock, which points \
                         to this machine's clock being ahead rather than to the server."
                    } else {
                        " Large providers renew their certificates well ahead of time, so this \
                         machine's clock is more likely to be ahead."
                    });
                    fix.push(format!(
                        "{CLOCK_FIX} If the date is right, the server's administrator must renew \
                         the certificate."
                    ));
                }
                None => {
                    text.push_str(
                        " Either the certificate really has expired, or this machine's clock is \
                         ahead.",
                    );
                    fix.push(format!(
                        "Check this machine's date and time (`date`). If they are wrong, {}; if \
                         they are right, the server's administrator must renew the certificate.",
                        CLOCK_FIX_SHORT
                    ));
                }
            }
            why.push(text);
        }
    }
    if why.is_empty() {
        if let Err(error) = &examined.verdict {
            summary.push(format!("certificate refused ({error})"));
            why.push(format!("The certificate check failed: {error}."));
            fix.push("The server's administrator must fix the certificate.".to_owned());
        }
    }
    (summary.join("; "), why, fix)
}

/// When this code was written (2025-06-01): no real clock reads earlier.
const WRITTEN: i64 = 1_748_736_000;

const CLOCK_FIX: &str = "Set this machine's clock right (turn on network time: `timedatectl \
                         set-ntp true` on Linux, \"Set time automatically\" on Windows and \
                         macOS), then check again.";
const CLOCK_FIX_SHORT: &str = "turn on network time (`timedatectl set-ntp true`)";

/// Finds an RFC 5322 date in text (some servers put one in their greeting), as Unix time.
pub(crate) fn find_date(text: &str) -> Option<i64> {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|w| !w.is_empty())
        .collect();
    words.windows(4).enumerate().find_map(|(i, w)| {
        let [day, month, year, time] = w else {
            return None;
        };
        let day: i64 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
        let month = MONTHS
            .iter()
            .position(|m| m.eq_ignore_ascii_case(month))
            .and_then(|m| i64::try_from(m).ok())?
            + 1;
        let year: i64 = year
            .parse()
            .ok()
            .filter(|y| (1970..=9999).contains(y) && year.len() == 4)?;
        let mut parts = time.split(':');
        let hour: i64 = parts.next()?.parse().ok().filter(|h| *h < 24)?;
        let minute: i64 = parts.next()?.parse().ok().filter(|m| *m < 60)?;
        let second: i64 = parts.next().map_or(Some(0), |s| s.parse().ok())?;
        let zone = words.get(i + 4).map_or(0, |z| zone_offset(z));
        Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - zone)
    })
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `+0800` → 28800 seconds; anything else (GMT, UT, a name) → 0.
fn zone_offset(zone: &str) -> i64 {
    let (sign, digits) = match zone.as_bytes().first() {
        Some(b'+') => (1, zone.get(1..)),
        Some(b'-') => (-1, zone.get(1..)),
        _ => return 0,
    };
    match digits
        .filter(|d| d.len() == 4)
        .and_then(|d| d.parse::<i64>().ok())
    {
        Some(hhmm) => sign * ((hhmm / 100) * 3600 + (hhmm % 100) * 60),
        None => 0,
    }
}

/// What the first bytes from the server say it speaks, when it is not SMTP.
pub(crate) fn what_it_speaks(first: &[u8]) -> Option<Speaks> {
    match first {
        [0x16 | 0x15, 0x03, ..] | [0x16 | 0x15] => Some(Speaks::Tls),
        [b'*', b' ', b'O', b'K', ..] => Some(Speaks::Imap),
        [b'+', b'O', b'K', ..] => Some(Speaks::Pop3),
        [b'S', b'S', b'H', b'-', ..] => Some(Speaks::Other("SSH")),
        [b'H', b'T', b'T', b'P', ..] => Some(Speaks::Other("HTTP")),
        _ => None,
    }
}

/// Another protocol found where SMTP was expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Speaks {
    Tls,
    Imap,
    Pop3,
    Other(&'static str),
}

/// The bytes up to the first line end.
pub(crate) fn first_line(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(bytes.len());
    bytes.get(..end).unwrap_or(bytes)
}

/// Up to 80 bytes, printable, for showing what arrived.
pub(crate) fn printable(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes.iter().take(80) {
        match b {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    if bytes.len() > 80 {
        out.push('…');
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use smtpwire::reply::{EnhancedCode, ReplyCode};

    fn reply(code: u16, text: &str) -> Reply {
        Reply::new(
            ReplyCode::new(code).unwrap(),
            None::<EnhancedCode>,
            vec![text.as_bytes().to_vec()],
        )
    }

    #[test]
    fn providers_are_recognised_by_host_or_user() {
        assert_eq!(Family::detect("smtp.qq.com", None), Family::Qq);
        assert_eq!(Family::detect("smtp.exmail.qq.com", None), Family::Exmail);
        assert_eq!(Family::detect("smtp.126.com", None), Family::NetEase);
        assert_eq!(Family::detect("smtp.office365.com", None), Family::Outlook);
        assert_eq!(
            Family::detect("127.0.0.1", Some("me@163.com")),
            Family::NetEase
        );
        assert_eq!(
            Family::detect("mail.example", Some("me@example.org")),
            Family::Other
        );
        assert_eq!(Family::detect("notqq.com", None), Family::Other);
    }

    #[test]
    fn a_refused_login_mentions_the_authorization_code() {
        let qq = reply(
            535,
            "Login Fail. Please enter your authorization code to login.",
        );
        let (why, fix) = auth_refused(&qq, Family::Qq, "1234567@qq.com");
        assert!(why.contains("授权码"), "{why}");
        assert!(fix.contains("生成授权码"), "{fix}");
        let generic = reply(535, "5.7.8 Error: authentication failed");
        let (why, _) = auth_refused(&generic, Family::Other, "tester");
        assert!(why.contains("授权码"), "{why}");
        let (_, fix) = auth_refused(&generic, Family::NetEase, "someone");
        assert!(fix.contains("full address"), "{fix}");
    }

    #[test]
    fn a_disabled_service_is_told_apart() {
        let netease = reply(550, "User has no permission");
        let (why, fix) = auth_refused(&netease, Family::NetEase, "a@163.com");
        assert!(why.contains("not switched on"), "{why}");
        assert!(fix.contains("开启服务"), "{fix}");
        let outlook = reply(
            535,
            "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.",
        );
        let (why, _) = auth_refused(&outlook, Family::Outlook, "a@contoso.com");
        assert!(why.contains("not switched on"), "{why}");
        let (why, _) = mail_from_refused(&netease, Family::NetEase, "a@163.com", Some("a@163.com"));
        assert!(why.contains("SMTP service"), "{why}");
    }

    #[test]
    fn a_sender_other_than_the_login_is_explained() {
        let qq = reply(501, "Mail from address must be same as authorization user.");
        let (why, fix) = mail_from_refused(&qq, Family::Qq, "boss@qq.com", Some("me@qq.com"));
        assert!(why.contains("not the account you logged in as"), "{why}");
        assert!(fix.contains("--from me@qq.com"), "{fix}");
        let netease = reply(553, "Mail from must equal authorized user");
        let (why, _) = mail_from_refused(&netease, Family::NetEase, "x@163.com", Some("y@163.com"));
        assert!(why.contains("553"), "{why}");
    }

    #[test]
    fn dates_in_greetings_are_found() {
        let sendmail = "mail.example ESMTP Sendmail 8.15.2/8.15.2; Mon, 1 Jan 2024 10:00:00 +0100";
        assert_eq!(find_date(sendmail), Some(1_704_099_600));
        let exim = "mx ESMTP Exim 4.96 Tue, 02 Jan 2024 00:00:00 GMT";
        assert_eq!(find_date(exim), Some(1_704_153_600));
        assert_eq!(find_date("localhost ESMTP Postfix"), None);
        assert_eq!(find_date("1 Foo 2024 10:00"), None);
    }

    #[test]
    fn other_protocols_are_recognised() {
        assert_eq!(
            what_it_speaks(b"\x15\x03\x03\x00\x02\x02\x46"),
            Some(Speaks::Tls)
        );
        assert_eq!(
            what_it_speaks(b"* OK [CAPABILITY IMAP4rev1] ready"),
            Some(Speaks::Imap)
        );
        assert_eq!(what_it_speaks(b"+OK POP3 ready"), Some(Speaks::Pop3));
        assert_eq!(what_it_speaks(b"220 smtp ready"), None);
        assert_eq!(printable(b"220 a\r\n\x01"), "220 a\\r\\n\\x01");
    }
}
