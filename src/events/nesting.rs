//! How deep a YAML text nests its lists and maps, found before the parser
//! reads it: the parser's work grows with the square of the depth of flow
//! collections (`[[[…`, `{a: {a: …`), so a document 100,000 levels deep, a
//! few hundred kilobytes, took minutes. The text is followed token by token
//! as the parser's scanner (libyaml's) follows it, but only as far as
//! nesting goes: where flow collections open and close, where block
//! collections indent, and what hides brackets from both (quoted, block and
//! plain scalars, comments, anchors and tags).

/// The deepest nesting read. A record is a map of single values in a list,
/// two levels deep.
pub(super) const MAX_DEPTH: usize = 64;

/// The 1-based line (counting `\n` line ends) on which `text` first nests
/// lists and maps more than [`MAX_DEPTH`] deep, if it does.
pub(super) fn too_deep(text: &[u8]) -> Option<usize> {
    let mut scanner = Scanner::new(text);
    while scanner.token() {
        if scanner.deepest > MAX_DEPTH {
            return Some(scanner.line);
        }
    }
    None
}

/// A block collection: the column it is indented to, as the scanner's
/// indentation stack keeps it.
#[derive(Debug, Clone, Copy)]
struct Indent {
    column: usize,
    /// A map (rather than a list) at this column.
    map: bool,
    /// A map holding a list at its own column (`key:` then `- item` lines
    /// under it, not indented), which the scanner does not indent for.
    list_inside: bool,
}

/// A token outside flow collections that may be the key of a block map,
/// if a `:` follows it on its line. (Flow collections have keys of their
/// own, which do not indent.)
#[derive(Debug, Clone, Copy)]
struct Key {
    line: usize,
    at: usize,
    column: usize,
    /// How deep the flow collections in it nest (a key may be `[a, b]`),
    /// inside the map it turns out to start.
    nesting: usize,
}

/// An open flow collection.
#[derive(Debug, Clone, Copy)]
struct Flow {
    /// A list (`[`) rather than a map (`{`).
    list: bool,
    /// Whether its current entry is a pair (`a: b`, `? a`), which in a list
    /// is a map of its own.
    pair: bool,
    /// How deep the flow collections closed in its current entry nest.
    entry: usize,
    /// How deep its entries nest, the deepest so far.
    entries: usize,
}

impl Flow {
    /// How deep it nests, itself included.
    fn nesting(&self) -> usize {
        1 + self.entries
    }

    fn note_entry(&mut self) {
        self.entries = self
            .entries
            .max(usize::from(self.pair && self.list) + self.entry);
    }
}

/// libyaml's scanner, reduced to what nesting needs.
struct Scanner<'t> {
    text: &'t [u8],
    at: usize,
    /// The line of `at`, counting `\n` line ends.
    line: usize,
    /// The column of `at`, in characters since the last line break.
    column: usize,
    /// The open block collections, innermost last.
    indents: Vec<Indent>,
    /// The open flow collections, innermost last.
    flows: Vec<Flow>,
    /// Whether a key may start at the next token.
    key_allowed: bool,
    key: Option<Key>,
    /// The deepest nesting so far.
    deepest: usize,
}

impl<'t> Scanner<'t> {
    fn new(text: &'t [u8]) -> Self {
        Scanner {
            text,
            at: 0,
            line: 1,
            column: 0,
            indents: Vec::new(),
            flows: Vec::new(),
            key_allowed: true,
            key: None,
            deepest: 0,
        }
    }

    /// Notes the nesting where the scanner is, `inner` levels more. (The
    /// scanner stops a little past [`MAX_DEPTH`], so counting the levels
    /// each time is cheap.)
    fn reach(&mut self, inner: usize) {
        let lists_inside = self.indents.iter().filter(|i| i.list_inside).count();
        let pairs = self.flows.iter().filter(|f| f.pair && f.list).count();
        let depth = self.indents.len() + lists_inside + self.flows.len() + pairs + inner;
        self.deepest = self.deepest.max(depth);
    }

