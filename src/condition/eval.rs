//! Evaluation of the compiled tree, with GrowthBook's JavaScript value semantics
//! (`String(v)`, `Number(v)`, relational comparison, `===`, version padding).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use super::{CmpOperand, EvalEnv, Node, Op, Operand, Scope, Test, TextKind};
use crate::casefold;
use crate::time::Timestamp;
use crate::value::Value;

/// Depth beyond which evaluation stops following attribute data (and answers "no match").
const DATA_DEPTH_LIMIT: usize = 128;

/// What a missing path evaluates as (GrowthBook's `getPath` answers `null`).
static NULL: Value = Value::Null;

/// One evaluation: the root scope (for `$ref`s) and the environment.
pub(super) struct Eval<'s, 'e> {
    pub(super) root: &'s dyn Scope,
    pub(super) env: &'s EvalEnv<'e>,
}

impl Eval<'_, '_> {
    pub(super) fn node(&self, node: &Node, doc: &dyn Scope) -> bool {
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
                    let mut buf = crate::jsnum::StackBuf::new();
                    write_js_string(&mut buf, actual, 0).is_ok() && re.is_match(buf.as_str())
                }
                _ => false,
            },
            Op::Type(name) => actual.type_name() == *name,
            Op::Text { kind, fold, needle } => self.text(*kind, *fold, needle, actual),
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

    /// `$contains` / `$startsWith` / `$endsWith`: a string needle (resolved when a
    /// reference) against a string, or against any string element of an array.
    fn text(&self, kind: TextKind, fold: bool, needle: &Operand, actual: &Value) -> bool {
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
            Value::String(s) => text_match(kind, fold, s, needle),
            Value::Array(items) => {
                items.iter().any(|el| matches!(el, Value::String(s) if text_match(kind, fold, s, needle)))
            }
            _ => false,
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
pub(super) fn date_of(v: &Value) -> Option<(i32, u8, u8)> {
    match v {
        Value::String(s) => crate::time::parse_date(s),
        Value::Number(n) if n.is_finite() => Some(crate::time::civil_date(Timestamp(*n as i64))),
        _ => None,
    }
}

pub(super) fn timestamp_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) if n.is_finite() => Some(*n as i64),
        Value::String(s) => Timestamp::parse_rfc3339(s).ok().map(|t| t.0),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// JavaScript value semantics
// ---------------------------------------------------------------------------------------

fn is_null(v: &Value) -> bool {
    matches!(v, Value::Null)
}

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
        (Value::String(a), Value::String(b)) if fold => casefold::eq(a, b),
        (Value::Number(a), Value::Number(b)) => a == b || (a.is_nan() && b.is_nan()),
        _ => strict_eq(x, c, 0),
    }
}

/// `String(actual) === target` (or both lowercased when `fold`); no allocation unless
/// `fold` meets a non-string or non-ASCII text.
fn js_string_equals(actual: &Value, target: &str, fold: bool) -> bool {
    match actual {
        Value::String(s) if fold => casefold::eq(s, target),
        Value::String(s) => s == target,
        _ if fold => {
            let mut text = String::new();
            write_js_string(&mut text, actual, 0).is_ok() && casefold::eq(&text, target)
        }
        _ => {
            let mut w = CharEq { target: target.chars() };
            write_js_string(&mut w, actual, 0).is_ok() && w.target.next().is_none()
        }
    }
}

/// A writer that checks the text written equals `target`, failing on the first mismatch.
struct CharEq<I> {
    target: I,
}

impl<I: Iterator<Item = char>> fmt::Write for CharEq<I> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if self.target.next() != Some(c) {
                return Err(fmt::Error);
            }
        }
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
pub(super) enum Prim<'a> {
    Num(f64),
    Str(Cow<'a, str>),
}

impl Prim<'_> {
    pub(super) fn num(&self) -> f64 {
        match self {
            Prim::Num(n) => *n,
            Prim::Str(s) => js_str_to_number(s),
        }
    }
    #[cfg(feature = "compiler")]
    pub(super) fn into_owned(self) -> Prim<'static> {
        match self {
            Prim::Num(n) => Prim::Num(n),
            Prim::Str(s) => Prim::Str(Cow::Owned(s.into_owned())),
        }
    }
}

/// JavaScript `ToPrimitive` (hint number) followed by the relational-comparison split.
pub(super) fn to_prim(v: &Value, depth: usize) -> Prim<'_> {
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
pub(super) fn padded_version(v: &Value) -> String {
    let mut number = crate::jsnum::StackBuf::new();
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

/// The string extensions; `fold` lowercases both sides (JavaScript's `toLowerCase`).
/// Substrings are searched byte by byte (UTF-8 never matches inside a character): texts
/// here are short, and a search algorithm's tables would be kilobytes of the module.
fn text_match(kind: TextKind, fold: bool, hay: &str, needle: &str) -> bool {
    let ascii = hay.is_ascii() && needle.is_ascii();
    let folded;
    let (h, n) = if fold && !ascii {
        folded = (casefold::lowercase(hay), casefold::lowercase(needle));
        (folded.0.as_bytes(), folded.1.as_bytes())
    } else {
        (hay.as_bytes(), needle.as_bytes())
    };
    let ascii_fold = fold && ascii;
    let same = |w: &[u8]| if ascii_fold { w.eq_ignore_ascii_case(n) } else { w == n };
    match kind {
        TextKind::Contains => n.is_empty() || h.windows(n.len()).any(same),
        TextKind::StartsWith => h.get(..n.len()).is_some_and(same),
        TextKind::EndsWith => h.len().checked_sub(n.len()).and_then(|s| h.get(s..)).is_some_and(same),
    }
}

#[cfg(test)]
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
}
