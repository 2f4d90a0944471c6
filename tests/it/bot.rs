//! The webhook and the commands built so far, byte for byte against legacy §2.3, §3.3–§3.7
//! and the reference vectors of §9.1, §9.3 and §9.4, on KV storage.

use crate::helpers::{run, webhook_request, Backend, Fixture, WEBHOOK_SECRET};
use fear_greed_bot::platform::native::KvOp;

const CHAT: i64 = 123_456_789;
const WATCHLIST_KEY: &str = "watchlist:123456789";
const HELP: &str = "\nAvailable commands:\n/start - Subscribe to Fear and Greed Index alerts.\n/stop - Unsubscribe from Fear and Greed Index alerts.\n/now - Get trading signals for all tickers in your watchlist.\n/now TICKER - Get trading signal for a specific ticker (e.g., /now AAPL).\n/watchlist - View your watchlist.\n/watchlist add TICKER - Add ticker to your watchlist (e.g., /watchlist add AAPL).\n/watchlist remove TICKER - Remove ticker from your watchlist (e.g., /watchlist remove SPY).\n/execute TICKER PRICE [DATE] - Record execution of a signal at a specific price (e.g., /execute SPY 400.50). Optionally specify date as YYYY-MM-DD (e.g., /execute SPY 400.50 2024-01-15).\n/executions - View your execution history.\n/executions TICKER - View execution history for a specific ticker (e.g., /executions SPY).\n/help - Show this help message.\n\nNote: Scheduled broadcasts automatically skip US stock market holidays. Manual /now requests on holidays will include a market closed notice.\n";

fn bot() -> Fixture {
    Fixture::new(Backend::Kv)
}

/// Sends `text` and returns the replies it produced (and clears them).
fn say(f: &Fixture, text: &str) -> Vec<String> {
    f.replies(CHAT, text)
}

