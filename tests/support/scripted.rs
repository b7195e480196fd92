//! Scripted SMTP servers: the one helper every test that needs a misbehaving server uses.
//! A script is data — expect these bytes, send those, trickle, flood, stall, close — run over
//! any stream (a loopback TCP socket, or an in-memory pipe when the test runs on tokio's
//! paused clock). Included by `#[path]` from the CLI's tests too, whose tests are not async:
//! [`start`] runs a script on a thread of its own.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the scripted server does, step by step.
#[derive(Clone, Debug)]
pub enum Step {
    /// Send these bytes.
    Send(Vec<u8>),
    /// Read until the client has sent a line starting with this (`""`: any line).
    Expect(&'static str),
    /// Read the message data up to its end: the `CRLF.CRLF` of DATA, or the chunk of a
    /// `BDAT n LAST` command (whose line the previous `Expect("BDAT")` has not consumed).
    ExpectData,
    /// Send one byte at a time, this long apart.
    Trickle(Vec<u8>, Duration),
    /// Send this many bytes of `A` with no line end.
    Flood(usize),
    /// Wait, reading nothing.
    Stall(Duration),
    /// Close the connection.
    Close,
}

impl Step {
    /// Sends `text` as is (CRLFs included).
    pub fn send(text: impl AsRef<[u8]>) -> Self {
        Self::Send(text.as_ref().to_vec())
    }

    /// Sends `line` and a CRLF.
    pub fn reply(line: &str) -> Self {
        Self::Send(format!("{line}\r\n").into_bytes())
    }

