//! Syntax errors, several per file: the parser recovers at the next
//! top-level block and reports each block's first error, and the help
//! knows the block an error is in (a statement written in a block that
//! does not take it says where it belongs).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use loyalty::diagnostic::Diagnostic;

/// The syntax errors of `source`: each one's line and help.
fn errors(source: &str) -> Vec<(usize, Option<String>)> {
    loyalty::check_source(source)
        .iter()
        .filter(|d| d.code == "syntax")
        .map(|d: &Diagnostic| (d.to_record("t.loyalty", source).line, d.help.clone()))
        .collect()
}

const HEAD: &str = "program \"T\" {\n  currency USD\n  timezone \"UTC\"\n}\n";

#[test]
fn each_broken_block_is_reported_once_and_the_sound_ones_not_at_all() {
    let source = format!(
        "{HEAD}
points stars {{
  cap 500 stars per event
}}

rule base {{
  on purchase
  earn 1 stars per 1 USD of amount
}}

rule broken {{
  on purchase where amount >
}}

reward mug {{
  price 100 stars
}}

tiers by sum of amount over calendar year {{
  tier blue from 0
  tier gold from 1000 USD
}}
"
    );
    let lines: Vec<usize> = errors(&source).iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, [7, 17, 25]);
}

#[test]
fn one_error_is_one_error() {
    let source = format!("{HEAD}\nrule base {{\n  on purchase\n  earn 1 stars per 1 USD of\n}}\n");
    assert_eq!(errors(&source).len(), 1);
    // A program that parses has no syntax errors at all.
    let fine = format!("{HEAD}\npoints stars\nrule base {{\n  on purchase\n  earn 1 stars\n}}\n");
    assert!(loyalty::syntax::syntax_errors(&fine).is_empty());
}

#[test]
fn the_help_knows_the_block() {
    let source = format!(
        "{HEAD}
points stars {{
  cap 500 stars per event
}}

rule base {{
  on purchase
  earn 1 stars per 1 USD of amount
  pending 14 days
}}

rule double {{
  on purchase
  earn 1 stars per 1 USD of amount
  round down
  times tier {{ gold: 2 }}
}}

tiers by sum of amount over calendar year {{
  tier blue from 0
  tier gold from 1000 USD
}}
"
    );
    let helps: Vec<String> = errors(&source)
        .into_iter()
        .map(|(_, help)| help.unwrap())
        .collect();
    assert_eq!(
        helps,
        [
            "a points type's cap counts what every rule pays and names no type, `cap 500 per member per day`; to cap one rule's award, write the cap in the `rule` block",
            "`pending` is a statement of `points`: write it in a `points` block, not in `rule`",
            "`times` multiplies an `earn`: end the `earn` statement with it, `earn 1 stars per 1 USD of amount times tier { gold: 2 }`, before `round` and the rest",
            "a threshold is a plain number in its measure's unit (a sum of amounts is in the program's currency already): write it without `USD`",
        ]
    );
}

/// Each block's header, its statements, and a program around it.
const BLOCKS: [(&str, &str, &[&str]); 6] = [
    (
        "program",
        "program \"T\" {",
        &[
            "currency",
            "timezone",
            "effective",
            "on",
            "accept",
            "reject",
        ],
    ),
    (
        "points",
        "points stars {",
        &[
            "precision",
            "value",
            "breakage",
            "pending",
            "expire",
            "qualifying",
            "transfers",
            "pool",
            "redeem",
            "cap",
        ],
    ),
    (
        "tiers",
        "tiers by stars over calendar year {",
        &[
            "measure",
            "tier",
            "upgrade",
            "downgrade",
            "lifetime",
            "rollover",
        ],
    ),
    (
        "rule",
        "rule r {",
        &[
            "on",
            "earn",
            "cap",
            "limit",
            "budget",
            "round",
            "exclusive",
            "during",
            "min",
            "stop",
            "multiply",
            "expire",
        ],
    ),
    ("perk", "perk p for all tiers {", &["limit", "cost"]),
    ("reward", "reward m {", &["price", "cost"]),
];

#[test]
fn a_statement_in_a_block_that_does_not_take_it_is_sent_where_it_belongs() {
    for (block, header, own) in BLOCKS {
        for (home, _, theirs) in BLOCKS {
            for word in theirs.iter().filter(|w| !own.contains(w)) {
                let source = format!("{header}\n  {word} x\n}}\n");
                let found = errors(&source);
                let help = found
                    .first()
                    .and_then(|(_, help)| help.clone())
                    .unwrap_or_default();
                // The first block that takes it is named (`limit` is a rule's
                // and a perk's; `cost` a perk's and a reward's).
                let first_home = BLOCKS
                    .iter()
                    .find(|(_, _, words)| words.contains(word))
                    .map(|(b, _, _)| *b)
                    .unwrap();
                assert!(
                    help.ends_with(&format!(
                        "write it in a `{first_home}` block, not in `{block}`"
                    )),
                    "`{word}` in `{block}` (a `{home}` statement): {found:?}"
                );
            }
        }
    }
}
