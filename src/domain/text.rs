//! JavaScript's notion of whitespace and trimming, which the legacy bot's parsing and
//! watchlist normalisation follow (it differs from Rust's: U+FEFF is whitespace, U+0085 is not),
//! and its case mapping.

/// `true` for the ECMAScript WhiteSpace and LineTerminator code points (legacy §3.2).
pub fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\u{0009}'
            | '\u{000A}'
            | '\u{000B}'
            | '\u{000C}'
            | '\u{000D}'
            | '\u{0020}'
            | '\u{00A0}'
            | '\u{1680}'
            | '\u{2000}'
            ..='\u{200A}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202F}'
                | '\u{205F}'
                | '\u{3000}'
                | '\u{FEFF}'
    )
}

/// JavaScript's `String.prototype.trim`.
pub fn js_trim(s: &str) -> &str {
    s.trim_matches(is_js_whitespace)
}

/// Trim and upper-case with full Unicode case mapping, as the legacy bot stores tickers.
pub fn normalize_ticker(s: &str) -> String {
    js_upper_case(js_trim(s))
}

/// JavaScript's `String.prototype.toUpperCase`: full Unicode case mapping (`ß` → `SS`,
/// `ſ` → `S`). In the worker it is JavaScript's own, which keeps the Unicode case tables out of
/// the upload; natively it is Rust's, which follows the same Unicode default case mapping.
pub fn js_upper_case(s: &str) -> String {
    #[cfg(target_arch = "wasm32")]
    return String::from(js_sys::JsString::from(s).to_upper_case());
    #[cfg(not(target_arch = "wasm32"))]
    s.to_uppercase()
}

/// JavaScript's `String.prototype.toLowerCase`, as [`js_upper_case`] is its `toUpperCase`.
pub fn js_lower_case(s: &str) -> String {
    #[cfg(target_arch = "wasm32")]
    return String::from(js_sys::JsString::from(s).to_lower_case());
    #[cfg(not(target_arch = "wasm32"))]
    s.to_lowercase()
}

/// The normalised ticker if `raw` is valid: 1–10 characters after trimming and upper-casing,
/// dot-separated groups of ASCII letters and digits.
pub fn valid_ticker(raw: &str) -> Option<String> {
    let ticker = normalize_ticker(raw);
    let length = ticker.chars().count();
    let groups_ok = ticker.split('.').all(|group| {
        !group.is_empty()
            && group
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    });
    ((1..=10).contains(&length) && groups_ok).then_some(ticker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_the_ecmascript_whitespace_set_only() {
        assert_eq!(js_trim("\u{FEFF} spy\u{3000}"), "spy");
        assert_eq!(js_trim("\u{0085}spy"), "\u{0085}spy");
    }

    #[test]
    fn normalizes_with_full_case_mapping() {
        assert_eq!(normalize_ticker(" spaß "), "SPASS");
        assert_eq!(normalize_ticker("brk.b"), "BRK.B");
    }
}
