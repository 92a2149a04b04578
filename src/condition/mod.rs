//! The condition language: GrowthBook's MongoDB-style targeting conditions (its
//! `evalCondition` semantics) plus string, relative-time and `$ref` extensions.
//!
//! This module owns the public [`Condition`] type and its evaluation tree. The parts:
//! `compile` (feature `compiler`) checks a JSON condition once (paths split, regexes
//! built into DFAs, durations read, operands pre-parsed); `encode` writes and reads the
//! tree's compact binary form, which binary bundles carry, so loading one compiles
//! nothing; `eval` answers without a clock, without panicking and, for the common
//! operators, without allocating; `regex` holds the DFAs.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::time::{Duration, Timestamp};
use crate::value::{Map, Value};

#[cfg(feature = "compiler")]
mod compile;
mod encode;
mod eval;
pub mod regex;
mod timing;

#[cfg(feature = "compiler")]
pub use compile::ConditionError;
pub use encode::DecodeError;

use eval::Prim;

/// Deepest JSON nesting a condition may have (objects and arrays each count one level).
pub const MAX_DEPTH: usize = 32;

/// Names `$type` accepts, in the order the binary form numbers them.
const TYPE_NAMES: &[&str] = &["string", "number", "boolean", "null", "object", "array"];

/// Where a condition's paths are looked up.
pub trait Scope {
    /// The value at a dotted path (already split), if any.
    fn lookup(&self, path: &[String]) -> Option<Cow<'_, Value>>;
}

impl Scope for Value {
    fn lookup(&self, path: &[String]) -> Option<Cow<'_, Value>> {
        self.get_path(path).map(Cow::Borrowed)
    }
}

/// Inputs every evaluation sees besides the scope.
#[derive(Debug, Clone, Copy)]
pub struct EvalEnv<'a> {
    /// The engine's "now", for `$within` / `$olderThan`.
    pub now: Timestamp,
    /// Saved groups for `$inGroup` / `$notInGroup`.
    pub groups: Option<&'a Map<Vec<Value>>>,
}

/// How a condition uses a path (see [`Condition::referenced_paths`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathKind {
    /// A field the condition tests, e.g. `"price"` in `{"price": {"$gt": 5}}`.
    Attribute,
    /// A value the condition reads through `{"$ref": "entry.item_id"}`.
    Ref,
}

