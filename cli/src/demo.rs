//! `smtpwire demo`: the whole client against an in-process server on 127.0.0.1, with
//! STARTTLS (a certificate made for this run) and AUTH. No account, no network.

#[path = "../../examples/support/loopback_server.rs"]
mod loopback_server;

use crate::deliver::{deliver, Payload};
use crate::exit::{CliError, Exit};
use crate::output::{self, OutputArgs};
use clap::Args;
use loopback_server::{LoopbackServer, ServerTls};
use smtpwire::auth::Credentials;
use smtpwire::mime::{Attachment, Message};
use smtpwire::session::TlsPolicy;
use smtpwire::transport::{ClientConfig, TlsConfig};

const USER: &str = "demo@localhost";
/// A made-up 16-letter app password, like the authorization codes QQ Mail issues.
const APP_PASSWORD: &str = "abcdefghijklmnop";

/// Flags of `smtpwire demo` (none: it needs nothing).
#[derive(Args, Debug)]
#[command(
    long_about = "Starts an SMTP server on 127.0.0.1 with STARTTLS (a certificate made for this \
                  run) and AUTH, sends it an HTML and text message with a Chinese subject and an \
                  attachment through the full client (EHLO, STARTTLS, EHLO, AUTH, MAIL, RCPT, \
                  DATA, QUIT), and prints the redacted transcript with the TLS details, the \
                  result, and the message as the server received it. No account, no network."
)]
pub struct DemoArgs {}

/// Runs `smtpwire demo`.
pub async fn run(args: DemoArgs) -> Result<Exit, CliError> {
    let DemoArgs {} = args;
    let server = LoopbackServer::start(ServerTls::StartTls, USER, APP_PASSWORD)
        .await
        .map_err(|e| CliError::new(Exit::IoErr, format!("cannot start the demo server: {e}")))?;
    println!(
        "A loopback SMTP server with STARTTLS and AUTH is listening on {}; the client trusts only \
         the certificate authority it made for this run.\n",
        server.addr
    );

    let mut config = ClientConfig::new("localhost", server.addr.port());
    config.session.tls = TlsPolicy::StartTlsRequired;
    config.session.credentials = Some(Credentials::new(USER, APP_PASSWORD));
    config.session.transcript = true;
    config.tls = TlsConfig::empty();
    config.tls.add_der(&server.ca_der).map_err(|e| {
        CliError::new(
            Exit::Unavailable,
            format!("the demo certificate is unusable: {e}"),
        )
    })?;

    let message = Message::builder()
        .from(format!("smtpwire 演示 <{USER}>").as_str())
        .to("朋友 <friend@example.com>")
        .subject("测试邮件: smtpwire demo")
        .text("Hello from smtpwire.\n你好！")
        .html("<p>Hello from <b>smtpwire</b>.</p><p>你好！</p>")
        .attach(Attachment::from_bytes("报告.png", PNG.to_vec()))
        .build()?;
    let attempt = deliver(config, Payload::Message(&message)).await;

    println!("== transcript (AUTH redacted) ==");
    print!("{}", output::transcript(&attempt, false));
    println!("\n== result ==");
    let id = message.message_id().to_string();
    let exit = output::finish(&attempt, Some(&id), &OutputArgs::default(), true)?;
    for received in server.received() {
        println!(
            "\n== the message as the server received it (MAIL FROM:<{}>, RCPT TO:<{}>) ==",
            received.from,
            received.to.join(">, <")
        );
        print!("{}", String::from_utf8_lossy(&received.data));
    }
    Ok(exit)
}

/// The 8-byte PNG signature and an IHDR chunk header: enough to show a binary attachment.
const PNG: [u8; 16] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52,
];
