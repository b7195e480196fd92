//! The whole client against an in-process server: STARTTLS, AUTH, an HTML message with a
//! Chinese subject and an attachment, and the redacted transcript. No account, no network: everything stays on
//! 127.0.0.1.
//!
//! ```sh
//! cargo run --example demo
//! ```

#[path = "support/loopback_server.rs"]
mod loopback_server;

use loopback_server::{LoopbackServer, ServerTls};
use smtpwire::auth::Credentials;
use smtpwire::mime::{Attachment, Message};
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
    let message = Message::builder()
        .from(format!("smtpwire 演示 <{USER}>").as_str())
        .to("朋友 <friend@example.com>")
        .subject("测试邮件: smtpwire demo")
        .text("Hello from smtpwire.\n你好！")
        .html("<p>Hello from <b>smtpwire</b>.</p><p>你好！</p>")
        .attach(Attachment::from_bytes("报告.png", PNG.to_vec()))
        .build()?;
    let report = client.send_message(&message).await?;
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
        println!("{recipient}");
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

/// The 8-byte PNG signature and an IHDR chunk header: enough to show a binary attachment.
const PNG: [u8; 16] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52,
];
