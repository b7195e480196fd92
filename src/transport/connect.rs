//! Opening the TCP connection: name resolution with its own error, each address in turn,
//! a deadline per address and one for the whole connect.

use crate::error::{Error, ErrorKind, Phase};
use crate::session::Timeouts;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Resolves `host` (a name, an IP address or a bracketed IPv6 literal) and connects to each
/// of its addresses in turn until one answers: each attempt within [`Timeouts::connect`],
/// the whole within [`Timeouts::connect_total`]. The socket has `TCP_NODELAY` set:
/// commands and data leave in few, deliberate writes, and Nagle's algorithm would only add
/// delayed-ACK stalls to each round trip.
///
/// # Errors
/// [`ErrorKind::Resolve`] when the name does not resolve; else the last address's failure
/// ([`ErrorKind::Io`] or [`ErrorKind::Timeout`]), all in [`Phase::Connect`].
pub async fn connect_tcp(
    host: &str,
    port: u16,
    timeouts: &Timeouts,
) -> Result<(TcpStream, SocketAddr), Error> {
    let overall = Instant::now() + timeouts.connect_total;
    let addresses = resolve(host, port, overall.min(Instant::now() + timeouts.connect)).await?;
    let mut last = Error::new(
        ErrorKind::Resolve(Arc::new(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the host name resolved to no address",
        ))),
        Phase::Connect,
    );
    for address in addresses {
        let deadline = overall.min(Instant::now() + timeouts.connect);
        match tokio::time::timeout_at(deadline, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok((stream, address));
            }
            Ok(Err(error)) => last = Error::new(ErrorKind::Io(Arc::new(error)), Phase::Connect),
            Err(_) => last = Error::new(ErrorKind::Timeout, Phase::Connect),
        }
        if Instant::now() >= overall {
            break;
        }
    }
    Err(last)
}

/// The addresses of `host`, an IP literal without a lookup.
async fn resolve(host: &str, port: u16, deadline: Instant) -> Result<Vec<SocketAddr>, Error> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    match tokio::time::timeout_at(deadline, tokio::net::lookup_host((host, port))).await {
        Ok(Ok(addresses)) => Ok(addresses.collect()),
        Ok(Err(error)) => Err(Error::new(
            ErrorKind::Resolve(Arc::new(error)),
            Phase::Connect,
        )),
        Err(_) => Err(Error::new(ErrorKind::Timeout, Phase::Connect)),
    }
}
