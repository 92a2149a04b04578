//! `$regex` / `$regexi` as DFAs. With feature `compiler` a pattern is parsed
//! (regex-syntax), determinized and minimized (regex-automata's builder) once, when the
//! condition is compiled, and the DFA is flattened into a small table of our own: byte
//! classes, one row of next states per state, a flag byte per state. Bundles carry that
//! table, and every build (native, full and slim wasm) runs the same few-line loop over
//! it, so they answer alike and a loader links no regex crate at all. Loading a table
//! checks every index in it and compiles nothing.
//!
//! Semantics: `.` and classes match whole characters; `\d`, `\w`, `\s` and the word
//! boundaries (`\b`, `\B`, `\<`, `\>`, `\b{start}`, ...) are ASCII-only, as in
//! JavaScript; case-insensitive matching uses Unicode's simple case folding.

use crate::wire::{put_varint, Reader};

/// Largest serialized DFA a pattern may compile to; larger patterns are rejected at
/// compile time (they would bloat every bundle that carries them).
pub const MAX_DFA_BYTES: usize = 16 * 1024;

/// Flag: reaching this state means the pattern matched (just before the last byte read,
/// or at the end of the text for the end-of-text column).
const MATCH: u8 = 1;
/// Flag: no match can follow from this state.
const DEAD: u8 = 2;

/// A compiled pattern: a DFA over byte classes, searched unanchored (a match anywhere
/// counts).
///
/// INVARIANT (checked by [`Regex::from_bytes`]): `classes` entries are `< stride - 1`,
/// `next` has `flags.len() * stride` entries, each `< flags.len()`, and `start <
/// flags.len()`. The last column of each row is the end-of-text transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Regex {
    /// Byte → class; bytes of one class behave alike in every state.
    classes: [u8; 256],
    /// Classes per row, plus one for the end-of-text column.
    stride: usize,
    start: u16,
    /// `next[state * stride + class]`.
    next: Vec<u16>,
    /// [`MATCH`] / [`DEAD`] per state.
    flags: Vec<u8>,
}

impl Regex {
    /// True when the pattern matches somewhere in `haystack`.
    pub fn is_match(&self, haystack: &str) -> bool {
        let mut state = self.start;
        for &byte in haystack.as_bytes() {
            let class = self.classes.get(usize::from(byte)).map_or(0, |c| usize::from(*c));
            state = self.step(state, class);
            match self.flags.get(usize::from(state)).copied().unwrap_or(DEAD) {
                MATCH => return true,
                DEAD => return false,
                _ => {}
            }
        }
        let end = self.step(state, self.stride - 1);
        self.flags.get(usize::from(end)).is_some_and(|f| f & MATCH != 0)
    }

    fn step(&self, state: u16, class: usize) -> u16 {
        // Indices are checked when the table is loaded; a miss reads as the dead end.
        self.next.get(usize::from(state) * self.stride + class).copied().unwrap_or(u16::MAX)
    }

    /// The table in its binary form: state count, class count, start state, the byte
    /// classes as runs (class, length − 1), the flags, then the rows, all varints.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.next.len() + 64);
        put_varint(&mut out, self.flags.len() as u64);
        put_varint(&mut out, (self.stride - 1) as u64);
        put_varint(&mut out, u64::from(self.start));
        let mut runs: Vec<(u8, u8)> = Vec::new();
        for (byte, &class) in self.classes.iter().enumerate() {
            match runs.last_mut() {
                Some((last, extra)) if *last == class && byte > 0 => *extra += 1,
                _ => runs.push((class, 0u8)),
            }
        }
        put_varint(&mut out, runs.len() as u64);
        for (class, extra) in runs {
            out.extend([class, extra]);
        }
        out.extend_from_slice(&self.flags);
        for &next in &self.next {
            put_varint(&mut out, u64::from(next));
        }
        out
    }

    /// Reads [`Regex::to_bytes`]' output, checking every index; `None` when the bytes are
    /// not exactly one valid table.
    pub fn from_bytes(bytes: &[u8]) -> Option<Regex> {
        let mut r = Reader::new(bytes);
        let states = r.len().ok()?;
        let class_count = r.len().ok()?;
        let start = u16::try_from(r.uint().ok()?).ok()?;
        if states == 0 || states > usize::from(u16::MAX) || class_count == 0 || class_count > 256 {
            return None;
        }
        let mut classes = [0u8; 256];
        let mut filled = 0usize;
        for _ in 0..r.len().ok()? {
            let (class, extra) = (r.byte().ok()?, usize::from(r.byte().ok()?));
            if usize::from(class) >= class_count {
                return None;
            }
            classes.get_mut(filled..=filled + extra)?.fill(class);
            filled += extra + 1;
        }
        let stride = class_count + 1;
        let flags = r.take(states).ok()?.to_vec();
        let cells = states.checked_mul(stride)?;
        if cells > r.remaining() || usize::from(start) >= states || filled != 256 {
            return None;
        }
        let mut next = Vec::with_capacity(cells);
        for _ in 0..cells {
            let to = u16::try_from(r.uint().ok()?).ok()?;
            if usize::from(to) >= states {
                return None;
            }
            next.push(to);
        }
        r.is_empty().then_some(Regex { classes, stride, start, next, flags })
    }
}

