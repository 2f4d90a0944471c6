//! The application surface natively: routes and cron dispatch on the real platform stand-ins.

use crate::helpers::{run, Backend, Fixture, T0};
use fear_greed_bot::app::cron::{CronOutcome, Job};
use fear_greed_bot::http::Request;
use fear_greed_bot::migration::repair::StepOutcome;
use fear_greed_bot::platform::native::KvOp;

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

#[test]
fn each_cron_of_wrangler_toml_maps_to_its_job() {
    let toml = include_str!("../../wrangler.toml");
    let crons_line = toml.lines().find(|line| line.starts_with("crons")).unwrap();
    let crons: Vec<&str> = crons_line.split('"').skip(1).step_by(2).collect();
    let jobs: Vec<Option<Job>> = crons.iter().map(|cron| Job::for_cron(cron)).collect();
    assert_eq!(
        jobs,
        vec![
            Some(Job::Broadcast),
            Some(Job::Broadcast),
            Some(Job::Broadcast),
            Some(Job::Broadcast),
            Some(Job::Maintenance)
        ]
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
            expired_cache_rows: 1,
            forgotten_updates: 1,
            repair: StepOutcome::Done,
            sweep: None,
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
    f.db.run_script("DROP TABLE cache").unwrap();
    assert!(matches!(
        run(f.app().on_cron("*/5 * * * *")),
        CronOutcome::Failed(_)
    ));
}
