//! The sans-IO core driven by std's blocking sockets: no tokio, no async, ~40 lines of driver.
//! It shows the protocol lives entirely in `Session`; any I/O can carry it.
//!
//! Plain SMTP to a local relay (e.g. the test Postfix on 127.0.0.1:2525):
//! ```sh
//! cargo run --example sans_io_std --no-default-features -- 127.0.0.1:2525 you@smtpwire.test
//! ```

use smtpwire::address::Mailbox;
use smtpwire::envelope::{Envelope, Recipient};
use smtpwire::session::{Action, Session, SessionConfig, TlsPolicy};
use smtpwire::ErrorKind;
use std::error::Error;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let address = args.next().unwrap_or_else(|| "127.0.0.1:2525".into());
    let to = args
        .next()
        .unwrap_or_else(|| "someone@smtpwire.test".into());

    let mut stream = TcpStream::connect(&address)?;
    let mut config = SessionConfig::new(TlsPolicy::Plaintext);
    config.transcript = true;
    let mut session = Session::new(config);
    let envelope = Envelope::new(
        Some(Mailbox::parse("sans-io@smtpwire.test")?),
        [Recipient::new(Mailbox::parse(&to)?)],
    )?;
    let mut envelope = Some(envelope);
    let mut buffer = [0u8; 4096];

    loop {
        match session.next_action()? {
            Action::Send { bytes, timeout } => {
                stream.set_write_timeout(Some(timeout))?;
                if let Err(e) = stream.write_all(&bytes) {
                    return Err(session.fail(ErrorKind::Io(Arc::new(e))).into());
                }
            }
            Action::Receive { timeout } => {
                // A per-read timeout: simpler than the async transport's per-reply deadline.
                stream.set_read_timeout(Some(timeout))?;
                match stream.read(&mut buffer) {
                    Ok(0) => return Err(session.fail(ErrorKind::ConnectionClosed).into()),
                    Ok(n) => session.feed(buffer.get(..n).unwrap_or_default()),
                    Err(e) => return Err(session.fail(ErrorKind::Io(Arc::new(e))).into()),
                }
            }
            Action::Ready => match envelope.take() {
                Some(envelope) => {
                    session.send_mail(envelope)?;
                }
                None => session.quit()?,
            },
            Action::SendData(_) => {
                session.write_data(b"Subject: sans-IO\r\n\r\nDriven by std::net.\r\n")?;
                session.finish_data()?;
            }
            Action::Finished(_, outcome) => {
                println!("complete success: {}", outcome.is_complete_success());
            }
            Action::Closed => break,
            Action::StartTls { .. } => return Err("this example speaks plaintext only".into()),
            _ => {}
        }
    }
    if let Some(transcript) = session.transcript() {
        print!("{transcript}");
    }
    Ok(())
}
