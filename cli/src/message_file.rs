//! `smtpwire send --message FILE.json`: a message as data, for programs and for re-runs.
//!
//! ```json
//! {
//!   "message_id": "order-1234",
//!   "from": "Shop <shop@example.com>",
//!   "to": ["张三 <zhangsan@qq.com>"], "cc": "boss@example.com", "bcc": [],
//!   "subject": "Order {{order.id}} has shipped",
//!   "template": {"text": "shipped.txt", "html": "shipped.html"},
//!   "payload": {"name": "张三", "order": {"id": 1234}},
//!   "attachments": ["invoice.pdf", {"path": "logo.png", "content_id": "logo"}],
//!   "headers": {"X-Campaign": "autumn"},
//!   "notify": "failure,delay", "ret": "hdrs", "envid": "order-1234"
//! }
//! ```
//!
//! The body is `text` and/or `html`, or a `template`: a file (`.html`/`.htm` is HTML, anything
//! else text) or one of each. Templates hold `{{name}}` placeholders, dotted names reaching
//! into the payload; values are HTML-escaped in HTML templates, and a placeholder without a
//! value is an error, never an empty string. With a `payload` or a `template`, the inline
//! `subject`, `text` and `html` are templates too (so a bulk file needs no template files);
//! without either they are sent as written.
//! `message_id` makes a re-run the same message: it becomes the Message-ID (made unique to the
//! sender's domain when it has no `@`) and seeds the MIME boundaries.
//!
//! Paths are relative to the message file. Every problem is reported with its field path.

use crate::compose::{Draft, FileSpec, Origin, Problems, Sourced};
use crate::dsn::{self, Dsn};
use crate::exit::Exit;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

const FIELDS: &[&str] = &[
    "message_id",
    "from",
    "to",
    "cc",
    "bcc",
    "reply_to",
    "subject",
    "text",
    "html",
    "template",
    "payload",
    "attachments",
    "headers",
    "notify",
    "ret",
    "envid",
];

/// Reads a message file into a draft, recording every problem with its field path.
pub fn load(path: &Path, problems: &mut Problems) -> Option<Draft> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => {
            let exit = if error.kind() == std::io::ErrorKind::InvalidData {
                Exit::DataErr
            } else {
                Exit::NoInput
            };
            problems.add(
                exit,
                "--message",
                format!("cannot read {}: {error}", path.display()),
            );
            return None;
        }
    };
    let base = path.parent().unwrap_or(Path::new("."));
    parse(&text, &path.display().to_string(), base, problems)
}

/// Reads one message in the JSON form from `text` (a file's contents, or one line of a
/// `bulk` JSONL file), `label` naming it in problems; paths are relative to `base`.
pub fn parse(text: &str, label: &str, base: &Path, problems: &mut Problems) -> Option<Draft> {
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(error) => {
            problems.add(Exit::DataErr, label, format!("not valid JSON: {error}"));
            return None;
        }
    };
    let Value::Object(object) = value else {
        problems.add(
            Exit::DataErr,
            label,
            "expected a JSON object with from, to, subject, text or html, …",
        );
        return None;
    };
    Some(Reader { base, problems }.draft(&object))
}

struct Reader<'a> {
    base: &'a Path,
    problems: &'a mut Problems,
}

