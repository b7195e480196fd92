//! Delivery status notifications (RFC 3461): `--notify`, `--ret`, `--envid` and the message
//! file's `notify`, `ret`, `envid`, turned into the envelope's DSN parameters.
//!
//! A server that does not offer DSN gets none of them: RFC 3461 forbids sending them there, so
//! the library refuses the message before MAIL and the CLI says why.

use crate::exit::{CliError, Exit};
use clap::Args;
use smtpwire::envelope::{Envelope, Notify, Ret};

/// The DSN flags of `smtpwire send`.
#[derive(Args, Clone, Debug, Default)]
pub struct DsnArgs {
    /// Asks the receiving servers for delivery status notifications (RFC 3461): `never`, or
    /// any of `success,failure,delay`. The server must offer DSN, or nothing is sent.
    #[arg(long, value_name = "never|success,failure,delay")]
    pub notify: Option<String>,
    /// What a failure notification returns: the `full` message or only its headers (`hdrs`).
    #[arg(long, value_name = "full|hdrs")]
    pub ret: Option<String>,
    /// An identifier of this sending, returned in the notifications (RFC 3461 ENVID): printable
    /// ASCII, at most 100 characters once encoded.
    #[arg(long, value_name = "ID")]
    pub envid: Option<String>,
}

/// The DSN requests, checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dsn {
    /// NOTIFY for every recipient.
    pub notify: Option<Notify>,
    /// RET.
    pub ret: Option<Ret>,
    /// ENVID.
    pub envid: Option<String>,
}

impl Dsn {
    /// The envelope with these requests.
    ///
    /// # Errors
    /// An ENVID the library finds too long (checked before, so not expected).
    pub fn apply(&self, mut envelope: Envelope) -> Result<Envelope, CliError> {
        if let Some(notify) = self.notify {
            envelope = envelope.with_notify(notify);
        }
        if let Some(ret) = self.ret {
            envelope = envelope.with_ret(ret);
        }
        if let Some(envid) = &self.envid {
            envelope = envelope
                .with_envid(envid)
                .map_err(|e| CliError::new(Exit::DataErr, format!("ENVID: {e}")))?;
        }
        Ok(envelope)
    }

    /// These requests, with `over`'s where it has them (flags over the message file's fields).
    pub fn or(self, over: Dsn) -> Dsn {
        Dsn {
            notify: over.notify.or(self.notify),
            ret: over.ret.or(self.ret),
            envid: over.envid.or(self.envid),
        }
    }
}

impl DsnArgs {
    /// The flags, checked.
    ///
    /// # Errors
    /// A usage error (64) naming the flag.
    pub fn dsn(&self) -> Result<Dsn, CliError> {
        let usage = |flag: &str, why: String| CliError::usage(format!("{flag}: {why}"));
        Ok(Dsn {
            notify: self
                .notify
                .as_deref()
                .map(parse_notify)
                .transpose()
                .map_err(|why| usage("--notify", why))?,
            ret: self
                .ret
                .as_deref()
                .map(parse_ret)
                .transpose()
                .map_err(|why| usage("--ret", why))?,
            envid: self
                .envid
                .as_deref()
                .map(check_envid)
                .transpose()
                .map_err(|why| usage("--envid", why))?,
        })
    }
}

/// `never`, or a comma-separated set of `success`, `failure`, `delay` (RFC 3461 §4.1).
pub fn parse_notify(text: &str) -> Result<Notify, String> {
    let words: Vec<String> = text
        .split(',')
        .map(|w| w.trim().to_ascii_lowercase())
        .collect();
    if words.iter().any(|w| w == "never") {
        return if words.len() == 1 {
            Ok(Notify::Never)
        } else {
            Err(format!(
                "{text:?}: `never` cannot be combined with other events"
            ))
        };
    }
    let (mut success, mut failure, mut delay) = (false, false, false);
    for word in &words {
        let slot = match word.as_str() {
            "success" => &mut success,
            "failure" => &mut failure,
            "delay" => &mut delay,
            _ => {
                return Err(format!(
                    "{text:?}: expected `never` or any of success, failure, delay"
                ))
            }
        };
        if *slot {
            return Err(format!("{text:?}: {word} is given twice"));
        }
        *slot = true;
    }
    Ok(Notify::On {
        success,
        failure,
        delay,
    })
}

/// `full` or `hdrs` (RFC 3461 §4.3).
pub fn parse_ret(text: &str) -> Result<Ret, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "full" => Ok(Ret::Full),
        "hdrs" | "headers" => Ok(Ret::Headers),
        _ => Err(format!("{text:?}: expected full or hdrs")),
    }
}

/// Printable US-ASCII (RFC 3461 §4.4), at most 100 characters once xtext-encoded.
pub fn check_envid(text: &str) -> Result<String, String> {
    if text.is_empty() || !text.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return Err(format!("{text:?}: an ENVID is printable ASCII, not empty"));
    }
    let encoded: usize = text
        .bytes()
        .map(|b| {
            if b == b'+' || b == b'=' || b == b' ' {
                3
            } else {
                1
            }
        })
        .sum();
    if encoded > 100 {
        return Err(format!(
            "{text:?}: too long ({encoded} characters encoded, at most 100)"
        ));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn notify_values() {
        assert_eq!(parse_notify("never"), Ok(Notify::Never));
        assert_eq!(
            parse_notify("SUCCESS, failure"),
            Ok(Notify::On {
                success: true,
                failure: true,
                delay: false
            })
        );
        assert!(parse_notify("never,success").is_err());
        assert!(parse_notify("success,success").is_err());
        assert!(parse_notify("sometimes").is_err());
        assert!(parse_notify("").is_err());
    }

    #[test]
    fn ret_and_envid_values() {
        assert_eq!(parse_ret("hdrs"), Ok(Ret::Headers));
        assert_eq!(parse_ret("FULL"), Ok(Ret::Full));
        assert!(parse_ret("body").is_err());
        assert_eq!(check_envid("order 12+3").unwrap(), "order 12+3");
        assert!(check_envid("订单").is_err());
        assert!(check_envid("a\r\nMAIL").is_err());
        assert!(check_envid(&"x".repeat(100)).is_ok());
        assert!(check_envid(&"=".repeat(34)).is_err());
    }
}
