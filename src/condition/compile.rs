//! The condition compiler (feature `compiler`): checks a JSON condition and builds the
//! evaluation tree, with errors that carry a JSON pointer, a stable code and, for typos,
//! a suggestion. Bundles carry its output, so a loader never needs it.

use super::eval::{padded_version, to_prim};
use super::regex::{self, MAX_DFA_BYTES};
use super::{CmpOperand, Condition, Field, Node, Op, Operand, Rel, Test, TextKind, MAX_DEPTH, TYPE_NAMES};
use crate::time::Duration;
use crate::value::Value;

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
    /// A `$regex` / `$regexi` pattern whose DFA would exceed [`MAX_DFA_BYTES`].
    #[error("regular expression {pattern:?} is too complex: its DFA would exceed {limit} bytes; simplify it (fewer alternatives, bounded repetitions such as {{1,5}} instead of {{1,500}}) (at {path})")]
    RegexTooLarge {
        /// JSON pointer inside the condition.
        path: String,
        /// The pattern as written.
        pattern: String,
        /// The limit, in bytes.
        limit: usize,
    },
    /// A `$regex` / `$regexi` pattern that would take too much work to compile: a counted
    /// repetition over [`regex::MAX_REPEAT`], or an automaton passing its byte budget
    /// while being built ([`regex::MAX_NFA_BYTES`], [`regex::MAX_BUILD_DFA_BYTES`]).
    #[error("regular expression {pattern:?} is too complex to compile: {reason} (at {path})")]
    RegexTooComplex {
        /// JSON pointer inside the condition.
        path: String,
        /// The pattern as written.
        pattern: String,
        /// Which limit, by how much, and what to write instead.
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
            ConditionError::RegexTooLarge { .. } => "regex_too_large",
            ConditionError::RegexTooComplex { .. } => "regex_too_complex",
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
            | ConditionError::RegexTooLarge { path, .. }
            | ConditionError::RegexTooComplex { path, .. }
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
        let root = Compiler.node(source, "")?;
        Ok(Condition { root, source: Some(Box::new(source.clone())) })
    }
}

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

