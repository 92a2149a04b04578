//! The binary form of a compiled condition, as binary bundles carry it: the evaluation
//! tree written as tagged bytes, so loading a bundle compiles nothing. Its layout is
//! versioned by the bundle format version (`journey::BUNDLE_FORMAT_VERSION`).
//!
//! ```text
//! node    = 0 count node*  (all)  | 1 count node* (any) | 2 count node* (nor)
//!         | 3 node (not)          | 4 path test (field)
//! test    = 0 value (literal)     | 1 path (ref)        | 2 count op*
//! op      = 0 operand ($eq)       | 1 operand ($ne)
//!         | 2 rel cmp ($lt…$gte)  | 3 rel str ($v*: the padded version)
//!         | 4 bool ($exists)      | 5 negate fold count operand* ($in…)
//!         | 6 negate fold path ($in… with $ref) | 7 negate str ($inGroup, $notInGroup)
//!         | 8 test ($not) | 9 test ($size) | 10 test ($elemMatch on values)
//!         | 11 node ($elemMatch on documents)   | 12 fold count test* ($all, $alli)
//!         | 13 fold path ($all with $ref)       | 14 bytes (regex: a DFA table)
//!         | 15 u8 ($type: index into the type names)
//!         | 16 kind fold operand ($contains…)   | 17/18/19 duration ($within,
//!           $olderThan, $anniversaryWithin)
//! operand = 0 value | 1 path          cmp = 0 f64 | 1 str | 2 path
//! path    = count str                 str = len utf8      bytes = len byte*
//! value   = `Value` (crate::wire)     count, len = LEB128 u32
//! duration, rel, kind, bool = LEB128 (duration zigzag i64; rel 0..5 = lt lte gt gte eq ne)
//! ```
//!
//! Decoding checks structure only: known tags, in-range counts, valid UTF-8, valid DFAs
//! and nesting at most [`MAX_DECODE_DEPTH`] (so hostile bytes give an error, never a
//! panic or a stack overflow).

use std::borrow::Cow;

use super::eval::Prim;
use super::regex::Regex;
use super::{CmpOperand, Field, Node, Op, Operand, Rel, Test, TextKind, TYPE_NAMES};
use crate::time::Duration;
use crate::wire::{put_varint, put_zigzag, Encode, Reader, WireError};

/// Deepest nesting of nodes, tests and operators the decoder follows. A compiled
/// condition uses at most two levels per JSON level, and JSON nests at most
/// [`super::MAX_DEPTH`] levels.
pub const MAX_DECODE_DEPTH: usize = 2 * super::MAX_DEPTH + 8;

/// Why condition bytes could not be read (or, for `Encode`, written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes end in the middle of the condition.
    #[error("condition bytes end too early")]
    Truncated,
    /// A tag or small number out of range.
    #[error("unknown tag {tag} in condition bytes")]
    BadTag {
        /// The byte found.
        tag: u64,
    },
    /// Text that is not UTF-8, or a literal value that does not decode.
    #[error("malformed text or value in condition bytes")]
    Malformed,
    /// A regex DFA that does not validate.
    #[error("invalid regex DFA in condition bytes")]
    BadDfa,
    /// Nesting beyond `MAX_DECODE_DEPTH` levels.
    #[error("condition bytes nest deeper than {MAX_DECODE_DEPTH} levels")]
    TooDeep,
    /// Bytes left over after the condition.
    #[error("unexpected bytes after the condition")]
    Trailing,
    /// A literal value could not be encoded.
    #[error("could not encode a condition value")]
    Encode,
}

impl DecodeError {
    /// Stable machine code (snake_case).
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::Truncated => "condition_truncated",
            DecodeError::BadTag { .. } => "condition_bad_tag",
            DecodeError::Malformed => "condition_malformed",
            DecodeError::BadDfa => "condition_bad_dfa",
            DecodeError::TooDeep => "condition_too_deep",
            DecodeError::Trailing => "condition_trailing_bytes",
            DecodeError::Encode => "condition_encode_failed",
        }
    }
}

