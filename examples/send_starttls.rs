//! Sends a message over STARTTLS on the submission port (587), required, never downgraded.
//!
//! ```sh
//! SMTP_HOST=smtp.qq.com SMTP_USER=1234567@qq.com SMTP_AUTH_CODE=abcdefghijklmnop \
//!     SMTP_TO=friend@163.com cargo run --example send_starttls
//! ```
//! `SMTP_CA_FILE` adds a private CA (PEM) to the trusted roots, e.g. for a company relay.

use smtpwire::address::Mailbox;
use smtpwire::auth::Credentials;
use smtpwire::envelope::{Envelope, Recipient};
use smtpwire::session::TlsPolicy;
use smtpwire::transport::{Client, ClientConfig};
use std::env::var;
use std::error::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let host =
        var("SMTP_HOST").map_err(|_| "set SMTP_HOST, SMTP_USER, SMTP_AUTH_CODE and SMTP_TO")?;
    let user = var("SMTP_USER").map_err(|_| "set SMTP_USER")?;
    let code = var("SMTP_AUTH_CODE").map_err(|_| "set SMTP_AUTH_CODE")?;
    let to = var("SMTP_TO").map_err(|_| "set SMTP_TO")?;
    let port = var("SMTP_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(587);

    let mut config = ClientConfig::new(host, port);
    config.session.tls = TlsPolicy::StartTlsRequired;
    config.session.credentials = Some(Credentials::new(&user, code));
    config.session.transcript = true;
    if let Ok(ca) = var("SMTP_CA_FILE") {
        config.tls.add_pem_file(ca)?;
    }

    let mut client = Client::connect(config).await?;
    println!(
        "TLS: {}",
        client
            .tls_info()
            .map(ToString::to_string)
            .unwrap_or_default()
    );
    let envelope = Envelope::new(
        Some(Mailbox::parse(&user)?),
        [Recipient::new(Mailbox::parse(&to)?)],
    )?;
    let message = format!(
        "From: <{user}>\r\nTo: <{to}>\r\nSubject: smtpwire over STARTTLS\r\n\r\nSent by smtpwire.\r\n"
    );
    let report = client.send(envelope, message.as_bytes()).await?;
    if let Some(transcript) = client.session().transcript() {
        eprint!("{transcript}");
    }
    client.quit().await?;
    for recipient in report.recipients() {
        println!("{recipient}");
    }
    Ok(())
}
