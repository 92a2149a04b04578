//! The condition language: GrowthBook's MongoDB-style targeting conditions (its
//! `evalCondition` semantics) plus string, relative-time and `$ref` extensions.
//! [`Condition::compile`] checks a JSON condition once (paths split, regexes built,
//! durations read, operands pre-parsed) and [`Condition::eval`] answers without a clock,
//! without panicking and, for the common operators, without allocating.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt::{self, Write as _};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::time::{Duration, Timestamp};
use crate::value::{Map, Value};

/// Deepest JSON nesting a condition may have (objects and arrays each count one level).
pub const MAX_DEPTH: usize = 32;

/// Depth beyond which evaluation stops following attribute data (and answers "no match").
const DATA_DEPTH_LIMIT: usize = 128;

/// What a missing path evaluates as (GrowthBook's `getPath` answers `null`).
static NULL: Value = Value::Null;

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
/// (JavaScript would test the text `"null"`); `$regexi` and regexes use `regex-lite`, so
/// case folding is ASCII-only and look-around / back-references are compile errors.
///
/// Rejected at compile time (GrowthBook would evaluate them as false or as surprising
/// literals): unknown operators, operands of the wrong type (`$in` without an array,
/// `$exists` without a boolean, `$type` with an unknown name), objects mixing `$`
/// operators with plain fields, operators inside literal values, bad regexes and
/// durations, and nesting deeper than [`MAX_DEPTH`].
///
/// It serializes as its JSON source and recompiles when deserialized, so a stored form
/// cannot smuggle in a condition that `compile` would reject.
#[derive(Debug, Clone)]
pub struct Condition {
    source: Value,
    root: Node,
    // INVARIANT: sorted and deduplicated.
    paths: Vec<(String, PathKind)>,
    // INVARIANT: sorted and deduplicated.
    roots: Vec<String>,
}

impl PartialEq for Condition {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.source.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let source = Value::deserialize(deserializer)?;
        Condition::compile(&source).map_err(serde::de::Error::custom)
    }
}

/// Why a condition could not be compiled. Every variant carries `path`, a JSON pointer
/// into the condition (`/price/$gt`, `/$or/1/name`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConditionError {
    /// A condition (the whole, an element of `$and`/`$or`/`$nor`, `$not`) is not an object.
    #[error("expected a condition object such as {{\"field\": value}}, found {found} (at {path})")]
    NotACondition {
        /// JSON pointer inside the condition.
        path: String,
        /// The JSON that was found (shortened).
        found: String,
    },
    /// An operator this language does not know.
    #[error("unknown operator {found:?}{hint} (at {path})")]
    UnknownOperator {
        /// JSON pointer inside the condition.
        path: String,
        /// The operator as written.
        found: String,
        /// A suggestion, e.g. `: did you mean "$gt"?`, or empty.
        hint: String,
    },
    /// A known operator in a place where it has no meaning.
    #[error("{found:?} is not allowed here: {hint} (at {path})")]
    MisplacedOperator {
        /// JSON pointer inside the condition.
        path: String,
        /// The operator as written.
        found: String,
        /// What to write instead.
        hint: String,
    },
    /// An object mixing `$` operators and plain fields.
    #[error("object mixes operators ({operator:?}) with plain fields ({field:?}): use only operators, e.g. {{\"$gt\": 1, \"$lt\": 9}}, or only fields for an exact match (at {path})")]
    MixedKeys {
        /// JSON pointer inside the condition.
        path: String,
        /// One operator key.
        operator: String,
        /// One plain key.
        field: String,
    },
    /// An operator's operand has the wrong shape.
    #[error("{operator} needs {expected}, found {found} (at {path})")]
    BadOperand {
        /// JSON pointer inside the condition.
        path: String,
        /// The operator.
        operator: String,
        /// What it needs, with an example.
        expected: &'static str,
        /// The JSON that was found (shortened).
        found: String,
    },
    /// A `$regex` / `$regexi` pattern that does not compile.
    #[error("bad regular expression {pattern:?}: {reason} (at {path})")]
    BadRegex {
        /// JSON pointer inside the condition.
        path: String,
        /// The pattern as written.
        pattern: String,
        /// The regex engine's complaint.
        reason: String,
    },
    /// A `$within` / `$olderThan` duration that does not parse.
    #[error("bad duration {found:?}: write a number and a unit, e.g. \"30m\", \"12h\", \"14d\", \"2w\", \"2mo\" (at {path})")]
    BadDuration {
        /// JSON pointer inside the condition.
        path: String,
        /// The text that was found.
        found: String,
    },
    /// The condition nests deeper than [`MAX_DEPTH`].
    #[error("condition nests deeper than {limit} levels: flatten it, e.g. merge nested $and arrays (at {path})")]
    TooDeep {
        /// JSON pointer inside the condition.
        path: String,
        /// The limit.
        limit: usize,
    },
    /// `{"$ref": ...}` where the operator cannot take a reference.
    #[error("{operator} cannot take a {{\"$ref\": ...}} operand: write a literal value (at {path})")]
    RefNotSupported {
        /// JSON pointer inside the condition.
        path: String,
        /// The operator.
        operator: String,
    },
}

impl ConditionError {
    /// Stable machine code (snake_case).
    pub fn code(&self) -> &'static str {
        match self {
            ConditionError::NotACondition { .. } => "not_a_condition",
            ConditionError::UnknownOperator { .. } => "unknown_operator",
            ConditionError::MisplacedOperator { .. } => "misplaced_operator",
            ConditionError::MixedKeys { .. } => "mixed_keys",
            ConditionError::BadOperand { .. } => "bad_operand",
            ConditionError::BadRegex { .. } => "bad_regex",
            ConditionError::BadDuration { .. } => "bad_duration",
            ConditionError::TooDeep { .. } => "too_deep",
            ConditionError::RefNotSupported { .. } => "ref_not_supported",
        }
    }

    /// JSON pointer to the offending part of the condition.
    pub fn path(&self) -> &str {
        match self {
            ConditionError::NotACondition { path, .. }
            | ConditionError::UnknownOperator { path, .. }
            | ConditionError::MisplacedOperator { path, .. }
            | ConditionError::MixedKeys { path, .. }
            | ConditionError::BadOperand { path, .. }
            | ConditionError::BadRegex { path, .. }
            | ConditionError::BadDuration { path, .. }
            | ConditionError::TooDeep { path, .. }
            | ConditionError::RefNotSupported { path, .. } => path,
        }
    }
}

