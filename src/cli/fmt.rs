//! `loyalty fmt`: rewrites files in canonical form, or lists those that are not.

use super::{display_name, out, read, Error};
use loyalty::report::output::AtomicFile;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Program files (`.loyalty`); `-` reads standard input.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Write nothing; name the files that are not formatted and exit with 1
    /// if there are any.
    #[arg(long)]
    check: bool,
}

pub fn run(args: &Args) -> Result<ExitCode, Error> {
    let color = std::io::stdout().is_terminal();
    let mut failed = false;
    for path in &args.files {
        let source = read(path)?;
        let name = display_name(path);
        let formatted = match loyalty::syntax::format(&source) {
            Ok(formatted) => formatted,
            Err(diagnostic) => {
                out(&diagnostic.render(&name, &source, color))?;
                failed = true;
                continue;
            }
        };
        if path == Path::new("-") {
            if args.check {
                failed |= formatted != source;
            } else {
                out(&formatted)?;
            }
        } else if formatted != source {
            if args.check {
                out(&format!("not formatted: {name}\n"))?;
                failed = true;
            } else {
                AtomicFile::replace(path, formatted.as_bytes()).map_err(|source| {
                    Error::Formatted {
                        name: name.clone(),
                        source,
                    }
                })?;
                out(&format!("formatted: {name}\n"))?;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
