//! The whole client against an in-process server: STARTTLS, AUTH, an HTML message with an
//! attachment, and the redacted transcript. No account, no network: everything stays on
//! 127.0.0.1.
//!
//! ```sh
//! cargo run --example demo
//! ```

#[path = "support/loopback_server.rs"]
mod loopback_server;

use loopback_server::{LoopbackServer, ServerTls};
use smtpwire::address::Mailbox;
use smtpwire::auth::Credentials;
use smtpwire::envelope::{Envelope, Recipient};
use smtpwire::session::TlsPolicy;
use smtpwire::transport::{Client, ClientConfig, TlsConfig};
use std::error::Error;

const USER: &str = "demo@localhost";
/// A made-up 16-letter app password, like the authorization codes QQ Mail issues.
const APP_PASSWORD: &str = "abcdefghijklmnop";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let server = LoopbackServer::start(ServerTls::StartTls, USER, APP_PASSWORD).await?;
    println!("loopback server with STARTTLS on {}\n", server.addr);

    let mut config = ClientConfig::new("localhost", server.addr.port());
    config.session.tls = TlsPolicy::StartTlsRequired;
    config.session.credentials = Some(Credentials::new(USER, APP_PASSWORD));
    config.session.transcript = true;
    // Trust only the certificate authority the server made for this run.
    config.tls = TlsConfig::empty();
    config.tls.add_der(&server.ca_der)?;

    let mut client = Client::connect(config).await?;
    let envelope = Envelope::new(
        Some(Mailbox::parse(USER)?),
        [Recipient::new(Mailbox::parse("friend@example.com")?)],
    )?;
    let message = demo_message();
    let report = client.send(envelope, message.as_bytes()).await?;
    let transcript = client.session().transcript().map(ToString::to_string);
    let tls = client.tls_info().map(ToString::to_string);
    client.quit().await?;

    println!(
        "== transcript (AUTH redacted) ==\n{}",
        transcript.unwrap_or_default()
    );
    println!("== result ==");
    println!("TLS: {}", tls.unwrap_or_default());
    for recipient in report.recipients() {
        println!("{}: {}", recipient.mailbox(), recipient.reply());
    }
    println!("{} bytes in {:?}\n", report.bytes(), report.duration());
    for received in server.received() {
        println!(
            "== the message as the server received it (from {}, to {}) ==",
            received.from,
            received.to.join(", ")
        );
        println!("{}", String::from_utf8_lossy(&received.data));
    }
    Ok(())
}

/// An HTML message with a plain-text alternative and a PNG attachment.
fn demo_message() -> String {
    let png = [
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52,
    ];
    use base64::Engine as _;
    let attachment = base64::engine::general_purpose::STANDARD.encode(png);
    format!(
        "From: Demo <{USER}>\r\n\
         To: <friend@example.com>\r\n\
         Subject: =?UTF-8?B?5rWL6K+V6YKu5Lu2?= smtpwire demo\r\n\
         Date: Sun, 29 Nov 2026 10:00:00 +0800\r\n\
         Message-ID: <demo.1@localhost>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"=_mixed\"\r\n\
         \r\n\
         --=_mixed\r\n\
         Content-Type: multipart/alternative; boundary=\"=_alt\"\r\n\
         \r\n\
         --=_alt\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         Hello from smtpwire.\r\n\
         --=_alt\r\n\
         Content-Type: text/html; charset=utf-8\r\n\
         \r\n\
         <p>Hello from <b>smtpwire</b>.</p>\r\n\
         --=_alt--\r\n\
         --=_mixed\r\n\
         Content-Type: image/png; name=\"pixel.png\"\r\n\
         Content-Disposition: attachment; filename=\"pixel.png\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         {attachment}\r\n\
         --=_mixed--\r\n"
    )
}