impl Condition {
    /// Compiles a JSON condition.
    pub fn compile(source: &Value) -> Result<Condition, ConditionError> {
        check_depth(source)?;
        let mut cx = Compiler::default();
        let root = cx.node(source, "")?;
        let mut paths = cx.paths;
        crate::sort::sort(&mut paths);
        paths.dedup();
        let mut roots: Vec<String> =
            paths.iter().map(|(p, _)| p.split('.').next().unwrap_or_default().to_owned()).collect();
        crate::sort::sort(&mut roots);
        roots.dedup();
        Ok(Condition { source: source.clone(), root, paths, roots })
    }

    /// The empty condition (always true).
    pub fn always() -> Condition {
        Condition {
            source: Value::Object(Map::new()),
            root: Node::All(Vec::new()),
            paths: Vec::new(),
            roots: Vec::new(),
        }
    }

    /// Evaluates against a scope: paths and `$ref`s are looked up in `scope`.
    pub fn eval(&self, scope: &dyn Scope, env: &EvalEnv<'_>) -> bool {
        let cx = Eval { root: scope, env };
        cx.node(&self.root, scope)
    }

    /// True for the empty condition `{}`.
    pub fn is_always(&self) -> bool {
        matches!(&self.root, Node::All(nodes) if nodes.is_empty())
    }

    /// The JSON the condition was compiled from.
    pub fn source(&self) -> &Value {
        &self.source
    }

    /// First segments of every path the condition reads from the root scope (tested
    /// attributes and `$ref`s; paths inside `$elemMatch` are relative to array elements
    /// and not listed), sorted and deduplicated: `["entry", "items"]`.
    pub fn referenced_roots(&self) -> impl Iterator<Item = &str> + '_ {
        self.roots.iter().map(String::as_str)
    }

    /// Every dotted path the condition reads from the root scope, with how it is used,
    /// sorted and deduplicated.
    pub fn referenced_paths(&self) -> impl Iterator<Item = (&str, PathKind)> + '_ {
        self.paths.iter().map(|(p, k)| (p.as_str(), *k))
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
    Regex(Box<regex_lite::Regex>),
    Type(&'static str),
    Text { kind: TextKind, fold: bool, needle: Operand },
    Within(Duration),
    OlderThan(Duration),
    AnniversaryWithin(Duration),
}

// ---------------------------------------------------------------------------------------
// Compilation
// ---------------------------------------------------------------------------------------

/// Every operator accepted inside a field's operator object.
const VALUE_OPERATORS: &[&str] = &[
    "$eq",
    "$ne",
    "$lt",
    "$lte",
    "$gt",
    "$gte",
    "$regex",
    "$regexi",
    "$in",
    "$nin",
    "$ini",
    "$nini",
    "$all",
    "$alli",
    "$elemMatch",
    "$size",
    "$exists",
    "$type",
    "$not",
    "$veq",
    "$vne",
    "$vgt",
    "$vgte",
    "$vlt",
    "$vlte",
    "$inGroup",
    "$notInGroup",
    "$contains",
    "$containsi",
    "$startsWith",
    "$startsWithi",
    "$endsWith",
    "$endsWithi",
    "$within",
    "$olderThan",
    "$anniversaryWithin",
];

/// Operators accepted at condition level.
const LOGICAL_OPERATORS: &[&str] = &["$and", "$or", "$nor", "$not"];

const TYPE_NAMES: &[&str] = &["string", "number", "boolean", "null", "object", "array"];

#[derive(Default)]
struct Compiler {
    paths: Vec<(String, PathKind)>,
    /// How many `$elemMatch` documents enclose the current position.
    in_element: usize,
}

fn pointer(parent: &str, segment: &str) -> String {
    let mut out = String::with_capacity(parent.len() + segment.len() + 1);
    out.push_str(parent);
    out.push('/');
    for c in segment.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
    out
}

fn short(v: &Value) -> String {
    let text = v.to_json();
    if text.chars().count() <= 60 {
        text
    } else {
        let mut cut: String = text.chars().take(57).collect();
        cut.push_str("...");
        cut
    }
}

fn split_path(path: &str) -> Vec<String> {
    path.split('.').map(str::to_owned).collect()
}

fn check_depth(source: &Value) -> Result<(), ConditionError> {
    match too_deep_at(source, 1) {
        None => Ok(()),
        Some(reversed) => {
            let mut path = String::new();
            for segment in reversed.iter().rev() {
                path = pointer(&path, segment);
            }
            if path.is_empty() {
                path.push('/');
            }
            Err(ConditionError::TooDeep { path, limit: MAX_DEPTH })
        }
    }
}

/// The path (innermost segment first) of the first container nested deeper than
/// [`MAX_DEPTH`]; recursion stops there, so it is bounded whatever the input.
fn too_deep_at(v: &Value, depth: usize) -> Option<Vec<String>> {
    let is_container = matches!(v, Value::Array(_) | Value::Object(_));
    if is_container && depth > MAX_DEPTH {
        return Some(Vec::new());
    }
    let found = match v {
        Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, x)| too_deep_at(x, depth + 1).map(|p| (i.to_string(), p)))
        }
        Value::Object(map) => map.iter().find_map(|(k, x)| too_deep_at(x, depth + 1).map(|p| (k.clone(), p))),
        _ => None,
    };
    found.map(|(segment, mut path)| {
        path.push(segment);
        path
    })
}