/// Why a pattern did not compile.
#[cfg(feature = "compiler")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum BuildError {
    /// The pattern is not a valid regular expression (the reason, on one line).
    Syntax(String),
    /// Its DFA would exceed [`MAX_DFA_BYTES`].
    TooLarge,
}

#[cfg(feature = "compiler")]
mod build {
    use regex_automata::dfa::{dense, StartKind};
    use regex_automata::nfa::thompson::{self, WhichCaptures};
    use regex_syntax::ast::{
        self, Assertion, AssertionKind, Ast, ClassAscii, ClassAsciiKind, ClassBracketed, ClassPerl, ClassPerlKind,
        ClassSet, ClassSetItem, Flag, Flags, FlagsItem, FlagsItemKind, Group, GroupKind,
    };
    use regex_syntax::hir::translate::TranslatorBuilder;

    use std::collections::HashMap;

    use regex_automata::dfa::Automaton;
    use regex_automata::util::{primitives::StateID, start};
    use regex_automata::Anchored;

    use super::{BuildError, Regex, DEAD, MATCH, MAX_DFA_BYTES};

    /// Deepest nesting of groups, classes and repetitions a pattern may have.
    const NEST_LIMIT: u32 = 64;
    /// Budget for the intermediate NFA and dense DFA (the sparse result is smaller).
    const BUILD_LIMIT: usize = 1 << 20;

    fn syntax(e: &dyn std::fmt::Display) -> BuildError {
        let text = e.to_string();
        let line = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
        BuildError::Syntax(if line.is_empty() { "invalid pattern".to_owned() } else { line })
    }

    impl Regex {
        /// Compiles `pattern`; `fold` makes it case-insensitive.
        pub(in crate::condition) fn build(pattern: &str, fold: bool) -> Result<Regex, BuildError> {
            let regex = flatten(&dense_dfa(pattern, fold)?)?;
            if regex.to_bytes().len() > MAX_DFA_BYTES {
                return Err(BuildError::TooLarge);
            }
            Ok(regex)
        }
    }

    /// The minimized DFA of `pattern`, searched unanchored.
    pub(super) fn dense_dfa(pattern: &str, fold: bool) -> Result<dense::DFA<Vec<u32>>, BuildError> {
        let mut tree =
            ast::parse::ParserBuilder::new().nest_limit(NEST_LIMIT).build().parse(pattern).map_err(|e| syntax(&e))?;
        ascii_only(&mut tree)?;
        let hir = TranslatorBuilder::new()
            .unicode(true)
            .utf8(true)
            .case_insensitive(fold)
            .build()
            .translate(pattern, &tree)
            .map_err(|e| syntax(&e))?;
        let nfa = thompson::Compiler::new()
            .configure(
                thompson::Config::new()
                    .nfa_size_limit(Some(BUILD_LIMIT))
                    .shrink(true)
                    .which_captures(WhichCaptures::None),
            )
            .build_from_hir(&hir)
            .map_err(|e| if e.size_limit().is_some() { BuildError::TooLarge } else { syntax(&e) })?;
        dense::Builder::new()
            .configure(
                dense::Config::new()
                    .start_kind(StartKind::Unanchored)
                    .minimize(true)
                    .accelerate(false)
                    .dfa_size_limit(Some(BUILD_LIMIT))
                    .determinize_size_limit(Some(BUILD_LIMIT)),
            )
            .build_from_nfa(&nfa)
            .map_err(|e| if e.is_size_limit_exceeded() { BuildError::TooLarge } else { syntax(&e) })
    }