impl Reader<'_> {
    fn draft(&mut self, object: &Map<String, Value>) -> Draft {
        for key in object.keys() {
            if !FIELDS.contains(&key.as_str()) {
                self.problems.add(
                    Exit::DataErr,
                    key.as_str(),
                    format!("unknown field; expected one of {}", FIELDS.join(", ")),
                );
            }
        }
        let payload = match object.get("payload") {
            None => None,
            Some(Value::Object(payload)) => Some(payload),
            Some(_) => {
                self.wrong_type("payload", "an object");
                None
            }
        };
        let template = self.template(object.get("template"));
        // With a payload or a template file, the inline subject, text and html are templates
        // too; without either they are sent as written (`{{` may be meant literally).
        let templated = template.is_some() || payload.is_some();
        let empty = Map::new();
        let values = payload.unwrap_or(&empty);
        let (text, html) = match template {
            Some(template) => {
                for field in ["text", "html"] {
                    if object.contains_key(field) {
                        self.problems.add(
                            Exit::DataErr,
                            field,
                            "give the body either as text/html or as a template, not both",
                        );
                    }
                }
                let render = |reader: &mut Self, file: Option<Sourced<PathBuf>>, html| {
                    file.and_then(|file| reader.render_file(&file, values, html))
                };
                let text = render(self, template.text, false);
                let html = render(self, template.html, true);
                (text.map(|t| t.value), html)
            }
            None => {
                let mut text = self.string(object, "text");
                let mut html = self.string(object, "html");
                if templated {
                    text = text.and_then(|t| self.fill_inline(t, values, false));
                    html = html.and_then(|h| self.fill_inline(h, values, true));
                }
                (text.map(|t| t.value), html)
            }
        };
        let mut subject = self.string(object, "subject");
        if templated {
            subject = subject.and_then(|s| self.fill_inline(s, values, false));
        }
        Draft {
            message_id: self.string(object, "message_id"),
            from: self.string(object, "from"),
            reply_to: self.list(object, "reply_to"),
            to: self.list(object, "to"),
            cc: self.list(object, "cc"),
            bcc: self.list(object, "bcc"),
            subject,
            text,
            html,
            files: self.attachments(object.get("attachments")),
            headers: self.headers(object.get("headers")),
            dsn: self.dsn(object),
            origin: Origin::File,
        }
    }

    /// `notify`, `ret`, `envid`: delivery status notifications, as `send --notify` etc.
    fn dsn(&mut self, object: &Map<String, Value>) -> Dsn {
        Dsn {
            notify: self.parsed(object, "notify", dsn::parse_notify),
            ret: self.parsed(object, "ret", dsn::parse_ret),
            envid: self.parsed(object, "envid", dsn::check_envid),
        }
    }

    fn parsed<T>(
        &mut self,
        object: &Map<String, Value>,
        key: &str,
        parse: fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        let value = self.string(object, key)?;
        parse(&value.value)
            .map_err(|why| self.problems.add(Exit::DataErr, key, why))
            .ok()
    }

    fn wrong_type(&mut self, at: &str, expected: &str) {
        self.problems
            .add(Exit::DataErr, at, format!("expected {expected}"));
    }

    fn string(&mut self, object: &Map<String, Value>, key: &str) -> Option<Sourced<String>> {
        match object.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(Sourced::new(key, text.clone())),
            Some(_) => {
                self.wrong_type(key, "a string");
                None
            }
        }
    }

    /// An address list: one string (which may hold several, comma-separated) or an array.
    fn list(&mut self, object: &Map<String, Value>, key: &str) -> Vec<Sourced<String>> {
        match object.get(key) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(text)) => vec![Sourced::new(key, text.clone())],
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| match item {
                    Value::String(text) => Some(Sourced::new(format!("{key}[{i}]"), text.clone())),
                    _ => {
                        self.wrong_type(&format!("{key}[{i}]"), "an address string");
                        None
                    }
                })
                .collect(),
            Some(_) => {
                self.wrong_type(key, "an address string or an array of them");
                Vec::new()
            }
        }
    }

    fn path(&self, text: &str) -> PathBuf {
        self.base.join(text)
    }

    fn template(&mut self, value: Option<&Value>) -> Option<Template> {
        let mut template = Template::default();
        match value? {
            Value::String(file) => {
                let path = Sourced::new("template", self.path(file));
                if is_html(file) {
                    template.html = Some(path);
                } else {
                    template.text = Some(path);
                }
            }
            Value::Object(parts) => {
                for (key, value) in parts {
                    let at = format!("template.{key}");
                    let slot = match key.as_str() {
                        "text" => &mut template.text,
                        "html" => &mut template.html,
                        _ => {
                            self.problems.add(
                                Exit::DataErr,
                                at,
                                "unknown field; expected text or html",
                            );
                            continue;
                        }
                    };
                    match value {
                        Value::String(file) => *slot = Some(Sourced::new(at, self.path(file))),
                        _ => self.wrong_type(&at, "a file path"),
                    }
                }
            }
            _ => {
                self.wrong_type(
                    "template",
                    "a file path or {\"text\": PATH, \"html\": PATH}",
                );
                return None;
            }
        }
        Some(template)
    }

    fn render_file(
        &mut self,
        file: &Sourced<PathBuf>,
        payload: &Map<String, Value>,
        html: bool,
    ) -> Option<Sourced<String>> {
        let text = match std::fs::read_to_string(&file.value) {
            Ok(text) => text,
            Err(error) => {
                self.problems.add(
                    Exit::NoInput,
                    &file.at,
                    format!("cannot read {}: {error}", file.value.display()),
                );
                return None;
            }
        };
        let at = format!("{} ({})", file.at, file.value.display());
        fill(&text, payload, html, &at, self.problems).map(|text| Sourced::new(&file.at, text))
    }

    /// An inline field (`subject`, `text`, `html`) filled in from the payload.
    fn fill_inline(
        &mut self,
        field: Sourced<String>,
        payload: &Map<String, Value>,
        html: bool,
    ) -> Option<Sourced<String>> {
        fill(&field.value, payload, html, &field.at, self.problems)
            .map(|value| Sourced::new(&field.at, value))
    }

    fn attachments(&mut self, value: Option<&Value>) -> Vec<Sourced<FileSpec>> {
        let items = match value {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Array(items)) => items,
            Some(_) => {
                self.wrong_type("attachments", "an array of paths or objects");
                return Vec::new();
            }
        };
        let mut files = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let at = format!("attachments[{i}]");
            match item {
                Value::String(path) => files.push(Sourced::new(
                    at,
                    FileSpec {
                        path: self.path(path),
                        ..FileSpec::default()
                    },
                )),
                Value::Object(fields) => {
                    if let Some(spec) = self.attachment(&at, fields) {
                        files.push(Sourced::new(at, spec));
                    }
                }
                _ => self.wrong_type(&at, "a path or {\"path\": …}"),
            }
        }
        files
    }

    fn attachment(&mut self, at: &str, fields: &Map<String, Value>) -> Option<FileSpec> {
        let mut spec = FileSpec::default();
        let mut path = None;
        for (key, value) in fields {
            let field_at = format!("{at}.{key}");
            let Value::String(text) = value else {
                self.wrong_type(&field_at, "a string");
                continue;
            };
            match key.as_str() {
                "path" => path = Some(self.path(text)),
                "filename" => spec.name = Some(text.clone()),
                "content_type" => spec.content_type = Some(text.clone()),
                "content_id" => spec.content_id = Some(text.clone()),
                _ => self.problems.add(
                    Exit::DataErr,
                    field_at,
                    "unknown field; expected path, filename, content_type or content_id",
                ),
            }
        }
        match path {
            Some(path) => {
                spec.path = path;
                Some(spec)
            }
            None => {
                self.problems
                    .add(Exit::DataErr, format!("{at}.path"), "missing");
                None
            }
        }
    }

    fn headers(&mut self, value: Option<&Value>) -> Vec<Sourced<(String, String)>> {
        match value {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(fields)) => fields
                .iter()
                .filter_map(|(name, value)| match value {
                    Value::String(text) => Some(Sourced::new(
                        format!("headers.{name}"),
                        (name.clone(), text.clone()),
                    )),
                    _ => {
                        self.wrong_type(&format!("headers.{name}"), "a string");
                        None
                    }
                })
                .collect(),
            Some(_) => {
                self.wrong_type("headers", "an object of header names and values");
                Vec::new()
            }
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Template {
    text: Option<Sourced<PathBuf>>,
    html: Option<Sourced<PathBuf>>,
}

fn is_html(file: &str) -> bool {
    let lower = file.to_ascii_lowercase();
    lower.ends_with(".html") || lower.ends_with(".htm")
}

/// Replaces every `{{name}}` in `template` with its payload value (HTML-escaped if `html`).
/// Each placeholder that has no value, or a value that is not text, a number or a boolean, is
/// a problem; then the result is `None`.
fn fill(
    template: &str,
    payload: &Map<String, Value>,
    html: bool,
    at: &str,
    problems: &mut Problems,
) -> Option<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    let mut ok = true;
    while let Some(start) = rest.find("{{") {
        out.push_str(rest.get(..start).unwrap_or_default());
        let offset = template.len() - rest.len() + start;
        let line = template
            .get(..offset)
            .unwrap_or_default()
            .matches('\n')
            .count()
            + 1;
        let after = rest.get(start + 2..).unwrap_or_default();
        let Some(end) = after.find("}}") else {
            problems.add(
                Exit::DataErr,
                at,
                format!("line {line}: `{{{{` is never closed"),
            );
            return None;
        };
        let name = after.get(..end).unwrap_or_default().trim();
        match lookup(payload, name) {
            Ok(value) if html => out.push_str(&escape_html(&value)),
            Ok(value) => out.push_str(&value),
            Err(why) => {
                problems.add(
                    Exit::DataErr,
                    at,
                    format!("line {line}: {{{{{name}}}}} {why}"),
                );
                ok = false;
            }
        }
        rest = after.get(end + 2..).unwrap_or_default();
    }
    out.push_str(rest);
    ok.then_some(out)
}

