//! `smtpwire demo`. STUB: to be implemented.

use crate::exit::{CliError, Exit};
use clap::Args;

/// Flags of `smtpwire demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {}

/// Runs `smtpwire demo`.
pub async fn run(args: DemoArgs) -> Result<Exit, CliError> {
    let _ = args;
    Err(CliError::new(Exit::Unavailable, "not implemented yet"))
}
