//! The message builder: collects fields and parts, validates them, and lays out the MIME tree.

use super::address::{self, Address, IntoAddresses, NamedAddress};
use super::attachment::Attachment;
use super::boundary::{OsRandom, RandomSource};
use super::date::Date;
use super::envelope::Paths;
use super::error::{check_line, Error, Field, Invalid};
use super::header::{self, write_field, HeaderWriter};
use super::message_id::MessageId;
use super::part::{self, body_tree, has_8bit};
use super::Message;

/// Builds a [`Message`]; every input is checked, and [`MessageBuilder::build`] reports the
/// first problem with the field it concerns.
#[derive(Default)]
pub struct MessageBuilder {
    from: Vec<Address>,
    sender: Vec<Address>,
    reply_to: Vec<Address>,
    to: Vec<Address>,
    cc: Vec<Address>,
    bcc: Vec<Address>,
    subject: Option<String>,
    date: Option<Date>,
    message_id: Option<MessageId>,
    in_reply_to: Vec<MessageId>,
    references: Vec<MessageId>,
    headers: Vec<(String, String)>,
    text: Option<String>,
    html: Option<String>,
    attachments: Vec<Attachment>,
    envelope: Option<Paths>,
    allow_8bit: bool,
    allow_utf8_addresses: bool,
    random: Option<Box<dyn RandomSource>>,
    error: Option<Error>,
}

