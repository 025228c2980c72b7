//! One generated case as the differential test (tests/differential.rs) and
//! the properties (tests/properties.rs) both make it: the program through
//! print ∘ parse and `check`, and its stream resolved with the reference
//! evaluator's balances; and the reading of the CSV files a run writes.
//! Each test crate that includes it declares `mod reference;` too.

use crate::reference::gen::{self, EventSpec, GenEvent, ProgramSpec};
use crate::reference::{Evaluation, Program};
use chrono::NaiveDate;
use loyalty::syntax::ast::File;
use proptest::prelude::*;
use rust_decimal::Decimal;
use std::str::FromStr;

/// What a case is generated from: a program, a stream for it, and one time
/// in four `--until` a day.
pub type Inputs = (ProgramSpec, Vec<EventSpec>, Option<NaiveDate>);

pub fn inputs() -> impl Strategy<Value = Inputs> {
    (
        gen::program(),
        gen::gen_tiers::stream(),
        proptest::option::weighted(0.25, gen::day()),
    )
}

/// A generated program and stream, ready to run.
pub struct Case {
    /// The program as `loyalty fmt` prints it.
    pub text: String,
    /// `text` parsed back: the generated tree, checked.
    pub tree: File,
    /// The records, in the order generated (not in time order).
    pub events: Vec<GenEvent>,
    /// The program's zone.
    pub zone: chrono_tz::Tz,
}

/// The program of `spec` printed, parsed back (the case fails if
/// parse ∘ print is not the identity) and checked, and `stream` resolved
/// for it.
pub fn case(spec: &ProgramSpec, stream: &[EventSpec]) -> Result<Case, TestCaseError> {
    let tree = spec.build();
    let printed = loyalty::syntax::print(&tree);
    let parse = |text: &str| {
        loyalty::syntax::parse(text)
            .map_err(|d| TestCaseError::fail(format!("{}\n{text}", d.message)))
    };
    prop_assert_eq!(
        &parse(&printed)?,
        &tree,
        "parse(print(tree)) is not the tree:\n{}",
        printed
    );
    let text = spec.in_currency(&printed);
    let parsed = parse(&text)?;
    let errors: Vec<String> = loyalty::check::check(&parsed)
        .into_iter()
        .filter(loyalty::diagnostic::Diagnostic::is_error)
        .map(|d| d.message)
        .collect();
    prop_assert!(errors.is_empty(), "check refused:\n{text}\n{errors:?}");

    let program = Program::new(&parsed);
    let points = spec.points();
    let precisions: Vec<u32> = points.iter().map(|p| program.precision(p)).collect();
    let mut balance = |before: &[GenEvent], member: &str, points: &str, time| {
        let mut evaluation = Evaluation::new(&program);
        evaluation.apply_all(before);
        evaluation.available(member, points, time)
    };
    let mut stream = stream.to_vec();
    gen::moves::fit(&mut stream, spec);
    let mut events = gen::resolve(&stream, &points, &precisions, &mut balance);
    gen::moves::rename(&mut events, spec);
    let zone = spec
        .zone()
        .parse()
        .map_err(|e| TestCaseError::fail(format!("{e}")))?;
    Ok(Case {
        text,
        tree: parsed,
        events,
        zone,
    })
}

/// The CSV text's records, header first, as strings.
pub fn records(text: &[u8]) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text)
        .records()
        .map(|r| r.map(|r| r.iter().map(str::to_string).collect()))
        .collect::<Result<_, _>>()
        .unwrap_or_default()
}

pub fn decimal(text: &str) -> Option<Decimal> {
    Decimal::from_str(text).ok()
}