// ---------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------

fn put_len(out: &mut Vec<u8>, n: usize) {
    put_varint(out, n as u64);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    s.encode(out);
}

fn put_path(out: &mut Vec<u8>, path: &[String]) {
    path.encode(out);
}

fn put_duration(out: &mut Vec<u8>, d: Duration) {
    put_zigzag(out, d.0);
}

fn put_operand(out: &mut Vec<u8>, o: &Operand) -> Result<(), DecodeError> {
    match o {
        Operand::Const(v) => {
            out.push(0);
            v.encode(out);
            Ok(())
        }
        Operand::Ref(path) => {
            out.push(1);
            put_path(out, path);
            Ok(())
        }
    }
}

fn rel_tag(rel: Rel) -> u8 {
    match rel {
        Rel::Lt => 0,
        Rel::Lte => 1,
        Rel::Gt => 2,
        Rel::Gte => 3,
        Rel::Eq => 4,
        Rel::Ne => 5,
    }
}

/// Writes a node (and everything below it).
pub(super) fn write_node(out: &mut Vec<u8>, node: &Node) -> Result<(), DecodeError> {
    match node {
        Node::All(nodes) | Node::Any(nodes) | Node::Nor(nodes) => {
            out.push(match node {
                Node::All(_) => 0,
                Node::Any(_) => 1,
                _ => 2,
            });
            put_len(out, nodes.len());
            nodes.iter().try_for_each(|n| write_node(out, n))
        }
        Node::Not(inner) => {
            out.push(3);
            write_node(out, inner)
        }
        Node::Field(field) => {
            out.push(4);
            put_path(out, &field.path);
            write_test(out, &field.test)
        }
    }
}

fn write_test(out: &mut Vec<u8>, test: &Test) -> Result<(), DecodeError> {
    match test {
        Test::Literal(v) => {
            out.push(0);
            v.encode(out);
            Ok(())
        }
        Test::Ref(path) => {
            out.push(1);
            put_path(out, path);
            Ok(())
        }
        Test::Ops(ops) => {
            out.push(2);
            put_len(out, ops.len());
            ops.iter().try_for_each(|op| write_op(out, op))
        }
    }
}

