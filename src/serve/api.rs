//! The calls the page makes, each a `POST` of JSON answered with JSON:
//!
//! - `/api/start` `{}`: the program's name and text on disk, the event
//!   files, the scenario, and the language's keywords for highlighting;
//! - `/api/analyze` `{text}`: the text's diagnostics (as `loyalty lsp`
//!   publishes them) and, when it has no error, its run on the sample
//!   events (`summary.json`'s totals, the liability by month, the members)
//!   and its `diff` against the program on disk;
//! - `/api/explain` `{text, member}`: one member's story under the text;
//! - `/api/simulate` `{text}`: the scenario's cost and liability bands
//!   under the text;
//! - `/api/save` `{text}`: the text formatted and written over the program.
//!
//! A text that does not check gives its diagnostics, or an `error`
//! sentence where there is nothing to show; only a body that is not the
//! call's JSON is refused (400).

use super::http::Response;
use super::State;
use crate::compile::ir::Program;
use crate::engine::replay::{Options, Order};
use crate::finance::diff::{self, Diff};
use crate::finance::liability::LiabilityRow;
use crate::report::output;
use crate::report::Summary;
use crate::run::diff::Replayed;
use crate::simulate;
use crate::simulate::stats::{Band, Report};
use crate::syntax;
use lsp_types::{Diagnostic, DiagnosticSeverity};
use serde::{Deserialize, Serialize};

/// Members the page's list offers; any other is asked for by its id.
const MEMBERS_LISTED: usize = 1000;

/// Answers the call at `path` with `body`.
pub fn call(state: &State, path: &str, body: &[u8]) -> Response {
    match path {
        "/api/start" => Response::json(&start(state)),
        "/api/analyze" => with::<Text>(body, |call| Response::json(&analyze(state, &call.text))),
        "/api/explain" => with::<Member>(body, |call| Response::json(&explain(state, &call))),
        "/api/simulate" => {
            with::<Text>(body, |call| Response::json(&simulation(state, &call.text)))
        }
        "/api/save" => with::<Text>(body, |call| Response::json(&save(state, &call.text))),
        _ => Response::refusal(404, "no such call"),
    }
}

/// The call's JSON read from `body`, answered by `answer`; 400 when it is
/// not that JSON.
fn with<C: for<'de> Deserialize<'de>>(body: &[u8], answer: impl FnOnce(C) -> Response) -> Response {
    match serde_json::from_slice::<C>(body) {
        Ok(call) => answer(call),
        Err(error) => Response::refusal(400, &format!("the call's JSON: {error}")),
    }
}

#[derive(Deserialize)]
struct Text {
    text: String,
}

#[derive(Deserialize)]
struct Member {
    text: String,
    member: String,
}

#[derive(Serialize)]
struct Start {
    /// The program's path, as given.
    program: String,
    /// Its text on disk, or why it cannot be read.
    text: Result<String, String>,
    events: Vec<String>,
    scenario: Option<String>,
    runs: u64,
    keywords: Vec<&'static str>,
}

fn start(state: &State) -> Start {
    Start {
        program: state.program.display().to_string(),
        text: on_disk(state),
        events: state.events.iter().map(|f| f.name.clone()).collect(),
        scenario: state.scenario.as_ref().map(|s| s.name.clone()),
        runs: state.runs,
        keywords: syntax::keywords().collect(),
    }
}

/// The program's text on disk, or why it cannot be read.
fn on_disk(state: &State) -> Result<String, String> {
    std::fs::read_to_string(&state.program)
        .map_err(|e| format!("cannot read `{}`: {e}", state.program.display()))
}

#[derive(Serialize)]
struct Analysis {
    diagnostics: Vec<Diagnostic>,
    /// The run on the sample events, when the text has no error.
    run: Option<Result<RunShown, String>>,
    /// Against the program on disk, when the text has no error; why not,
    /// when that program cannot be read or has errors.
    diff: Option<Result<Compared, String>>,
}

/// The diff, and its figures as `loyalty diff` shows them.
#[derive(Serialize)]
struct Compared {
    diff: Diff,
    /// Each overall line's cells: measure, on disk, edited, change, change %.
    overall: Vec<[String; 5]>,
    tiers: Vec<TierShown>,
}

#[derive(Serialize)]
struct TierShown {
    tier: String,
    members: usize,
    lines: Vec<[String; 5]>,
}

impl Compared {
    fn of(diff: Diff) -> Compared {
        Compared {
            overall: diff
                .overall
                .iter()
                .map(|l| l.cells(diff.currency))
                .collect(),
            tiers: diff
                .tiers
                .iter()
                .map(|t| TierShown {
                    tier: t.tier.clone(),
                    members: t.members,
                    lines: t.lines.iter().map(|l| l.cells(diff.currency)).collect(),
                })
                .collect(),
            diff,
        }
    }
}

#[derive(Serialize)]
struct RunShown {
    /// `loyalty run`'s totals, as summary.json has them.
    summary: Summary,
    liability: Vec<LiabilityRow>,
    breakage: String,
    /// The first [`MEMBERS_LISTED`] members' ids, in order.
    members: Vec<String>,
    /// How many members there are.
    member_count: usize,
}