/// `{"$ref": "a.b"}` exactly: the referenced path.
fn as_ref_form(v: &Value) -> Option<&Value> {
    match v {
        Value::Object(map) if map.len() == 1 => map.get("$ref"),
        _ => None,
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(usize::MAX / 2) + usize::from(ca != *cb);
            let del = prev.get(j + 1).copied().unwrap_or(usize::MAX / 2) + 1;
            let ins = cur.last().copied().unwrap_or(usize::MAX / 2) + 1;
            cur.push(sub.min(del).min(ins));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}

/// The closest known name, if close enough to be a likely typo.
fn suggest(found: &str, candidates: &[&'static str]) -> Option<&'static str> {
    let lower = found.to_lowercase();
    if let Some(exact) = candidates.iter().find(|c| c.to_lowercase() == lower) {
        return Some(exact);
    }
    candidates
        .iter()
        .map(|c| (edit_distance(&lower, &c.to_lowercase()), *c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn did_you_mean(found: &str, candidates: &[&'static str]) -> String {
    suggest(found, candidates).map(|s| format!(": did you mean {s:?}?")).unwrap_or_default()
}

/// Rejects `$` keys (operators or `$ref`) anywhere inside a literal value.
fn check_literal(v: &Value, ptr: &str) -> Result<(), ConditionError> {
    match v {
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                check_literal(x, &pointer(ptr, &i.to_string()))?;
            }
            Ok(())
        }
        Value::Object(map) => {
            for (k, x) in map {
                let here = pointer(ptr, k);
                if k.starts_with('$') {
                    let hint = if k == "$ref" {
                        "{\"$ref\": ...} stands only for a whole operand or a whole element of an $in list"
                    } else {
                        "operators inside a literal value are not evaluated; test nested fields with a dotted path, e.g. {\"address.city\": {\"$eq\": \"Paris\"}}"
                    };
                    return Err(ConditionError::MisplacedOperator { path: here, found: k.clone(), hint: hint.into() });
                }
                check_literal(x, &here)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn bad_operand(ptr: &str, operator: &str, expected: &'static str, found: &Value) -> ConditionError {
    ConditionError::BadOperand { path: ptr.to_owned(), operator: operator.to_owned(), expected, found: short(found) }
}

impl Compiler {
    fn ref_path(&mut self, target: &Value, ptr: &str) -> Result<Vec<String>, ConditionError> {
        match target {
            Value::String(s) if !s.is_empty() => {
                self.paths.push((s.clone(), PathKind::Ref));
                Ok(split_path(s))
            }
            other => Err(bad_operand(
                &pointer(ptr, "$ref"),
                "$ref",
                "a dotted path string, e.g. {\"$ref\": \"entry.item_id\"}",
                other,
            )),
        }
    }

    fn node(&mut self, v: &Value, ptr: &str) -> Result<Node, ConditionError> {
        let Value::Object(map) = v else {
            return Err(ConditionError::NotACondition {
                path: if ptr.is_empty() { "/".into() } else { ptr.to_owned() },
                found: short(v),
            });
        };
        let mut nodes = Vec::with_capacity(map.len());
        for (key, val) in map {
            let here = pointer(ptr, key);
            let node = match key.as_str() {
                "$and" | "$or" | "$nor" => {
                    let Value::Array(items) = val else {
                        return Err(bad_operand(
                            &here,
                            key,
                            "an array of conditions, e.g. [{\"a\": 1}, {\"b\": 2}]",
                            val,
                        ));
                    };
                    let mut children = Vec::with_capacity(items.len());
                    for (i, item) in items.iter().enumerate() {
                        children.push(self.node(item, &pointer(&here, &i.to_string()))?);
                    }
                    match key.as_str() {
                        "$and" => Node::All(children),
                        "$or" => Node::Any(children),
                        _ => Node::Nor(children),
                    }
                }
                "$not" => Node::Not(Box::new(self.node(val, &here)?)),
                k if k.starts_with('$') && (k == "$ref" || VALUE_OPERATORS.contains(&k)) => {
                    return Err(ConditionError::MisplacedOperator {
                        path: here,
                        found: key.clone(),
                        hint: format!(
                            "{key} tests a field's value: write it under a field, e.g. {{\"price\": {{{key:?}: ...}}}}"
                        ),
                    });
                }
                k if k.starts_with('$') && LOGICAL_OPERATORS.iter().any(|l| edit_distance(k, l) == 1) => {
                    return Err(ConditionError::UnknownOperator {
                        path: here,
                        found: key.clone(),
                        hint: did_you_mean(k, LOGICAL_OPERATORS),
                    });
                }
                _ => {
                    if self.in_element == 0 {
                        self.paths.push((key.clone(), PathKind::Attribute));
                    }
                    let test = self.test(val, &here)?;
                    Node::Field(Box::new(Field { path: split_path(key), test }))
                }
            };
            nodes.push(node);
        }
        if nodes.len() == 1 {
            if let Some(only) = nodes.pop() {
                return Ok(only);
            }
        }
        Ok(Node::All(nodes))
    }

    fn test(&mut self, v: &Value, ptr: &str) -> Result<Test, ConditionError> {
        let Value::Object(map) = v else {
            check_literal(v, ptr)?;
            return Ok(Test::Literal(v.clone()));
        };
        if let Some(target) = as_ref_form(v) {
            return Ok(Test::Ref(self.ref_path(target, ptr)?));
        }
        let operator = map.keys().find(|k| k.starts_with('$'));
        let field = map.keys().find(|k| !k.starts_with('$'));
        match (operator, field) {
            (None, _) => {
                check_literal(v, ptr)?;
                Ok(Test::Literal(v.clone()))
            }
            (Some(op), Some(field)) => {
                Err(ConditionError::MixedKeys { path: ptr.to_owned(), operator: op.clone(), field: field.clone() })
            }
            (Some(_), None) => {
                let mut ops = Vec::with_capacity(map.len());
                for (name, operand) in map {
                    ops.push(self.op(name, operand, &pointer(ptr, name))?);
                }
                Ok(Test::Ops(ops))
            }
        }
    }

    fn operand(&mut self, v: &Value, ptr: &str) -> Result<Operand, ConditionError> {
        if let Some(target) = as_ref_form(v) {
            return Ok(Operand::Ref(self.ref_path(target, ptr)?));
        }
        check_literal(v, ptr)?;
        Ok(Operand::Const(v.clone()))
    }

    fn no_ref(v: &Value, ptr: &str, name: &str) -> Result<(), ConditionError> {
        if as_ref_form(v).is_some() {
            return Err(ConditionError::RefNotSupported { path: ptr.to_owned(), operator: name.to_owned() });
        }
        Ok(())
    }

    fn op(&mut self, name: &str, v: &Value, ptr: &str) -> Result<Op, ConditionError> {
        let fold =
            matches!(name, "$ini" | "$nini" | "$alli" | "$regexi" | "$containsi" | "$startsWithi" | "$endsWithi");
        Ok(match name {
            "$eq" => Op::Eq(self.operand(v, ptr)?),
            "$ne" => Op::Ne(self.operand(v, ptr)?),
            "$lt" | "$lte" | "$gt" | "$gte" => {
                let rel = match name {
                    "$lt" => Rel::Lt,
                    "$lte" => Rel::Lte,
                    "$gt" => Rel::Gt,
                    _ => Rel::Gte,
                };
                let operand = match self.operand(v, ptr)? {
                    Operand::Ref(path) => CmpOperand::Ref(path),
                    Operand::Const(value) => {
                        let prim = to_prim(&value, 0).into_owned();
                        let num = prim.num();
                        CmpOperand::Const { prim, num }
                    }
                };
                Op::Cmp(rel, operand)
            }
            "$veq" | "$vne" | "$vgt" | "$vgte" | "$vlt" | "$vlte" => {
                Self::no_ref(v, ptr, name)?;
                if !matches!(v, Value::String(_) | Value::Number(_)) {
                    return Err(bad_operand(ptr, name, "a version string, e.g. \"1.2.3\"", v));
                }
                let rel = match name {
                    "$veq" => Rel::Eq,
                    "$vne" => Rel::Ne,
                    "$vgt" => Rel::Gt,
                    "$vgte" => Rel::Gte,
                    "$vlt" => Rel::Lt,
                    _ => Rel::Lte,
                };
                Op::Version(rel, padded_version(v))
            }
            "$exists" => match v {
                Value::Bool(b) => Op::Exists(*b),
                other => return Err(bad_operand(ptr, name, "true or false", other)),
            },
            "$in" | "$nin" | "$ini" | "$nini" => {
                let negate = matches!(name, "$nin" | "$nini");
                match v {
                    Value::Array(items) => {
                        let mut out = Vec::with_capacity(items.len());
                        for (i, item) in items.iter().enumerate() {
                            out.push(self.operand(item, &pointer(ptr, &i.to_string()))?);
                        }
                        Op::In { items: out, negate, fold }
                    }
                    other => match as_ref_form(other) {
                        Some(target) => Op::InRef { path: self.ref_path(target, ptr)?, negate, fold },
                        None => return Err(bad_operand(ptr, name, "an array of values, e.g. [\"a\", \"b\"]", other)),
                    },
                }
            }
            "$inGroup" | "$notInGroup" => {
                Self::no_ref(v, ptr, name)?;
                match v {
                    Value::String(s) => Op::Group { name: s.clone(), negate: name == "$notInGroup" },
                    other => return Err(bad_operand(ptr, name, "a saved group id string, e.g. \"beta_testers\"", other)),
                }
            }
            "$not" => Op::Not(Box::new(self.test(v, ptr)?)),
            "$size" => {
                Self::no_ref(v, ptr, name)?;
                Op::Size(Box::new(self.test(v, ptr)?))
            }
            "$elemMatch" => match v {
                // Extension: `$and`/`$or`/`$nor` make the operand a condition on each element
                // (GrowthBook would treat them as unknown value operators, i.e. false).
                Value::Object(map)
                    if !map.is_empty()
                        && map.keys().all(|k| k.starts_with('$'))
                        && !map.keys().any(|k| matches!(k.as_str(), "$and" | "$or" | "$nor")) =>
                {
                    Op::ElemTest(Box::new(self.test(v, ptr)?))
                }
                Value::Object(_) => {
                    self.in_element += 1;
                    let node = self.node(v, ptr);
                    self.in_element -= 1;
                    Op::ElemDoc(Box::new(node?))
                }
                other => {
                    return Err(bad_operand(
                        ptr,
                        name,
                        "an object: a condition on each element ({\"name\": \"x\"}) or operators ({\"$gt\": 10})",
                        other,
                    ))
                }
            },
            "$all" | "$alli" => match v {
                Value::Array(items) => {
                    let mut out = Vec::with_capacity(items.len());
                    for (i, item) in items.iter().enumerate() {
                        out.push(self.test(item, &pointer(ptr, &i.to_string()))?);
                    }
                    Op::All { items: out, fold }
                }
                other => match as_ref_form(other) {
                    Some(target) => Op::AllRef { path: self.ref_path(target, ptr)?, fold },
                    None => return Err(bad_operand(ptr, name, "an array of values, e.g. [\"a\", \"b\"]", other)),
                },
            },
            "$regex" | "$regexi" => {
                Self::no_ref(v, ptr, name)?;
                let Value::String(pattern) = v else {
                    return Err(bad_operand(ptr, name, "a regular expression string, e.g. \"^SALE-\"", v));
                };
                let regex = regex_lite::RegexBuilder::new(pattern).case_insensitive(fold).build().map_err(|e| {
                    ConditionError::BadRegex { path: ptr.to_owned(), pattern: pattern.clone(), reason: first_line(&e.to_string()) }
                })?;
                Op::Regex(Box::new(regex))
            }
            "$type" => {
                Self::no_ref(v, ptr, name)?;
                match v {
                    Value::String(s) => match TYPE_NAMES.iter().find(|t| **t == s.as_str()) {
                        Some(t) => Op::Type(t),
                        None => {
                            return Err(bad_operand(
                                ptr,
                                name,
                                "one of \"string\", \"number\", \"boolean\", \"null\", \"object\", \"array\"",
                                v,
                            ))
                        }
                    },
                    other => return Err(bad_operand(ptr, name, "a type name string, e.g. \"number\"", other)),
                }
            }
            "$contains" | "$containsi" | "$startsWith" | "$startsWithi" | "$endsWith" | "$endsWithi" => {
                let kind = match name {
                    "$contains" | "$containsi" => TextKind::Contains,
                    "$startsWith" | "$startsWithi" => TextKind::StartsWith,
                    _ => TextKind::EndsWith,
                };
                let needle = self.operand(v, ptr)?;
                if let Operand::Const(c) = &needle {
                    if !matches!(c, Value::String(_)) {
                        return Err(bad_operand(ptr, name, "a string, e.g. \"sale\"", c));
                    }
                }
                Op::Text { kind, fold, needle }
            }
            "$within" | "$olderThan" | "$anniversaryWithin" => {
                Self::no_ref(v, ptr, name)?;
                let Value::String(text) = v else {
                    return Err(bad_operand(ptr, name, "a duration string, e.g. \"30d\" or \"1h30m\"", v));
                };
                let d = Duration::parse(text)
                    .map_err(|_| ConditionError::BadDuration { path: ptr.to_owned(), found: text.clone() })?;
                match name {
                    "$within" => Op::Within(d),
                    "$olderThan" => Op::OlderThan(d),
                    _ => Op::AnniversaryWithin(d),
                }
            }
            "$and" | "$or" | "$nor" => {
                return Err(ConditionError::MisplacedOperator {
                    path: ptr.to_owned(),
                    found: name.to_owned(),
                    hint: format!(
                        "{name} combines conditions: put it at condition level, e.g. {{{name:?}: [{{\"a\": 1}}, {{\"b\": 2}}]}}"
                    ),
                })
            }
            "$ref" => {
                return Err(ConditionError::MisplacedOperator {
                    path: ptr.to_owned(),
                    found: name.to_owned(),
                    hint: "{\"$ref\": ...} must be alone in its object; to compare, write {\"$eq\": {\"$ref\": \"entry.x\"}}"
                        .into(),
                })
            }
            other => {
                return Err(ConditionError::UnknownOperator {
                    path: ptr.to_owned(),
                    found: other.to_owned(),
                    hint: did_you_mean(other, VALUE_OPERATORS),
                });
            }
        })
    }
}

fn first_line(s: &str) -> String {
    let text = s.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        "invalid pattern".to_owned()
    } else {
        text
    }
}

fn is_null(v: &Value) -> bool {
    matches!(v, Value::Null)
}

// ---------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------

struct Eval<'s, 'e> {
    root: &'s dyn Scope,
    env: &'s EvalEnv<'e>,
}

impl Eval<'_, '_> {
    fn node(&self, node: &Node, doc: &dyn Scope) -> bool {
        match node {
            Node::All(nodes) => nodes.iter().all(|n| self.node(n, doc)),
            Node::Any(nodes) => nodes.is_empty() || nodes.iter().any(|n| self.node(n, doc)),
            Node::Nor(nodes) => !(nodes.is_empty() || nodes.iter().any(|n| self.node(n, doc))),
            Node::Not(inner) => !self.node(inner, doc),
            Node::Field(field) => {
                let found = doc.lookup(&field.path);
                self.test(&field.test, found.as_deref().unwrap_or(&NULL), false)
            }
        }
    }

    fn resolve(&self, path: &[String]) -> Option<Cow<'_, Value>> {
        self.root.lookup(path)
    }

    fn test(&self, test: &Test, actual: &Value, fold: bool) -> bool {
        match test {
            Test::Literal(lit) => literal_eq(lit, actual, fold),
            Test::Ref(path) => self.resolve(path).is_some_and(|lit| literal_eq(&lit, actual, fold)),
            Test::Ops(ops) => ops.iter().all(|op| self.op(op, actual)),
        }
    }

    fn op(&self, op: &Op, actual: &Value) -> bool {
        match op {
            Op::Eq(Operand::Const(c)) => strict_eq(actual, c, 0),
            Op::Eq(Operand::Ref(p)) => self.resolve(p).is_some_and(|c| strict_eq(actual, &c, 0)),
            Op::Ne(Operand::Const(c)) => !strict_eq(actual, c, 0),
            Op::Ne(Operand::Ref(p)) => self.resolve(p).is_some_and(|c| !strict_eq(actual, &c, 0)),
            Op::Cmp(rel, CmpOperand::Const { prim, num }) => {
                js_compare(&to_prim(actual, 0), prim, Some(*num)).is_some_and(|o| rel.holds(o))
            }
            Op::Cmp(rel, CmpOperand::Ref(p)) => self
                .resolve(p)
                .is_some_and(|c| js_compare(&to_prim(actual, 0), &to_prim(&c, 0), None).is_some_and(|o| rel.holds(o))),
            Op::Version(rel, expected) => {
                let padded = padded_version(actual);
                rel.holds(padded.encode_utf16().cmp(expected.encode_utf16()))
            }
            Op::Exists(want) => is_null(actual) != *want,
            Op::In { items, negate, fold } => self.is_in(actual, items, *fold) != *negate,
            Op::InRef { path, negate, fold } => match self.resolve(path).as_deref() {
                Some(Value::Array(list)) => is_in_values(actual, list, *fold) != *negate,
                _ => false,
            },
            Op::Group { name, negate } => {
                let list = self.env.groups.and_then(|g| g.get(name)).map(Vec::as_slice).unwrap_or_default();
                is_in_values(actual, list, false) != *negate
            }
            Op::Not(inner) => !self.test(inner, actual, false),
            Op::Size(inner) => match actual {
                Value::Array(items) => self.test(inner, &Value::Number(items.len() as f64), false),
                _ => false,
            },
            Op::ElemTest(inner) => match actual {
                Value::Array(items) => items.iter().any(|el| truthy(el) && self.test(inner, el, false)),
                _ => false,
            },
            Op::ElemDoc(node) => match actual {
                Value::Array(items) => items.iter().any(|el| truthy(el) && self.node(node, el)),
                _ => false,
            },
            Op::All { items, fold } => match actual {
                Value::Array(elements) => items.iter().all(|t| elements.iter().any(|el| self.test(t, el, *fold))),
                _ => false,
            },
            Op::AllRef { path, fold } => match (actual, self.resolve(path).as_deref()) {
                (Value::Array(elements), Some(Value::Array(wanted))) => {
                    wanted.iter().all(|w| elements.iter().any(|el| literal_eq(w, el, *fold)))
                }
                _ => false,
            },
            Op::Regex(re) => match actual {
                Value::String(s) => re.is_match(s),
                Value::Number(_) | Value::Bool(_) => {
                    let mut buf = StackBuf::new();
                    write_js_string(&mut buf, actual, 0).is_ok() && re.is_match(buf.as_str())
                }
                _ => false,
            },
            Op::Type(name) => actual.type_name() == *name,
            Op::Text { kind, fold, needle } => {
                let resolved;
                let needle = match needle {
                    Operand::Const(c) => c,
                    Operand::Ref(p) => match self.resolve(p) {
                        Some(v) => {
                            resolved = v;
                            &*resolved
                        }
                        None => return false,
                    },
                };
                let Value::String(needle) = needle else {
                    return false;
                };
                match actual {
                    Value::String(s) => text_match(*kind, *fold, s, needle),
                    Value::Array(items) => {
                        items.iter().any(|el| matches!(el, Value::String(s) if text_match(*kind, *fold, s, needle)))
                    }
                    _ => false,
                }
            }
            Op::Within(d) => {
                let now = self.env.now;
                timestamp_of(actual).is_some_and(|t| now.minus(*d).0 <= t && t <= now.0)
            }
            Op::OlderThan(d) => timestamp_of(actual).is_some_and(|t| t <= self.env.now.minus(*d).0),
            Op::AnniversaryWithin(d) => date_of(actual)
                .and_then(|(_, month, day)| crate::time::last_anniversary(self.env.now, month, day))
                .is_some_and(|start| self.env.now.since(start) < *d),
        }
    }

    /// GrowthBook's `isIn`: an array attribute intersects the list.
    fn is_in(&self, actual: &Value, items: &[Operand], fold: bool) -> bool {
        let member = |x: &Value| {
            items.iter().any(|item| match item {
                Operand::Const(c) => in_eq(x, c, fold),
                Operand::Ref(p) => self.resolve(p).is_some_and(|c| in_eq(x, &c, fold)),
            })
        };
        match actual {
            Value::Array(xs) => xs.iter().any(member),
            other => member(other),
        }
    }
}

fn is_in_values(actual: &Value, list: &[Value], fold: bool) -> bool {
    let member = |x: &Value| list.iter().any(|c| in_eq(x, c, fold));
    match actual {
        Value::Array(xs) => xs.iter().any(member),
        other => member(other),
    }
}

/// A calendar date from "YYYY-MM-DD", RFC 3339 text or epoch milliseconds (UTC).
fn date_of(v: &Value) -> Option<(i32, u8, u8)> {
    match v {
        Value::String(s) => crate::time::parse_date(s),
        Value::Number(n) if n.is_finite() => Some(crate::time::civil_date(Timestamp(*n as i64))),
        _ => None,
    }
}

fn timestamp_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) if n.is_finite() => Some(*n as i64),
        Value::String(s) => Timestamp::parse_rfc3339(s).ok().map(|t| t.0),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// JavaScript value semantics
// ---------------------------------------------------------------------------------------

/// JavaScript truthiness.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => *n != 0.0 && !n.is_nan(),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// A condition literal against an attribute (GrowthBook's `evalConditionValue` for
/// non-operator conditions); `fold` lowercases both sides of string comparisons.
fn literal_eq(cond: &Value, actual: &Value, fold: bool) -> bool {
    match cond {
        Value::String(s) => js_string_equals(actual, s, fold),
        Value::Number(c) => to_number(actual) == *c,
        Value::Bool(c) => !is_null(actual) && truthy(actual) == *c,
        Value::Null => is_null(actual),
        Value::Array(_) | Value::Object(_) => json_eq(actual, cond, 0),
    }
}

/// Equality as `JSON.stringify(a) === JSON.stringify(b)`, ignoring object key order.
fn json_eq(a: &Value, b: &Value, depth: usize) -> bool {
    if depth > DATA_DEPTH_LIMIT {
        return false;
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.is_finite(), y.is_finite()) {
            (true, true) => x == y,
            (false, false) => true,
            _ => false,
        },
        (Value::Number(x), Value::Null) | (Value::Null, Value::Number(x)) => !x.is_finite(),
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q, depth + 1))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, p)| y.get(k).is_some_and(|q| json_eq(p, q, depth + 1)))
        }
        _ => false,
    }
}

