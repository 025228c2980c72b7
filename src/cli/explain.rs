//! `loyalty explain`: one member's story, event by event, for a marketer.

use super::input::{self, Inputs};
use super::{Error, Format};
use loyalty::engine::explain::Story;
use loyalty::run::explain::{self, Explained};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    inputs: Inputs,
    /// The member to explain.
    #[arg(long, value_name = "ID")]
    member: String,
    /// What to print: `human`, the story in sentences, or `json`, one
    /// document: each event with its fields, the rules that fired with
    /// their arithmetic as fields, why the others did not, the ledger rows
    /// after it, and the member's rejects.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

/// `explain --format json`'s document.
#[derive(serde::Serialize)]
struct Document {
    #[serde(flatten)]
    story: Story,
    /// The member's records that were not applied.
    rejects: Vec<Rejected>,
}

#[derive(serde::Serialize)]
struct Rejected {
    file: String,
    line: usize,
    id: Option<String>,
    class: &'static str,
    reason: String,
}

pub fn run(args: &Args) -> Result<ExitCode, Error> {
    let program = input::program(&args.inputs.program)?;
    let until = input::until(&program, args.inputs.until.as_deref())?;
    let records = input::records(&program, &args.inputs, &indicatif::ProgressBar::hidden(), 1)?;
    let options = args.inputs.options(until, false);
    // Nothing is written, so nothing can fail to be.
    let Ok(explained) = explain::explain(&program, records, options, &args.member) else {
        return Ok(ExitCode::FAILURE);
    };
    let Some(Explained {
        explanation,
        rejects,
    }) = explained
    else {
        return Err(Error::NoMember(args.member.clone()));
    };
    match args.format {
        Format::Human => {
            input::print(&explanation.render(&program))?;
            for reject in &rejects {
                input::print(&format!(
                    "\nrejected: {} line {}: {}\n",
                    reject.origin.file, reject.origin.line, reject.reason
                ))?;
            }
        }
        Format::Json => {
            let document = Document {
                story: explanation.story(&program),
                rejects: rejects
                    .iter()
                    .map(|r| Rejected {
                        file: r.origin.file.to_string(),
                        line: r.origin.line,
                        id: r.id.clone(),
                        class: r.class.name(),
                        reason: r.reason.clone(),
                    })
                    .collect(),
            };
            let json = serde_json::to_string_pretty(&document).map_err(Error::ExplainJson)?;
            input::print(&(json + "\n"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
