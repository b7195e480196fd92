//! Built-in settings for the mail providers people use most.

use smtpwire::session::TlsPolicy;

/// One provider's submission settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Provider {
    /// The name used with `--provider`.
    pub name: &'static str,
    /// What it is.
    pub label: &'static str,
    /// The SMTP host.
    pub host: &'static str,
    /// The implicit-TLS port, if offered (465).
    pub implicit_port: Option<u16>,
    /// The STARTTLS submission port, if offered (587 or 25).
    pub starttls_port: Option<u16>,
    /// What users need to know.
    pub notes: &'static str,
}

impl Provider {
    /// The port and TLS mode to use: implicit TLS when offered (RFC 8314 prefers it), else
    /// STARTTLS required; or the mode asked for.
    pub fn endpoint(&self, tls: Option<TlsPolicy>) -> Option<(u16, TlsPolicy)> {
        match tls {
            Some(TlsPolicy::Implicit) => self.implicit_port.map(|p| (p, TlsPolicy::Implicit)),
            Some(policy) => self.starttls_port.map(|p| (p, policy)),
            None => self
                .implicit_port
                .map(|p| (p, TlsPolicy::Implicit))
                .or(self.starttls_port.map(|p| (p, TlsPolicy::StartTlsRequired))),
        }
    }
}

const AUTH_CODE: &str = "password: the authorization code (授权码) from Settings → Account → \
                         POP3/IMAP/SMTP, not the login password; MAIL FROM must be the account";

/// Every preset, in the order `smtpwire providers` lists them.
pub const PROVIDERS: &[Provider] = &[
    Provider {
        name: "qq",
        label: "QQ Mail",
        host: "smtp.qq.com",
        implicit_port: Some(465),
        starttls_port: Some(587),
        notes: AUTH_CODE,
    },
    Provider {
        name: "exmail",
        label: "Tencent Exmail (企业邮箱)",
        host: "smtp.exmail.qq.com",
        implicit_port: Some(465),
        starttls_port: Some(587),
        notes: "password: the client-specific password if \"secure login\" is on",
    },
    Provider {
        name: "163",
        label: "NetEase 163 Mail",
        host: "smtp.163.com",
        implicit_port: Some(465),
        starttls_port: Some(25),
        notes: AUTH_CODE,
    },
    Provider {
        name: "126",
        label: "NetEase 126 Mail",
        host: "smtp.126.com",
        implicit_port: Some(465),
        starttls_port: Some(25),
        notes: AUTH_CODE,
    },
    Provider {
        name: "yeah",
        label: "NetEase yeah.net",
        host: "smtp.yeah.net",
        implicit_port: Some(465),
        starttls_port: Some(25),
        notes: AUTH_CODE,
    },
    Provider {
        name: "gmail",
        label: "Gmail",
        host: "smtp.gmail.com",
        implicit_port: Some(465),
        starttls_port: Some(587),
        notes:
            "password: an app password (needs 2-step verification), or --auth xoauth2 with a token",
    },
    Provider {
        name: "outlook",
        label: "Outlook / Microsoft 365",
        host: "smtp.office365.com",
        implicit_port: None,
        starttls_port: Some(587),
        notes: "STARTTLS on 587 only; basic AUTH may be disabled by the tenant: use --auth xoauth2",
    },
    Provider {
        name: "icloud",
        label: "iCloud Mail",
        host: "smtp.mail.me.com",
        implicit_port: None,
        starttls_port: Some(587),
        notes: "password: an app-specific password from appleid.apple.com",
    },
    Provider {
        name: "yahoo",
        label: "Yahoo Mail",
        host: "smtp.mail.yahoo.com",
        implicit_port: Some(465),
        starttls_port: Some(587),
        notes: "password: an app password",
    },
    Provider {
        name: "aliyun",
        label: "Aliyun Mail",
        host: "smtp.aliyun.com",
        implicit_port: Some(465),
        starttls_port: Some(25),
        notes: "enable SMTP in the mailbox settings first",
    },
    Provider {
        name: "sina",
        label: "Sina Mail",
        host: "smtp.sina.com",
        implicit_port: Some(465),
        starttls_port: Some(25),
        notes: "password: the authorization code once SMTP is enabled",
    },
    Provider {
        name: "zoho",
        label: "Zoho Mail",
        host: "smtp.zoho.com",
        implicit_port: Some(465),
        starttls_port: Some(587),
        notes: "accounts outside the US use smtp.zoho.eu / .in …: pass --server instead",
    },
];

/// Finds a preset by name, ignoring case.
pub fn find(name: &str) -> Option<&'static Provider> {
    PROVIDERS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// The `providers` subcommand's table.
pub fn table() -> String {
    let mut out = format!(
        "{:<8} {:<22} {:<20} {:<9} {:<9} notes\n",
        "name", "provider", "host", "implicit", "starttls"
    );
    for p in PROVIDERS {
        let port = |p: Option<u16>| p.map_or_else(|| "-".to_owned(), |p| p.to_string());
        out.push_str(&format!(
            "{:<8} {:<22} {:<20} {:<9} {:<9} {}\n",
            p.name,
            p.label,
            p.host,
            port(p.implicit_port),
            port(p.starttls_port),
            p.notes
        ));
    }
    out
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_resolves_exactly() {
        let expected: &[(&str, &str, u16, TlsPolicy)] = &[
            ("qq", "smtp.qq.com", 465, TlsPolicy::Implicit),
            ("exmail", "smtp.exmail.qq.com", 465, TlsPolicy::Implicit),
            ("163", "smtp.163.com", 465, TlsPolicy::Implicit),
            ("126", "smtp.126.com", 465, TlsPolicy::Implicit),
            ("yeah", "smtp.yeah.net", 465, TlsPolicy::Implicit),
            ("gmail", "smtp.gmail.com", 465, TlsPolicy::Implicit),
            (
                "outlook",
                "smtp.office365.com",
                587,
                TlsPolicy::StartTlsRequired,
            ),
            (
                "icloud",
                "smtp.mail.me.com",
                587,
                TlsPolicy::StartTlsRequired,
            ),
            ("yahoo", "smtp.mail.yahoo.com", 465, TlsPolicy::Implicit),
            ("aliyun", "smtp.aliyun.com", 465, TlsPolicy::Implicit),
            ("sina", "smtp.sina.com", 465, TlsPolicy::Implicit),
            ("zoho", "smtp.zoho.com", 465, TlsPolicy::Implicit),
        ];
        assert_eq!(expected.len(), PROVIDERS.len());
        for (name, host, port, policy) in expected {
            let provider = find(name).unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(provider.host, *host);
            assert_eq!(provider.endpoint(None), Some((*port, *policy)), "{name}");
        }
        let qq = find("QQ").unwrap_or_else(|| panic!("case-insensitive"));
        assert_eq!(
            qq.endpoint(Some(TlsPolicy::StartTlsRequired)),
            Some((587, TlsPolicy::StartTlsRequired))
        );
        assert_eq!(
            find("outlook").and_then(|p| p.endpoint(Some(TlsPolicy::Implicit))),
            None
        );
    }
}
