//! Where to connect and as whom: `--server`/`--provider`/`--account`, the TLS mode, and the
//! password, which only ever comes from an environment variable, a file or a command.

use crate::exit::{CliError, Exit};
use crate::providers;
use clap::{Args, ValueEnum};
use serde::Deserialize;
use smtpwire::address::ClientName;
use smtpwire::auth::{Credentials, Mechanism};
use smtpwire::session::{SessionConfig, Timeouts, TlsPolicy};
use smtpwire::transport::{ClientConfig, TlsConfig};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The connection flags shared by `send`, `raw` and `check`.
#[derive(Args, Clone, Debug, Default)]
pub struct TargetArgs {
    /// The SMTP server, `HOST` or `HOST:PORT` (465 implies implicit TLS, anything else STARTTLS).
    #[arg(long, value_name = "HOST[:PORT]", conflicts_with = "provider")]
    pub server: Option<String>,
    /// A built-in provider preset (see `smtpwire providers`), e.g. `qq`, `163`, `gmail`.
    #[arg(long, value_name = "NAME")]
    pub provider: Option<String>,
    /// A named account from the accounts file (`default` when no server is given); `smtpwire
    /// accounts example` prints a commented accounts file.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["server", "provider"])]
    pub account: Option<String>,
    /// The accounts file (default: ~/.config/smtpwire/config.toml).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// How to encrypt: implicit, starttls (required), opportunistic, none.
    #[arg(long, value_enum, value_name = "MODE")]
    pub tls: Option<TlsMode>,
    /// Allows `--tls none`: everything, the password included, crosses the network in clear.
    #[arg(long)]
    pub insecure_plaintext: bool,
    /// Trusts the CA certificates in this PEM file too (a company relay, a test server).
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// The user to authenticate as (usually the full address).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Reads the password (authorization code) from this environment variable.
    #[arg(long, value_name = "VAR", conflicts_with_all = ["password_file", "password_cmd"])]
    pub password_env: Option<String>,
    /// Reads the password from the first line of this file.
    #[arg(long, value_name = "PATH", conflicts_with = "password_cmd")]
    pub password_file: Option<PathBuf>,
    /// Runs this shell command and reads the password from its first line of output, like
    /// msmtp's passwordeval (e.g. `pass show mail/qq`).
    #[arg(long, value_name = "CMD")]
    pub password_cmd: Option<String>,
    /// Refused: a password on the command line shows in `ps` and shell history.
    #[arg(long, hide = true, value_name = "PASSWORD")]
    pub password: Option<String>,
    /// The AUTH mechanism: auto (PLAIN, then LOGIN), plain, login, xoauth2 (the secret is an
    /// OAuth 2.0 access token).
    #[arg(long, value_enum, default_value = "auto", value_name = "MECHANISM")]
    pub auth: AuthMode,
    /// The name to send in EHLO (default: localhost).
    #[arg(long, value_name = "NAME")]
    pub ehlo: Option<String>,
    /// Seconds to wait for the connection, the TLS handshake and each reply (QUIT's
    /// included), overriding the defaults (RFC 5321's 5 min, 10 min after the data).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
}

/// `--tls`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TlsMode {
    /// TLS from the first byte (port 465).
    Implicit,
    /// STARTTLS, required (port 587).
    Starttls,
    /// STARTTLS when offered; credentials are still never sent in clear.
    Opportunistic,
    /// No TLS (needs --insecure-plaintext).
    None,
}

impl From<TlsMode> for TlsPolicy {
    fn from(mode: TlsMode) -> Self {
        match mode {
            TlsMode::Implicit => TlsPolicy::Implicit,
            TlsMode::Starttls => TlsPolicy::StartTlsRequired,
            TlsMode::Opportunistic => TlsPolicy::StartTlsOpportunistic,
            TlsMode::None => TlsPolicy::Plaintext,
        }
    }
}

