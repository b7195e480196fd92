//! `smtpwire accounts`: the accounts file documented by example (`example`), and checked
//! without sending anything (`check`).

use crate::exit::{CliError, Exit};
use crate::target::{self, TargetArgs};
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// `smtpwire accounts`.
#[derive(Args, Debug)]
pub struct AccountsArgs {
    #[command(subcommand)]
    command: AccountsCommand,
}

#[derive(Subcommand, Debug)]
enum AccountsCommand {
    /// Prints a commented accounts file with every key, to start from:
    /// `smtpwire accounts example > ~/.config/smtpwire/config.toml`.
    Example,
    /// Reads the accounts file as `send` would and lists its accounts (server, TLS, user,
    /// where the password comes from); runs no password command and connects to nothing.
    Check {
        /// The accounts file (default: ~/.config/smtpwire/config.toml).
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
    },
}

/// The sample `accounts example` prints; `check` accepts it as it is.
pub const EXAMPLE: &str = r#"# smtpwire accounts file: ~/.config/smtpwire/config.toml ($XDG_CONFIG_HOME/smtpwire/config.toml),
# or any file given with --config PATH. Use an account with `--account NAME`; the account named
# `default` is used when no --account, --server or --provider is given (msmtp's `account default`).
# Flags given on the command line win over the account's keys. `smtpwire accounts check` reads
# this file as `send` would and lists what each account resolves to.
#
# This file can run a command (password_cmd) and decides where your password is sent (server):
# smtpwire refuses it, like ssh, when anyone but you (or root) owns it or can write to it or to
# its directory. A literal `password` needs `chmod 600` as well.
#
# Keys, all optional:
#   provider       a preset from `smtpwire providers` (qq, exmail, 163, 126, yeah, gmail, outlook,
#                  icloud, yahoo, aliyun, sina, zoho): host, port and TLS mode in one word
#   server         or HOST[:PORT]; port 465 means implicit TLS, any other STARTTLS
#   tls            implicit       TLS from the first byte (port 465)
#                  starttls       STARTTLS, required (port 587; the default for other ports)
#                  opportunistic  STARTTLS when offered; the password is still never sent in clear
#                  none           no TLS at all; needs --insecure-plaintext on the command line
#   user           the login, usually the full address
#   from           the default From and envelope sender (else `user`)
#   password_env   the name of an environment variable holding the password
#   password_file  a file whose first line is the password (~/ is your home; a relative path is
#                  relative to this file)
#   password_cmd   a command run with `sh -c`; the first line it prints is the password
#   password       the password itself: only in a file no one else can read (chmod 600)
#   ca_file        CA certificates (PEM) to trust as well, for a company relay (~/ and relative
#                  paths as password_file)
#   ehlo           the name to send in EHLO (default: localhost)
# With several password sources the first of password_env, password_file, password_cmd,
# password is used; SMTPWIRE_PASSWORD is the last resort. Without `user`, no AUTH is done.

# QQ Mail: the password is the authorization code (授权码) from Settings → Account →
# POP3/IMAP/SMTP, never the login password; MAIL FROM must be the account itself.
[accounts.default]
provider = "qq"
user = "1234567@qq.com"
from = "张三 <1234567@qq.com>"
password_env = "QQ_AUTH_CODE"

# 163 Mail on STARTTLS instead of the preset's implicit TLS, the code kept in a password store.
[accounts.163]
provider = "163"
tls = "starttls"
user = "someone@163.com"
password_cmd = "pass show mail/163"

# Gmail: an app password (needs 2-step verification), in a file of its own.
[accounts.gmail]
provider = "gmail"
user = "someone@gmail.com"
password_file = "~/.config/smtpwire/gmail.password"

# A company relay with its own CA, by host and port.
[accounts.work]
server = "smtp.corp.example:587"
tls = "starttls"
user = "me@corp.example"
from = "Me <me@corp.example>"
password_cmd = "secret-tool lookup service smtp user me@corp.example"
ca_file = "corp-ca.pem"
ehlo = "laptop.corp.example"

# A relay on this machine that may offer STARTTLS, without login.
[accounts.local]
server = "localhost:25"
tls = "opportunistic"
from = "cron@localhost"
"#;

/// Runs `smtpwire accounts`.
pub fn run(args: AccountsArgs) -> Result<Exit, CliError> {
    match args.command {
        AccountsCommand::Example => {
            print!("{EXAMPLE}");
            Ok(Exit::Ok)
        }
        AccountsCommand::Check { config } => check(config),
    }
}

fn check(config: Option<PathBuf>) -> Result<Exit, CliError> {
    let (path, file) = target::load_accounts(config.as_deref())?;
    println!("{}: {} account(s)", path.display(), file.accounts.len());
    let mut problems = 0;
    for (name, account) in &file.accounts {
        let args = TargetArgs {
            account: Some(name.clone()),
            config: Some(path.clone()),
            ..TargetArgs::default()
        };
        match args.resolve_without_password() {
            Ok(resolved) => {
                let mut line = format!("  {name}: {}", resolved.describe());
                if let Some(user) = &account.user {
                    line.push_str(&format!(", user {user}"));
                }
                if let Some(from) = &account.from {
                    line.push_str(&format!(", from {from}"));
                }
                line.push_str(&format!(", password {}", target::password_origin(account)));
                println!("{line}");
            }
            Err(error) => {
                problems += 1;
                println!("  {name}: {}", error.message);
            }
        }
    }
    if problems > 0 {
        return Err(CliError::config(format!(
            "{problems} account(s) in {} cannot be used",
            path.display()
        )));
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_example_parses_and_names_every_key() {
        let file = target::parse_accounts(EXAMPLE).unwrap();
        assert!(file.accounts.contains_key(target::DEFAULT_ACCOUNT));
        for key in [
            "provider",
            "server",
            "tls",
            "user",
            "from",
            "password_env",
            "password_file",
            "password_cmd",
            "password",
            "ca_file",
            "ehlo",
        ] {
            assert!(EXAMPLE.contains(&format!("\n{key} = ")) || key == "password");
            assert!(EXAMPLE.contains(&format!("#   {key} ")), "{key}");
        }
    }

    #[test]
    fn the_readme_example_parses() {
        let readme = include_str!("../../README.md");
        let block = readme
            .split_once("```toml\n")
            .and_then(|(_, rest)| rest.split_once("```"))
            .map(|(block, _)| block)
            .unwrap();
        let file = target::parse_accounts(block).unwrap();
        assert!(file.accounts.contains_key(target::DEFAULT_ACCOUNT));
    }
}
