//! The admin API (migration.md §6): disabled without a token, 401 without the right one, the
//! error shape, and the evidence endpoints `/admin/divergences` and `/admin/metrics`.

use crate::helpers::{run, Backend, Fixture, ADMIN_TOKEN, T0};
use fear_greed_bot::app::App;
use fear_greed_bot::storage::d1::{Count, Divergence, EvidenceStore, Publication};
use serde_json::{json, Value};

fn publish(f: &Fixture, publication: Publication) {
    run(EvidenceStore::new(&f.platform).publish(&publication)).unwrap();
}

fn divergence(repository: &str, class: &str, key: &str) -> Divergence {
    Divergence {
        id: 0,
        observed_at: T0,
        repository: repository.into(),
        operation: format!("{repository}.read"),
        entity_key: key.into(),
        class: class.into(),
        diff: "--- d1\n+++ kv\n".into(),
    }
}

fn count(repository: &str, outcome: &str, count: i64, minute: i64) -> Count {
    Count {
        minute,
        repository: repository.into(),
        operation: format!("{repository}.read"),
        outcome: outcome.into(),
        count,
        total_ms: count * 3,
    }
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap()
}

#[test]
fn without_a_configured_token_every_admin_path_is_a_404() {
    let f = Fixture::new(Backend::Kv);
    let mut config = f.config();
    config.admin_api_token = None;
    let app = App::new(f.platform.clone(), config);
    let request = fear_greed_bot::http::Request {
        method: "GET".into(),
        path: "/admin/metrics".into(),
        query: String::new(),
        headers: vec![("authorization".into(), format!("Bearer {ADMIN_TOKEN}"))],
        body: vec![],
    };
    let response = run(app.handle(&request));
    assert_eq!(response.status, 404);
    assert_eq!(
        response.body,
        r#"{"ok":false,"error":{"code":"not_found","message":"Not found","details":[]}}"#
    );
}