#[test]
fn the_secret_header_must_match_exactly() {
    let f = bot();
    let body = br#"{"message":{"chat":{"id":1},"text":"/start"}}"#;
    for secret in [None, Some("wrong"), Some("test-webhook-secre"), Some("")] {
        let response = run(f.app().handle(&webhook_request(secret, body)));
        assert_eq!(
            (response.status, response.body.as_str()),
            (401, r#"{"ok":false,"error":"Unauthorized"}"#),
            "{secret:?}"
        );
    }
    assert!(f.http.sent().is_empty());
    assert_eq!(f.kv.keys(), Vec::<String>::new(), "nothing stored");
}

#[test]
fn a_body_that_is_not_json_is_a_400() {
    let f = bot();
    let response = run(f
        .app()
        .handle(&webhook_request(Some(WEBHOOK_SECRET), b"invalid json {")));
    assert_eq!(
        (
            response.status,
            response.content_type,
            response.body.as_str()
        ),
        (
            400,
            "application/json",
            r#"{"ok":false,"error":"Invalid JSON"}"#
        )
    );
}

#[test]
fn updates_without_a_text_message_get_200_and_nothing_else() {
    let f = bot();
    for body in [
        r#"{"invalid":"payload"}"#,
        r#"{"message":{"text":"/start"}}"#,
        r#"{"message":{"chat":{"id":1},"photo":[]}}"#,
    ] {
        let response = run(f
            .app()
            .handle(&webhook_request(Some(WEBHOOK_SECRET), body.as_bytes())));
        assert_eq!(
            (response.status, response.body.as_str()),
            (200, r#"{"ok":true}"#),
            "{body}"
        );
    }
    assert!(f.http.sent().is_empty());
}

#[test]
fn unknown_text_and_inexact_commands_are_ignored() {
    let f = bot();
    for text in ["hello", "/unknown", "/STOP", "/start@SomeBot", "/start now"] {
        assert_eq!(say(&f, text), Vec::<String>::new(), "{text}");
    }
    assert_eq!(f.kv.peek("chat_ids"), None);
}

#[test]
fn start_and_stop_confirm_and_keep_chat_ids_in_legacy_bytes() {
    let f = bot();
    assert_eq!(
        say(&f, "/start"),
        vec!["You've subscribed to Fear and Greed Index alerts."]
    );
    assert_eq!(f.kv.peek("chat_ids").unwrap(), "[123456789]");
    assert_eq!(
        f.kv.peek(WATCHLIST_KEY).unwrap(),
        r#"["SPY"]"#,
        "a new subscriber gets the default watchlist"
    );
    assert_eq!(
        say(&f, "/start"),
        vec!["You've subscribed to Fear and Greed Index alerts."]
    );
    assert_eq!(f.kv.peek("chat_ids").unwrap(), "[123456789]");
    assert_eq!(
        say(&f, "/stop"),
        vec!["You've unsubscribed from Fear and Greed Index alerts."]
    );
    assert_eq!(f.kv.peek("chat_ids").unwrap(), "[]");
    assert_eq!(
        say(&f, "/stop"),
        vec!["You've unsubscribed from Fear and Greed Index alerts."]
    );
    assert_eq!(f.kv.peek("chat_ids").unwrap(), "[]");
}

#[test]
fn start_confirms_even_when_storage_fails() {
    let f = bot();
    f.kv.fail(KvOp::Get, "");
    f.kv.fail(KvOp::Put, "");
    assert_eq!(
        say(&f, "/start"),
        vec!["You've subscribed to Fear and Greed Index alerts."]
    );
    assert_eq!(
        say(&f, "/stop"),
        vec!["You've unsubscribed from Fear and Greed Index alerts."]
    );
}

#[test]
fn help_is_sent_verbatim_for_trimmed_and_edited_messages() {
    let f = bot();
    assert_eq!(say(&f, "  /help  "), vec![HELP]);
    f.http.clear();
    let edited = br#"{"edited_message":{"chat":{"id":123456789},"text":"/help"}}"#;
    run(f
        .app()
        .handle(&webhook_request(Some(WEBHOOK_SECRET), edited)));
    assert_eq!(f.sent_messages(), vec![(CHAT, HELP.to_owned())]);
}

#[test]
fn watchlist_conversation_matches_the_reference_vectors() {
    let f = bot();
    let view = |lines: &str| {
        format!("*Your Watchlist:*\n\n{lines}\n\nUse /watchlist add TICKER to add a ticker.\nUse /watchlist remove TICKER to remove a ticker.")
    };
    let script: &[(&str, &str, &str)] = &[
        ("/watchlist", &view("• $SPY"), r#"["SPY"]"#),
        ("/watchlist add AAPL", "✅ Added AAPL to your watchlist.", r#"["SPY","AAPL"]"#),
        ("/watchlist add spy", "❌ Ticker SPY is already in your watchlist.", r#"["SPY","AAPL"]"#),
        ("/watchlist add INVALID-TICKER", "❌ Invalid ticker symbol: \"INVALID-TICKER\". Please use a valid ticker (1-10 characters, e.g., SPY, TUI1.DE).", r#"["SPY","AAPL"]"#),
        ("/watchlist add BAD_T", "❌ Invalid ticker symbol: \"BAD\\_T\". Please use a valid ticker (1-10 characters, e.g., SPY, TUI1.DE).", r#"["SPY","AAPL"]"#),
        ("/watchlist add BRK.B", "✅ Added BRK.B to your watchlist.", r#"["SPY","AAPL","BRK.B"]"#),
        ("/watchlistfoo", &view("• $SPY\n• $AAPL\n• $BRK.B"), r#"["SPY","AAPL","BRK.B"]"#),
        ("/watchlist remove aapl", "✅ Removed AAPL from your watchlist.", r#"["SPY","BRK.B"]"#),
        ("/watchlist remove AAPL", "❌ Ticker AAPL is not in your watchlist.", r#"["SPY","BRK.B"]"#),
        ("/watchlist REMOVE brk.b", "✅ Removed BRK.B from your watchlist.", r#"["SPY"]"#),
        ("/watchlist remove SPY", "✅ Removed SPY from your watchlist. SPY has been automatically added back to ensure you always have at least one ticker.", r#"["SPY"]"#),
        ("/watchlist add", "❌ Invalid format. Use:\n/watchlist - View your watchlist\n/watchlist add TICKER - Add ticker to watchlist\n/watchlist remove TICKER - Remove ticker from watchlist", r#"["SPY"]"#),
        ("/watchlist add A B", "❌ Invalid format. Use:\n/watchlist - View your watchlist\n/watchlist add TICKER - Add ticker to watchlist\n/watchlist remove TICKER - Remove ticker from watchlist", r#"["SPY"]"#),
        ("/watchlist foo BAR", "❌ Invalid format. Use:\n/watchlist - View your watchlist\n/watchlist add TICKER - Add ticker to watchlist\n/watchlist remove TICKER - Remove ticker from watchlist", r#"["SPY"]"#),
    ];
    for (text, reply, stored) in script {
        assert_eq!(say(&f, text), vec![reply.to_string()], "{text}");
        assert_eq!(f.kv.peek(WATCHLIST_KEY).unwrap(), *stored, "after {text}");
    }
}

#[test]
fn a_legacy_watchlist_is_read_normalised_and_rewritten() {
    let f = bot();
    f.kv.seed(WATCHLIST_KEY, r#"["SPY","AAPL","spy","MSFT","aapl"]"#);
    assert_eq!(
        say(&f, "/watchlist"),
        vec!["*Your Watchlist:*\n\n• $SPY\n• $AAPL\n• $MSFT\n\nUse /watchlist add TICKER to add a ticker.\nUse /watchlist remove TICKER to remove a ticker."]
    );
    assert_eq!(
        f.kv.peek(WATCHLIST_KEY).unwrap(),
        r#"["SPY","AAPL","MSFT"]"#
    );
}

#[test]
fn a_failed_watchlist_read_gets_its_reply_and_a_failed_change_gets_500_and_no_reply() {
    let f = bot();
    f.kv.fail(KvOp::Get, "watchlist:");
    assert_eq!(
        say(&f, "/watchlist"),
        vec!["❌ Failed to retrieve watchlist. Please try again."]
    );
    f.http.clear();
    let response = f.send_text(CHAT, "/watchlist add AAPL");
    assert_eq!(
        (response.status, response.body.as_str()),
        (500, r#"{"ok":false,"error":"Internal server error"}"#)
    );
    assert!(f.http.sent().is_empty());
}

#[test]
fn chats_never_subscribed_can_use_their_watchlist() {
    let f = bot();
    assert_eq!(
        say(&f, "/watchlist add TSLA"),
        vec!["✅ Added TSLA to your watchlist."]
    );
    assert_eq!(f.kv.peek(WATCHLIST_KEY).unwrap(), r#"["SPY","TSLA"]"#);
    assert_eq!(f.kv.peek("chat_ids"), None);
}