/// `--auth`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    /// The best mechanism the server offers.
    #[default]
    Auto,
    /// PLAIN.
    Plain,
    /// LOGIN.
    Login,
    /// XOAUTH2 with an OAuth 2.0 access token as the secret.
    Xoauth2,
}

/// One account in the accounts file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// A provider preset.
    pub provider: Option<String>,
    /// Or a server, `HOST[:PORT]`.
    pub server: Option<String>,
    /// `implicit`, `starttls`, `opportunistic` or `none`.
    pub tls: Option<String>,
    /// The user to authenticate as.
    pub user: Option<String>,
    /// The default From address.
    pub from: Option<String>,
    /// Password sources, as the flags of the same names.
    pub password_env: Option<String>,
    /// A file holding the password.
    pub password_file: Option<PathBuf>,
    /// A command printing the password.
    pub password_cmd: Option<String>,
    /// A literal password: accepted only when the file is readable by its owner alone (0600).
    pub password: Option<String>,
    /// A CA file to trust.
    pub ca_file: Option<PathBuf>,
    /// The EHLO name.
    pub ehlo: Option<String>,
    /// Where `smtpwire sendmail` logs one line per message (msmtp's `logfile`).
    pub logfile: Option<PathBuf>,
}

/// The accounts file (`smtpwire accounts example` prints a commented one).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountsFile {
    /// The accounts, by name: `[accounts.NAME]`.
    #[serde(default)]
    pub accounts: BTreeMap<String, Account>,
}

/// The account used when none is named (and no server or provider either).
pub const DEFAULT_ACCOUNT: &str = "default";

/// Everything needed to connect, resolved from flags, account and preset.
#[derive(Debug)]
pub struct Target {
    /// The host name or address.
    pub host: String,
    /// The port.
    pub port: u16,
    /// The TLS mode.
    pub tls: TlsPolicy,
    /// The credentials, if a user was given.
    pub credentials: Option<Credentials>,
    /// The mechanism to insist on, if any.
    pub mechanism: Option<Mechanism>,
    /// Extra trust anchors.
    pub ca_file: Option<PathBuf>,
    /// The EHLO name.
    pub ehlo: Option<ClientName>,
    /// The reply timeout override.
    pub timeout: Option<Duration>,
    /// The account's default From address.
    pub from: Option<String>,
    /// Whether plaintext was explicitly allowed.
    pub insecure_plaintext: bool,
    /// The account's log file, for `smtpwire sendmail`.
    pub logfile: Option<PathBuf>,
}

impl TargetArgs {
    /// Resolves the flags (and the account they name) into a target.
    ///
    /// # Errors
    /// Usage errors for conflicting or missing flags, configuration errors for a bad accounts
    /// file or password source.
    pub fn resolve(&self) -> Result<Target, CliError> {
        self.resolve_reading(true)
    }

    /// As `resolve`, but reads no password and runs no command: no credentials.
    ///
    /// # Errors
    /// As `resolve`.
    pub fn resolve_without_password(&self) -> Result<Target, CliError> {
        self.resolve_reading(false)
    }

