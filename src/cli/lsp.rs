//! `loyalty lsp`: the language server, on standard input and output.

use super::Error;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Accepted for editors that pass it: the server always speaks on
    /// standard input and output.
    #[arg(long)]
    stdio: bool,
}

pub fn run(_args: &Args) -> Result<ExitCode, Error> {
    loyalty::lsp::serve_stdio()?;
    Ok(ExitCode::SUCCESS)
}
