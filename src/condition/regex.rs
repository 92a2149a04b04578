//! `$regex` / `$regexi` as DFAs. With feature `compiler` a pattern is parsed
//! (regex-syntax) and determinized and minimized (regex-automata's builder) once, when
//! the condition is compiled; bundles carry the serialized sparse DFA, and every build
//! (native, full and slim wasm) searches that same DFA, so they answer alike. Loading
//! one validates its bytes and compiles nothing.
//!
//! Semantics: `.` and classes match whole characters; `\d`, `\w`, `\s` and the word
//! boundaries (`\b`, `\B`, `\<`, `\>`, `\b{start}`, ...) are ASCII-only, as in
//! JavaScript; case-insensitive matching uses Unicode's simple case folding.

use regex_automata::dfa::{sparse, Automaton};
use regex_automata::Input;

/// Largest serialized DFA a pattern may compile to; larger patterns are rejected at
/// compile time (they would bloat every bundle that carries them).
pub const MAX_DFA_BYTES: usize = 16 * 1024;

/// A compiled pattern: a sparse DFA searched unanchored (a match anywhere counts).
#[derive(Debug, Clone)]
pub struct Regex {
    dfa: sparse::DFA<Vec<u8>>,
}

impl Regex {
    /// True when the pattern matches somewhere in `haystack`.
    pub fn is_match(&self, haystack: &str) -> bool {
        let input = Input::new(haystack).earliest(true);
        matches!(self.dfa.try_search_fwd(&input), Ok(Some(_)))
    }

    /// The serialized DFA (little endian, the byte order of every supported target).
    /// Serializing needs regex-automata's builder, so it is `None` without feature
    /// `compiler` (a loader never writes bundles).
    pub fn to_bytes(&self) -> Option<Vec<u8>> {
        #[cfg(feature = "compiler")]
        return Some(self.dfa.to_bytes_little_endian());
        #[cfg(not(feature = "compiler"))]
        return None;
    }

    /// Reads [`Regex::to_bytes`]' output, validating the DFA; `None` when the bytes are
    /// not exactly one valid DFA.
    pub fn from_bytes(bytes: &[u8]) -> Option<Regex> {
        let (dfa, used) = sparse::DFA::from_bytes(bytes).ok()?;
        (used == bytes.len()).then(|| Regex { dfa: dfa.to_owned() })
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

    use super::{BuildError, Regex, MAX_DFA_BYTES};

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
            let mut tree = ast::parse::ParserBuilder::new()
                .nest_limit(NEST_LIMIT)
                .build()
                .parse(pattern)
                .map_err(|e| syntax(&e))?;
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
            let dense = dense::Builder::new()
                .configure(
                    dense::Config::new()
                        .start_kind(StartKind::Unanchored)
                        .minimize(true)
                        .accelerate(false)
                        .dfa_size_limit(Some(BUILD_LIMIT))
                        .determinize_size_limit(Some(BUILD_LIMIT)),
                )
                .build_from_nfa(&nfa)
                .map_err(|e| if e.is_size_limit_exceeded() { BuildError::TooLarge } else { syntax(&e) })?;
            let dfa = dense.to_sparse().map_err(|e| syntax(&e))?;
            if dfa.to_bytes_little_endian().len() > MAX_DFA_BYTES {
                return Err(BuildError::TooLarge);
            }
            Ok(Regex { dfa })
        }
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
        let back = Regex::from_bytes(&re.to_bytes().unwrap()).unwrap();
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