// Long because it is one arm per operator: every tag of the binary form reads in one
// place, arm for arm with the reader (`op` below).
fn write_op(out: &mut Vec<u8>, op: &Op) -> Result<(), DecodeError> {
    match op {
        Op::Eq(o) => {
            out.push(0);
            put_operand(out, o)?;
        }
        Op::Ne(o) => {
            out.push(1);
            put_operand(out, o)?;
        }
        Op::Cmp(rel, operand) => {
            out.push(2);
            out.push(rel_tag(*rel));
            match operand {
                CmpOperand::Const { prim: Prim::Num(n), .. } => {
                    out.push(0);
                    out.extend_from_slice(&n.to_le_bytes());
                }
                CmpOperand::Const { prim: Prim::Str(s), .. } => {
                    out.push(1);
                    put_str(out, s);
                }
                CmpOperand::Ref(path) => {
                    out.push(2);
                    put_path(out, path);
                }
            }
        }
        Op::Version(rel, padded) => {
            out.push(3);
            out.push(rel_tag(*rel));
            put_str(out, padded);
        }
        Op::Exists(want) => {
            out.push(4);
            out.push(u8::from(*want));
        }
        Op::In { items, negate, fold } => {
            out.extend_from_slice(&[5, u8::from(*negate), u8::from(*fold)]);
            put_len(out, items.len());
            items.iter().try_for_each(|o| put_operand(out, o))?;
        }
        Op::InRef { path, negate, fold } => {
            out.extend_from_slice(&[6, u8::from(*negate), u8::from(*fold)]);
            put_path(out, path);
        }
        Op::Group { name, negate } => {
            out.extend_from_slice(&[7, u8::from(*negate)]);
            put_str(out, name);
        }
        Op::Not(t) | Op::Size(t) | Op::ElemTest(t) => {
            out.push(match op {
                Op::Not(_) => 8,
                Op::Size(_) => 9,
                _ => 10,
            });
            write_test(out, t)?;
        }
        Op::ElemDoc(node) => {
            out.push(11);
            write_node(out, node)?;
        }
        Op::All { items, fold } => {
            out.extend_from_slice(&[12, u8::from(*fold)]);
            put_len(out, items.len());
            items.iter().try_for_each(|t| write_test(out, t))?;
        }
        Op::AllRef { path, fold } => {
            out.extend_from_slice(&[13, u8::from(*fold)]);
            put_path(out, path);
        }
        Op::Regex(re) => {
            out.push(14);
            let dfa = re.to_bytes();
            put_len(out, dfa.len());
            out.extend_from_slice(&dfa);
        }
        Op::Type(name) => {
            let index = TYPE_NAMES.iter().position(|t| t == name).ok_or(DecodeError::Encode)?;
            out.extend_from_slice(&[15, index as u8]);
        }
        Op::Text { kind, fold, needle } => {
            let kind = match kind {
                TextKind::Contains => 0,
                TextKind::StartsWith => 1,
                TextKind::EndsWith => 2,
            };
            out.extend_from_slice(&[16, kind, u8::from(*fold)]);
            put_operand(out, needle)?;
        }
        Op::Within(d) | Op::OlderThan(d) | Op::AnniversaryWithin(d) => {
            out.push(match op {
                Op::Within(_) => 17,
                Op::OlderThan(_) => 18,
                _ => 19,
            });
            put_duration(out, *d);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------

/// Reads a whole condition: one node and nothing after it.
pub(super) fn read(bytes: &[u8]) -> Result<Node, DecodeError> {
    let mut r = Reader::new(bytes);
    let node = node(&mut r, 0)?;
    if r.is_empty() {
        Ok(node)
    } else {
        Err(DecodeError::Trailing)
    }
}

impl From<WireError> for DecodeError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::End => DecodeError::Truncated,
            WireError::BadTag(tag) => DecodeError::BadTag { tag },
            WireError::BadFlag => DecodeError::BadTag { tag: 0 },
            WireError::TooDeep => DecodeError::TooDeep,
            WireError::Trailing => DecodeError::Trailing,
            WireError::BadNumber | WireError::BadText | WireError::Invalid => DecodeError::Malformed,
        }
    }
}

fn bad_tag(tag: impl Into<u64>) -> DecodeError {
    DecodeError::BadTag { tag: tag.into() }
}

fn flag(r: &mut Reader<'_>) -> Result<bool, DecodeError> {
    match r.byte()? {
        0 => Ok(false),
        1 => Ok(true),
        tag => Err(bad_tag(tag)),
    }
}

fn rel(r: &mut Reader<'_>) -> Result<Rel, DecodeError> {
    Ok(match r.byte()? {
        0 => Rel::Lt,
        1 => Rel::Lte,
        2 => Rel::Gt,
        3 => Rel::Gte,
        4 => Rel::Eq,
        5 => Rel::Ne,
        tag => return Err(bad_tag(tag)),
    })
}

fn operand(r: &mut Reader<'_>) -> Result<Operand, DecodeError> {
    match r.byte()? {
        0 => Ok(Operand::Const(r.checked()?)),
        1 => Ok(Operand::Ref(r.checked()?)),
        tag => Err(bad_tag(tag)),
    }
}

