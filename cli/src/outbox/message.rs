//! A claimed row made into what the pool sends: the JSON form goes through the same reader
//! and builder as `smtpwire send --message`; the raw form is sent as the application gave it,
//! with the envelope from its columns.

use crate::compose::{Problems, Sourced};
use crate::message_file;
use serde_json::Value;
use smtpwire::address::Mailbox;
use smtpwire::envelope::{Body, Envelope, Recipient};
use std::path::Path;
use std::time::Instant;

/// One claimed row.
#[derive(Debug)]
pub struct Claimed {
    /// The row's id.
    pub id: i64,
    /// The application's key.
    pub message_id: String,
    /// The JSON form, or
    pub message: Option<Value>,
    /// the raw bytes with
    pub raw: Option<Vec<u8>>,
    /// their envelope.
    pub mail_from: Option<String>,
    /// Their recipients.
    pub rcpt_to: Option<Vec<String>>,
    /// This try's number, the first being 1: the fence for committing its outcome.
    pub attempt: i32,
    /// When the claim was sent: the lease runs from at latest then.
    pub claim_sent: Instant,
    /// When the claim's answer came: heartbeats sent after it extend this row.
    pub claim_done: Instant,
}

/// Why a row cannot be sent as it is.
pub enum Unsendable {
    /// The row is wrong (bad JSON, a missing recipient): no try will send it.
    Invalid(String),
    /// Something on this machine failed (an attachment unreadable): another try may work.
    Transient(String),
}

/// The envelope and bytes of a row; `default_from` stands in for a JSON message's missing
/// `from`. Files named in JSON messages (attachments, templates) must lie below `files`:
/// whoever can insert a row must not be able to mail the worker's own files.
pub fn prepare(
    row: &Claimed,
    files: Option<&Path>,
    default_from: Option<&Sourced<String>>,
) -> Result<(Envelope, Vec<u8>), Unsendable> {
    match (&row.message, &row.raw) {
        (Some(json), _) => from_json(row, json, files, default_from),
        (None, Some(raw)) => from_raw(row, raw),
        (None, None) => Err(Unsendable::Invalid(
            "the row has neither message nor raw".into(),
        )),
    }
}

fn from_json(
    row: &Claimed,
    json: &Value,
    files: Option<&Path>,
    default_from: Option<&Sourced<String>>,
) -> Result<(Envelope, Vec<u8>), Unsendable> {
    let named = file_paths(json);
    let Some(files) = files.or_else(|| named.is_empty().then_some(Path::new("."))) else {
        let (at, _) = named
            .first()
            .map_or(("message", ""), |(a, p)| (a.as_str(), *p));
        return Err(Unsendable::Invalid(format!(
            "{at}: names a file, and this worker takes files only from a --files directory"
        )));
    };
    for (at, path) in &named {
        let below = Path::new(path).components().all(|c| {
            matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        });
        if !below || path.is_empty() {
            return Err(Unsendable::Invalid(format!(
                "{at}: {path:?} is not a relative path below the --files directory"
            )));
        }
    }
    let mut problems = Problems::default();
    let draft = message_file::parse(&json.to_string(), "message", files, &mut problems);
    let built = draft.and_then(|mut draft| {
        match &draft.message_id {
            Some(inner) if inner.value.trim() != row.message_id => problems.add(
                crate::exit::Exit::DataErr,
                "message.message_id",
                format!(
                    "{:?} differs from the row's message_id {:?}",
                    inner.value, row.message_id
                ),
            ),
            Some(_) => {}
            None => {
                draft.message_id = Some(Sourced::new("message_id", row.message_id.clone()));
            }
        }
        if draft.from.is_none() {
            draft.from = default_from.cloned();
        }
        draft.build(&mut problems)
    });
    if !problems.is_empty() {
        let text = match problems.into_result() {
            Err(error) => error.message,
            Ok(()) => String::from("invalid message"),
        };
        return Err(Unsendable::Invalid(text));
    }
    let message = built.ok_or_else(|| Unsendable::Invalid("the message is empty".into()))?;
    let envelope = Envelope::for_message(&message)
        .map_err(|e| Unsendable::Invalid(format!("envelope: {e}")))?;
    let bytes = message
        .to_bytes()
        .map_err(|e| Unsendable::Transient(format!("cannot read an attachment: {e}")))?;
    Ok((envelope, bytes))
}

