//! `$regex` / `$regexi` as DFAs. With feature `compiler` a pattern is parsed
//! (regex-syntax), determinized and minimized (regex-automata's builder) once, when the
//! condition is compiled, and the DFA is flattened into a small table of our own: byte
//! classes, one row of next states per state, a flag byte per state. Bundles carry that
//! table, and every build (native, full and slim wasm) runs the same few-line loop over
//! it, so they answer alike and a loader links no regex crate at all. Loading a table
//! checks every index in it and compiles nothing.
//!
//! Compiling is bounded, because patterns come from uploads (`PUT /v1/bundle`,
//! `Engine.fromJson`): a counted repetition may repeat a group at most [`MAX_REPEAT`]
//! times (nested counts multiply), the NFA and the DFA under construction have byte
//! budgets the builders check as they grow, and minimization is our own Hopcroft
//! refinement, `O(n log n)` per byte class, over the table. A 40-byte pattern such as
//! `^(;|b|a){1,5000}$` thus stops in microseconds instead of seconds.
//!
//! Semantics: `.` and classes match whole characters; `\d`, `\w`, `\s` and the word
//! boundaries (`\b`, `\B`, `\<`, `\>`, `\b{start}`, ...) are ASCII-only, as in
//! JavaScript; case-insensitive matching uses Unicode's simple case folding.

use crate::wire::{put_varint, Reader};

/// Largest serialized DFA a pattern may compile to; larger patterns are rejected at
/// compile time (they would bloat every bundle that carries them).
pub const MAX_DFA_BYTES: usize = 16 * 1024;

/// Most times a counted repetition (`{n}`, `{n,}`, `{n,m}`) may repeat a group, counting
/// the repetitions around it (`(a{1,10}){1,10}` repeats `a` 100 times). Each repeat is a
/// copy in the automaton, so the count drives every later cost.
pub const MAX_REPEAT: u32 = 256;

/// Largest NFA (bytes) a pattern may expand to; the NFA compiler checks it as it grows.
pub const MAX_NFA_BYTES: usize = 32 * 1024;

/// Largest unminimized DFA (bytes of regex-automata's dense table) determinization may
/// build; it checks after each new state, so a pattern whose DFA would blow up stops
/// here. Anything near this size minimizes to more than [`MAX_DFA_BYTES`] anyway.
pub const MAX_BUILD_DFA_BYTES: usize = 32 * 1024;

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
    /// Compiling it would pass a limit on the work it takes.
    TooComplex(Complexity),
}

/// Which compile-time budget a pattern exceeded (see [`BuildError::TooComplex`]).
#[cfg(feature = "compiler")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Complexity {
    /// A counted repetition repeats a group more than [`MAX_REPEAT`] times.
    Repeat {
        /// The repetition as written, e.g. `{1,5000}`.
        written: String,
        /// How many times it repeats its group, the repetitions around it included.
        times: u64,
        /// True when repetitions around it multiply the count.
        nested: bool,
    },
    /// The NFA would exceed [`MAX_NFA_BYTES`].
    Nfa,
    /// Determinization would exceed [`MAX_BUILD_DFA_BYTES`].
    Dfa,
}

