//! A small SMTP server on 127.0.0.1 for the demo and the tests: STARTTLS or implicit TLS with a
//! certificate made at start (its CA is handed to the client), AUTH PLAIN and LOGIN, and every
//! message kept as received. It needs no account and no network.

#![allow(dead_code, unreachable_pub)]

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use std::error::Error;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

#[path = "run_ca.rs"]
mod run_ca;

/// How the server offers TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerTls {
    /// STARTTLS offered, and AUTH only after it (like port 587).
    StartTls,
    /// TLS from the first byte (like port 465).
    Implicit,
}

/// One message as the server received it.
#[derive(Clone, Debug)]
pub struct Received {
    /// The MAIL FROM path.
    pub from: String,
    /// The RCPT TO paths.
    pub to: Vec<String>,
    /// The message data, dot-unstuffed, without the terminating `.` line.
    pub data: Vec<u8>,
}

/// A running loopback server.
pub struct LoopbackServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The CA certificate (DER) that signed its certificate, for the client to trust.
    pub ca_der: Vec<u8>,
    received: Arc<Mutex<Vec<Received>>>,
}

#[derive(Clone)]
struct Shared {
    tls: ServerTls,
    user: String,
    password: String,
    acceptor: TlsAcceptor,
    received: Arc<Mutex<Vec<Received>>>,
}

impl LoopbackServer {
    /// Starts the server with one account.
    pub async fn start(tls: ServerTls, user: &str, password: &str) -> Result<Self, Box<dyn Error>> {
        let (acceptor, ca_der) = run_ca::make_tls("smtpwire loopback CA")?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            tls,
            user: user.to_owned(),
            password: password.to_owned(),
            acceptor,
            received: received.clone(),
        };
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, shared).await;
                });
            }
        });
        Ok(Self {
            addr,
            ca_der,
            received,
        })
    }

    /// The messages received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

async fn serve(stream: TcpStream, shared: Shared) -> Result<(), Box<dyn Error + Send + Sync>> {
    match shared.tls {
        ServerTls::Implicit => {
            let tls = shared.acceptor.accept(stream).await?;
            dialogue(tls, true, &shared).await?;
        }
        ServerTls::StartTls => {
            if let Some(plain) = dialogue(stream, false, &shared).await? {
                let tls = shared.acceptor.accept(plain).await?;
                dialogue(tls, true, &shared).await?;
            }
        }
    }
    Ok(())
}

/// Runs the dialogue; returns the stream when STARTTLS was accepted, for the handshake.
async fn dialogue<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    tls: bool,
    shared: &Shared,
) -> Result<Option<S>, Box<dyn Error + Send + Sync>> {
    let mut stream = BufReader::new(stream);
    if !tls || shared.tls == ServerTls::Implicit {
        stream
            .write_all(b"220 localhost ESMTP smtpwire loopback server\r\n")
            .await?;
    }
    let mut authenticated = false;
    let mut from = None;
    let mut to = Vec::new();
    loop {
        let Some(line) = read_line(&mut stream).await? else {
            return Ok(None);
        };
        let upper = line.to_ascii_uppercase();
        let reply: Vec<u8> = if upper.starts_with("EHLO") {
            let mut r = String::from("250-localhost greets you\r\n250-PIPELINING\r\n250-SIZE 10485760\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n");
            if !tls {
                r.push_str("250-STARTTLS\r\n");
            } else {
                r.push_str("250-AUTH PLAIN LOGIN\r\n");
            }
            r.push_str("250 HELP\r\n");
            r.into_bytes()
        } else if upper == "STARTTLS" && !tls {
            stream
                .write_all(b"220 2.0.0 Ready to start TLS\r\n")
                .await?;
            if !stream.buffer().is_empty() {
                // Commands pipelined behind STARTTLS would be injection (CVE-2011-0411).
                return Err("data after STARTTLS".into());
            }
            return Ok(Some(stream.into_inner()));
        } else if upper.starts_with("AUTH ") && tls {
            authenticated = authenticate(&mut stream, &line, shared).await?;
            if authenticated {
                b"235 2.7.0 Authentication successful\r\n".to_vec()
            } else {
                b"535 5.7.8 Authentication credentials invalid\r\n".to_vec()
            }
        } else if upper.starts_with("MAIL FROM:") {
            if !authenticated {
                b"530 5.7.0 Authentication required\r\n".to_vec()
            } else {
                from = Some(path(&line));
                to.clear();
                b"250 2.1.0 Ok\r\n".to_vec()
            }
        } else if upper.starts_with("RCPT TO:") && from.is_some() {
            to.push(path(&line));
            b"250 2.1.5 Ok\r\n".to_vec()
        } else if upper == "DATA" && from.is_some() && !to.is_empty() {
            stream
                .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                .await?;
            let data = read_data(&mut stream).await?;
            let mut received = shared.received.lock().map_err(|_| "poisoned")?;
            received.push(Received {
                from: from.take().unwrap_or_default(),
                to: std::mem::take(&mut to),
                data,
            });
            format!("250 2.0.0 Ok: queued as LB{:04}\r\n", received.len()).into_bytes()
        } else if upper == "RSET" {
            from = None;
            to.clear();
            b"250 2.0.0 Ok\r\n".to_vec()
        } else if upper == "NOOP" {
            b"250 2.0.0 Ok\r\n".to_vec()
        } else if upper == "QUIT" {
            stream.write_all(b"221 2.0.0 Bye\r\n").await?;
            return Ok(None);
        } else {
            b"502 5.5.2 Error: command not recognized\r\n".to_vec()
        };
        stream.write_all(&reply).await?;
    }
}

