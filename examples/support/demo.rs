//! What `cargo run --example demo` and `smtpwire demo` share: the loopback server with its one
//! account, a client configuration that trusts only the certificate authority the server made
//! for this run, and the message they send.

#![allow(dead_code, unreachable_pub)]

#[path = "loopback_server.rs"]
pub mod loopback_server;

use loopback_server::{LoopbackServer, ServerTls};
use smtpwire::auth::Credentials;
use smtpwire::mime::{self, Attachment, Message};
use smtpwire::session::{SessionConfig, TlsPolicy};
use smtpwire::transport::{ClientConfig, TlsConfig};
use std::error::Error;

/// The one account.
pub const USER: &str = "demo@localhost";
/// A made-up 16-letter app password, like the authorization codes QQ Mail issues.
pub const APP_PASSWORD: &str = "abcdefghijklmnop";

/// Starts the server on 127.0.0.1: STARTTLS, and AUTH for `USER` only after it.
pub async fn start_server() -> Result<LoopbackServer, Box<dyn Error>> {
    LoopbackServer::start(ServerTls::StartTls, USER, APP_PASSWORD).await
}

/// STARTTLS required, AUTH as `USER`, the transcript kept.
///
/// # Errors
/// The server's CA certificate is unusable.
pub fn client_config(server: &LoopbackServer) -> std::io::Result<ClientConfig> {
    let session = SessionConfig::new(TlsPolicy::StartTlsRequired)
        .with_credentials(Credentials::new(USER, APP_PASSWORD))
        .with_transcript(true);
    // Trust only the certificate authority the server made for this run.
    let tls = TlsConfig::empty().with_der(&server.ca_der)?;
    Ok(ClientConfig::new("localhost", server.addr.port())
        .with_session(session)
        .with_tls(tls))
}

/// An HTML and text message with a Chinese subject and a binary attachment.
pub fn message() -> Result<Message, mime::Error> {
    Message::builder()
        .from(format!("smtpwire 演示 <{USER}>").as_str())
        .to("朋友 <friend@example.com>")
        .subject("测试邮件: smtpwire demo")
        .text("Hello from smtpwire.\n你好！")
        .html("<p>Hello from <b>smtpwire</b>.</p><p>你好！</p>")
        .attach(Attachment::from_bytes("报告.png", PNG.to_vec()))
        .build()
}

/// Prints each message as the server received it, envelope and data.
pub fn print_received(server: &LoopbackServer) {
    for received in server.received() {
        println!(
            "\n== the message as the server received it (MAIL FROM:<{}>, RCPT TO:<{}>) ==",
            received.from,
            received.to.join(">, <")
        );
        print!("{}", String::from_utf8_lossy(&received.data));
    }
}

/// The 8-byte PNG signature and an IHDR chunk header: enough to show a binary attachment.
const PNG: [u8; 16] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52,
];
