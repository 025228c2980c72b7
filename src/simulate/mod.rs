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
pub use scenario::Scenario;
pub use stats::{Report, RunResult};

use crate::compile::ir::Program;
use crate::file_error::FileError;
use crate::finance::diff::Diff;
use crate::finance::spread::ChangeSpread;
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
pub fn load(program: &Program, source: &str) -> Result<Plan, FileError> {
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

/// Estimated bytes of a member while its shard runs: its synthetic self
/// (its random stream, its rates, its next events) and its engine state
/// (wallets, buckets, the index); about 3.7 KiB measured on the example
/// scenarios, rounded up.
const LIVE_MEMBER_BYTES: u64 = 4096;

// A shard is one engine, which holds at most `limits::MOST_MEMBERS`
// members and pools. The memory bound (`check`) refuses a shard with more
// than half that many members; the other half is left to the book's pools,
// which nothing counts: they are held in memory before the run (an
// `Opening` each, over a hundred bytes), and 2^31 of them, over 200 GB,
// could not be read. So members and pools opened in a shard need no check
// of their own.
const _: () =
    assert!(crate::limits::MEMORY_BOUND / LIVE_MEMBER_BYTES < crate::limits::MOST_MEMBERS / 2);

/// Estimated bytes a shard's results hold per month until the end of the
/// simulation: a liability row per points type (176 bytes and its two
/// names), the month's tally (120 bytes) and its count per tier.
const ROW_BYTES: u64 = 208;
const TALLY_BYTES: u64 = 128;
const TIER_BYTES: u64 = 8;

/// Estimated bytes of a member's end state kept per run (`keep_members`):
/// its id and outcome, and an issued and a balance entry per points type.
const KEPT_MEMBER_BYTES: u64 = 160;
const KEPT_POINTS_BYTES: u64 = 128;

/// An estimate of the memory a simulation needs, the least it takes: every
/// shard's results of every run, kept until the runs are merged; every
/// member's end state in every run with `keep_members`; and one shard's
/// members at a time (all of a run's members for a program with budgets,
/// which runs them in one engine). The same on every machine: it does not
/// count the threads.
pub fn footprint(program: &Program, plan: &Plan, options: &Options) -> u64 {
    let population = plan.population();
    let (shards, shard_members) = if plan.has_budgets {
        (1, population)
    } else {
        (population.div_ceil(SHARD_SIZE), population.min(SHARD_SIZE))
    };
    let points = program.points.len() as u64;
    let tiers = program.tiers.as_ref().map_or(0, |t| t.tiers.len()) as u64;
    let per_shard_month = points * ROW_BYTES + TALLY_BYTES + tiers * TIER_BYTES;
    let results = options
        .runs
        .saturating_mul(shards)
        .saturating_mul(plan.months() as u64)
        .saturating_mul(per_shard_month);
    let kept = if options.keep_members {
        options
            .runs
            .saturating_mul(population)
            .saturating_mul(KEPT_MEMBER_BYTES + points * KEPT_POINTS_BYTES)
    } else {
        0
    };
    let live = shard_members.saturating_mul(LIVE_MEMBER_BYTES);
    results.saturating_add(kept).saturating_add(live)
}

/// Checks the options against the plan: the run and member numbers must fit
/// their parts of a stream number, and the simulation must fit
/// [`crate::limits::MEMORY_BOUND`].
pub fn check(program: &Program, plan: &Plan, options: &Options) -> Result<(), FileError> {
    let fail = |message: String| Err(FileError::new(None, message));
    if options.runs == 0 || options.runs > MOST_RUNS {
        return fail(format!("--runs {}: from 1 to {MOST_RUNS}", options.runs));
    }
    if plan.population() >= 1 << member::MEMBER_BITS {
        return fail(format!(
            "members: {} in all is too many for one run",
            plan.population()
        ));
    }
    let bytes = footprint(program, plan, options);
    crate::limits::within_memory(bytes, || {
        format!(
            "members: {} members and --runs {}",
            plan.population(),
            options.runs
        )
    })
    .or_else(|message| {
        fail(format!(
            "{message}: simulate fewer members (liability and cost scale with the number of members) or fewer runs"
        ))
    })
}

/// Runs the simulation on rayon's current pool; `progress` is called once
/// per finished shard (there are `runs × shards(plan).len()`).
pub fn simulate(
    program: &Program,
    plan: &Plan,
    options: &Options,
    progress: &(dyn Fn() + Sync),
) -> Result<Simulation, FileError> {
    check(program, plan, options)?;
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
) -> Result<(Simulation, Simulation), FileError> {
    // Name the program a scenario does not fit: it may fit only one of them.
    let plan = |program: &Program| {
        load(program, source).map_err(|e| {
            FileError::new(
                e.line,
                format!("{} (program \"{}\")", e.message, program.name),
            )
        })
    };
    let old_plan = plan(old)?;
    let new_plan = plan(new)?;
    Ok((
        simulate(old, &old_plan, options, progress)?,
        simulate(new, &new_plan, options, progress)?,
    ))
}

/// The diff of each pair of runs [`compare`] made (run r of `old` with run
/// r of `new`, the same members), and the spread of their overall changes.
pub fn diffs(
    (old, old_runs): (&Program, &Simulation),
    (new, new_runs): (&Program, &Simulation),
) -> Result<(Vec<Diff>, ChangeSpread), crate::finance::Error> {
    let diffs = old_runs
        .runs
        .iter()
        .zip(&new_runs.runs)
        .map(|(a, b)| crate::finance::diff::compare(&a.outcome(old), &b.outcome(new)))
        .collect::<Result<Vec<Diff>, _>>()?;
    let spread = ChangeSpread::of(&diffs);
    Ok((diffs, spread))
}