    /// The EHLO reply of a server offering `extensions` (EHLO keywords, one a line).
    pub fn ehlo(extensions: &[&str]) -> Self {
        let lines: Vec<&str> = std::iter::once("scripted")
            .chain(extensions.iter().copied())
            .collect();
        let last = lines.len() - 1;
        let text: String = lines
            .iter()
            .enumerate()
            .map(|(i, line)| format!("250{}{line}\r\n", if i == last { ' ' } else { '-' }))
            .collect();
        Self::Send(text.into_bytes())
    }
}

/// Each command (a line starting with the first of a pair) answered with its reply (the
/// second, a line without its CRLF).
pub fn answering(exchanges: &[(&'static str, &str)]) -> Vec<Step> {
    exchanges
        .iter()
        .flat_map(|&(command, reply)| [Step::Expect(command), Step::reply(reply)])
        .collect()
}

/// A server's opening: the greeting, then the EHLO reply offering `extensions`.
pub fn opening(extensions: &[&str]) -> Vec<Step> {
    vec![
        Step::reply("220 scripted ESMTP"),
        Step::Expect("EHLO"),
        Step::ehlo(extensions),
    ]
}

/// A willing server's whole dialogue for one message to `rcpts` recipients: sent with BDAT
/// when `extensions` offer CHUNKING and PIPELINING (as the session does), with DATA otherwise.
pub fn accepting(extensions: &[&str], rcpts: usize) -> Vec<Step> {
    let mut steps = opening(extensions);
    steps.extend([Step::Expect("MAIL FROM:"), Step::reply("250 2.1.0 ok")]);
    for _ in 0..rcpts {
        steps.extend([Step::Expect("RCPT TO:"), Step::reply("250 2.1.5 ok")]);
    }
    if extensions.contains(&"CHUNKING") && extensions.contains(&"PIPELINING") {
        steps.extend([Step::Expect("BDAT"), Step::ExpectData]);
    } else {
        steps.extend([
            Step::Expect("DATA"),
            Step::reply("354 go ahead"),
            Step::ExpectData,
        ]);
    }
    steps.extend([
        Step::reply("250 2.0.0 queued"),
        Step::Expect("QUIT"),
        Step::reply("221 2.0.0 bye"),
    ]);
    steps
}

/// Where the reply to the end of the message data lies in what the server sends in `script`:
/// a connection cut inside it leaves the delivery unknown.
pub fn final_reply(script: &[Step]) -> std::ops::Range<usize> {
    let data = script
        .iter()
        .position(|step| matches!(step, Step::ExpectData))
        .expect("a dialogue with message data");
    let start = server_bytes(&script[..=data]);
    start..start + server_bytes(&script[data + 1..data + 2])
}

/// The steps of `script` with only the first `budget` bytes of what the server sends: the
/// connection drops right after them (every byte offset of a dialogue can be cut this way).
pub fn cut(script: &[Step], budget: usize) -> Vec<Step> {
    let mut left = budget;
    let mut steps = Vec::new();
    for step in script {
        match step {
            Step::Send(bytes) => {
                let take = left.min(bytes.len());
                steps.push(Step::Send(bytes[..take].to_vec()));
                left -= take;
                if left == 0 {
                    break;
                }
            }
            other => steps.push(other.clone()),
        }
    }
    steps.push(Step::Close);
    steps
}

/// How many bytes the server sends in `script`.
pub fn server_bytes(script: &[Step]) -> usize {
    script
        .iter()
        .map(|step| match step {
            Step::Send(bytes) => bytes.len(),
            _ => 0,
        })
        .sum()
}

/// What the client sent, as the script saw it: every byte, the command lines, the message data.
#[derive(Clone, Default)]
pub struct Received(Arc<Mutex<Log>>);

#[derive(Default)]
struct Log {
    bytes: Vec<u8>,
    commands: Vec<String>,
    data: Vec<u8>,
}

impl Received {
    /// Every byte the client sent.
    pub fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap().bytes.clone()
    }

    /// The command lines the script expected, as received (`<data>` for message data).
    pub fn commands(&self) -> Vec<String> {
        self.0.lock().unwrap().commands.clone()
    }

    /// The message data as it crossed the wire: after DATA, everything up to and including
    /// the terminating `.` CRLF; with BDAT, the chunks' octets concatenated.
    pub fn data(&self) -> Vec<u8> {
        self.0.lock().unwrap().data.clone()
    }

    fn push_bytes(&self, bytes: &[u8]) {
        self.0.lock().unwrap().bytes.extend_from_slice(bytes);
    }

    fn push_command(&self, command: String) {
        self.0.lock().unwrap().commands.push(command);
    }

    fn push_data(&self, data: &[u8]) {
        self.0.lock().unwrap().data.extend_from_slice(data);
    }
}

/// Runs `script` over `stream`, recording into `received`. Ends at the script's end, at
/// `Close`, or when the client goes away.
pub async fn serve<S>(mut stream: S, script: Vec<Step>, received: Received)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut unread: Vec<u8> = Vec::new();
    for step in script {
        if run_step(&mut stream, step, &mut unread, &received)
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Listens on 127.0.0.1 and runs `script` for the first connection. Returns the port and
/// a handle that yields what the client sent once the script has ended.
pub async fn listen(script: Vec<Step>) -> (u16, tokio::task::JoinHandle<Received>) {
    listen_each(vec![script]).await
}

/// As [`listen`], one script per connection, in the order they are accepted; the
/// connections run side by side.
pub async fn listen_each(scripts: Vec<Vec<Step>>) -> (u16, tokio::task::JoinHandle<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let received = Received::default();
        let mut connections = Vec::new();
        for script in scripts {
            let Ok((stream, _)) = listener.accept().await else {
                break;
            };
            // Each connection runs on its own: a client may hold two at once (the TLS probe).
            connections.push(tokio::spawn(serve(stream, script, received.clone())));
        }
        for connection in connections {
            let _ = connection.await;
        }
        received
    });
    (port, task)
}

/// A script running on a thread of its own, for tests that are not async.
pub struct Started {
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
    received: std::sync::mpsc::Receiver<Received>,
}

impl Started {
    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What the client sent, once every script has ended (waiting 30 s at the most).
    pub fn received(self) -> Received {
        self.received
            .recv_timeout(Duration::from_secs(30))
            .expect("the script ends")
    }
}

/// Runs `task` on a runtime of a thread of its own: a server for a test that is not async.
pub fn on_own_thread<F>(task: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(task);
    });
}

