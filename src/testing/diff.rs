//! Differences for people: what a test expected against what the run gave,
//! line by line. `-` lines are expected, `+` lines are actual, as in a
//! snapshot review; on a terminal they are red and green.

use anstyle::{AnsiColor, Style};
use serde::Serialize;

/// What a line of a difference shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tag {
    /// Expected, and not in the actual result.
    Expected,
    /// In the actual result, and not expected.
    Actual,
    /// The same on both sides, shown for context.
    Same,
    /// A heading: which part or which lines follow.
    Heading,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    pub tag: Tag,
    pub text: String,
}

/// A difference: lines in the order they are read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Diff(pub Vec<Line>);

/// Lines of context kept around each change.
const CONTEXT: usize = 2;

impl Diff {
    pub fn push(&mut self, tag: Tag, text: impl Into<String>) {
        self.0.push(Line {
            tag,
            text: text.into(),
        });
    }

    /// The changed lines of `expected` against `actual`, with context, each
    /// group of changes after a heading that gives its first line number
    /// in `actual` (counted from `first_line`) with `name`.
    pub fn between(expected: &str, actual: &str, name: &str, first_line: usize) -> Diff {
        let diff = similar::TextDiff::from_lines(expected, actual);
        let mut lines = Diff::default();
        for group in diff.grouped_ops(CONTEXT) {
            let start = group.first().map_or(0, |op| op.new_range().start);
            lines.push(
                Tag::Heading,
                format!("@@ {name} line {} @@", start + first_line),
            );
            for op in &group {
                for change in diff.iter_changes(op) {
                    let tag = match change.tag() {
                        similar::ChangeTag::Delete => Tag::Expected,
                        similar::ChangeTag::Insert => Tag::Actual,
                        similar::ChangeTag::Equal => Tag::Same,
                    };
                    lines.push(tag, change.value().trim_end_matches(['\n', '\r']));
                }
            }
        }
        lines
    }

    /// How many lines are only expected, and how many only actual.
    pub fn counts(&self) -> (usize, usize) {
        let count = |tag| self.0.iter().filter(|l| l.tag == tag).count();
        (count(Tag::Expected), count(Tag::Actual))
    }

    /// The lines as text, each ending in a newline and indented by `indent`
    /// spaces, coloured when `color` is set.
    pub fn render(&self, indent: usize, color: bool) -> String {
        let pad = " ".repeat(indent);
        let mut out = String::new();
        for line in &self.0 {
            let (mark, style) = match line.tag {
                Tag::Expected => ("- ", AnsiColor::Red.on_default()),
                Tag::Actual => ("+ ", AnsiColor::Green.on_default()),
                Tag::Same => ("  ", Style::new().dimmed()),
                Tag::Heading => ("", AnsiColor::Cyan.on_default()),
            };
            if color {
                out.push_str(&format!(
                    "{pad}{}{mark}{}{}\n",
                    style.render(),
                    line.text,
                    style.render_reset()
                ));
            } else {
                out.push_str(&format!("{pad}{mark}{}\n", line.text));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_lines_are_marked_with_context_and_their_place() {
        let expected = "a\nb\nc\nd\ne\nf\ng\n";
        let actual = "a\nb\nc\nD\ne\nf\ng\nh\n";
        let diff = Diff::between(expected, actual, "x.csv", 1);
        assert_eq!(
            diff.render(0, false),
            "@@ x.csv line 2 @@\n  b\n  c\n- d\n+ D\n  e\n  f\n  g\n+ h\n"
        );
        assert_eq!(diff.counts(), (1, 2));
    }

    #[test]
    fn colour_only_when_asked() {
        let mut diff = Diff::default();
        diff.push(Tag::Expected, "old");
        diff.push(Tag::Actual, "new");
        assert_eq!(diff.render(2, false), "  - old\n  + new\n");
        assert_eq!(
            diff.render(0, true),
            "\x1b[31m- old\x1b[0m\n\x1b[32m+ new\x1b[0m\n"
        );
    }

    #[test]
    fn equal_texts_differ_in_nothing() {
        assert!(Diff::between("a\nb\n", "a\nb\n", "x", 1).0.is_empty());
    }
}