    fn in_flow(&self) -> bool {
        !self.flows.is_empty()
    }

    /// A `:` or `?` in a flow collection: its entry is a pair.
    fn pair(&mut self) {
        if let Some(flow) = self.flows.last_mut() {
            flow.pair = true;
            flow.note_entry();
            // In a list, the pair is a map that holds what came before.
            let entry = flow.entry;
            self.reach(entry);
        }
    }

    fn byte(&self, ahead: usize) -> Option<u8> {
        self.text.get(self.at + ahead).copied()
    }

    fn is(&self, ahead: usize, byte: u8) -> bool {
        self.byte(ahead) == Some(byte)
    }

    /// The length of the line break `ahead` bytes on, 0 if there is none:
    /// `\r\n`, `\r`, `\n`, and the Unicode ones (NEL, LS, PS).
    fn line_break(&self, ahead: usize) -> usize {
        let rest = self.text.get(self.at + ahead..).unwrap_or_default();
        match rest {
            [b'\r', b'\n', ..] => 2,
            [b'\r' | b'\n', ..] => 1,
            [0xc2, 0x85, ..] => 2,
            [0xe2, 0x80, 0xa8 | 0xa9, ..] => 3,
            _ => 0,
        }
    }

    fn is_blank(&self, ahead: usize) -> bool {
        matches!(self.byte(ahead), Some(b' ' | b'\t'))
    }

    /// A space, a tab, a line break or the end.
    fn is_blank_or_end(&self, ahead: usize) -> bool {
        self.byte(ahead).is_none() || self.is_blank(ahead) || self.line_break(ahead) > 0
    }

    fn advance(&mut self, bytes: usize) {
        let end = (self.at + bytes).min(self.text.len());
        let passed = self.text.get(self.at..end).unwrap_or_default();
        // Count characters: every byte but UTF-8 continuation bytes.
        self.column += passed.iter().filter(|b| (**b & 0xc0) != 0x80).count();
        self.at = end;
    }

    /// Passes the line break at `at`, if there is one.
    fn pass_line_break(&mut self) -> bool {
        let length = self.line_break(0);
        if length == 0 {
            return false;
        }
        let passed = self.text.get(self.at..self.at + length).unwrap_or_default();
        self.line += usize::from(passed.contains(&b'\n'));
        self.at += length;
        self.column = 0;
        true
    }

    fn pass_to_line_end(&mut self) {
        while self.byte(0).is_some() && self.line_break(0) == 0 {
            self.advance(1);
        }
    }

    /// A document marker (`---`, `...`) at the start of a line.
    fn at_marker(&self) -> bool {
        self.column == 0
            && (self.text.get(self.at..self.at + 3) == Some(b"---")
                || self.text.get(self.at..self.at + 3) == Some(b"..."))
            && self.is_blank_or_end(3)
    }

    fn indent(&self) -> isize {
        self.indents
            .last()
            .map_or(-1, |i| isize::try_from(i.column).unwrap_or(isize::MAX))
    }

    /// A block collection starting at `column`: a new level if it is
    /// indented more than the innermost one.
    fn roll(&mut self, column: usize, map: bool) {
        if self.in_flow() {
            return;
        }
        if self.indent() < isize::try_from(column).unwrap_or(isize::MAX) {
            self.indents.push(Indent {
                column,
                map,
                list_inside: false,
            });
        } else if let Some(top) = self.indents.last_mut().filter(|top| top.column == column) {
            // At a map's own column, a list item opens a list inside it,
            // and a key ends that list.
            if top.map {
                top.list_inside = !map;
            }
        }
    }

    /// Leaves the block collections indented more than `column`.
    fn unroll(&mut self, column: isize) {
        while self.indent() > column {
            self.indents.pop();
        }
    }

