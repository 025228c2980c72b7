//! Robustness: no text, however mangled or huge, makes `check_source` (or the
//! formatter) panic, overflow the stack or hang, and every diagnostic points
//! inside the source and renders. Likewise no event file makes a reader
//! panic or hang, or lose the records around a bad one (the last section).
//!
//! The seeds are the example programs (`programs/*.loyalty`, read at run time
//! so new examples are covered as they land) and `tests/fixtures/*.loyalty`.

// clippy.toml allows these in #[test] fns only: for the helpers here.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use loyalty::events::Format;
use loyalty::Diagnostic;
use proptest::prelude::*;
use proptest::sample::Index;
use std::path::Path;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

/// A hang guard, not a speed target: checking one huge input in a debug
/// build takes seconds (the 200,000-term sum about 6 s, 0.8 MB through an
/// unoptimised pest) and more on a machine busy with other builds; a
/// quadratic walk or a hang would take hours. How fast huge inputs check
/// is measured by `benches/parse_check.rs` (`huge/*`).
const QUICK: Duration = Duration::from_secs(300);

/// The seed programs, name and text, in a stable order.
static SAMPLES: LazyLock<Vec<(String, String)>> = LazyLock::new(|| {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut samples: Vec<(String, String)> = ["tests/fixtures", "programs"]
        .iter()
        .filter_map(|dir| std::fs::read_dir(root.join(dir)).ok())
        .flatten()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "loyalty"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            (path.strip_prefix(root).unwrap().display().to_string(), text)
        })
        .collect();
    samples.sort();
    assert!(
        samples
            .iter()
            .any(|(name, _)| name.ends_with("sampler.loyalty")),
        "the fixture tests/fixtures/sampler.loyalty is missing"
    );
    samples
});

/// Checks `source`; asserts every diagnostic is well-formed.
fn assert_checks(source: &str) -> Vec<Diagnostic> {
    let diagnostics = loyalty::check_source(source);
    for diagnostic in &diagnostics {
        assert_points_inside(diagnostic, source);
    }
    diagnostics
}

/// Checks and formats `source`; asserts every diagnostic is well-formed.
fn assert_well_behaved(source: &str) -> Vec<Diagnostic> {
    if let Err(diagnostic) = loyalty::syntax::format(source) {
        assert_points_inside(&diagnostic, source);
    }
    assert_checks(source)
}

fn assert_points_inside(diagnostic: &Diagnostic, source: &str) {
    let span = diagnostic.span;
    assert!(
        span.start <= span.end && span.end <= source.len(),
        "span {span:?} outside a source of {} bytes: {diagnostic:?}",
        source.len()
    );
    assert!(
        source.is_char_boundary(span.start) && source.is_char_boundary(span.end),
        "span {span:?} splits a character: {diagnostic:?}"
    );
    // miette wraps long lines, so compare the words only.
    let words = |text: &str| -> String { text.chars().filter(|c| c.is_alphanumeric()).collect() };
    let rendered = diagnostic.render("input.loyalty", source, false);
    assert!(
        words(&rendered).contains(&words(&diagnostic.message)),
        "the rendering lacks the message {:?}:\n{rendered}",
        diagnostic.message
    );
    let record = diagnostic.to_record("input.loyalty", source);
    assert!((record.line, record.column) <= (record.end_line, record.end_column));
}

/// Runs `assert_checks` and fails if it hung (took longer than `QUICK`).
fn assert_quick(what: &str, source: &str) -> Vec<Diagnostic> {
    let started = Instant::now();
    let diagnostics = assert_checks(source);
    let took = started.elapsed();
    assert!(took < QUICK, "{what}: took {took:?}");
    diagnostics
}

// ------------------------------------------------------------------ mutation

