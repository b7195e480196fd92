//! What `send_implicit_tls` and `send_starttls` share: the account and the recipient from
//! environment variables (never from code), and a short message sent from the account.

use smtpwire::address::Mailbox;
use smtpwire::auth::Credentials;
use smtpwire::envelope::{Envelope, Recipient};
use smtpwire::session::{SessionConfig, TlsPolicy};
use smtpwire::transport::Client;
use smtpwire::Report;
use std::env::var;
use std::error::Error;

/// `SMTP_USER`, `SMTP_AUTH_CODE` (the authorization code), `SMTP_TO`, and `SMTP_HOST` and
/// `SMTP_PORT` or their defaults.
pub(crate) struct EnvAccount {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) user: String,
    pub(crate) code: String,
    pub(crate) to: String,
}

impl EnvAccount {
    /// Reads the variables; `SMTP_HOST` is required when there is no `default_host`.
    pub(crate) fn from_env(
        default_host: Option<&str>,
        default_port: u16,
    ) -> Result<Self, Box<dyn Error>> {
        let required = |name: &str| {
            var(name).map_err(|_| format!("set {name} (SMTP_USER, SMTP_AUTH_CODE, SMTP_TO)"))
        };
        let host = match default_host {
            Some(host) => var("SMTP_HOST").unwrap_or_else(|_| host.into()),
            None => required("SMTP_HOST")?,
        };
        let port = var("SMTP_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(default_port);
        Ok(Self {
            host,
            port,
            user: required("SMTP_USER")?,
            code: required("SMTP_AUTH_CODE")?,
            to: required("SMTP_TO")?,
        })
    }

    /// The session settings both examples use: `tls`, the account's credentials, and a
    /// transcript to show.
    pub(crate) fn session(&self, tls: TlsPolicy) -> SessionConfig {
        SessionConfig::new(tls)
            .with_credentials(Credentials::new(&self.user, self.code.as_str()))
            .with_transcript(true)
    }

    /// Sends a short message with `subject` from the account to `SMTP_TO`, shows the transcript
    /// on stderr, and says QUIT. The envelope sender is the account itself: QQ Mail and 163
    /// refuse a MAIL FROM other than the account that logged in (501 / 553).
    pub(crate) async fn send_note(
        &self,
        client: &mut Client,
        subject: &str,
    ) -> Result<Report, Box<dyn Error>> {
        let (user, to) = (&self.user, &self.to);
        let envelope = Envelope::new(
            Some(Mailbox::parse(user)?),
            [Recipient::new(Mailbox::parse(to)?)],
        )?;
        let message = format!(
            "From: <{user}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n\r\nSent by smtpwire.\r\n"
        );
        let report = client.send(envelope, message.as_bytes()).await?;
        if let Some(transcript) = client.session().transcript() {
            eprint!("{transcript}");
        }
        client.quit().await?;
        Ok(report)
    }
}
