//! Exit codes (sysexits, like msmtp) and errors that say what failed and what to try.

use smtpwire::{Delivery, ErrorKind, Phase, TlsMismatch, Unsupported};
use std::fmt;
use std::process::ExitCode;

/// The exit statuses, from sysexits.h, plus one for an unknown delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0: the message was accepted for every recipient.
    Ok = 0,
    /// 64: the command line is wrong.
    Usage = 64,
    /// 65: the message or its data is invalid.
    DataErr = 65,
    /// 66: an input file is missing or unreadable.
    NoInput = 66,
    /// 68: the host name does not resolve.
    NoHost = 68,
    /// 69: the server refused (5xx), is unreachable, or lacks what is needed.
    Unavailable = 69,
    /// 74: an I/O error.
    IoErr = 74,
    /// 75: a temporary failure (4xx, timeout, lost connection): try again later.
    TempFail = 75,
    /// 76: the server broke the protocol.
    Protocol = 76,
    /// 77: authentication failed.
    NoPerm = 77,
    /// 78: the configuration is wrong (TLS mode, accounts file, password source).
    Config = 78,
    /// 79: the connection was lost after the end of the message: it may have been delivered.
    /// Do not resend blindly.
    DeliveryUnknown = 79,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// An error for the user: what failed, the server's reply if any, and what to try.
#[derive(Debug)]
pub struct CliError {
    /// The exit status.
    pub exit: Exit,
    /// What failed.
    pub message: String,
    /// What to try, if we know.
    pub hint: Option<String>,
}

impl CliError {
    /// An error with a status and a message.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
            hint: None,
        }
    }

    /// Adds what to try.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// A command-line mistake.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    /// A configuration mistake.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(Exit::Config, message)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "smtpwire: {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl From<smtpwire::Error> for CliError {
    fn from(error: smtpwire::Error) -> Self {
        let exit = exit_for(&error);
        let mut cli = CliError::new(exit, error.to_string());
        cli.hint = hint_for(&error).map(str::to_owned);
        cli
    }
}

impl From<smtpwire::mime::Error> for CliError {
    fn from(error: smtpwire::mime::Error) -> Self {
        CliError::new(Exit::DataErr, format!("cannot build the message: {error}"))
    }
}

/// The exit status for a library error.
pub fn exit_for(error: &smtpwire::Error) -> Exit {
    if error.delivery() == Delivery::Unknown {
        return Exit::DeliveryUnknown;
    }
    match error.kind() {
        ErrorKind::Resolve(_) => Exit::NoHost,
        ErrorKind::Io(io) if error.phase() == Phase::Connect => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => Exit::Unavailable,
            _ => Exit::IoErr,
        },
        ErrorKind::Io(_) => Exit::IoErr,
        ErrorKind::Timeout | ErrorKind::ConnectionClosed => Exit::TempFail,
        ErrorKind::WrongTlsMode(_) => Exit::Config,
        ErrorKind::Tls(_) => Exit::Unavailable,
        ErrorKind::Protocol(_) => Exit::Protocol,
        ErrorKind::Rejected if error.is_auth_refusal() => Exit::NoPerm,
        ErrorKind::Rejected if error.is_transient() => Exit::TempFail,
        ErrorKind::Rejected => Exit::Unavailable,
        ErrorKind::Unsupported(
            Unsupported::SmtpUtf8 | Unsupported::EightBitMime | Unsupported::MessageTooLarge { .. },
        ) => Exit::DataErr,
        ErrorKind::Unsupported(_) => Exit::Unavailable,
        ErrorKind::Input(smtpwire::InputError::PlaintextAuth) => Exit::Config,
        ErrorKind::Input(_) => Exit::DataErr,
        _ => Exit::Unavailable,
    }
}

