//! Hostile input (proptest): arbitrary bytes, deep nesting, huge and non-integer numbers,
//! control characters and over-long texts at the webhook, and every admin path × method ×
//! body × query string, with and without the token, in every storage phase. Nothing panics
//! (proptest fails a case that does), no status is outside the expected set (never a 500),
//! and a refused request (4xx) leaves every KV key and every D1 row as it was. Bodies over
//! [`App::body_limit`] are refused 413 before routing. `PROPTEST_CASES` raises the default of
//! 128 cases per property; `cargo test hostile -- --nocapture` prints how many inputs ran.

use crate::helpers::{answer_market, run, Backend, Fixture, ADMIN, ADMIN_TOKEN, WEBHOOK_SECRET};
use fear_greed_bot::app::{admin_routes, App};
use fear_greed_bot::http::{Request, Response};
use fear_greed_bot::migration::Phase;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::BTreeMap;

const PHASES: [Phase; 4] = [
    Phase::KvOnly,
    Phase::DualWrite,
    Phase::Shadow,
    Phase::D1Only,
];

/// 128 cases per property unless `PROPTEST_CASES` says otherwise.
fn runner() -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(128);
    TestRunner::new(Config::with_cases(cases))
}

/// How many inputs got each status, printed with `--nocapture` so a run shows what it covered.
#[derive(Default)]
struct Statuses(RefCell<BTreeMap<u16, usize>>);

impl Statuses {
    fn count(&self, status: u16) {
        *self.0.borrow_mut().entry(status).or_default() += 1;
    }

    fn report(&self, inputs: &str) {
        let statuses = self.0.borrow();
        let tried: usize = statuses.values().sum();
        eprintln!("hostile: {tried} {inputs} tried, by status: {statuses:?}");
    }
}

/// A fixture holding a subscriber with a watchlist, an execution and a position in KV, and
/// the fixture's market (fear), so that a request has something to change.
fn seeded() -> Fixture {
    let f = Fixture::new(Backend::Kv);
    answer_market(&f, "fear", 20.0, 380.0);
    for text in [
        "/start",
        "/watchlist add AAPL",
        "/execute SPY 380 2024-01-10",
    ] {
        f.converse(1, text);
    }
    f.http.clear();
    f
}

/// Handles `request` as the worker does, with `phase` as the storage default and, unless
/// `admin_api` is off, the fixture's admin token.
fn handle(f: &Fixture, phase: Phase, admin_api: bool, request: &Request) -> Response {
    let mut config = f.config();
    config.storage_phase_default = phase;
    if !admin_api {
        config.admin_api_token = None;
    }
    let app = App::new(f.platform.clone(), config);
    let response = run(app.handle(request));
    run(app.after_response());
    response
}

/// Runs one request, checks its status is one of `allowed`, and, when it is a refusal,
/// that storage did not change.
fn refused_changes_nothing(
    f: &Fixture,
    phase: Phase,
    admin_api: bool,
    request: &Request,
    allowed: &[u16],
) -> Result<u16, TestCaseError> {
    let before = f.storage();
    let response = handle(f, phase, admin_api, request);
    prop_assert!(
        allowed.contains(&response.status),
        "{} {} answered {}: {}",
        request.method,
        request.path,
        response.status,
        response.body
    );
    if (400..500).contains(&response.status) {
        prop_assert_eq!(f.storage(), before, "a {} changed storage", response.status);
    }
    Ok(response.status)
}

/// JSON numbers as a sender may write them: integers of every size, negative, fractional,
/// with exponents, past `i64` and past `f64`.
fn json_numbers() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(|x| x.to_string()),
        (any::<i64>(), 0u32..400).prop_map(|(m, e)| format!("{m}e{e}")),
        (any::<i64>(), 0u32..400).prop_map(|(m, e)| format!("{m}.5E-{e}")),
        "[1-9][0-9]{19,60}",
        "-[1-9][0-9]{19,60}",
        Just("9223372036854775808".to_owned()),
        Just("-9223372036854775809".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("-0".to_owned()),
        Just("0.0".to_owned()),
        Just("1e400".to_owned()),
        Just("-1e-400".to_owned()),
    ]
}

