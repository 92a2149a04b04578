//! Numbers as JavaScript reads and writes them: the decimal-literal grammar of
//! `Number(text)` and the shortest round-trip text of `String(number)`. Conditions
//! (GrowthBook's coercions) and JSON text go through here, so native code, the wasm
//! module and the storefront's own JavaScript agree on every number.
//!
//! Natively the conversions are Rust's; in the wasm module they are the JS engine's own
//! (`src/host.rs`), which keeps float parsing and printing code and their tables out of
//! the module. Both are correctly rounded and both print the shortest digits that round
//! trip, so the two give the same bits and the same text.

use std::fmt;

/// The value of a JavaScript decimal literal: optional sign, digits with an optional
/// fraction (`12`, `1.5`, `.5`, `5.`), optional exponent (`1e-3`). `None` for anything
/// else (empty, `Infinity`, hex, stray characters, surrounding spaces). Exponents out
/// of range give ±infinity or ±0, as in JavaScript.
pub fn parse_decimal(text: &str) -> Option<f64> {
    let bytes = text.as_bytes();
    let mut i = usize::from(matches!(bytes.first(), Some(b'+' | b'-')));
    let mut digits = 0;
    while bytes.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
        digits += 1;
    }
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return None;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let start = i;
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    if i != bytes.len() {
        return None;
    }
    Some(parse_validated(text))
}

/// Writes `n` as JavaScript's `String(n)` does: `NaN`, `Infinity`, `0` for ±0, integers
/// without a fraction, exponent form below 1e-6 and from 1e21 (`1e+21`).
pub fn write(out: &mut dyn fmt::Write, n: f64) -> fmt::Result {
    #[cfg(target_arch = "wasm32")]
    {
        out.write_str(&crate::host::number_to_string(n))
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        native::write(out, n)
    }
}

/// `n` as JavaScript's `String(n)`.
pub fn to_string(n: f64) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write(&mut out, n);
    out
}

/// A small fixed-size text buffer: numbers formatted without allocating (64 bytes hold
/// any `String(number)`).
pub(crate) struct StackBuf {
    buf: [u8; 64],
    len: usize,
}

impl StackBuf {
    pub(crate) fn new() -> StackBuf {
        StackBuf { buf: [0; 64], len: 0 }
    }

    pub(crate) fn as_str(&self) -> &str {
        self.buf.get(..self.len).and_then(|b| std::str::from_utf8(b).ok()).unwrap_or("")
    }
}

impl fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        self.buf.get_mut(self.len..end).ok_or(fmt::Error)?.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

fn parse_validated(text: &str) -> f64 {
    crate::host::parse_float(text)
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::fmt::{self, Write};

    use super::StackBuf;

    fn zeros(out: &mut dyn Write, count: i32) -> fmt::Result {
        for _ in 0..count {
            out.write_char('0')?;
        }
        Ok(())
    }

    pub(super) fn write(out: &mut dyn Write, n: f64) -> fmt::Result {
        if n.is_nan() {
            return out.write_str("NaN");
        }
        if n == 0.0 {
            return out.write_str("0");
        }
        if n.is_infinite() {
            return out.write_str(if n > 0.0 { "Infinity" } else { "-Infinity" });
        }
        if n < 0.0 {
            out.write_str("-")?;
        }
        // Shortest round-trip digits, as JavaScript uses: "d.ddde±x".
        let mut sci = StackBuf::new();
        write!(sci, "{:e}", n.abs())?;
        let (mantissa, exp) = sci.as_str().split_once('e').ok_or(fmt::Error)?;
        let exp: i32 = exp.parse().map_err(|_| fmt::Error)?;
        let mut digits = StackBuf::new();
        for c in mantissa.chars().filter(char::is_ascii_digit) {
            digits.write_char(c)?;
        }
        let digits = digits.as_str();
        let k = digits.len() as i32;
        let point = exp + 1; // the decimal point sits after `point` digits
        if k <= point && point <= 21 {
            out.write_str(digits)?;
            zeros(out, point - k)
        } else if 0 < point && point <= 21 {
            let (int, frac) = digits.split_at_checked(point as usize).ok_or(fmt::Error)?;
            out.write_str(int)?;
            out.write_char('.')?;
            out.write_str(frac)
        } else if -6 < point && point <= 0 {
            out.write_str("0.")?;
            zeros(out, -point)?;
            out.write_str(digits)
        } else {
            let (first, rest) = digits.split_at_checked(1).ok_or(fmt::Error)?;
            out.write_str(first)?;
            if !rest.is_empty() {
                out.write_char('.')?;
                out.write_str(rest)?;
            }
            write!(out, "e{}{}", if point > 0 { "+" } else { "-" }, (point - 1).abs())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_literals_parse_and_others_do_not() {
        for (text, want) in [("12", 12.0), ("-1.5", -1.5), ("+.5", 0.5), ("5.", 5.0), ("1e3", 1000.0), ("2E-2", 0.02)] {
            assert_eq!(parse_decimal(text), Some(want), "{text}");
        }
        assert_eq!(parse_decimal("1e400"), Some(f64::INFINITY));
        for text in ["", "-", ".", "e5", "1e", "1e+", " 1", "1 ", "0x10", "Infinity", "NaN", "1_000", "١٢"] {
            assert_eq!(parse_decimal(text), None, "{text:?}");
        }
    }

    #[test]
    fn numbers_print_as_javascript_prints_them() {
        for (n, want) in [
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-2.5, "-2.5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e21, "1e+21"),
            (123456789012345680000.0, "123456789012345680000"),
            (1e-7, "1e-7"),
            (0.000001, "0.000001"),
            (1.5e-10, "1.5e-10"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
        ] {
            assert_eq!(to_string(n), want);
        }
    }
}
