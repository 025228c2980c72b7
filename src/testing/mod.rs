//! `loyalty test`: test files that replay events through a program and
//! check what it did to members, so that every rule change shows its effect
//! in CI before it ships.
//!
//! # Test files
//!
//! A test file is YAML named `*.test.yaml` (or `*.test.yml`), usually next
//! to its program (`programs/bean_stars.test.yaml`). Paths in it are
//! relative to the test file.
//!
//! ```yaml
//! program: bean_stars.loyalty
//! tests:
//!   - name: green members earn a star per dollar
//!     events:                      # inline records, typed like an event file's ...
//!       - {id: e1, time: 2025-01-05 08:00, member: ann, type: enroll, birthday: 1990-06-15}
//!       - {id: e2, time: 2025-01-06 08:15, member: ann, type: purchase, amount: 4.95, channel: store, category: coffee}
//!     until: 2025-01-31            # optional: replay through the end of this day
//!     expect:
//!       balances:                  # member → points type → balance
//!         ann: {stars: 4}
//!       tiers:                     # member → tier
//!         ann: green
//!       ledger:                    # rows that must appear, in this order
//!         - {kind: pend, rule: base, event: e2, amount: 4}
//!       rejects:                   # rejects that must appear, in this order
//!         - {id: e9, reason: beyond the available balance}
//!   - name: the sample history
//!     events: bean_stars.events.csv   # ... or an event file (.csv, .jsonl, .yaml)
//!     snapshot: true
//! ```
//!
//! - `program` and `tests` are required; each test needs a `name` (unique,
//!   also as a file name), `events`, and `expect`, `snapshot: true` or both.
//!   An unknown key, a value of the wrong type, a missing or erroneous
//!   program, an empty file or a test that checks nothing make the file
//!   *broken*: reported with its line and field path (`tests[1].expect:
//!   unknown field ...`), exit code 2. A test that cannot be run (an
//!   unreadable event file, a snapshot that cannot be written, a panic in
//!   loyalty) is an *error* of that test alone, with its line, exit code 2;
//!   the file's other tests still run and are reported.
//! - Inline records are read by the same readers as event files (rendered
//!   as JSON Lines, every value as the text written), so their values are
//!   typed by the program's schemas and a bad one is a reject, as in a run.
//!   A reject from an inline record has `file` `inline` and, as `line`, the
//!   record's place in the list (1 for the first).
//! - `until`: a day (through its end, in the program's zone) or an RFC 3339
//!   instant, as `loyalty run --until`. Without it the clock stops at the
//!   last event.
//! - `balances` compare exactly (`4.50` equals `4.5`): a member's balance
//!   as `members.csv` has it (pending points included, debts subtracted).
//! - `ledger` and `rejects` rows give only the columns they care about, by
//!   the names of `ledger.csv` (`kind`, `member`, `time`, `points`,
//!   `amount`, `balance`, `rule`, `event`, `cost`, `note`, `earned`) and `rejects.csv`
//!   (`file`, `line`, `id`, `member`, `reason`). Each must match a row after
//!   the one matched for the row above it. Numbers compare as numbers;
//!   `note` and `reason` match a part of the text; `time` and `earned` are an RFC 3339
//!   instant, or the start of the local time (`2025-03-01` is any time that
//!   day, `2025-03-01 10:00` that minute).
//!
//! # Snapshots
//!
//! `snapshot: true` compares the whole `ledger.csv`, `rejects.csv` and
//! `summary.json` with `<stem>.snapshots/<name>.snap` beside the test file
//! (see [`snapshot`]). A missing snapshot fails when the `CI` environment
//! variable is set (to anything but empty, `0` or `false`) and is written
//! otherwise; `--update` writes every missing or changed snapshot;
//! `--review` asks about each one, reading the answers from standard input.
//! A changed snapshot fails with the rows that changed, part by part.
//!
//! # Results
//!
//! [`runner`] finds test files and runs them (all their cases, or those a
//! [`runner::Selection`] names, stopping at the first failure if asked),
//! returning results that the CLI prints, [`junit`] writes as JUnit XML and
//! [`json`] as JSON; [`unused`] tells from them the rules no case exercised
//! and the stale snapshots. The whole reference is `docs/testing.md`.

pub mod diff;
pub mod json;
pub mod junit;
pub mod model;
pub mod runner;
pub mod snapshot;
pub mod unused;