/// `===`, except that arrays and objects compare structurally.
fn strict_eq(a: &Value, b: &Value, depth: usize) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y,
        (Value::Array(_), Value::Array(_)) | (Value::Object(_), Value::Object(_)) => json_eq(a, b, depth),
        _ => a == b && !matches!(a, Value::Array(_) | Value::Object(_)),
    }
}

/// `Array.prototype.includes` equality (SameValueZero), optionally case-folding strings.
fn in_eq(x: &Value, c: &Value, fold: bool) -> bool {
    match (x, c) {
        (Value::String(a), Value::String(b)) if fold => fold_eq(a, b),
        (Value::Number(a), Value::Number(b)) => a == b || (a.is_nan() && b.is_nan()),
        _ => strict_eq(x, c, 0),
    }
}

fn lower(c: char) -> std::char::ToLowercase {
    c.to_lowercase()
}

fn fold_eq(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    a.chars().flat_map(lower).eq(b.chars().flat_map(lower))
}

/// `String(actual) === target` (or both lowercased when `fold`), without allocating.
fn js_string_equals(actual: &Value, target: &str, fold: bool) -> bool {
    if let Value::String(s) = actual {
        return if fold { fold_eq(s, target) } else { s == target };
    }
    if fold {
        let mut w = CharEq { target: target.chars().flat_map(lower as fn(char) -> std::char::ToLowercase), fold: true };
        write_js_string(&mut w, actual, 0).is_ok() && w.target.next().is_none()
    } else {
        let mut w = CharEq { target: target.chars(), fold: false };
        write_js_string(&mut w, actual, 0).is_ok() && w.target.next().is_none()
    }
}

