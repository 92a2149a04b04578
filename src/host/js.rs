//! The JS engine's own text and number conversions, for `crate::host` in the wasm
//! module: `toLowerCase`, `String(n)` and `parseFloat` through `js_sys`. Besides the
//! bindings (`src/wasm/`), the only module that names the JS host's crates; it knows
//! nothing of the bindings.

/// `text.toLowerCase()` by the JS engine.
pub(crate) fn to_lower_case(text: &str) -> String {
    js_sys::JsString::from(text).to_lower_case().into()
}

/// `parseFloat(text)` by the JS engine.
pub(crate) fn parse_float(text: &str) -> f64 {
    js_sys::parse_float(text)
}

/// `String(n)` by the JS engine.
pub(crate) fn number_to_string(n: f64) -> String {
    js_sys::Number::from(n).to_string_with_radix(10).map(String::from).unwrap_or_default()
}
