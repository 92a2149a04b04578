//! Small pieces of the binary formats shared by their writers: LEB128 varints (zigzag
//! for signed numbers), as postcard writes them, used by the compiled-condition form and
//! the packed decisions the wasm module returns; and what a failed postcard decode means,
//! in a few words per kind of failure (postcard's own messages are longer, and printing
//! them pulls its formatting code and texts into the wasm module).

/// Appends `n` as an unsigned LEB128 varint (7 bits a byte, low first).
pub fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Appends `n` zigzag-encoded (small magnitudes of either sign stay short).
pub fn put_zigzag(out: &mut Vec<u8>, n: i64) {
    put_varint(out, ((n << 1) ^ (n >> 63)) as u64);
}

/// A short description of a postcard decode failure, for error messages.
pub fn problem(e: &postcard::Error) -> &'static str {
    use postcard::Error as E;
    match e {
        E::DeserializeUnexpectedEnd => "the data ends early",
        E::DeserializeBadVarint => "a number is malformed",
        E::DeserializeBadBool => "a flag is neither 0 nor 1",
        E::DeserializeBadChar | E::DeserializeBadUtf8 => "a text is not valid UTF-8",
        E::DeserializeBadOption => "an optional value has a bad tag",
        E::DeserializeBadEnum => "a variant tag is unknown",
        E::SerdeDeCustom => "a value is out of range or nested too deep",
        _ => "the data does not have the expected layout",
    }
}
