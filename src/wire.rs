//! What a failed postcard decode means, in a few words per kind of failure: states,
//! bundles and encoded properties report it. postcard's own messages are longer and
//! printing them pulls its formatting code and texts into the wasm module.

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
