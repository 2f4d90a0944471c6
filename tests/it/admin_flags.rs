//! `GET/PUT /admin/flags` (migration.md §3, §4, §6): flags listed with their sources, phase
//! moves under the guard rails, `force` with a reason, every change audited, bad requests
//! refused with nothing changed.

use crate::helpers::{Backend, Fixture, HANDOVER_MS, SWITCH_MS};
use crate::logs::{assert_one_event, logged};
use fear_greed_bot::storage::Repository;
use serde_json::{json, Value};

fn put(f: &Fixture, body: Value) -> (u16, Value) {
    f.admin("PUT", "/admin/flags", &body.to_string())
}

fn phase(f: &Fixture, repository: &str) -> String {
    let (_, body) = f.admin("GET", "/admin/flags", "");
    let key = format!("storage.phase.{repository}");
    body["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|flag| flag["key"] == key.as_str())
        .map(|flag| flag["value"].as_str().unwrap().to_owned())
        .unwrap()
}

/// What holds positions back from `shadow` right after they entered `dual_write`.
const POSITIONS_NOT_READY_FOR_SHADOW: [&str; 2] = [
    "positions: the backfill has not completed (it must start at least 60 s + the flag cache TTL after dual writes began)",
    "positions: no clean validation run after the backfill",
];

fn history(f: &Fixture) -> i64 {
    f.count("SELECT COUNT(*) FROM settings_history")
}

#[test]
fn every_flag_is_listed_with_its_value_default_and_source() {
    let f = Fixture::new(Backend::Kv);
    let (status, body) = f.admin("GET", "/admin/flags", "");
    assert_eq!(status, 200);
    let flags = body["flags"].as_array().unwrap();
    assert_eq!(flags.len(), 16);
    assert_eq!(
        flags[0],
        json!({"key": "storage.phase.subscriptions", "type": "phase", "value": "kv_only",
               "default": "kv_only", "source": "default", "description": flags[0]["description"]})
    );
    assert!(flags
        .iter()
        .any(|f| f["key"] == "shadow.sample_rate" && f["value"] == 1.0));
    put(
        &f,
        json!({"key": "shadow.sample_rate", "value": 0.5, "reason": "calibrating"}),
    );
    let (_, body) = f.admin("GET", "/admin/flags", "");
    let rate = body["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == "shadow.sample_rate")
        .unwrap()
        .clone();
    assert_eq!(
        (rate["value"].clone(), rate["source"].clone()),
        (json!(0.5), json!("settings"))
    );
}

/// D1 Time Travel back to the second before the fixture's clock starts (`T0`, 2024-01-15
/// 00:00:00 UTC).
const RESTORE_BEFORE_T0: &str =
    "wrangler d1 time-travel restore FEAR_GREED_D1 --timestamp=1705276799";

#[test]
fn a_forward_move_is_made_audited_and_seen_by_the_next_request() {
    let f = Fixture::new(Backend::Kv);
    let (status, body) = put(
        &f,
        json!({"key": "storage.phase.watchlists", "value": "dual_write", "reason": "start"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"ok": true, "changes": [{"key": "storage.phase.watchlists", "from": "kv_only", "to": "dual_write", "forced": false}],
            "restore_command": RESTORE_BEFORE_T0})
    );
    assert_eq!(phase(&f, "watchlists"), "dual_write");
    // The audit keeps how to put D1 back as it was the second before the flip.
    assert_eq!(
        f.count("SELECT COUNT(*) FROM settings_history h JOIN settings_history_restore r ON r.history_id = h.id \
                 WHERE h.key = 'storage.phase.watchlists' AND r.restore_command = \
                 'wrangler d1 time-travel restore FEAR_GREED_D1 --timestamp=1705276799'"),
        1
    );
    assert_eq!(phase(&f, "positions"), "kv_only");
    assert_eq!(
        f.count("SELECT COUNT(*) FROM settings_history WHERE key = 'storage.phase.watchlists' AND old_value IS NULL AND new_value = 'dual_write' AND changed_by = 'admin-api' AND reason = 'start' AND forced = 0"),
        1
    );
    // The bot now writes watchlists to both stores.
    f.replies(1, "/watchlist add AAPL");
    assert_eq!(f.kv.peek("watchlist:1").unwrap(), r#"["SPY","AAPL"]"#);
    assert_eq!(
        f.count("SELECT COUNT(*) FROM watchlists WHERE chat_id = '1'"),
        2
    );
    // Setting the same phase again changes nothing.
    let (status, body) = put(
        &f,
        json!({"key": "storage.phase.watchlists", "value": "dual_write"}),
    );
    assert_eq!((status, body["changes"].clone()), (200, json!([])));
    assert_eq!(history(&f), 1);
}

#[test]
fn a_flip_and_a_guard_rail_refusal_are_each_one_log_event() {
    let f = Fixture::new(Backend::Kv);
    let (_, lines) = logged(|| {
        put(
            &f,
            json!({"key": "storage.phase.positions", "value": "dual_write", "reason": "start"}),
        )
    });
    assert_one_event(
        &lines,
        "INFO",
        json!({"message": "flag flipped", "flag": "storage.phase.positions", "from": "kv_only",
               "to": "dual_write", "forced": false, "reason": "start"}),
    );
    let (_, lines) = logged(|| {
        put(
            &f,
            json!({"key": "storage.phase.positions", "value": "shadow"}),
        )
    });
    let details = format!("{POSITIONS_NOT_READY_FOR_SHADOW:?}");
    assert_one_event(
        &lines,
        "WARN",
        json!({"message": "flag change refused by a guard rail", "details": details}),
    );
    assert!(
        !lines
            .iter()
            .any(|line| line["fields"]["message"] == "flag flipped"),
        "nothing flipped"
    );
}

#[test]
fn skipping_a_phase_is_forbidden_even_when_forced() {
    let f = Fixture::new(Backend::Kv);
    for force in [false, true] {
        let (status, body) = put(
            &f,
            json!({"key": "storage.phase.cache", "value": "shadow", "force": force, "reason": "hurry"}),
        );
        assert_eq!(status, 409);
        assert_eq!(body["error"]["code"], "forbidden_transition");
        assert_eq!(
            body["error"]["details"],
            json!(["cache: kv_only → shadow skips a phase: moves go one phase at a time (kv_only → dual_write → shadow → d1_only)"])
        );
    }
    assert_eq!(phase(&f, "cache"), "kv_only");
    assert_eq!(history(&f), 0);
}

#[test]
fn an_unsafe_move_lists_what_is_unmet_until_forced_with_a_reason() {
    let f = Fixture::new(Backend::Kv);
    put(
        &f,
        json!({"key": "storage.phase.positions", "value": "dual_write"}),
    );
    let (status, body) = put(
        &f,
        json!({"key": "storage.phase.positions", "value": "shadow"}),
    );
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "guard_rail");
    assert_eq!(
        body["error"]["details"],
        json!(POSITIONS_NOT_READY_FOR_SHADOW)
    );
    let (status, body) = put(
        &f,
        json!({"key": "storage.phase.positions", "value": "shadow", "force": true}),
    );
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (
            400,
            Some("force needs a non-empty reason, recorded with the change")
        )
    );
    assert_eq!(phase(&f, "positions"), "dual_write");
    let (status, body) = put(
        &f,
        json!({"key": "storage.phase.positions", "value": "shadow", "force": true, "reason": "empty before launch"}),
    );
    assert_eq!(
        (status, body["changes"][0]["forced"].clone()),
        (200, json!(true))
    );
    assert_eq!(
        f.count("SELECT COUNT(*) FROM settings_history WHERE new_value = 'shadow' AND forced = 1 AND reason = 'empty before launch'"),
        1
    );
}

#[test]
fn shadow_to_d1_only_needs_enough_clean_comparisons() {
    let f = Fixture::new(Backend::Kv);
    for to in ["dual_write", "shadow"] {
        let (status, _) = put(
            &f,
            json!({"key": "storage.phase.watchlists", "value": to, "force": true, "reason": "test"}),
        );
        assert_eq!(status, 200);
    }
    f.after_handover();
    let (status, body) = put(
        &f,
        json!({"key": "storage.phase.watchlists", "value": "d1_only"}),
    );
    assert_eq!(status, 409);
    assert_eq!(
        body["error"]["details"],
        json!(["watchlists: 0 comparisons in the window, at least 1 needed"])
    );
    // One chat's watchlist, read in shadow: compared and matched.
    f.replies(7, "/watchlist");
    let (status, body) = put(
        &f,
        json!({"key": "storage.phase.watchlists", "value": "d1_only"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(phase(&f, "watchlists"), "d1_only");
}

#[test]
fn storage_phase_all_moves_every_repository_or_none() {
    let f = Fixture::new(Backend::Kv);
    let (status, body) = put(
        &f,
        json!({"key": "storage.phase.all", "value": "dual_write"}),
    );
    assert_eq!(status, 200);
    assert_eq!(body["changes"].as_array().unwrap().len(), 5);
    for repository in Repository::ALL.map(Repository::as_str) {
        assert_eq!(phase(&f, repository), "dual_write");
    }
    let (status, _) = put(&f, json!({"key": "storage.phase.all", "value": "shadow"}));
    assert_eq!(status, 409);
    assert_eq!(phase(&f, "cache"), "dual_write", "none moved");
}

#[test]
fn bad_bodies_keys_and_values_are_400s_that_change_nothing() {
    let f = Fixture::new(Backend::Kv);
    let cases = [
        ("{", "invalid body: EOF while parsing an object at line 1 column 1"),
        (r#"{"key":"shadow.sample_rate"}"#, "invalid body: missing field `value` at line 1 column 28"),
        (
            r#"{"key":"shadow.sample_rate","value":1,"extra":true}"#,
            "invalid body: unknown field `extra`, expected one of `key`, `value`, `reason`, `force` at line 1 column 45",
        ),
    ];
    for (body, message) in cases {
        let (status, answer) = f.admin("PUT", "/admin/flags", body);
        assert_eq!(
            (status, answer["error"]["message"].as_str()),
            (400, Some(message)),
            "{body}"
        );
    }
    for (key, value) in [
        ("storage.phase.users", json!("shadow")),
        ("'; DROP TABLE settings; --", json!("shadow")),
        ("storage.phase.cache", json!("d1only")),
        ("shadow.sample_rate", json!(1.5)),
        ("shadow.sample_rate", json!("0.5")),
    ] {
        let (status, answer) = put(&f, json!({"key": key, "value": value}));
        assert_eq!(status, 400, "{key} {value}");
        assert_eq!(answer["error"]["code"], "bad_request");
    }
    assert_eq!(history(&f), 0);
    assert_eq!(f.count("SELECT COUNT(*) FROM settings"), 0);
}

#[test]
fn migration_status_gives_each_repository_its_phase_next_move_and_numbers() {
    let f = Fixture::new(Backend::Kv);
    put(
        &f,
        json!({"key": "storage.phase.watchlists", "value": "dual_write"}),
    );
    f.replies(3, "/watchlist add AAPL");
    let (status, body) = f.admin("GET", "/admin/migration/status", "");
    assert_eq!(status, 200);
    let cache = &body["repositories"]["cache"];
    assert_eq!(
        (
            cache["phase"].clone(),
            cache["since"].clone(),
            cache["next_move"].clone()
        ),
        (
            json!("kv_only"),
            json!(null),
            json!({"to": "dual_write", "allowed": true, "unmet": []})
        )
    );
    let w = &body["repositories"]["watchlists"];
    assert_eq!(w["phase"], "dual_write");
    assert_eq!(w["since"], f.clock_now());
    assert_eq!(w["next_move"]["allowed"], false);
    assert_eq!(w["next_move"]["unmet"].as_array().unwrap().len(), 2);
    assert_eq!(w["entities_in_d1"], 1);
    assert_eq!(w["repairs_queued"], 0);
    assert_eq!(body["window_seconds"], 86_400);
}

#[test]
fn a_missing_table_holds_back_the_first_move() {
    let f = Fixture::new(Backend::Kv);
    f.db.run_script("DROP TABLE divergences").unwrap();
    let (status, body) = put(
        &f,
        json!({"key": "storage.phase.cache", "value": "dual_write"}),
    );
    assert_eq!(status, 409);
    assert_eq!(
        body["error"]["details"],
        json!(["cache: the D1 schema is not at the latest migration"])
    );
}

#[test]
fn migration_status_shows_which_phase_serves_while_a_move_is_handed_over() {
    let f = Fixture::new(Backend::Kv);
    for to in ["dual_write", "shadow"] {
        let body = json!({"key": "storage.phase.watchlists", "value": to, "force": true, "reason": "test"});
        assert_eq!(put(&f, body).0, 200);
    }
    let moved = f.clock_now();
    let standing = |f: &Fixture| {
        let (_, body) = f.admin("GET", "/admin/migration/status", "");
        let w = &body["repositories"]["watchlists"];
        (
            w["phase"].clone(),
            w["serving"].clone(),
            w["handover"].clone(),
        )
    };
    // Switched a TTL (10 s) and a second after the move; over two TTLs and 10 s after that.
    let over = json!({"until": moved + HANDOVER_MS});
    assert_eq!(
        standing(&f),
        (json!("shadow"), json!("dual_write"), over.clone())
    );
    f.clock.advance(SWITCH_MS);
    assert_eq!(standing(&f), (json!("shadow"), json!("shadow"), over));
    f.clock.advance(HANDOVER_MS - SWITCH_MS);
    assert_eq!(
        standing(&f),
        (json!("shadow"), json!("shadow"), json!(null))
    );
    let cache = standing(&f);
    let (_, body) = f.admin("GET", "/admin/migration/status", "");
    assert_eq!(
        body["repositories"]["cache"]["serving"], "kv_only",
        "{cache:?}"
    );
}
