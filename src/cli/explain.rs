//! `loyalty explain`: one member's story, event by event, for a marketer.

use super::input::{self, Inputs};
use loyalty::engine::replay;
use loyalty::engine::Engine;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    inputs: Inputs,
    /// The member to explain.
    #[arg(long, value_name = "ID")]
    member: String,
}

pub fn run(args: &Args) -> ExitCode {
    match explain(args) {
        Ok(code) | Err(code) => code,
    }
}

fn explain(args: &Args) -> Result<ExitCode, ExitCode> {
    let program = input::program(&args.inputs.program)?;
    let until = input::until(&program, args.inputs.until.as_deref())?;
    let records = input::records(&program, &args.inputs)?;
    let mut engine = Engine::new(&program);
    engine.explain(&args.member);
    let options = args.inputs.options(until, false);
    let outcome = replay::replay(&mut engine, records, options, &mut |_| Ok::<(), ()>(()))
        .unwrap_or_default();
    let found = engine.members().iter().any(|m| m.id == args.member);
    if !found {
        eprintln!("error: no member `{}` in these events", args.member);
        return Ok(ExitCode::FAILURE);
    }
    if let Some(explanation) = engine.take_explanation() {
        input::print(&explanation.render(&program));
    }
    for reject in outcome
        .rejects
        .iter()
        .filter(|r| r.member.as_deref() == Some(args.member.as_str()))
    {
        input::print(&format!(
            "\nrejected: {} line {}: {}\n",
            reject.origin.file, reject.origin.line, reject.reason
        ));
    }
    Ok(ExitCode::SUCCESS)
}
