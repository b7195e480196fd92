//! Composes a message with Chinese headers, text + HTML, an inline image and an attachment,
//! and prints it as it would go to the server.
//!
//! `cargo run --example build_mime`

use smtpwire::mime::{Attachment, Date, Message, SeededRandom};
use std::io::Write;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let message = Message::builder()
        .from("张三 <zhangsan@qq.com>")
        .to("李四 <lisi@163.com>, bob@example.com")
        .cc("\"Ops, night shift\" <ops@example.com>")
        .bcc("audit@example.com")
        .subject("2024年第三季度财务报告 — 请在周五前审阅")
        .date(Date::from_unix(1_727_000_000, 480)?)
        .text("您好，\n\n附件是第三季度的财务报告，请查收。\n\n张三")
        .html("<p>您好，</p><p>附件是第三季度的财务报告，请查收。</p><img src=\"cid:logo\">")
        .attach(
            Attachment::from_bytes("logo.png", b"\x89PNG\r\n\x1a\n".to_vec()).content_id("logo"),
        )
        .attach(Attachment::from_bytes(
            "2024年第三季度财务报告（最终版）.pdf",
            b"%PDF-1.7\n".to_vec(),
        ))
        .random_source(SeededRandom::new(1))
        .build()?;
    eprintln!("MAIL FROM:<{}>", message.envelope_from());
    for recipient in message.envelope_to() {
        eprintln!("RCPT TO:<{recipient}>");
    }
    eprintln!("SIZE={}", message.encoded_len());
    let mut stdout = std::io::stdout().lock();
    message.write_to(&mut stdout)?;
    stdout.flush()?;
    Ok(())
}