/// `count` items read by `item`.
fn many<T>(
    r: &mut Reader<'_>,
    depth: usize,
    item: fn(&mut Reader<'_>, usize) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let n = r.len()?;
    let mut items = Vec::with_capacity(n.min(16));
    for _ in 0..n {
        items.push(item(r, depth)?);
    }
    Ok(items)
}

fn nested(depth: usize) -> Result<usize, DecodeError> {
    if depth >= MAX_DECODE_DEPTH {
        return Err(DecodeError::TooDeep);
    }
    Ok(depth + 1)
}

fn node(r: &mut Reader<'_>, depth: usize) -> Result<Node, DecodeError> {
    let depth = nested(depth)?;
    Ok(match r.byte()? {
        0 => Node::All(many(r, depth, node)?),
        1 => Node::Any(many(r, depth, node)?),
        2 => Node::Nor(many(r, depth, node)?),
        3 => Node::Not(Box::new(node(r, depth)?)),
        4 => {
            let path = r.checked()?;
            Node::Field(Box::new(Field { path, test: test(r, depth)? }))
        }
        tag => return Err(bad_tag(tag)),
    })
}

fn test(r: &mut Reader<'_>, depth: usize) -> Result<Test, DecodeError> {
    let depth = nested(depth)?;
    Ok(match r.byte()? {
        0 => Test::Literal(r.checked()?),
        1 => Test::Ref(r.checked()?),
        2 => Test::Ops(many(r, depth, op)?),
        tag => return Err(bad_tag(tag)),
    })
}

fn op(r: &mut Reader<'_>, depth: usize) -> Result<Op, DecodeError> {
    Ok(match r.byte()? {
        0 => Op::Eq(operand(r)?),
        1 => Op::Ne(operand(r)?),
        2 => {
            let rel = rel(r)?;
            let operand = match r.byte()? {
                0 => {
                    let n: f64 = r.checked()?;
                    CmpOperand::Const { prim: Prim::Num(n), num: n }
                }
                1 => {
                    let prim = Prim::Str(Cow::Owned(r.checked()?));
                    let num = prim.num();
                    CmpOperand::Const { prim, num }
                }
                2 => CmpOperand::Ref(r.checked()?),
                tag => return Err(bad_tag(tag)),
            };
            Op::Cmp(rel, operand)
        }
        3 => {
            let rel = rel(r)?;
            Op::Version(rel, r.checked()?)
        }
        4 => Op::Exists(flag(r)?),
        5 => {
            let (negate, fold) = (flag(r)?, flag(r)?);
            Op::In { items: many(r, depth, |r, _| operand(r))?, negate, fold }
        }
        6 => {
            let (negate, fold) = (flag(r)?, flag(r)?);
            Op::InRef { path: r.checked()?, negate, fold }
        }
        7 => {
            let negate = flag(r)?;
            Op::Group { name: r.checked()?, negate }
        }
        8 => Op::Not(Box::new(test(r, depth)?)),
        9 => Op::Size(Box::new(test(r, depth)?)),
        10 => Op::ElemTest(Box::new(test(r, depth)?)),
        11 => Op::ElemDoc(Box::new(node(r, depth)?)),
        12 => {
            let fold = flag(r)?;
            Op::All { items: many(r, depth, test)?, fold }
        }
        13 => {
            let fold = flag(r)?;
            Op::AllRef { path: r.checked()?, fold }
        }
        14 => {
            let n = r.len()?;
            Op::Regex(Box::new(Regex::from_bytes(r.take(n)?).ok_or(DecodeError::BadDfa)?))
        }
        15 => {
            let index = r.byte()?;
            Op::Type(TYPE_NAMES.get(usize::from(index)).ok_or(bad_tag(index))?)
        }
        16 => {
            let kind = match r.byte()? {
                0 => TextKind::Contains,
                1 => TextKind::StartsWith,
                2 => TextKind::EndsWith,
                tag => return Err(bad_tag(tag)),
            };
            let fold = flag(r)?;
            Op::Text { kind, fold, needle: operand(r)? }
        }
        17 => Op::Within(Duration(r.int()?)),
        18 => Op::OlderThan(Duration(r.int()?)),
        19 => Op::AnniversaryWithin(Duration(r.int()?)),
        tag => return Err(bad_tag(tag)),
    })
}
