//! `smtpwire`: send mail through QQ Mail and friends, diagnose why it fails, and watch the
//! exact dialogue.

mod accounts;
mod bulk;
mod check;
mod compose;
mod deliver;
mod demo;
mod dsn;
mod exit;
mod message_file;
#[cfg(feature = "outbox")]
mod outbox;
mod output;
mod providers;
mod raw;
mod send;
mod sendmail;
mod target;

use clap::{Parser, Subcommand};
use exit::{CliError, Exit};
use std::process::ExitCode;

/// Send mail, diagnose servers and accounts, and watch the SMTP dialogue.
#[derive(Parser, Debug)]
#[command(name = "smtpwire", version, about, long_about = None, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Send a message built from flags, or from a JSON file with templates.
    Send(Box<send::SendArgs>),
    /// Send a complete message from a file or stdin as is, like sendmail [-t].
    Raw(Box<raw::RawArgs>),
    /// Be sendmail: `sendmail [-t] [-i] [-f FROM] recipient...` for cron, git send-email,
    /// mutt and PHP (also what the binary does when run under the name `sendmail`).
    Sendmail(Box<sendmail::SendmailArgs>),
    /// Send many messages (JSON lines or a directory) through a connection pool, with a rate
    /// limit, retries and an outcome log that makes a re-run resume without duplicates.
    Bulk(Box<bulk::BulkArgs>),
    /// A transactional outbox on PostgreSQL: applications insert mail in their own
    /// transactions; any number of workers send it, nothing lost and nothing sent twice.
    #[cfg(feature = "outbox")]
    Outbox(Box<outbox::OutboxArgs>),
    /// Diagnose a server and account step by step (DNS, TCP, greeting, TLS, AUTH); sends no mail.
    Check(Box<check::CheckArgs>),
    /// Watch a whole STARTTLS + AUTH dialogue with a server on 127.0.0.1; needs no account.
    Demo(demo::DemoArgs),
    /// List the built-in provider presets.
    Providers,
    /// The accounts file (~/.config/smtpwire/config.toml): `example` prints a commented one
    /// with every key, `check` lists what each account resolves to.
    Accounts(accounts::AccountsArgs),
}

const EXIT_CODES: &str = "\
Accounts: ~/.config/smtpwire/config.toml names servers, users and password sources for
--account NAME (the account `default` when no server is given); `smtpwire accounts example`
prints a commented one with every key.

Exit codes (sysexits, like msmtp):
  0 sent   64 usage   65 bad message   66 input missing   68 unknown host
  69 unavailable or refused   74 I/O error   75 temporary failure (retry later)
  76 protocol error   77 authentication failed   78 configuration error
  79 delivery unknown: the connection was lost after the message was sent; it may have
     been delivered, so check before sending again";

/// The command line; installed as `sendmail` (a link, as msmtp-mta does), sendmail's own.
fn parse() -> Result<Cli, clap::Error> {
    if sendmail::invoked_as_sendmail() {
        let args = sendmail::SendmailCli::try_parse()?.args;
        return Ok(Cli {
            command: Command::Sendmail(Box::new(args)),
        });
    }
    Cli::try_parse()
}

fn main() -> ExitCode {
    // clap exits 2 on a usage error; sysexits (and msmtp) say 64. Help and version stay 0.
    let cli = match parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                Exit::Usage.into()
            } else {
                Exit::Ok.into()
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("smtpwire: cannot start the async runtime: {error}");
            return Exit::IoErr.into();
        }
    };
    let result: Result<Exit, CliError> = runtime.block_on(async {
        match cli.command {
            Command::Send(args) => send::run(*args).await,
            Command::Raw(args) => raw::run(*args).await,
            Command::Sendmail(args) => sendmail::run(*args).await,
            Command::Bulk(args) => bulk::run(*args).await,
            #[cfg(feature = "outbox")]
            Command::Outbox(args) => outbox::run(*args).await,
            Command::Check(args) => check::run(*args).await,
            Command::Demo(args) => demo::run(args).await,
            Command::Accounts(args) => accounts::run(args),
            Command::Providers => {
                print!("{}", providers::table());
                Ok(Exit::Ok)
            }
        }
    });
    match result {
        Ok(exit) => exit.into(),
        Err(error) => {
            eprintln!("{error}");
            error.exit.into()
        }
    }
}