/// [`listen`] for a test that is not async.
pub fn start(script: Vec<Step>) -> Started {
    start_each(vec![script])
}

/// [`listen_each`] for a test that is not async: the scripts run on a thread of their own.
pub fn start_each(scripts: Vec<Vec<Step>>) -> Started {
    let (port_sender, port) = std::sync::mpsc::channel();
    let (received_sender, received) = std::sync::mpsc::channel();
    on_own_thread(async move {
        let (listening, task) = listen_each(scripts).await;
        port_sender.send(listening).unwrap();
        if let Ok(seen) = task.await {
            let _ = received_sender.send(seen);
        }
    });
    Started {
        port: port.recv().unwrap(),
        received,
    }
}

async fn run_step<S>(
    stream: &mut S,
    step: Step,
    unread: &mut Vec<u8>,
    received: &Received,
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match step {
        Step::Send(bytes) => {
            stream.write_all(&bytes).await?;
            stream.flush().await
        }
        Step::Expect(prefix) => {
            let line = take_until(stream, unread, received, b"\r\n").await?;
            let line = String::from_utf8_lossy(&line).trim_end().to_owned();
            assert!(
                line.starts_with(prefix),
                "expected {prefix:?}, got {line:?}"
            );
            received.push_command(line);
            Ok(())
        }
        Step::ExpectData => {
            let bdat = received
                .commands()
                .last()
                .and_then(|command| bdat_size(command));
            match bdat {
                Some(size) => {
                    while unread.len() < size {
                        read_more(stream, unread, received).await?;
                    }
                    let chunk: Vec<u8> = unread.drain(..size).collect();
                    received.push_data(&chunk);
                }
                None => {
                    let data = take_until(stream, unread, received, b"\r\n.\r\n").await?;
                    received.push_data(&data);
                }
            }
            received.push_command("<data>".into());
            Ok(())
        }
        Step::Trickle(bytes, gap) => {
            for byte in bytes {
                stream.write_all(std::slice::from_ref(&byte)).await?;
                tokio::time::sleep(gap).await;
            }
            Ok(())
        }
        Step::Flood(len) => {
            let chunk = vec![b'A'; 64 * 1024];
            let mut sent = 0;
            while sent < len {
                stream.write_all(&chunk).await?;
                sent += chunk.len();
            }
            Ok(())
        }
        Step::Stall(duration) => {
            tokio::time::sleep(duration).await;
            Ok(())
        }
        Step::Close => {
            let _ = stream.shutdown().await;
            Err(std::io::ErrorKind::ConnectionAborted.into())
        }
    }
}

/// The size of a `BDAT n [LAST]` command.
fn bdat_size(command: &str) -> Option<usize> {
    let mut words = command.split_whitespace();
    if !words.next()?.eq_ignore_ascii_case("BDAT") {
        return None;
    }
    words.next()?.parse().ok()
}

/// Reads until `end` arrives, and takes everything up to and including it out of `unread`.
/// Each byte is searched once, so a large message costs linear time.
async fn take_until<S>(
    stream: &mut S,
    unread: &mut Vec<u8>,
    received: &Received,
    end: &[u8],
) -> std::io::Result<Vec<u8>>
where
    S: AsyncRead + Unpin,
{
    let mut searched: usize = 0;
    loop {
        let from = searched.saturating_sub(end.len() - 1);
        if let Some(at) = unread[from..].windows(end.len()).position(|w| w == end) {
            return Ok(unread.drain(..from + at + end.len()).collect());
        }
        searched = unread.len();
        read_more(stream, unread, received).await?;
    }
}

async fn read_more<S>(
    stream: &mut S,
    unread: &mut Vec<u8>,
    received: &Received,
) -> std::io::Result<()>
where
    S: AsyncRead + Unpin,
{
    let mut buffer = [0u8; 64 * 1024];
    let read = stream.read(&mut buffer).await?;
    if read == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    received.push_bytes(&buffer[..read]);
    unread.extend_from_slice(&buffer[..read]);
    Ok(())
}
