//! Failed admin bearer attempts, limited per client (`CF-Connecting-IP`): ten wrong tokens
//! are 401s, then the client gets 429s with `Retry-After` (the right token included) until
//! the period is over, while other clients pass; the isolate counts them, or a Rate Limiting
//! binding does; a limited request does no work; the logs name the client, never a token.

use crate::helpers::{run, Backend, Fixture, ADMIN_TOKEN};
use crate::logs::logged;
use async_trait::async_trait;
use fear_greed_bot::app::{App, Isolate};
use fear_greed_bot::http::{Request, Response};
use fear_greed_bot::platform::RateLimiter;
use serde_json::{json, Value};
use std::cell::Cell;
use std::rc::Rc;

const ATTACKER: &str = "203.0.113.7";
const OPERATOR: &str = "198.51.100.20";

/// One isolate's apps, as the worker runs them: each request gets its own, sharing memory.
struct Worker<'f> {
    f: &'f Fixture,
    isolate: Isolate,
    binding: Option<Rc<dyn RateLimiter>>,
}

impl<'f> Worker<'f> {
    fn new(f: &'f Fixture) -> Self {
        Self {
            f,
            isolate: Isolate::default(),
            binding: None,
        }
    }

    /// `GET /admin/flags` from `client` (no `CF-Connecting-IP` when `None`) with `token`.
    fn call(&self, client: Option<&str>, token: &str) -> Response {
        let mut headers = vec![("authorization".to_owned(), format!("Bearer {token}"))];
        if let Some(ip) = client {
            headers.push(("cf-connecting-ip".to_owned(), ip.to_owned()));
        }
        let request = Request {
            method: "GET".into(),
            path: "/admin/flags".into(),
            query: String::new(),
            headers,
            body: vec![],
        };
        let mut app = App::in_isolate(
            self.f.platform.clone(),
            self.f.config(),
            self.isolate.clone(),
        );
        if let Some(binding) = &self.binding {
            app = app.with_admin_limiter(binding.clone());
        }
        let response = run(app.handle(&request));
        run(app.after_response());
        response
    }
}

fn wrong(i: usize) -> String {
    format!("guess-{i:04}")
}

fn too_many(retry_after: u32) -> (u16, Option<u32>, Value) {
    (
        429,
        Some(retry_after),
        json!({ "ok": false, "error": {
            "code": "too_many_attempts",
            "message": "Too many failed bearer attempts; retry after the Retry-After seconds",
            "details": [],
        }}),
    )
}

fn answer(response: &Response) -> (u16, Option<u32>, Value) {
    (
        response.status,
        response.retry_after,
        serde_json::from_str(&response.body).unwrap(),
    )
}

#[test]
fn ten_wrong_tokens_then_429s_for_that_client_even_with_the_right_token_while_others_pass() {
    let f = Fixture::new(Backend::D1);
    let worker = Worker::new(&f);
    for i in 0..10 {
        assert_eq!(worker.call(Some(ATTACKER), &wrong(i)).status, 401, "{i}");
    }
    assert_eq!(
        answer(&worker.call(Some(ATTACKER), &wrong(10))),
        too_many(60)
    );
    // The right token from the limited client is refused too: otherwise a 200 among the 429s
    // would tell the attacker which guess was right.
    assert_eq!(
        answer(&worker.call(Some(ATTACKER), ADMIN_TOKEN)),
        too_many(60)
    );
    assert_eq!(worker.call(Some(OPERATOR), ADMIN_TOKEN).status, 200);
    assert_eq!(worker.call(Some(OPERATOR), &wrong(0)).status, 401);
}

#[test]
fn the_limit_lifts_when_the_period_is_over_and_counting_starts_again() {
    let f = Fixture::new(Backend::D1);
    let worker = Worker::new(&f);
    f.clock.advance(5_000);
    for i in 0..10 {
        // The window opens with the first failure; the last one fills it 9 s later.
        worker.call(Some(ATTACKER), &wrong(i));
        f.clock.advance(1_000);
    }
    // 10 s after the first failure, 50 s are left.
    assert_eq!(
        answer(&worker.call(Some(ATTACKER), ADMIN_TOKEN)),
        too_many(50)
    );
    f.clock.advance(49_500);
    assert_eq!(
        worker.call(Some(ATTACKER), ADMIN_TOKEN).retry_after,
        Some(1)
    );
    f.clock.advance(500);
    assert_eq!(worker.call(Some(ATTACKER), ADMIN_TOKEN).status, 200);
    for i in 0..10 {
        assert_eq!(worker.call(Some(ATTACKER), &wrong(i)).status, 401, "{i}");
    }
    assert_eq!(worker.call(Some(ATTACKER), &wrong(10)).status, 429);
}