/// A writer that checks the text written equals `target`, failing on the first mismatch.
struct CharEq<I> {
    target: I,
    fold: bool,
}

impl<I: Iterator<Item = char>> fmt::Write for CharEq<I> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if self.fold {
                for l in c.to_lowercase() {
                    if self.target.next() != Some(l) {
                        return Err(fmt::Error);
                    }
                }
            } else if self.target.next() != Some(c) {
                return Err(fmt::Error);
            }
        }
        Ok(())
    }
}

/// A small fixed-size text buffer (for number formatting without allocating).
struct StackBuf {
    buf: [u8; 64],
    len: usize,
}

impl StackBuf {
    fn new() -> StackBuf {
        StackBuf { buf: [0; 64], len: 0 }
    }
    fn as_str(&self) -> &str {
        self.buf.get(..self.len).and_then(|b| std::str::from_utf8(b).ok()).unwrap_or("")
    }
}

impl fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// JavaScript `String(v)`.
fn write_js_string(out: &mut dyn fmt::Write, v: &Value, depth: usize) -> fmt::Result {
    match v {
        Value::Null => out.write_str("null"),
        Value::Bool(b) => out.write_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_js_number(out, *n),
        Value::String(s) => out.write_str(s),
        Value::Array(items) => write_js_join(out, items, depth + 1),
        Value::Object(_) => out.write_str("[object Object]"),
    }
}