    /// The DFA as our table: the states reachable from the unanchored start, numbered
    /// breadth first, each with its next state per byte and at the end of the text; then
    /// bytes whose column is the same in every state share a class.
    fn flatten(dfa: &dense::DFA<Vec<u32>>) -> Result<Regex, BuildError> {
        let config = start::Config::new().anchored(Anchored::No);
        let start = dfa.start_state(&config).map_err(|e| syntax(&e))?;
        let mut ids = vec![start];
        let mut numbers = HashMap::from([(start, 0u16)]);
        let mut number = |id: StateID, ids: &mut Vec<StateID>| -> Result<u16, BuildError> {
            if let Some(&n) = numbers.get(&id) {
                return Ok(n);
            }
            let n = u16::try_from(ids.len()).map_err(|_| BuildError::TooLarge)?;
            ids.push(id);
            numbers.insert(id, n);
            Ok(n)
        };
        // rows[state] = next state for bytes 0..=255, then for the end of the text.
        let mut rows: Vec<Vec<u16>> = Vec::new();
        let mut flags = Vec::new();
        while let Some(&id) = ids.get(rows.len()) {
            if dfa.is_quit_state(id) {
                return Err(BuildError::Syntax("the pattern needs a look-around a DFA cannot search".into()));
            }
            let mut row = Vec::with_capacity(257);
            for byte in 0..=255u8 {
                row.push(number(dfa.next_state(id, byte), &mut ids)?);
            }
            row.push(number(dfa.next_eoi_state(id), &mut ids)?);
            rows.push(row);
            flags.push(if dfa.is_match_state(id) {
                MATCH
            } else if dfa.is_dead_state(id) {
                DEAD
            } else {
                0
            });
        }
        let column = |byte: usize| rows.iter().map(|row| row.get(byte).copied().unwrap_or(0)).collect::<Vec<u16>>();
        let mut columns: Vec<Vec<u16>> = Vec::new();
        let mut classes = [0u8; 256];
        for (byte, class) in classes.iter_mut().enumerate() {
            let col = column(byte);
            let k = match columns.iter().position(|c| *c == col) {
                Some(k) => k,
                None => {
                    columns.push(col);
                    columns.len() - 1
                }
            };
            // At most 256 distinct columns: one per byte.
            *class = u8::try_from(k).map_err(|_| BuildError::TooLarge)?;
        }
        let eoi = column(256);
        let stride = columns.len() + 1;
        let mut next = Vec::with_capacity(rows.len() * stride);
        for state in 0..rows.len() {
            next.extend(columns.iter().map(|c| c.get(state).copied().unwrap_or(0)));
            next.push(eoi.get(state).copied().unwrap_or(0));
        }
        let start = 0;
        Ok(Regex { classes, stride, start, next, flags })
    }

    /// Makes the Perl classes and word boundaries ASCII-only (Unicode mode would give
    /// them Unicode meanings: larger DFAs, and word boundaries a DFA cannot search), and
    /// rejects Unicode property classes (`\p{L}`): whether regex-syntax has their tables
    /// depends on what else a build links, and the accepted language must not.
    /// Recursion is bounded by the parser's nest limit.
    fn ascii_only(node: &mut Ast) -> Result<(), BuildError> {
        match node {
            Ast::ClassPerl(perl) => {
                let span = perl.span;
                let item = ClassSetItem::Ascii(ascii_class(perl));
                *node = Ast::class_bracketed(ClassBracketed { span, negated: false, kind: ClassSet::Item(item) });
            }
            Ast::ClassUnicode(_) => return Err(unicode_class()),
            Ast::ClassBracketed(class) => ascii_set(&mut class.kind)?,
            Ast::Assertion(assertion) if is_word_boundary(assertion) => {
                let span = assertion.span;
                let item = |kind| FlagsItem { span, kind };
                let flags = Flags {
                    span,
                    items: vec![item(FlagsItemKind::Negation), item(FlagsItemKind::Flag(Flag::Unicode))],
                };
                let inner = Ast::assertion(Assertion { span, kind: assertion.kind.clone() });
                *node = Ast::group(Group { span, kind: GroupKind::NonCapturing(flags), ast: Box::new(inner) });
            }
            Ast::Repetition(rep) => ascii_only(&mut rep.ast)?,
            Ast::Group(group) => ascii_only(&mut group.ast)?,
            Ast::Alternation(alt) => alt.asts.iter_mut().try_for_each(ascii_only)?,
            Ast::Concat(concat) => concat.asts.iter_mut().try_for_each(ascii_only)?,
            _ => {}
        }
        Ok(())
    }

    fn unicode_class() -> BuildError {
        BuildError::Syntax(
            "Unicode classes such as \\p{L} are not supported: write the characters, e.g. [a-zà-ÿ]".into(),
        )
    }

    fn is_word_boundary(assertion: &Assertion) -> bool {
        !matches!(
            assertion.kind,
            AssertionKind::StartLine | AssertionKind::EndLine | AssertionKind::StartText | AssertionKind::EndText
        )
    }

    fn ascii_class(perl: &ClassPerl) -> ClassAscii {
        let kind = match perl.kind {
            ClassPerlKind::Digit => ClassAsciiKind::Digit,
            ClassPerlKind::Space => ClassAsciiKind::Space,
            ClassPerlKind::Word => ClassAsciiKind::Word,
        };
        ClassAscii { span: perl.span, kind, negated: perl.negated }
    }