/// Splits text into words, numbers, runs of white space and single other
/// characters; joining the pieces gives the text back.
fn tokens(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(first) = rest.chars().next() {
        let run = |keep: fn(char) -> bool| rest.find(|c| !keep(c)).unwrap_or(rest.len());
        let len = if first.is_alphabetic() || first == '_' {
            run(|c| c.is_alphanumeric() || c == '_')
        } else if first.is_ascii_digit() {
            run(|c| c.is_ascii_digit() || c == '.')
        } else if first.is_whitespace() {
            run(char::is_whitespace)
        } else {
            first.len_utf8()
        };
        let (piece, tail) = rest.split_at(len);
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

fn lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

#[derive(Debug, Clone, Copy)]
enum Unit {
    Token,
    Line,
}

#[derive(Debug, Clone)]
enum Edit {
    Drop(Index),
    Duplicate(Index),
    Swap(Index, Index),
    Insert(Index, String),
}

fn apply(text: &str, unit: Unit, edit: &Edit) -> String {
    let mut pieces: Vec<&str> = match unit {
        Unit::Token => tokens(text),
        Unit::Line => lines(text),
    };
    let len = pieces.len();
    match edit {
        Edit::Insert(at, junk) => pieces.insert(if len == 0 { 0 } else { at.index(len + 1) }, junk),
        _ if len == 0 => {}
        Edit::Drop(at) => {
            pieces.remove(at.index(len));
        }
        Edit::Duplicate(at) => {
            let i = at.index(len);
            pieces.insert(i, pieces[i]);
        }
        Edit::Swap(a, b) => pieces.swap(a.index(len), b.index(len)),
    }
    pieces.concat()
}

/// Characters that stress the lexer: multi-byte UTF-8, comment and string
/// delimiters, escapes, brackets, operators, line ends, control characters.
const JUNK_CHARS: &[char] = &[
    'é', '€', '😀', 'ß', '\u{200b}', '\u{feff}', '\u{301}', '#', '"', '\\', '(', ')', '[', ']',
    '{', '}', '.', ',', ':', '%', '=', '!', '<', '>', '+', '-', '*', '/', '\n', '\r', '\t', ' ',
    '\0', '0', '9', 'a', 'Z', '_',
];

/// Words that steer the parser into its other branches.
const JUNK_WORDS: &[&str] = &[
    "and",
    "or",
    "not",
    "in",
    "of",
    "per",
    "where",
    "else",
    "true",
    "false",
    "earn",
    "on",
    "rule",
    "tier",
    "tiers",
    "points",
    "member",
    "event",
    "perk",
    "reward",
    "program",
    "times",
    "cap",
    "limit",
    "budget",
    "round",
    "during",
    "min",
    "spend",
    "keep",
    "when",
    "from",
    "start",
    "measure",
    "sum",
    "count",
    "balance",
    "expire",
    "never",
    "after",
    "days",
    "month",
    "USD",
    "2025-02-30",
    "99999999999999999999999999999",
    "0.0000000000000000000000000001",
    "..",
    "%",
    "full",
    "lifetime",
];

fn junk() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(prop::sample::select(JUNK_CHARS), 1..4)
            .prop_map(|chars| chars.into_iter().collect()),
        prop::sample::select(JUNK_WORDS).prop_map(|w| format!(" {w} ")),
        any::<char>().prop_map(String::from),
    ]
}

