//! `smtpwire check`. STUB: to be implemented.

use crate::exit::{CliError, Exit};
use crate::target::TargetArgs;
use clap::Args;

/// Flags of `smtpwire check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    target: TargetArgs,
}

/// Runs `smtpwire check`.
pub async fn run(args: CheckArgs) -> Result<Exit, CliError> {
    let _ = args.target.resolve()?;
    Err(CliError::new(Exit::Unavailable, "not implemented yet"))
}
