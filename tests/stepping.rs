//! A client stepped one event at a time (`Client::start`, `Client::next_event`), as
//! `smtpwire check` drives it, against scripted servers on 127.0.0.1: every command reaches
//! the server, events come before the error they lead to, and after a refusal the session
//! still says QUIT.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;
use support::assert_kind;

use smtpwire::address::Mailbox;
use smtpwire::auth::Credentials;
use smtpwire::session::{Event, SessionConfig, TlsPolicy};
use smtpwire::transcript::Entry;
use smtpwire::transport::{Client, ClientConfig};
use smtpwire::{ErrorKind, Phase};
use std::time::Duration;
use support::scripted::{listen, opening, Received, Step};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// A server offering `extensions` that goes on with `then` after EHLO, and answers QUIT.
fn server(extensions: &[&str], then: impl IntoIterator<Item = Step>) -> Vec<Step> {
    let mut script = opening(extensions);
    script.extend(then);
    script.extend([Step::Expect("QUIT"), Step::reply("221 2.0.0 bye")]);
    script
}

/// Runs `script` and starts a client against it, logging in when `user` says so.
async fn start(script: Vec<Step>, user: bool) -> (Client<TcpStream>, JoinHandle<Received>) {
    let (port, seen) = listen(script).await;
    let mut session = SessionConfig::new(TlsPolicy::Plaintext).with_transcript(true);
    if user {
        session = session
            .with_credentials(Credentials::new("me@step.test", "secret"))
            .dangerous_allow_plaintext_auth();
    }
    let config = ClientConfig::new("127.0.0.1", port).with_session(session);
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let peer = tcp.peer_addr().unwrap();
    (Client::start(tcp, Some(peer), config), seen)
}

/// The phases of the replies, until `Ready` or the error.
async fn ready(client: &mut Client<TcpStream>) -> (Vec<Phase>, Result<(), smtpwire::Error>) {
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

/// [`dialogue`], which must end with QUIT and its reply.
fn dialogue_ending_in_quit(client: &Client<TcpStream>) -> Vec<String> {
    let dialogue = dialogue(client);
    assert_eq!(
        dialogue[dialogue.len() - 2..],
        ["C: QUIT", "S: 221 2.0.0 bye"]
    );
    dialogue
}

#[tokio::test]
async fn every_reply_is_an_event_and_every_command_reaches_the_server() {
    let script = server(
        &["AUTH PLAIN"],
        [Step::Expect("AUTH PLAIN "), Step::reply("235 2.7.0 ok")],
    );
    let (mut client, seen) = start(script, true).await;
    let (phases, result) = ready(&mut client).await;
    result.unwrap();
    assert_eq!(phases, [Phase::Greeting, Phase::Ehlo, Phase::Auth]);
    // Ready: nothing more happens until the caller acts.
    assert!(client.next_event().await.is_err());
    client.quit().await.unwrap();
    let commands = seen.await.unwrap().commands();
    assert_eq!(commands.len(), 3);
    assert_eq!(commands[0], "EHLO localhost");
    dialogue_ending_in_quit(&client);
}

#[tokio::test]
async fn a_refused_login_comes_after_its_reply_and_quit_is_still_said() {
    let script = server(
        &["AUTH PLAIN"],
        [
            Step::Expect("AUTH PLAIN "),
            Step::reply("535 5.7.8 authentication failed"),
        ],
    );
    let (mut client, seen) = start(script, true).await;
    let (phases, result) = ready(&mut client).await;
    let error = result.unwrap_err();
    assert_kind!(error, ErrorKind::Rejected);
    assert_eq!(error.phase(), Phase::Auth);
    assert_eq!(phases, [Phase::Greeting, Phase::Ehlo, Phase::Auth]);
    // The session knew it had failed as soon as the reply was given.
    assert_eq!(
        client.session().error().map(smtpwire::Error::phase),
        Some(Phase::Auth)
    );
    client.quit().await.unwrap();
    let commands = seen.await.unwrap().commands();
    assert_eq!(commands.last().map(String::as_str), Some("QUIT"));
    let dialogue = dialogue_ending_in_quit(&client);
    // The answer to QUIT is an event like any other; then the error, which stays.
    assert!(matches!(
        client.next_event().await,
        Ok(Event::Reply {
            phase: Phase::Quit,
            ..
        })
    ));
    let again = client.next_event().await.unwrap_err();
    assert_eq!(again.to_string(), error.to_string());
    // QUIT is said once.
    client.quit().await.unwrap();
    assert_eq!(self::dialogue(&client), dialogue);
}

#[tokio::test]
async fn a_refused_sender_probe_is_followed_by_rset() {
    let script = server(
        &[],
        [
            Step::Expect("MAIL FROM:<boss@step.test>"),
            Step::reply("553 5.7.1 sender not owned by the login"),
            Step::Expect("RSET"),
            Step::reply("250 2.0.0 ok"),
        ],
    );
    let (mut client, seen) = start(script, false).await;
    ready(&mut client).await.1.unwrap();
    let reply = client
        .probe_sender(Some(Mailbox::parse("boss@step.test").unwrap()))
        .await
        .unwrap();
    assert_eq!(reply.code().get(), 553);
    assert!(client.is_usable());
    let mut after = Vec::new();
    while let Ok(Event::Reply { phase, .. }) = client.next_event().await {
        after.push(phase);
    }
    assert_eq!(after, [Phase::MailFrom, Phase::Reset]);
    client.quit().await.unwrap();
    assert_eq!(seen.await.unwrap().commands().len(), 4);
}

#[tokio::test]
async fn quit_is_said_when_the_server_lacks_what_is_needed() {
    let (mut client, seen) = start(server(&[], []), true).await;
    // No AUTH offered: the session fails before sending any, in step with the server.
    let error = ready(&mut client).await.1.unwrap_err();
    assert_kind!(error, ErrorKind::Unsupported(_));
    client.quit().await.unwrap();
    assert_eq!(seen.await.unwrap().commands(), ["EHLO localhost", "QUIT"]);
}

#[tokio::test]
async fn nothing_is_said_after_the_server_breaks_the_protocol() {
    let script = vec![
        Step::reply("220 step.test ESMTP"),
        Step::Expect("EHLO"),
        Step::reply("25O step.test"),
        // Anything more the client sends ends up here, and fails the test below.
        Step::Expect("QUIT"),
    ];
    let (mut client, seen) = start(script, false).await;
    let error = ready(&mut client).await.1.unwrap_err();
    assert_kind!(error, ErrorKind::Protocol(_));
    client.quit().await.unwrap();
    drop(client);
    let received = seen.await.unwrap();
    assert_eq!(received.commands(), ["EHLO localhost"]);
    assert_eq!(received.bytes(), b"EHLO localhost\r\n");
}