fn unit() -> impl Strategy<Value = Unit> {
    prop_oneof![3 => Just(Unit::Token), 1 => Just(Unit::Line)]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<Index>().prop_map(Edit::Drop),
        any::<Index>().prop_map(Edit::Duplicate),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        (any::<Index>(), junk()).prop_map(|(at, junk)| Edit::Insert(at, junk)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mutated_programs_never_panic(
        sample in any::<Index>(),
        edits in prop::collection::vec((unit(), edit()), 1..6),
    ) {
        let (_, text) = &SAMPLES[sample.index(SAMPLES.len())];
        let mutated = edits.iter().fold(text.clone(), |text, (unit, edit)| apply(&text, *unit, edit));
        assert_well_behaved(&mutated);
    }

    /// Pieces of two programs glued together: declarations cut mid-way, in
    /// an order no one writes.
    #[test]
    fn spliced_programs_never_panic(a in any::<Index>(), b in any::<Index>(), cut_a in any::<Index>(), cut_b in any::<Index>()) {
        let (_, first) = &SAMPLES[a.index(SAMPLES.len())];
        let (_, second) = &SAMPLES[b.index(SAMPLES.len())];
        let first = tokens(first);
        let second = tokens(second);
        let head = first[..cut_a.index(first.len() + 1)].concat();
        let tail = second[cut_b.index(second.len() + 1)..].concat();
        assert_well_behaved(&(head + &tail));
    }
}

/// The mutations start from a program that parses, so they reach past the
/// first declaration.
#[test]
fn the_fixture_parses() {
    let (_, text) = SAMPLES
        .iter()
        .find(|(name, _)| name.ends_with("sampler.loyalty"))
        .unwrap();
    assert!(loyalty::syntax::parse(text).is_ok());
}

/// Checks every prefix of `text` that ends on a char boundary.
fn assert_every_cut_checks(name: &str, text: &str) {
    for (end, _) in text.char_indices().chain([(text.len(), ' ')]) {
        let cut = &text[..end];
        let result = std::panic::catch_unwind(|| assert_checks(cut));
        assert!(result.is_ok(), "{name} cut at byte {end} fails:\n{cut}");
    }
}

/// Where each top-level declaration starts: lines that open with a keyword
/// at the margin (a comment above a declaration stays with the one before).
fn declaration_starts(text: &str) -> Vec<usize> {
    let mut starts = vec![0];
    starts.extend(
        text.match_indices('\n')
            .map(|(i, _)| i + 1)
            .filter(|&i| text[i..].starts_with(|c: char| c.is_ascii_lowercase())),
    );
    starts
}

#[test]
fn every_truncation_of_the_fixture_is_handled() {
    let (name, text) = SAMPLES
        .iter()
        .find(|(name, _)| name.ends_with("sampler.loyalty"))
        .unwrap();
    assert_every_cut_checks(name, text);
}

/// Truncating whole example programs at every character costs time
/// quadratic in their length (about 1 s per KB² in a debug build), too much
/// for all of `programs/`; cutting each declaration on its own at every
/// character, and each program between declarations, covers every cut
/// position at linear cost.
#[test]
fn every_truncation_of_each_declaration_is_handled() {
    for (name, text) in SAMPLES.iter() {
        let starts = declaration_starts(text);
        assert!(starts.len() > 3, "{name}: no declarations found");
        let ends = starts.iter().skip(1).copied().chain([text.len()]);
        for (start, end) in starts.iter().copied().zip(ends) {
            assert_every_cut_checks(
                &format!("{name}, the declaration at byte {start},"),
                &text[start..end],
            );
            assert_checks(&text[..start]);
        }
    }
}

/// Inputs that are odd as a whole rather than as a mutation of a program.
#[test]
fn odd_whole_inputs() {
    for source in [
        "",
        " ",
        "\n\n\n",
        "\u{feff}",
        "\u{feff}rule r { }",
        "#",
        "# only a comment",
        "\"",
        "\"\\",
        "program \"\\",
        "program \"unterminated\n{ }",
        "program \"x\" {\r\n currency USD\r\n}\r\n",
        "rule r {\r on x \r}",
        "\0",
        "rule \0 {}",
        "😀😀😀",
        "rule r { on e where é }",
        "rule r { on e where 1 in 2 .. }",
        "rule r { on e where x in [] }",
        "rule r { earn 99999999999999999999999999999 p }",
        "rule r { earn 1 p per 0.00000000000000000000000000001 USD of amount }",
        "rule r { during 2025-02-30 .. 9999-99-99 }",
        "points p { precision 99999999999999999999 }",
        "points p { expire at end of month + 99999999999999999999999999 }",
        "tiers over rolling 0 days { tier a from 0 or 0 or 0 }",
        ")))]]]}}}",
        "(((",
    ] {
        let result = std::panic::catch_unwind(|| assert_well_behaved(source));
        assert!(result.is_ok(), "fails on {source:?}");
    }
}

// ------------------------------------------------------------------ huge inputs

/// A small valid program with `condition` as a rule's `where` clause.
fn with_condition(condition: &str) -> String {
    format!(
        "program \"Huge\" {{\n  currency USD\n  timezone \"UTC\"\n}}\n\n\
         event order {{\n  amount: money\n  channel: text\n}}\n\n\
         points stars\n\nrule r {{\n  on order where {condition}\n  earn 1 stars\n}}\n"
    )
}

#[test]
fn ten_thousand_nested_parentheses() {
    let depth = 10_000;
    let condition = format!("{}1{} > 0", "(".repeat(depth), ")".repeat(depth));
    assert_quick("nested parentheses", &with_condition(&condition));
}

#[test]
fn nesting_just_within_any_limit() {
    // Whatever depth the parser allows, the deepest accepted nesting must also
    // get through the checker and the formatter; try a ladder of depths.
    for depth in [8, 16, 24, 30, 31, 32, 33, 64, 128, 256] {
        let condition = format!(
            "{}not channel = \"a\"{}",
            "(not ".repeat(depth),
            ")".repeat(depth)
        );
        assert_well_behaved(&with_condition(&condition));
        let lists = format!(
            "{}\"a\"{}",
            "(channel in [".repeat(depth),
            "])".repeat(depth)
        );
        assert_well_behaved(&with_condition(&lists));
    }
}

#[test]
fn a_hundred_thousand_nots() {
    let condition = format!("{}channel = \"a\"", "not ".repeat(100_000));
    assert_quick("`not` chain", &with_condition(&condition));
}

#[test]
fn long_prefix_chains_below_the_token_limit() {
    // Prefix operators nest to the right, so a chain that fits under any
    // token limit is still as deep as it is long.
    for n in [100, 300, 490, 500, 990, 999, 1000, 1001, 2000] {
        let nots = format!("{}channel = \"a\"", "not ".repeat(n));
        assert_well_behaved(&with_condition(&nots));
        let negations = format!("{}1 > 0", "- ".repeat(n));
        assert_well_behaved(&with_condition(&negations));
        let sum = format!("{} > 0", vec!["1"; n].join(" - "));
        assert_well_behaved(&with_condition(&sum));
    }
}

#[test]
fn a_two_hundred_thousand_term_sum() {
    let condition = format!("{} > 0", vec!["1"; 200_000].join(" + "));
    assert_quick("long sum", &with_condition(&condition));
}

#[test]
fn a_one_megabyte_string() {
    let text = "é\\\"x".repeat(1 << 18);
    let source = with_condition(&format!("channel = \"{text}\""));
    let errors: Vec<_> = assert_quick("1 MB string", &source)
        .into_iter()
        .filter(Diagnostic::is_error)
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let unterminated = with_condition(&format!("channel = \"{}", "x".repeat(1 << 20)));
    assert_quick("unterminated 1 MB string", &unterminated);
}

#[test]
fn ten_thousand_rules() {
    let mut source = with_condition("amount >= 1 USD");
    for i in 0..10_000 {
        source.push_str(&format!(
            "\nrule r{i} {{\n  on order where channel = \"c{i}\" and amount >= {i} USD\n  earn {} stars per 1 USD of amount\n}}\n",
            1 + i % 5
        ));
    }
    let errors: Vec<_> = assert_quick("10,000 rules", &source)
        .into_iter()
        .filter(Diagnostic::is_error)
        .collect();
    assert!(errors.is_empty(), "{:?}", errors.first());
}

// ------------------------------------------------------------------ event files

/// A program for the event files below: purchases earn points.
const EVENTS_PROGRAM: &str = "program \"T\" { currency USD  timezone \"America/New_York\" }\n\
                              points pts\n\
                              rule base { on purchase  earn 1 pts per 1 USD of amount }\n";

/// Two purchases, `p1` and `p2`, in each format.
const TWO_PURCHASES: [(Format, &str); 3] = [
    (
        Format::Csv,
        "id,time,member,type,amount\n\
         p1,2025-03-01,m1,purchase,5\n\
         p2,2025-03-02,m1,purchase,6\n",
    ),
    (
        Format::Jsonl,
        "{\"id\": \"p1\", \"time\": \"2025-03-01\", \"member\": \"m1\", \"type\": \"purchase\", \"amount\": 5}\n\
         {\"id\": \"p2\", \"time\": \"2025-03-02\", \"member\": \"m1\", \"type\": \"purchase\", \"amount\": 6}\n",
    ),
    (
        Format::Yaml,
        "- id: p1\n  time: 2025-03-01\n  member: m1\n  type: purchase\n  amount: 5\n\
         - id: p2\n  time: 2025-03-02\n  member: m1\n  type: purchase\n  amount: 6\n",
    ),
];

/// What reading `bytes` as `format` gives: each event's id, or each
/// reject's line and reason.
fn read_events(format: Format, bytes: &[u8]) -> Vec<Result<String, (usize, String)>> {
    let (program, _) = loyalty::compile::compile(EVENTS_PROGRAM).unwrap();
    loyalty::events::read(&program, format, bytes, "events")
        .map(|r| r.map(|e| e.id).map_err(|r| (r.origin.line, r.reason)))
        .collect()
}

/// A UTF-8 byte order mark, which some editors put at the start of a file.
const BOM: &[u8] = b"\xef\xbb\xbf";

#[test]
fn a_byte_order_mark_before_the_first_record_is_skipped() {
    for (format, text) in TWO_PURCHASES {
        let marked = [BOM, text.as_bytes()].concat();
        assert_eq!(
            read_events(format, &marked),
            [Ok("p1".to_owned()), Ok("p2".to_owned())],
            "{format:?}"
        );
    }
}

#[test]
fn yaml_document_markers_are_read_as_documents_of_one_list() {
    let (_, text) = TWO_PURCHASES[2];
    let (p1, p2) = text.split_at(text.find("- id: p2").unwrap());
    for marked in [
        format!("---\n{text}"),
        format!("---\n{text}...\n"),
        format!("{p1}---\n{p2}"),
        format!("%YAML 1.2\n---\n{p1}...\n---\n{p2}---\n"),
    ] {
        assert_eq!(
            read_events(Format::Yaml, marked.as_bytes()),
            [Ok("p1".to_owned()), Ok("p2".to_owned())],
            "{marked}"
        );
    }
}

#[test]
fn an_unterminated_csv_quote_is_reported_where_it_opened() {
    let (_, text) = TWO_PURCHASES[0];
    let later = "p3,2025-03-03,m1,purchase,7\np4,2025-03-04,m1,purchase,8\n";
    // The quote opens a record's first cell, or its last (the record
    // has as many cells as the header), or ends in an escaped quote.
    for bad in [
        "\"p2,2025-03-02,m1,purchase,6\n",
        "p2,2025-03-02,m1,purchase,\"6\n",
        "p2,2025-03-02,m1,purchase,\"6\"\"\n",
    ] {
        let file = text.replace("p2,2025-03-02,m1,purchase,6\n", bad) + later;
        assert_eq!(
            read_events(Format::Csv, file.as_bytes()),
            [
                Ok("p1".to_owned()),
                Err((
                    3,
                    "a quote opened on line 3 is never closed, so the rest of the file is not read"
                        .to_owned()
                ))
            ],
            "{file}"
        );
    }
}

/// One record of `cells` as a file in `format` (values written as text).
fn one_record(format: Format, cells: &[(&str, &str)]) -> String {
    match format {
        Format::Csv => {
            let (names, values): (Vec<&str>, Vec<&str>) = cells.iter().copied().unzip();
            format!("{}\n{}\n", names.join(","), values.join(","))
        }
        Format::Jsonl => {
            let pairs: Vec<String> = cells.iter().map(|(k, v)| format!("{k:?}: {v:?}")).collect();
            format!("{{{}}}\n", pairs.join(", "))
        }
        Format::Yaml => {
            let pairs: Vec<String> = cells.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            format!("- {}\n", pairs.join("\n  "))
        }
        // Binary: tests/columnar.rs writes them with Arrow's writers, and
        // reads each value as this text.
        Format::Parquet | Format::Arrow => String::new(),
    }
}

#[test]
fn a_reject_quotes_a_few_hundred_bytes_of_a_huge_value() {
    const HUGE: usize = 1 << 20;
    let digits = "9".repeat(HUGE);
    let letters = "x".repeat(HUGE);
    let purchase = |cells: &[(&'static str, &str)]| -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = [
            ("id", "p1"),
            ("time", "2025-03-01"),
            ("member", "m1"),
            ("type", "purchase"),
            ("amount", "5"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (name, value) in cells {
            match all.iter_mut().find(|(k, _)| k == name) {
                Some(cell) => cell.1 = value.to_string(),
                None => all.push((name.to_string(), value.to_string())),
            }
        }
        all
    };
    let cases = [
        purchase(&[("amount", &digits)]),
        purchase(&[("time", &digits)]),
        purchase(&[("type", &letters)]),
        purchase(&[("id", &letters), ("member", &letters), ("amount", "five")]),
        // A field the type does not have, named by a huge name.
        {
            let mut cells = purchase(&[]);
            cells.push((letters.clone(), "1".to_owned()));
            cells
        },
        {
            let mut cells = purchase(&[]);
            cells.push((letters.clone(), "1".to_owned()));
            cells.push((letters.clone(), "2".to_owned()));
            cells
        },
    ];
    let (program, _) = loyalty::compile::compile(EVENTS_PROGRAM).unwrap();
    let mut files: Vec<(Format, String)> = Vec::new();
    for cells in &cases {
        let cells: Vec<(&str, &str)> = cells
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        for format in [Format::Csv, Format::Jsonl, Format::Yaml] {
            files.push((format, one_record(format, &cells)));
        }
    }
    // A YAML list item, or a whole document, that is a huge text.
    files.push((Format::Yaml, format!("- {letters}\n")));
    files.push((Format::Yaml, format!("{letters}\n")));
    for (format, file) in &files {
        let results: Vec<_> =
            loyalty::events::read(&program, *format, file.as_bytes(), "events").collect();
        let [Err(reject)] = &results[..] else {
            panic!("{format:?}: {} results, not one reject", results.len());
        };
        let echoed: Vec<&String> = [&reject.id, &reject.member]
            .into_iter()
            .flatten()
            .chain([&reject.reason])
            .collect();
        for text in &echoed {
            assert!(
                text.len() < 1000,
                "{format:?}: {} bytes echoed: {}",
                text.len(),
                &text[..300]
            );
        }
        // YAML takes no key longer than 1024 bytes: a huge one is an error
        // of syntax, which quotes nothing. A parser's message quoting a
        // huge value is cut as the value would be.
        assert!(
            echoed
                .iter()
                .any(|text| text.contains(&format!("… ({HUGE} bytes)"))
                    || text.starts_with("not a record") && text.ends_with(" bytes)"))
                || reject.reason.ends_with("could not find expected ':'"),
            "{format:?}: {echoed:?}"
        );
    }
}

#[test]
fn deeply_nested_yaml_is_one_reject_naming_the_depth() {
    // Ten thousand levels keep the test quick before the limit too; a
    // hundred thousand took minutes.
    let depth = 10_000;
    let (_, text) = TWO_PURCHASES[2];
    let read = [Ok("p1".to_owned()), Ok("p2".to_owned())];
    let too_deep = |line| {
        Err((
            line,
            format!("not a record (line {line}): lists and maps are nested more than 64 deep"),
        ))
    };
    for (deep, line) in [
        (
            format!("- x: {}1{}\n", "[".repeat(depth), "]".repeat(depth)),
            11,
        ),
        (
            format!("- x: {}1{}\n", "{a: ".repeat(depth), "}".repeat(depth)),
            11,
        ),
        (format!("- {}x\n", "- ".repeat(depth)), 11),
        // A tab between the key's `:` and the collection: the parser reads
        // it as a space, so the depth must be seen through it too.
        (
            format!("- x: \t{}1{}\n", "[".repeat(depth), "]".repeat(depth)),
            11,
        ),
        (
            format!("- x:\t{}1{}\n", "{a: ".repeat(depth), "}".repeat(depth)),
            11,
        ),
        (
            format!("---\n{}1{}\n", "[".repeat(depth), "]".repeat(depth)),
            12,
        ),
    ] {
        let results = read_events(Format::Yaml, format!("{text}{deep}").as_bytes());
        assert_eq!(results[..2], read);
        assert_eq!(results[2..], [too_deep(line)]);
    }
}

#[test]
fn a_field_given_twice_is_one_reject() {
    let cases = [
        (
            Format::Jsonl,
            "{\"id\": \"p1\", \"time\": \"2025-03-01\", \"member\": \"m1\", \"type\": \"purchase\", \
             \"amount\": 5, \"amount\": 6}\n",
            (1, "field `amount` is given twice"),
        ),
        (
            Format::Yaml,
            "- {id: p1, time: 2025-03-01, member: m1, type: purchase, amount: 5, amount: 6}\n",
            (1, "field `amount` is given twice"),
        ),
        (
            Format::Csv,
            "id,time,member,type,amount,amount\np1,2025-03-01,m1,purchase,5,6\n",
            (1, "the header has column `amount` twice"),
        ),
    ];
    for (format, file, (line, reason)) in cases {
        assert_eq!(
            read_events(format, file.as_bytes()),
            [Err((line, reason.to_owned()))],
            "{format:?}"
        );
    }
}

/// Programs that earn, expire, tier, cap and value the `stars` that the
/// records below move, in ways an overflow could reach.
const STAR_PROGRAMS: [&str; 2] = [
    r#"
program "Stars" { currency USD  timezone "America/New_York" }
points stars {
  precision 2
  value 1000000 USD
  expire 12 months after earn
}
tiers by stars earned over calendar year {
  tier green from 0
  tier gold from 1000
}
rule base {
  on purchase
  earn 1000000000000 stars per 0.0000000001 USD of amount
}
rule echo {
  on purchase
  earn 300% of base
  cap 1000000000000000 stars per member per month
}
"#,
    r#"
program "Miles" { currency USD  timezone "UTC" }
points stars {
  expire after 3 months without activity
  transfers
}
rule base {
  on purchase
  earn 2 stars per full 0.01 USD of amount
}
"#,
];

/// Each program of [`STAR_PROGRAMS`] over `events` (inline CSV), sorted and
/// streamed: no panic, and the balance equation holds; the reasons of the
/// rejects of each replay.
fn replay_star_programs(events: &str) -> Vec<Vec<String>> {
    use loyalty::engine::replay::{Options, Order};
    use loyalty::run::{Run, Sinks};
    let events: Vec<&str> = events.lines().map(str::trim).collect();
    let events = events.join("\n");
    let mut rejects = Vec::new();
    for source in STAR_PROGRAMS {
        let program = loyalty::compile::compile(source).unwrap().0;
        for order in [Order::Sort, Order::Stream] {
            let records = loyalty::events::read(&program, Format::Csv, events.as_bytes(), "t");
            let options = Options {
                order,
                until: None,
                strict: false,
            };
            let finished = Run::new(&program, options)
                .replay(Box::new(records), Sinks::none())
                .unwrap();
            for (p, totals) in finished.engine.totals().iter().enumerate() {
                let held: rust_decimal::Decimal = finished
                    .engine
                    .members()
                    .iter()
                    .map(|m| m.wallets[p].balance())
                    .sum();
                assert_eq!(totals.outstanding(), held);
            }
            rejects.push(
                finished
                    .outcome
                    .rejects
                    .iter()
                    .map(|r| r.reason.clone())
                    .collect(),
            );
        }
    }
    rejects
}

#[test]
fn the_largest_amounts_are_rejected_or_applied_never_a_panic() {
    let huge = "79228162514264337593543950335";
    let tiny = "0.0000000000000000000000000001";
    let events = format!(
        "id,time,member,type,amount,points,points_type,reason,of,to
         e1,2025-03-01 09:00,ann,enroll,,,,,,
         e9,2025-03-01 09:00,bob,enroll,,,,,,
         e2,2025-03-02 09:00,ann,purchase,{huge},,,,,
         e3,2025-03-03 09:00,ann,purchase,{tiny},,,,,
         e4,2025-03-03 10:00,ann,purchase,123456789012.34,,,,,
         e5,2025-03-04 09:00,ann,return,{huge},,,,e2,
         e6,2025-03-05 09:00,ann,redeem,,{huge},stars,,,
         e7,2025-03-06 09:00,ann,adjust,,{huge},stars,goodwill,,
         e8,2025-03-07 09:00,ann,adjust,,-{huge},stars,goodwill,,
         e10,2025-03-08 09:00,ann,transfer,,{huge},stars,,,bob
         e11,2026-09-01 09:00,ann,purchase,{huge},,,,,"
    );
    for rejects in replay_star_programs(&events) {
        // The huge records are refused with a reason, none applied half-way
        // (the equation above holds).
        assert!(rejects.len() >= 5, "{rejects:?}");
        assert!(rejects.iter().all(|r| !r.is_empty()));
    }
}

#[test]
fn a_record_millennia_ahead_is_rejected_not_walked_to() {
    let events = "id,time,member,type,amount
                  e1,2025-03-01 09:00,ann,enroll,
                  e2,9999-12-31 23:59,ann,purchase,5
                  e3,2025-03-02 09:00,ann,purchase,5";
    for rejects in replay_star_programs(events) {
        assert!(
            rejects.iter().any(|r| r.contains("is its year mistyped?")),
            "{rejects:?}"
        );
    }
}
