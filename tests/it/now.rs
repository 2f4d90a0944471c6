//! `/now` through the webhook (legacy §3.6, §9.2, A.1, A.2, A.7, A.8): headers only in fear or
//! for an explicit ticker, one message per ticker, the error path with its admin notice, and
//! the holiday notice.

use crate::helpers::{
    answer_market, chart_body, ok_json, respond, telegram_ok, Backend, Fixture, ADMIN, CNN, YAHOO,
};
use fear_greed_bot::domain::holidays_of;
use fear_greed_bot::platform::native::KvOp;
use serde_json::json;

const CHAT: i64 = 123_456_789;
const CHART_PREFIX: &str =
    "https://quickchart.io/chart?c=%7Btype%3A%27gauge%27%2Cdata%3A%7Bdatasets%3A%5B%7Bvalue%3A%27";
const CHART_SUFFIX: &str = "%27%2Cdata%3A%5B25%2C45%2C55%2C75%2C100%5D%2CbackgroundColor%3A%5B%27%23f06c00ff%27%2C%27%23ffb9a180%27%2C%27%23e6e6e6%27%2C%27%23b9ede9%27%2C%27%238cd6c3%27%5D%2CborderWidth%3A0%7D%5D%7D%2Coptions%3A%7BvalueLabel%3A%7BfontSize%3A22%2CbackgroundColor%3A%27transparent%27%2Ccolor%3A%27%23000%27%2Cformatter%3Afunction+%28value%29+%7B%0A++return+value+%2B+%22%25%22%3B%0A%7D%2CbottomMarginPercentage%3A10%7D%7D%7D&w=400&h=250&ref=qc-js&bkg=%23ffffff&f=png&v=2.9.4";

fn header(score: &str, rating: &str) -> String {
    format!("⚠️ The current [Fear and Greed Index]({CHART_PREFIX}{score}{CHART_SUFFIX}) rating is {score}% (*{rating}*).")
}

/// The A.1 / A.2 body for a ticker on the linear series at 380, with condition C and reasoning.
fn linear_380_body(ticker: &str, signal: &str, c: &str, index: &str, reasoning: &str) -> String {
    format!("{signal}\n\n💰 Current [{ticker} Price](https://www.tradingview.com/chart/?symbol={ticker}): $380.00\n\n*Technical Indicators:*\n• SMA 20: $394.75\n• SMA 50: $387.25\n• SMA 100: $374.75\n• SMA 200: $349.75\n• BB Upper: $400.52\n• BB Middle: $394.75\n• BB Lower: $388.98\n\n*Conditions:*\n• Condition A (New BUY formula): ✅\n• Condition B (Price near BB Lower): ✅\n• Condition C (Fear/Extreme Fear): {c}\n\n*Fear & Greed Index:* {index}\n\n\n*Reasoning:* {reasoning}")
}

const BUY_REASONING: &str = "BUY signal triggered. Entry condition met: Price within 1% of SMA20 (394.75) AND within 1% of BB lower (388.98) OR Price within 1% of SMA50 (387.25). Fear & Greed Index indicates fear/extreme fear.";

/// A fixture whose clock reads Tuesday 2024-01-16 (the fixture's Monday is Martin Luther King
/// Jr. Day, when `/now` adds the "Market Closed" notice).
fn trading_day() -> Fixture {
    let f = Fixture::new(Backend::Kv);
    f.clock.advance(24 * 60 * 60 * 1000);
    f
}

fn texts(f: &Fixture, text: &str) -> Vec<String> {
    f.replies(CHAT, text)
}

