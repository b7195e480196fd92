//! Sends a message over STARTTLS on the submission port (587), required, never downgraded.
//!
//! ```sh
//! SMTP_HOST=smtp.qq.com SMTP_USER=1234567@qq.com SMTP_AUTH_CODE=abcdefghijklmnop \
//!     SMTP_TO=friend@163.com cargo run --example send_starttls
//! ```
//! `SMTP_CA_FILE` adds a private CA (PEM) to the trusted roots, e.g. for a company relay.

#[path = "support/env_account.rs"]
mod env_account;

use env_account::EnvAccount;
use smtpwire::session::TlsPolicy;
use smtpwire::transport::{Client, ClientConfig, TlsConfig};
use std::env::var;
use std::error::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let account = EnvAccount::from_env(None, 587)?;
    let mut config = ClientConfig::new(account.host.as_str(), account.port)
        .with_session(account.session(TlsPolicy::StartTlsRequired));
    if let Ok(ca) = var("SMTP_CA_FILE") {
        // A private CA on top of the public roots, e.g. a company relay's.
        config = config.with_tls(TlsConfig::default().with_pem_file(ca)?);
    }

    let mut client = Client::connect(config).await?;
    println!(
        "TLS: {}",
        client
            .tls_info()
            .map(ToString::to_string)
            .unwrap_or_default()
    );
    let report = account
        .send_note(&mut client, "smtpwire over STARTTLS")
        .await?;
    for recipient in report.recipients() {
        println!("{recipient}");
    }
    Ok(())
}