fn analyze(state: &State, text: &str) -> Analysis {
    let diagnostics = crate::lsp::diagnostics(text);
    let has_errors = diagnostics
        .iter()
        .any(|d| d.severity == Some(DiagnosticSeverity::ERROR));
    let Some(program) = (!has_errors).then(|| compiled(text)).flatten() else {
        return Analysis {
            diagnostics,
            run: None,
            diff: None,
        };
    };
    let edited = replay(state, &program);
    let diff = edited.as_ref().ok().map(|edited| {
        let disk = on_disk(state)?;
        let old = compiled(&disk).ok_or_else(|| {
            format!(
                "`{}` on disk has errors: nothing to compare with",
                state.program.display()
            )
        })?;
        let old = replay(state, &old)?;
        diff::compare(&old.outcome, &edited.outcome)
            .map(Compared::of)
            .map_err(|e| e.to_string())
    });
    let run = edited.map(|edited| RunShown {
        members: edited
            .outcome
            .members
            .keys()
            .take(MEMBERS_LISTED)
            .cloned()
            .collect(),
        member_count: edited.outcome.members.len(),
        summary: edited.summary,
        liability: edited.liability.rows,
        breakage: edited.liability.breakage_method,
    });
    Analysis {
        diagnostics,
        run: Some(run),
        diff,
    }
}

/// The program of a text without errors.
fn compiled(text: &str) -> Option<Program> {
    crate::compile::compile(text)
        .ok()
        .map(|(program, _warnings)| program)
}

/// The program's run on the sample events, through their last.
fn replay(state: &State, program: &Program) -> Result<Replayed, String> {
    crate::run::diff::replay(program, state.records(program), None)
        .map_err(|e| format!("cannot replay the events: {e}"))
}

#[derive(Serialize)]
struct Explained {
    member: String,
    /// `loyalty explain`'s story.
    story: String,
    rejects: Vec<Rejected>,
}

#[derive(Serialize)]
struct Rejected {
    file: String,
    line: usize,
    reason: String,
}

fn explain(state: &State, call: &Member) -> Result<Explained, String> {
    let program =
        compiled(&call.text).ok_or_else(|| "the program has errors: fix them first".to_string())?;
    let options = Options {
        order: Order::Sort,
        until: None,
        strict: false,
    };
    let explained =
        crate::run::explain::explain(&program, state.records(&program), options, &call.member)
            .map_err(|e| format!("cannot replay the events: {e}"))?
            .ok_or_else(|| format!("no member `{}` in these events", call.member))?;
    Ok(Explained {
        member: call.member.clone(),
        story: explained.explanation.render(&program),
        rejects: explained
            .rejects
            .iter()
            .map(|r| Rejected {
                file: r.origin.file.to_string(),
                line: r.origin.line,
                reason: r.reason.clone(),
            })
            .collect(),
    })
}

#[derive(Serialize)]
struct Simulated {
    scenario: String,
    /// What the program's redemptions and perk uses cost over the whole
    /// simulation, across runs.
    cost: Band,
    /// The liability at the last month, across runs.
    liability: Band,
    report: Report,
}

fn simulation(state: &State, text: &str) -> Result<Simulated, String> {
    let scenario = state
        .scenario
        .as_ref()
        .ok_or("no scenario: start `loyalty serve` with --scenario FILE")?;
    let program = compiled(text).ok_or("the program has errors: fix them first")?;
    let plan = simulate::load(&program, &scenario.source).map_err(|e| {
        format!(
            "{}: {}",
            e.place(std::path::Path::new(&scenario.name)),
            e.message
        )
    })?;
    let options = simulate::Options {
        runs: state.runs,
        seed: None,
        keep_members: false,
    };
    // One simulation at a time: a poisoned lock held nothing but the turn.
    let _turn = state
        .simulating
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let simulation =
        simulate::simulate(&program, &plan, &options, &|| {}).map_err(|e| e.message)?;
    let outcomes: Vec<_> = simulation
        .runs
        .iter()
        .map(|run| run.outcome(&program))
        .collect();
    Ok(Simulated {
        scenario: scenario.name.clone(),
        cost: Band::of(outcomes.iter().map(|o| o.cost).collect()),
        liability: Band::of(
            outcomes
                .iter()
                .map(|o| o.points.iter().map(|p| p.liability).sum())
                .collect(),
        ),
        report: simulation.report,
    })
}

#[derive(Serialize)]
struct Saved {
    /// What was written: the text formatted.
    text: String,
}

/// Formats the text and writes it over the program, at once; a text that
/// does not parse is not written.
fn save(state: &State, text: &str) -> Result<Saved, String> {
    let formatted = syntax::format(text).map_err(|d| {
        format!(
            "not saved: the program cannot be formatted until its syntax error is fixed ({})",
            d.message
        )
    })?;
    output::rewrite(&state.program, formatted.as_bytes()).map_err(|e| e.to_string())?;
    Ok(Saved { text: formatted })
}