/// JavaScript `Array.prototype.join(",")`.
fn write_js_join(out: &mut dyn fmt::Write, items: &[Value], depth: usize) -> fmt::Result {
    if depth > DATA_DEPTH_LIMIT {
        return Err(fmt::Error);
    }
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.write_str(",")?;
        }
        if !is_null(item) {
            write_js_string(out, item, depth)?;
        }
    }
    Ok(())
}

/// JavaScript `Number.prototype.toString()` for a number.
fn write_js_number(out: &mut dyn fmt::Write, n: f64) -> fmt::Result {
    crate::jsnum::write(out, n)
}

fn is_js_space(c: char) -> bool {
    matches!(
        c,
        '\u{9}' | '\u{A}' | '\u{B}' | '\u{C}' | '\u{D}' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}' | '\u{2028}' | '\u{2029}' | '\u{202F}' | '\u{205F}' | '\u{3000}' | '\u{FEFF}'
    )
}

/// JavaScript `Number(s)` for a string.
fn js_str_to_number(s: &str) -> f64 {
    let t = s.trim_matches(is_js_space);
    if t.is_empty() {
        return 0.0;
    }
    for (prefix, radix) in [("0x", 16), ("0X", 16), ("0o", 8), ("0O", 8), ("0b", 2), ("0B", 2)] {
        if let Some(rest) = t.strip_prefix(prefix) {
            if rest.is_empty() {
                return f64::NAN;
            }
            let mut value = 0.0_f64;
            for c in rest.chars() {
                match c.to_digit(radix) {
                    Some(d) => value = value * f64::from(radix) + f64::from(d),
                    None => return f64::NAN,
                }
            }
            return value;
        }
    }
    let (sign, body) = match t.strip_prefix('-') {
        Some(rest) => (-1.0, rest),
        None => (1.0, t.strip_prefix('+').unwrap_or(t)),
    };
    if body == "Infinity" {
        return sign * f64::INFINITY;
    }
    // StrUnsignedDecimalLiteral: digits [. digits] [e [+-] digits], at least one digit.
    match body.as_bytes().first() {
        Some(b'+' | b'-') => f64::NAN,
        _ => crate::jsnum::parse_decimal(body).map_or(f64::NAN, |v| sign * v),
    }
}