/// A compiled condition.
///
/// # Language
///
/// A condition is a JSON object. Its keys are `$and` / `$or` / `$nor` (arrays of
/// conditions), `$not` (a condition) or dotted attribute paths (`"father.age"`; any other
/// key, even one starting with `$`, is a path). A path maps to a literal (equality) or to
/// an operator object whose keys all start with `$`. All keys must hold.
///
/// GrowthBook operators, with its JavaScript coercions: `$eq $ne $lt $lte $gt $gte $in
/// $nin $ini $nini $all $alli $elemMatch $size $exists $type $not $regex $regexi $veq $vne
/// $vgt $vgte $vlt $vlte $inGroup $notInGroup`. Notably: a missing attribute is `null`;
/// `$lt`…`$gte` compare two strings as strings (UTF-16 order) and anything else as
/// numbers (`"8"` > 5, `null` is 0, so a missing attribute passes `{"$lt": 10}`); a
/// string literal matches the attribute's JavaScript text (`{"n": "5"}` matches `5`); a
/// number literal matches the attribute converted to a number; `$in` on an array
/// attribute means "any element is in the list"; `$v*` compare padded version strings.
///
/// Extensions:
/// - `$contains`, `$startsWith`, `$endsWith` and the case-insensitive `$containsi`,
///   `$startsWithi`, `$endsWithi` take a string. The attribute must be a string, or an
///   array in which case any string element may match (`{"tags": {"$contains": "sale"}}`
///   matches `["summer-sale"]`). Anything else (numbers, `null`, missing) is false.
/// - `$within: "30d"` is true when `now - 30d <= t <= now`; `$olderThan: "10d"` when
///   `t <= now - 10d`. `t` is an RFC 3339 string or epoch milliseconds; anything else
///   (missing, unparseable) is false.
/// - `$elemMatch` whose operand uses `$and` / `$or` / `$nor` is a condition on each
///   element (`{"items": {"$elemMatch": {"$or": [{"sku": "A"}, {"price": {"$gt": 100}}]}}}`);
///   GrowthBook would call them unknown operators and answer false.
/// - `{"$ref": "entry.item_id"}` may stand for the operand of `$eq $ne $lt $lte $gt $gte
///   $in $nin $ini $nini $all $alli` and the string operators, for an element of an
///   `$in`-style list, or for a literal (equality). It is read at evaluation time from
///   the root scope, also inside `$elemMatch`. If it is missing the operator is false
///   (`$ne` and `$nin` too); an unresolved element of an `$in` list matches nothing.
///
/// Choices where GrowthBook's JavaScript behaviour is accidental: `$eq`, `$ne`, `$in`
/// compare arrays and objects structurally (JavaScript compares references, so never
/// equal); object equality ignores key order; `$regex` tests strings, numbers and
/// booleans (as their text) and is false for `null`, missing, arrays and objects
/// (JavaScript would test the text `"null"`). Patterns use the syntax of Rust's `regex`
/// family (look-around and back-references are compile errors); `.` and classes match
/// whole characters, `\d`, `\w`, `\s` and `\b` are ASCII-only as in JavaScript, and
/// `$regexi` folds case with Unicode's simple case folding. Each pattern becomes a DFA
/// when the condition is compiled; one larger than [`regex::MAX_DFA_BYTES`] is rejected
/// (`regex_too_large`), and so is one that would take too much work to compile
/// (`regex_too_complex`: a counted repetition over [`regex::MAX_REPEAT`], nested counts
/// multiplied, or an automaton passing its budget while being built).
///
/// Rejected at compile time (GrowthBook would evaluate them as false or as surprising
/// literals): unknown operators, operands of the wrong type (`$in` without an array,
/// `$exists` without a boolean, `$type` with an unknown name), objects mixing `$`
/// operators with plain fields, operators inside literal values, bad regexes and
/// durations, and nesting deeper than [`MAX_DEPTH`].
///
/// It serializes as its compiled tree (see [`Condition::to_bytes`]), DFAs included, so a
/// binary bundle loads without compiling anything; decoding checks only structure.
#[derive(Debug, Clone)]
pub struct Condition {
    root: Node,
    /// The JSON it was compiled from; `None` when decoded from the binary form.
    source: Option<Box<Value>>,
}

/// Two conditions are equal when their compiled trees encode to the same bytes.
impl PartialEq for Condition {
    fn eq(&self, other: &Self) -> bool {
        match (self.to_bytes(), other.to_bytes()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }
}

/// In the wire format a condition is a byte string: its compiled form.
impl crate::wire::Encode for Condition {
    fn encode(&self, out: &mut Vec<u8>) {
        // Encoding fails only for a tree no compiler builds; its empty form then fails
        // to decode (a corrupt bundle is reported, never a silently different condition).
        self.to_bytes().unwrap_or_default().encode(out);
    }
}
impl crate::wire::Decode for Condition {
    fn decode(r: &mut crate::wire::Reader<'_>) -> Self {
        let decoded = r.len().and_then(|n| r.take(n)).and_then(|bytes| {
            Condition::from_bytes(bytes).map_err(|e| match e {
                encode::DecodeError::Truncated => crate::wire::WireError::End,
                _ => crate::wire::WireError::Invalid,
            })
        });
        r.or(decoded, Condition::never())
    }
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let bytes = self.to_bytes().map_err(serde::ser::Error::custom)?;
        serializer.serialize_bytes(&bytes)
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_bytes(BytesVisitor)
    }
}

/// Reads the binary form from a serde byte string (or a sequence of bytes).
struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Condition;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a compiled condition")
    }
    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Condition, E> {
        Condition::from_bytes(bytes).map_err(E::custom)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Condition, A::Error> {
        let mut bytes = Vec::new();
        while let Some(b) = seq.next_element::<u8>()? {
            bytes.push(b);
        }
        self.visit_bytes(&bytes)
    }
}