    fn ascii_set(set: &mut ClassSet) -> Result<(), BuildError> {
        match set {
            ClassSet::Item(item) => ascii_item(item),
            ClassSet::BinaryOp(op) => {
                ascii_set(&mut op.lhs)?;
                ascii_set(&mut op.rhs)
            }
        }
    }

    fn ascii_item(item: &mut ClassSetItem) -> Result<(), BuildError> {
        match item {
            ClassSetItem::Perl(perl) => *item = ClassSetItem::Ascii(ascii_class(perl)),
            ClassSetItem::Unicode(_) => return Err(unicode_class()),
            ClassSetItem::Bracketed(class) => ascii_set(&mut class.kind)?,
            ClassSetItem::Union(union) => union.items.iter_mut().try_for_each(ascii_item)?,
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
#[cfg(feature = "compiler")]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]
mod tests {
    use super::*;

    fn matches(pattern: &str, fold: bool, hay: &str) -> bool {
        let re = Regex::build(pattern, fold).unwrap();
        let back = Regex::from_bytes(&re.to_bytes()).unwrap();
        assert_eq!(back, re);
        assert_eq!(back.is_match(hay), re.is_match(hay));
        re.is_match(hay)
    }

    #[test]
    fn perl_classes_and_word_boundaries_are_ascii() {
        assert!(matches(r"^\d+$", false, "123"));
        assert!(!matches(r"^\d$", false, "٣"));
        assert!(!matches(r"^\w$", false, "é"));
        assert!(matches(r"^\W$", false, "é"));
        assert!(matches(r"^[\w-]+$", false, "a-b_c"));
        assert!(matches(r"\bsale\b", false, "big sale!"));
        assert!(!matches(r"\bsale\b", false, "wholesale"));
        assert!(!matches(r"^\s$", false, "\u{a0}"));
    }

    #[test]
    fn dot_matches_a_character_and_case_folds() {
        assert!(matches(r"^.$", false, "é"));
        assert!(!matches(r"^.$", false, "\n"));
        assert!(matches(r"^été$", true, "ÉTÉ"));
        assert!(matches(r"^SALE-", true, "sale-42"));
        assert!(!matches(r"^SALE-", false, "sale-42"));
        assert!(matches(r"", false, ""));
    }

    /// The table answers exactly as regex-automata's own search of the DFA it came from.
    #[test]
    fn table_answers_as_the_dfa_search_does() {
        use regex_automata::dfa::Automaton;
        use regex_automata::Input;
        let patterns = [
            "",
            "^$",
            "a",
            "^a",
            "a$",
            "^a$",
            "ab|cd",
            "^(SAVE|VIP)[0-9]+$",
            r"\bsale\b",
            r"\Bale",
            r"^\w+@\w+\.com$",
            "colou?r",
            "[^a-z]",
            "é+",
            "^.{2}$",
            "x*",
            r"(?m)^b$",
            "[à-ÿ]{2}",
        ];
        let hays = [
            "",
            "a",
            "ab",
            "cd",
            "abcd",
            "VIP42",
            "vip42",
            "SAVE",
            "big sale!",
            "wholesale",
            "ale",
            "bob@mail.com",
            "color",
            "colour",
            "Z",
            "ééé",
            "é",
            "éa",
            "a\nb\n",
            "àÿ",
            "\u{0}",
            "ab cd",
            "sale",
        ];
        for pattern in patterns {
            for fold in [false, true] {
                let dense = build::dense_dfa(pattern, fold).unwrap();
                let table = Regex::build(pattern, fold).unwrap();
                for hay in hays {
                    let want = dense.try_search_fwd(&Input::new(hay).earliest(true)).unwrap().is_some();
                    assert_eq!(table.is_match(hay), want, "{pattern:?} fold={fold} on {hay:?}");
                }
            }
        }
    }

    #[test]
    fn bad_and_huge_patterns_are_rejected() {
        assert!(matches!(Regex::build(r"(?<=a)b", false), Err(BuildError::Syntax(_))));
        assert!(matches!(Regex::build(r"(a)\1", false), Err(BuildError::Syntax(_))));
        assert!(matches!(Regex::build(r"\pL", false), Err(BuildError::Syntax(_))));
        assert!(matches!(Regex::build(r"[a\p{Greek}]", false), Err(BuildError::Syntax(_))));
        assert!(matches!(Regex::build(r"[a-z]{1,5}x.{40}y", false), Err(BuildError::TooLarge)));
        assert!(Regex::from_bytes(b"not a dfa").is_none());
    }
}