    fn resolve_reading(&self, read_password: bool) -> Result<Target, CliError> {
        if self.password.is_some() {
            return Err(CliError::usage("--password is refused: a password on the command line shows in `ps` and shell history")
                .hint("use --password-env VAR, --password-file PATH, --password-cmd CMD or SMTPWIRE_PASSWORD"));
        }
        let account = self.account()?.unwrap_or_default();
        let tls_flag = match (self.tls, &account.tls) {
            (Some(mode), _) => Some(mode),
            (None, Some(text)) => Some(TlsMode::from_str(text, true).map_err(|_| {
                CliError::config(format!("accounts file: unknown tls mode {text:?}"))
            })?),
            (None, None) => None,
        };
        if tls_flag == Some(TlsMode::None) && !self.insecure_plaintext {
            return Err(CliError::usage("--tls none sends everything in clear")
                .hint("add --insecure-plaintext if that is really meant (a loopback relay)"));
        }
        let provider_name = self.provider.as_ref().or(account.provider.as_ref());
        let server = self.server.as_ref().or(account.server.as_ref());
        let (host, port, tls) = match (server, provider_name) {
            (Some(server), _) => {
                let (host, port) = split_host_port(server)?;
                let port = port.unwrap_or(match tls_flag {
                    Some(TlsMode::Implicit) => 465,
                    Some(TlsMode::None) => 25,
                    _ => 587,
                });
                let tls = tls_flag.map_or_else(|| TlsPolicy::for_port(port), TlsPolicy::from);
                (host, port, tls)
            }
            (None, Some(name)) => {
                let provider = providers::find(name).ok_or_else(|| {
                    CliError::usage(format!("unknown provider {name:?}"))
                        .hint("see `smtpwire providers` for the list")
                })?;
                let (port, tls) = provider
                    .endpoint(tls_flag.map(TlsPolicy::from))
                    .ok_or_else(|| {
                        CliError::usage(format!("{} does not offer that TLS mode", provider.label))
                    })?;
                (provider.host.to_owned(), port, tls)
            }
            (None, None) => {
                return Err(CliError::usage(
                    "no server: give --server HOST[:PORT], --provider NAME or --account NAME",
                )
                .hint("or put an account named `default` in the accounts file (see `smtpwire accounts example`)"))
            }
        };
        let user = self.user.clone().or(account.user.clone());
        let credentials = match user {
            Some(_) if !read_password => None,
            Some(user) => {
                let secret = self.password_source(&account)?.read()?;
                Some(if self.auth == AuthMode::Xoauth2 {
                    Credentials::oauth2(user, secret)
                } else {
                    Credentials::new(user, secret)
                })
            }
            None => None,
        };
        let mechanism = match self.auth {
            AuthMode::Auto => None,
            AuthMode::Plain => Some(Mechanism::Plain),
            AuthMode::Login => Some(Mechanism::Login),
            AuthMode::Xoauth2 => Some(Mechanism::XOAuth2),
        };
        let ehlo = match self.ehlo.as_ref().or(account.ehlo.as_ref()) {
            Some(name) => {
                Some(ClientName::parse(name).map_err(|e| CliError::usage(format!("--ehlo: {e}")))?)
            }
            None => None,
        };
        Ok(Target {
            host,
            port,
            tls,
            credentials,
            mechanism,
            ca_file: self.ca_file.clone().or(account.ca_file.clone()),
            ehlo,
            timeout: self.timeout.map(Duration::from_secs),
            from: account.from.clone(),
            insecure_plaintext: self.insecure_plaintext,
            logfile: account.logfile.clone(),
        })
    }

    /// The account to use: `--account NAME`, else the one named `default` when no server or
    /// provider is given either and the accounts file has one (msmtp's `account default`).
    ///
    /// # Errors
    /// A missing, unsafe or invalid accounts file, or no such account.
    pub fn account(&self) -> Result<Option<Account>, CliError> {
        if let Some(name) = &self.account {
            return load_account(self.config.as_deref(), name).map(Some);
        }
        if self.server.is_some() || self.provider.is_some() {
            return Ok(None);
        }
        let path = match &self.config {
            Some(path) => path.clone(),
            None => match default_config_path() {
                Some(path) if path.exists() => path,
                _ => return Ok(None),
            },
        };
        let (_, mut file) = load_accounts(Some(&path))?;
        Ok(file.accounts.remove(DEFAULT_ACCOUNT))
    }

    fn password_source(&self, account: &Account) -> Result<PasswordSource, CliError> {
        PasswordSource::first_of(&self.password_env, &self.password_file, &self.password_cmd)
            .or_else(|| {
                PasswordSource::first_of(
                    &account.password_env,
                    &account.password_file,
                    &account.password_cmd,
                )
            })
            .or_else(|| account.password.clone().map(PasswordSource::Literal))
            .or_else(|| {
                std::env::var_os("SMTPWIRE_PASSWORD")
                    .map(|_| PasswordSource::Env("SMTPWIRE_PASSWORD".into()))
            })
            .ok_or_else(|| CliError::config("a user was given but no password source")
                .hint("use --password-env VAR, --password-file PATH, --password-cmd CMD or SMTPWIRE_PASSWORD"))
    }
}