impl Condition {
    /// The empty condition (always true).
    pub fn always() -> Condition {
        Condition { root: Node::All(Vec::new()), source: Some(Box::new(Value::Object(Map::new()))) }
    }

    /// A condition that never holds: what a failed decode leaves in place (the decode
    /// reports the error; the placeholder is never run).
    pub(crate) fn never() -> Condition {
        Condition { root: Node::Any(Vec::new()), source: None }
    }

    /// Evaluates against a scope: paths and `$ref`s are looked up in `scope`.
    pub fn eval(&self, scope: &dyn Scope, env: &EvalEnv<'_>) -> bool {
        eval::Eval { root: scope, env }.node(&self.root, scope)
    }

    /// True for the empty condition `{}`.
    pub fn is_always(&self) -> bool {
        matches!(&self.root, Node::All(nodes) if nodes.is_empty())
    }

    /// The JSON the condition was compiled from; `None` for one decoded from a binary
    /// bundle (bundles carry only the compiled tree).
    pub fn source(&self) -> Option<&Value> {
        self.source.as_deref()
    }

    /// The compact binary form of the compiled tree (what bundles carry); its layout is
    /// versioned by the bundle format version.
    pub fn to_bytes(&self) -> Result<Vec<u8>, DecodeError> {
        let mut out = Vec::new();
        encode::write_node(&mut out, &self.root)?;
        Ok(out)
    }

    /// Reads what [`Condition::to_bytes`] wrote: structure only (bounded nesting, known
    /// tags, valid DFAs), no compilation; corrupt bytes give an error, never a panic.
    pub fn from_bytes(bytes: &[u8]) -> Result<Condition, DecodeError> {
        Ok(Condition { root: encode::read(bytes)?, source: None })
    }

    /// First segments of every path the condition reads from the root scope (tested
    /// attributes and `$ref`s; paths inside `$elemMatch` are relative to array elements
    /// and not listed), sorted and deduplicated: `["entry", "items"]`.
    pub fn referenced_roots(&self) -> Vec<String> {
        let mut roots: Vec<String> = self
            .referenced_paths()
            .into_iter()
            .map(|(p, _)| p.split('.').next().unwrap_or_default().to_owned())
            .collect();
        crate::sort::sort(&mut roots);
        roots.dedup();
        roots
    }

    /// Every dotted path the condition reads from the root scope, with how it is used,
    /// sorted and deduplicated.
    pub fn referenced_paths(&self) -> Vec<(String, PathKind)> {
        let mut paths = Vec::new();
        paths_in_node(&self.root, false, &mut paths);
        crate::sort::sort(&mut paths);
        paths.dedup();
        paths
    }
}

fn push_path(path: &[String], kind: PathKind, out: &mut Vec<(String, PathKind)>) {
    out.push((path.join("."), kind));
}

/// Collects paths; `in_element` is true below an `$elemMatch` document, whose fields are
/// relative to array elements (its `$ref`s still read the root scope).
fn paths_in_node(node: &Node, in_element: bool, out: &mut Vec<(String, PathKind)>) {
    match node {
        Node::All(nodes) | Node::Any(nodes) | Node::Nor(nodes) => {
            nodes.iter().for_each(|n| paths_in_node(n, in_element, out));
        }
        Node::Not(inner) => paths_in_node(inner, in_element, out),
        Node::Field(field) => {
            if !in_element {
                push_path(&field.path, PathKind::Attribute, out);
            }
            paths_in_test(&field.test, in_element, out);
        }
    }
}

fn paths_in_test(test: &Test, in_element: bool, out: &mut Vec<(String, PathKind)>) {
    match test {
        Test::Literal(_) => {}
        Test::Ref(path) => push_path(path, PathKind::Ref, out),
        Test::Ops(ops) => ops.iter().for_each(|op| paths_in_op(op, in_element, out)),
    }
}

