//! Telegram redelivery (legacy §10.8): an update id is applied once; a failed attempt can be
//! redelivered; a claim left by a crashed attempt expires.

use crate::helpers::{run, webhook_request, Backend, Fixture, WEBHOOK_SECRET};
use fear_greed_bot::platform::native::KvOp;
use fear_greed_bot::platform::{SqlDatabase, Statement};
use fear_greed_bot::storage::d1::CLAIM_EXPIRY_MS;

const CHAT: i64 = 123_456_789;

fn deliver(f: &Fixture, update_id: i64, text: &str) -> (u16, String) {
    let body = serde_json::json!({"update_id": update_id, "message": {"chat": {"id": CHAT}, "text": text}});
    let response = run(f.app().handle(&webhook_request(
        Some(WEBHOOK_SECRET),
        body.to_string().as_bytes(),
    )));
    (response.status, response.body)
}

#[test]
fn a_redelivered_update_is_acknowledged_and_not_applied_again() {
    let f = Fixture::new(Backend::Kv);
    assert_eq!(deliver(&f, 7, "/execute SPY 400").0, 200);
    assert_eq!(
        deliver(&f, 7, "/execute SPY 400"),
        (200, r#"{"ok":true}"#.into())
    );
    assert_eq!(f.sent_messages().len(), 1, "one reply only");
    let history = f.kv.peek("execution_history:123456789").unwrap();
    assert_eq!(history.matches("signalType").count(), 1);
    // An edit is a new update and runs (here it meets the monthly limit).
    assert_eq!(deliver(&f, 8, "/execute SPY 400").0, 200);
    assert!(f.sent_messages()[1]
        .1
        .starts_with("❌ Trading frequency limit"));
}

#[test]
fn an_attempt_that_failed_with_500_runs_again_when_redelivered() {
    let f = Fixture::new(Backend::Kv);
    f.kv.fail(KvOp::Put, "watchlist:");
    assert_eq!(deliver(&f, 9, "/watchlist add AAPL").0, 500);
    f.kv.heal();
    assert_eq!(deliver(&f, 9, "/watchlist add AAPL").0, 200);
    assert_eq!(
        f.sent_messages(),
        vec![(CHAT, "✅ Added AAPL to your watchlist.".to_owned())]
    );
}

#[test]
fn a_running_claim_holds_off_duplicates_until_it_expires() {
    let f = Fixture::new(Backend::Kv);
    // An attempt that crashed mid-way left its claim behind.
    let claim = Statement::new(
        "INSERT INTO telegram_updates (update_id, state, claimed_at) VALUES (11, 'running', ?1)",
        vec![f.clock_now().into()],
    );
    run(f.db.execute(&claim)).unwrap();
    assert_eq!(
        deliver(&f, 11, "/help"),
        (
            503,
            r#"{"ok":false,"error":"Update is being processed"}"#.into()
        )
    );
    assert!(f.sent_messages().is_empty());
    f.clock.advance(CLAIM_EXPIRY_MS - 1);
    assert_eq!(deliver(&f, 11, "/help").0, 503, "still running");
    f.clock.advance(1);
    assert_eq!(deliver(&f, 11, "/help").0, 200);
    assert_eq!(f.sent_messages().len(), 1);
}

#[test]
fn updates_without_an_id_and_ignored_texts_claim_nothing() {
    let f = Fixture::new(Backend::Kv);
    let body = br#"{"message":{"chat":{"id":1},"text":"/help"}}"#;
    for _ in 0..2 {
        run(f.app().handle(&webhook_request(Some(WEBHOOK_SECRET), body)));
    }
    assert_eq!(f.sent_messages().len(), 2);
    deliver(&f, 12, "hello");
    assert_eq!(f.count("SELECT COUNT(*) FROM telegram_updates"), 0);
}

#[test]
fn maintenance_forgets_updates_after_two_days() {
    let f = Fixture::new(Backend::Kv);
    deliver(&f, 13, "/help");
    f.clock.advance(48 * 3600 * 1000 + 1);
    run(f.app().on_cron("*/5 * * * *"));
    assert_eq!(f.count("SELECT COUNT(*) FROM telegram_updates"), 0);
}
