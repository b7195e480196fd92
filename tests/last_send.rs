//! `Client::quit_after_next_send` against scripted servers on 127.0.0.1: with PIPELINING,
//! QUIT rides behind the last dot (the server below reads QUIT before it answers the data,
//! so a client that waited for the final reply first would hang); without it, QUIT follows
//! the final reply; either way each message keeps its own outcome.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use smtpwire::envelope::Envelope;
use smtpwire::session::{Report, SessionConfig, Status, TlsPolicy};
use smtpwire::transport::{Client, ClientConfig};
use std::time::Duration;
use support::scripted::{listen, opening, Received, Step};
use tokio::task::JoinHandle;

/// A message to `to`, from a@x.test.
fn envelope(to: &str) -> Envelope {
    support::envelope::envelope("a@x.test", &[to])
}

/// Runs `script` and connects a client that is to quit after its next send.
async fn quitting_after_next_send(script: Vec<Step>) -> (Client, JoinHandle<Received>) {
    let (port, server) = listen(script).await;
    let session = SessionConfig::new(TlsPolicy::Plaintext).with_transcript(true);
    let config = ClientConfig::new("127.0.0.1", port).with_session(session);
    let mut client = Client::connect(config).await.unwrap();
    client.quit_after_next_send();
    (client, server)
}

/// A server offering PIPELINING that answers a pipelined envelope as a group, takes the
/// data, and goes on with `then`.
fn pipelined(then: impl IntoIterator<Item = Step>) -> Vec<Step> {
    let mut script = opening(&["PIPELINING"]);
    script.extend([
        Step::Expect("MAIL FROM:"),
        Step::Expect("RCPT TO:"),
        Step::Expect("DATA"),
        Step::send("250 ok\r\n250 ok\r\n354 go\r\n"),
        Step::ExpectData,
    ]);
    script.extend(then);
    script
}

/// Runs `script`, sends one message as the connection's last, and returns the report, what
/// the server received and the client. A client that waits where the script does not hangs
/// into the guard.
async fn send_last(script: Vec<Step>) -> (Report, Received, Client) {
    let (mut client, server) = quitting_after_next_send(script).await;
    let report = tokio::time::timeout(
        Duration::from_secs(10),
        client.send(envelope("b@y.test"), b"Subject: one\r\n\r\nbody\r\n"),
    )
    .await
    .expect("the send must not wait for what the server does not send")
    .unwrap();
    assert_eq!(report.recipients()[0].status(), Status::Accepted);
    (report, server.await.unwrap(), client)
}

#[tokio::test]
async fn with_pipelining_quit_leaves_behind_the_dot_and_the_message_keeps_its_reply() {
    let script = pipelined([
        // Read before the data is answered: only a pipelined QUIT gets here.
        Step::Expect("QUIT"),
        Step::send("250 2.0.0 queued as 1\r\n221 2.0.0 bye\r\n"),
        Step::Close,
    ]);
    let (_, received, client) = send_last(script).await;
    let commands = received.commands();
    assert_eq!(
        commands.last().map(String::as_str),
        Some("QUIT"),
        "{commands:?}"
    );
    let transcript = client.session().transcript().unwrap().to_string();
    assert!(transcript.contains("221 2.0.0 bye"), "{transcript}");
    assert!(
        !client.is_usable(),
        "the connection is closed after the send"
    );
}

#[tokio::test]
async fn without_pipelining_quit_follows_the_final_reply() {
    let mut script = opening(&[]);
    script.extend([
        Step::Expect("MAIL FROM:"),
        Step::reply("250 ok"),
        Step::Expect("RCPT TO:"),
        Step::reply("250 ok"),
        Step::Expect("DATA"),
        Step::reply("354 go"),
        Step::ExpectData,
        Step::reply("250 2.0.0 queued as 1"),
        Step::Expect("QUIT"),
        Step::reply("221 2.0.0 bye"),
        Step::Close,
    ]);
    let (_, received, _) = send_last(script).await;
    let received = received.bytes();
    let text = String::from_utf8_lossy(&received);
    assert!(text.ends_with("\r\n.\r\nQUIT\r\n"), "{text}");
}

#[tokio::test]
async fn a_batch_quits_behind_its_last_message_only() {
    let script = pipelined([
        Step::Expect("MAIL FROM:"),
        Step::Expect("RCPT TO:"),
        Step::Expect("DATA"),
        Step::send(
            "250 2.0.0 queued as 1\r\n250 ok\r\n550 5.1.1 no such user\r\n554 no valid recipients\r\n",
        ),
        Step::Expect("RSET"),
        Step::reply("250 ok"),
        Step::Expect("QUIT"),
        Step::reply("221 2.0.0 bye"),
        Step::Close,
    ]);
    let (mut client, server) = quitting_after_next_send(script).await;
    let results = client
        .send_batch([
            (envelope("b@y.test"), b"Subject: one\r\n\r\n1\r\n".to_vec()),
            (
                envelope("nobody@y.test"),
                b"Subject: two\r\n\r\n2\r\n".to_vec(),
            ),
        ])
        .await;
    assert_eq!(
        results[0].as_ref().unwrap().recipients()[0].status(),
        Status::Accepted
    );
    let refused = results[1].as_ref().unwrap_err();
    assert_eq!(
        refused.report().unwrap().recipients()[0].status(),
        Status::Rejected
    );
    let commands = server.await.unwrap().commands();
    assert_eq!(
        commands.iter().filter(|c| *c == "QUIT").count(),
        1,
        "{commands:?}"
    );
}
