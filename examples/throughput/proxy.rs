//! The two proxies of the throughput benchmark, each on its own thread with its own
//! single-threaded tokio runtime, so that neither competes with the client's runtime:
//!
//! * a TLS terminator (tokio-rustls, ring, a certificate from `support/run_ca.rs`) in front of
//!   smtp-sink, which has no TLS of its own: implicit TLS as on port 465;
//! * a counting proxy that forwards bytes unchanged and counts the client's *flights*: bursts
//!   of client bytes with no server byte in between. A client that waits for each reply makes
//!   one flight per command; one that pipelines makes one per group.
//!
//! Both forward what they read at once (TCP_NODELAY on every socket, a flush after every
//! write), so they add latency to each round trip but never hold bytes back.

use std::error::Error;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// The connection tasks' error: they run on `tokio::spawn`, which needs `Send`.
type BoxError = Box<dyn Error + Send + Sync>;

/// What each proxy reads at once: large enough that a 64 KiB client write is one read.
const BUFFER: usize = 256 * 1024;

/// A proxy running on its own thread.
pub(crate) struct Proxy {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    /// `/proc/self/task/<tid>/schedstat` of its thread, for its CPU time.
    pub(crate) schedstat: PathBuf,
}

/// What the counting proxy saw on one connection.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Client bursts: client bytes after server bytes (or first).
    pub(crate) flights: AtomicU64,
    /// Bytes from the client.
    pub(crate) client_bytes: AtomicU64,
    /// Bytes from the server.
    pub(crate) server_bytes: AtomicU64,
    /// Set when the server spoke; the next client byte starts a flight.
    server_spoke: AtomicBool,
    /// Both directions ended.
    pub(crate) closed: AtomicBool,
}

/// The counting proxy and the counters of every connection it took, in order.
pub(crate) struct CountingProxy {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    /// One entry per accepted connection.
    pub(crate) connections: Arc<Mutex<Vec<Arc<Counters>>>>,
}

/// Starts a TLS terminator forwarding the plaintext to `upstream`.
pub(crate) fn spawn_tls_terminator(
    upstream: SocketAddr,
    acceptor: TlsAcceptor,
) -> Result<Proxy, Box<dyn Error>> {
    spawn("tls-terminator", move |listener| async move {
        while let Ok((client, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Err(error) = terminate(client, upstream, acceptor).await {
                    eprintln!("tls terminator: {error}");
                }
            });
        }
    })
}

async fn terminate(
    client: TcpStream,
    upstream: SocketAddr,
    acceptor: TlsAcceptor,
) -> Result<(), BoxError> {
    client.set_nodelay(true)?;
    let tls = acceptor.accept(client).await?;
    let server = TcpStream::connect(upstream).await?;
    server.set_nodelay(true)?;
    let (tls_read, tls_write) = tokio::io::split(tls);
    let (server_read, server_write) = server.into_split();
    let (up, down) = tokio::join!(
        forward(tls_read, server_write, |_| {}),
        forward(server_read, tls_write, |_| {})
    );
    up?;
    down?;
    Ok(())
}

/// Starts a counting proxy forwarding to `upstream`.
pub(crate) fn spawn_counting(upstream: SocketAddr) -> Result<CountingProxy, Box<dyn Error>> {
    let connections: Arc<Mutex<Vec<Arc<Counters>>>> = Arc::default();
    let registry = connections.clone();
    let proxy = spawn("counting-proxy", move |listener| async move {
        while let Ok((client, _)) = listener.accept().await {
            let counters = Arc::new(Counters {
                server_spoke: AtomicBool::new(true),
                ..Counters::default()
            });
            if let Ok(mut all) = registry.lock() {
                all.push(counters.clone());
            }
            tokio::spawn(async move {
                if let Err(error) = count(client, upstream, &counters).await {
                    eprintln!("counting proxy: {error}");
                }
                counters.closed.store(true, Ordering::SeqCst);
            });
        }
    })?;
    Ok(CountingProxy {
        addr: proxy.addr,
        connections,
    })
}

async fn count(
    client: TcpStream,
    upstream: SocketAddr,
    counters: &Counters,
) -> Result<(), BoxError> {
    client.set_nodelay(true)?;
    let server = TcpStream::connect(upstream).await?;
    server.set_nodelay(true)?;
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let from_client = |read: usize| {
        // The client could only have seen what this proxy already passed on, and the flag
        // is set before the server's bytes are passed on: a client reacting to a reply always
        // finds it set.
        if counters.server_spoke.swap(false, Ordering::SeqCst) {
            counters.flights.fetch_add(1, Ordering::SeqCst);
        }
        counters
            .client_bytes
            .fetch_add(read as u64, Ordering::SeqCst);
    };
    let from_server = |read: usize| {
        counters.server_spoke.store(true, Ordering::SeqCst);
        counters
            .server_bytes
            .fetch_add(read as u64, Ordering::SeqCst);
    };
    let (up, down) = tokio::join!(
        forward(client_read, server_write, from_client),
        forward(server_read, client_write, from_server)
    );
    up?;
    down?;
    Ok(())
}

/// Copies until end of file, calling `seen` with each read's length before passing it on,
/// then half-closes the other side.
async fn forward<R, W>(mut from: R, mut to: W, seen: impl Fn(usize)) -> Result<(), BoxError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buffer = vec![0; BUFFER];
    loop {
        // A peer that resets after QUIT (or a TLS peer without close_notify) ends the copy
        // like an end of file.
        let read = from.read(&mut buffer).await.unwrap_or_default();
        let Some(data) = buffer.get(..read).filter(|d| !d.is_empty()) else {
            let _ = to.shutdown().await;
            return Ok(());
        };
        seen(read);
        to.write_all(data).await?;
        to.flush().await?;
    }
}

/// Binds 127.0.0.1 on a free port and runs `serve` on a new thread with its own runtime.
fn spawn<F, Fut>(name: &str, serve: F) -> Result<Proxy, Box<dyn Error>>
where
    F: FnOnce(TcpListener) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let (tid_sender, tid_receiver) = mpsc::channel();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let _ = tid_sender.send(std::fs::read_link("/proc/thread-self"));
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    eprintln!("proxy runtime: {error}");
                    return;
                }
            };
            runtime.block_on(async move {
                match TcpListener::from_std(listener) {
                    Ok(listener) => serve(listener).await,
                    Err(error) => eprintln!("proxy listener: {error}"),
                }
            });
        })?;
    let task = tid_receiver.recv_timeout(Duration::from_secs(5))??;
    Ok(Proxy {
        addr,
        schedstat: task.join("schedstat"),
    })
}
