//! SASL authentication (RFC 4954): PLAIN (RFC 4616), LOGIN, XOAUTH2.

use crate::command::Command;
use crate::error::{InputError, ProtocolViolation};
use crate::secret::Secret;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

/// A SASL mechanism name, as offered in EHLO and sent in AUTH.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mechanism {
    /// PLAIN (RFC 4616): user and password in one message. The preferred choice under TLS.
    Plain,
    /// LOGIN (draft-murchison-sasl-login): user, then password, each after a prompt.
    Login,
    /// XOAUTH2: an OAuth 2.0 bearer token (Gmail, Outlook).
    XOAuth2,
    /// Any other mechanism the server offers; kept so it can be shown, never used.
    Other(String),
}

impl Mechanism {
    /// Recognises a mechanism name, ignoring ASCII case.
    pub fn from_name(name: &[u8]) -> Self {
        if name.eq_ignore_ascii_case(b"PLAIN") {
            Self::Plain
        } else if name.eq_ignore_ascii_case(b"LOGIN") {
            Self::Login
        } else if name.eq_ignore_ascii_case(b"XOAUTH2") {
            Self::XOAuth2
        } else {
            Self::Other(String::from_utf8_lossy(name).to_ascii_uppercase())
        }
    }

    /// The name as sent after `AUTH`.
    pub fn name(&self) -> &str {
        match self {
            Self::Plain => "PLAIN",
            Self::Login => "LOGIN",
            Self::XOAuth2 => "XOAUTH2",
            Self::Other(name) => name,
        }
    }
}

/// What to authenticate with. The password or token is a [`Secret`] and never printed.
#[derive(Clone, Debug)]
pub struct Credentials {
    username: String,
    secret: Secret<String>,
    kind: SecretKind,
}

/// Whether the secret is a password or an OAuth 2.0 access token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretKind {
    /// A password or app-specific password (QQ Mail's and 163's "authorization code").
    Password,
    /// An OAuth 2.0 bearer token, used with XOAUTH2.
    OAuth2Token,
}

impl Credentials {
    /// A user name and a password (for QQ Mail and 163, the "authorization code").
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            secret: Secret::new(password.into()),
            kind: SecretKind::Password,
        }
    }

    /// A user name and an OAuth 2.0 access token, for XOAUTH2 (Gmail, Outlook).
    pub fn oauth2(username: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            secret: Secret::new(token.into()),
            kind: SecretKind::OAuth2Token,
        }
    }

    /// The user name.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The password or token.
    pub fn secret(&self) -> &Secret<String> {
        &self.secret
    }

    /// What the secret is.
    pub fn kind(&self) -> SecretKind {
        self.kind
    }

    /// Refuses what would corrupt a SASL message: NUL shifts PLAIN's fields (RFC 4616 §2),
    /// `\x01` ends XOAUTH2's, and an empty field can never authenticate.
    pub(crate) fn validate(&self) -> Result<(), InputError> {
        let (user, secret) = (self.username.as_bytes(), self.secret.expose().as_bytes());
        if user.is_empty() || secret.is_empty() {
            return Err(InputError::Credentials("empty user name or secret"));
        }
        if user.contains(&0) || secret.contains(&0) {
            return Err(InputError::Credentials("NUL in user name or secret"));
        }
        if self.kind == SecretKind::OAuth2Token && (user.contains(&1) || secret.contains(&1)) {
            return Err(InputError::Credentials("\\x01 in user name or token"));
        }
        Ok(())
    }
}

/// Picks the mechanism: the caller's if forced (and offered), else the best one offered for
/// the kind of secret. Never a weaker one after a failure: one exchange per session.
pub(crate) fn choose_mechanism(
    credentials: &Credentials,
    offered: &[Mechanism],
    forced: Option<&Mechanism>,
) -> Option<Mechanism> {
    if let Some(forced) = forced {
        return offered.contains(forced).then(|| forced.clone());
    }
    let preference: &[Mechanism] = match credentials.kind {
        SecretKind::Password => &[Mechanism::Plain, Mechanism::Login],
        SecretKind::OAuth2Token => &[Mechanism::XOAuth2],
    };
    preference.iter().find(|m| offered.contains(m)).cloned()
}