/// Where an account's password comes from, for `accounts check`; never the secret itself,
/// nor the command, which may hold one.
pub fn password_origin(account: &Account) -> String {
    if let Some(var) = &account.password_env {
        format!("from ${var}")
    } else if let Some(path) = &account.password_file {
        format!("from the file {}", path.display())
    } else if account.password_cmd.is_some() {
        "from its command".to_owned()
    } else if account.password.is_some() {
        "in the accounts file".to_owned()
    } else if account.user.is_some() {
        "from a flag or SMTPWIRE_PASSWORD".to_owned()
    } else {
        "none (no AUTH)".to_owned()
    }
}

/// Where the password comes from; never the command line.
enum PasswordSource {
    Env(String),
    File(PathBuf),
    Command(String),
    Literal(String),
}

impl PasswordSource {
    /// The variable, else the file, else the command.
    fn first_of(
        env: &Option<String>,
        file: &Option<PathBuf>,
        command: &Option<String>,
    ) -> Option<Self> {
        env.clone()
            .map(Self::Env)
            .or_else(|| file.clone().map(Self::File))
            .or_else(|| command.clone().map(Self::Command))
    }

    fn read(self) -> Result<String, CliError> {
        let text = match self {
            Self::Env(var) => std::env::var(&var)
                .map_err(|_| CliError::config(format!("the password variable {var} is not set")))?,
            Self::File(path) => std::fs::read_to_string(&path).map_err(|e| {
                CliError::new(
                    Exit::NoInput,
                    format!("cannot read the password file {}: {e}", path.display()),
                )
            })?,
            Self::Command(command) => {
                let output = std::process::Command::new("sh")
                    .arg("-c")
                    .arg(&command)
                    .stdin(std::process::Stdio::null())
                    .stderr(std::process::Stdio::inherit())
                    .output()
                    .map_err(|e| {
                        CliError::config(format!("cannot run the password command: {e}"))
                    })?;
                if !output.status.success() {
                    return Err(CliError::config(format!(
                        "the password command failed ({})",
                        output.status
                    )));
                }
                String::from_utf8(output.stdout).map_err(|_| {
                    CliError::config("the password command printed something that is not UTF-8")
                })?
            }
            Self::Literal(password) => password,
        };
        let first = text
            .lines()
            .next()
            .unwrap_or_default()
            .trim_end_matches('\r')
            .to_owned();
        if first.is_empty() {
            return Err(CliError::config(
                "the password source gave an empty password",
            ));
        }
        Ok(first)
    }
}

fn split_host_port(server: &str) -> Result<(String, Option<u16>), CliError> {
    let bad = || CliError::usage(format!("--server {server:?}: expected HOST or HOST:PORT"));
    if let Some(rest) = server.strip_prefix('[') {
        // [IPv6]:port
        let (host, tail) = rest.split_once(']').ok_or_else(bad)?;
        let port = match tail.strip_prefix(':') {
            Some(port) => Some(port.parse().map_err(|_| bad())?),
            None if tail.is_empty() => None,
            None => return Err(bad()),
        };
        return Ok((host.to_owned(), port));
    }
    match server.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && !host.is_empty() => {
            Ok((host.to_owned(), Some(port.parse().map_err(|_| bad())?)))
        }
        Some(_) => Ok((server.to_owned(), None)),
        None if server.is_empty() => Err(bad()),
        None => Ok((server.to_owned(), None)),
    }
}

/// The default accounts file: `$XDG_CONFIG_HOME/smtpwire/config.toml` or
/// `~/.config/smtpwire/config.toml`.
pub fn default_config_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("smtpwire").join("config.toml"))
}

