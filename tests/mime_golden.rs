//! Golden messages: byte-exact output for representative messages, with a seeded random source
//! and a fixed date. `UPDATE_GOLDEN=1 cargo test --test mime_golden` rewrites the files after a
//! deliberate change; review the diff. The files keep CRLF (`.gitattributes`: `-text`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod mime_support;

use mime_support::{assert_wire_safe, mail_parser};
use smtpwire::mime::{
    Attachment, Date, Group, Message, MessageBuilder, NamedAddress, SeededRandom,
};
use std::path::Path;

fn fixed() -> MessageBuilder {
    Message::builder()
        .date(Date::from_unix(1_727_000_000, 480).unwrap())
        .random_source(SeededRandom::new(2024))
}

fn golden(name: &str, builder: MessageBuilder) {
    let message = builder.build().unwrap();
    let bytes = message.to_bytes().unwrap();
    assert_wire_safe(&bytes);
    assert_eq!(bytes.len() as u64, message.encoded_len());
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mime")
        .join(format!("{name}.eml"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &bytes).unwrap();
    }
    let expected = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes == expected,
        "{name} differs from {}:\n{}",
        path.display(),
        String::from_utf8_lossy(&bytes)
    );
    // A golden file that parsers reject would pin the wrong thing.
    mail_parser(&bytes);
}

#[test]
fn plain_ascii() {
    golden(
        "plain_ascii",
        fixed()
            .from("Alice Example <alice@example.com>")
            .to("bob@example.com")
            .subject("Lunch on Friday?")
            .text("Hi Bob,\n\nAre we still on for Friday?\n\nAlice\n"),
    );
}

#[test]
fn qq_invoice() {
    golden(
        "qq_invoice",
        fixed()
            .from("张三 <zhangsan@qq.com>")
            .to("李四 <lisi@163.com>, \"Ops, night shift\" <ops@example.com>")
            .bcc("audit@example.com")
            .subject("2024年第三季度发票 — 请在周五前确认")
            .text("您好，\n\n附件是第三季度的发票，请查收。\n\n张三\n")
            .html("<p>您好，</p><p>附件是第三季度的发票，请查收。</p><img src=\"cid:logo\">")
            .attach(
                Attachment::from_bytes("logo.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec())
                    .content_id("logo"),
            )
            .attach(Attachment::from_bytes(
                "2024年第三季度增值税专用发票（电子版）.pdf",
                b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec(),
            )),
    );
}

#[test]
fn quoted_printable_text() {
    golden(
        "quoted_printable",
        fixed()
            .from("reports@example.com")
            .to("team@example.com")
            .subject("Café menu: crème brûlée = 5€")
            .text(format!(
                "Crème brûlée costs 5€.\n.\nFrom now on, lines may be long: {}\ntrailing space \n",
                "lorem ipsum ".repeat(12)
            )),
    );
}

#[test]
fn groups_utf8_address_and_8bit() {
    golden(
        "smtputf8_8bit",
        fixed()
            .allow_utf8_addresses(true)
            .allow_8bit(true)
            .from(NamedAddress::with_name("用户", "用户@例子.中国").unwrap())
            .to(Group::new(
                "团队",
                vec![
                    NamedAddress::new("a@例子。中国").unwrap(),
                    NamedAddress::new("b@example.com").unwrap(),
                ],
            )
            .unwrap())
            .cc("undisclosed-recipients:;")
            .reply_to("Help Desk <help@bücher.example>")
            .subject("国际化地址")
            .message_id(
                "<fixed.id@例子.example>"
                    .replace("例子", "xn--fsqu00a")
                    .as_str(),
            )
            .in_reply_to("<parent@example.com>")
            .references("<root@example.com> <parent@example.com>")
            .header("X-Mailer", "smtpwire")
            .text("中文正文，8bit 传输。\n"),
    );
}

#[test]
fn long_headers_fold() {
    let to: Vec<String> = (0..12)
        .map(|i| format!("Recipient {i} <recipient.{i}@example.com>"))
        .collect();
    golden(
        "long_headers",
        fixed()
            .from("\"Dr. Jane Q. Public, PhD\" <jane@example.com>")
            .to(to.join(", "))
            .subject(format!("{} 以及一段很长的中文标题用来测试折叠 {}", "A fairly long English subject line".repeat(2), "=?not-an-encoded-word?="))
            .header("List-Unsubscribe", "<https://example.com/unsubscribe?list=weekly&user=0123456789abcdef0123456789abcdef>")
            .html("<p>hello</p>")
            .attach(Attachment::from_bytes(format!("{}.xlsx", "very-long-report-name-".repeat(5)), vec![0; 100])),
    );
}
