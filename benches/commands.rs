//! Storage operations and outbound requests per webhook command, and the cost of one broadcast
//! to 1,000 subscribers, counted on the native platform (the same code paths as in workerd,
//! with KV in memory and D1 on SQLite). Counts do not depend on the machine; wall time does.
//!
//! Run with `cargo bench --bench commands` (or `bash scripts/bench.sh`, which also measures
//! latency in workerd).

use fear_greed_bot::app::config::{Config, Secret};
use fear_greed_bot::app::http::Request;
use fear_greed_bot::app::App;
use fear_greed_bot::platform::native::{ManualClock, MemoryKv, ScriptedHttp, SqliteDatabase};
use fear_greed_bot::platform::{HttpResponse, Platform};
use serde_json::{json, Value};
use std::rc::Rc;
use std::time::Instant;

const SECRET: &str = "bench-secret";
const CHAT: i64 = 123_456_789;
/// Tuesday 2026-11-24T09:00Z: a trading day.
const NOW: i64 = 1_795_510_800_000;

struct Bench {
    kv: Rc<MemoryKv>,
    db: Rc<SqliteDatabase>,
    http: Rc<ScriptedHttp>,
    app: App,
    update_id: std::cell::Cell<i64>,
}

fn chart(price: f64) -> Value {
    let closes: Vec<f64> = (0..200).map(|i| price - f64::from(200 - i) * 0.5).collect();
    json!({"chart": {"result": [{
        "meta": {"regularMarketPrice": price},
        "timestamp": (0..200).map(|i| 1_700_000_000 + i * 86_400).collect::<Vec<i64>>(),
        "indicators": {"quote": [{
            "open": closes, "high": closes.iter().map(|c| c * 1.01).collect::<Vec<_>>(),
            "low": closes.iter().map(|c| c * 0.99).collect::<Vec<_>>(), "close": closes,
            "volume": vec![1e6; 200]
        }]}
    }], "error": null}})
}

impl Bench {
    fn new(rating: &'static str) -> Self {
        let kv = Rc::new(MemoryKv::new());
        let db = Rc::new(SqliteDatabase::migrated().expect("migrations apply"));
        let http = Rc::new(ScriptedHttp::new());
        let chart = chart(380.0).to_string();
        http.answer_with(move |request| {
            let body = if request.url.contains("/index/fearandgreed/") {
                json!({"rating": rating, "score": 25.0}).to_string()
            } else if request.url.contains("/v8/finance/chart/") {
                chart.clone()
            } else if request.url.ends_with("/getChat") {
                json!({"ok": true, "result": {"username": "someone"}}).to_string()
            } else {
                r#"{"ok":true,"result":{}}"#.to_owned()
            };
            Ok(HttpResponse { status: 200, body })
        });
        let platform = Platform {
            kv: kv.clone(),
            db: db.clone(),
            clock: Rc::new(ManualClock::new(NOW)),
            http: http.clone(),
        };
        let config = Config {
            telegram_api_base_url: "http://telegram.bench".into(),
            bot_token: Secret::new(Some("1:bench".into())),
            webhook_secret: Secret::new(Some(SECRET.into())),
            admin_chat_id: Some(CHAT.to_string()),
            cnn_base_url: "http://cnn.bench".into(),
            yahoo_base_url: "http://yahoo.bench".into(),
            admin_api_token: None,
            storage_phase_default: fear_greed_bot::migration::Phase::KvOnly,
        };
        Self {
            kv,
            db,
            http,
            app: App::new(platform, config),
            update_id: std::cell::Cell::new(1),
        }
    }

    fn say(&self, text: &str) {
        let id = self.update_id.get();
        self.update_id.set(id + 1);
        let body = json!({"update_id": id, "message": {"chat": {"id": CHAT}, "text": text}});
        let request = Request {
            method: "POST".into(),
            path: "/".into(),
            query: String::new(),
            headers: vec![("x-telegram-bot-api-secret-token".into(), SECRET.into())],
            body: body.to_string().into_bytes(),
        };
        let response = futures::executor::block_on(self.app.handle(&request));
        assert_eq!(response.status, 200, "{text}: {}", response.body);
    }

