//! Fixtures: fresh stores per test, and a runner that holds both repository implementations to
//! the same contract.

use fear_greed_bot::app::config::Config;
use fear_greed_bot::app::App;
use fear_greed_bot::http::{Request, Response};
use fear_greed_bot::migration::{handover, Phase};
use fear_greed_bot::platform::native::{KvOp, ManualClock, MemoryKv, ScriptedHttp, SqliteDatabase};
use fear_greed_bot::platform::{
    HttpRequest, HttpResponse, KvPage, KvStore, Platform, PlatformError,
};
use fear_greed_bot::secret::Secret;
use fear_greed_bot::storage::Repos;
use serde_json::{json, Value};
use std::cell::Cell;
use std::rc::Rc;

/// The webhook secret and bot token the fixture's app is configured with.
pub const WEBHOOK_SECRET: &str = "test-webhook-secret";
pub const BOT_TOKEN: &str = "123:test-token";

/// 2024-01-15T00:00:00Z, a Monday.
pub const T0: i64 = 1_705_276_800_000;

/// `ADMIN_API_TOKEN` of the fixture's app.
pub const ADMIN_TOKEN: &str = "test-admin-token";
/// The flag cache's TTL by default (`flags.cache_ttl_seconds`).
pub const TTL_MS: i64 = 10_000;
/// When a move between `dual_write` and `shadow` made with no write running switches stores,
/// with the default TTL: a TTL and a second after it.
pub const SWITCH_MS: i64 = TTL_MS + handover::SKEW_MS;
/// When its handover is over: two TTLs and 10 s after the switch.
pub const HANDOVER_MS: i64 = SWITCH_MS + 2 * TTL_MS + handover::SPAN_MS;

/// `ADMIN_CHAT_ID` of the fixture's app (legacy §9).
pub const ADMIN: i64 = 999_999_999;

/// The stand-in base URLs of the fixture's app.
pub const TELEGRAM: &str = "http://telegram.test";
pub const CNN: &str = "http://cnn.test";
pub const YAHOO: &str = "http://yahoo.test";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Kv,
    D1,
}

/// Fresh stores, with direct handles for seeding and inspection.
pub struct Fixture {
    pub backend: Backend,
    pub kv: Rc<MemoryKv>,
    pub db: Rc<SqliteDatabase>,
    pub clock: Rc<ManualClock>,
    pub http: Rc<ScriptedHttp>,
    pub platform: Platform,
    pub repos: Repos,
    next_update_id: Cell<i64>,
}

impl Fixture {
    pub fn new(backend: Backend) -> Self {
        let kv = Rc::new(MemoryKv::new());
        let db = Rc::new(SqliteDatabase::migrated().expect("migrations apply"));
        let clock = Rc::new(ManualClock::new(T0));
        db.keep_time(&clock)
            .expect("the test clock keeps D1's time");
        let http = Rc::new(ScriptedHttp::new());
        http.answer_with(|request| Ok(telegram_ok(request)));
        let platform = Platform {
            kv: kv.clone(),
            db: db.clone(),
            clock: clock.clone(),
            http: http.clone(),
        };
        let repos = match backend {
            Backend::Kv => Repos::kv(&platform),
            Backend::D1 => Repos::d1(&platform),
        };
        Self {
            backend,
            kv,
            db,
            clock,
            http,
            platform,
            repos,
            next_update_id: Cell::new(1),
        }
    }

    pub fn app(&self) -> App {
        App::new(self.platform.clone(), self.config())
    }

    /// The configuration of [`Fixture::app`].
    pub fn config(&self) -> Config {
        Config {
            telegram_api_base_url: TELEGRAM.into(),
            bot_token: Secret::new(Some(BOT_TOKEN.into())),
            webhook_secret: Secret::new(Some(WEBHOOK_SECRET.into())),
            admin_chat_id: Some(ADMIN.to_string()),
            cnn_base_url: CNN.into(),
            yahoo_base_url: YAHOO.into(),
            admin_api_token: Secret::new(Some(ADMIN_TOKEN.into())),
            storage_phase_default: Phase::KvOnly,
            public_url: None,
            broadcast_send_spacing_ms: fear_greed_bot::fanout::SEND_SPACING_MS,
        }
    }

    /// Lets a move between `dual_write` and `shadow` made now be handed over: with the default
    /// flag-cache TTL (10 s) and no write running, it is over 41 s after the change.
    pub fn after_handover(&self) {
        self.clock.advance(HANDOVER_MS);
    }

    /// A request to the fixture's app: `method path?query` with a body and headers.
    pub fn request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Response {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let request = Request {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            headers: headers
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
            body: body.as_bytes().to_vec(),
        };
        self.handle(&request)
    }

    /// Handles one request as the worker does: the response, then the work after it.
    pub fn handle(&self, request: &Request) -> Response {
        let app = self.app();
        let response = run(app.handle(request));
        run(app.after_response());
        response
    }

