//! A TCP proxy on 127.0.0.1 that injects the faults a mail client meets in the field between
//! it and a real server: connections reset at random byte offsets in either direction, delays,
//! and a server that says 421 and hangs up, at the greeting or instead of a command.
//!
//! The 421 stands in for the server: the command it answers is never forwarded, so the
//! server never acts on it, as a real server closing would not. The proxy never forges a reply
//! to something the server did: that would be a lie no client can see through.

#![allow(dead_code, unreachable_pub)]

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How often each fault strikes.
#[derive(Clone, Copy, Debug)]
pub struct Faults {
    /// Per connection: refuse it with a 421 greeting.
    pub refuse_421: f64,
    /// Per chunk forwarded, either way: forward part of it, then reset both sides.
    pub reset: f64,
    /// Per chunk from the client: answer 421 in the server's stead and hang up.
    pub reply_421: f64,
    /// Per chunk forwarded: hold it back a little first.
    pub delay: f64,
    /// The longest such delay.
    pub max_delay: Duration,
}

impl Faults {
    /// No faults: a plain proxy.
    pub fn none() -> Self {
        Self {
            refuse_421: 0.0,
            reset: 0.0,
            reply_421: 0.0,
            delay: 0.0,
            max_delay: Duration::ZERO,
        }
    }
}

/// What the proxy did, for the soak report.
#[derive(Debug, Default)]
pub struct Injected {
    pub connections: AtomicU64,
    pub refused_421: AtomicU64,
    pub resets: AtomicU64,
    pub replies_421: AtomicU64,
    pub delays: AtomicU64,
}

/// A running proxy; dropping it stops accepting, and ends every connection.
pub struct FaultProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// What was injected so far.
    pub injected: Arc<Injected>,
    _stop: watch::Sender<()>,
}

impl FaultProxy {
    /// Proxies 127.0.0.1:(any port) to `upstream`, injecting `faults`, with randomness from
    /// `seed`.
    pub async fn start(upstream: SocketAddr, faults: Faults, seed: u64) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let injected = Arc::new(Injected::default());
        let (stop, stopped) = watch::channel(());
        let counters = injected.clone();
        tokio::spawn(async move {
            let mut random = Random(seed);
            loop {
                let mut stopped = stopped.clone();
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = stopped.changed() => return,
                };
                let Ok((client, _)) = accepted else { continue };
                counters.connections.fetch_add(1, Ordering::Relaxed);
                let connection = Connection {
                    faults,
                    injected: counters.clone(),
                    random: Random(random.next()),
                };
                tokio::spawn(async move {
                    tokio::select! {
                        _ = connection.run(client, upstream) => {}
                        _ = stopped.changed() => {}
                    }
                });
            }
        });
        Ok(Self {
            addr,
            injected,
            _stop: stop,
        })
    }
}

struct Connection {
    faults: Faults,
    injected: Arc<Injected>,
    random: Random,
}

/// Why a direction stopped.
enum End {
    Closed,
    Reset,
    Replied421,
}

impl Connection {
    async fn run(mut self, client: TcpStream, upstream: SocketAddr) {
        let _ = client.set_nodelay(true);
        if self.random.chance(self.faults.refuse_421) {
            self.injected.refused_421.fetch_add(1, Ordering::Relaxed);
            let mut client = client;
            let _ = client
                .write_all(b"421 4.3.2 fault proxy: too busy, try later\r\n")
                .await;
            return;
        }
        let Ok(server) = TcpStream::connect(upstream).await else {
            return;
        };
        let _ = server.set_nodelay(true);
        let (client_read, client_write) = client.into_split();
        let (server_read, server_write) = server.into_split();
        let upward = Pump {
            faults: self.faults,
            injected: self.injected.clone(),
            random: Random(self.random.next()),
            from_client: true,
        };
        let downward = Pump {
            faults: self.faults,
            injected: self.injected.clone(),
            random: Random(self.random.next()),
            from_client: false,
        };
        // The client's write half serves both ways: the 421 goes to it. Share it.
        let client_write = Arc::new(tokio::sync::Mutex::new(client_write));
        let up = upward.run(
            client_read,
            Sink::Server(server_write),
            client_write.clone(),
        );
        let down = downward.run(
            server_read,
            Sink::Client(client_write.clone()),
            client_write,
        );
        // Whichever way ends first ends the connection: the halves drop together, and a
        // reset sets no linger, so the peers see a reset rather than a clean close.
        tokio::select! {
            _ = up => {}
            _ = down => {}
        }
    }
}

enum Sink {
    Server(OwnedWriteHalf),
    Client(Arc<tokio::sync::Mutex<OwnedWriteHalf>>),
}

impl Sink {
    async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Self::Server(half) => half.write_all(bytes).await,
            Self::Client(half) => half.lock().await.write_all(bytes).await,
        }
    }
}

struct Pump {
    faults: Faults,
    injected: Arc<Injected>,
    random: Random,
    from_client: bool,
}

impl Pump {
    async fn run(
        mut self,
        mut from: OwnedReadHalf,
        mut to: Sink,
        client: Arc<tokio::sync::Mutex<OwnedWriteHalf>>,
    ) -> End {
        let mut buffer = vec![0; 16 * 1024];
        loop {
            let read = match from.read(&mut buffer).await {
                Ok(0) | Err(_) => return End::Closed,
                Ok(read) => read,
            };
            let chunk = buffer.get(..read).unwrap_or_default();
            if self.from_client && self.random.chance(self.faults.reply_421) {
                self.injected.replies_421.fetch_add(1, Ordering::Relaxed);
                let _ = client
                    .lock()
                    .await
                    .write_all(b"421 4.3.0 fault proxy: closing now\r\n")
                    .await;
                return End::Replied421;
            }
            if self.random.chance(self.faults.delay) {
                self.injected.delays.fetch_add(1, Ordering::Relaxed);
                let nanos = self.faults.max_delay.as_nanos() as u64;
                let pause = Duration::from_nanos(self.random.below(nanos.max(1)));
                tokio::time::sleep(pause).await;
            }
            if self.random.chance(self.faults.reset) {
                self.injected.resets.fetch_add(1, Ordering::Relaxed);
                let cut = self.random.below(read as u64) as usize;
                let _ = to.write(chunk.get(..cut).unwrap_or_default()).await;
                reset(&client).await;
                return End::Reset;
            }
            if to.write(chunk).await.is_err() {
                return End::Closed;
            }
        }
    }
}

/// Makes the client's side end in a reset (RST) rather than a FIN.
async fn reset(client: &Arc<tokio::sync::Mutex<OwnedWriteHalf>>) {
    let half = client.lock().await;
    let _ = half.as_ref().set_zero_linger();
}

/// xorshift64*: plenty for choosing faults.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        let mut x = self.0.max(1);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}
