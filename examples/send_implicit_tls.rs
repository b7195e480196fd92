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

#[path = "support/env_account.rs"]
mod env_account;

use env_account::EnvAccount;
use smtpwire::session::TlsPolicy;
use smtpwire::transport::{Client, ClientConfig};
use std::error::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let account = EnvAccount::from_env(Some("smtp.qq.com"), 465)?;
    let config = ClientConfig::new(account.host.as_str(), account.port)
        .with_session(account.session(TlsPolicy::Implicit));

    let mut client = Client::connect(config).await?;
    let report = account
        .send_note(&mut client, "smtpwire over implicit TLS")
        .await?;
    println!(
        "accepted: {}",
        report
            .final_reply()
            .map(ToString::to_string)
            .unwrap_or_default()
    );
    Ok(())
}