    /// An admin API call with the right token; the answer's status and JSON body.
    pub fn admin(&self, method: &str, target: &str, body: &str) -> (u16, Value) {
        let bearer = format!("Bearer {ADMIN_TOKEN}");
        let response = self.request(method, target, &[("authorization", &bearer)], body);
        let json = serde_json::from_str(&response.body).expect("admin answers are JSON");
        (response.status, json)
    }

    /// Posts a message from `chat` to the webhook, with the right secret and a new update id.
    pub fn send_text(&self, chat: i64, text: &str) -> fear_greed_bot::http::Response {
        let update_id = self.next_update_id.get();
        self.next_update_id.set(update_id + 1);
        let body = json!({"update_id": update_id, "message": {"chat": {"id": chat}, "text": text}});
        self.handle(&webhook_request(
            Some(WEBHOOK_SECRET),
            body.to_string().as_bytes(),
        ))
    }

    /// Sends `text` from `chat`, expects the webhook's 200 `{"ok":true}`, and returns every
    /// message sent meanwhile with its chat; `http.sent()` then holds this update's requests.
    pub fn converse(&self, chat: i64, text: &str) -> Vec<(i64, String)> {
        self.http.clear();
        let response = self.send_text(chat, text);
        assert_eq!(
            (response.status, response.body.as_str()),
            (200, r#"{"ok":true}"#),
            "{text}"
        );
        self.sent_messages()
    }

    /// [`Fixture::converse`] for replies that all go back to `chat`: their texts, in order.
    pub fn replies(&self, chat: i64, text: &str) -> Vec<String> {
        self.converse(chat, text)
            .into_iter()
            .map(|(to, reply)| {
                assert_eq!(to, chat, "a reply to {text:?} went elsewhere");
                reply
            })
            .collect()
    }

    /// The texts of every Markdown `sendMessage` so far (every message of the bot; the
    /// on-call pages, plain text, are [`Fixture::pages`]), with the chat each went to.
    pub fn sent_messages(&self) -> Vec<(i64, String)> {
        self.send_message_bodies()
            .into_iter()
            .filter(|body| body.get("parse_mode").is_some())
            .map(|body| {
                assert_eq!(body["parse_mode"], "Markdown");
                (
                    body["chat_id"].as_i64().unwrap(),
                    body["text"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// The texts of every plain-text `sendMessage` so far (the on-call pages), with the chat
    /// each went to.
    pub fn pages(&self) -> Vec<(i64, String)> {
        self.send_message_bodies()
            .into_iter()
            .filter(|body| body.get("parse_mode").is_none())
            .map(|body| {
                (
                    body["chat_id"].as_i64().unwrap(),
                    body["text"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    fn send_message_bodies(&self) -> Vec<Value> {
        let send_message = format!("{TELEGRAM}/bot{BOT_TOKEN}/sendMessage");
        self.http
            .sent()
            .iter()
            .filter(|request| request.url == send_message)
            .map(|request| {
                let body: serde_json::Value =
                    serde_json::from_str(request.body.as_deref().unwrap()).unwrap();
                body
            })
            .collect()
    }

    pub fn clock_now(&self) -> i64 {
        fear_greed_bot::platform::Clock::now_ms(self.clock.as_ref())
    }

    /// Everything both stores hold, to show that a request changed nothing.
    pub fn storage(&self) -> Storage {
        Storage {
            kv: self.kv.entries(),
            d1: self.db.dump().expect("the database dumps"),
        }
    }

    /// Count of rows a SQL query returns, for inspecting D1 state directly.
    pub fn count(&self, sql: &'static str) -> i64 {
        let rows = run(fear_greed_bot::platform::SqlDatabase::query(
            self.db.as_ref(),
            &fear_greed_bot::platform::Statement::new(sql, vec![]),
        ))
        .expect("inspection query runs");
        rows[0]
            .values()
            .next()
            .and_then(|v| v.as_i64())
            .expect("a count")
    }
}

/// Every KV key with its value, and D1's schema and rows ([`SqliteDatabase::dump`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Storage {
    pub kv: Vec<(String, String)>,
    pub d1: Vec<String>,
}

/// What the fixture's outside world answers: Telegram accepts everything (and `getChat` finds
/// `user<id>`), CNN reads `rating`/`score`, Yahoo has the spec's linear series at `price` for
/// every ticker.
pub fn answer_market(f: &Fixture, rating: &str, score: f64, price: f64) {
    let fear_greed = json!({"rating": rating, "score": score});
    let chart = linear_chart(price);
    f.http.answer_with(move |request| {
        Ok(if request.url.starts_with(CNN) {
            ok_json(&fear_greed)
        } else if request.url.starts_with(YAHOO) {
            ok_json(&chart)
        } else {
            telegram_ok(request)
        })
    });
}

/// POSTs the admin sweep at `path` until it says it is finished; the last answer. Each step
/// stays within a Worker invocation's budget.
pub fn until_finished(f: &Fixture, path: &str, body: Value) -> Value {
    for _ in 0..200 {
        let (status, answer) = f.admin("POST", path, &body.to_string());
        assert_eq!(status, 200, "{answer}");
        assert!(answer["step"]["kv_ops"].as_u64().unwrap() <= 950);
        assert!(answer["step"]["d1_statements"].as_u64().unwrap() <= 950);
        if answer["finished"] == true {
            return answer;
        }
    }
    panic!("{path} never finished");
}

/// Telegram's success answer to `sendMessage` and `getChat`.
pub fn telegram_ok(request: &HttpRequest) -> HttpResponse {
    if request.url.ends_with("/getChat") {
        let body: Value = serde_json::from_str(request.body.as_deref().unwrap()).unwrap();
        let id = body["chat_id"].as_i64().unwrap();
        return ok_json(
            &json!({"ok": true, "result": {"id": id, "username": format!("user{id}")}}),
        );
    }
    ok_json(&json!({"ok": true, "result": {}}))
}

pub fn ok_json(body: &Value) -> HttpResponse {
    respond(200, body)
}

pub fn respond(status: u16, body: &Value) -> HttpResponse {
    HttpResponse {
        status,
        body: body.to_string(),
    }
}

/// A failed connection, as the platform reports it.
pub fn network_error() -> Result<HttpResponse, PlatformError> {
    Err(PlatformError("network connection lost".into()))
}

/// A Yahoo chart answer for `closes` (oldest first) with `high = close × 1.01` unless `highs`
/// says otherwise, and `price` as the current price.
pub fn chart_body(price: f64, closes: &[f64], highs: Option<&[f64]>) -> Value {
    let n = closes.len();
    let timestamps: Vec<i64> = (0..n as i64).map(|i| 1_700_000_000 + i * 86_400).collect();
    let highs: Vec<f64> = match highs {
        Some(h) => h.to_vec(),
        None => closes.iter().map(|c| c * 1.01).collect(),
    };
    json!({"chart": {"result": [{
        "meta": {"regularMarketPrice": price},
        "timestamp": timestamps,
        "indicators": {"quote": [{
            "open": closes.iter().map(|c| c * 0.999).collect::<Vec<_>>(),
            "high": highs,
            "low": closes.iter().map(|c| c * 0.99).collect::<Vec<_>>(),
            "close": closes,
            "volume": vec![1e6; n],
        }]}
    }], "error": null}})
}

/// The spec's linear series (legacy §9.10): 200 closes `400 - (200 - i)·0.5`, with `price` as
/// the current price (the dumps of Appendix A use 380).
pub fn linear_chart(price: f64) -> Value {
    let closes: Vec<f64> = (0..200).map(|i| 400.0 - f64::from(200 - i) * 0.5).collect();
    chart_body(price, &closes, None)
}

/// A `POST /` with an optional secret header and a raw body.
pub fn webhook_request(secret: Option<&str>, body: &[u8]) -> Request {
    Request {
        method: "POST".into(),
        path: "/".into(),
        query: String::new(),
        headers: secret
            .map(|s| vec![("x-telegram-bot-api-secret-token".to_owned(), s.to_owned())])
            .unwrap_or_default(),
        body: body.to_vec(),
    }
}

/// Runs a future to completion: every native platform call resolves immediately.
pub fn run<F: std::future::Future>(future: F) -> F::Output {
    futures::executor::block_on(future)
}

/// Runs `check` against the KV and the D1 implementation, each on fresh stores.
pub fn contract(check: impl AsyncFn(&Fixture)) {
    for backend in [Backend::Kv, Backend::D1] {
        let fixture = Fixture::new(backend);
        run(check(&fixture));
    }
}

/// What a test makes happen right after one call of a [`HookedKv`]: a user's write landing in
/// the middle of a sweep.
#[async_trait::async_trait(?Send)]
pub trait KvHook {
    async fn after(&self, op: KvOp, key: &str);
}

/// A KV namespace that serves every call from `inner`, then runs `hook`.
pub struct HookedKv<H> {
    pub inner: Rc<dyn KvStore>,
    pub hook: Rc<H>,
}

#[async_trait::async_trait(?Send)]
impl<H: KvHook> KvStore for HookedKv<H> {
    async fn get(&self, key: &str) -> Result<Option<String>, PlatformError> {
        let value = self.inner.get(key).await;
        self.hook.after(KvOp::Get, key).await;
        value
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), PlatformError> {
        let put = self.inner.put(key, value).await;
        self.hook.after(KvOp::Put, key).await;
        put
    }

    async fn delete(&self, key: &str) -> Result<(), PlatformError> {
        let deleted = self.inner.delete(key).await;
        self.hook.after(KvOp::Delete, key).await;
        deleted
    }

    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<KvPage, PlatformError> {
        let page = self.inner.list(prefix, cursor, limit).await;
        self.hook.after(KvOp::List, prefix).await;
        page
    }
}
