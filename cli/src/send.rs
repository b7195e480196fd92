//! `smtpwire send`. STUB: to be implemented.

use crate::exit::{CliError, Exit};
use crate::target::TargetArgs;
use clap::Args;

/// Flags of `smtpwire send`.
#[derive(Args, Debug)]
pub struct SendArgs {
    #[command(flatten)]
    target: TargetArgs,
}

/// Runs `smtpwire send`.
pub async fn run(args: SendArgs) -> Result<Exit, CliError> {
    let _ = args.target.resolve()?;
    Err(CliError::new(Exit::Unavailable, "not implemented yet"))
}