/// Turns checked JSON into the evaluation tree.
struct Compiler;

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
            Value::String(s) if !s.is_empty() => Ok(split_path(s)),
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
            "$lt" | "$lte" | "$gt" | "$gte" => self.cmp_op(name, v, ptr)?,
            "$veq" | "$vne" | "$vgt" | "$vgte" | "$vlt" | "$vlte" => Self::version_op(name, v, ptr)?,
            "$exists" => match v {
                Value::Bool(b) => Op::Exists(*b),
                other => return Err(bad_operand(ptr, name, "true or false", other)),
            },
            "$in" | "$nin" | "$ini" | "$nini" => self.in_op(name, v, ptr, fold)?,
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
            "$elemMatch" => self.elem_match_op(name, v, ptr)?,
            "$all" | "$alli" => self.all_op(name, v, ptr, fold)?,
            "$regex" | "$regexi" => Self::regex_op(name, v, ptr, fold)?,
            "$type" => Self::type_op(name, v, ptr)?,
            "$contains" | "$containsi" | "$startsWith" | "$startsWithi" | "$endsWith" | "$endsWithi" => {
                self.text_op(name, v, ptr, fold)?
            }
            "$within" | "$olderThan" | "$anniversaryWithin" => Self::duration_op(name, v, ptr)?,
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

    /// `$lt` / `$lte` / `$gt` / `$gte`: a constant is converted to a primitive once, here.
    fn cmp_op(&mut self, name: &str, v: &Value, ptr: &str) -> Result<Op, ConditionError> {
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
        Ok(Op::Cmp(rel, operand))
    }

    /// `$veq` … `$vlte`: version strings, padded once here for comparison.
    fn version_op(name: &str, v: &Value, ptr: &str) -> Result<Op, ConditionError> {
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
        Ok(Op::Version(rel, padded_version(v)))
    }

    /// `$in` / `$nin` / `$ini` / `$nini`: an array of operands, or a reference to an array.
    fn in_op(&mut self, name: &str, v: &Value, ptr: &str, fold: bool) -> Result<Op, ConditionError> {
        let negate = matches!(name, "$nin" | "$nini");
        Ok(match v {
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
        })
    }

    /// `$elemMatch`: operators on each element, or a condition on each element.
    fn elem_match_op(&mut self, name: &str, v: &Value, ptr: &str) -> Result<Op, ConditionError> {
        Ok(match v {
            // Extension: `$and`/`$or`/`$nor` make the operand a condition on each element
            // (GrowthBook would treat them as unknown value operators, i.e. false).
            Value::Object(map)
                if !map.is_empty()
                    && map.keys().all(|k| k.starts_with('$'))
                    && !map.keys().any(|k| matches!(k.as_str(), "$and" | "$or" | "$nor")) =>
            {
                Op::ElemTest(Box::new(self.test(v, ptr)?))
            }
            Value::Object(_) => Op::ElemDoc(Box::new(self.node(v, ptr)?)),
            other => {
                return Err(bad_operand(
                    ptr,
                    name,
                    "an object: a condition on each element ({\"name\": \"x\"}) or operators ({\"$gt\": 10})",
                    other,
                ))
            }
        })
    }

    /// `$all` / `$alli`: an array of tests, or a reference to an array.
    fn all_op(&mut self, name: &str, v: &Value, ptr: &str, fold: bool) -> Result<Op, ConditionError> {
        Ok(match v {
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
        })
    }

    /// `$regex` / `$regexi`: the pattern compiled into a DFA table.
    fn regex_op(name: &str, v: &Value, ptr: &str, fold: bool) -> Result<Op, ConditionError> {
        Self::no_ref(v, ptr, name)?;
        let Value::String(pattern) = v else {
            return Err(bad_operand(ptr, name, "a regular expression string, e.g. \"^SALE-\"", v));
        };
        let regex = regex::Regex::build(pattern, fold).map_err(|e| match e {
            regex::BuildError::Syntax(reason) => {
                ConditionError::BadRegex { path: ptr.to_owned(), pattern: pattern.clone(), reason }
            }
            regex::BuildError::TooLarge => {
                ConditionError::RegexTooLarge { path: ptr.to_owned(), pattern: pattern.clone(), limit: MAX_DFA_BYTES }
            }
            regex::BuildError::TooComplex(limit) => ConditionError::RegexTooComplex {
                path: ptr.to_owned(),
                pattern: pattern.clone(),
                reason: limit.to_string(),
            },
        })?;
        Ok(Op::Regex(Box::new(regex)))
    }

    /// `$type`: one of the JSON type names.
    fn type_op(name: &str, v: &Value, ptr: &str) -> Result<Op, ConditionError> {
        Self::no_ref(v, ptr, name)?;
        match v {
            Value::String(s) => match TYPE_NAMES.iter().find(|t| **t == s.as_str()) {
                Some(t) => Ok(Op::Type(t)),
                None => Err(bad_operand(
                    ptr,
                    name,
                    "one of \"string\", \"number\", \"boolean\", \"null\", \"object\", \"array\"",
                    v,
                )),
            },
            other => Err(bad_operand(ptr, name, "a type name string, e.g. \"number\"", other)),
        }
    }

    /// `$contains` / `$startsWith` / `$endsWith` and their case-folding forms: a string needle.
    fn text_op(&mut self, name: &str, v: &Value, ptr: &str, fold: bool) -> Result<Op, ConditionError> {
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
        Ok(Op::Text { kind, fold, needle })
    }

    /// `$within` / `$olderThan` / `$anniversaryWithin`: a duration string.
    fn duration_op(name: &str, v: &Value, ptr: &str) -> Result<Op, ConditionError> {
        Self::no_ref(v, ptr, name)?;
        let Value::String(text) = v else {
            return Err(bad_operand(ptr, name, "a duration string, e.g. \"30d\" or \"1h30m\"", v));
        };
        let d = Duration::parse(text)
            .map_err(|_| ConditionError::BadDuration { path: ptr.to_owned(), found: text.clone() })?;
        Ok(match name {
            "$within" => Op::Within(d),
            "$olderThan" => Op::OlderThan(d),
            _ => Op::AnniversaryWithin(d),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(suggest("$gtx", VALUE_OPERATORS), Some("$gt"));
        assert_eq!(suggest("$startswith", VALUE_OPERATORS), Some("$startsWith"));
        assert_eq!(suggest("$frobnicate", VALUE_OPERATORS), None);
    }
}
