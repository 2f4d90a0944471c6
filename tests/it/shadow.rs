//! The shadow phase through the webhook and the admin API (migration.md §2, §6): the user is
//! answered from D1 while KV waits until the reply is out, a record edited in D1 shows up in
//! `/admin/divergences` with its diff and in `/admin/metrics`, and a record missing from D1 is
//! served from KV and counted, unless the guard rails vouched for D1.

use crate::helpers::{
    run, telegram_ok, until_finished, webhook_request, Backend, Fixture, WEBHOOK_SECRET,
};
use crate::logs::{assert_one_event, logged};
use fear_greed_bot::domain::ChatId;
use fear_greed_bot::migration::experiment::KV_PROPAGATION_MS;
use fear_greed_bot::storage::d1::RepairQueue;
use fear_greed_bot::storage::{Repos, Repository, Store};
use serde_json::{json, Value};
use std::cell::Cell;
use std::rc::Rc;

fn into_shadow(f: &Fixture, repository: &str) {
    for to in ["dual_write", "shadow"] {
        let body = json!({"key": format!("storage.phase.{repository}"), "value": to, "force": true, "reason": "test"});
        let (status, answer) = f.admin("PUT", "/admin/flags", &body.to_string());
        assert_eq!(status, 200, "{answer}");
    }
    f.after_handover();
}

/// Every repository into shadow as an operator moves it: through the guard rails, unforced
/// (dual writes, the backfill once KV has settled, a clean validation), so D1 is vouched for.
fn through_the_rails(f: &Fixture) {
    let move_all = |to: &str| {
        let body = json!({"key": "storage.phase.all", "value": to, "reason": "test"});
        let (status, answer) = f.admin("PUT", "/admin/flags", &body.to_string());
        assert_eq!(status, 200, "{answer}");
    };
    move_all("dual_write");
    f.clock.advance(70_000);
    until_finished(f, "/admin/backfill", json!({"repository": "all"}));
    let validated = until_finished(f, "/admin/validate", json!({}));
    assert_eq!(validated["report"]["overallSuccess"], true, "{validated}");
    move_all("shadow");
    f.after_handover();
    let (_, status) = f.admin("GET", "/admin/migration/status", "");
    for (name, repository) in status["repositories"].as_object().unwrap() {
        assert_eq!(repository["d1_vouched"], true, "{name}: {repository}");
    }
}

/// KV's gets when the bot's first message reached Telegram, and the replies, for `text` from `chat`.
fn kv_reads_before_the_reply(f: &Fixture, chat: i64, text: &str) -> (Option<u64>, Vec<String>) {
    f.kv.reset_counts();
    let at_reply = Rc::new(Cell::new(None));
    let (kv, seen) = (f.kv.clone(), at_reply.clone());
    f.http.answer_with(move |request| {
        if seen.get().is_none() {
            seen.set(Some(kv.counts().get));
        }
        Ok(telegram_ok(request))
    });
    let replies = f.replies(chat, text);
    (at_reply.get(), replies)
}

fn totals(f: &Fixture, repository: &str) -> Value {
    let (status, body) = f.admin("GET", "/admin/metrics?minutes=5", "");
    assert_eq!(status, 200);
    body["repositories"][repository].clone()
}

