//! The host's own text and number conversions, chosen at compile time. In the wasm module
//! they are the JS engine's (`toLowerCase`, `String(n)`, `parseFloat` through `js_sys`),
//! which keeps Unicode's case tables and float parsing and printing code out of the
//! module and makes the answers JavaScript's by construction; natively they are Rust's
//! (`crate::jsnum` formats numbers as JavaScript does). The engine's files reach the
//! JS host only through here, never through the bindings in `crate::wasm`.

/// `text.toLowerCase()` (full Unicode lower-casing, as JavaScript does it).
#[cfg(target_arch = "wasm32")]
pub(crate) fn to_lower_case(text: &str) -> String {
    js_sys::JsString::from(text).to_lower_case().into()
}

/// `text.toLowerCase()` (full Unicode lower-casing, as JavaScript does it).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn to_lower_case(text: &str) -> String {
    text.to_lowercase()
}

/// `parseFloat(text)`, for text `crate::jsnum` checked is a decimal literal.
#[cfg(target_arch = "wasm32")]
pub(crate) fn parse_float(text: &str) -> f64 {
    js_sys::parse_float(text)
}

/// `parseFloat(text)`, for text `crate::jsnum` checked is a decimal literal.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn parse_float(text: &str) -> f64 {
    // The grammar was checked: Rust accepts every decimal literal JavaScript does.
    text.parse::<f64>().unwrap_or(f64::NAN)
}

/// `String(n)` by the JS engine (natively, `crate::jsnum` formats it).
#[cfg(target_arch = "wasm32")]
pub(crate) fn number_to_string(n: f64) -> String {
    js_sys::Number::from(n).to_string_with_radix(10).map(String::from).unwrap_or_default()
}