/// Texts with unicode, control characters (NUL included), lone markup and texts past
/// Telegram's 4,096 characters.
fn texts() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9.]{0,12}",
        "( ?[A-Za-z0-9.$-]{1,6}){0,3}",
        any::<String>(),
        "[\\x00-\\x1f\\x7f\u{80}-\u{9f}\u{200b}-\u{200f}\u{2028}\u{2029}\u{feff}]{0,20}",
        "[_*`\\[\\]\\\\\"' ]{0,20}",
        (any::<char>(), 4_097usize..6_000).prop_map(|(c, n)| c.to_string().repeat(n)),
        ("\\PC{0,8}", 4_090usize..4_200).prop_map(|(s, n)| s.repeat(n / s.len().max(1) + 1)),
    ]
}

/// A command (or none) followed by a hostile text, as the message text.
fn message_texts() -> impl Strategy<Value = String> {
    let commands = prop::sample::select(vec![
        "",
        "/start",
        "/stop",
        "/help",
        "/now ",
        "/now",
        "/watchlist ",
        "/watchlist add ",
        "/watchlist remove ",
        "/execute ",
        "/execute SPY ",
        "/execute SPY 1 ",
        "/executions ",
        "/subscribers",
    ]);
    let dates = prop_oneof![
        "[0-9]{4}-[0-9]{2}-[0-9]{2}",
        "[+-]?[0-9]{1,7}-[0-9]{1,3}-[0-9]{1,3}",
        (any::<i32>(), any::<u8>(), any::<u8>()).prop_map(|(y, m, d)| format!("{y}-{m}-{d}")),
    ];
    (commands, texts(), json_numbers(), dates).prop_map(|(command, text, number, date)| {
        match command {
            "/execute SPY " => format!("{command}{number} {text}"),
            "/execute SPY 1 " => format!("{command}{date} {text}"),
            _ => format!("{command}{text}"),
        }
    })
}

/// JSON nested `depth` deep, in arrays or objects, closed or not.
fn nested() -> impl Strategy<Value = String> {
    let depths = prop_oneof![3 => 1usize..120, 1 => 120usize..3_000];
    (depths, any::<bool>(), prop::bool::weighted(0.8)).prop_map(|(depth, arrays, closed)| {
        let (open, close) = if arrays {
            ("[", "]")
        } else {
            (r#"{"a":"#, "}")
        };
        let tail = if closed {
            close.repeat(depth)
        } else {
            String::new()
        };
        format!("{}1{}", open.repeat(depth), tail)
    })
}

/// Update bodies: well formed with hostile fields, nested anywhere, or arbitrary bytes.
fn update_bodies() -> impl Strategy<Value = Vec<u8>> {
    let chat_id = prop_oneof![
        4 => (-5i64..5).prop_map(|n| n.to_string()),
        1 => Just(ADMIN.to_string()),
        2 => json_numbers(),
        1 => json_numbers().prop_map(|n| format!("\"{n}\"")),
        1 => texts().prop_map(|t| Value::from(t).to_string()),
        1 => nested(),
    ];
    let message_key = prop::sample::select(vec!["message", "edited_message", "channel_post"]);
    let extra = prop_oneof![2 => Just("[]".to_owned()), 1 => nested()];
    let well_formed = (json_numbers(), message_key, chat_id, message_texts(), extra).prop_map(
        |(update_id, key, chat, text, extra)| {
            let text = Value::from(text);
            format!(
                r#"{{"update_id":{update_id},"{key}":{{"message_id":{update_id},"chat":{{"id":{chat},"type":"private"}},"text":{text},"entities":{extra}}}}}"#
            )
            .into_bytes()
        },
    );
    prop_oneof![
        4 => well_formed,
        1 => nested().prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..2_048),
        1 => (any::<u8>(), 0usize..3).prop_map(|(byte, over)| {
            vec![byte; App::body_limit("/") + over]
        }),
    ]
}

