//! The host's own text and number conversions, chosen at compile time. In the wasm
//! module they are the JS engine's `toLowerCase`, `String(n)` and `parseFloat`
//! (`src/wasm/host.rs`: only `src/wasm/` names the JS crates); that keeps
//! Unicode's case tables and float parsing and printing code out of the module and makes
//! the answers JavaScript's by construction. Natively they are Rust's (`crate::jsnum`
//! formats numbers as JavaScript does). The engine's files reach the JS host only
//! through here.

#[cfg(target_arch = "wasm32")]
use crate::wasm::host as js;

/// `text.toLowerCase()` (full Unicode lower-casing, as JavaScript does it).
#[cfg(target_arch = "wasm32")]
pub(crate) fn to_lower_case(text: &str) -> String {
    js::to_lower_case(text)
}

/// `text.toLowerCase()` (full Unicode lower-casing, as JavaScript does it).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn to_lower_case(text: &str) -> String {
    text.to_lowercase()
}

/// `parseFloat(text)`, for text `crate::jsnum` checked is a decimal literal.
#[cfg(target_arch = "wasm32")]
pub(crate) fn parse_float(text: &str) -> f64 {
    js::parse_float(text)
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
    js::number_to_string(n)
}
