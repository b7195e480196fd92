//! `smtpwire raw`. STUB: to be implemented.

use crate::exit::{CliError, Exit};
use crate::target::TargetArgs;
use clap::Args;

/// Flags of `smtpwire raw`.
#[derive(Args, Debug)]
pub struct RawArgs {
    #[command(flatten)]
    target: TargetArgs,
}

/// Runs `smtpwire raw`.
pub async fn run(args: RawArgs) -> Result<Exit, CliError> {
    let _ = args.target.resolve()?;
    Err(CliError::new(Exit::Unavailable, "not implemented yet"))
}