#[test]
fn the_webhook_answers_hostile_updates_without_a_panic_or_a_500_and_refusals_change_nothing() {
    let secrets = prop_oneof![
        8 => Just(Some(WEBHOOK_SECRET)),
        1 => Just(Some("wrong")),
        1 => Just(None),
    ];
    let phases = prop::sample::select(PHASES.to_vec());
    let statuses = Statuses::default();
    runner()
        .run(
            &(update_bodies(), secrets, phases),
            |(body, secret, phase)| {
                let f = seeded();
                let request = crate::helpers::webhook_request(secret, &body);
                // The contract (legacy §2.5): the size first, then the secret, then the JSON.
                let expected = if body.len() > App::body_limit("/") {
                    413
                } else if secret != Some(WEBHOOK_SECRET) {
                    401
                } else if serde_json::from_slice::<Value>(&body).is_err() {
                    400
                } else {
                    200
                };
                let status = refused_changes_nothing(&f, phase, true, &request, &[expected])?;
                statuses.count(status);
                if status != 200 {
                    prop_assert!(f.http.sent().is_empty(), "a refused update sent messages");
                }
                Ok(())
            },
        )
        .unwrap();
    statuses.report("webhook inputs");
}

/// Query strings: arbitrary text, or the parameters the admin API reads with hostile values.
fn queries() -> impl Strategy<Value = String> {
    let names = prop::sample::select(vec![
        "limit",
        "minutes",
        "repository",
        "class",
        "dry_run",
        "",
    ]);
    let values = prop_oneof![
        json_numbers(),
        texts(),
        "%[0-9a-fA-FzZ%]{0,6}",
        Just(String::new())
    ];
    prop_oneof![
        any::<String>(),
        "[&=%+a-z0-9]{0,40}",
        prop::collection::vec((names, values), 0..4).prop_map(|pairs| {
            pairs
                .into_iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("&")
        }),
    ]
}

/// JSON values a sender may put in an admin body's field.
fn json_values() -> impl Strategy<Value = String> {
    let known = prop::sample::select(vec![
        "\"storage.phase.all\"",
        "\"storage.phase.watchlists\"",
        "\"shadow.sample_rate\"",
        "\"dual_write\"",
        "\"d1_only\"",
        "\"all\"",
        "\"watchlists\"",
        "\"delete-kv-data\"",
        "true",
        "false",
        "null",
        "[]",
        "{}",
    ]);
    prop_oneof![
        known.prop_map(str::to_owned),
        json_numbers(),
        texts().prop_map(|t| Value::from(t).to_string()),
        nested(),
    ]
}

/// Admin bodies: objects of the API's field names with hostile values, or arbitrary bytes.
fn admin_bodies() -> impl Strategy<Value = Vec<u8>> {
    let fields = prop::sample::select(vec![
        "key",
        "value",
        "reason",
        "force",
        "repository",
        "dry_run",
        "confirm",
        "limit",
        "",
    ]);
    let objects = prop::collection::vec((fields, json_values()), 0..5).prop_map(|fields| {
        let fields: Vec<String> = fields
            .into_iter()
            .map(|(name, value)| format!("\"{name}\":{value}"))
            .collect();
        format!("{{{}}}", fields.join(",")).into_bytes()
    });
    prop_oneof![
        4 => objects,
        1 => Just(Vec::new()),
        1 => json_values().prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..1_024),
        1 => (0usize..3).prop_map(|over| vec![b' '; App::body_limit("/admin/") + over]),
    ]
}