/// JavaScript `Number(v)`.
fn to_number(v: &Value) -> f64 {
    match v {
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => *n,
        Value::String(s) => js_str_to_number(s),
        Value::Array(items) => match items.as_slice() {
            [] => 0.0,
            _ => {
                let mut text = String::new();
                if write_js_join(&mut text, items, 1).is_err() {
                    return f64::NAN;
                }
                js_str_to_number(&text)
            }
        },
        Value::Object(_) => f64::NAN,
    }
}

/// A JavaScript primitive, as relational comparison sees an operand.
#[derive(Debug, Clone)]
enum Prim<'a> {
    Num(f64),
    Str(Cow<'a, str>),
}

impl Prim<'_> {
    fn num(&self) -> f64 {
        match self {
            Prim::Num(n) => *n,
            Prim::Str(s) => js_str_to_number(s),
        }
    }
    fn into_owned(self) -> Prim<'static> {
        match self {
            Prim::Num(n) => Prim::Num(n),
            Prim::Str(s) => Prim::Str(Cow::Owned(s.into_owned())),
        }
    }
}

/// JavaScript `ToPrimitive` (hint number) followed by the relational-comparison split.
fn to_prim(v: &Value, depth: usize) -> Prim<'_> {
    match v {
        Value::Null => Prim::Num(0.0),
        Value::Bool(b) => Prim::Num(f64::from(u8::from(*b))),
        Value::Number(n) => Prim::Num(*n),
        Value::String(s) => Prim::Str(Cow::Borrowed(s)),
        Value::Array(items) => {
            let mut text = String::new();
            match write_js_join(&mut text, items, depth + 1) {
                Ok(()) => Prim::Str(Cow::Owned(text)),
                Err(_) => Prim::Num(f64::NAN),
            }
        }
        Value::Object(_) => Prim::Str(Cow::Borrowed("[object Object]")),
    }
}

/// JavaScript's abstract relational comparison: `None` when a side is `NaN`.
fn js_compare(a: &Prim<'_>, b: &Prim<'_>, b_num: Option<f64>) -> Option<Ordering> {
    if let (Prim::Str(x), Prim::Str(y)) = (a, b) {
        return Some(x.encode_utf16().cmp(y.encode_utf16()));
    }
    let y = b_num.unwrap_or_else(|| b.num());
    a.num().partial_cmp(&y)
}