/// The account `name` from the accounts file at `path` (else the default one), checked.
pub fn load_account(path: Option<&Path>, name: &str) -> Result<Account, CliError> {
    let (path, file) = load_accounts(path)?;
    file.accounts
        .get(name)
        .cloned()
        .ok_or_else(|| CliError::config(format!("no account {name:?} in {}", path.display())))
}

/// Reads, checks and parses the accounts file (`path`, else the default one).
///
/// The file can run a command (`password_cmd`) and say where the password goes (`server`),
/// so like ssh with its config it is refused when anyone but its owner could change it. A
/// literal `password` also needs a file no one else can read.
///
/// # Errors
/// A configuration error (78) for a missing, unsafe or invalid file.
pub fn load_accounts(path: Option<&Path>) -> Result<(PathBuf, AccountsFile), CliError> {
    let path = match path {
        Some(path) => path.to_owned(),
        None => default_config_path()
            .ok_or_else(|| CliError::config("no accounts file: give --config PATH"))?,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        CliError::config(format!(
            "cannot read the accounts file {}: {e}",
            path.display()
        ))
    })?;
    check_permissions(&path)?;
    let mut file = parse_accounts(&text).map_err(|e| {
        CliError::config(format!("accounts file {}: {e}", path.display()))
            .hint("`smtpwire accounts example` prints a commented example of every key")
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    for account in file.accounts.values_mut() {
        for slot in [&mut account.password_file, &mut account.ca_file] {
            if let Some(file) = slot.take() {
                *slot = Some(relative_to(base, file));
            }
        }
    }
    if let Some(name) = file
        .accounts
        .iter()
        .find_map(|(name, account)| account.password.as_ref().map(|_| name))
    {
        if !owner_only(&path) {
            return Err(CliError::config(format!(
                "{} holds a literal password (account {name:?}) but others can read it",
                path.display()
            ))
            .hint("chmod 600 the file, or use password_env / password_file / password_cmd"));
        }
    }
    Ok((path, file))
}

/// A path from the accounts file: `~/` is the home directory, and a relative path is
/// relative to the file, not to wherever smtpwire runs.
fn relative_to(base: &Path, path: PathBuf) -> PathBuf {
    if let (Ok(rest), Some(home)) = (path.strip_prefix("~"), std::env::var_os("HOME")) {
        return PathBuf::from(home).join(rest);
    }
    base.join(path)
}

/// Parses the accounts file. A TOML error is told by line, column and key, never with the
/// text around it: a misspelt `passwd = "…"` or an unterminated string would otherwise put
/// the password on the terminal, or on stdout with `--json`.
pub fn parse_accounts(text: &str) -> Result<AccountsFile, String> {
    toml::from_str(text).map_err(|error| redacted(&error, text))
}

/// `line 3, column 12 (key password): invalid basic string`, from what the parser says,
/// keeping no value.
fn redacted(error: &toml::de::Error, text: &str) -> String {
    let what = safe_message(error.message());
    let Some(start) = error.span().map(|span| span.start) else {
        return what;
    };
    let before = text.get(..start).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).unwrap_or_default().chars().count() + 1;
    let line_text = text
        .get(line_start..)
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or_default();
    match key_of(line_text) {
        Some(key) => format!("line {line}, column {column} (key {key}): {what}"),
        None => format!("line {line}, column {column}: {what}"),
    }
}

/// The parser's message without any value it quotes: serde's "invalid type: string \"…\""
/// names the value, so only what was expected is kept. Syntax errors name no value; whatever
/// is in double quotes is dropped all the same.
fn safe_message(message: &str) -> String {
    let first = message.lines().collect::<Vec<_>>().join("; ");
    if first.starts_with("unknown field") || first.starts_with("duplicate key") {
        // Only key names, which are not secret.
        return first;
    }
    if first.starts_with("invalid ") && first.contains(", expected ") {
        let expected = first.rsplit(", expected ").next().unwrap_or_default();
        let kind = first.split(':').next().unwrap_or("invalid value");
        return format!("{kind}: expected {expected}");
    }
    let mut out = String::with_capacity(first.len());
    for (i, piece) in first.split('"').enumerate() {
        if i % 2 == 0 {
            out.push_str(piece);
        } else {
            out.push('…');
        }
    }
    out
}

