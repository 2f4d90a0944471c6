//! Reading command arguments and writing user-visible fragments the legacy way: JavaScript
//! whitespace splitting, the ticker rule (legacy §3.2, §10.2), Markdown escaping (§10.3).

use crate::domain::is_js_whitespace;
pub(crate) use crate::domain::valid_ticker;

/// The text split on runs of JavaScript whitespace; `[0]` is the command token.
pub(crate) fn tokens(text: &str) -> Vec<&str> {
    text.split(is_js_whitespace)
        .filter(|t| !t.is_empty())
        .collect()
}

/// Escapes `_`, `*`, `` ` `` and `[` for legacy Markdown; everything else is kept.
pub(crate) fn escape_markdown(fragment: &str) -> String {
    let mut out = String::with_capacity(fragment.len());
    for c in fragment.chars() {
        if matches!(c, '_' | '*' | '`' | '[') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The reply to an invalid ticker, with the token echoed as typed (escaped).
pub(crate) fn invalid_ticker(raw: &str) -> String {
    format!(
        "❌ Invalid ticker symbol: \"{}\". Please use a valid ticker (1-10 characters, e.g., SPY, TUI1.DE).",
        escape_markdown(raw)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticker_validation_follows_the_newer_rule() {
        let valid = [
            ("spy", "SPY"),
            ("SPY\u{a0}", "SPY"),
            ("1234567890", "1234567890"),
            ("BRK.B", "BRK.B"),
            ("tui1.de", "TUI1.DE"),
            ("VOD.L", "VOD.L"),
            ("spaß", "SPASS"),
        ];
        for (raw, want) in valid {
            assert_eq!(valid_ticker(raw).as_deref(), Some(want), "{raw}");
        }
        for raw in [
            "A-B",
            "$SPY",
            "^GSPC",
            "ABCDEFGHIJK",
            ".A",
            "A.",
            "A..B",
            "",
            "ÄPFEL",
        ] {
            assert_eq!(valid_ticker(raw), None, "{raw}");
        }
    }

    #[test]
    fn tokens_split_on_javascript_whitespace_only() {
        assert_eq!(
            tokens("/watchlist\u{feff}add\t\u{3000}aapl"),
            vec!["/watchlist", "add", "aapl"]
        );
        assert_eq!(tokens("/now\u{85}SPY"), vec!["/now\u{85}SPY"]);
    }

    #[test]
    fn escaping_marks_the_four_markdown_characters_only() {
        assert_eq!(
            escape_markdown(r"BAD_TICKER*`[x]\"),
            r"BAD\_TICKER\*\`\[x]\"
        );
        assert_eq!(
            invalid_ticker("BAD_TICKER"),
            "❌ Invalid ticker symbol: \"BAD\\_TICKER\". Please use a valid ticker (1-10 characters, e.g., SPY, TUI1.DE)."
        );
    }
}