/// GrowthBook's `paddedVersionString`: numeric parts left-padded to 5, joined by `-`,
/// with `~` appended to a plain `x.y.z` so that it sorts after its pre-releases.
fn padded_version(v: &Value) -> String {
    let mut number = StackBuf::new();
    let raw: &str = match v {
        Value::Number(n) => {
            if write_js_number(&mut number, *n).is_err() {
                return String::from("    0");
            }
            number.as_str()
        }
        Value::String(s) if !s.is_empty() => s,
        _ => "0",
    };
    // `replace(/(^v|\+.*$)/g, "")`: a leading "v", and the first "+" from which no line
    // terminator follows, through the end.
    let raw = raw.strip_prefix('v').unwrap_or(raw);
    let is_lt = |c: char| matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}');
    let tail_start = raw.rfind(is_lt).map_or(0, |i| i + 1);
    let raw = match raw.get(tail_start..).and_then(|tail| tail.find('+')) {
        Some(plus) => raw.get(..tail_start + plus).unwrap_or(raw),
        None => raw,
    };
    let parts = raw.split(['-', '.']);
    let count = raw.split(['-', '.']).count();
    let mut out = String::with_capacity(raw.len() + 16);
    for (i, part) in parts.enumerate() {
        if i > 0 {
            out.push('-');
        }
        if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
            for _ in part.len()..5 {
                out.push(' ');
            }
        }
        out.push_str(part);
    }
    if count == 3 {
        out.push_str("-~");
    }
    out
}

/// The string extensions; `fold` lowercases both sides per character.
fn text_match(kind: TextKind, fold: bool, hay: &str, needle: &str) -> bool {
    if !fold {
        return match kind {
            TextKind::Contains => hay.contains(needle),
            TextKind::StartsWith => hay.starts_with(needle),
            TextKind::EndsWith => hay.ends_with(needle),
        };
    }
    if hay.is_ascii() && needle.is_ascii() {
        let (h, n) = (hay.as_bytes(), needle.as_bytes());
        return match kind {
            TextKind::Contains => n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n)),
            TextKind::StartsWith => h.get(..n.len()).is_some_and(|w| w.eq_ignore_ascii_case(n)),
            TextKind::EndsWith => {
                h.len().checked_sub(n.len()).and_then(|s| h.get(s..)).is_some_and(|w| w.eq_ignore_ascii_case(n))
            }
        };
    }
    let folded_prefix = |h: &str| {
        let mut hs = h.chars().flat_map(lower);
        needle.chars().flat_map(lower).all(|c| hs.next() == Some(c))
    };
    match kind {
        TextKind::StartsWith => folded_prefix(hay),
        TextKind::Contains => {
            needle.is_empty() || hay.char_indices().any(|(i, _)| hay.get(i..).is_some_and(folded_prefix))
        }
        TextKind::EndsWith => {
            let mut hs = hay.chars().rev().flat_map(|c| c.to_lowercase().rev());
            needle.chars().rev().flat_map(|c| c.to_lowercase().rev()).all(|c| hs.next() == Some(c))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]
mod tests {
    use super::*;

    fn js(n: f64) -> String {
        let mut s = String::new();
        write_js_number(&mut s, n).unwrap();
        s
    }

    #[test]
    fn numbers_print_as_javascript_does() {
        assert_eq!(js(0.0), "0");
        assert_eq!(js(-0.0), "0");
        assert_eq!(js(5.0), "5");
        assert_eq!(js(-12.5), "-12.5");
        assert_eq!(js(0.1), "0.1");
        assert_eq!(js(1e21), "1e+21");
        assert_eq!(js(1e20), "100000000000000000000");
        assert_eq!(js(123456789012345680000.0), "123456789012345680000");
        assert_eq!(js(1.5e-7), "1.5e-7");
        assert_eq!(js(0.000001), "0.000001");
        assert_eq!(js(1.7976931348623157e308), "1.7976931348623157e+308");
        assert_eq!(js(f64::NAN), "NaN");
        assert_eq!(js(f64::NEG_INFINITY), "-Infinity");
    }

    #[test]
    fn strings_convert_to_numbers_as_javascript_does() {
        assert_eq!(js_str_to_number(" 8 "), 8.0);
        assert_eq!(js_str_to_number(""), 0.0);
        assert_eq!(js_str_to_number("0x1F"), 31.0);
        assert_eq!(js_str_to_number("-Infinity"), f64::NEG_INFINITY);
        assert_eq!(js_str_to_number("1e3"), 1000.0);
        assert_eq!(js_str_to_number(".5"), 0.5);
        assert_eq!(js_str_to_number("5."), 5.0);
        for bad in ["inf", "NaN", "1e", "abc", "1_000", "-0x10", "0x", "."] {
            assert!(js_str_to_number(bad).is_nan(), "{bad}");
        }
    }

    #[test]
    fn versions_pad_like_growthbook() {
        assert_eq!(padded_version(&Value::from("v1.2.3+build")), "    1-    2-    3-~");
        assert_eq!(padded_version(&Value::from("1.0.0-rc.1")), "    1-    0-    0-rc-    1");
        assert_eq!(padded_version(&Value::Null), "    0");
        assert_eq!(padded_version(&Value::Number(2.0)), "    2");
        assert_eq!(padded_version(&Value::from("123456.1.1")), "123456-    1-    1-~");
    }

    #[test]
    fn string_equality_uses_javascript_text() {
        assert!(js_string_equals(&Value::Number(5.0), "5", false));
        assert!(js_string_equals(&Value::Null, "null", false));
        assert!(js_string_equals(&Value::Array(vec![1.0.into(), Value::Null, "x".into()]), "1,,x", false));
        assert!(!js_string_equals(&Value::Number(5.0), "5.0", false));
        assert!(js_string_equals(&Value::Bool(true), "TRUE", true));
        assert!(!js_string_equals(&Value::Bool(true), "TRUEX", true));
    }

    #[test]
    fn case_folding_text_operators() {
        assert!(text_match(TextKind::Contains, true, "Grüße AUS Köln", "aus kö"));
        assert!(text_match(TextKind::EndsWith, true, "Grüße AUS KÖLN", "köln"));
        assert!(text_match(TextKind::StartsWith, true, "ÉTÉ sale", "été"));
        assert!(!text_match(TextKind::EndsWith, true, "ÉTÉ", "xété"));
        assert!(text_match(TextKind::Contains, true, "abc", ""));
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("$gtx", VALUE_OPERATORS), Some("$gt"));
        assert_eq!(suggest("$startswith", VALUE_OPERATORS), Some("$startsWith"));
        assert_eq!(suggest("$frobnicate", VALUE_OPERATORS), None);
    }
}