#[test]
fn in_fear_every_watchlist_ticker_gets_header_and_signal_a1() {
    let f = trading_day();
    answer_market(&f, "Fear", 25.123, 380.0);
    f.kv.seed("watchlist:123456789", r#"["SPY","AAPL"]"#);
    let messages = texts(&f, "/now");
    let header = header("25.12", "FEAR");
    let expected: Vec<String> = ["SPY", "AAPL"]
        .iter()
        .map(|t| {
            format!(
                "{header}\n\n{}",
                linear_380_body(
                    t,
                    "🟢 *Trading Signal: BUY*",
                    "✅",
                    "Fear (25.12%)",
                    BUY_REASONING
                )
            )
        })
        .collect();
    assert_eq!(messages, expected);
}

#[test]
fn outside_fear_the_watchlist_gets_bodies_and_an_explicit_ticker_the_header_a2() {
    let f = trading_day();
    answer_market(&f, "Greed", 70.0, 380.0);
    let body = linear_380_body(
        "SPY",
        "🟡 *Trading Signal: HOLD*",
        "❌",
        "Greed (70.00%)",
        "HOLD - Entry conditions not met. Fear & Greed Index is not in fear/extreme fear.",
    );
    assert_eq!(texts(&f, "/now"), vec![body.clone()]);
    assert_eq!(
        texts(&f, "/now spy"),
        vec![format!("{}\n\n{body}", header("70.00", "GREED"))]
    );
    assert_eq!(f.kv.peek("watchlist:123456789").unwrap(), r#"["SPY"]"#);
}

#[test]
fn an_explicit_ticker_still_creates_the_default_watchlist() {
    let f = trading_day();
    answer_market(&f, "Neutral", 50.0, 400.0);
    assert_eq!(texts(&f, "/now AAPL").len(), 1);
    assert_eq!(f.kv.peek("watchlist:123456789").unwrap(), r#"["SPY"]"#);
}

#[test]
fn an_invalid_ticker_gets_one_reply_and_nothing_is_fetched() {
    let f = trading_day();
    answer_market(&f, "Neutral", 50.0, 400.0);
    assert_eq!(
        texts(&f, "/now INVALID-TICKER!"),
        vec!["❌ Invalid ticker symbol: \"INVALID-TICKER!\". Please use a valid ticker (1-10 characters, e.g., SPY, TUI1.DE)."]
    );
    assert_eq!(f.http.sent().len(), 1, "the reply and nothing else");
}

#[test]
fn a_yahoo_404_gives_the_market_unavailable_hold_a7() {
    let f = trading_day();
    f.http.answer_with(|request| {
        Ok(if request.url.starts_with(CNN) {
            ok_json(&json!({"rating": "Neutral", "score": 50}))
        } else if request.url.contains("/v8/finance/chart/") {
            respond(
                404,
                &json!({"chart": {"result": null, "error": {"code": "Not Found"}}}),
            )
        } else {
            telegram_ok(request)
        })
    });
    assert_eq!(
        texts(&f, "/now SPY"),
        vec![format!("{}\n\n🟡 *Trading Signal: HOLD*\n\n⚠️ *Data Unavailable*\n\n*Fear & Greed Index:* Neutral (50.00%)\nMarket data (SPY price and indicators) unavailable.\n\n\n*Reasoning:* HOLD - Insufficient data to evaluate trading conditions. Market data (SPY price and indicators) unavailable.", header("50.00", "NEUTRAL"))]
    );
}

#[test]
fn a_cnn_failure_gives_every_ticker_the_all_unavailable_hold_and_tells_the_admin_a8() {
    let f = trading_day();
    f.http.answer_with(|request| {
        Ok(if request.url.starts_with(CNN) {
            respond(418, &json!({}))
        } else {
            telegram_ok(request)
        })
    });
    let sent = f.converse(CHAT, "/now");
    assert_eq!(
        sent,
        vec![
            (CHAT, "🟡 *Trading Signal: HOLD*\n\n⚠️ *Data Unavailable*\n\nFear & Greed Index data unavailable.\nMarket data (SPY price and indicators) unavailable.\n\n\n*Reasoning:* HOLD - Insufficient data to evaluate trading conditions. Fear & Greed Index data unavailable.".to_owned()),
            (ADMIN, "An error occurred: Failed to fetch Fear & Greed Index: 418 I'm a teapot".to_owned()),
        ]
    );
}

/// The error path reads the watchlist again; when that fails too, the legacy handler threw:
/// HTTP 500, nothing sent, and Telegram delivers the update again.
#[test]
fn an_unreadable_watchlist_on_the_error_path_is_a_500() {
    let f = trading_day();
    answer_market(&f, "Fear", 25.0, 380.0);
    f.kv.fail(KvOp::Get, "watchlist:");
    let response = f.send_text(CHAT, "/now");
    assert_eq!(
        (response.status, response.body.as_str()),
        (500, r#"{"ok":false,"error":"Internal server error"}"#)
    );
    assert!(f.sent_messages().is_empty());
}

#[test]
fn on_a_holiday_the_market_closed_notice_follows_the_signals() {
    let f = trading_day();
    answer_market(&f, "Neutral", 50.0, 400.0);
    f.clock.set(1_735_084_800_000 + 3_600_000); // 2024-12-25T01:00Z
    let messages = texts(&f, "/now");
    assert_eq!(messages.len(), 2);
    assert!(messages[0].starts_with("🟡 *Trading Signal: HOLD*"));
    assert_eq!(
        messages[1],
        "\n\n⚠️ *Market Closed*: US stock markets are closed today for Christmas Day."
    );
}

/// Legacy §9.2: on every holiday from 2020 to 2030, `/now` ends with the notice naming it.
#[test]
fn every_holiday_from_2020_to_2030_gets_its_market_closed_notice() {
    let f = trading_day();
    answer_market(&f, "Neutral", 50.0, 400.0);
    for year in 2020..=2030 {
        for holiday in holidays_of(year)
            .into_iter()
            .filter(|h| h.date.year == year)
        {
            f.clock.set(holiday.date.to_ms() + 15 * 3_600_000);
            let messages = texts(&f, "/now");
            assert_eq!(messages.len(), 2, "{}", holiday.date);
            assert_eq!(
                messages[1],
                format!(
                    "\n\n⚠️ *Market Closed*: US stock markets are closed today for {}.",
                    holiday.name
                )
            );
        }
    }
}

/// Appendix A.3 through the webhook: the chat's stored position is read and shown.
#[test]
fn a_stored_position_shapes_the_signal_a3() {
    let f = trading_day();
    let chart = chart_body(150.0, &[140.0; 40], Some(&[150.0; 40]));
    f.http.answer_with(move |request| {
        Ok(if request.url.starts_with(CNN) {
            ok_json(&json!({"rating": "Neutral", "score": 50}))
        } else if request.url.starts_with(YAHOO) {
            ok_json(&chart)
        } else {
            telegram_ok(request)
        })
    });
    f.kv.seed(
        "active_position:123456789",
        r#"{"ticker":"SPY","entryPrice":220}"#,
    );
    let body = "🟡 *Trading Signal: HOLD*\n\n💰 Current [SPY Price](https://www.tradingview.com/chart/?symbol=SPY): $150.00\n\n*Technical Indicators:*\n• SMA 20: $140.00\n• SMA 50: $140.00\n• SMA 100: $140.00\n• SMA 200: $140.00\n• BB Upper: $140.00\n• BB Middle: $140.00\n• BB Lower: $140.00\n\n*Conditions:*\n• Condition A (New BUY formula): ❌\n• Condition B (Price near BB Lower): ❌\n• Condition C (Fear/Extreme Fear): ❌\n\n*Fear & Greed Index:* Neutral (50.00%)\n\n📈 Entry Price: $220.00\n🎯 Sell Target: $150.00\n🎯 BB Upper Target: $141.40\n\n*Reasoning:* HOLD - You have an active position. Price has not reached the sell targets (ATH (within 1%): $148.50 (-1.00% away); BB upper (within 1%): $138.60 (-7.60% away)), currently $150.00. Holding until the position is back in profit (entry $220.00, currently $150.00, down 31.82%).";
    assert_eq!(
        texts(&f, "/now SPY"),
        vec![format!("{}\n\n{body}", header("50.00", "NEUTRAL"))]
    );
}

/// A position the legacy bot cannot read (an array has no `.ticker`) leaves the chat's signal
/// unavailable, as any corrupt position does; no signal holds SPY at 400.
#[test]
fn a_position_stored_as_an_array_is_corrupt_and_no_signal_holds_it() {
    let replies = |stored: &str| {
        let f = trading_day();
        answer_market(&f, "Neutral", 50.0, 380.0);
        f.kv.seed("active_position:123456789", stored);
        texts(&f, "/now SPY")
    };
    let corrupt = replies(r#"{"ticker":"SPY","entryPrice":"abc"}"#);
    assert_eq!(corrupt.len(), 1);
    assert!(
        corrupt[0].contains("⚠️ *Data Unavailable*"),
        "{}",
        corrupt[0]
    );
    assert_eq!(replies(r#"["SPY",400]"#), corrupt);
}

/// A cached reading stored as an array is no cache entry: CNN is asked, as the legacy bot
/// does when `cached.timestamp` is missing.
#[test]
fn a_cache_stored_as_an_array_is_not_used() {
    let f = trading_day();
    answer_market(&f, "Fear", 25.0, 380.0);
    let now = f.clock_now();
    f.kv.seed(
        "fear_greed_cache",
        &json!([{"rating": "greed", "score": 90}, now]).to_string(),
    );
    let messages = texts(&f, "/now SPY");
    assert!(
        messages[0].starts_with(&header("25.00", "FEAR")),
        "{}",
        messages[0]
    );
    assert!(f
        .kv
        .peek("fear_greed_cache")
        .unwrap()
        .starts_with(r#"{"data":"#));
}

/// Legacy §9.2: `/start`, `/now`, `/stop` in turn; the chat ends unsubscribed.
#[test]
fn start_now_stop_leaves_the_chat_unsubscribed() {
    let f = trading_day();
    answer_market(&f, "Greed", 70.0, 380.0);
    assert_eq!(
        texts(&f, "/start"),
        vec!["You've subscribed to Fear and Greed Index alerts."]
    );
    assert_eq!(texts(&f, "/now").len(), 1);
    assert_eq!(
        texts(&f, "/stop"),
        vec!["You've unsubscribed from Fear and Greed Index alerts."]
    );
    assert_eq!(f.kv.peek("chat_ids").unwrap(), "[]");
}

#[test]
fn the_fear_and_greed_reading_is_cached_for_five_minutes() {
    let f = trading_day();
    answer_market(&f, "Neutral", 50.0, 400.0);
    let cnn_calls = |f: &Fixture| {
        f.http
            .sent()
            .iter()
            .filter(|r| r.url.starts_with(CNN))
            .count()
    };
    texts(&f, "/now");
    let cached = f.kv.peek("fear_greed_cache").unwrap();
    assert!(
        cached.starts_with(r#"{"data":{"rating":"Neutral","score":50},"timestamp":"#),
        "{cached}"
    );
    f.clock.advance(299_999);
    f.http.clear();
    texts(&f, "/now");
    assert_eq!(cnn_calls(&f), 0, "still fresh");
    f.clock.advance(1);
    answer_market(&f, "Neutral", 50.0, 400.0);
    f.http.clear();
    f.send_text(CHAT, "/now");
    assert_eq!(cnn_calls(&f), 1, "stale after five minutes");
}

#[test]
fn now_reads_each_key_once_and_makes_one_request_per_source() {
    let f = trading_day();
    answer_market(&f, "Fear", 25.0, 380.0);
    f.kv.seed("watchlist:123456789", r#"["SPY","AAPL"]"#);
    f.kv.reset_counts();
    let sent = texts(&f, "/now");
    assert_eq!(sent.len(), 2);
    let counts = f.kv.counts();
    // cache miss + cache write, watchlist, position.
    assert_eq!((counts.get, counts.put), (3, 1), "{counts:?}");
}