/// Whether the handshake failed on the certificate's dates (expired or not yet valid), which
/// is as often this machine's clock as the server's certificate.
fn outside_validity(error: &(dyn std::error::Error + 'static)) -> bool {
    use rustls::CertificateError::{Expired, ExpiredContext, NotValidYet, NotValidYetContext};
    matches!(
        error.downcast_ref::<rustls::Error>(),
        Some(rustls::Error::InvalidCertificate(
            Expired | ExpiredContext { .. } | NotValidYet | NotValidYetContext { .. }
        ))
    )
}

/// What to try, for the mistakes people make most with QQ Mail, 163 and friends.
pub fn hint_for(error: &smtpwire::Error) -> Option<&'static str> {
    let code = error.reply().map(|r| r.code().get());
    Some(match (error.kind(), error.phase(), code) {
        (_, _, _) if error.delivery() == Delivery::Unknown => {
            "the server may have accepted the message before the connection was lost; check the \
             recipient's mailbox before sending again"
        }
        (ErrorKind::Rejected, Phase::Auth, Some(535 | 534)) => {
            "QQ Mail, 163 and 126 want the authorization code (授权码) made in the mailbox's \
             settings, not the login password; Gmail and Outlook want an app password"
        }
        (ErrorKind::Rejected, Phase::Auth, Some(530 | 550 | 554)) => {
            "the SMTP service may not be enabled: turn on POP3/IMAP/SMTP in the mailbox's settings"
        }
        (ErrorKind::Rejected, Phase::RcptTo, Some(550 | 553 | 554))
            if error
                .reply()
                .and_then(smtpwire::reply::Reply::enhanced)
                .is_some_and(|e| (e.class(), e.subject(), e.detail()) == (5, 7, 1)) =>
        {
            "5.7.1 here usually means the server will not relay for you: log in with --user and \
             a password source (or --provider/--account); if you did, it refuses this recipient \
             by policy"
        }
        (ErrorKind::Rejected, Phase::MailFrom, Some(501 | 553 | 550)) => {
            "QQ (501) and 163 (553) refuse a sender other than the logged-in account: make --from \
             the same address as --user"
        }
        (ErrorKind::WrongTlsMode(TlsMismatch::ServerSpeaksPlaintext), ..) => {
            "use --tls starttls (port 587 or 25), or connect to port 465 for implicit TLS"
        }
        (ErrorKind::WrongTlsMode(TlsMismatch::ServerSpeaksTls), ..) => {
            "use --tls implicit for this port (465)"
        }
        (ErrorKind::Tls(tls), ..) if outside_validity(tls.as_ref()) => {
            "the certificate looks expired or not yet valid: check this machine's clock"
        }
        (ErrorKind::Tls(_), ..) => {
            "the server's certificate is not trusted for this host name; for a private CA use \
             --ca-file"
        }
        (ErrorKind::Unsupported(Unsupported::SmtpUtf8), ..) => {
            "an address with a non-ASCII local part (用户@example.com) needs the server's SMTPUTF8 \
             (RFC 6531), which this server does not offer; nothing was sent: use an ASCII \
             address, or a server that offers SMTPUTF8"
        }
        (ErrorKind::Unsupported(Unsupported::Dsn), ..) => {
            "this server does not offer DSN (RFC 3461), so no delivery notification can be asked \
             for and nothing was sent; without --notify/--ret/--envid (or the message's notify, \
             ret, envid) it goes out with none"
        }
        (ErrorKind::Unsupported(Unsupported::StartTls), ..) => {
            "this port offers no STARTTLS: use --tls implicit on port 465, or check --server"
        }
        (ErrorKind::Timeout, Phase::Greeting, _) => {
            "the server sent no greeting: a port that expects implicit TLS (like 465) stays \
             silent, so try --tls implicit; --timeout SECS waits less"
        }
        (ErrorKind::Io(_), Phase::Connect, _) | (ErrorKind::Timeout, Phase::Connect, _) => {
            "check the host and port; submission is usually 465 (implicit TLS) or 587 (STARTTLS), \
             and some networks block outgoing port 25"
        }
        (ErrorKind::Input(smtpwire::InputError::PlaintextAuth), ..) => {
            "credentials are only sent over TLS; use --tls implicit or --tls starttls"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::CertificateError;
    use std::sync::Arc;

    fn refused_certificate(why: CertificateError) -> smtpwire::Error {
        let tls = rustls::Error::InvalidCertificate(why);
        smtpwire::Error::new(ErrorKind::Tls(Arc::new(tls)), Phase::TlsHandshake)
    }

    #[test]
    fn a_certificate_outside_its_dates_points_at_the_clock() {
        for dates in [CertificateError::Expired, CertificateError::NotValidYet] {
            let hint = hint_for(&refused_certificate(dates));
            assert!(hint.is_some_and(|h| h.contains("clock")), "{hint:?}");
        }
        let hint = hint_for(&refused_certificate(CertificateError::UnknownIssuer));
        assert!(hint.is_some_and(|h| h.contains("--ca-file")), "{hint:?}");
    }
}
