//! `/execute` and `/executions` (legacy §3.8–§3.10, §9.5, A.9), byte for byte, with the stored
//! KV bytes after each step.

use crate::helpers::{Backend, Fixture, T0};
use fear_greed_bot::platform::native::KvOp;

const CHAT: i64 = 123_456_789;
const HISTORY_KEY: &str = "execution_history:123456789";
const POSITION_KEY: &str = "active_position:123456789";
/// 2026-11-24T00:04:00Z.
const NOV_24_2026_0004: i64 = 1_795_478_640_000;

fn say(f: &Fixture, text: &str) -> String {
    let mut replies = f.converse(CHAT, text);
    assert_eq!(replies.len(), 1, "{text}: {replies:?}");
    let (chat, reply) = replies.remove(0);
    assert_eq!(chat, CHAT);
    reply
}

const BUY_SPY_400_50: &str = "🟢 *Execution Recorded*\n\n*Signal:* BUY\n*Ticker:* SPY\n*Price:* $400.50\n\nExecution has been recorded in your history.";

#[test]
fn a_first_buy_is_recorded_opens_the_position_and_watches_the_ticker() {
    let f = Fixture::new(Backend::Kv);
    assert_eq!(say(&f, "/execute SPY 400.50"), BUY_SPY_400_50);
    assert_eq!(
        f.kv.peek(HISTORY_KEY).unwrap(),
        format!(
            r#"[{{"signalType":"BUY","ticker":"SPY","executionPrice":400.5,"executionDate":{T0}}}]"#
        )
    );
    assert_eq!(
        f.kv.peek(POSITION_KEY).unwrap(),
        r#"{"ticker":"SPY","entryPrice":400.5}"#
    );
    assert_eq!(f.kv.peek("watchlist:123456789").unwrap(), r#"["SPY"]"#);
}

#[test]
fn the_execution_flow_of_a9_in_november() {
    let f = Fixture::new(Backend::Kv);
    f.clock.set(NOV_24_2026_0004);
    assert_eq!(say(&f, "/execute SPY 400.5"), BUY_SPY_400_50);
    assert_eq!(
        say(&f, "/execute SPY 410"),
        "❌ Trading frequency limit: You already executed a signal in November. You can execute again in December (once per calendar month)."
    );
    assert_eq!(
        say(&f, "/executions"),
        "*Your Execution History:*\n\n*Execution History (1 entry):*\n\n\n🟢 *BUY* SPY at $400.50\n   📅 Nov 24, 2026, 12:04 AM"
    );
}

#[test]
fn validation_errors_reply_in_order_and_store_nothing() {
    let f = Fixture::new(Backend::Kv);
    let format = "❌ Invalid format. Use: /execute TICKER PRICE [DATE]\nExample: /execute SPY 400.50\nExample: /execute SPY 400.50 2024-01-15";
    let invalid_price =
        |raw: &str| format!("❌ Invalid price: \"{raw}\". Please provide a positive number.");
    let cases = [
        ("/execute SPY".to_owned(), format.to_owned()),
        ("/execute".to_owned(), format.to_owned()),
        ("/execute A-B 1".to_owned(), "❌ Invalid ticker symbol: \"A-B\". Please use a valid ticker (1-10 characters, e.g., SPY, TUI1.DE).".to_owned()),
        ("/execute SPY abc".to_owned(), invalid_price("abc")),
        ("/execute SPY 0".to_owned(), invalid_price("0")),
        ("/execute SPY -5".to_owned(), invalid_price("-5")),
        ("/execute SPY -0".to_owned(), invalid_price("-0")),
        ("/execute SPY 0x10".to_owned(), invalid_price("0x10")),
        ("/execute SPY -Infinity".to_owned(), invalid_price("-Infinity")),
        ("/execute SPY *5".to_owned(), invalid_price("\\*5")),
        ("/execute SPY 400.50 2024/01/15".to_owned(), "❌ Invalid date format: \"2024/01/15\". Please use YYYY-MM-DD format (e.g., 2024-01-15).".to_owned()),
        ("/execute SPY 1 2024_01_15".to_owned(), "❌ Invalid date format: \"2024\\_01\\_15\". Please use YYYY-MM-DD format (e.g., 2024-01-15).".to_owned()),
        ("/execute SPY 400.50 2024-02-30".to_owned(), "❌ Invalid date: \"2024-02-30\". Please provide a valid date.".to_owned()),
        ("/execute SPY 400.50 0099-01-01".to_owned(), "❌ Invalid date: \"0099-01-01\". Please provide a valid date.".to_owned()),
        ("/execute SPY 400.50 2024-13-01".to_owned(), "❌ Invalid date: \"2024-13-01\". Please provide a valid date.".to_owned()),
    ];
    for (text, want) in cases {
        assert_eq!(say(&f, &text), want, "{text}");
    }
    assert_eq!(f.kv.keys(), Vec::<String>::new(), "nothing stored");
}

#[test]
fn prices_are_read_like_parse_float() {
    let f = Fixture::new(Backend::Kv);
    let cases = [
        ("/execute SPY 400.50abc", "$400.50", "400.5"),
        ("/execute SPY 1e3 2024-02-01", "$1000.00", "1000"),
        ("/execute SPY .5 2024-03-01", "$0.50", "0.5"),
        ("/execute SPY 0.0000001 2024-04-01", "$0.00", "1e-7"),
    ];
    for (month, (text, shown, stored)) in cases.into_iter().enumerate() {
        // One execution per month: move the clock a month on each time.
        f.clock.set(T0 + month as i64 * 31 * 86_400_000);
        let reply = say(&f, text);
        assert!(
            reply.contains(&format!("*Price:* {shown}\n")),
            "{text}: {reply}"
        );
        let history = f.kv.peek(HISTORY_KEY).unwrap();
        assert!(
            history.contains(&format!(r#""executionPrice":{stored},"#)),
            "{text}: {history}"
        );
    }
}

#[test]
fn a_dated_execution_is_stored_at_midnight_utc() {
    let f = Fixture::new(Backend::Kv);
    // The clock reads a later day and hour, so only the date argument gives this value.
    f.clock.advance(3 * 86_400_000 + 5 * 3_600_000);
    say(&f, "/execute SPY 400.50 2024-01-15");
    assert!(f
        .kv
        .peek(HISTORY_KEY)
        .unwrap()
        .contains(r#""executionDate":1705276800000}"#));
    let g = Fixture::new(Backend::Kv);
    say(&g, "/execute SPY 1 1900-03-01");
    assert!(g
        .kv
        .peek(HISTORY_KEY)
        .unwrap()
        .contains(r#""executionDate":-2203891200000}"#));
}

#[test]
fn holding_the_ticker_makes_it_a_sell_that_closes_the_position() {
    let f = Fixture::new(Backend::Kv);
    f.kv.seed(POSITION_KEY, r#"{"ticker":"SPY","entryPrice":400}"#);
    assert_eq!(
        say(&f, "/execute spy 450"),
        "🔴 *Execution Recorded*\n\n*Signal:* SELL\n*Ticker:* SPY\n*Price:* $450.00\n\n✅ All open positions for SPY have been closed.\n\nExecution has been recorded in your history."
    );
    assert_eq!(f.kv.peek(POSITION_KEY), None);
    assert_eq!(
        f.kv.peek("watchlist:123456789"),
        None,
        "a SELL leaves the watchlist alone"
    );
}

#[test]
fn buying_another_ticker_replaces_the_position() {
    let f = Fixture::new(Backend::Kv);
    f.kv.seed(POSITION_KEY, r#"{"ticker":"SPY","entryPrice":400}"#);
    let reply = say(&f, "/execute AAPL 150");
    assert!(reply.starts_with("🟢 *Execution Recorded*\n\n*Signal:* BUY\n*Ticker:* AAPL\n"));
    assert_eq!(
        f.kv.peek(POSITION_KEY).unwrap(),
        r#"{"ticker":"AAPL","entryPrice":150}"#
    );
    assert_eq!(
        f.kv.peek("watchlist:123456789").unwrap(),
        r#"["SPY","AAPL"]"#
    );
}

#[test]
fn the_monthly_limit_counts_the_latest_execution_only() {
    let f = Fixture::new(Backend::Kv);
    // A back-dated execution is not the latest: it does not block.
    say(&f, "/execute SPY 1 2023-12-15");
    assert!(say(&f, "/execute SPY 2").contains("*Signal:* SELL"));
    // Now the latest is this month's: blocked, whatever the ticker.
    assert_eq!(
        say(&f, "/execute AAPL 3"),
        "❌ Trading frequency limit: You already executed a signal in January. You can execute again in February (once per calendar month)."
    );
    // A month later it is allowed again.
    f.clock.set(T0 + 31 * 86_400_000);
    assert!(say(&f, "/execute AAPL 3").contains("*Signal:* BUY"));
}

#[test]
fn a_december_execution_points_to_january() {
    let f = Fixture::new(Backend::Kv);
    f.clock.set(1_733_011_200_000); // 2024-12-01
    say(&f, "/execute SPY 1");
    assert_eq!(
        say(&f, "/execute SPY 2"),
        "❌ Trading frequency limit: You already executed a signal in December. You can execute again in January (once per calendar month)."
    );
}

#[test]
fn infinity_is_accepted_stored_as_null_and_breaks_the_history() {
    let f = Fixture::new(Backend::Kv);
    assert!(say(&f, "/execute SPY Infinity").contains("*Price:* $Infinity\n"));
    assert!(f
        .kv
        .peek(HISTORY_KEY)
        .unwrap()
        .contains(r#""executionPrice":null,"#));
    assert_eq!(
        f.kv.peek(POSITION_KEY).unwrap(),
        r#"{"ticker":"SPY","entryPrice":null}"#
    );
    assert_eq!(
        say(&f, "/executions"),
        "❌ Failed to retrieve execution history. Please try again."
    );
}

#[test]
fn a_failed_position_read_is_a_500_and_a_failed_write_says_so() {
    let f = Fixture::new(Backend::Kv);
    f.kv.fail(KvOp::Get, "active_position:");
    let response = f.send_text(CHAT, "/execute SPY 1");
    assert_eq!(
        (response.status, response.body.as_str()),
        (500, r#"{"ok":false,"error":"Internal server error"}"#)
    );
    assert!(f.sent_messages().is_empty());
    f.kv.heal();
    f.kv.fail(KvOp::Put, "execution_history:");
    assert_eq!(
        say(&f, "/execute SPY 1"),
        "❌ Failed to record execution. Please try again."
    );
    assert_eq!(f.kv.peek(POSITION_KEY), None);
}

/// A position the legacy bot cannot read (an array has no `.ticker`) fails `/execute` as any
/// unreadable position does: 500, no reply, nothing recorded; it is never sold as SPY at 400.
#[test]
fn a_position_stored_as_an_array_is_unreadable_like_any_corrupt_one() {
    for stored in [r#"["SPY",400]"#, r#"{"ticker":"SPY","entryPrice":"abc"}"#] {
        let f = Fixture::new(Backend::Kv);
        f.kv.seed(POSITION_KEY, stored);
        let response = f.send_text(CHAT, "/execute SPY 450");
        assert_eq!(response.status, 500, "{stored}");
        assert!(f.sent_messages().is_empty(), "{stored}");
        assert_eq!(f.kv.peek(HISTORY_KEY), None, "{stored}");
        assert_eq!(f.kv.peek(POSITION_KEY).unwrap(), stored);
    }
}

/// A stored `null` is what KV answers for a missing key, so to the legacy bot it is no
/// position: a BUY.
#[test]
fn a_position_stored_as_null_is_no_position() {
    let f = Fixture::new(Backend::Kv);
    f.kv.seed(POSITION_KEY, "null");
    assert_eq!(say(&f, "/execute SPY 400.50"), BUY_SPY_400_50);
    assert_eq!(
        f.kv.peek(POSITION_KEY).unwrap(),
        r#"{"ticker":"SPY","entryPrice":400.5}"#
    );
}

#[test]
fn history_lists_newest_first_with_signal_part_and_dates() {
    let f = Fixture::new(Backend::Kv);
    f.kv.seed(
        HISTORY_KEY,
        r#"[{"signalType":"BUY","ticker":"SPY","executionPrice":400.5,"executionDate":1705276800000,"signalPrice":400},{"signalType":"BUY","ticker":"AAPL","executionPrice":150,"executionDate":1705363200000},{"signalType":"SELL","ticker":"SPY","executionPrice":450,"executionDate":1706969100000}]"#,
    );
    assert_eq!(
        say(&f, "/executions SPY"),
        "*Execution History for SPY:*\n\n*Execution History (2 entries):*\n\n\n🔴 *SELL* SPY at $450.00\n   📅 Feb 3, 2024, 02:05 PM\n\n🟢 *BUY* SPY at $400.50 (signal: $400.00, +0.13%)\n   📅 Jan 15, 2024, 12:00 AM"
    );
    assert_eq!(
        say(&f, "/executions msft"),
        "*Execution History for MSFT:*\n\nNo executions recorded."
    );
    assert_eq!(say(&f, "/executions spy"), say(&f, "/executions SPY"));
    assert_eq!(
        say(&f, "/executions"),
        "*Your Execution History:*\n\n*Execution History (3 entries):*\n\n\n🔴 *SELL* SPY at $450.00\n   📅 Feb 3, 2024, 02:05 PM\n\n🟢 *BUY* AAPL at $150.00\n   📅 Jan 16, 2024, 12:00 AM\n\n🟢 *BUY* SPY at $400.50 (signal: $400.00, +0.13%)\n   📅 Jan 15, 2024, 12:00 AM"
    );
    assert_eq!(
        say(&f, "/executions BAD_T"),
        "❌ Invalid ticker symbol: \"BAD\\_T\". Please use a valid ticker (1-10 characters, e.g., SPY, TUI1.DE)."
    );
}

#[test]
fn an_empty_history_and_a_losing_signal_part() {
    let f = Fixture::new(Backend::Kv);
    assert_eq!(
        say(&f, "/executions"),
        "*Your Execution History:*\n\nNo executions recorded."
    );
    f.kv.seed(
        HISTORY_KEY,
        r#"[{"signalType":"BUY","ticker":"SPY","executionPrice":390,"executionDate":1705276800000,"signalPrice":400}]"#,
    );
    assert_eq!(
        say(&f, "/executions@Bot"),
        "*Your Execution History:*\n\n*Execution History (1 entry):*\n\n\n🟢 *BUY* SPY at $390.00 (signal: $400.00, -2.50%)\n   📅 Jan 15, 2024, 12:00 AM"
    );
}

#[test]
fn each_execute_reads_every_key_once() {
    let f = Fixture::new(Backend::Kv);
    f.kv.reset_counts();
    say(&f, "/execute SPY 1");
    let counts = f.kv.counts();
    // history (limit check and append share one read), position, watchlist.
    assert_eq!((counts.get, counts.put), (3, 3), "{counts:?}");
}
