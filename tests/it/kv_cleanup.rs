//! `POST /admin/kv-cleanup` (migration.md §5 "KV cleanup", §6): refused until every repository
//! has been `d1_only` for `cleanup.retention_seconds`, a dry run by default, an exact
//! confirmation for a real run, bounded steps that delete the cache first and `chat_ids` last,
//! only the five repositories' keys, every deletion logged, failures reported.

use crate::helpers::{answer_market, run, Backend, Fixture, ADMIN_TOKEN};
use fear_greed_bot::app::config::Config;
use fear_greed_bot::app::App;
use fear_greed_bot::http::Request;
use fear_greed_bot::migration::Phase;
use fear_greed_bot::platform::native::KvOp;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// A real run, confirmed.
const CONFIRMED: &str = r#"{"confirm":"delete-kv-data","dry_run":false}"#;
/// `cleanup.retention_seconds` by default: 7 days.
const RETENTION_MS: i64 = 604_800_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// Keys no cleanup may touch: near misses of the five groups' keys, and strangers.
const OUTSIDERS: [&str; 8] = [
    "Watchlist:1",
    "active_positions",
    "chat_ids_backup",
    "execution:1",
    "fear_greed_cache_v2",
    "settings",
    "watchlist",
    "watchlists:1",
];

fn cleanup(f: &Fixture, body: &str) -> (u16, Value) {
    f.admin("POST", "/admin/kv-cleanup", body)
}

/// Moves `key` (a phase flag or `storage.phase.all`) to `to`, past any guard rail.
fn force(f: &Fixture, key: &str, to: &str) {
    let body = json!({"key": key, "value": to, "force": true, "reason": "kv cleanup test"});
    let (status, answer) = f.admin("PUT", "/admin/flags", &body.to_string());
    assert_eq!(status, 200, "{key} → {to}: {answer}");
}

/// Every repository `d1_only` now, one phase at a time.
fn d1_only_everywhere(f: &Fixture) {
    for to in ["dual_write", "shadow", "d1_only"] {
        force(f, "storage.phase.all", to);
    }
}

/// Every repository `d1_only`, and the retention window passed: a real run may go.
fn kv_retired(f: &Fixture) {
    d1_only_everywhere(f);
    f.clock.advance(RETENTION_MS);
}

fn seed(f: &Fixture, keys: &[&str]) {
    for key in keys {
        f.kv.seed(key, "[]");
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("{value} is an array"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_real_run_is_refused_listing_each_repository_not_d1_only_or_not_past_retention() {
    let f = Fixture::new(Backend::Kv);
    seed(&f, &["chat_ids", "watchlist:1", "fear_greed_cache"]);
    force(&f, "storage.phase.all", "dual_write");
    force(&f, "storage.phase.all", "shadow");
    for repository in ["watchlists", "positions", "cache"] {
        force(&f, &format!("storage.phase.{repository}"), "d1_only");
    }
    f.clock.advance(8 * DAY_MS);
    force(&f, "storage.phase.executions", "d1_only");
    f.clock.advance(HOUR_MS);
    let before = f.kv.entries();
    f.kv.reset_counts();

    let (status, body) = cleanup(&f, CONFIRMED);
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "guard_rail");
    assert_eq!(
        strings(&body["error"]["details"]),
        [
            "subscriptions: in shadow, not d1_only: it may still read or fall back to KV",
            "executions: d1_only for 3600 s only; cleanup.retention_seconds is 604800 s",
        ]
    );
    assert_eq!(f.kv.entries(), before);
    assert_eq!(f.kv.counts().total(), 0, "a refused run does not even list");

    // Subscriptions follow; once the youngest move is a retention window old, the run goes.
    force(&f, "storage.phase.subscriptions", "d1_only");
    f.clock.advance(RETENTION_MS - 1);
    let (status, body) = cleanup(&f, CONFIRMED);
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        strings(&body["error"]["details"]),
        ["subscriptions: d1_only for 604799 s only; cleanup.retention_seconds is 604800 s"]
    );
    f.clock.advance(1);
    let (status, body) = cleanup(&f, CONFIRMED);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["deleted_count"], 3);
}

