//! The application surface natively: routes and cron dispatch on the real platform stand-ins.

use crate::helpers::{run, Backend, Fixture, T0};
use crate::logs::{assert_one_event, logged, the_event};
use fear_greed_bot::app::cron::{CronOutcome, Job, MAINTENANCE_CRON};
use fear_greed_bot::app::pager::PagesSent;
use fear_greed_bot::http::Request;
use fear_greed_bot::migration::repair::{StepOutcome, Tally};
use fear_greed_bot::migration::sweep::Kind;
use fear_greed_bot::platform::native::KvOp;
use serde_json::json;

fn get(path: &str) -> Request {
    Request {
        method: "GET".into(),
        path: path.into(),
        query: String::new(),
        headers: vec![],
        body: vec![],
    }
}

#[test]
fn healthz_reports_both_stores_answering() {
    let f = Fixture::new(Backend::Kv);
    let response = run(f.app().handle(&get("/healthz")));
    assert_eq!(response.status, 200);
    assert_eq!(response.content_type, "application/json");
    assert_eq!(response.body, r#"{"ok":true,"d1":true,"kv":true}"#);
}

#[test]
fn healthz_names_the_store_that_does_not_answer() {
    let f = Fixture::new(Backend::Kv);
    f.kv.fail(KvOp::List, "");
    assert_eq!(
        run(f.app().handle(&get("/healthz"))).body,
        r#"{"ok":false,"d1":true,"kv":false}"#
    );
    f.kv.heal();
    f.db.run_script("DROP TABLE cache").unwrap();
    // `SELECT 1` needs no table: D1 still answers without its cache table.
    assert_eq!(
        run(f.app().handle(&get("/healthz"))).body,
        r#"{"ok":true,"d1":true,"kv":true}"#
    );
}

#[test]
fn unknown_routes_get_the_legacy_405() {
    let f = Fixture::new(Backend::Kv);
    for (method, path) in [
        ("GET", "/"),
        ("POST", "/healthz"),
        ("HEAD", "/"),
        ("GET", "/deploy-notify"),
        ("POST", "/foo"),
    ] {
        let response = run(f.app().handle(&Request {
            method: method.into(),
            path: path.into(),
            query: String::new(),
            headers: vec![],
            body: vec![],
        }));
        assert_eq!(
            (
                response.status,
                response.content_type,
                response.body.as_str()
            ),
            (405, "text/plain;charset=UTF-8", "Method not allowed"),
            "{method} {path}"
        );
    }
}

/// The crons a wrangler configuration declares.
fn crons(toml: &str) -> Vec<&str> {
    let crons_line = toml.lines().find(|line| line.starts_with("crons")).unwrap();
    crons_line.split('"').skip(1).step_by(2).collect()
}

/// The value of each `key = value` line of a wrangler configuration, by key (the last wins).
fn settings(toml: &str) -> std::collections::HashMap<&str, &str> {
    toml.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once(" = "))
        .collect()
}

#[test]
fn the_two_workers_configurations_agree_on_what_they_share() {
    let (bot, ops) = (
        settings(include_str!("../../wrangler.toml")),
        settings(include_str!("../../wrangler.ops.toml")),
    );
    for key in [
        "compatibility_date",
        "id",
        "database_name",
        "database_id",
        "migrations_dir",
        "STORAGE_PHASE_DEFAULT",
        "TELEGRAM_API_BASE_URL",
    ] {
        assert!(bot.contains_key(key), "{key}");
        assert_eq!(bot.get(key), ops.get(key), "{key}");
    }
    assert_eq!(
        ops["workers_dev"], "false",
        "the ops worker has no public route"
    );
}

#[test]
fn each_worker_declares_the_crons_of_its_own_jobs() {
    let jobs =
        |toml| -> Vec<Option<Job>> { crons(toml).iter().map(|cron| Job::for_cron(cron)).collect() };
    assert_eq!(
        jobs(include_str!("../../wrangler.toml")),
        vec![Some(Job::Broadcast); 4],
        "the bot worker runs the four broadcasts"
    );
    assert_eq!(
        jobs(include_str!("../../wrangler.ops.toml")),
        vec![Some(Job::Maintenance)],
        "the ops worker runs the maintenance"
    );
    assert_eq!(Job::for_cron("* * * * *"), None);
}