#[test]
fn every_admin_path_method_body_and_query_is_answered_without_a_panic_or_a_500() {
    // Each route as the table has it, or any path of it or beside it with any method.
    let routes: Vec<(&str, &str)> = admin_routes().collect();
    let mut paths: Vec<&str> = routes.iter().map(|(_, path)| *path).collect();
    paths.extend([
        "/admin/",
        "/admin/nothing",
        "/admin/flags/x",
        "/admin//flags",
    ]);
    let mut methods: Vec<&str> = routes.iter().map(|(method, _)| *method).collect();
    methods.extend(["DELETE", "PATCH", "HEAD", "OPTIONS", "get", ""]);
    methods.sort_unstable();
    methods.dedup();
    let endpoints = prop_oneof![
        2 => prop::sample::select(routes),
        1 => (prop::sample::select(methods), prop::sample::select(paths)),
    ];
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let tokens = prop_oneof![
        6 => Just(Some(bearer.clone())),
        1 => Just(Some("Bearer wrong".to_owned())),
        1 => Just(Some(ADMIN_TOKEN.to_owned())),
        1 => Just(None),
    ];
    let inputs = (
        endpoints,
        admin_bodies(),
        queries(),
        tokens,
        prop::sample::select(PHASES.to_vec()),
        prop::bool::weighted(0.9),
    );
    let statuses = Statuses::default();
    runner()
        .run(
            &inputs,
            |((method, path), body, query, token, phase, admin_api)| {
                let f = seeded();
                let request = Request {
                    method: method.into(),
                    path: path.into(),
                    query,
                    headers: token
                        .iter()
                        .map(|token| ("authorization".to_owned(), token.clone()))
                        .collect(),
                    body,
                };
                let allowed: &[u16] = if request.body.len() > App::body_limit(path) {
                    &[413]
                } else if !admin_api {
                    &[404]
                } else if path.starts_with("/admin/dashboard") {
                    &[200, 405]
                } else if token.as_ref() != Some(&bearer) {
                    &[401]
                } else {
                    &[200, 400, 404, 405, 409]
                };
                let status = refused_changes_nothing(&f, phase, admin_api, &request, allowed)?;
                statuses.count(status);
                Ok(())
            },
        )
        .unwrap();
    statuses.report("admin inputs");
}

#[test]
fn a_body_past_its_limit_is_refused_413_before_routing_whatever_the_path_and_token() {
    let f = seeded();
    let before = f.storage();
    let over = |path: &str| vec![b'{'; App::body_limit(path) + 1];
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    for (method, path, headers) in [
        (
            "POST",
            "/",
            vec![("x-telegram-bot-api-secret-token", WEBHOOK_SECRET)],
        ),
        ("POST", "/", vec![]),
        ("POST", "/deploy-notify", vec![]),
        ("GET", "/", vec![]),
        (
            "POST",
            "/admin/backfill",
            vec![("authorization", bearer.as_str())],
        ),
        ("PUT", "/admin/flags", vec![]),
        ("GET", "/admin/nothing", vec![]),
    ] {
        let request = Request {
            method: method.into(),
            path: path.into(),
            query: String::new(),
            headers: headers
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
            body: over(path),
        };
        for admin_api in [true, false] {
            let response = handle(&f, Phase::KvOnly, admin_api, &request);
            assert_eq!(
                (response.status, response.body.as_str()),
                (413, r#"{"ok":false,"error":"Payload Too Large"}"#),
                "{method} {path}"
            );
        }
    }
    assert_eq!(f.storage(), before);
    assert!(f.http.sent().is_empty());
}

#[test]
fn a_body_at_its_limit_is_read() {
    let f = seeded();
    assert_eq!(App::body_limit("/"), 256 * 1024);
    assert_eq!(App::body_limit("/admin/flags"), 16 * 1024);
    let mut update = br#"{"update_id":99,"message":{"chat":{"id":1},"text":"/help"}}"#.to_vec();
    update.resize(App::body_limit("/"), b' ');
    let request = crate::helpers::webhook_request(Some(WEBHOOK_SECRET), &update);
    let response = handle(&f, Phase::KvOnly, true, &request);
    assert_eq!((response.status, f.sent_messages().len()), (200, 1));
    let mut flags = br#"{"key":"nothing","value":1,"reason":"r"}"#.to_vec();
    flags.resize(App::body_limit("/admin/flags"), b' ');
    let (status, _) = f.admin("PUT", "/admin/flags", std::str::from_utf8(&flags).unwrap());
    assert_eq!(status, 400, "an unknown flag, not a 413");
}
