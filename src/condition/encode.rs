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
//!         | 13 fold path ($all with $ref)       | 14 bytes (regex: a sparse DFA)
//!         | 15 u8 ($type: index into the type names)
//!         | 16 kind fold operand ($contains…)   | 17/18/19 duration ($within,
//!           $olderThan, $anniversaryWithin)
//! operand = 0 value | 1 path          cmp = 0 f64 | 1 str | 2 path
//! path    = count str                 str = len utf8      bytes = len byte*
//! value   = postcard `Value`          count, len = LEB128 u32
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
use crate::value::Value;
use crate::wire::{put_varint, put_zigzag};

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
    /// Nesting beyond [`MAX_DECODE_DEPTH`].
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
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn put_path(out: &mut Vec<u8>, path: &[String]) {
    put_len(out, path.len());
    path.iter().for_each(|s| put_str(out, s));
}

fn put_value(out: &mut Vec<u8>, v: &Value) -> Result<(), DecodeError> {
    let bytes = postcard::to_allocvec(v).map_err(|_| DecodeError::Encode)?;
    out.extend_from_slice(&bytes);
    Ok(())
}

fn put_duration(out: &mut Vec<u8>, d: Duration) {
    put_zigzag(out, d.0);
}

fn put_operand(out: &mut Vec<u8>, o: &Operand) -> Result<(), DecodeError> {
    match o {
        Operand::Const(v) => {
            out.push(0);
            put_value(out, v)
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
            put_value(out, v)
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
            let dfa = re.to_bytes().ok_or(DecodeError::Encode)?;
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
    let mut r = Reader { rest: bytes };
    let node = r.node(0)?;
    if r.rest.is_empty() {
        Ok(node)
    } else {
        Err(DecodeError::Trailing)
    }
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let (&b, rest) = self.rest.split_first().ok_or(DecodeError::Truncated)?;
        self.rest = rest;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let (head, rest) = self.rest.split_at_checked(n).ok_or(DecodeError::Truncated)?;
        self.rest = rest;
        Ok(head)
    }

    fn uint(&mut self) -> Result<u64, DecodeError> {
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(DecodeError::Malformed)
    }

    /// A count or length; never more than the bytes left (each item takes at least one).
    fn len(&mut self) -> Result<usize, DecodeError> {
        let n = usize::try_from(self.uint()?).map_err(|_| DecodeError::Truncated)?;
        if n > self.rest.len() {
            return Err(DecodeError::Truncated);
        }
        Ok(n)
    }

    fn flag(&mut self) -> Result<bool, DecodeError> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(DecodeError::BadTag { tag: tag.into() }),
        }
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        let n = self.len()?;
        let bytes = self.take(n)?;
        std::str::from_utf8(bytes).map(str::to_owned).map_err(|_| DecodeError::Malformed)
    }

    fn path(&mut self) -> Result<Vec<String>, DecodeError> {
        let n = self.len()?;
        (0..n).map(|_| self.string()).collect()
    }

    fn value(&mut self) -> Result<Value, DecodeError> {
        let (v, rest) = postcard::take_from_bytes::<Value>(self.rest).map_err(|_| DecodeError::Malformed)?;
        self.rest = rest;
        Ok(v)
    }

    fn duration(&mut self) -> Result<Duration, DecodeError> {
        let z = self.uint()?;
        Ok(Duration(((z >> 1) as i64) ^ -((z & 1) as i64)))
    }

    fn rel(&mut self) -> Result<Rel, DecodeError> {
        Ok(match self.byte()? {
            0 => Rel::Lt,
            1 => Rel::Lte,
            2 => Rel::Gt,
            3 => Rel::Gte,
            4 => Rel::Eq,
            5 => Rel::Ne,
            tag => return Err(DecodeError::BadTag { tag: tag.into() }),
        })
    }

    fn operand(&mut self) -> Result<Operand, DecodeError> {
        match self.byte()? {
            0 => Ok(Operand::Const(self.value()?)),
            1 => Ok(Operand::Ref(self.path()?)),
            tag => Err(DecodeError::BadTag { tag: tag.into() }),
        }
    }

    fn nodes(&mut self, depth: usize) -> Result<Vec<Node>, DecodeError> {
        let n = self.len()?;
        (0..n).map(|_| self.node(depth)).collect()
    }

    fn node(&mut self, depth: usize) -> Result<Node, DecodeError> {
        let depth = depth + 1;
        if depth > MAX_DECODE_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        Ok(match self.byte()? {
            0 => Node::All(self.nodes(depth)?),
            1 => Node::Any(self.nodes(depth)?),
            2 => Node::Nor(self.nodes(depth)?),
            3 => Node::Not(Box::new(self.node(depth)?)),
            4 => {
                let path = self.path()?;
                Node::Field(Box::new(Field { path, test: self.test(depth)? }))
            }
            tag => return Err(DecodeError::BadTag { tag: tag.into() }),
        })
    }

    fn test(&mut self, depth: usize) -> Result<Test, DecodeError> {
        let depth = depth + 1;
        if depth > MAX_DECODE_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        Ok(match self.byte()? {
            0 => Test::Literal(self.value()?),
            1 => Test::Ref(self.path()?),
            2 => {
                let n = self.len()?;
                Test::Ops((0..n).map(|_| self.op(depth)).collect::<Result<_, _>>()?)
            }
            tag => return Err(DecodeError::BadTag { tag: tag.into() }),
        })
    }

    fn op(&mut self, depth: usize) -> Result<Op, DecodeError> {
        Ok(match self.byte()? {
            0 => Op::Eq(self.operand()?),
            1 => Op::Ne(self.operand()?),
            2 => {
                let rel = self.rel()?;
                let operand = match self.byte()? {
                    0 => {
                        let raw = self.take(8)?;
                        let n = f64::from_le_bytes(raw.try_into().map_err(|_| DecodeError::Truncated)?);
                        CmpOperand::Const { prim: Prim::Num(n), num: n }
                    }
                    1 => {
                        let prim = Prim::Str(Cow::Owned(self.string()?));
                        let num = prim.num();
                        CmpOperand::Const { prim, num }
                    }
                    2 => CmpOperand::Ref(self.path()?),
                    tag => return Err(DecodeError::BadTag { tag: tag.into() }),
                };
                Op::Cmp(rel, operand)
            }
            3 => {
                let rel = self.rel()?;
                Op::Version(rel, self.string()?)
            }
            4 => Op::Exists(self.flag()?),
            5 => {
                let (negate, fold) = (self.flag()?, self.flag()?);
                let n = self.len()?;
                let items = (0..n).map(|_| self.operand()).collect::<Result<_, _>>()?;
                Op::In { items, negate, fold }
            }
            6 => {
                let (negate, fold) = (self.flag()?, self.flag()?);
                Op::InRef { path: self.path()?, negate, fold }
            }
            7 => {
                let negate = self.flag()?;
                Op::Group { name: self.string()?, negate }
            }
            8 => Op::Not(Box::new(self.test(depth)?)),
            9 => Op::Size(Box::new(self.test(depth)?)),
            10 => Op::ElemTest(Box::new(self.test(depth)?)),
            11 => Op::ElemDoc(Box::new(self.node(depth)?)),
            12 => {
                let fold = self.flag()?;
                let n = self.len()?;
                let items = (0..n).map(|_| self.test(depth)).collect::<Result<_, _>>()?;
                Op::All { items, fold }
            }
            13 => {
                let fold = self.flag()?;
                Op::AllRef { path: self.path()?, fold }
            }
            14 => {
                let n = self.len()?;
                let dfa = self.take(n)?;
                Op::Regex(Box::new(Regex::from_bytes(dfa).ok_or(DecodeError::BadDfa)?))
            }
            15 => {
                let index = self.byte()?;
                let name = TYPE_NAMES.get(usize::from(index)).ok_or(DecodeError::BadTag { tag: index.into() })?;
                Op::Type(name)
            }
            16 => {
                let kind = match self.byte()? {
                    0 => TextKind::Contains,
                    1 => TextKind::StartsWith,
                    2 => TextKind::EndsWith,
                    tag => return Err(DecodeError::BadTag { tag: tag.into() }),
                };
                let fold = self.flag()?;
                Op::Text { kind, fold, needle: self.operand()? }
            }
            17 => Op::Within(self.duration()?),
            18 => Op::OlderThan(self.duration()?),
            19 => Op::AnniversaryWithin(self.duration()?),
            tag => return Err(DecodeError::BadTag { tag: tag.into() }),
        })
    }
}
