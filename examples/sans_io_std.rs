//! The sans-IO core driven by std's blocking sockets: no tokio, no async, ~40 lines of driver.
//! It shows the protocol lives entirely in `Session`; any I/O can carry it.
//!
//! Plain SMTP to a local relay (e.g. the test Postfix on 127.0.0.1:2525):
//! ```sh
//! cargo run --example sans_io_std --no-default-features -- 127.0.0.1:2525 you@smtpwire.test
//! ```

use smtpwire::address::Mailbox;
use smtpwire::envelope::{Envelope, Recipient};
use smtpwire::session::{Action, Event, Session, SessionConfig, TlsPolicy};
use smtpwire::ErrorKind;
use std::error::Error;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Instant;

/// A zero timeout means "none" to std's sockets; wait at least this long.
const MIN_WAIT: std::time::Duration = std::time::Duration::from_millis(1);

fn is_timeout(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let address = args.next().unwrap_or_else(|| "127.0.0.1:2525".into());
    let to = args
        .next()
        .unwrap_or_else(|| "someone@smtpwire.test".into());

    let mut stream = TcpStream::connect(&address)?;
    let mut session = Session::new(SessionConfig::new(TlsPolicy::Plaintext).with_transcript(true));
    let envelope = Envelope::new(
        Some(Mailbox::parse("sans-io@smtpwire.test")?),
        [Recipient::new(Mailbox::parse(&to)?)],
    )?;
    let mut envelope = Some(envelope);
    let mut buffer = [0u8; 4096];

    loop {
        let action = session.next_action(Instant::now());
        while let Some(event) = session.poll_event() {
            if let Event::MessageFinished { result, .. } = event {
                let accepted = result.map(|report| report.is_complete()).unwrap_or(false);
                println!("complete success: {accepted}");
            }
        }
        // The session names the deadline; blocking sockets take it as a per-call timeout.
        let timeout = session.poll_timeout().map(|deadline| {
            deadline
                .saturating_duration_since(Instant::now())
                .max(MIN_WAIT)
        });
        match action? {
            Action::Send(bytes) => {
                stream.set_write_timeout(timeout)?;
                if let Err(e) = stream.write_all(&bytes) {
                    return Err(session.fail(ErrorKind::Io(Arc::new(e))).into());
                }
            }
            Action::Receive => {
                stream.set_read_timeout(timeout)?;
                match stream.read(&mut buffer) {
                    Ok(0) => return Err(session.fail(ErrorKind::ConnectionClosed).into()),
                    Ok(n) => session.feed(buffer.get(..n).unwrap_or_default()),
                    Err(e) if is_timeout(&e) => session.handle_timeout(Instant::now()),
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
            Action::Closed => break,
            // No second connection here: the greeting keeps its full deadline.
            Action::ProbeTls => {}
            Action::StartTls => return Err("this example speaks plaintext only".into()),
            _ => {}
        }
    }
    if let Some(transcript) = session.transcript() {
        print!("{transcript}");
    }
    Ok(())
}
