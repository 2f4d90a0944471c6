//! The signal message of legacy §6.6 and the two data-unavailable HOLD texts of §6.8.

use super::reasoning;
use super::signal::Signal;
use crate::domain::{fmt2, FearGreed};
use std::fmt::Write;

/// The signal message (§6.6), without the Fear & Greed header.
///
/// A signal with price 0 and all four SMAs 0 is the data-unavailable HOLD and is formatted
/// as such, whatever produced it: the legacy formatter recognises it that way.
pub(crate) fn signal_message(signal: &Signal) -> String {
    if signal.is_data_unavailable() {
        return unavailable(signal);
    }
    let Signal {
        ticker: t,
        indicators: ind,
        conditions,
        fear_greed: fg,
        ..
    } = signal;
    let mut out = title(signal);
    // `write!` into a String cannot fail, so the results are ignored.
    let _ = write!(
        out,
        "💰 Current [{t} Price](https://www.tradingview.com/chart/?symbol={t}): ${}\n\n",
        fmt2(signal.price)
    );
    out.push_str("*Technical Indicators:*\n");
    for (name, value) in [
        ("SMA 20", ind.sma20),
        ("SMA 50", ind.sma50),
        ("SMA 100", ind.sma100),
        ("SMA 200", ind.sma200),
        ("BB Upper", ind.bb_upper),
        ("BB Middle", ind.bb_middle),
    ] {
        let _ = writeln!(out, "• {name}: ${}", fmt2(value));
    }
    let _ = write!(out, "• BB Lower: ${}\n\n", fmt2(ind.bb_lower));
    out.push_str("*Conditions:*\n");
    let _ = writeln!(
        out,
        "• Condition A (New BUY formula): {}",
        mark(conditions.a)
    );
    let _ = writeln!(
        out,
        "• Condition B (Price near BB Lower): {}",
        mark(conditions.b)
    );
    let _ = write!(
        out,
        "• Condition C (Fear/Extreme Fear): {}\n\n",
        mark(conditions.c)
    );
    let _ = write!(out, "*Fear & Greed Index:* {}\n\n", score_line(fg));
    if let Some(h) = &signal.holding {
        let _ = writeln!(out, "📈 Entry Price: ${}", fmt2(h.entry_price));
        let _ = writeln!(
            out,
            "🎯 {}: ${}",
            h.sell_target_label(),
            fmt2(h.sell_target)
        );
        // Compared unrounded: a BB exit's target *is* the BB target, so its line is dropped.
        if h.bb_sell_target != h.sell_target {
            let _ = writeln!(out, "🎯 BB Upper Target: ${}", fmt2(h.bb_sell_target));
        }
    }
    let _ = write!(out, "\n*Reasoning:* {}", signal.reasoning);
    out
}

/// The data-unavailable HOLD when the market data (or its evaluation) failed but the Fear &
/// Greed reading is known. It follows the same header rules as a full signal message.
pub(crate) fn market_unavailable(ticker: &str, fear_greed: &FearGreed) -> String {
    signal_message(&Signal::market_unavailable(ticker, fear_greed))
}

/// The data-unavailable HOLD when not even Fear & Greed is available; always sent without
/// a header.
pub(crate) fn all_unavailable(ticker: &str) -> String {
    format!(
        "🟡 *Trading Signal: HOLD*\n\n⚠️ *Data Unavailable*\n\nFear & Greed Index data unavailable.\n{}\n\n\n*Reasoning:* {}",
        market_data_unavailable(ticker),
        reasoning::ALL_UNAVAILABLE
    )
}

fn unavailable(signal: &Signal) -> String {
    format!(
        "{}⚠️ *Data Unavailable*\n\n*Fear & Greed Index:* {}\n{}\n\n\n*Reasoning:* {}",
        title(signal),
        score_line(&signal.fear_greed),
        market_data_unavailable(&signal.ticker),
        signal.reasoning
    )
}

fn title(signal: &Signal) -> String {
    format!(
        "{} *Trading Signal: {}*\n\n",
        signal.action.emoji(),
        signal.action.as_str()
    )
}

fn market_data_unavailable(ticker: &str) -> String {
    format!("Market data ({ticker} price and indicators) unavailable.")
}

/// `<rating> (<score>%)`: the rating as received, the score without the header's rounding.
fn score_line(fg: &FearGreed) -> String {
    format!("{} ({}%)", fg.rating, fmt2(fg.score))
}

fn mark(condition: bool) -> &'static str {
    if condition {
        "✅"
    } else {
        "❌"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::evaluate;
    use crate::signals::fixtures::{fear_greed, flat_bars, market};

    #[test]
    fn a_zero_price_with_zero_smas_is_formatted_as_data_unavailable() {
        // Unreachable with real Yahoo data (a falsy price is rejected there), but this is
        // how the legacy formatter tells the unavailable HOLD apart.
        let data = market(0.0, flat_bars(20, 0.0, 0.0));
        let signal = evaluate("SPY", &data, &fear_greed("Neutral", 50.0), None).unwrap();
        assert_eq!(
            signal_message(&signal),
            "🟡 *Trading Signal: HOLD*\n\n⚠️ *Data Unavailable*\n\n*Fear & Greed Index:* Neutral (50.00%)\nMarket data (SPY price and indicators) unavailable.\n\n\n*Reasoning:* HOLD - Entry conditions not met. Fear & Greed Index is not in fear/extreme fear."
        );
    }

    #[test]
    fn a_zero_price_alone_is_still_a_full_message() {
        let data = market(0.0, flat_bars(20, 1.0, 1.0));
        let signal = evaluate("SPY", &data, &fear_greed("Neutral", 50.0), None).unwrap();
        assert!(signal_message(&signal).contains("• SMA 20: $1.00\n"));
    }
}