/// One SASL exchange, stepped by the session: the AUTH command, then one answer per `334`.
///
/// LOGIN is driven by step order, never by the prompt text ("Username:" is not always sent,
/// nor in English); challenges are only checked to be base64, as RFC 4954 §4 requires.
#[derive(Debug)]
pub(crate) struct SaslExchange {
    mechanism: Mechanism,
    credentials: Credentials,
    challenges: u8,
}

impl SaslExchange {
    /// Starts an exchange; returns the AUTH command to send.
    pub(crate) fn start(
        mechanism: Mechanism,
        credentials: &Credentials,
    ) -> Result<(Self, Command), InputError> {
        credentials.validate()?;
        let (user, secret) = (credentials.username.as_str(), credentials.secret.expose());
        let initial_response = match &mechanism {
            // RFC 4616: [authzid] NUL authcid NUL passwd, with an empty authzid.
            Mechanism::Plain => Some(base64_of(joined(&["\0", user, "\0", secret]).expose())),
            Mechanism::XOAuth2 => Some(base64_of(
                joined(&["user=", user, "\x01auth=Bearer ", secret, "\x01\x01"]).expose(),
            )),
            // Some servers break on LOGIN with an initial response; send the name when asked.
            Mechanism::Login | Mechanism::Other(_) => None,
        };
        let command = Command::Auth {
            mechanism: mechanism.clone(),
            initial_response,
        };
        let exchange = Self {
            mechanism,
            credentials: credentials.clone(),
            challenges: 0,
        };
        Ok((exchange, command))
    }

    /// The mechanism in use.
    pub(crate) fn mechanism(&self) -> &Mechanism {
        &self.mechanism
    }

    /// Answers a `334` challenge (its text, base64). An `Err` means the exchange must be
    /// cancelled with `*`.
    pub(crate) fn answer(&mut self, challenge: &[u8]) -> Result<Command, ProtocolViolation> {
        let challenge = challenge.trim_ascii();
        if BASE64.decode(challenge).is_err() {
            return Err(ProtocolViolation::InvalidChallenge);
        }
        self.challenges = self.challenges.saturating_add(1);
        let response = match (&self.mechanism, self.challenges) {
            (Mechanism::Login, 1) => base64_of(&self.credentials.username),
            (Mechanism::Login, 2) => base64_of(self.credentials.secret.expose()),
            // XOAUTH2 reports a failure as a 334 with a JSON error; an empty answer gets the
            // final 5xx reply.
            (Mechanism::XOAuth2, 1) => Secret::new(String::new()),
            _ => return Err(ProtocolViolation::UnexpectedChallenge),
        };
        Ok(Command::AuthResponse(response))
    }
}

/// `parts` joined into one allocation of the exact size, so that growing it leaves no copy of
/// the secret behind; wiped when dropped.
fn joined(parts: &[&str]) -> Secret<String> {
    let mut text = String::with_capacity(parts.iter().map(|part| part.len()).sum());
    for part in parts {
        text.push_str(part);
    }
    Secret::new(text)
}