/// The key a line sets, `password` in `password = "…`; none when the line sets no key (then it
/// may be a stray value).
fn key_of(line: &str) -> Option<&str> {
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    let bare = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    (bare(key) && key.len() <= 64).then_some(key)
}

/// Refuses an accounts file that someone other than its owner could change: writable by group
/// or others, owned by another user (root excepted), or in a directory others can write to
/// (where they could replace it; a sticky directory such as /tmp is fine).
#[cfg(unix)]
fn check_permissions(path: &Path) -> Result<(), CliError> {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    let unsafe_file = |why: String, hint: String| {
        Err(CliError::config(format!(
            "{} is not safe to use: {why}; it can run a command (password_cmd) and decide where \
             the password is sent (server)",
            path.display()
        ))
        .hint(hint))
    };
    let meta = std::fs::metadata(path).map_err(|e| {
        CliError::config(format!(
            "cannot read the accounts file {}: {e}",
            path.display()
        ))
    })?;
    if meta.uid() != me && meta.uid() != 0 {
        return unsafe_file(
            format!(
                "it belongs to uid {}, not to you (uid {me}) or root",
                meta.uid()
            ),
            format!(
                "use your own copy, or chown it: chown {me} {}",
                path.display()
            ),
        );
    }
    if meta.mode() & 0o022 != 0 {
        return unsafe_file(
            format!("others can write to it (mode {:04o})", meta.mode() & 0o7777),
            format!("chmod go-w {}", path.display()),
        );
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    if let Ok(meta) = std::fs::metadata(&dir) {
        let sticky = meta.mode() & 0o1000 != 0;
        if meta.uid() != me && meta.uid() != 0 {
            return unsafe_file(
                format!(
                    "its directory {} belongs to uid {}, who could replace it",
                    dir.display(),
                    meta.uid()
                ),
                "keep the accounts file in a directory of your own (~/.config/smtpwire)".into(),
            );
        }
        if meta.mode() & 0o022 != 0 && !sticky {
            return unsafe_file(
                format!(
                    "others can write to its directory {} (mode {:04o}) and replace it",
                    dir.display(),
                    meta.mode() & 0o7777
                ),
                format!("chmod go-w {}", dir.display()),
            );
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_: &Path) -> Result<(), CliError> {
    Ok(())
}

#[cfg(unix)]
fn owner_only(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 == 0)
}

#[cfg(not(unix))]
fn owner_only(_: &Path) -> bool {
    false
}

impl Target {
    /// `smtp.qq.com:465 (implicit TLS)`.
    pub fn describe(&self) -> String {
        format!(
            "{}:{} ({})",
            self.host,
            self.port,
            crate::output::policy(self.tls)
        )
    }

    /// The library configuration for this target.
    ///
    /// # Errors
    /// An unreadable `--ca-file`.
    pub fn client_config(&self, transcript: bool) -> Result<ClientConfig, CliError> {
        let mut session = SessionConfig::new(self.tls)
            .with_credentials(self.credentials.clone())
            .with_mechanism(self.mechanism.clone())
            .with_transcript(transcript);
        if let Some(name) = &self.ehlo {
            session = session.with_client_name(name.clone());
        }
        if let Some(timeout) = self.timeout {
            session = session.with_timeouts(Timeouts::uniform(timeout).with_connect(timeout));
        }
        if self.tls == TlsPolicy::Plaintext && self.insecure_plaintext {
            session = session.dangerous_allow_plaintext_auth();
        }
        let mut config = ClientConfig::new(self.host.clone(), self.port).with_session(session);
        if let Some(path) = &self.ca_file {
            let tls = TlsConfig::default()
                .with_pem_file(path)
                .map_err(|e| CliError::config(format!("--ca-file {}: {e}", path.display())))?;
            config = config.with_tls(tls);
        }
        Ok(config)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_forms() {
        assert_eq!(
            split_host_port("smtp.qq.com").unwrap(),
            ("smtp.qq.com".into(), None)
        );
        assert_eq!(
            split_host_port("smtp.qq.com:465").unwrap(),
            ("smtp.qq.com".into(), Some(465))
        );
        assert_eq!(
            split_host_port("[::1]:2525").unwrap(),
            ("::1".into(), Some(2525))
        );
        assert_eq!(split_host_port("::1").unwrap(), ("::1".into(), None));
        assert!(split_host_port("host:port").is_err());
        assert!(split_host_port("").is_err());
    }

    #[test]
    fn port_decides_the_default_tls_mode() {
        let args = |server: &str| TargetArgs {
            server: Some(server.into()),
            ..TargetArgs::default()
        };
        assert_eq!(
            args("smtp.qq.com:465").resolve().unwrap().tls,
            TlsPolicy::Implicit
        );
        assert_eq!(
            args("smtp.qq.com:587").resolve().unwrap().tls,
            TlsPolicy::StartTlsRequired
        );
        let target = args("smtp.qq.com").resolve().unwrap();
        assert_eq!(
            (target.port, target.tls),
            (587, TlsPolicy::StartTlsRequired)
        );
    }

    #[test]
    fn paths_in_the_accounts_file_are_relative_to_it() {
        let base = Path::new("/etc/smtpwire");
        assert_eq!(
            relative_to(base, "ca.pem".into()),
            PathBuf::from("/etc/smtpwire/ca.pem")
        );
        assert_eq!(
            relative_to(base, "/x/ca.pem".into()),
            PathBuf::from("/x/ca.pem")
        );
        if let Some(home) = std::env::var_os("HOME") {
            assert_eq!(
                relative_to(base, "~/pw".into()),
                PathBuf::from(home).join("pw")
            );
        }
    }

    #[test]
    fn toml_errors_keep_the_place_and_the_key_never_the_value() {
        let error = |text: &str| parse_accounts(text).unwrap_err();
        assert_eq!(
            error("[accounts.a]\npasswd = \"s3cr3t\"\n"),
            "line 2, column 1 (key passwd): unknown field `passwd`, expected one of `provider`, \
             `server`, `tls`, `user`, `from`, `password_env`, `password_file`, `password_cmd`, \
             `password`, `ca_file`, `ehlo`, `logfile`"
        );
        assert_eq!(
            error("[accounts.a]\nuser = \"u\"\n  password = 12345678\n"),
            "line 3, column 14 (key password): invalid type: expected a string"
        );
        assert_eq!(
            error("[accounts]\na = \"s3cr3t\"\n"),
            "line 2, column 5 (key a): invalid type: expected struct Account"
        );
        let stray = error("[accounts.a]\ns3cr3t\n");
        assert!(stray.starts_with("line 2, column 7: "), "{stray}");
        for message in [stray, error("[accounts.a]\npassword = \"s3cr3t\n")] {
            assert!(!message.contains("s3cr3t"), "{message}");
        }
        assert_eq!(
            safe_message("bad \"s3cr3t\" here\nmore"),
            "bad … here; more"
        );
    }

    #[test]
    fn literal_password_and_unguarded_plaintext_are_refused() {
        let literal = TargetArgs {
            server: Some("h".into()),
            password: Some("x".into()),
            ..TargetArgs::default()
        };
        assert_eq!(literal.resolve().unwrap_err().exit, Exit::Usage);
        let plain = TargetArgs {
            server: Some("h:25".into()),
            tls: Some(TlsMode::None),
            ..TargetArgs::default()
        };
        assert_eq!(plain.resolve().unwrap_err().exit, Exit::Usage);
    }
}
