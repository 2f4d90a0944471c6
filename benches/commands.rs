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

    /// Every repository in `phase`, as the `settings` table says.
    fn in_phase(&self, phase: &str) {
        for repository in [
            "subscriptions",
            "watchlists",
            "executions",
            "positions",
            "cache",
        ] {
            self.db
                .run_script(&format!(
                    "INSERT INTO settings (key, value, updated_at, updated_by) VALUES ('storage.phase.{repository}', '{phase}', 0, 'bench')"
                ))
                .expect("settings row");
        }
    }

    /// A command and the work after its response.
    fn say(&self, text: &str) {
        self.say_only(text);
        futures::executor::block_on(self.app.after_response());
    }

    /// A command, without the work after its response.
    fn say_only(&self, text: &str) {
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

/// What one command cost: storage calls on the request path, D1 calls after the response
/// (the shadow evidence), and outbound requests.
#[derive(Clone, Copy, Default)]
struct Cost {
    kv_get: u64,
    kv_put: u64,
    kv_delete: u64,
    d1: u64,
    /// Of `d1`, the writes (`execute` or `batch` calls).
    d1_writes: u64,
    d1_after: u64,
    outbound: usize,
    telegram: usize,
}

impl Cost {
    fn kv(&self) -> u64 {
        self.kv_get + self.kv_put + self.kv_delete
    }
}

/// Runs `setup` then `text` from a fresh bot with every repository in `phase`.
fn measure(phase: &str, setup: &[&str], text: &str) -> Cost {
    let bench = Bench::new("Fear");
    bench.in_phase(phase);
    // Warms the isolate's flag cache: a live worker reads `settings` once per TTL, not per
    // command.
    bench.say("/help");
    for step in setup {
        bench.say(step);
    }
    bench.reset();
    bench.say_only(text);
    let (kv, d1, d1_writes) = (bench.kv.counts(), bench.db.round_trips(), bench.db.writes());
    bench.db.reset_round_trips();
    futures::executor::block_on(bench.app.after_response());
    let sent = bench.http.sent();
    Cost {
        kv_get: kv.get,
        kv_put: kv.put,
        kv_delete: kv.delete,
        d1,
        d1_writes,
        d1_after: bench.db.round_trips(),
        outbound: sent.len(),
        telegram: sent
            .iter()
            .filter(|r| r.url.contains("telegram.bench"))
            .count(),
    }
}

const PHASES: [&str; 4] = ["kv_only", "dual_write", "shadow", "d1_only"];

fn main() {
    println!(
        "Per webhook command and phase (Fear & Greed `Fear`, a chat with a 2-ticker watchlist)."
    );
    println!(
        "d1 = D1 calls on the request path, of which 2 claim and finish the update (`/help` shows"
    );
    println!(
        "the baseline); writes = the command's own D1 writes (execute or batch calls, claim and"
    );
    println!("finish left out); after = D1 calls after the response (shadow evidence); check = in");
    println!(
        "d1_only, D1 storage calls ≤ the KV operations of the same command in kv_only, and the"
    );
    println!("command's writes in at most one batch.");
    println!(
        "{:<28} {:<11} {:>6} {:>6} {:>6} {:>4} {:>6} {:>6} {:>9} {:>9} {:>6}",
        "command",
        "phase",
        "kv get",
        "kv put",
        "kv del",
        "d1",
        "writes",
        "after",
        "outbound",
        "telegram",
        "check"
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
    let baseline: Vec<Cost> = PHASES
        .iter()
        .map(|phase| measure(phase, &[], "/help"))
        .collect();
    let mut over = Vec::new();
    for (label, setup) in commands {
        let text = label.split(" (").next().unwrap_or(label);
        let kv_only = measure("kv_only", setup, text);
        for (phase, claims) in PHASES.iter().zip(&baseline) {
            let cost = measure(phase, setup, text);
            let writes = cost.d1_writes.saturating_sub(claims.d1_writes);
            let check = if *phase != "d1_only" || text == "hello" {
                ""
            } else if cost.d1.saturating_sub(claims.d1) <= kv_only.kv() && writes <= 1 {
                "ok"
            } else {
                over.push(*label);
                "OVER"
            };
            println!(
                "{label:<28} {phase:<11} {:>6} {:>6} {:>6} {:>4} {:>6} {:>6} {:>9} {:>9} {:>6}",
                cost.kv_get,
                cost.kv_put,
                cost.kv_delete,
                cost.d1,
                writes,
                cost.d1_after,
                cost.outbound,
                cost.telegram,
                check
            );
        }
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
    if !over.is_empty() {
        eprintln!("over the d1_only targets: {over:?}");
        std::process::exit(1);
    }
}