impl MessageBuilder {
    /// An empty builder; see [`Message::builder`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the first error for [`MessageBuilder::build`] to report.
    fn check<T>(&mut self, field: Field, result: Result<T, Invalid>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(reason) => {
                self.error.get_or_insert(Error::Invalid { field, reason });
                None
            }
        }
    }

    fn addresses(
        mut self,
        field: Field,
        input: impl IntoAddresses,
        target: fn(&mut Self) -> &mut Vec<Address>,
    ) -> Self {
        if let Some(list) = self.check(field, input.into_addresses()) {
            target(&mut self).extend(list);
        }
        self
    }

    /// Adds authors (`From`): `"张三 <zhangsan@qq.com>"`, a [`NamedAddress`], or a list. Several
    /// authors need a [`sender`](Self::sender).
    pub fn from(self, addresses: impl IntoAddresses) -> Self {
        self.addresses(Field::From, addresses, |b| &mut b.from)
    }

    /// Sets the one mailbox that sent the message on the authors' behalf (`Sender`); it is the
    /// envelope's reverse-path when there is one.
    pub fn sender(mut self, mailbox: impl IntoAddresses) -> Self {
        self.sender.clear();
        self.addresses(Field::Sender, mailbox, |b| &mut b.sender)
    }

    /// Adds addresses for replies (`Reply-To`).
    pub fn reply_to(self, addresses: impl IntoAddresses) -> Self {
        self.addresses(Field::ReplyTo, addresses, |b| &mut b.reply_to)
    }

    /// Adds primary recipients (`To`).
    pub fn to(self, addresses: impl IntoAddresses) -> Self {
        self.addresses(Field::To, addresses, |b| &mut b.to)
    }

    /// Adds copy recipients (`Cc`).
    pub fn cc(self, addresses: impl IntoAddresses) -> Self {
        self.addresses(Field::Cc, addresses, |b| &mut b.cc)
    }

    /// Adds blind copy recipients: they go into the envelope only, never into the message.
    pub fn bcc(self, addresses: impl IntoAddresses) -> Self {
        self.addresses(Field::Bcc, addresses, |b| &mut b.bcc)
    }

    /// Sets the subject; any text without line breaks.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        let subject = subject.into();
        if self.check(Field::Subject, check_line(&subject)).is_some() {
            self.subject = Some(subject);
        }
        self
    }

    /// Sets the origination date; now, in UTC, unless set.
    pub fn date(mut self, date: Date) -> Self {
        self.date = Some(date);
        self
    }

    /// Sets the Message-ID, `<id@domain>`; 128 random bits at the author's domain unless set.
    pub fn message_id(mut self, id: &str) -> Self {
        self.message_id = self.check(Field::MessageId, MessageId::parse(id));
        self
    }

    /// Sets `In-Reply-To`: the Message-IDs of the messages this one answers.
    pub fn in_reply_to(mut self, ids: &str) -> Self {
        self.in_reply_to = self
            .check(Field::InReplyTo, MessageId::parse_list(ids))
            .unwrap_or_default();
        self
    }

    /// Sets `References`: the Message-IDs of the thread so far.
    pub fn references(mut self, ids: &str) -> Self {
        self.references = self
            .check(Field::References, MessageId::parse_list(ids))
            .unwrap_or_default();
        self
    }

    /// Adds a header of the caller's, such as `X-Mailer` or `List-Unsubscribe`. The name must
    /// be printable ASCII without `:` and not one the builder writes; the value is unstructured
    /// text, encoded as needed, without line breaks.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let name_ok = self
            .check(Field::HeaderName, header::check_name(name))
            .is_some();
        if name_ok
            && self
                .check(Field::Header(name.to_owned()), check_line(value))
                .is_some()
        {
            self.headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    settings! {
        /// Sets the plain text body.
        set_optional text: String => text;
        /// Sets the HTML body; with a text body as well, the two become
        /// `multipart/alternative`.
        set_optional html: String => html;
    }

    /// Adds an attachment, or an inline part when it has a Content-ID.
    pub fn attach(mut self, attachment: Attachment) -> Self {
        self.attachments.push(attachment);
        self
    }

    /// Sets the envelope's reverse-path and forward-paths instead of deriving them from the
    /// headers.
    pub fn envelope(
        mut self,
        from: crate::address::Mailbox,
        to: Vec<crate::address::Mailbox>,
    ) -> Self {
        self.envelope = Some(Paths { from, to });
        self
    }

    /// Allows 8bit text bodies; set it only when the server offers 8BITMIME (RFC 6152), and
    /// check [`Message::needs_8bitmime`].
    pub fn allow_8bit(mut self, allow: bool) -> Self {
        self.allow_8bit = allow;
        self
    }

    /// Allows addresses with non-ASCII local parts, written as UTF-8 (RFC 6532); set it only
    /// when the server offers SMTPUTF8 (RFC 6531). Non-ASCII domains need no such thing: they
    /// are written as punycode.
    pub fn allow_utf8_addresses(mut self, allow: bool) -> Self {
        self.allow_utf8_addresses = allow;
        self
    }

    /// Sets where boundaries and the Message-ID come from; [`OsRandom`] unless set.
    pub fn random_source(mut self, random: impl RandomSource + 'static) -> Self {
        self.random = Some(Box::new(random));
        self
    }

    /// Checks everything and encodes the headers and text; attachments are encoded when the
    /// message is written.
    pub fn build(self) -> Result<Message, Error> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let from = single_mailboxes(&self.from, Field::From)?;
        let first_from = from.first().ok_or(Error::MissingFrom)?;
        let sender = match single_mailboxes(&self.sender, Field::Sender)?.as_slice() {
            [] => None,
            [one] => Some(*one),
            _ => {
                return Err(Error::invalid(
                    Field::Sender,
                    Invalid::Syntax("there can be only one sender"),
                ))
            }
        };
        if from.len() > 1 && sender.is_none() {
            return Err(Error::MissingSender);
        }
        let fields = [
            (Field::From, &self.from),
            (Field::Sender, &self.sender),
            (Field::ReplyTo, &self.reply_to),
            (Field::To, &self.to),
            (Field::Cc, &self.cc),
            (Field::Bcc, &self.bcc),
        ];
        let mut utf8_headers = false;
        for (field, list) in &fields {
            for mailbox in list.iter().flat_map(Address::mailboxes) {
                if mailbox.needs_smtputf8() {
                    if !self.allow_utf8_addresses {
                        return Err(Error::invalid(field.clone(), Invalid::NeedsSmtpUtf8));
                    }
                    utf8_headers |= *field != Field::Bcc;
                }
            }
        }
        let envelope = match self.envelope {
            Some(envelope) => envelope,
            None => derive_envelope(
                sender.unwrap_or(first_from),
                [&self.to, &self.cc, &self.bcc],
            )?,
        };
        let mut random = self.random.unwrap_or_else(|| Box::new(OsRandom::default()));
        let message_id = match self.message_id {
            Some(id) => id,
            None => MessageId::generate(&mut *random, first_from.domain()),
        };

        let mut head = Vec::with_capacity(1024);
        let date = self.date.unwrap_or_else(Date::now);
        write_field(&mut head, "Date", |w| w.token(&date.to_string()));
        for (name, list) in [
            ("From", &self.from),
            ("Sender", &self.sender),
            ("Reply-To", &self.reply_to),
            ("To", &self.to),
            ("Cc", &self.cc),
        ] {
            if !list.is_empty() {
                write_field(&mut head, name, |w| address::write_list(w, list));
            }
        }
        if let Some(subject) = &self.subject {
            let mut w = HeaderWriter::new(&mut head, "Subject");
            header::write_unstructured(&mut w, subject)
                .map_err(|reason| Error::invalid(Field::Subject, reason))?;
            w.finish();
        }
        write_field(&mut head, "Message-ID", |w| {
            w.token(&message_id.to_string())
        });
        for (name, ids) in [
            ("In-Reply-To", &self.in_reply_to),
            ("References", &self.references),
        ] {
            if !ids.is_empty() {
                write_field(&mut head, name, |w| {
                    ids.iter().for_each(|id| w.token(&id.to_string()))
                });
            }
        }
        for (name, value) in &self.headers {
            let mut w = HeaderWriter::new(&mut head, name);
            header::write_unstructured(&mut w, value)
                .map_err(|reason| Error::invalid(Field::Header(name.clone()), reason))?;
            w.finish();
        }
        head.extend_from_slice(b"MIME-Version: 1.0\r\n");

        let root = body_tree(self.text, self.html, self.attachments, self.allow_8bit)?;
        let needs_8bitmime = has_8bit(&root);
        let segments = part::render(root, head, &mut *random)?;
        Ok(Message::new(
            segments,
            envelope,
            message_id,
            needs_8bitmime,
            utf8_headers,
        ))
    }
}