#[test]
fn d1_only_through_storage_phase_default_alone_never_starts_the_retention_window() {
    let f = Fixture::new(Backend::Kv);
    seed(&f, &["chat_ids"]);
    f.clock.advance(365 * DAY_MS);
    let app = App::new(
        f.platform.clone(),
        Config {
            storage_phase_default: Phase::D1Only,
            public_url: None,
            ..f.config()
        },
    );
    let request = Request {
        method: "POST".into(),
        path: "/admin/kv-cleanup".into(),
        query: String::new(),
        headers: vec![("authorization".into(), format!("Bearer {ADMIN_TOKEN}"))],
        body: CONFIRMED.as_bytes().to_vec(),
    };
    let response = run(app.handle(&request));
    assert_eq!(response.status, 409, "{}", response.body);
    let body: Value = serde_json::from_str(&response.body).unwrap();
    let details = strings(&body["error"]["details"]);
    assert_eq!(details.len(), 5, "{details:?}");
    assert_eq!(
        details[0],
        "subscriptions: no recorded move to d1_only (storage.phase.subscriptions was never set), \
         so its retention window has not started"
    );
    assert!(f.kv.peek("chat_ids").is_some());
}

#[test]
fn a_dry_run_is_the_default_deletes_nothing_and_lists_cache_first_and_chat_ids_last() {
    let f = Fixture::new(Backend::Kv);
    // The legacy bot's own keys, written by the bot in kv_only.
    answer_market(&f, "fear", 20.0, 380.0);
    f.replies(5, "/start");
    f.converse(5, "/now");
    f.replies(5, "/execute SPY 400.50");
    f.replies(6, "/watchlist add AAPL");
    seed(&f, &OUTSIDERS);
    let before = f.kv.entries();
    let order = [
        "fear_greed_cache",
        "watchlist:5",
        "watchlist:6",
        "execution_history:5",
        "active_position:5",
        "chat_ids",
    ];

    for body in [
        "",
        "{}",
        r#"{"dry_run":true}"#,
        r#"{"confirm":"delete-kv-data"}"#,
    ] {
        let (status, answer) = cleanup(&f, body);
        assert_eq!(status, 200, "{body}: {answer}");
        assert_eq!(answer["dry_run"], true, "{body}");
        assert_eq!(strings(&answer["deleted"]), order, "{body}");
        // Not yet allowed: the dry run says why a real run would be refused.
        let refused = strings(&answer["refused"]);
        assert_eq!(refused.len(), 5, "{refused:?}");
        assert!(refused[0].starts_with("subscriptions: in kv_only, not d1_only"));
    }
    assert_eq!(f.kv.entries(), before);
    assert_eq!(f.kv.counts().delete, 0);

    kv_retired(&f);
    let (status, answer) = cleanup(&f, "");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        json!({
            "ok": true, "dry_run": true, "deleted": order, "deleted_count": 6,
            "by_group": {"cache": 1, "watchlists": 2, "executions": 1, "positions": 1, "subscriptions": 1},
            "failed": [], "failed_count": 0, "remaining": false,
            "kv_operations": 5, "refused": null,
        })
    );
    assert_eq!(f.kv.entries(), before);

    // The real run deletes exactly what the dry run listed, in that order.
    let (status, answer) = cleanup(&f, CONFIRMED);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["dry_run"], false);
    assert_eq!(strings(&answer["deleted"]), order);
    assert_eq!(answer["refused"], Value::Null);
    assert_eq!(f.kv.keys(), OUTSIDERS);
}

#[test]
fn a_real_run_without_the_exact_confirmation_is_a_400_that_deletes_nothing() {
    let f = Fixture::new(Backend::Kv);
    seed(&f, &["chat_ids", "watchlist:1", "fear_greed_cache"]);
    kv_retired(&f);
    let before = f.kv.entries();
    for (body, detail) in [
        (r#"{"dry_run":false}"#, "confirm is missing"),
        (r#"{"dry_run":false,"confirm":null}"#, "confirm is missing"),
        (
            r#"{"dry_run":false,"confirm":"yes"}"#,
            r#"confirm is "yes", not "delete-kv-data""#,
        ),
        (
            r#"{"dry_run":false,"confirm":"DELETE-KV-DATA"}"#,
            r#"confirm is "DELETE-KV-DATA", not "delete-kv-data""#,
        ),
        (
            r#"{"confirm":" delete-kv-data","dry_run":false}"#,
            r#"confirm is " delete-kv-data", not "delete-kv-data""#,
        ),
    ] {
        let (status, answer) = cleanup(&f, body);
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (400, Some("bad_request")),
            "{body}"
        );
        assert_eq!(
            answer["error"]["message"],
            r#"a real run ("dry_run": false) needs "confirm": "delete-kv-data"; nothing was deleted"#
        );
        assert_eq!(strings(&answer["error"]["details"]), [detail], "{body}");
    }
    assert_eq!(f.kv.entries(), before);
    assert_eq!(f.kv.counts().delete, 0);
}

#[test]
fn malformed_bodies_and_unknown_fields_are_400s_that_delete_nothing() {
    let f = Fixture::new(Backend::Kv);
    seed(&f, &["chat_ids", "watchlist:1"]);
    kv_retired(&f);
    let before = f.kv.entries();
    for (body, why) in [
        ("[", "not JSON"),
        ("{", "cut short"),
        ("null", "not an object"),
        (
            r#"{"confirm":"delete-kv-data","dry_run":"false"}"#,
            "dry_run is a boolean, not a string",
        ),
        (r#"{"confirm":1,"dry_run":false}"#, "confirm is a string"),
        (
            r#"{"confirm":"delete-kv-data","dry_run":false,"force":true}"#,
            "an unknown field",
        ),
        (
            r#"{"confirm":"delete-kv-data","dryRun":false}"#,
            "a misspelt field is not a dry run's default",
        ),
    ] {
        let (status, answer) = cleanup(&f, body);
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (400, Some("bad_request")),
            "{why}: {answer}"
        );
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("invalid body: "), "{why}: {message}");
    }
    assert_eq!(f.kv.entries(), before);
}

