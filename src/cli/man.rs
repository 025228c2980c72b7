//! `loyalty man [COMMAND]`: the man page of `loyalty`, or of one of its
//! commands, in roff on standard output.

use super::{out, Cli, Error};
use clap::CommandFactory;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// A command, for its own page with its options (`loyalty-diff(1)`);
    /// without it, the page of `loyalty`, which lists the commands.
    command: Option<String>,
}

pub fn run(args: &Args) -> Result<ExitCode, Error> {
    let mut cli = Cli::command();
    cli.build();
    let page = match &args.command {
        None => cli,
        Some(name) => match cli.find_subcommand(name) {
            Some(command) => command
                .clone()
                .name(format!("loyalty-{name}"))
                .bin_name(format!("loyalty {name}"))
                .version(super::VERSION),
            None => {
                return Err(Error::NoCommand {
                    name: name.clone(),
                    commands: cli
                        .get_subcommands()
                        .map(|c| format!("`{}`", c.get_name()))
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            }
        },
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut roff)
        .map_err(Error::Stdout)?;
    out(&String::from_utf8_lossy(&roff))?;
    Ok(ExitCode::SUCCESS)
}