fn from_raw(row: &Claimed, raw: &[u8]) -> Result<(Envelope, Vec<u8>), Unsendable> {
    let invalid = |what: String| Unsendable::Invalid(what);
    let from = match row.mail_from.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(address) => Some(
            Mailbox::parse(address).map_err(|e| invalid(format!("mail_from {address:?}: {e}")))?,
        ),
    };
    let mut recipients = Vec::new();
    for address in row.rcpt_to.iter().flatten() {
        let mailbox = Mailbox::parse(address.trim())
            .map_err(|e| invalid(format!("rcpt_to {address:?}: {e}")))?;
        recipients.push(Recipient::new(mailbox));
    }
    if raw.is_empty() {
        return Err(invalid("raw is empty".into()));
    }
    let body = if raw.is_ascii() {
        Body::SevenBit
    } else {
        Body::EightBitMime
    };
    let envelope = Envelope::new(from, recipients)
        .map_err(|e| invalid(format!("envelope: {e}")))?
        .with_size(raw.len() as u64)
        .with_body(body);
    Ok((envelope, raw.to_vec()))
}

/// Every file path a JSON message names, with where: `template`, `template.html`,
/// `attachments[0]`, `attachments[1].path`.
fn file_paths(json: &Value) -> Vec<(String, &str)> {
    let mut paths = Vec::new();
    match json.get("template") {
        Some(Value::String(path)) => paths.push(("template".to_owned(), path.as_str())),
        Some(Value::Object(parts)) => {
            for (key, value) in parts {
                if let Value::String(path) = value {
                    paths.push((format!("template.{key}"), path.as_str()));
                }
            }
        }
        _ => {}
    }
    if let Some(Value::Array(list)) = json.get("attachments") {
        for (i, item) in list.iter().enumerate() {
            match item {
                Value::String(path) => paths.push((format!("attachments[{i}]"), path.as_str())),
                Value::Object(fields) => {
                    if let Some(Value::String(path)) = fields.get("path") {
                        paths.push((format!("attachments[{i}].path"), path.as_str()));
                    }
                }
                _ => {}
            }
        }
    }
    paths
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(message: Value) -> Claimed {
        Claimed {
            id: 1,
            message_id: "k".into(),
            message: Some(message),
            raw: None,
            mail_from: None,
            rcpt_to: None,
            attempt: 1,
            claim_sent: Instant::now(),
            claim_done: Instant::now(),
        }
    }

    fn problem(message: Value, files: Option<&Path>) -> String {
        match prepare(&row(message), files, None) {
            Err(Unsendable::Invalid(text)) => text,
            Err(Unsendable::Transient(text)) => format!("transient: {text}"),
            Ok(_) => "sent".into(),
        }
    }

    #[test]
    fn a_row_cannot_name_files_outside_the_files_directory() {
        let base = json!({"from": "a@example.com", "to": "b@example.com", "subject": "s"});
        let with = |field: &str, value: Value| {
            let mut message = base.clone();
            message[field] = value;
            message
        };
        let dir = Path::new("/srv/mail-files");
        let passwd = with("attachments", json!(["/etc/passwd"]));
        assert!(problem(passwd.clone(), Some(dir)).contains("attachments[0]"));
        assert!(problem(passwd, None).contains("--files"));
        let up = with("attachments", json!([{"path": "../secret.pdf"}]));
        assert!(problem(up, Some(dir)).contains("attachments[0].path"));
        let template = with("template", json!({"html": "/root/.ssh/id_rsa.html"}));
        assert!(problem(template, Some(dir)).contains("template.html"));
        // A plain message needs no directory; a file below it is read (and here missing).
        let plain = with("text", json!("hello"));
        assert_eq!(problem(plain, None), "sent");
        let below = with("attachments", json!(["invoices/1.pdf"]));
        assert!(
            problem(below, Some(dir)).contains("1.pdf"),
            "read from below the directory"
        );
    }
}