#[test]
fn a_real_run_over_more_than_500_keys_takes_bounded_steps_and_deletes_chat_ids_in_the_last() {
    let f = Fixture::new(Backend::Kv);
    kv_retired(&f);
    seed(&f, &["fear_greed_cache", "chat_ids"]);
    seed(&f, &OUTSIDERS);
    for (prefix, n) in [
        ("watchlist:", 400),
        ("execution_history:", 300),
        ("active_position:", 200),
    ] {
        for id in 0..n {
            f.kv.seed(&format!("{prefix}{id}"), "[]");
        }
    }

    let mut steps = Vec::new();
    loop {
        assert!(steps.len() < 5, "the cleanup does not converge: {steps:?}");
        f.kv.reset_counts();
        let (status, answer) = cleanup(&f, CONFIRMED);
        assert_eq!(status, 200, "{answer}");
        let counts = f.kv.counts();
        assert!(counts.delete <= 500, "{counts:?}");
        assert!(counts.list + counts.delete <= 1000, "{counts:?}");
        assert_eq!((counts.get, counts.put), (0, 0), "{counts:?}");
        assert_eq!(answer["kv_operations"], counts.total());
        assert_eq!(answer["deleted_count"], counts.delete);
        assert!(strings(&answer["deleted"]).len() <= 100);
        let remaining = answer["remaining"].as_bool().unwrap();
        // The subscriber list stays until the step that finds everything else gone.
        assert_eq!(f.kv.peek("chat_ids").is_some(), remaining, "{answer}");
        steps.push((answer["by_group"].clone(), remaining));
        if !remaining {
            break;
        }
    }
    assert_eq!(
        steps,
        [
            (
                json!({"cache": 1, "watchlists": 400, "executions": 99, "positions": 0, "subscriptions": 0}),
                true
            ),
            (
                json!({"cache": 0, "watchlists": 0, "executions": 201, "positions": 200, "subscriptions": 1}),
                false
            ),
        ]
    );
    assert_eq!(f.kv.keys(), OUTSIDERS);

    // Done: another step finds nothing and says so.
    let (_, answer) = cleanup(&f, CONFIRMED);
    assert_eq!(
        (answer["deleted_count"].clone(), answer["remaining"].clone()),
        (json!(0), json!(false))
    );
}

#[test]
fn a_dry_run_over_more_than_500_keys_lists_only_the_next_step() {
    let f = Fixture::new(Backend::Kv);
    kv_retired(&f);
    seed(&f, &["chat_ids"]);
    for id in 0..700 {
        f.kv.seed(&format!("active_position:{id}"), "{}");
    }
    let (status, answer) = cleanup(&f, "");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["deleted_count"], 500);
    assert_eq!(answer["by_group"]["positions"], 500);
    assert_eq!(answer["by_group"]["subscriptions"], 0);
    assert_eq!(answer["remaining"], true);
    assert_eq!(strings(&answer["deleted"]).len(), 100);
    assert_eq!(f.kv.keys().len(), 701);
}

