//! `loyalty serve`: the local page to edit a program and see its effect.

use super::{out, Error};
use loyalty::serve::{Config, Server};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The program to edit (`.loyalty`); Save writes it back, formatted.
    program: PathBuf,
    /// The sample events every edit is run on (`.csv`, `.jsonl` or `.yaml`),
    /// read once at start.
    #[arg(long, value_name = "FILE", num_args = 1.., required = true)]
    events: Vec<PathBuf>,
    /// The port on 127.0.0.1; 0 takes any free port.
    #[arg(long, default_value_t = 8765)]
    port: u16,
    /// A simulation scenario (see `loyalty simulate`): the page also shows
    /// the simulated cost and liability, with their 5th–95th percentile
    /// band, under the edited program.
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// Runs of each simulation, with --scenario.
    #[arg(long, default_value_t = 10, requires = "scenario")]
    runs: u64,
}

pub fn run(args: &Args) -> Result<ExitCode, Error> {
    let server = Server::bind(&Config {
        program: args.program.clone(),
        events: args.events.clone(),
        scenario: args.scenario.clone(),
        runs: args.runs,
        port: args.port,
    })?;
    let Some(address) = server.address() else {
        return Ok(ExitCode::FAILURE);
    };
    out(&format!(
        "serving {} on http://{address}/ (listening on 127.0.0.1 only: this machine; Ctrl-C stops)\n",
        args.program.display()
    ))?;
    server.run();
    Ok(ExitCode::SUCCESS)
}