/// The base64 form, itself a secret (base64 encodes into one buffer of the exact size).
fn base64_of(text: &str) -> Secret<String> {
    Secret::new(BASE64.encode(text))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn plain_initial_response_follows_rfc_4616() {
        let credentials = Credentials::new("alice", "s3cr3t");
        let (_, command) = SaslExchange::start(Mechanism::Plain, &credentials).unwrap();
        assert_eq!(command.to_bytes(), b"AUTH PLAIN AGFsaWNlAHMzY3IzdA==\r\n");
    }

    #[test]
    fn login_answers_by_step_not_by_prompt_text() {
        let credentials = Credentials::new("alice", "s3cr3t");
        let (mut sasl, command) = SaslExchange::start(Mechanism::Login, &credentials).unwrap();
        assert_eq!(command.to_bytes(), b"AUTH LOGIN\r\n");
        // The prompts are swapped on purpose: only their order counts.
        let user = sasl.answer(b"UGFzc3dvcmQ6").unwrap();
        assert_eq!(user.to_bytes(), b"YWxpY2U=\r\n");
        let pass = sasl.answer(b"VXNlcm5hbWU6").unwrap();
        assert_eq!(pass.to_bytes(), b"czNjcjN0\r\n");
        assert_eq!(
            sasl.answer(b"UGFzc3dvcmQ6"),
            Err(ProtocolViolation::UnexpectedChallenge)
        );
    }

    #[test]
    fn a_challenge_the_exchange_cannot_take_is_refused() {
        let cases = [
            // PLAIN says everything in its initial response: no challenge may follow.
            (
                Mechanism::Plain,
                &b""[..],
                ProtocolViolation::UnexpectedChallenge,
            ),
            (
                Mechanism::Login,
                &b"!!!not-base64!!!"[..],
                ProtocolViolation::InvalidChallenge,
            ),
        ];
        for (mechanism, challenge, refusal) in cases {
            let credentials = Credentials::new("a", "b");
            let (mut sasl, _) = SaslExchange::start(mechanism.clone(), &credentials).unwrap();
            assert_eq!(sasl.answer(challenge), Err(refusal), "{mechanism:?}");
        }
    }

    #[test]
    fn xoauth2_initial_response_and_error_challenge() {
        let credentials = Credentials::oauth2("a@gmail.com", "ya29.token");
        let (mut sasl, command) = SaslExchange::start(Mechanism::XOAuth2, &credentials).unwrap();
        let expected = BASE64.encode("user=a@gmail.com\x01auth=Bearer ya29.token\x01\x01");
        assert_eq!(
            command.to_bytes(),
            format!("AUTH XOAUTH2 {expected}\r\n").into_bytes()
        );
        assert_eq!(
            sasl.answer(b"eyJzdGF0dXMiOiI0MDEifQ==").unwrap().to_bytes(),
            b"\r\n"
        );
    }

    #[test]
    fn credentials_with_nul_are_refused_before_sending() {
        for credentials in [
            Credentials::new("alice\0admin", "x"),
            Credentials::new("alice", "pa\0ss"),
            Credentials::new("", "x"),
            Credentials::oauth2("a\x01b", "t"),
        ] {
            assert!(SaslExchange::start(Mechanism::Plain, &credentials).is_err());
        }
    }

    #[test]
    fn mechanism_choice() {
        let password = Credentials::new("a", "b");
        let token = Credentials::oauth2("a", "b");
        let offered = [Mechanism::Login, Mechanism::Plain, Mechanism::XOAuth2];
        assert_eq!(
            choose_mechanism(&password, &offered, None),
            Some(Mechanism::Plain)
        );
        assert_eq!(
            choose_mechanism(&password, &offered[..1], None),
            Some(Mechanism::Login)
        );
        assert_eq!(
            choose_mechanism(&token, &offered, None),
            Some(Mechanism::XOAuth2)
        );
        assert_eq!(choose_mechanism(&token, &offered[..2], None), None);
        assert_eq!(
            choose_mechanism(&password, &offered, Some(&Mechanism::Login)),
            Some(Mechanism::Login)
        );
        assert_eq!(
            choose_mechanism(&password, &offered[..1], Some(&Mechanism::Plain)),
            None
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let credentials = Credentials::new("alice", "s3cr3t");
        let (sasl, command) = SaslExchange::start(Mechanism::Plain, &credentials).unwrap();
        for text in [
            format!("{credentials:?}"),
            format!("{sasl:?}"),
            format!("{command:?}"),
        ] {
            assert!(
                !text.contains("s3cr3t") && !text.contains("AGFsaWNlAHMzY3IzdA"),
                "{text}"
            );
        }
    }
}
