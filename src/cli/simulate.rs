//! `loyalty simulate`: a program on a synthetic population, many runs; prints
//! the liability per month with its 5th–95th percentile band and the KPIs,
//! and writes them as CSV and JSON.

use super::{display_name, input, read, Error};
use indicatif::{ProgressBar, ProgressStyle};
use loyalty::report::output::Folder;
use loyalty::report::state::read_state;
use loyalty::simulate::{self, Options};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The program (`.loyalty`).
    program: PathBuf,
    /// The scenario (`.yaml`): the population, its habits and the months
    /// simulated. See docs/simulation.md.
    scenario: PathBuf,
    /// How many runs, each a new draw of the population.
    #[arg(long, default_value_t = 20)]
    runs: u64,
    /// Worker threads (default: one per core), at most 256. The output is
    /// the same for any number.
    #[arg(long, value_parser = super::threads())]
    threads: Option<u16>,
    /// Replaces the scenario's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// The folder to write liability.csv, kpis.csv and simulation.json to
    /// (created if missing).
    #[arg(long, value_name = "DIR", default_value = "loyalty-simulation")]
    out: PathBuf,
    /// Also write the results as one self-contained HTML page with charts
    /// (liability with its p5–p95 band, issued/spent/expired per month,
    /// tier mix).
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Start from a run's end state: DIR is a `loyalty run --report state
    /// --out DIR` folder, whose state.csv holds every member's tier, open
    /// buckets and debts. Its members continue, with the scenario's habits,
    /// beside the members the scenario enrols; the scenario must start
    /// after the state's as-of instant.
    #[arg(long, value_name = "DIR")]
    from_state: Option<PathBuf>,
}

pub fn run(args: &Args) -> Result<ExitCode, Error> {
    let program = input::program(&args.program)?;
    let source = read(&args.scenario)?;
    let plan = simulate::load(&program, &source).map_err(|error| Error::FileContent {
        name: display_name(&args.scenario),
        error,
    })?;
    let plan = match &args.from_state {
        None => plan,
        Some(dir) => {
            let path = dir.join("state.csv");
            let in_file = |path: &Path| {
                let name = display_name(path);
                move |error| Error::FileContent { name, error }
            };
            let state = read_state(&program, &read(&path)?).map_err(in_file(&path))?;
            plan.from_book(state).map_err(in_file(&args.scenario))?
        }
    };
    let options = Options {
        runs: args.runs,
        seed: args.seed,
        keep_members: false,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.map_or(0, usize::from))
        .build()?;
    let total = args.runs * simulate::shards(&plan).len() as u64;
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(total);
        if let Ok(style) = ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} shards, {eta} left",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let result = pool.install(|| simulate::simulate(&program, &plan, &options, &|| bar.inc(1)));
    bar.finish_and_clear();
    let simulation = result.map_err(Error::Simulation)?;
    let report = &simulation.report;
    // All in place at once, simulation.json last, listing the others.
    let mut folder = Folder::open(&args.out, "simulation.json")?;
    folder.write("liability.csv", |f| Ok(report.write_liability_csv(f)?))?;
    folder.write("kpis.csv", |f| Ok(report.write_kpis_csv(f)?))?;
    if let Some(path) = &args.html {
        let facts = vec![
            ("program".to_string(), display_name(&args.program)),
            ("scenario".to_string(), display_name(&args.scenario)),
            ("runs".to_string(), report.runs.to_string()),
            ("seed".to_string(), report.seed.to_string()),
            ("members per run".to_string(), report.population.to_string()),
            ("breakage".to_string(), report.breakage_method.clone()),
        ];
        let page = loyalty::html::simulation_page(&program, &facts, report);
        folder.write_at(path, page.as_bytes())?;
    }
    folder.commit(report)?;
    input::print(&report.text())?;
    input::print(&format!(
        "\nwrote liability.csv, kpis.csv and simulation.json to {}\n",
        args.out.display()
    ))?;
    Ok(ExitCode::SUCCESS)
}