    /// Passes spaces, comments and line breaks to the next token.
    fn pass_to_token(&mut self) {
        loop {
            if self.column == 0 && self.text.get(self.at..self.at + 3) == Some(b"\xef\xbb\xbf") {
                self.at += 3;
            }
            // libyaml passes a tab only inside flow collections or where no
            // key may start; the parser serde reads with also passes one
            // after a block key's `:` (`a: \t{}` is a map in a map). A tab
            // passed where the parser would stop cannot hide nesting from
            // this count, so every tab is passed.
            while self.is(0, b' ') || self.is(0, b'\t') {
                self.advance(1);
            }
            if self.is(0, b'#') {
                self.pass_to_line_end();
            }
            if !self.pass_line_break() {
                return;
            }
            if !self.in_flow() {
                self.key_allowed = true;
            }
        }
    }

    /// Notes the next token as one that may be a key.
    fn may_be_key(&mut self) {
        if !self.in_flow() && self.key_allowed {
            self.key = Some(Key {
                line: self.line,
                at: self.at,
                column: self.column,
                nesting: 0,
            });
        }
    }

    /// Notes that no key outside flow collections is pending.
    fn no_key(&mut self) {
        if !self.in_flow() {
            self.key = None;
        }
    }

    /// Reads the next token; `false` at the end.
    fn token(&mut self) -> bool {
        self.pass_to_token();
        let Some(byte) = self.byte(0) else {
            return false;
        };
        if !self.in_flow() {
            self.unroll(isize::try_from(self.column).unwrap_or(isize::MAX));
        }
        // A key must end on its line, within 1024 bytes.
        self.key = self
            .key
            .filter(|key| key.line == self.line && self.at <= key.at + 1024);
        if self.column == 0 && byte == b'%' {
            self.pass_to_line_end();
            return true;
        }
        if self.at_marker() {
            self.unroll(-1);
            self.key = None;
            self.key_allowed = false;
            self.advance(3);
            return true;
        }
        match byte {
            b'[' | b'{' => {
                self.may_be_key();
                self.flows.push(Flow {
                    list: byte == b'[',
                    pair: false,
                    entry: 0,
                    entries: 0,
                });
                self.key_allowed = true;
                self.advance(1);
            }
            b']' | b'}' => {
                self.no_key();
                if let Some(closed) = self.flows.pop() {
                    let nesting = closed.nesting();
                    match (self.flows.last_mut(), &mut self.key) {
                        (Some(flow), _) => {
                            flow.entry = flow.entry.max(nesting);
                            flow.note_entry();
                        }
                        (None, Some(key)) => key.nesting = key.nesting.max(nesting),
                        (None, None) => {}
                    }
                }
                self.key_allowed = false;
                self.advance(1);
            }
            b',' => {
                self.no_key();
                if let Some(flow) = self.flows.last_mut() {
                    flow.pair = false;
                    flow.entry = 0;
                }
                self.key_allowed = true;
                self.advance(1);
            }
            b'-' if self.is_blank_or_end(1) => {
                self.roll(self.column, false);
                self.no_key();
                self.key_allowed = true;
                self.advance(1);
            }
            b'?' if self.in_flow() || self.is_blank_or_end(1) => {
                self.roll(self.column, true);
                self.pair();
                self.no_key();
                self.key_allowed = !self.in_flow();
                self.advance(1);
            }
            b':' if self.in_flow() || self.is_blank_or_end(1) => {
                let key = if !self.in_flow() {
                    self.key.take()
                } else {
                    None
                };
                self.roll(key.map_or(self.column, |key| key.column), true);
                self.reach(key.map_or(0, |key| key.nesting));
                self.pair();
                self.key_allowed = !self.in_flow();
                self.advance(1);
            }
            b'*' | b'&' => {
                self.may_be_key();
                self.key_allowed = false;
                self.advance(1);
                while self
                    .byte(0)
                    .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    self.advance(1);
                }
            }
            b'!' => {
                self.may_be_key();
                self.key_allowed = false;
                while !self.is_blank_or_end(0) {
                    self.advance(1);
                }
            }
            b'|' | b'>' if !self.in_flow() => {
                self.no_key();
                self.key_allowed = true;
                self.block_scalar();
            }
            b'\'' | b'"' => {
                self.may_be_key();
                self.key_allowed = false;
                self.quoted(byte);
            }
            _ => {
                self.may_be_key();
                self.key_allowed = self.plain();
            }
        }
        self.reach(0);
        true
    }

    /// A quoted scalar, which may span lines.
    fn quoted(&mut self, quote: u8) {
        self.advance(1);
        while let Some(byte) = self.byte(0) {
            if self.at_marker() {
                return;
            }
            if quote == b'\'' && byte == b'\'' {
                // Two single quotes are one.
                let doubled = self.is(1, b'\'');
                self.advance(if doubled { 2 } else { 1 });
                if !doubled {
                    return;
                }
            } else if quote == b'"' && byte == b'\\' {
                self.advance(1);
                if !self.pass_line_break() {
                    self.advance(1);
                }
            } else if byte == quote {
                self.advance(1);
                return;
            } else if !self.pass_line_break() {
                self.advance(1);
            }
        }
    }

    /// A plain scalar, which in a block may go on over lines indented more
    /// than its collection; whether it passed a line break.
    fn plain(&mut self) -> bool {
        let indent = self.indent() + 1;
        let mut passed_break = false;
        loop {
            if self.at_marker() || self.is(0, b'#') {
                break;
            }
            while !self.is_blank_or_end(0) {
                let flow_indicator = |b| matches!(b, Some(b',' | b'[' | b']' | b'{' | b'}'));
                let value = self.is(0, b':')
                    && (self.is_blank_or_end(1)
                        || self.in_flow() && (flow_indicator(self.byte(1)) || self.is(1, b'?')));
                if value || self.in_flow() && flow_indicator(self.byte(0)) {
                    return passed_break;
                }
                self.advance(1);
            }
            if self.byte(0).is_none() {
                break;
            }
            while self.is_blank(0) || self.line_break(0) > 0 {
                if self.is_blank(0) {
                    self.advance(1);
                } else {
                    self.pass_line_break();
                    passed_break = true;
                }
            }
            if !self.in_flow() && isize::try_from(self.column).unwrap_or(isize::MAX) < indent {
                break;
            }
        }
        passed_break
    }

    /// A block scalar (`|` or `>`): its header, then every line indented
    /// to its content's indentation, and the blank lines between.
    fn block_scalar(&mut self) {
        self.advance(1);
        let mut increment = 0;
        for _ in 0..2 {
            match self.byte(0) {
                Some(b'+' | b'-') => self.advance(1),
                Some(digit @ b'1'..=b'9') => {
                    increment = usize::from(digit - b'0');
                    self.advance(1);
                }
                _ => break,
            }
        }
        self.pass_to_line_end();
        if !self.pass_line_break() {
            return;
        }
        let parent = self.indent();
        let mut indent = match increment {
            0 => 0,
            _ => usize::try_from(parent.max(0)).unwrap_or(0) + increment,
        };
        self.block_scalar_breaks(&mut indent, parent);
        while self.column == indent && self.byte(0).is_some() {
            self.pass_to_line_end();
            if !self.pass_line_break() {
                return;
            }
            self.block_scalar_breaks(&mut indent, parent);
        }
    }

    /// The indentation and blank lines before a block scalar's next line;
    /// the content's indentation, once known.
    fn block_scalar_breaks(&mut self, indent: &mut usize, parent: isize) {
        let mut widest = 0;
        loop {
            while (*indent == 0 || self.column < *indent) && self.is(0, b' ') {
                self.advance(1);
            }
            widest = widest.max(self.column);
            if !self.pass_line_break() {
                break;
            }
        }
        if *indent == 0 {
            let below = usize::try_from(parent + 1).unwrap_or(0);
            *indent = widest.max(below).max(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The deepest nesting of `text`.
    fn deepest(text: &str) -> usize {
        let mut scanner = Scanner::new(text.as_bytes());
        while scanner.token() {}
        scanner.deepest
    }

    #[test]
    fn records_are_two_deep() {
        let cases = [
            ("- id: a\n  time: 2025-03-01\n- id: b\n", 2),
            ("- {id: a, time: '2025-03-01'}\n- {id: b}\n", 2),
            ("[{id: a}, {id: b}]\n", 2),
            ("  - id: a\n    amount: 5\n", 2),
            ("---\n- id: a\n...\n", 2),
            ("events:\n- id: a\n", 3),
            (
                "- id: a\n  note: |\n    [[[[ {{{{\n    \"\n  amount: 5\n",
                2,
            ),
            ("- id: a\n  note: >2\n     [[[[\n  amount: 5\n", 2),
            (
                "- id: a\n  note: x [[[[ {{{{ \"\n    [[[[ '\n  amount: 5\n",
                2,
            ),
            (
                "- id: a\n  note: \"[[[[\\\" {{{{\n    [[[[\"\n  amount: 5\n",
                2,
            ),
            ("- id: a\n  note: 'it''s [[[[\n    {{{{'\n", 2),
            ("- id: a # [[[[\n  # {{{{\n  note: it's\n", 2),
            ("- &x id: !t a\n  b: *x\n", 2),
        ];
        for (text, depth) in cases {
            assert_eq!(deepest(text), depth, "{text}");
        }
    }

    #[test]
    fn flow_and_block_collections_nest() {
        let cases = [
            ("[[[[]]]]", 4),
            ("{a: {a: {a: 1}}}", 3),
            ("- - - - x", 4),
            ("a:\n  b:\n    c:\n      d: 1\n", 4),
            ("a:\n- b:\n  - c\n", 4),
            ("- a: [{b: [c, {d: e}]}]\n", 6),
            // A flow collection may be a key, and hold keys of its own.
            ("[a]: [b]\n", 2),
            ("{a: b}: c\n", 2),
            ("- [a]: b\n", 3),
            // A pair in a flow list is a map in it.
            ("[? a, ]", 2),
            ("[[a]: b, c]", 3),
            ("[a:b]", 1),
            // Brackets after a comment that a break other than `\n` ends.
            ("[#\r[#\u{2028}[[]]]]", 4),
            ("[a,#]]]\n[[]]]", 3),
        ];
        for (text, depth) in cases {
            assert_eq!(deepest(text), depth, "{text}");
        }
    }

    #[test]
    fn the_line_past_the_limit_is_found() {
        let deep = format!("- id: a\n  x: {}\n", "[".repeat(MAX_DEPTH));
        assert_eq!(too_deep(deep.as_bytes()), Some(2));
        let within = format!("- x: {}\n", "[".repeat(MAX_DEPTH - 2));
        assert_eq!(too_deep(within.as_bytes()), None);
        let deep = format!("- x: \"\n\n\"\n  y: {}", "{a: ".repeat(MAX_DEPTH));
        assert_eq!(too_deep(deep.as_bytes()), Some(4));
    }

    /// How deep a parsed value nests.
    fn depth_of(value: &serde_norway::Value) -> usize {
        use serde_norway::Value;
        match value {
            Value::Sequence(items) => 1 + items.iter().map(depth_of).max().unwrap_or(0),
            Value::Mapping(map) => {
                1 + map
                    .iter()
                    .map(|(key, value)| depth_of(key).max(depth_of(value)))
                    .max()
                    .unwrap_or(0)
            }
            Value::Tagged(tagged) => depth_of(&tagged.value),
            _ => 0,
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Whatever the parser reads, it finds it nested no deeper than
        /// the scanner does.
        #[test]
        fn the_parser_finds_no_deeper_nesting(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    "[", "]", "{", "}", ", ", ": ", ":", "- ", "? ", "\n", "\n  ", "\n    ",
                    "\r", " ", "a", "b ", "#", "\"", "'", "\\", "|", ">", "|2", "&x ",
                    "!t ", "---\n", "...\n", "\t",
                ]),
                0..30,
            ),
        ) {
            let text = pieces.concat();
            if let Ok(value) = serde_norway::from_str::<serde_norway::Value>(&text) {
                proptest::prop_assert!(
                    depth_of(&value) <= deepest(&text),
                    "{text:?}: {} > {}", depth_of(&value), deepest(&text)
                );
            }
        }
    }
}
