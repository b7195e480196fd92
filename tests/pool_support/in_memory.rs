//! The mailer's connections as in-memory pipes: no sockets, so tokio's paused clock moves only
//! when every task waits on a timer. Shared by the pool tests (`Scripted`) and the pool
//! benchmark (`#[path]`-included), whose servers differ only in what they answer.

#![allow(unreachable_pub)]

use smtpwire::pool::Connector;
use smtpwire::transport::{Client, ClientConfig};
use smtpwire::Error;
use std::future::Future;
use tokio::io::DuplexStream;

/// The server's side of in-memory connections.
pub trait Serve: Send + Sync + 'static {
    /// Serves one connection, called as the client connects; the returned task runs on its own.
    fn serve(&self, stream: DuplexStream) -> impl Future<Output = ()> + Send + 'static;
}

/// Opens each connection as an in-memory pipe whose far end the server `S` serves.
#[derive(Clone, Debug, Default)]
pub struct InMemory<S>(pub S);

impl<S: Serve> Connector for InMemory<S> {
    type Stream = DuplexStream;

    fn connect(
        &self,
        config: &ClientConfig,
    ) -> impl Future<Output = Result<Client<DuplexStream>, Error>> + Send {
        let (client, server) = tokio::io::duplex(1 << 16);
        let serving = self.0.serve(server);
        let config = config.clone();
        async move {
            tokio::spawn(serving);
            Client::connect_with(client, config).await
        }
    }
}
