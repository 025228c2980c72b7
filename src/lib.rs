//! `loyalty`: a rules engine for configurable rewards and tier programs.
//!
//! A program is written in a `.loyalty` file; events (enrolments,
//! purchases, returns, redemptions…) are replayed through it, and every
//! change to a member's points or tier is one row of a ledger. The
//! pipeline, one module per stage, data flowing one way:
//!
//! - [`diagnostic`]: one [`Diagnostic`] type for every stage's errors and
//!   warnings, rendered rustc-style or as JSON; [`table`], [`limits`] and
//!   [`file_error`], the ground floor: tables and money as reports write
//!   them, the bounds a command may ask of the machine, and the error of a
//!   YAML file (a test file, a scenario) with its line.
//! - [`syntax`]: parses `.loyalty` text into an AST with source spans, and
//!   formats it back in canonical layout (`loyalty fmt`).
//! - [`check`]: resolves names, types, currencies and ordering, reporting
//!   every mistake it finds, not only the first (`loyalty check`).
//! - [`compile`]: lowers a checked AST to the IR the engine runs: names
//!   resolved to indices, literals to exact decimals; [`compile::calendar`]
//!   answers every calendar question in the program's zone.
//! - [`events`]: reads CSV, JSON Lines or YAML records and types them by the
//!   program's event schemas; a record that cannot be typed is a reject.
//! - [`engine`]: applies events in time order (the clock's expiries,
//!   releases and tier reviews first), keeping members' state and writing
//!   the ledger; [`engine::replay`] drives it, late events re-run their
//!   member, and [`engine::sharded`] splits members over threads.
//! - [`report`] and [`finance`]: the ledger, members, rejects and summary
//!   files (an output folder written all at once), the tier mix; the
//!   liability by month, breakage, IFRS 15 deferred revenue, upcoming
//!   expiries and the cost of a change (`diff`).
//! - [`run`]: one run of a program over events, as every caller makes it:
//!   the thread mode chosen inside, rows fanned out to the sinks asked for.
//! - [`simulate`], [`testing`] and [`gen`]: a program on a synthetic
//!   population (`loyalty simulate`), test files and snapshots
//!   (`loyalty test`), synthetic event streams (`loyalty gen`); [`html`],
//!   the `--html` pages of a run or a simulation; [`lsp`], the language
//!   server editors start (`loyalty lsp`); [`serve`], the local page to
//!   edit a program and see its effect (`loyalty serve`).
//! - The binary's `src/cli/` parses the command line, calls these and
//!   prints.
//!
//! The engine's contract (time order, rounding, expiry, tiers, returns) is
//! `docs/semantics.md`; the language is `docs/language.md`.
//!
//! # Example
//!
//! Check and compile a program, read four CSV events, replay them, and read
//! a member's balance:
//!
//! ```
//! use loyalty::engine::replay::{Options, Order};
//! use loyalty::events::{read, Format};
//! use loyalty::run::{Run, Sinks};
//! use rust_decimal::Decimal;
//!
//! let source = r#"
//! program "Corner Cafe" {
//!   currency EUR
//!   timezone "Europe/Lisbon"
//! }
//!
//! points beans {
//!   precision 0
//! }
//!
//! rule base {
//!   on purchase
//!   earn 10 beans per 1 EUR of amount
//! }
//!
//! reward pastry {
//!   price 150 beans
//! }
//! "#;
//! // Syntax and check: no errors, no warnings.
//! assert!(loyalty::check_source(source).is_empty());
//! let (program, _warnings) = loyalty::compile::compile(source).expect("no errors");
//!
//! let csv = "\
//! id,time,member,type,amount,reward
//! e1,2025-03-01 09:00,ann,enroll,,
//! e2,2025-03-02 09:00,ann,purchase,12.50,
//! e3,2025-03-03 09:00,ann,purchase,7.60,
//! e4,2025-03-04 09:00,ann,redeem,,pastry
//! ";
//! let records = read(&program, Format::Csv, csv.as_bytes(), "events.csv");
//! let options = Options { order: Order::Sort, until: None, strict: false };
//! let mut rows = 0;
//! let mut count = |batch: &[loyalty::engine::ledger::Entry]| {
//!     rows += batch.len(); // ledger rows, as they are written
//!     Ok(())
//! };
//! let finished = Run::new(&program, options).replay(Box::new(records), Sinks::rows(&mut count))?;
//! assert_eq!((finished.outcome.read, finished.outcome.rejects.len()), (4, 0));
//!
//! // 125 + 76 beans earned, 150 spent on the pastry.
//! let beans = program.points_index["beans"];
//! let ann = finished.engine.member("ann").expect("enrolled");
//! assert_eq!(ann.wallet(beans).map(|w| w.balance()), Some(Decimal::from(51)));
//! assert_eq!(rows, 3);
//! # Ok::<(), csv::Error>(())
//! ```

pub mod check;
pub mod compile;
pub mod currency;
pub mod diagnostic;
pub mod engine;
pub mod events;
pub mod file_error;
pub mod finance;
pub mod gen;
pub mod html;
pub mod limits;
pub mod lsp;
pub mod report;
pub mod run;
pub mod serve;
pub mod simulate;
pub mod syntax;
pub mod table;
pub mod testing;

pub use diagnostic::{Diagnostic, Severity};

/// Parses and checks a program's text: the syntax error, or every error and
/// warning the checker found, sorted by position. Empty means clean.
pub fn check_source(source: &str) -> Vec<Diagnostic> {
    match syntax::parse(source) {
        Ok(file) => check::check(&file),
        Err(_) => syntax::syntax_errors(source),
    }
}
