//! Case-insensitive comparison as JavaScript does it: both sides through
//! `String.prototype.toLowerCase` (Unicode's full default lowercase mapping, final sigma
//! included). ASCII text, nearly all of what conditions compare, is folded here byte by
//! byte. Other text goes natively through Rust's `str::to_lowercase` (the same Unicode
//! algorithm), and in the wasm module through the JS engine's own `toLowerCase`
//! (`src/host.rs`), which keeps Unicode's case tables out of the module.

use std::borrow::Cow;

/// `text.toLowerCase()`; borrowed when nothing changes.
pub fn lowercase(text: &str) -> Cow<'_, str> {
    if text.is_ascii() {
        if text.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(text.to_ascii_lowercase())
        } else {
            Cow::Borrowed(text)
        }
    } else {
        Cow::Owned(unicode_lowercase(text))
    }
}

/// `a.toLowerCase() === b.toLowerCase()`.
pub fn eq(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    lowercase(a) == lowercase(b)
}

fn unicode_lowercase(text: &str) -> String {
    crate::host::to_lower_case(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_as_javascript_does() {
        assert_eq!(lowercase("SALE-42"), "sale-42");
        assert!(matches!(lowercase("sale"), Cow::Borrowed(_)));
        assert_eq!(lowercase("ÉTÉ"), "été");
        // Final sigma: 'ΟΔΟΣ'.toLowerCase() === 'οδος' with a final ς.
        assert_eq!(lowercase("ΟΔΟΣ"), "οδος");
        // 'İ'.toLowerCase() is 'i' + combining dot above (two code points).
        assert_eq!(lowercase("İ"), "i\u{307}");
        // toLowerCase never expands ß (only toUpperCase does).
        assert!(!eq("STRASSE", "straße"));
        assert!(eq("STRAẞE", "straße"));
        assert!(eq("VIP", "vip"));
        assert!(!eq("vip", "vipp"));
    }
}
