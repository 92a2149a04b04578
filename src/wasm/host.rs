//! The JS engine's own text and number conversions, for `crate::host` in the wasm
//! module: `toLowerCase`, `String(n)` and `parseFloat` through `js_sys`. It lives with
//! the bindings (only `src/wasm/` names the JS crates) but uses none of them: this is the
//! one part of `src/wasm/` the engine reaches, and only through `crate::host`.

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