impl std::fmt::Debug for MessageBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageBuilder")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("subject", &self.subject)
            .field("attachments", &self.attachments.len())
            .finish_non_exhaustive()
    }
}

/// The mailboxes of a field where RFC 5322 allows no groups (`From`, `Sender`).
fn single_mailboxes(list: &[Address], field: Field) -> Result<Vec<&NamedAddress>, Error> {
    list.iter()
        .map(|address| match address {
            Address::Single(mailbox) => Ok(mailbox),
            Address::Group(_) => Err(Error::invalid(
                field.clone(),
                Invalid::Syntax("a group is not allowed here"),
            )),
        })
        .collect()
}

fn derive_envelope(sender: &NamedAddress, lists: [&Vec<Address>; 3]) -> Result<Paths, Error> {
    let to_envelope = |mailbox: &NamedAddress| {
        crate::address::Mailbox::parse(mailbox.address())
            .map_err(|e| Error::invalid(Field::Envelope, Invalid::Envelope(e)))
    };
    let mut recipients: Vec<crate::address::Mailbox> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for mailbox in lists.into_iter().flatten().flat_map(Address::mailboxes) {
        // Domains are case-insensitive; local parts are not (RFC 5321 §2.4).
        let key = (
            mailbox.local_part().to_owned(),
            mailbox.domain().to_ascii_lowercase(),
        );
        if seen.insert(key) {
            recipients.push(to_envelope(mailbox)?);
        }
    }
    Ok(Paths {
        from: to_envelope(sender)?,
        to: recipients,
    })
}
