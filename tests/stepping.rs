//! A client stepped one event at a time (`Client::start`, `Client::next_event`), as
//! `smtpwire check` drives it, against scripted servers on 127.0.0.1: every command reaches
//! the server, and events come before the error they lead to.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use smtpwire::auth::Credentials;
use smtpwire::session::{Event, TlsPolicy};
use smtpwire::transcript::Entry;
use smtpwire::transport::{Client, ClientConfig};
use smtpwire::Phase;
use std::time::Duration;
use support::scripted::{listen, Step};
use tokio::net::TcpStream;

async fn start(port: u16, user: bool) -> Client<TcpStream> {
    let mut config = ClientConfig::new("127.0.0.1", port);
    config.session.tls = TlsPolicy::Plaintext;
    config.session.transcript = true;
    if user {
        config.session.credentials = Some(Credentials::new("me@step.test", "secret"));
        config.session = config.session.dangerous_allow_plaintext_auth();
    }
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let peer = tcp.peer_addr().unwrap();
    Client::start(tcp, Some(peer), config)
}

/// The phases of the replies, until `Ready` or the error.
async fn opening(client: &mut Client<TcpStream>) -> (Vec<Phase>, Result<(), smtpwire::Error>) {
    let mut phases = Vec::new();
    let step = async {
        loop {
            match client.next_event().await {
                Ok(Event::Reply { phase, .. }) => phases.push(phase),
                Ok(Event::Ready) => return Ok(()),
                Ok(_) => {}
                Err(error) => return Err(error),
            }
        }
    };
    let result = tokio::time::timeout(Duration::from_secs(5), step)
        .await
        .expect("the opening must not hang");
    (phases, result)
}

/// The command and reply lines of the client's transcript.
fn dialogue(client: &Client<TcpStream>) -> Vec<String> {
    client
        .session()
        .transcript()
        .unwrap()
        .entries()
        .filter(|(_, entry)| matches!(entry, Entry::Client(_) | Entry::Server(_)))
        .map(|(_, entry)| entry.to_string())
        .collect()
}

#[tokio::test]
async fn every_reply_is_an_event_and_every_command_reaches_the_server() {
    let (port, seen) = listen(vec![
        Step::reply("220 step.test ESMTP"),
        Step::Expect("EHLO localhost"),
        Step::send("250-step.test\r\n250 AUTH PLAIN\r\n"),
        Step::Expect("AUTH PLAIN "),
        Step::reply("235 2.7.0 ok"),
        Step::Expect("QUIT"),
        Step::reply("221 2.0.0 bye"),
    ])
    .await;
    let mut client = start(port, true).await;
    let (phases, result) = opening(&mut client).await;
    result.unwrap();
    assert_eq!(phases, [Phase::Greeting, Phase::Ehlo, Phase::Auth]);
    // Ready: nothing more happens until the caller acts.
    assert!(client.next_event().await.is_err());
    client.quit().await.unwrap();
    assert_eq!(seen.await.unwrap().commands().len(), 3);
    let dialogue = dialogue(&client);
    assert_eq!(
        dialogue[dialogue.len() - 2..],
        ["C: QUIT", "S: 221 2.0.0 bye"]
    );
}