#[cfg(feature = "compiler")]
impl std::fmt::Display for Complexity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Complexity::Repeat { written, times, nested } => {
                let around = if *nested { " (counting the repetitions around it)" } else { "" };
                write!(
                    f,
                    "{written} repeats a group {times} times{around}; the limit is {MAX_REPEAT}: use a smaller count, \
                     or + / * where the exact count does not matter"
                )
            }
            Complexity::Nfa => write!(
                f,
                "it expands to an automaton of more than {MAX_NFA_BYTES} bytes; the limit is {MAX_NFA_BYTES}: \
                 use fewer or shorter alternatives and smaller counted repetitions"
            ),
            Complexity::Dfa => write!(
                f,
                "its DFA passes {MAX_BUILD_DFA_BYTES} bytes while being built; the limit is {MAX_BUILD_DFA_BYTES}: \
                 avoid a bounded repetition after an open-ended part (such as x.{{40}}y after .*), and use fewer \
                 alternatives"
            ),
        }
    }
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
    use std::hash::Hash;

    use regex_automata::dfa::Automaton;
    use regex_automata::util::start;
    use regex_automata::Anchored;

    use super::{
        BuildError, Complexity, Regex, DEAD, MATCH, MAX_BUILD_DFA_BYTES, MAX_DFA_BYTES, MAX_NFA_BYTES, MAX_REPEAT,
    };

    /// Deepest nesting of groups, classes and repetitions a pattern may have.
    const NEST_LIMIT: u32 = 64;
    /// Budget for determinization's own bookkeeping (the NFA state sets behind each DFA
    /// state), beside the DFA it builds.
    const DETERMINIZE_LIMIT: usize = 4 * MAX_BUILD_DFA_BYTES;

    fn syntax(e: &dyn std::fmt::Display) -> BuildError {
        let text = e.to_string();
        let line = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
        BuildError::Syntax(if line.is_empty() { "invalid pattern".to_owned() } else { line })
    }

    impl Regex {
        /// Compiles `pattern`; `fold` makes it case-insensitive.
        pub(in crate::condition) fn build(pattern: &str, fold: bool) -> Result<Regex, BuildError> {
            let dense = dense_dfa(pattern, fold)?;
            let regex = minimize::minimize(&flatten(&dense)?)?;
            if regex.to_bytes().len() > MAX_DFA_BYTES {
                return Err(BuildError::TooLarge);
            }
            Ok(regex)
        }
    }

    /// The DFA of `pattern`, searched unanchored, not minimized (see [`minimize`]).
    pub(super) fn dense_dfa(pattern: &str, fold: bool) -> Result<dense::DFA<Vec<u32>>, BuildError> {
        dense_dfa_minimized(pattern, fold, false)
    }

    /// [`dense_dfa`], minimized by regex-automata when `minimize` (tests compare).
    pub(super) fn dense_dfa_minimized(
        pattern: &str,
        fold: bool,
        minimize: bool,
    ) -> Result<dense::DFA<Vec<u32>>, BuildError> {
        let mut tree =
            ast::parse::ParserBuilder::new().nest_limit(NEST_LIMIT).build().parse(pattern).map_err(|e| syntax(&e))?;
        ascii_only(&mut tree)?;
        check_repeats(pattern, &tree, 1)?;
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
                    .nfa_size_limit(Some(MAX_NFA_BYTES))
                    .shrink(true)
                    .which_captures(WhichCaptures::None),
            )
            .build_from_hir(&hir)
            .map_err(|e| if e.size_limit().is_some() { BuildError::TooComplex(Complexity::Nfa) } else { syntax(&e) })?;
        dense::Builder::new()
            .configure(
                dense::Config::new()
                    .start_kind(StartKind::Unanchored)
                    .minimize(minimize)
                    .accelerate(false)
                    .dfa_size_limit(Some(MAX_BUILD_DFA_BYTES))
                    .determinize_size_limit(Some(DETERMINIZE_LIMIT)),
            )
            .build_from_nfa(&nfa)
            .map_err(|e| if e.is_size_limit_exceeded() { BuildError::TooComplex(Complexity::Dfa) } else { syntax(&e) })
    }

    /// Refuses a counted repetition that repeats its group more than [`MAX_REPEAT`] times,
    /// `outer` being the product of the counts around `node`. Only the syntax tree is
    /// read, so this costs microseconds even for `{1,65535}`; recursion is bounded by the
    /// parser's nest limit.
    fn check_repeats(pattern: &str, node: &Ast, outer: u64) -> Result<(), BuildError> {
        match node {
            Ast::Repetition(rep) => {
                let count = match &rep.op.kind {
                    ast::RepetitionKind::Range(ast::RepetitionRange::Exactly(n) | ast::RepetitionRange::AtLeast(n)) => {
                        *n
                    }
                    ast::RepetitionKind::Range(ast::RepetitionRange::Bounded(_, n)) => *n,
                    _ => 1,
                };
                let times = outer.saturating_mul(u64::from(count.max(1)));
                if times > u64::from(MAX_REPEAT) {
                    let span = rep.op.span;
                    let written = pattern.get(span.start.offset..span.end.offset).unwrap_or("a repetition");
                    return Err(BuildError::TooComplex(Complexity::Repeat {
                        written: written.to_owned(),
                        times,
                        nested: outer > 1,
                    }));
                }
                check_repeats(pattern, &rep.ast, times)
            }
            Ast::Group(group) => check_repeats(pattern, &group.ast, outer),
            Ast::Alternation(alt) => alt.asts.iter().try_for_each(|a| check_repeats(pattern, a, outer)),
            Ast::Concat(concat) => concat.asts.iter().try_for_each(|a| check_repeats(pattern, a, outer)),
            _ => Ok(()),
        }
    }

    /// The DFA as our table (see [`canonical`]), read from regex-automata's DFA one of
    /// its byte classes at a time.
    pub(super) fn flatten(dfa: &dense::DFA<Vec<u32>>) -> Result<Regex, BuildError> {
        let config = start::Config::new().anchored(Anchored::No);
        let start = dfa.start_state(&config).map_err(|e| syntax(&e))?;
        let byte_classes = dfa.byte_classes();
        let mut classes = [0u8; 256];
        for (byte, class) in (0..=255u8).zip(classes.iter_mut()) {
            *class = byte_classes.get(byte);
        }
        // Byte classes, then the end of the text.
        let eoi = dfa.alphabet_len() - 1;
        let mut representative = vec![0u8; eoi];
        for byte in (0..=255u8).rev() {
            if let Some(slot) = representative.get_mut(usize::from(byte_classes.get(byte))) {
                *slot = byte;
            }
        }
        canonical(
            start,
            &classes,
            eoi,
            |id, class| match representative.get(class) {
                Some(&byte) => dfa.next_state(id, byte),
                None => dfa.next_eoi_state(id),
            },
            |id| {
                if dfa.is_quit_state(id) {
                    Err(BuildError::Syntax("the pattern needs a look-around a DFA cannot search".into()))
                } else if dfa.is_match_state(id) {
                    Ok(MATCH)
                } else if dfa.is_dead_state(id) {
                    Ok(DEAD)
                } else {
                    Ok(0)
                }
            },
        )
    }

    /// A DFA as our table: the states reachable from `start`, numbered breadth first in
    /// the order of the bytes that lead to them, then the end of the text; bytes whose
    /// column is the same in every state share a class. The DFA reads input class
    /// `classes[byte]` (`< eoi`) for a byte and class `eoi` at the end of the text, so
    /// each state costs one `next` per input class. Equal automata (up to state names)
    /// give equal tables.
    pub(super) fn canonical<S: Copy + Eq + Hash>(
        start: S,
        classes: &[u8; 256],
        eoi: usize,
        mut next: impl FnMut(S, usize) -> S,
        mut flag: impl FnMut(S) -> Result<u8, BuildError>,
    ) -> Result<Regex, BuildError> {
        // Input classes in the order of their first byte, then the end of the text: the
        // order that numbers states as a scan of bytes 0..=255 would.
        let mut order: Vec<usize> = Vec::with_capacity(eoi + 1);
        for &class in classes {
            let class = usize::from(class);
            if class < eoi && !order.contains(&class) {
                order.push(class);
            }
        }
        order.push(eoi);
        let mut ids = vec![start];
        let mut numbers = HashMap::from([(start, 0u16)]);
        // rows[state][input class] = next state; the last entry is the end of the text.
        let mut rows: Vec<Vec<u16>> = Vec::new();
        let mut flags = Vec::new();
        while let Some(&id) = ids.get(rows.len()) {
            let mut row = vec![0u16; eoi + 1];
            for &class in &order {
                let to = next(id, class);
                let n = match numbers.get(&to) {
                    Some(&n) => n,
                    None => {
                        let n = u16::try_from(ids.len()).map_err(|_| BuildError::TooLarge)?;
                        ids.push(to);
                        numbers.insert(to, n);
                        n
                    }
                };
                if let Some(cell) = row.get_mut(class) {
                    *cell = n;
                }
            }
            rows.push(row);
            flags.push(flag(id)?);
        }
        // Our classes: input classes whose columns are equal merge, numbered by first byte.
        let column = |class: usize| rows.iter().map(|row| row.get(class).copied().unwrap_or(0)).collect::<Vec<u16>>();
        let mut columns: Vec<Vec<u16>> = Vec::new();
        let mut by_column: HashMap<Vec<u16>, u8> = HashMap::new();
        let mut ours: HashMap<usize, u8> = HashMap::new();
        let mut table = [0u8; 256];
        for (&input, class) in classes.iter().zip(table.iter_mut()) {
            let input = usize::from(input);
            if let Some(&k) = ours.get(&input) {
                *class = k;
                continue;
            }
            let col = column(input);
            let k = match by_column.get(&col) {
                Some(&k) => k,
                None => {
                    // At most 256 distinct columns: one per byte.
                    let k = u8::try_from(columns.len()).map_err(|_| BuildError::TooLarge)?;
                    by_column.insert(col.clone(), k);
                    columns.push(col);
                    k
                }
            };
            ours.insert(input, k);
            *class = k;
        }
        let end = column(eoi);
        let stride = columns.len() + 1;
        let mut next = Vec::with_capacity(rows.len() * stride);
        for state in 0..rows.len() {
            next.extend(columns.iter().map(|c| c.get(state).copied().unwrap_or(0)));
            next.push(end.get(state).copied().unwrap_or(0));
        }
        Ok(Regex { classes: table, stride, start: 0, next, flags })
    }

    mod minimize {
        //! DFA minimization on our table. Hopcroft's partition refinement over a [`Regex`] table: states start in blocks
        //! by flag (match, dead, other) and a block splits while two of its states step,
        //! on some class, into different blocks. Each split queues only the smaller half,
        //! so the work is `O(classes · n log n)`, where regex-automata's own minimizer
        //! compares every block with every splitter (quadratic; half a second on a DFA of
        //! 5000 states).

        use super::{canonical, BuildError, Regex};

        /// States as a permutation in which every block is a contiguous range.
        struct Partition {
            /// States, block by block.
            elems: Vec<usize>,
            /// Position of each state in `elems`.
            pos: Vec<usize>,
            /// Block of each state.
            block: Vec<usize>,
            /// Per block: start and end in `elems`, and how many states at its start are
            /// marked for the split in progress.
            range: Vec<(usize, usize, usize)>,
        }

        impl Partition {
            /// The initial partition: one block per distinct flag (match, dead, other), in
            /// flag order.
            fn by_flag(flags: &[u8]) -> Partition {
                let n = flags.len();
                let mut kinds: Vec<u8> = flags.to_vec();
                kinds.sort_unstable();
                kinds.dedup();
                let mut elems = Vec::with_capacity(n);
                let mut range = Vec::with_capacity(kinds.len());
                let mut block = vec![0usize; n];
                for (b, kind) in kinds.iter().enumerate() {
                    let start = elems.len();
                    for (s, flag) in flags.iter().enumerate() {
                        if flag == kind {
                            elems.push(s);
                            if let Some(slot) = block.get_mut(s) {
                                *slot = b;
                            }
                        }
                    }
                    range.push((start, elems.len(), 0));
                }
                let mut pos = vec![0usize; n];
                for (i, &s) in elems.iter().enumerate() {
                    if let Some(slot) = pos.get_mut(s) {
                        *slot = i;
                    }
                }
                Partition { elems, pos, block, range }
            }

            fn mark(&mut self, state: usize) {
                let (Some(&b), Some(&p)) = (self.block.get(state), self.pos.get(state)) else { return };
                let Some((start, _, marked)) = self.range.get_mut(b) else { return };
                let to = *start + *marked;
                if p < to {
                    return; // already marked
                }
                *marked += 1;
                self.elems.swap(p, to);
                if let Some(&other) = self.elems.get(p) {
                    if let Some(slot) = self.pos.get_mut(other) {
                        *slot = p;
                    }
                }
                if let Some(slot) = self.pos.get_mut(state) {
                    *slot = to;
                }
            }

            /// Splits block `b` into its marked and unmarked states; the new block (the
            /// marked ones) is returned unless all or none were marked.
            fn split(&mut self, b: usize) -> Option<usize> {
                let (start, end, marked) = *self.range.get(b)?;
                if let Some(r) = self.range.get_mut(b) {
                    r.2 = 0;
                }
                if marked == 0 || start + marked == end {
                    return None;
                }
                let new = self.range.len();
                self.range.push((start, start + marked, 0));
                if let Some(r) = self.range.get_mut(b) {
                    r.0 = start + marked;
                }
                for &state in self.elems.get(start..start + marked).unwrap_or_default() {
                    if let Some(slot) = self.block.get_mut(state) {
                        *slot = new;
                    }
                }
                Some(new)
            }

            fn size(&self, b: usize) -> usize {
                self.range.get(b).map_or(0, |&(start, end, _)| end - start)
            }
        }

        /// Predecessors per (class, state) in CSR form: the states that step on class `c`
        /// into state `t` are `pred[first[c * n + t]..first[c * n + t + 1]]`. Returns
        /// `(first, pred)`.
        fn predecessors(table: &Regex) -> (Vec<usize>, Vec<usize>) {
            let n = table.flags.len();
            let k = table.stride;
            let at = |state: usize, class: usize| usize::from(table.next.get(state * k + class).copied().unwrap_or(0));
            let mut first = vec![0usize; k * n + 1];
            for s in 0..n {
                for c in 0..k {
                    if let Some(slot) = first.get_mut(c * n + at(s, c) + 1) {
                        *slot += 1;
                    }
                }
            }
            for i in 1..first.len() {
                let prev = first.get(i - 1).copied().unwrap_or(0);
                if let Some(slot) = first.get_mut(i) {
                    *slot += prev;
                }
            }
            let mut fill = first.clone();
            let mut pred = vec![0usize; k * n];
            for s in 0..n {
                for c in 0..k {
                    if let Some(f) = fill.get_mut(c * n + at(s, c)) {
                        if let Some(slot) = pred.get_mut(*f) {
                            *slot = s;
                        }
                        *f += 1;
                    }
                }
            }
            (first, pred)
        }

        /// The minimal DFA answering as `table` does, as a canonical table.
        pub(in super::super) fn minimize(table: &Regex) -> Result<Regex, BuildError> {
            let n = table.flags.len();
            let k = table.stride;
            let at = |state: usize, class: usize| usize::from(table.next.get(state * k + class).copied().unwrap_or(0));
            let (first, pred) = predecessors(table);
            let mut part = Partition::by_flag(&table.flags);
            let blocks = part.range.len();
            // Splitters (block, class) still to process, and which are queued.
            let mut queued: Vec<bool> = vec![true; blocks * k];
            let mut work: Vec<(usize, usize)> = (0..blocks).flat_map(|b| (0..k).map(move |c| (b, c))).collect();
            let mut members = Vec::new();
            let mut touched = Vec::new();
            while let Some((a, c)) = work.pop() {
                if let Some(q) = queued.get_mut(a * k + c) {
                    *q = false;
                }
                let Some(&(start, end, _)) = part.range.get(a) else { continue };
                members.clear();
                members.extend_from_slice(part.elems.get(start..end).unwrap_or_default());
                touched.clear();
                for &t in &members {
                    let from = first.get(c * n + t).copied().unwrap_or(0);
                    let to = first.get(c * n + t + 1).copied().unwrap_or(from);
                    for &s in pred.get(from..to).unwrap_or_default() {
                        if let Some(&b) = part.block.get(s) {
                            if part.range.get(b).is_some_and(|r| r.2 == 0) {
                                touched.push(b);
                            }
                            part.mark(s);
                        }
                    }
                }
                for &b in &touched {
                    let Some(new) = part.split(b) else { continue };
                    queued.resize(part.range.len() * k, false);
                    let smaller = if part.size(new) <= part.size(b) { new } else { b };
                    for d in 0..k {
                        let old_queued = queued.get(b * k + d).copied().unwrap_or(false);
                        let add = if old_queued { new } else { smaller };
                        if let Some(q) = queued.get_mut(add * k + d) {
                            if !*q {
                                *q = true;
                                work.push((add, d));
                            }
                        }
                    }
                }
            }
            // The quotient: each block steps as any of its states does.
            let mut rep = vec![0usize; part.range.len()];
            for &(start, _, _) in &part.range {
                if let Some(&s) = part.elems.get(start) {
                    if let Some(slot) = part.block.get(s).and_then(|&b| rep.get_mut(b)) {
                        *slot = s;
                    }
                }
            }
            let block_of = |s: usize| part.block.get(s).copied().unwrap_or(0);
            canonical(
                block_of(usize::from(table.start)),
                &table.classes,
                k - 1,
                |b, class| block_of(at(rep.get(b).copied().unwrap_or(0), class)),
                |b| Ok(table.flags.get(rep.get(b).copied().unwrap_or(0)).copied().unwrap_or(0)),
            )
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
        assert!(matches!(Regex::build(r"[a-z]{1,5}x.{40}y", false), Err(BuildError::TooComplex(Complexity::Dfa))));
        assert!(Regex::from_bytes(b"not a dfa").is_none());
    }

    /// Our minimizer gives the same table, byte for byte, as regex-automata's.
    #[test]
    fn minimized_table_is_the_one_regex_automata_gives() {
        let patterns =
            ["", "^(SAVE|VIP)[0-9]+$", r"\bsale\b", "colou?r", "(a|b)*abb", "^(red|blue){2,3}$", "é+x", "[à-ÿ]{2}"];
        for pattern in patterns {
            for fold in [false, true] {
                let theirs = build::flatten(&build::dense_dfa_minimized(pattern, fold, true).unwrap()).unwrap();
                assert_eq!(Regex::build(pattern, fold).unwrap(), theirs, "{pattern:?} fold={fold}");
            }
        }
    }

    /// The fuzzer's 40-byte pattern (seconds to compile before) and its siblings are
    /// refused by a limit, with a message naming it; nothing here is timed.
    #[test]
    fn pathological_patterns_hit_a_work_limit() {
        let refused = |pattern: &str| match Regex::build(pattern, false) {
            Err(BuildError::TooComplex(why)) => why,
            other => panic!("{pattern:?}: {other:?}"),
        };
        let why = refused("^(;|b|a){1,5000}$");
        assert!(matches!(&why, Complexity::Repeat { times: 5000, nested: false, .. }), "{why:?}");
        assert!(why.to_string().starts_with("{1,5000} repeats a group 5000 times; the limit is 256: "), "{why}");
        assert!(matches!(
            refused("((a{1,100}){1,100}){1,100}"),
            Complexity::Repeat { times: 10_000, nested: true, .. }
        ));
        assert!(matches!(refused(".{1,65535}"), Complexity::Repeat { times: 65_535, .. }));
        let words: Vec<String> = (0..300).map(|i| format!("sku{i:03}summercollection")).collect();
        assert_eq!(refused(&words.join("|")), Complexity::Nfa);
        assert_eq!(refused("x.{40}y"), Complexity::Dfa);
        assert!(Regex::build("^a{1,256}$", false).is_ok());
    }
}