#[test]
fn a_missing_or_wrong_token_is_a_401_that_echoes_nothing() {
    let f = Fixture::new(Backend::Kv);
    for headers in [
        vec![],
        vec![("authorization", "Bearer wrong")],
        vec![("authorization", ADMIN_TOKEN)],
        vec![("authorization", "Bearer test-admin-token ")],
    ] {
        let response = f.request("GET", "/admin/metrics", &headers, "");
        assert_eq!(response.status, 401, "{headers:?}");
        assert!(!response.body.contains(ADMIN_TOKEN));
        assert!(response.body.contains(r#""code":"unauthorized""#));
    }
}

#[test]
fn unknown_paths_wrong_methods_and_large_bodies_are_refused() {
    let f = Fixture::new(Backend::Kv);
    assert_eq!(f.admin("GET", "/admin/nothing", "").0, 404);
    let (status, body) = f.admin("POST", "/admin/metrics", "");
    assert_eq!((status, error_code(&body)), (405, "method_not_allowed"));
    let (status, body) = f.admin("GET", "/admin/metrics", &"x".repeat(16 * 1024 + 1));
    assert_eq!(
        (status, body),
        (413, json!({"ok": false, "error": "Payload Too Large"}))
    );
}

#[test]
fn every_admin_path_answers_a_method_it_does_not_take_with_a_405() {
    let f = Fixture::new(Backend::Kv);
    // No admin path takes DELETE.
    for path in [
        "/admin/flags",
        "/admin/migration/status",
        "/admin/repair",
        "/admin/kv-cleanup",
        "/admin/backfill",
        "/admin/validate",
        "/admin/reverse-sync",
        "/admin/divergences",
        "/admin/metrics",
    ] {
        let (status, body) = f.admin("DELETE", path, "");
        assert_eq!(
            (status, error_code(&body)),
            (405, "method_not_allowed"),
            "{path}"
        );
    }
}

#[test]
fn without_the_token_an_unknown_path_is_a_401_like_a_known_one() {
    let f = Fixture::new(Backend::Kv);
    for path in ["/admin/nothing", "/admin/metrics"] {
        let response = f.request("GET", path, &[], "");
        assert_eq!(response.status, 401, "{path}");
    }
}

#[test]
fn divergences_come_newest_first_and_filter_by_repository_and_class() {
    let f = Fixture::new(Backend::D1);
    publish(
        &f,
        Publication {
            divergences: vec![
                divergence("watchlists", "value_mismatch", "1"),
                divergence("positions", "missing_in_d1", "2"),
                divergence("watchlists", "missing_in_kv", "3"),
            ],
            ..Default::default()
        },
    );
    let keys = |target: &str| {
        let (status, body) = f.admin("GET", target, "");
        assert_eq!(status, 200, "{body}");
        body["divergences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["entity_key"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(keys("/admin/divergences"), ["3", "2", "1"]);
    assert_eq!(keys("/admin/divergences?repository=watchlists"), ["3", "1"]);
    assert_eq!(
        keys("/admin/divergences?repository=watchlists&class=value_mismatch"),
        ["1"]
    );
    assert_eq!(keys("/admin/divergences?limit=1"), ["3"]);
    let (_, body) = f.admin("GET", "/admin/divergences?limit=1", "");
    assert_eq!(
        body["divergences"][0],
        json!({"id": 3, "observed_at": T0, "repository": "watchlists", "operation": "watchlists.read",
               "entity_key": "3", "class": "missing_in_kv", "diff": "--- d1\n+++ kv\n"})
    );
}

#[test]
fn bad_query_parameters_are_400s_that_name_the_problem() {
    let f = Fixture::new(Backend::D1);
    for (target, message) in [
        (
            "/admin/divergences?limit=0",
            r#"limit must be an integer from 1 to 1000, got "0""#,
        ),
        (
            "/admin/divergences?repository=users",
            r#"unknown repository "users"; expected one of: subscriptions, watchlists, executions, positions, cache"#,
        ),
        (
            "/admin/divergences?class=%27%3B+DROP+TABLE+divergences",
            r#"unknown class "'; DROP TABLE divergences"; expected one of: missing_in_d1, missing_in_kv, value_mismatch, kv_decode_error, d1_error, kv_error, stale_kv_suspected"#,
        ),
        (
            "/admin/metrics?minutes=abc",
            r#"minutes must be an integer from 1 to 1440, got "abc""#,
        ),
    ] {
        let (status, body) = f.admin("GET", target, "");
        assert_eq!(status, 400, "{target}");
        assert_eq!(body["error"]["code"], "bad_request");
        assert_eq!(body["error"]["message"], message, "{target}");
    }
    assert_eq!(f.count("SELECT COUNT(*) FROM divergences"), 0);
}

#[test]
fn metrics_total_each_repository_over_the_window_with_per_minute_series() {
    let f = Fixture::new(Backend::D1);
    let minute = T0;
    let old = T0 - 60 * 60_000;
    publish(
        &f,
        Publication {
            counts: vec![
                count("watchlists", "read", 10, minute),
                count("watchlists", "compared", 10, minute),
                count("watchlists", "matched", 9, minute),
                count("watchlists", "divergence.value_mismatch", 1, minute),
                count("watchlists", "fallback.missing_in_d1", 2, minute),
                count("watchlists", "read", 100, old),
            ],
            ..Default::default()
        },
    );
    let (status, body) = f.admin("GET", "/admin/metrics?minutes=5", "");
    assert_eq!(status, 200);
    let w = &body["repositories"]["watchlists"];
    assert_eq!(
        (
            w["reads"].as_i64(),
            w["divergences"].as_i64(),
            w["fallbacks"].as_i64()
        ),
        (Some(10), Some(1), Some(2)),
        "the reads of an hour ago are outside the window"
    );
    assert_eq!(w["divergence_rate"], 0.1);
    assert_eq!(w["fallback_rate"], 0.2);
    assert_eq!(body["repositories"]["cache"]["reads"], 0);
    let reads = body["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["outcome"] == "read")
        .unwrap();
    assert_eq!(reads["points"], json!([[minute, 10, 30]]));
    let (_, hour) = f.admin("GET", "/admin/metrics?minutes=61", "");
    assert_eq!(hour["repositories"]["watchlists"]["reads"], 110);
}

#[test]
fn an_unreadable_settings_table_is_counted_and_the_bot_still_answers() {
    let f = Fixture::new(Backend::Kv);
    f.db.run_script("ALTER TABLE settings RENAME TO settings_gone")
        .unwrap();
    assert_eq!(
        f.replies(1, "/stop"),
        ["You've unsubscribed from Fear and Greed Index alerts."]
    );
    f.db.run_script("ALTER TABLE settings_gone RENAME TO settings")
        .unwrap();
    let (_, body) = f.admin("GET", "/admin/metrics", "");
    assert_eq!(body["flags"]["settings_unreadable"], 1);
}
