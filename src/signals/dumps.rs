//! Appendix A.1–A.8 of the legacy spec, byte for byte. The dumps are pasted verbatim;
//! `CHART_URL` in them is replaced by the §5.5 example URL with the score swapped, so no
//! expected byte comes from the code under test.
//!
//! Inputs follow "Notes for A.1–A.12": the A.1/A.2 bars are the §9 linear series built for
//! 400 (SMA20 394.75, bands 400.52/388.98) while `regularMarketPrice` is 380; the flat
//! series use 40 bars as §9.11 states for A.3/A.4 (the SMAs do not depend on the count).

use super::fixtures::{fear_greed, flat_bars, linear_bars, market, position};
use super::*;
use crate::domain::{FearGreed, MarketData, Position};

/// Appendix A.1, verbatim.
const A1: &str = r#"⚠️ The current [Fear and Greed Index](CHART_URL) rating is 25.12% (*FEAR*).

🟢 *Trading Signal: BUY*

💰 Current [SPY Price](https://www.tradingview.com/chart/?symbol=SPY): $380.00

*Technical Indicators:*
• SMA 20: $394.75
• SMA 50: $387.25
• SMA 100: $374.75
• SMA 200: $349.75
• BB Upper: $400.52
• BB Middle: $394.75
• BB Lower: $388.98

*Conditions:*
• Condition A (New BUY formula): ✅
• Condition B (Price near BB Lower): ✅
• Condition C (Fear/Extreme Fear): ✅

*Fear & Greed Index:* Fear (25.12%)


*Reasoning:* BUY signal triggered. Entry condition met: Price within 1% of SMA20 (394.75) AND within 1% of BB lower (388.98) OR Price within 1% of SMA50 (387.25). Fear & Greed Index indicates fear/extreme fear."#;

/// Appendix A.2, verbatim.
const A2: &str = r#"🟡 *Trading Signal: HOLD*

💰 Current [SPY Price](https://www.tradingview.com/chart/?symbol=SPY): $380.00

*Technical Indicators:*
• SMA 20: $394.75
• SMA 50: $387.25
• SMA 100: $374.75
• SMA 200: $349.75
• BB Upper: $400.52
• BB Middle: $394.75
• BB Lower: $388.98

*Conditions:*
• Condition A (New BUY formula): ✅
• Condition B (Price near BB Lower): ✅
• Condition C (Fear/Extreme Fear): ❌

*Fear & Greed Index:* Greed (70.00%)


*Reasoning:* HOLD - Entry conditions not met. Fear & Greed Index is not in fear/extreme fear."#;

/// Appendix A.3, verbatim.
const A3: &str = r#"⚠️ The current [Fear and Greed Index](CHART_URL) rating is 50.00% (*NEUTRAL*).

🟡 *Trading Signal: HOLD*

💰 Current [SPY Price](https://www.tradingview.com/chart/?symbol=SPY): $150.00

*Technical Indicators:*
• SMA 20: $140.00
• SMA 50: $140.00
• SMA 100: $140.00
• SMA 200: $140.00
• BB Upper: $140.00
• BB Middle: $140.00
• BB Lower: $140.00

*Conditions:*
• Condition A (New BUY formula): ❌
• Condition B (Price near BB Lower): ❌
• Condition C (Fear/Extreme Fear): ❌

*Fear & Greed Index:* Neutral (50.00%)

📈 Entry Price: $220.00
🎯 Sell Target: $150.00
🎯 BB Upper Target: $141.40

*Reasoning:* HOLD - You have an active position. Price has not reached the sell targets (ATH (within 1%): $148.50 (-1.00% away); BB upper (within 1%): $138.60 (-7.60% away)), currently $150.00. Holding until the position is back in profit (entry $220.00, currently $150.00, down 31.82%)."#;

/// Appendix A.4, verbatim.
const A4: &str = r#"🔴 *Trading Signal: SELL*

💰 Current [SPY Price](https://www.tradingview.com/chart/?symbol=SPY): $150.00

*Technical Indicators:*
• SMA 20: $90.00
• SMA 50: $90.00
• SMA 100: $90.00
• SMA 200: $90.00
• BB Upper: $90.00
• BB Middle: $90.00
• BB Lower: $90.00

*Conditions:*
• Condition A (New BUY formula): ❌
• Condition B (Price near BB Lower): ❌
• Condition C (Fear/Extreme Fear): ❌

*Fear & Greed Index:* Neutral (50.00%)

📈 Entry Price: $90.00
🎯 Sell Target (BB Upper): $90.90

*Reasoning:* SELL signal triggered. Price within 1% or higher than Bollinger Band upper target."#;

/// Appendix A.5, verbatim.
const A5: &str = r#"🔴 *Trading Signal: SELL*

💰 Current [SPY Price](https://www.tradingview.com/chart/?symbol=SPY): $99.50

*Technical Indicators:*
• SMA 20: $100.00
• SMA 50: $100.00
• SMA 100: $100.00
• SMA 200: $100.00
• BB Upper: $100.00
• BB Middle: $100.00
• BB Lower: $100.00

*Conditions:*
• Condition A (New BUY formula): ✅
• Condition B (Price near BB Lower): ✅
• Condition C (Fear/Extreme Fear): ❌

*Fear & Greed Index:* Neutral (50.00%)

📈 Entry Price: $90.00
🎯 Sell Target (ATH): $100.20
🎯 BB Upper Target: $101.00

*Reasoning:* SELL signal triggered. Price within 1% or higher than all-time high."#;

/// Appendix A.6, verbatim.
const A6: &str = r#"🟡 *Trading Signal: HOLD*

💰 Current [SPY Price](https://www.tradingview.com/chart/?symbol=SPY): $150.00

*Technical Indicators:*
• SMA 20: $100.00
• SMA 50: $100.00
• SMA 100: $100.00
• SMA 200: $100.00
• BB Upper: $100.00
• BB Middle: $100.00
• BB Lower: $100.00

*Conditions:*
• Condition A (New BUY formula): ❌
• Condition B (Price near BB Lower): ❌
• Condition C (Fear/Extreme Fear): ❌

*Fear & Greed Index:* Neutral (50.00%)


*Reasoning:* HOLD - Entry conditions not met. Price condition not met (not (price within 1% of SMA20 AND near BB lower) OR price within 1% of SMA50/100/200). Fear & Greed Index is not in fear/extreme fear."#;

/// Appendix A.7, verbatim.
const A7: &str = r#"⚠️ The current [Fear and Greed Index](CHART_URL) rating is 50.00% (*NEUTRAL*).

🟡 *Trading Signal: HOLD*

⚠️ *Data Unavailable*

*Fear & Greed Index:* Neutral (50.00%)
Market data (SPY price and indicators) unavailable.


*Reasoning:* HOLD - Insufficient data to evaluate trading conditions. Market data (SPY price and indicators) unavailable."#;

/// Appendix A.8, verbatim.
const A8: &str = r#"🟡 *Trading Signal: HOLD*

⚠️ *Data Unavailable*

Fear & Greed Index data unavailable.
Market data (SPY price and indicators) unavailable.


*Reasoning:* HOLD - Insufficient data to evaluate trading conditions. Fear & Greed Index data unavailable."#;

/// §5.5's complete example for `25.00`, verbatim.
const SPEC_URL_25: &str = "https://quickchart.io/chart?c=%7Btype%3A%27gauge%27%2Cdata%3A%7Bdatasets%3A%5B%7Bvalue%3A%2725.00%27%2Cdata%3A%5B25%2C45%2C55%2C75%2C100%5D%2CbackgroundColor%3A%5B%27%23f06c00ff%27%2C%27%23ffb9a180%27%2C%27%23e6e6e6%27%2C%27%23b9ede9%27%2C%27%238cd6c3%27%5D%2CborderWidth%3A0%7D%5D%7D%2Coptions%3A%7BvalueLabel%3A%7BfontSize%3A22%2CbackgroundColor%3A%27transparent%27%2Ccolor%3A%27%23000%27%2Cformatter%3Afunction+%28value%29+%7B%0A++return+value+%2B+%22%25%22%3B%0A%7D%2CbottomMarginPercentage%3A10%7D%7D%7D&w=400&h=250&ref=qc-js&bkg=%23ffffff&f=png&v=2.9.4";

/// A dump with `CHART_URL` resolved for the header score shown in it.
fn dump(text: &str, header_score: &str) -> String {
    let url = SPEC_URL_25.replace("%2725.00%27", &format!("%27{header_score}%27"));
    text.replace("CHART_URL", &url)
}

/// The header line of a dump and the body after its blank line.
fn split_header(text: &str) -> (&str, &str) {
    text.split_once("\n\n").expect("a header line")
}

fn body(ticker: &str, data: &MarketData, fg: &FearGreed, pos: Option<&Position>) -> String {
    signal_message(&evaluate(ticker, data, fg, pos).expect("evaluates"))
}

/// `/now` with a given ticker, or in fear: header, blank line, body.
fn now_with_header(
    ticker: &str,
    data: &MarketData,
    fg: &FearGreed,
    pos: Option<&Position>,
) -> String {
    with_header(&header(fg), &body(ticker, data, fg, pos))
}

fn linear_400_at_380() -> MarketData {
    market(380.0, linear_bars(400.0))
}

#[test]
fn a1_buy_in_fear_comes_with_the_header_for_every_watchlist_ticker() {
    let fg = fear_greed("Fear", 25.123);
    let want = dump(A1, "25.12");
    assert_eq!(
        now_with_header("SPY", &linear_400_at_380(), &fg, None),
        want
    );
    // The second message (AAPL) differs only in the ticker.
    assert_eq!(
        now_with_header("AAPL", &linear_400_at_380(), &fg, None),
        want.replace("SPY", "AAPL")
    );
}

#[test]
fn a2_the_same_data_in_greed_holds_without_header_in_watchlist_mode() {
    let fg = fear_greed("Greed", 70.0);
    assert_eq!(body("SPY", &linear_400_at_380(), &fg, None), A2);
}

#[test]
fn a2_an_explicit_ticker_gets_the_greed_header() {
    let fg = fear_greed("Greed", 70.0);
    let want = format!(
        "{}\n\n{A2}",
        dump(
            "⚠️ The current [Fear and Greed Index](CHART_URL) rating is 70.00% (*GREED*).",
            "70.00"
        )
    );
    assert_eq!(
        now_with_header("SPY", &linear_400_at_380(), &fg, None),
        want
    );
}

#[test]
fn a3_hold_with_a_losing_position_shows_all_three_target_lines() {
    let pos = position("SPY", 220.0);
    let data = market(150.0, flat_bars(40, 140.0, 150.0));
    let got = now_with_header("SPY", &data, &fear_greed("Neutral", 50.0), Some(&pos));
    assert_eq!(got, dump(A3, "50.00"));
}

#[test]
fn a4_sell_on_the_band_drops_the_separate_bb_target_line() {
    let mut bars = flat_bars(40, 90.0, 95.0);
    bars.last_mut().unwrap().high = 250.0;
    let pos = position("SPY", 90.0);
    let got = body(
        "SPY",
        &market(150.0, bars),
        &fear_greed("Neutral", 50.0),
        Some(&pos),
    );
    assert_eq!(got, A4);
}

#[test]
fn a5_sell_on_the_ath_keeps_the_bb_target_line() {
    let pos = position("SPY", 90.0);
    let data = market(99.5, flat_bars(40, 100.0, 100.2));
    assert_eq!(
        body("SPY", &data, &fear_greed("Neutral", 50.0), Some(&pos)),
        A5
    );
}

#[test]
fn a6_hold_without_position_names_both_failed_conditions() {
    let data = market(150.0, flat_bars(40, 100.0, 100.0));
    assert_eq!(body("SPY", &data, &fear_greed("Neutral", 50.0), None), A6);
}

#[test]
fn a7_market_data_failure_keeps_the_fear_greed_reading_and_the_header() {
    let fg = fear_greed("Neutral", 50.0);
    let got = with_header(&header(&fg), &market_unavailable("SPY", &fg));
    assert_eq!(got, dump(A7, "50.00"));
    let (head, rest) = split_header(A7);
    assert_eq!(market_unavailable("SPY", &fg), rest);
    assert_eq!(header(&fg), dump(head, "50.00"));
}

#[test]
fn a8_no_fear_greed_data_gives_the_all_unavailable_hold() {
    assert_eq!(all_unavailable("SPY"), A8);
}

#[test]
fn every_evaluation_failure_falls_back_to_the_same_unavailable_text() {
    let fg = fear_greed("Neutral", 50.0);
    let short = market(100.0, flat_bars(19, 100.0, 100.0));
    let err = evaluate("SPY", &short, &fg, None).unwrap_err();
    assert_eq!(err, SignalError::InsufficientData(19));
    let text = market_unavailable("SPY", &fg);
    assert!(text.contains("Data Unavailable"));
    assert!(text.contains("*Fear & Greed Index:* Neutral (50.00%)"));
    assert!(text.contains("Insufficient data"));
    assert!(all_unavailable("SPY").ends_with("Fear & Greed Index data unavailable."));
}