#[test]
fn a_failing_delete_is_reported_the_step_goes_on_and_chat_ids_waits() {
    let f = Fixture::new(Backend::Kv);
    kv_retired(&f);
    seed(
        &f,
        &[
            "chat_ids",
            "watchlist:1",
            "watchlist:2",
            "watchlist:3",
            "execution_history:1",
        ],
    );
    f.kv.fail(KvOp::Delete, "watchlist:2");

    let (status, answer) = cleanup(&f, CONFIRMED);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        strings(&answer["deleted"]),
        ["watchlist:1", "watchlist:3", "execution_history:1"]
    );
    assert_eq!(
        answer["failed"],
        json!([{"key": "watchlist:2", "repository": "watchlists", "operation": "delete",
                "error": "KV delete failed; the cause is in the worker logs"}])
    );
    assert_eq!(answer["failed_count"], 1);
    assert_eq!(answer["remaining"], true);
    assert_eq!(f.kv.keys(), ["chat_ids", "watchlist:2"]);

    f.kv.heal();
    let (_, answer) = cleanup(&f, CONFIRMED);
    assert_eq!(strings(&answer["deleted"]), ["watchlist:2", "chat_ids"]);
    assert_eq!(answer["remaining"], false);
    assert!(f.kv.keys().is_empty());
}

#[test]
fn a_wrong_or_missing_token_is_a_401_and_other_methods_a_405() {
    let f = Fixture::new(Backend::Kv);
    kv_retired(&f);
    seed(&f, &["chat_ids", "fear_greed_cache"]);
    for headers in [
        vec![("authorization", "Bearer wrong-token")],
        vec![("authorization", ADMIN_TOKEN)],
        vec![],
    ] {
        let response = f.request("POST", "/admin/kv-cleanup", &headers, CONFIRMED);
        assert_eq!(response.status, 401, "{headers:?}");
    }
    for method in ["GET", "PUT", "DELETE"] {
        assert_eq!(f.admin(method, "/admin/kv-cleanup", CONFIRMED).0, 405);
    }
    assert_eq!(f.kv.keys(), ["chat_ids", "fear_greed_cache"]);
}

#[test]
fn a_shorter_retention_set_through_the_flags_api_is_honoured() {
    let f = Fixture::new(Backend::Kv);
    seed(&f, &["chat_ids"]);
    let body = json!({"key": "cleanup.retention_seconds", "value": 3600, "reason": "test"});
    assert_eq!(f.admin("PUT", "/admin/flags", &body.to_string()).0, 200);
    d1_only_everywhere(&f);
    f.clock.advance(HOUR_MS - 1000);
    let (status, answer) = cleanup(&f, CONFIRMED);
    assert_eq!(status, 409, "{answer}");
    assert!(strings(&answer["error"]["details"])
        .iter()
        .all(|d| d.ends_with("d1_only for 3599 s only; cleanup.retention_seconds is 3600 s")));
    f.clock.advance(1000);
    assert_eq!(cleanup(&f, CONFIRMED).0, 200);
    assert!(f.kv.keys().is_empty());
}

#[test]
fn every_deleted_key_is_logged_once_with_its_repository_and_never_its_value() {
    let f = Fixture::new(Backend::Kv);
    kv_retired(&f);
    f.kv.seed("watchlist:7", r#"["SECRET_TICKER"]"#);
    f.kv.seed("chat_ids", "[7]");
    let logs = Logs::default();
    let (status, _) = tracing::subscriber::with_default(logs.clone(), || cleanup(&f, CONFIRMED));
    assert_eq!(status, 200);
    let events = logs.events();
    let deletions: Vec<(String, String)> = events
        .iter()
        .filter(|event| field(event, "message") == Some("kv cleanup: key deleted"))
        .map(|event| {
            (
                field(event, "key").unwrap().to_owned(),
                field(event, "repository").unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        deletions,
        [
            ("watchlist:7".to_owned(), "watchlists".to_owned()),
            ("chat_ids".to_owned(), "subscriptions".to_owned()),
        ]
    );
    assert!(
        events.iter().flatten().all(|(_, v)| !v.contains("SECRET")),
        "a value was logged: {events:?}"
    );
}

/// One event's fields, as `name = value` text.
type Fields = Vec<(String, String)>;

fn field<'a>(event: &'a Fields, name: &str) -> Option<&'a str> {
    event
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// A `tracing` subscriber that keeps every event's fields, for asserting what is logged.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<Fields>>>);

impl Logs {
    fn events(&self) -> Vec<Fields> {
        self.0.lock().unwrap().clone()
    }
}

struct Visitor(Fields);

impl tracing::field::Visit for Visitor {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
}

impl tracing::Subscriber for Logs {
    /// `sometimes`, so a callsite first seen by another test's thread (without this
    /// subscriber) still asks `enabled` here.
    fn register_callsite(
        &self,
        _: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }

    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let mut visitor = Visitor(Vec::new());
        event.record(&mut visitor);
        self.0.lock().unwrap().push(visitor.0);
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}
