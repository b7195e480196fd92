//! The reference for what the wire allows: a minimal blocking std client with TCP_NODELAY
//! that knows exactly one server's happy path. It dot-stuffs the message once, before the
//! clock starts, writes each flight with one `write_all` and reads replies with a buffered
//! reader. No parser, no state machine, no error handling worth the name: the bar the real
//! clients are held to, not a client.

use rustls::pki_types::{CertificateDer, ServerName};
use std::error::Error;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio_rustls::rustls;

/// How much the raw client pipelines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RawMode {
    /// One command, one reply: 4 flights per message.
    Lockstep,
    /// MAIL, RCPT and DATA in one write, then the data: 2 flights per message.
    Pipelined,
    /// As `Pipelined`, and the next envelope leaves behind the dot: 1 flight per message.
    Full,
}

/// A blocking connection, plaintext or TLS.
pub(crate) trait Wire: Read + Write {}
impl<T: Read + Write> Wire for T {}

/// The reply reader over a connection; writes go through `get_mut`.
pub(crate) type Conn = BufReader<Box<dyn Wire>>;

/// `message` with dots stuffed and the terminator appended, as it goes on the wire.
pub(crate) fn stuffed(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 64 + 5);
    let mut line_start = true;
    for &byte in message {
        if line_start && byte == b'.' {
            out.push(b'.');
        }
        out.push(byte);
        line_start = byte == b'\n';
    }
    if !line_start {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Opens a connection and says EHLO; with `ca`, implicit TLS trusting that CA (DER).
pub(crate) fn open(addr: SocketAddr, ca: Option<&[u8]>) -> Result<Conn, Box<dyn Error>> {
    let tcp = TcpStream::connect(addr)?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(Duration::from_secs(60)))?;
    let wire: Box<dyn Wire> = match ca {
        None => Box::new(tcp),
        Some(ca) => {
            let name = ServerName::try_from("127.0.0.1")?;
            let connection = rustls::ClientConnection::new(tls_config(ca)?, name)?;
            Box::new(rustls::StreamOwned::new(connection, tcp))
        }
    };
    let mut conn = BufReader::with_capacity(64 * 1024, wire);
    expect(&mut conn, 1)?;
    flight(&mut conn, b"EHLO localhost\r\n", 1)?;
    Ok(conn)
}

/// One rustls configuration for the run (the benchmark has one CA), so that connections
/// resume TLS sessions as a real client's would.
fn tls_config(ca: &[u8]) -> Result<Arc<rustls::ClientConfig>, Box<dyn Error>> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    if let Some(config) = CONFIG.get() {
        return Ok(config.clone());
    }
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(ca.to_vec()))?;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(CONFIG.get_or_init(|| Arc::new(config)).clone())
}

/// Writes `bytes` with one `write_all` and reads `replies` replies.
fn flight(conn: &mut Conn, bytes: &[u8], replies: usize) -> Result<(), Box<dyn Error>> {
    conn.get_mut().write_all(bytes)?;
    expect(conn, replies)
}

/// Reads `replies` replies, each of which must be 2xx or 3xx.
fn expect(conn: &mut Conn, replies: usize) -> Result<(), Box<dyn Error>> {
    let mut line = Vec::with_capacity(128);
    for _ in 0..replies {
        loop {
            line.clear();
            if conn.read_until(b'\n', &mut line)? == 0 {
                return Err("connection closed".into());
            }
            if !matches!(line.first(), Some(b'2' | b'3')) {
                return Err(format!("refused: {}", String::from_utf8_lossy(&line)).into());
            }
            if line.get(3) != Some(&b'-') {
                break;
            }
        }
    }
    Ok(())
}

const ENVELOPE: &[u8] = b"MAIL FROM:<bench@localhost>\r\nRCPT TO:<sink@localhost>\r\nDATA\r\n";

/// Sends `count` messages (`wire` is [`stuffed`]) over `conn` in `mode`, stopping early once
/// `budget` has passed; returns how many went.
pub(crate) fn send(
    conn: &mut Conn,
    mode: RawMode,
    wire: &[u8],
    count: usize,
    budget: Duration,
) -> Result<usize, Box<dyn Error>> {
    let started = Instant::now();
    let mut sent = 0;
    match mode {
        RawMode::Lockstep => {
            while sent < count && started.elapsed() < budget {
                for command in ENVELOPE.split_inclusive(|&b| b == b'\n') {
                    flight(conn, command, 1)?;
                }
                flight(conn, wire, 1)?;
                sent += 1;
            }
        }
        RawMode::Pipelined => {
            while sent < count && started.elapsed() < budget {
                flight(conn, ENVELOPE, 3)?;
                flight(conn, wire, 1)?;
                sent += 1;
            }
        }
        RawMode::Full => {
            // The data, the dot and the next envelope in one write.
            let mut behind = wire.to_vec();
            behind.extend_from_slice(ENVELOPE);
            flight(conn, ENVELOPE, 3)?;
            loop {
                sent += 1;
                if sent < count && started.elapsed() < budget {
                    flight(conn, &behind, 4)?;
                } else {
                    flight(conn, wire, 1)?;
                    break;
                }
            }
        }
    }
    Ok(sent)
}

/// Says QUIT and reads the reply.
pub(crate) fn quit(mut conn: Conn) -> Result<(), Box<dyn Error>> {
    flight(&mut conn, b"QUIT\r\n", 1)
}

/// One message on a new connection, fully pipelined: greeting, EHLO, then envelope, then the
/// data, the dot and QUIT in one write.
pub(crate) fn send_on_new_connection(
    addr: SocketAddr,
    ca: Option<&[u8]>,
    wire_and_quit: &[u8],
) -> Result<(), Box<dyn Error>> {
    let mut conn = open(addr, ca)?;
    flight(&mut conn, ENVELOPE, 3)?;
    flight(&mut conn, wire_and_quit, 2)
}
