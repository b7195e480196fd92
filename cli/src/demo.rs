//! `smtpwire demo`: the whole client against an in-process server on 127.0.0.1, with
//! STARTTLS (a certificate made for this run) and AUTH. No account, no network. The server, the
//! client's configuration and the message are shared with `cargo run --example demo`.

#[path = "../../examples/support/demo.rs"]
mod setup;

use crate::deliver::{deliver, Payload};
use crate::exit::{CliError, Exit};
use crate::output::{self, OutputArgs};
use clap::Args;

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
    let server = setup::start_server()
        .await
        .map_err(|e| CliError::new(Exit::IoErr, format!("cannot start the demo server: {e}")))?;
    println!(
        "A loopback SMTP server with STARTTLS and AUTH is listening on {}; the client trusts only \
         the certificate authority it made for this run.\n",
        server.addr
    );

    let config = setup::client_config(&server).map_err(|e| {
        CliError::new(
            Exit::Unavailable,
            format!("the demo certificate is unusable: {e}"),
        )
    })?;
    let message = setup::message()?;
    let attempt = deliver(config, Payload::Message(&message)).await;

    println!("== transcript (AUTH redacted) ==");
    print!("{}", output::transcript(&attempt, false));
    println!("\n== result ==");
    let id = message.message_id().to_string();
    let exit = output::finish(&attempt, Some(&id), &OutputArgs::default(), true)?;
    setup::print_received(&server);
    Ok(exit)
}
