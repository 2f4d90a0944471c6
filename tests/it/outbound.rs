//! The outbound client rules (legacy §5.1, §5.2, §5.4, §9.9): retries on 408/429/5xx and
//! network errors 1, 2 and 4 s apart, the browser headers, the chart URL.

use crate::helpers::{
    answer_market, network_error, respond, telegram_ok, Backend, Fixture, BOT_TOKEN, TELEGRAM,
    YAHOO,
};
use crate::logs::logged;
use fear_greed_bot::platform::PlatformError;
use serde_json::json;

#[test]
fn telegram_sends_the_legacy_body_and_gives_up_after_four_attempts() {
    let f = Fixture::new(Backend::Kv);
    f.http.answer_with(|_| network_error());
    f.converse(123_456_789, "/help");
    let sent = f.http.sent();
    assert_eq!(sent.len(), 4);
    assert_eq!(
        sent[0].url,
        format!("{TELEGRAM}/bot{BOT_TOKEN}/sendMessage")
    );
    assert!(sent[0]
        .body
        .as_deref()
        .unwrap()
        .starts_with(r#"{"chat_id":123456789,"text":"\nAvailable commands:"#));
    assert!(sent[0]
        .body
        .as_deref()
        .unwrap()
        .ends_with(r#","parse_mode":"Markdown"}"#));
    assert_eq!(f.clock.sleeps(), vec![1_000, 2_000, 4_000]);
}

#[test]
fn a_400_is_not_retried_and_a_429_is() {
    let f = Fixture::new(Backend::Kv);
    f.http
        .answer_with(|_| Ok(respond(400, &json!({"ok": false}))));
    f.converse(1, "/help");
    assert_eq!(f.http.sent().len(), 1);
    f.http.clear();
    let attempts = std::cell::Cell::new(0);
    f.http.answer_with(move |request| {
        attempts.set(attempts.get() + 1);
        Ok(if attempts.get() < 3 {
            respond(429, &json!({"ok": false}))
        } else {
            telegram_ok(request)
        })
    });
    f.converse(1, "/help");
    assert_eq!(f.http.sent().len(), 3);
}

#[test]
fn the_chart_request_has_the_legacy_url_and_browser_headers() {
    let f = Fixture::new(Backend::Kv);
    answer_market(&f, "Neutral", 50.0, 400.0);
    f.converse(1, "/now brk.b");
    let chart = f
        .http
        .sent()
        .into_iter()
        .find(|r| r.url.starts_with(YAHOO))
        .unwrap();
    let end = f.clock_now() / 1000;
    assert_eq!(
        chart.url,
        format!(
            "{YAHOO}/v8/finance/chart/BRK.B?period1={}&period2={end}&interval=1d&events=history",
            end - 300 * 86_400
        )
    );
    assert_eq!(chart.method, "GET");
    let header = |name: &str| {
        chart
            .headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("Accept"), Some("application/json"));
    assert_eq!(
        header("Sec-Ch-Ua"),
        Some(r#""Chromium";v="142", "Google Chrome";v="142", "Not_A Brand";v="99""#)
    );
    assert_eq!(
        header("User-Agent"),
        Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36")
    );
    assert_eq!(chart.headers.len(), 14);
}

#[test]
fn a_failure_that_quotes_the_telegram_url_is_logged_without_the_token() {
    let f = Fixture::new(Backend::Kv);
    // As workerd's fetch() reports an invalid URL: the whole URL, token and all.
    f.http.answer_with(|request| {
        Err(PlatformError(format!(
            "TypeError: Invalid URL: {}",
            request.url
        )))
    });
    let (_, lines) = logged(|| f.converse(1, "/help"));
    assert_eq!(f.http.sent().len(), 4, "retried");
    let text = serde_json::to_string(&lines).unwrap();
    assert!(text.contains("sendMessage failed"), "{text}");
    assert!(!text.contains(BOT_TOKEN), "{text}");
}