#[test]
fn a_right_token_never_counts_and_a_limited_request_reads_nothing() {
    let f = Fixture::new(Backend::D1);
    let worker = Worker::new(&f);
    for _ in 0..20 {
        assert_eq!(worker.call(Some(OPERATOR), ADMIN_TOKEN).status, 200);
    }
    for i in 0..10 {
        worker.call(Some(ATTACKER), &wrong(i));
    }
    f.db.reset_round_trips();
    f.kv.reset_counts();
    assert_eq!(worker.call(Some(ATTACKER), ADMIN_TOKEN).status, 429);
    assert_eq!((f.db.round_trips(), f.kv.counts().total()), (0, 0));
}

#[test]
fn requests_without_a_client_address_share_one_budget() {
    let f = Fixture::new(Backend::D1);
    let worker = Worker::new(&f);
    for i in 0..10 {
        worker.call(None, &wrong(i));
    }
    assert_eq!(worker.call(None, ADMIN_TOKEN).status, 429);
    assert_eq!(worker.call(Some(OPERATOR), ADMIN_TOKEN).status, 200);
}

/// A Rate Limiting binding's stand-in: allows `limit` calls in all, counting them.
struct Binding {
    limit: u32,
    calls: Cell<u32>,
}

#[async_trait(?Send)]
impl RateLimiter for Binding {
    async fn limit(&self, _key: &str, _now_ms: i64) -> bool {
        self.calls.set(self.calls.get() + 1);
        self.calls.get() <= self.limit
    }
}

#[test]
fn with_a_binding_it_counts_the_failures_and_once_it_refuses_the_isolate_remembers_for_a_period() {
    let f = Fixture::new(Backend::D1);
    let binding = Rc::new(Binding {
        limit: 3,
        calls: Cell::new(0),
    });
    let worker = Worker {
        binding: Some(binding.clone()),
        ..Worker::new(&f)
    };
    assert_eq!(worker.call(Some(OPERATOR), ADMIN_TOKEN).status, 200);
    assert_eq!(binding.calls.get(), 0, "a right token is not counted");
    for i in 0..3 {
        assert_eq!(worker.call(Some(ATTACKER), &wrong(i)).status, 401);
    }
    assert_eq!(
        answer(&worker.call(Some(ATTACKER), &wrong(3))),
        too_many(60)
    );
    f.clock.advance(30_000);
    assert_eq!(
        answer(&worker.call(Some(ATTACKER), ADMIN_TOKEN)),
        too_many(30)
    );
    assert_eq!(
        binding.calls.get(),
        4,
        "the isolate answered without asking again"
    );
    f.clock.advance(30_000);
    assert_eq!(worker.call(Some(ATTACKER), ADMIN_TOKEN).status, 200);
}

#[test]
fn refused_attempts_are_logged_with_the_client_and_never_the_token() {
    let f = Fixture::new(Backend::D1);
    let worker = Worker::new(&f);
    let ((), lines) = logged(|| {
        for i in 0..12 {
            worker.call(Some(ATTACKER), &wrong(i));
        }
        worker.call(Some(ATTACKER), ADMIN_TOKEN);
    });
    let refusals: Vec<Value> = lines
        .iter()
        .filter(|line| line["fields"]["message"] == "admin request refused")
        .map(|line| json!([line["fields"]["client"], line["fields"]["refusal"]]))
        .collect();
    let mut expected = vec![json!([ATTACKER, "Unauthorized"]); 10];
    expected.extend(vec![
        json!([ATTACKER, "TooManyAttempts { retry_after: 60 }"]);
        3
    ]);
    assert_eq!(refusals, expected);
    let text = serde_json::to_string(&lines).unwrap();
    for secret in ["guess-", ADMIN_TOKEN, "Bearer", &ADMIN_TOKEN[..6]] {
        assert!(!text.contains(secret), "{secret:?} in {text}");
    }
}