async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut BufReader<S>,
    line: &str,
    shared: &Shared,
) -> Result<bool, Box<dyn Error + Send + Sync>> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.get(1).map(|m| m.to_ascii_uppercase()).as_deref() {
        Some("PLAIN") => {
            let response = match words.get(2) {
                Some(response) => (*response).to_owned(),
                None => {
                    stream.write_all(b"334 \r\n").await?;
                    read_line(stream).await?.unwrap_or_default()
                }
            };
            let decoded = BASE64.decode(response.trim()).unwrap_or_default();
            let fields: Vec<&[u8]> = decoded.split(|&b| b == 0).collect();
            Ok(fields.len() == 3
                && fields.get(1) == Some(&shared.user.as_bytes())
                && fields.get(2) == Some(&shared.password.as_bytes()))
        }
        Some("LOGIN") => {
            stream.write_all(b"334 VXNlcm5hbWU6\r\n").await?;
            let user = read_line(stream).await?.unwrap_or_default();
            stream.write_all(b"334 UGFzc3dvcmQ6\r\n").await?;
            let password = read_line(stream).await?.unwrap_or_default();
            Ok(
                BASE64.decode(user.trim()).unwrap_or_default() == shared.user.as_bytes()
                    && BASE64.decode(password.trim()).unwrap_or_default()
                        == shared.password.as_bytes(),
            )
        }
        _ => Ok(false),
    }
}

fn path(line: &str) -> String {
    let start = line.find('<').map_or(0, |i| i + 1);
    let end = line.find('>').unwrap_or(line.len());
    line.get(start..end).unwrap_or_default().to_owned()
}

/// One command line, without CRLF; `None` at end of file. Lines are capped at 4 KiB.
async fn read_line<R: AsyncRead + Unpin>(
    stream: &mut BufReader<R>,
) -> std::io::Result<Option<String>> {
    let mut line = Vec::new();
    let read = (&mut *stream)
        .take(4096)
        .read_until(b'\n', &mut line)
        .await?;
    if read == 0 {
        return Ok(None);
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    Ok(Some(String::from_utf8_lossy(&line).into_owned()))
}

/// Message data up to the `.` line, dot-unstuffed (RFC 5321 §4.5.2).
async fn read_data<R: AsyncRead + Unpin>(stream: &mut BufReader<R>) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::new();
    loop {
        let mut line = Vec::new();
        if stream.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b".\r\n" {
            return Ok(data);
        }
        let line = line.strip_prefix(b".").unwrap_or(&line);
        data.extend_from_slice(line);
    }
}
