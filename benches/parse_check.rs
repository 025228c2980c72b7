//! How fast programs parse, and parse and check, in bytes per second: each
//! example program in `programs/`, and generated programs of 1,000 and 5,000
//! rules with the other declarations in the proportions of a real program,
//! and two of one rule with a huge condition; and what the language server
//! does after each edit of the 5,000-rule program (`lsp_edit`): check the
//! whole text and turn its diagnostics into the editor's positions.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::fmt::Write;
use std::hint::black_box;

const SIZES: [usize; 2] = [1_000, 5_000];

/// A program with `rules` rules over one event type per 100 rules, three
/// points types, one tier ladder, a perk per 20 rules and a reward per 10.
/// Rules come in fours on the same event, each of the four in another shape
/// (conditions, rates, tables, caps, limits, budgets, a share of an earlier
/// rule), so every part of the grammar is in the mix.
fn program(rules: usize) -> String {
    let events = (rules / 100).max(1);
    let mut out = String::from(
        "# Generated for benchmarking.\n\
         program \"Bench\" {\n  currency USD\n  timezone \"America/New_York\"\n  effective 2025-01-01\n}\n\n\
         member {\n  birthday: date\n  region: text\n}\n\n",
    );
    for e in 0..events {
        writeln!(
            out,
            "event e{e} {{\n  amount: money\n  channel: text\n  quantity: number\n}}\n"
        )
        .unwrap();
    }
    out.push_str(
        "points stars {\n  precision 0\n  value 0.01 USD\n  breakage 15%\n  pending 14 days\n  \
         expire 12 months after earn at end of month\n}\n\n\
         points miles {\n  value 0.009 USD\n  expire after 24 months without activity\n}\n\n\
         points status { qualifying }\n\n\
         tiers over calendar year {\n  measure spend = sum of status\n  measure visits = count of e0\n  \
         tier base from start\n  tier silver when spend >= 1000 and visits >= 10 or spend >= 1500\n  \
         tier gold when spend >= 5000 and visits >= 30 or spend >= 7500 keep when spend >= 4000\n  \
         tier platinum when spend >= 20000\n  upgrade immediately\n  \
         downgrade at period end, at most 1 level, after 1 month grace\n}\n\n",
    );
    for i in 0..rules {
        let event = (i / 4) % events;
        write!(out, "rule r{i} {{\n  on e{event} where ").unwrap();
        match i % 4 {
            0 => writeln!(
                out,
                "channel = \"app\" and amount >= {} USD and tier >= silver\n  \
                 earn {} stars per 1 USD of amount\n  cap 500 stars per member per day",
                i % 50 + 1,
                i % 3 + 1
            ),
            1 => writeln!(
                out,
                "channel in [\"web\", \"store\"] and date in 2025-03-01 .. 2025-03-31\n  \
                 earn 1 miles per full 10 USD of amount times channel {{ \"web\": 2, \"store\": 1, else: 0.5 }}\n  \
                 limit 3 per member per week"
            ),
            2 => writeln!(
                out,
                "not (quantity < 2) or days_to_birthday <= 7\n  earn 50% of r{}\n  exclusive group g{}",
                i - 2,
                i % 10
            ),
            _ => writeln!(
                out,
                "(amount * 2 - 5 USD) / 3 > 10 USD\n  earn 10 status\n  during 2025-01-01 .. 2025-12-31\n  \
                 budget 100000 status per month\n  round half up"
            ),
        }
        .unwrap();
        out.push_str("}\n\n");
    }
    for p in 0..rules / 20 {
        let tiers = ["gold and above", "silver, gold", "all tiers"][p % 3];
        writeln!(
            out,
            "perk p{p} for {tiers} {{ limit 1 per year  cost 4.50 USD }}\n"
        )
        .unwrap();
    }
    for w in 0..rules / 10 {
        writeln!(
            out,
            "reward w{w} {{ price {} stars  cost 1.00 USD }}\n",
            100 + w
        )
        .unwrap();
    }
    out
}

/// A stage of the pipeline, run over a whole program's text.
type Stage = fn(&str);

const STAGES: [(&str, Stage); 2] = [
    ("parse", |text| {
        drop(black_box(loyalty::syntax::parse(text)))
    }),
    ("parse+check", |text| {
        drop(black_box(loyalty::check_source(text)))
    }),
];

/// The example programs, by name.
fn examples() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("programs");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "loyalty"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect()
}

/// Programs of one rule whose condition is huge: a 200,000-term sum and
/// 10,000 nested parentheses (`tests/no_panic.rs` checks they get through).
fn huge() -> Vec<(&'static str, String)> {
    let with_condition = |condition: String| {
        format!(
            "program \"Huge\" {{\n  currency USD\n  timezone \"UTC\"\n}}\n\n\
             event order {{\n  amount: money\n}}\n\n\
             points stars\n\nrule r {{\n  on order where {condition}\n  earn 1 stars\n}}\n"
        )
    };
    let depth = 10_000;
    vec![
        (
            "sum_200k",
            with_condition(format!("{} > 0", vec!["1"; 200_000].join(" + "))),
        ),
        (
            "parentheses_10k",
            with_condition(format!("{}1{} > 0", "(".repeat(depth), ")".repeat(depth))),
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let programs: Vec<(usize, String)> = SIZES.iter().map(|&n| (n, program(n))).collect();
    let examples = examples();
    let huge = huge();
    for (rules, text) in &programs {
        let errors: Vec<_> = loyalty::check_source(text)
            .into_iter()
            .filter(|d| d.is_error())
            .collect();
        if let Some(first) = errors.first() {
            // Still worth timing, but the numbers then say less about a clean program.
            eprintln!(
                "note: {} errors in the generated {rules}-rule program, the first:\n{}",
                errors.len(),
                first.render("generated.loyalty", text, false)
            );
        }
    }
    for (stage, run) in STAGES {
        let mut group = c.benchmark_group(stage);
        group.sample_size(10);
        let inputs = examples
            .iter()
            .map(|(name, text)| (BenchmarkId::new("example", name), text))
            .chain(
                programs
                    .iter()
                    .map(|(rules, text)| (BenchmarkId::new("rules", rules), text)),
            )
            .chain(
                huge.iter()
                    .map(|(name, text)| (BenchmarkId::new("huge", name), text)),
            );
        for (id, text) in inputs {
            group.throughput(Throughput::Bytes(text.len() as u64));
            group.bench_with_input(id, text.as_str(), |b, text| b.iter(|| run(black_box(text))));
        }
        group.finish();
    }
    // An edit as a marketer makes it, mid-file: a points type misspelt (one
    // error, with its did-you-mean), then put right. The server checks the
    // whole text after each change.
    let (_, text) = programs.last().expect("the 5,000-rule program");
    let at = text.len() / 2 + text[text.len() / 2..].find("earn ").expect("a rule");
    let rest = &text[at..];
    let points = rest.split_whitespace().nth(2).expect("earn N P");
    let misspelt = format!(
        "{}{}",
        &text[..at],
        rest.replacen(points, &format!("{points}x"), 1)
    );
    assert_eq!(
        loyalty::lsp::diagnostics(&misspelt).len(),
        loyalty::lsp::diagnostics(text).len() + 1,
        "the misspelt name is one more diagnostic"
    );
    let mut group = c.benchmark_group("lsp_edit");
    group.sample_size(10);
    for (name, edited) in [("misspelt", &misspelt), ("fixed", text)] {
        group.bench_with_input(
            BenchmarkId::new("rules_5000", name),
            edited.as_str(),
            |b, text| b.iter(|| loyalty::lsp::diagnostics(black_box(text))),
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
