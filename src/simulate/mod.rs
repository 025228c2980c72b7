//! Simulation: what a program will cost, projected on a synthetic
//! population described by a scenario file. Members are drawn from a pinned
//! seeded generator, one stream per (seed, run, member); each run's members
//! are split into fixed shards, each shard runs through its own engine, and
//! shards and runs run in parallel (rayon) and are merged in a fixed order,
//! so the output is the same for any number of threads. See
//! `docs/simulation.md`.

pub(crate) mod member;
pub mod plan;
pub mod scenario;
mod shard;
pub mod stats;

pub use plan::Plan;
pub use scenario::{Error, Scenario};
pub use shard::Tally;
pub use stats::{Report, RunResult};

use crate::compile::ir::Program;
use rayon::prelude::*;
use std::ops::Range;

/// Members per shard. Fixed, so shards (and results) do not depend on the
/// number of threads.
pub const SHARD_SIZE: u64 = 256;

/// The most runs: the run number takes the stream bits above the member's.
pub const MOST_RUNS: u64 = 1 << 20;

/// How to simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub runs: u64,
    /// Replaces the scenario's seed.
    pub seed: Option<u64>,
    /// Keep every member's end state (for comparing programs member by member).
    pub keep_members: bool,
}

/// A simulation's runs and the report made of them.
#[derive(Debug, Clone)]
pub struct Simulation {
    pub report: Report,
    /// In run order.
    pub runs: Vec<RunResult>,
}

/// Reads a scenario and checks it against the program.
pub fn load(program: &Program, source: &str) -> Result<Plan, Error> {
    let scenario = Scenario::parse(source)?;
    plan::plan(program, &scenario, source)
}

/// The member ranges of one run: one shard for a program with budgets
/// (they are program-wide), else shards of [`SHARD_SIZE`].
pub fn shards(plan: &Plan) -> Vec<Range<u64>> {
    let population = plan.population();
    let size = if plan.has_budgets {
        population.max(1)
    } else {
        SHARD_SIZE
    };
    (0..population.div_ceil(size))
        .map(|i| i * size..((i + 1) * size).min(population))
        .collect()
}

/// Checks the options against the plan: the run and member numbers must fit
/// their parts of a stream number.
pub fn check(plan: &Plan, options: &Options) -> Result<(), Error> {
    let fail = |message: String| {
        Err(Error {
            message,
            line: None,
        })
    };
    if options.runs == 0 || options.runs > MOST_RUNS {
        return fail(format!("--runs {}: from 1 to {MOST_RUNS}", options.runs));
    }
    if plan.population() >= 1 << member::MEMBER_BITS {
        return fail(format!(
            "members: {} in all is too many for one run",
            plan.population()
        ));
    }
    Ok(())
}

/// Runs the simulation on rayon's current pool; `progress` is called once
/// per finished shard (there are `runs × shards(plan).len()`).
pub fn simulate(
    program: &Program,
    plan: &Plan,
    options: &Options,
    progress: &(dyn Fn() + Sync),
) -> Result<Simulation, Error> {
    check(plan, options)?;
    let mut plan = plan.clone();
    if let Some(seed) = options.seed {
        plan.seed = seed;
    }
    let plan = &plan;
    let ranges = shards(plan);
    let work: Vec<(u64, Range<u64>)> = (0..options.runs)
        .flat_map(|run| ranges.iter().map(move |r| (run, r.clone())))
        .collect();
    // `collect` keeps the order of `work`, whichever thread ran what.
    let mut results: Vec<RunResult> = work
        .into_par_iter()
        .map(|(run, range)| {
            let result = shard::run(program, plan, run, range, options.keep_members);
            progress();
            result
        })
        .collect();
    let mut runs = Vec::new();
    let per_run = ranges.len().max(1);
    while !results.is_empty() {
        let rest = results.split_off(per_run.min(results.len()));
        runs.push(stats::merge(program, std::mem::replace(&mut results, rest)));
    }
    let report = stats::report(
        program,
        &plan.month_names,
        &runs,
        (plan.seed, plan.population()),
    );
    Ok(Simulation { report, runs })
}

/// Two programs on the same scenario with common random numbers: the same
/// seed gives both the same members with the same draws (visits, tickets,
/// fields, chances), so what differs is the programs, not the luck. The
/// scenario must fit both programs. For `loyalty diff --scenario`.
pub fn compare(
    old: &Program,
    new: &Program,
    source: &str,
    options: &Options,
    progress: &(dyn Fn() + Sync),
) -> Result<(Simulation, Simulation), Error> {
    // Name the program a scenario does not fit: it may fit only one of them.
    let plan = |program: &Program| {
        load(program, source).map_err(|e| Error {
            message: format!("{} (program \"{}\")", e.message, program.name),
            line: e.line,
        })
    };
    let old_plan = plan(old)?;
    let new_plan = plan(new)?;
    Ok((
        simulate(old, &old_plan, options, progress)?,
        simulate(new, &new_plan, options, progress)?,
    ))
}
