//! The whole client against an in-process server: STARTTLS, AUTH, an HTML message with a
//! Chinese subject and an attachment, and the redacted transcript. No account, no network: everything stays on
//! 127.0.0.1. The server, the client's configuration and the message are in
//! `support/demo.rs`, shared with `smtpwire demo`.
//!
//! ```sh
//! cargo run --example demo
//! ```

#[path = "support/demo.rs"]
mod demo;

use smtpwire::transport::Client;
use std::error::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let server = demo::start_server().await?;
    println!("loopback server with STARTTLS on {}\n", server.addr);

    let mut client = Client::connect(demo::client_config(&server)?).await?;
    let message = demo::message()?;
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
    println!("{} bytes in {:?}", report.bytes(), report.duration());
    demo::print_received(&server);
    Ok(())
}