/// Chat 5's watchlist in shadow: `SPY, AAPL` in KV, `SPY, MSFT` in D1, edited in D1 longer
/// ago than KV's propagation window (a younger edit would count as KV still settling).
fn edited_in_d1() -> Fixture {
    let f = Fixture::new(Backend::Kv);
    into_shadow(&f, "watchlists");
    f.kv.seed("watchlist:5", r#"["SPY","AAPL"]"#);
    let d1 = Repos::d1(&f.platform);
    run(d1.watchlists.add(ChatId::new(5), "MSFT")).unwrap();
    f.clock.advance(KV_PROPAGATION_MS);
    f
}

/// The divergence of [`edited_in_d1`]'s watchlist.
const EDITED_DIFF: &str =
    "--- d1\n+++ kv\n@@ -1,4 +1,4 @@\n [\n   \"SPY\",\n-  \"MSFT\"\n+  \"AAPL\"\n ]\n";

const FROM_D1: &str = "*Your Watchlist:*\n\n• $SPY\n• $MSFT\n\nUse /watchlist add TICKER to add a ticker.\nUse /watchlist remove TICKER to remove a ticker.";

#[test]
fn a_watchlist_edited_in_d1_is_served_from_d1_and_reported_with_its_diff() {
    let f = edited_in_d1();
    assert_eq!(f.replies(5, "/watchlist"), [FROM_D1]);
    let (_, body) = f.admin("GET", "/admin/divergences?repository=watchlists", "");
    let record = &body["divergences"][0];
    assert_eq!(
        (
            record["entity_key"].as_str(),
            record["class"].as_str(),
            record["operation"].as_str()
        ),
        (
            Some("5"),
            Some("value_mismatch"),
            Some("watchlists.watchlist")
        )
    );
    assert_eq!(record["diff"], EDITED_DIFF);
    let w = totals(&f, "watchlists");
    assert_eq!(
        (
            w["reads"].as_i64(),
            w["compared"].as_i64(),
            w["divergences"].as_i64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(w["divergence_rate"], 1.0);
}

#[test]
fn a_divergence_is_one_log_event_with_its_entity_class_and_diff() {
    let f = edited_in_d1();
    let (_, lines) = logged(|| f.replies(5, "/watchlist"));
    assert_one_event(
        &lines,
        "WARN",
        json!({"message": "shadow divergence", "repository": "watchlists",
               "operation": "watchlists.watchlist", "entity_key": "5", "class": "value_mismatch",
               "served": "d1", "diff": EDITED_DIFF}),
    );
}

#[test]
fn kv_is_read_for_the_comparison_only_once_the_reply_is_out() {
    let f = edited_in_d1();
    let (kv_reads_at_reply, replies) = kv_reads_before_the_reply(&f, 5, "/watchlist");
    assert_eq!(replies, [FROM_D1]);
    assert_eq!(kv_reads_at_reply, Some(0), "the reply waits for D1 alone");
    assert_eq!(f.kv.counts().get, 1, "KV read before the webhook answered");
    assert_eq!(totals(&f, "watchlists")["divergences"].as_i64(), Some(1));
}

/// A history of one trade, as the legacy bot stored it in KV.
const ONE_BUY: &str =
    r#"[{"signalType":"BUY","ticker":"SPY","executionPrice":400,"executionDate":1705276800000}]"#;

#[test]
fn a_history_missing_from_d1_is_served_from_kv_and_counted_as_a_fallback() {
    let f = Fixture::new(Backend::Kv);
    into_shadow(&f, "executions");
    let (_, status) = f.admin("GET", "/admin/migration/status", "");
    assert_eq!(
        status["repositories"]["executions"]["d1_vouched"], false,
        "forced"
    );
    f.kv.seed("execution_history:6", ONE_BUY);
    assert_eq!(
        f.replies(6, "/executions"),
        ["*Your Execution History:*\n\n*Execution History (1 entry):*\n\n\n🟢 *BUY* SPY at $400.00\n   📅 Jan 15, 2024, 12:00 AM"]
    );
    let e = totals(&f, "executions");
    assert_eq!(
        (e["fallbacks"].as_i64(), e["fallback_rate"].as_f64()),
        (Some(1), Some(1.0))
    );
    let (_, body) = f.admin("GET", "/admin/divergences?class=missing_in_d1", "");
    assert_eq!(body["divergences"][0]["entity_key"], "6");
}

#[test]
fn a_fallback_is_one_log_event_with_its_entity_and_cause() {
    let f = Fixture::new(Backend::Kv);
    into_shadow(&f, "executions");
    f.kv.seed("execution_history:6", ONE_BUY);
    let (_, lines) = logged(|| f.replies(6, "/executions"));
    assert_one_event(
        &lines,
        "WARN",
        json!({"message": "shadow read answered from KV", "repository": "executions",
               "phase": "shadow", "operation": "executions.history", "entity_key": "6",
               "cause": "missing_in_d1", "detail": "MissingInD1"}),
    );
}

#[test]
fn a_record_only_kv_has_is_not_served_once_the_rails_vouched_for_d1_but_reported_and_kept() {
    let f = Fixture::new(Backend::Kv);
    through_the_rails(&f);
    // Written to KV alone after the validation: what a D1 that missed a write would look like.
    f.kv.seed("execution_history:6", ONE_BUY);
    let (kv_reads, replies) = kv_reads_before_the_reply(&f, 6, "/executions");
    assert_eq!(
        replies,
        ["*Your Execution History:*\n\nNo executions recorded."]
    );
    assert_eq!(kv_reads, Some(0), "D1's \"no record\" did not wait for KV");
    let e = totals(&f, "executions");
    assert_eq!(
        (e["fallbacks"].as_i64(), e["divergences"].as_i64()),
        (Some(0), Some(1))
    );
    let (_, body) = f.admin("GET", "/admin/divergences?class=missing_in_d1", "");
    assert_eq!(body["divergences"][0]["entity_key"], "6", "{body}");
    // Not reconciled away: KV keeps what may be the record's only copy.
    f.clock.advance(KV_PROPAGATION_MS);
    assert_eq!(f.admin("POST", "/admin/repair", "{}").0, 200);
    assert_eq!(f.kv.peek("execution_history:6").as_deref(), Some(ONE_BUY));
}

#[test]
fn a_validation_in_shadow_repairs_kv_but_never_deletes_a_record_only_kv_has() {
    let f = Fixture::new(Backend::Kv);
    through_the_rails(&f);
    f.replies(9, "/watchlist add QQQ");
    f.kv.seed("watchlist:9", r#"["SPY"]"#);
    f.kv.seed("execution_history:6", ONE_BUY);
    f.clock.advance(2 * KV_PROPAGATION_MS);
    let report = until_finished(&f, "/admin/validate", json!({}))["report"].clone();
    let classes: Vec<_> = report["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["entity_key"].as_str(), d["class"].as_str()))
        .collect();
    assert_eq!(
        classes,
        [
            (Some("9"), Some("value_mismatch")),
            (Some("6"), Some("missing_in_d1"))
        ],
        "{report}"
    );
    f.clock.advance(KV_PROPAGATION_MS);
    let (status, drained) = f.admin("POST", "/admin/repair", r#"{"budget":200}"#);
    assert_eq!(status, 200, "{drained}");
    assert_eq!(drained["step"]["copied"], 1, "{drained}");
    // KV, the second store, took D1's watchlist; the history only KV has is still there.
    assert_eq!(
        f.kv.peek("watchlist:9").as_deref(),
        Some(r#"["SPY","QQQ"]"#)
    );
    assert_eq!(f.kv.peek("execution_history:6").as_deref(), Some(ONE_BUY));
}

#[test]
fn a_repair_queued_towards_d1_sends_a_missing_record_back_to_kv_before_the_reply() {
    let f = Fixture::new(Backend::Kv);
    through_the_rails(&f);
    let queue = RepairQueue::new(&f.platform);
    run(queue.enqueue(Repository::Executions, "99", Store::D1, "test")).unwrap();
    f.after_handover();
    f.kv.seed("execution_history:6", ONE_BUY);
    let (kv_reads, replies) = kv_reads_before_the_reply(&f, 6, "/executions");
    assert_eq!(kv_reads, Some(1));
    assert_eq!(
        replies,
        ["*Your Execution History:*\n\n*Execution History (1 entry):*\n\n\n🟢 *BUY* SPY at $400.00\n   📅 Jan 15, 2024, 12:00 AM"]
    );
    assert_eq!(totals(&f, "executions")["fallbacks"].as_i64(), Some(1));
}

#[test]
fn a_shadow_write_reaches_both_stores_and_its_read_matches() {
    let f = Fixture::new(Backend::Kv);
    into_shadow(&f, "watchlists");
    f.replies(8, "/watchlist add TSLA");
    assert_eq!(f.kv.peek("watchlist:8").unwrap(), r#"["SPY","TSLA"]"#);
    assert_eq!(
        f.count("SELECT COUNT(*) FROM watchlists WHERE chat_id = '8'"),
        2
    );
    f.replies(8, "/watchlist");
    let w = totals(&f, "watchlists");
    assert_eq!(
        (
            w["compared"].as_i64(),
            w["matched"].as_i64(),
            w["divergences"].as_i64()
        ),
        (Some(1), Some(1), Some(0))
    );
}

#[test]
fn with_an_analytics_dataset_bound_every_counter_is_also_a_data_point() {
    let f = Fixture::new(Backend::Kv);
    into_shadow(&f, "positions");
    let points = std::rc::Rc::new(fear_greed_bot::platform::native::RecordedPoints::default());
    let app = f.app().with_analytics(points.clone());
    let update = json!({"update_id": 77, "message": {"chat": {"id": 9}, "text": "/execute SPY 1"}});
    let request = crate::helpers::webhook_request(
        Some(crate::helpers::WEBHOOK_SECRET),
        update.to_string().as_bytes(),
    );
    assert_eq!(run(app.handle(&request)).status, 200);
    run(app.after_response());
    let reads: Vec<_> = points
        .points()
        .into_iter()
        .filter(|p| p.blobs[2] == "read")
        .collect();
    assert_eq!(
        reads,
        [fear_greed_bot::platform::MetricPoint {
            index: "positions".into(),
            blobs: vec![
                "positions".into(),
                "positions.position".into(),
                "read".into()
            ],
            doubles: vec![1.0, 0.0],
        }]
    );
}

/// The D1 calls `text` from `chat` makes after its response (the comparison and the evidence).
fn calls_after_response(f: &Fixture, chat: i64, text: &str) -> u64 {
    let body = json!({"update_id": 90_000 + chat, "message": {"chat": {"id": chat}, "text": text}});
    let app = f.app();
    run(app.handle(&webhook_request(
        Some(WEBHOOK_SECRET),
        body.to_string().as_bytes(),
    )));
    f.db.reset_round_trips();
    run(app.after_response());
    f.db.round_trips()
}

#[test]
fn the_stale_kv_check_looks_up_only_an_entity_whose_stores_differ_whatever_the_write_rate() {
    let f = edited_in_d1();
    // Other chats keep writing: 300 watchlist changes within KV's propagation window.
    for chat in 1_000..1_300 {
        f.converse(chat, "/watchlist add AAPL");
    }
    f.converse(6, "/watchlist add AAPL");
    f.clock.advance(KV_PROPAGATION_MS);
    assert_eq!(
        calls_after_response(&f, 6, "/watchlist"),
        1,
        "stores agree: the publication alone"
    );
    assert_eq!(
        calls_after_response(&f, 5, "/watchlist"),
        2,
        "stores differ: one lookup of chat 5's version (an indexed point lookup, see the \
         query-plan test), then the publication"
    );
}
