//! Opening a session: greeting, EHLO (or HELO), STARTTLS and AUTH, up to "ready".

use super::{unexpected, Event, Expect, Session, Stage, TlsPolicy};
use crate::auth::{choose_mechanism, SaslExchange};
use crate::capabilities::Capabilities;
use crate::command::Command;
use crate::error::{Error, InputError, Phase, ProtocolViolation, Unsupported};
use crate::reply::{Reply, ReplyCode};

impl Session {
    pub(super) fn on_greeting(&mut self, reply: Reply) -> Result<(), Error> {
        match reply.code() {
            ReplyCode::SERVICE_READY => {
                self.send_ehlo();
                Ok(())
            }
            _ if reply.is_positive() => Err(unexpected(Phase::Greeting, reply)),
            _ => Err(Error::rejected(Phase::Greeting, reply)),
        }
    }

    pub(super) fn send_ehlo(&mut self) {
        self.send(Command::Ehlo(self.config.client_name.clone()), Expect::Ehlo);
    }

    /// RFC 5321 §4.3.2: 250 is the only success reply to EHLO and to HELO. Any other 2xx (a
    /// 221 "closing", a second 220) or a 1xx/3xx is a broken protocol, never a greeting.
    pub(super) fn on_ehlo(&mut self, reply: Reply) -> Result<(), Error> {
        match reply.code().get() {
            250 => {
                self.capabilities = Some(Capabilities::from_ehlo(&reply));
                self.after_hello()
            }
            // "Command unrecognized" / "not implemented": a server from before ESMTP, which
            // HELO can still talk to. HELO cannot negotiate STARTTLS, so it is a fallback only
            // when TLS is on or optional.
            500 | 502 if self.tls_active || !self.config.tls_policy.requires_tls() => {
                self.send(Command::Helo(self.config.client_name.clone()), Expect::Helo);
                Ok(())
            }
            500 | 502 => Err(Error::unsupported(Phase::Ehlo, Unsupported::Ehlo).with_reply(reply)),
            // Any other refusal (504 for our name, 550, 554, 421) refuses this client: HELO
            // would get the same answer.
            _ if reply.is_transient() || reply.is_permanent() => {
                Err(Error::rejected(Phase::Ehlo, reply))
            }
            _ => Err(unexpected(Phase::Ehlo, reply)),
        }
    }

    pub(super) fn on_helo(&mut self, reply: Reply) -> Result<(), Error> {
        if reply.code() == ReplyCode::OK {
            self.capabilities = Some(Capabilities::default());
            return self.after_hello();
        }
        if reply.is_transient() || reply.is_permanent() {
            return Err(Error::rejected(Phase::Helo, reply));
        }
        Err(unexpected(Phase::Helo, reply))
    }

    /// After EHLO/HELO: STARTTLS, AUTH or ready, as the policy and the server allow.
    pub(super) fn after_hello(&mut self) -> Result<(), Error> {
        let capabilities = self.capabilities.clone().unwrap_or_default();
        let wants_starttls = matches!(
            self.config.tls_policy,
            TlsPolicy::StartTlsRequired | TlsPolicy::StartTlsOpportunistic
        );
        // RFC 3207 §4.2: never a second STARTTLS, even if re-advertised inside TLS.
        if wants_starttls && !self.tls_active {
            if capabilities.starttls() {
                self.send(Command::StartTls, Expect::StartTls);
                return Ok(());
            }
            if self.config.tls_policy == TlsPolicy::StartTlsRequired {
                return Err(Error::unsupported(Phase::StartTls, Unsupported::StartTls));
            }
            self.event("STARTTLS not offered: continuing without TLS (opportunistic)".into());
            self.events.push_back(Event::StayedPlaintext);
        }
        self.authenticate_or_ready(&capabilities)
    }

    pub(super) fn authenticate_or_ready(
        &mut self,
        capabilities: &Capabilities,
    ) -> Result<(), Error> {
        let Some(credentials) = &self.config.credentials else {
            self.become_ready();
            return Ok(());
        };
        if !self.tls_active && !self.config.allows_plaintext_auth() {
            return Err(Error::input(Phase::Auth, InputError::PlaintextAuth));
        }
        let mechanism = choose_mechanism(
            credentials,
            capabilities.auth_mechanisms(),
            self.config.mechanism.as_ref(),
        )
        .ok_or_else(|| Error::unsupported(Phase::Auth, Unsupported::Auth))?;
        let (sasl, command) = SaslExchange::start(mechanism, credentials)
            .map_err(|e| Error::input(Phase::Auth, e))?;
        self.sasl = Some(sasl);
        self.send(command, Expect::Auth);
        Ok(())
    }

    pub(super) fn become_ready(&mut self) {
        self.stage = Stage::Ready;
        self.events.push_back(Event::Ready);
    }

    pub(super) fn on_starttls(&mut self, reply: Reply) -> Result<(), Error> {
        if reply.code() == ReplyCode::SERVICE_READY {
            // check_nothing_unsolicited has made sure no byte waits behind this reply.
            self.stage = Stage::TlsAfterStartTls;
            self.event("STARTTLS accepted: TLS handshake".into());
            return Ok(());
        }
        if reply.is_positive() {
            return Err(unexpected(Phase::StartTls, reply));
        }
        if self.config.tls_policy == TlsPolicy::StartTlsOpportunistic {
            self.event("STARTTLS refused: continuing without TLS (opportunistic)".into());
            self.events.push_back(Event::StayedPlaintext);
            let capabilities = self.capabilities.clone().unwrap_or_default();
            return self.authenticate_or_ready(&capabilities);
        }
        Err(Error::rejected(Phase::StartTls, reply))
    }

    pub(super) fn on_auth(&mut self, reply: Reply) -> Result<(), Error> {
        match reply.code() {
            ReplyCode::AUTH_SUCCESSFUL => {
                if let Some(sasl) = self.sasl.take() {
                    let mechanism = sasl.mechanism().clone();
                    self.event(format!("authenticated with {}", mechanism.name()));
                    self.events.push_back(Event::Authenticated { mechanism });
                }
                self.authenticated = true;
                self.become_ready();
                Ok(())
            }
            ReplyCode::AUTH_CONTINUE => {
                let challenge = reply.lines().first().map(Vec::as_slice).unwrap_or_default();
                let answer = match &mut self.sasl {
                    Some(sasl) => sasl.answer(challenge),
                    None => Err(ProtocolViolation::UnexpectedChallenge),
                };
                match answer {
                    Ok(command) => self.send(command, Expect::Auth),
                    Err(violation) => {
                        self.sasl = None;
                        self.send(Command::AuthCancel, Expect::AuthCancel(violation));
                    }
                }
                Ok(())
            }
            _ if reply.is_positive() => Err(unexpected(Phase::Auth, reply)),
            _ => Err(Error::rejected(Phase::Auth, reply)),
        }
    }
}
