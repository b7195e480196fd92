//! Sends a message through QQ Mail over implicit TLS (port 465), the way QQ documents it.
//!
//! The password is QQ Mail's "authorization code" (授权码), made under Settings → Account →
//! POP3/IMAP/SMTP service; the mailbox password itself is refused with 535. It comes from an
//! environment variable, never from code:
//!
//! ```sh
//! SMTP_USER=1234567@qq.com SMTP_AUTH_CODE=abcdefghijklmnop SMTP_TO=friend@163.com \
//!     cargo run --example send_implicit_tls
//! ```
//! `SMTP_HOST`/`SMTP_PORT` point it elsewhere (e.g. smtp.163.com, smtp.exmail.qq.com).

use smtpwire::address::Mailbox;
use smtpwire::auth::Credentials;
use smtpwire::envelope::{Envelope, Recipient};
use smtpwire::session::TlsPolicy;
use smtpwire::transport::{Client, ClientConfig};
use std::env::var;
use std::error::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let user = var("SMTP_USER").map_err(|_| "set SMTP_USER, SMTP_AUTH_CODE and SMTP_TO")?;
    let code = var("SMTP_AUTH_CODE").map_err(|_| "set SMTP_AUTH_CODE (the authorization code)")?;
    let to = var("SMTP_TO").map_err(|_| "set SMTP_TO")?;
    let host = var("SMTP_HOST").unwrap_or_else(|_| "smtp.qq.com".into());
    let port = var("SMTP_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(465);

    let mut config = ClientConfig::new(host, port);
    config.session.tls = TlsPolicy::Implicit;
    config.session.credentials = Some(Credentials::new(&user, code));
    config.session.transcript = true;

    let mut client = Client::connect(config).await?;
    // QQ Mail and 163 refuse a MAIL FROM other than the account that logged in (501 / 553).
    let envelope = Envelope::new(
        Some(Mailbox::parse(&user)?),
        [Recipient::new(Mailbox::parse(&to)?)],
    )?;
    let message = format!(
        "From: <{user}>\r\nTo: <{to}>\r\nSubject: smtpwire over implicit TLS\r\n\r\nSent by smtpwire.\r\n"
    );
    let report = client.send(envelope, message.as_bytes()).await?;
    if let Some(transcript) = client.session().transcript() {
        eprint!("{transcript}");
    }
    client.quit().await?;
    println!(
        "accepted: {}",
        report
            .final_reply()
            .map(ToString::to_string)
            .unwrap_or_default()
    );
    Ok(())
}
