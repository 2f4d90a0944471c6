//! Fixtures: fresh stores per test, and a runner that holds both repository implementations to
//! the same contract.

use fear_greed_bot::app::config::{Config, Secret};
use fear_greed_bot::app::http::Request;
use fear_greed_bot::app::App;
use fear_greed_bot::platform::native::{ManualClock, MemoryKv, ScriptedHttp, SqliteDatabase};
use fear_greed_bot::platform::Platform;
use fear_greed_bot::storage::Repos;
use std::rc::Rc;

/// The webhook secret and bot token the fixture's app is configured with.
pub const WEBHOOK_SECRET: &str = "test-webhook-secret";
pub const BOT_TOKEN: &str = "123:test-token";

/// 2024-01-15T00:00:00Z, a Monday.
pub const T0: i64 = 1_705_276_800_000;

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
}

impl Fixture {
    pub fn new(backend: Backend) -> Self {
        let kv = Rc::new(MemoryKv::new());
        let db = Rc::new(SqliteDatabase::migrated().expect("migrations apply"));
        let clock = Rc::new(ManualClock::new(T0));
        let http = Rc::new(ScriptedHttp::new());
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
        }
    }

    pub fn app(&self) -> App {
        let config = Config {
            telegram_api_base_url: "http://telegram.test".into(),
            bot_token: Secret::new(Some(BOT_TOKEN.into())),
            webhook_secret: Secret::new(Some(WEBHOOK_SECRET.into())),
        };
        App::new(self.platform.clone(), config)
    }

    /// Posts a message from `chat` to the webhook, with the right secret.
    pub fn send_text(&self, chat: i64, text: &str) -> fear_greed_bot::app::http::Response {
        let body =
            serde_json::json!({"update_id": 1, "message": {"chat": {"id": chat}, "text": text}});
        run(self.app().handle(&webhook_request(
            Some(WEBHOOK_SECRET),
            body.to_string().as_bytes(),
        )))
    }

    /// The texts of every `sendMessage` so far, with the chat each went to.
    pub fn sent_messages(&self) -> Vec<(i64, String)> {
        self.http
            .sent()
            .iter()
            .map(|request| {
                assert_eq!(
                    request.url,
                    format!("http://telegram.test/bot{BOT_TOKEN}/sendMessage")
                );
                let body: serde_json::Value =
                    serde_json::from_str(request.body.as_deref().unwrap()).unwrap();
                assert_eq!(body["parse_mode"], "Markdown");
                (
                    body["chat_id"].as_i64().unwrap(),
                    body["text"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
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

/// A `POST /` with an optional secret header and a raw body.
pub fn webhook_request(secret: Option<&str>, body: &[u8]) -> Request {
    Request {
        method: "POST".into(),
        path: "/".into(),
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