    fn reset(&self) {
        self.kv.reset_counts();
        self.db.reset_round_trips();
        self.http.clear();
    }
}

fn main() {
    println!(
        "Per webhook command (KV storage, Fear & Greed `Fear`, a chat with a 2-ticker watchlist):"
    );
    println!(
        "{:<28} {:>7} {:>7} {:>7} {:>9} {:>9} {:>9}",
        "command", "kv get", "kv put", "kv del", "d1 trips", "outbound", "telegram"
    );
    let commands: &[(&str, &[&str])] = &[
        ("/start (new)", &[]),
        ("/start (again)", &["/start"]),
        ("/stop", &["/start"]),
        ("/help", &[]),
        ("/watchlist", &["/watchlist add AAPL"]),
        ("/watchlist add MSFT", &["/watchlist add AAPL"]),
        ("/watchlist remove AAPL", &["/watchlist add AAPL"]),
        ("/now", &["/watchlist add AAPL"]),
        ("/now (cached index)", &["/watchlist add AAPL", "/now SPY"]),
        ("/now AAPL", &["/watchlist add AAPL"]),
        ("/execute SPY 400.5", &["/watchlist add AAPL"]),
        ("/execute SPY 410 (limited)", &["/execute SPY 400.5"]),
        ("/executions", &["/execute SPY 400.5"]),
        ("/subscribers", &["/start"]),
        ("hello (ignored)", &[]),
    ];
    for (label, setup) in commands {
        let bench = Bench::new("Fear");
        for text in *setup {
            bench.say(text);
        }
        let text = label.split(" (").next().unwrap_or(label);
        bench.reset();
        bench.say(text);
        let kv = bench.kv.counts();
        let sent = bench.http.sent();
        let telegram = sent
            .iter()
            .filter(|r| r.url.contains("telegram.bench"))
            .count();
        println!(
            "{label:<28} {:>7} {:>7} {:>7} {:>9} {:>9} {:>9}",
            kv.get,
            kv.put,
            kv.delete,
            bench.db.round_trips(),
            sent.len(),
            telegram
        );
    }

    println!();
    println!("One broadcast run, 1,000 subscribers (a third watch SPY, a third SPY+AAPL, a third SPY+AAPL+MSFT):");
    println!(
        "{:<10} {:>8} {:>8} {:>9} {:>9} {:>8} {:>8} {:>10}",
        "rating", "kv get", "kv put", "d1 trips", "outbound", "charts", "sent", "wall ms"
    );
    for rating in ["Fear", "Greed"] {
        let bench = Bench::new(rating);
        let ids: Vec<i64> = (1..=1000).collect();
        bench
            .kv
            .seed("chat_ids", &serde_json::to_string(&ids).unwrap());
        for id in &ids {
            let list = match id % 3 {
                0 => r#"["SPY"]"#,
                1 => r#"["SPY","AAPL"]"#,
                _ => r#"["SPY","AAPL","MSFT"]"#,
            };
            bench.kv.seed(&format!("watchlist:{id}"), list);
        }
        bench.reset();
        let started = Instant::now();
        futures::executor::block_on(bench.app.on_cron("0 9 * * 1-5"));
        let wall = started.elapsed().as_millis();
        let kv = bench.kv.counts();
        let sent = bench.http.sent();
        let charts = sent
            .iter()
            .filter(|r| r.url.contains("/v8/finance/chart/"))
            .count();
        let messages = sent
            .iter()
            .filter(|r| r.url.ends_with("/sendMessage"))
            .count();
        println!(
            "{rating:<10} {:>8} {:>8} {:>9} {:>9} {:>8} {:>8} {:>10}",
            kv.get,
            kv.put,
            bench.db.round_trips(),
            sent.len(),
            charts,
            messages,
            wall
        );
    }
}
