//! The on-call dashboard (migration.md §6): `GET /admin/dashboard` and its script, served
//! without the token (they hold no data) but only while the admin API is enabled, and every
//! admin call the page makes answered. What the page shows from those answers is
//! `tests/e2e/dashboard.test.mjs`.

use crate::helpers::{run, Backend, Fixture, ADMIN_TOKEN};
use fear_greed_bot::app::App;
use fear_greed_bot::http::Request;

fn shipped(file: &str) -> String {
    std::fs::read_to_string(format!("{}/dashboards/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn the_page_and_its_script_are_served_without_the_token() {
    let f = Fixture::new(Backend::Kv);
    let page = f.request("GET", "/admin/dashboard", &[], "");
    assert_eq!(
        (page.status, page.content_type),
        (200, "text/html;charset=UTF-8")
    );
    assert_eq!(page.body, shipped("migration.html"));
    assert!(page
        .body
        .contains(r#"<script type="module" src="/admin/dashboard.mjs"></script>"#));
    let script = f.request("GET", "/admin/dashboard.mjs", &[], "");
    assert_eq!(
        (script.status, script.content_type),
        (200, "text/javascript;charset=UTF-8")
    );
    assert_eq!(script.body, shipped("dashboard.min.mjs"));
    assert!(!page.body.contains(ADMIN_TOKEN) && !script.body.contains(ADMIN_TOKEN));
}

#[test]
fn the_dashboard_is_a_404_while_the_admin_api_is_disabled_and_only_answers_get() {
    let f = Fixture::new(Backend::Kv);
    let mut config = f.config();
    config.admin_api_token = None;
    let disabled = App::new(f.platform.clone(), config);
    for path in ["/admin/dashboard", "/admin/dashboard.mjs"] {
        let request = Request {
            method: "GET".into(),
            path: path.into(),
            query: String::new(),
            headers: vec![],
            body: vec![],
        };
        assert_eq!(run(disabled.handle(&request)).status, 404, "{path}");
        let (status, body) = f.admin("POST", path, "");
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (405, Some("method_not_allowed")),
            "{path}"
        );
    }
}

#[test]
fn every_admin_call_the_page_makes_is_answered() {
    let f = Fixture::new(Backend::Kv);
    let script = shipped("dashboard.mjs");
    let sources = script
        .split("export const SOURCES = {")
        .nth(1)
        .and_then(|rest| rest.split("};").next())
        .expect("the script lists its SOURCES");
    let paths: Vec<&str> = sources
        .split('"')
        .filter(|part| part.starts_with("/admin/"))
        .collect();
    assert_eq!(paths.len(), 5, "{sources}");
    for path in paths {
        let (status, body) = f.admin("GET", path, "");
        assert_eq!((status, &body["ok"]), (200, &true.into()), "{path}: {body}");
    }
}