/// The text for a dotted placeholder name, `order.id`.
fn lookup(payload: &Map<String, Value>, name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("is empty: write {{name}}".to_owned());
    }
    let mut parts = name.split('.');
    let first = parts.next().unwrap_or_default();
    let mut value = payload.get(first);
    for part in parts {
        value = value.and_then(|v| v.get(part));
    }
    match value {
        None => Err(format!("has no value: payload.{name} is missing")),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(Value::Number(number)) => Ok(number.to_string()),
        Some(Value::Bool(flag)) => Ok(flag.to_string()),
        Some(Value::Null) => Err(format!("has no value: payload.{name} is null")),
        Some(_) => Err(format!(
            "needs text, a number or a boolean, but payload.{name} is a list or an object"
        )),
    }
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn payload() -> Map<String, Value> {
        match json!({"name": "<Zhang & San>", "order": {"id": 1234, "paid": true}}) {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn placeholders_are_filled_and_escaped_in_html() {
        let mut problems = Problems::default();
        let text = "Hi {{name}}, order {{ order.id }} paid: {{order.paid}}";
        assert_eq!(
            fill(text, &payload(), false, "t", &mut problems).unwrap(),
            "Hi <Zhang & San>, order 1234 paid: true"
        );
        assert_eq!(
            fill("<p>{{name}}</p>", &payload(), true, "t", &mut problems).unwrap(),
            "<p>&lt;Zhang &amp; San&gt;</p>"
        );
        assert!(problems.is_empty());
    }

    #[test]
    fn a_missing_placeholder_is_an_error_never_an_empty_string() {
        let mut problems = Problems::default();
        let text = "Hi {{name}},\n{{missing}} and {{order.nope}} and {{order}}";
        assert!(fill(text, &payload(), false, "template", &mut problems).is_none());
        let error = problems.into_result().unwrap_err();
        assert_eq!(error.exit, Exit::DataErr);
        assert!(error.message.contains("3 problems"), "{}", error.message);
        assert!(error
            .message
            .contains("template: line 2: {{missing}} has no value"));
        assert!(error.message.contains("payload.order.nope is missing"));
        assert!(error
            .message
            .contains("payload.order is a list or an object"));
    }

    fn draft(value: Value) -> (Option<Draft>, Problems) {
        let mut problems = Problems::default();
        let draft = parse(&value.to_string(), "m", Path::new("."), &mut problems);
        (draft, problems)
    }

    #[test]
    fn inline_fields_are_templates_with_a_payload_and_literal_without() {
        let (filled, problems) = draft(json!({
            "subject": "Order {{order.id}}", "text": "Hi {{name}}", "html": "<b>{{name}}</b>",
            "payload": payload(),
        }));
        assert!(problems.is_empty(), "{problems:?}");
        let filled = filled.unwrap();
        assert_eq!(filled.subject.unwrap().value, "Order 1234");
        assert_eq!(filled.text.unwrap(), "Hi <Zhang & San>");
        assert_eq!(filled.html.unwrap().value, "<b>&lt;Zhang &amp; San&gt;</b>");

        let (literal, problems) = draft(json!({"subject": "{{x}}", "text": "a {{b}} c"}));
        assert!(problems.is_empty(), "{problems:?}");
        let literal = literal.unwrap();
        assert_eq!(literal.subject.unwrap().value, "{{x}}");
        assert_eq!(literal.text.unwrap(), "a {{b}} c");

        let (_, problems) = draft(json!({"text": "Hi {{nom}}", "payload": {"name": "x"}}));
        let error = problems.into_result().unwrap_err();
        assert!(
            error
                .message
                .starts_with("text: line 1: {{nom}} has no value"),
            "{}",
            error.message
        );
    }

    #[test]
    fn an_unclosed_placeholder_is_an_error() {
        let mut problems = Problems::default();
        assert!(fill("a {{name", &payload(), false, "t", &mut problems).is_none());
        assert!(!problems.is_empty());
    }
}
