//! The sweeps through the admin API and the cron: `POST/GET /admin/backfill`,
//! `POST /admin/validate`, `POST /admin/reverse-sync`, their refusals, and the guard rails
//! they open (`dual_write → shadow`, `d1_only → shadow`).

use crate::helpers::{run, until_finished, Backend, Fixture};
use fear_greed_bot::app::cron::CronOutcome;
use fear_greed_bot::migration::sweep::Kind;
use fear_greed_bot::storage::kv::LegacyDataset;
use serde_json::{json, Value};

fn seeded(chats: usize) -> (Fixture, LegacyDataset) {
    let f = Fixture::new(Backend::Kv);
    let data = LegacyDataset::generate(chats, 17);
    for (key, value) in &data.entries {
        f.kv.seed(key, value);
    }
    (f, data)
}

fn move_all(f: &Fixture, to: &str, force: bool) -> (u16, Value) {
    let mut body = json!({"key": "storage.phase.all", "value": to, "reason": "test"});
    if force {
        body["force"] = json!(true);
    }
    f.admin("PUT", "/admin/flags", &body.to_string())
}

#[test]
fn the_backfill_is_refused_outside_dual_write_and_too_soon_after_it_began() {
    let (f, _) = seeded(20);
    let (status, body) = f.admin("POST", "/admin/backfill", "{}");
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "guard_rail");
    assert_eq!(body["error"]["details"].as_array().unwrap().len(), 5);
    assert!(body["error"]["details"][0]
        .as_str()
        .unwrap()
        .starts_with("subscriptions is in kv_only"));
    // A dry run only reads: it runs in any phase, and writes nothing to D1.
    let dry = until_finished(&f, "/admin/backfill", json!({"dry_run": true}));
    assert_eq!(dry["kind"], "dry_run");
    assert_eq!(f.count("SELECT COUNT(*) FROM watchlists"), 0);
    assert_eq!(move_all(&f, "dual_write", false).0, 200);
    let (status, body) = f.admin("POST", "/admin/backfill", r#"{"repository":"watchlists"}"#);
    assert_eq!(status, 409);
    assert!(body["error"]["details"][0]
        .as_str()
        .unwrap()
        .contains("entered dual_write 0 s ago: the backfill may start 70 s after"));
    f.clock.advance(70_000);
    let (status, _) = f.admin("POST", "/admin/backfill", r#"{"repository":"watchlists"}"#);
    assert_eq!(status, 200);
}

#[test]
fn bad_sweep_requests_are_400s_that_change_nothing() {
    let (f, _) = seeded(5);
    for (path, body, says) in [
        ("/admin/backfill", "{", "invalid body"),
        ("/admin/backfill", r#"{"repo":"all"}"#, "unknown field"),
        (
            "/admin/validate",
            r#"{"repository":"users"}"#,
            "unknown repository",
        ),
        ("/admin/validate", r#"{"dry_run":true}"#, "dry_run applies"),
        (
            "/admin/reverse-sync",
            r#"{"restart":"yes"}"#,
            "invalid body",
        ),
    ] {
        let (status, answer) = f.admin("POST", path, body);
        assert_eq!(status, 400, "{path} {body}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{message}");
    }
    assert_eq!(f.count("SELECT COUNT(*) FROM sweeps"), 0);
    let wrong = f.request(
        "POST",
        "/admin/backfill",
        &[("authorization", "Bearer nope")],
        "{}",
    );
    assert_eq!(wrong.status, 401);
    let (status, _) = f.admin("DELETE", "/admin/validate", "");
    assert_eq!(status, 405);
}

#[test]
fn backfill_then_validation_opens_the_move_to_shadow_without_force() {
    let (f, data) = seeded(300);
    assert_eq!(move_all(&f, "dual_write", false).0, 200);
    let (status, body) = move_all(&f, "shadow", false);
    assert_eq!(status, 409, "no backfill yet: {body}");
    f.clock.advance(70_000);
    let done = until_finished(&f, "/admin/backfill", json!({"repository": "all"}));
    let results = done["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    let executions = results.iter().find(|r| r["table"] == "executions").unwrap();
    assert_eq!(executions["recordsMigrated"], data.execution_rows);
    let (_, progress) = f.admin("GET", "/admin/backfill", "");
    let watchlists = &progress["backfill"]["repositories"]["watchlists"];
    assert_eq!(watchlists["state"], "finished");
    for field in [
        "scanned", "written", "skipped", "errors", "cursor", "started", "finished",
    ] {
        assert!(watchlists.get(field).is_some(), "{field} in {watchlists}");
    }
    assert_eq!(
        progress["dry_run"]["repositories"]["watchlists"]["state"],
        "not_started"
    );
    let validated = until_finished(&f, "/admin/validate", json!({}));
    let report = &validated["report"];
    assert_eq!(report["overallSuccess"], true, "{report}");
    assert_eq!(
        report["tables"]["watchlists"]["d1Count"],
        data.watchlist_rows
    );
    assert_eq!(report["tables"]["watchlists"]["match"], true);
    let (_, status) = f.admin("GET", "/admin/migration/status", "");
    let watchlists = &status["repositories"]["watchlists"];
    assert_eq!(watchlists["next_move"]["allowed"], true, "{watchlists}");
    assert_eq!(watchlists["backfill"]["state"], "finished");
    assert_eq!(watchlists["validation"]["state"], "finished");
    let (status, body) = move_all(&f, "shadow", false);
    assert_eq!(status, 200, "{body}");
    // Users see the same data from D1 now.
    let chat = data.subscribers[3].get();
    assert!(!f.replies(chat, "/watchlist").is_empty());
}

#[test]
fn an_unclean_validation_keeps_shadow_closed_until_repaired_and_validated_again() {
    let (f, data) = seeded(50);
    move_all(&f, "dual_write", false);
    f.clock.advance(70_000);
    until_finished(&f, "/admin/backfill", json!({}));
    // Rows lost behind both stores' backs, two minutes ago (D1's clock dates the change: a
    // change younger than KV's propagation window would count as in flight, not as a loss).
    f.db.run_script(&format!(
        "DELETE FROM active_positions; DELETE FROM watchlists WHERE chat_id = '{}'; \
         UPDATE entity_versions SET changed_at = changed_at - 120000",
        data.chats[0]
    ))
    .unwrap();
    let report = until_finished(&f, "/admin/validate", json!({}))["report"].clone();
    assert_eq!(report["overallSuccess"], false);
    assert!(!report["discrepancies"].as_array().unwrap().is_empty());
    let lost = report["details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["class"] == "missing_in_d1")
        .expect("a lost row is missing in D1");
    assert!(lost["diff"]
        .as_str()
        .unwrap()
        .starts_with("--- d1\n+++ kv\n"));
    let (status, body) = move_all(&f, "shadow", false);
    assert_eq!(status, 409);
    assert!(body.to_string().contains("no clean validation"));
    // The validation queued the repairs; once KV has settled, the drain and a new validation.
    f.clock.advance(120_000);
    let (status, _) = f.admin("POST", "/admin/repair", r#"{"budget":200}"#);
    assert_eq!(status, 200);
    let report = until_finished(&f, "/admin/validate", json!({}))["report"].clone();
    assert_eq!(report["overallSuccess"], true, "{report}");
    assert_eq!(move_all(&f, "shadow", false).0, 200);
}

#[test]
fn the_maintenance_cron_carries_an_unfinished_backfill_to_its_end() {
    let (f, data) = seeded(600);
    move_all(&f, "dual_write", false);
    f.clock.advance(70_000);
    let (status, first) = f.admin("POST", "/admin/backfill", "{}");
    assert_eq!(status, 200);
    assert_eq!(first["finished"], false, "600 chats take several steps");
    let mut runs = 0;
    loop {
        runs += 1;
        let outcome = run(f.app().on_cron("*/5 * * * *"));
        let CronOutcome::Maintained { sweep, .. } = outcome else {
            panic!("{outcome:?}");
        };
        match sweep {
            Ok(Some((Kind::Backfill, true))) => break,
            Ok(Some((Kind::Backfill, false))) => assert!(runs < 100),
            other => panic!("{other:?}"),
        }
    }
    let (_, progress) = f.admin("GET", "/admin/backfill", "");
    let executions = &progress["backfill"]["repositories"]["executions"];
    assert_eq!(executions["state"], "finished");
    assert_eq!(
        f.count("SELECT COUNT(*) FROM executions"),
        data.execution_rows as i64
    );
    // Nothing left: the next run sweeps nothing.
    let CronOutcome::Maintained { sweep, .. } = run(f.app().on_cron("*/5 * * * *")) else {
        panic!()
    };
    assert_eq!(sweep, Ok(None));
}

#[test]
fn the_reverse_sync_runs_only_while_d1_is_authoritative_and_opens_the_rollback() {
    let (f, data) = seeded(40);
    move_all(&f, "dual_write", false);
    let (status, body) = f.admin("POST", "/admin/reverse-sync", "{}");
    assert_eq!(status, 409);
    assert!(body["error"]["details"][0]
        .as_str()
        .unwrap()
        .contains("only in shadow or d1_only"));
    f.clock.advance(70_000);
    until_finished(&f, "/admin/backfill", json!({}));
    until_finished(&f, "/admin/validate", json!({}));
    assert_eq!(move_all(&f, "shadow", false).0, 200);
    assert_eq!(move_all(&f, "d1_only", true).0, 200);
    // In d1_only only D1 hears this.
    let chat = data.subscribers[0].get();
    f.replies(chat, "/watchlist add ZZZZ");
    let (status, body) = move_all(&f, "shadow", false);
    assert_eq!(status, 409);
    assert!(body.to_string().contains("no completed reverse sync"));
    let synced = until_finished(&f, "/admin/reverse-sync", json!({}));
    assert_eq!(synced["kind"], "reverse_sync");
    let stored = f.kv.peek(&format!("watchlist:{chat}")).unwrap();
    assert!(stored.contains("\"ZZZZ\""), "{stored}");
    assert_eq!(move_all(&f, "shadow", false).0, 200);
    // Back in dual_write KV serves again: a reverse sync after the move to shadow is needed.
    let (status, body) = move_all(&f, "dual_write", false);
    assert_eq!(status, 409, "{body}");
    f.clock.advance(20_000);
    until_finished(&f, "/admin/reverse-sync", json!({}));
    let (status, body) = move_all(&f, "dual_write", false);
    assert_eq!(status, 200, "{body}");
    assert!(f
        .replies(chat, "/watchlist")
        .iter()
        .any(|reply| reply.contains("ZZZZ")));
}