fn paths_in_op(op: &Op, in_element: bool, out: &mut Vec<(String, PathKind)>) {
    let operand = |o: &Operand, out: &mut Vec<(String, PathKind)>| {
        if let Operand::Ref(path) = o {
            push_path(path, PathKind::Ref, out);
        }
    };
    match op {
        Op::Eq(o) | Op::Ne(o) | Op::Text { needle: o, .. } => operand(o, out),
        Op::Cmp(_, CmpOperand::Ref(path)) | Op::InRef { path, .. } | Op::AllRef { path, .. } => {
            push_path(path, PathKind::Ref, out);
        }
        Op::In { items, .. } => items.iter().for_each(|o| operand(o, out)),
        Op::Not(t) | Op::Size(t) | Op::ElemTest(t) => paths_in_test(t, in_element, out),
        Op::ElemDoc(node) => paths_in_node(node, true, out),
        Op::All { items, .. } => items.iter().for_each(|t| paths_in_test(t, in_element, out)),
        Op::Cmp(_, CmpOperand::Const { .. })
        | Op::Version(..)
        | Op::Exists(_)
        | Op::Group { .. }
        | Op::Regex(_)
        | Op::Type(_)
        | Op::Within(_)
        | Op::OlderThan(_)
        | Op::AnniversaryWithin(_) => {}
    }
}

// ---------------------------------------------------------------------------------------
// Compiled form
// ---------------------------------------------------------------------------------------

/// A condition over one document.
#[derive(Debug, Clone)]
enum Node {
    /// Every child holds (implicit AND of keys, `$and`). Empty: true.
    All(Vec<Node>),
    /// Some child holds (`$or`). Empty: true, as in GrowthBook.
    Any(Vec<Node>),
    /// No child holds (`$nor`). Empty: false, as in GrowthBook.
    Nor(Vec<Node>),
    /// The child does not hold.
    Not(Box<Node>),
    /// The value at `path` passes `test`.
    Field(Box<Field>),
}

#[derive(Debug, Clone)]
struct Field {
    path: Vec<String>,
    test: Test,
}

/// A test of one value (GrowthBook's "condition value").
#[derive(Debug, Clone)]
enum Test {
    /// Equality with a literal, with GrowthBook's coercions.
    Literal(Value),
    /// Equality with a referenced value, as if it had been written as a literal.
    Ref(Vec<String>),
    /// Every operator holds.
    Ops(Vec<Op>),
}

#[derive(Debug, Clone)]
enum Operand {
    Const(Value),
    Ref(Vec<String>),
}

/// A comparison operand with its JavaScript primitive pre-computed.
#[derive(Debug, Clone)]
enum CmpOperand {
    Const { prim: Prim<'static>, num: f64 },
    Ref(Vec<String>),
}

#[derive(Debug, Clone, Copy)]
enum Rel {
    Lt,
    Lte,
    Gt,
    Gte,
    Eq,
    Ne,
}

impl Rel {
    fn holds(self, ord: Ordering) -> bool {
        match self {
            Rel::Lt => ord == Ordering::Less,
            Rel::Lte => ord != Ordering::Greater,
            Rel::Gt => ord == Ordering::Greater,
            Rel::Gte => ord != Ordering::Less,
            Rel::Eq => ord == Ordering::Equal,
            Rel::Ne => ord != Ordering::Equal,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum TextKind {
    Contains,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Clone)]
enum Op {
    Eq(Operand),
    Ne(Operand),
    Cmp(Rel, CmpOperand),
    Version(Rel, String),
    Exists(bool),
    In { items: Vec<Operand>, negate: bool, fold: bool },
    InRef { path: Vec<String>, negate: bool, fold: bool },
    Group { name: String, negate: bool },
    Not(Box<Test>),
    Size(Box<Test>),
    ElemTest(Box<Test>),
    ElemDoc(Box<Node>),
    All { items: Vec<Test>, fold: bool },
    AllRef { path: Vec<String>, fold: bool },
    Regex(Box<regex::Regex>),
    Type(&'static str),
    Text { kind: TextKind, fold: bool, needle: Operand },
    Within(Duration),
    OlderThan(Duration),
    AnniversaryWithin(Duration),
}
