//! `loyalty explain`: one member's story, event by event, for a marketer.

use super::input::{self, Inputs};
use super::Error;
use loyalty::run::{Finished, Run, Sinks};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    inputs: Inputs,
    /// The member to explain.
    #[arg(long, value_name = "ID")]
    member: String,
}

pub fn run(args: &Args) -> Result<ExitCode, Error> {
    let program = input::program(&args.inputs.program)?;
    let until = input::until(&program, args.inputs.until.as_deref())?;
    let records = input::records(&program, &args.inputs)?;
    let options = args.inputs.options(until, false);
    // Nothing is written, so nothing can fail to be.
    let Ok(Finished {
        mut engine,
        outcome,
        ..
    }) = Run::new(&program, options)
        .explain(&args.member)
        .replay(records, Sinks::none())
    else {
        return Ok(ExitCode::FAILURE);
    };
    let found = engine.members().iter().any(|m| m.id == args.member);
    if !found {
        return Err(Error::NoMember(args.member.clone()));
    }
    if let Some(explanation) = engine.take_explanation() {
        input::print(&explanation.render(&program))?;
    }
    for reject in outcome
        .rejects
        .iter()
        .filter(|r| r.member.as_deref() == Some(args.member.as_str()))
    {
        input::print(&format!(
            "\nrejected: {} line {}: {}\n",
            reject.origin.file, reject.origin.line, reject.reason
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}