#[test]
fn the_maintenance_cron_purges_expired_cache_rows_and_old_update_claims_only() {
    let f = Fixture::new(Backend::D1);
    let two_days_ago = T0 - 48 * 60 * 60 * 1000;
    f.db.run_script(&format!(
        "INSERT INTO cache VALUES ('old', '{{}}', {}, 0); INSERT INTO cache VALUES ('new', '{{}}', {}, 0);
         INSERT INTO telegram_updates VALUES (1, 'done', {}, {});
         INSERT INTO telegram_updates VALUES (2, 'done', {}, {});",
        T0,
        T0 + 1,
        two_days_ago - 1,
        two_days_ago - 1,
        two_days_ago,
        two_days_ago
    ))
    .unwrap();
    assert_eq!(
        run(f.app().on_cron("*/5 * * * *")),
        CronOutcome::Maintained {
            expired_cache_rows: Ok(1),
            forgotten_updates: Ok(1),
            forgotten_broadcasts: Ok(0),
            repair: Ok(StepOutcome::Done),
            sweep: Ok(None),
            paging: Ok(PagesSent::default()),
        }
    );
    assert_eq!(
        f.count("SELECT COUNT(*) FROM cache WHERE cache_key = 'new'"),
        1
    );
    assert_eq!(
        f.count("SELECT COUNT(*) FROM telegram_updates WHERE update_id = 2"),
        1
    );
}

#[test]
fn a_failed_maintenance_step_is_logged_counted_and_the_steps_after_it_still_run() {
    let f = Fixture::new(Backend::Kv);
    // A claim past its retention, a queued repair (of an entity both stores agree on) and a
    // dry run not yet finished; then the first step's table goes missing.
    let old = T0 - 48 * 60 * 60 * 1000 - 1;
    f.db.run_script(&format!(
        r#"INSERT INTO telegram_updates VALUES (1, 'done', {old}, {old});
         INSERT INTO repair_queue (repository, entity_key, target, reason, enqueued_at)
           VALUES ('watchlists', '4', 'd1', 'test', {old});
         INSERT INTO sweeps (kind, repository, tally, started_at, updated_at)
           VALUES ('dry_run', 'watchlists', '{{"pages":0}}', {old}, {old});
         DROP TABLE cache;"#
    ))
    .unwrap();
    let app = f.app();
    let (outcome, lines) = logged(|| run(app.on_cron(MAINTENANCE_CRON)));
    let CronOutcome::Maintained {
        expired_cache_rows,
        forgotten_updates,
        forgotten_broadcasts,
        repair,
        sweep,
        paging,
    } = &outcome
    else {
        panic!("{outcome:?}");
    };
    let error = expired_cache_rows.as_ref().unwrap_err();
    assert!(error.contains("no such table: cache"), "{error}");
    assert_eq!(*forgotten_updates, Ok(1));
    assert_eq!(*forgotten_broadcasts, Ok(0));
    let in_sync = Tally {
        in_sync: 1,
        ..Tally::default()
    };
    assert_eq!(
        *repair,
        Ok(StepOutcome::Progressed {
            tally: in_sync,
            remaining: 0
        })
    );
    assert_eq!(*sweep, Ok(Some((Kind::DryRun, true))));
    assert_eq!(*paging, Ok(PagesSent::default()));
    assert_eq!(f.count("SELECT COUNT(*) FROM telegram_updates"), 0);
    assert_eq!(f.count("SELECT COUNT(*) FROM repair_queue"), 0);
    assert_eq!(f.count("SELECT finished FROM sweeps"), 1);

    assert_one_event(
        &lines,
        "ERROR",
        json!({"message": "maintenance step failed", "step": "cache_purge", "error": error}),
    );
    let finished = the_event(&lines, "cron run finished");
    assert_eq!(finished["fields"]["failed_steps"], r#"["cache_purge"]"#);

    // Counted once the run is over, like every counter, by step.
    run(app.after_response());
    assert_eq!(
        f.count(
            "SELECT COALESCE(SUM(count), 0) FROM migration_counters WHERE repository = 'maintenance' \
             AND operation = 'cache_purge' AND outcome = 'failed'"
        ),
        1
    );
    assert_eq!(
        f.count("SELECT COUNT(*) FROM migration_counters WHERE repository = 'maintenance'"),
        1,
        "only the step that failed"
    );
}
