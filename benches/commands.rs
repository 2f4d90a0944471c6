//! Storage operations and outbound requests per webhook command, and the cost of one broadcast
//! to 1,000 subscribers, counted on the native platform (the same code paths as in workerd,
//! with KV in memory and D1 on SQLite). Counts do not depend on the machine; wall time does.
//!
//! Run with `cargo bench --bench commands` (or `bash scripts/bench.sh`, which also measures
//! latency in workerd).

use fear_greed_bot::app::config::Config;
use fear_greed_bot::app::App;
use fear_greed_bot::http::Request;
use fear_greed_bot::platform::native::{ManualClock, MemoryKv, ScriptedHttp, SqliteDatabase};
use fear_greed_bot::platform::{HttpResponse, Platform};
use fear_greed_bot::secret::Secret;
use serde_json::{json, Value};
use std::cell::Cell;
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
    /// What `app` was built from, for an app with a queue.
    platform: Platform,
    config: Config,
    update_id: Cell<i64>,
    /// KV and D1 calls when the first reply went out, once it has.
    at_reply: Rc<Cell<Option<(u64, u64)>>>,
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
        let at_reply = Rc::new(Cell::new(None));
        let (kv_seen, db_seen, reply_seen) = (kv.clone(), db.clone(), at_reply.clone());
        http.answer_with(move |request| {
            // The first reply's storage calls so far: the command's critical path.
            if request.url.ends_with("/sendMessage") && reply_seen.get().is_none() {
                reply_seen.set(Some((kv_seen.counts().total(), db_seen.round_trips())));
            }
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
            public_url: None,
            broadcast_send_spacing_ms: fear_greed_bot::fanout::SEND_SPACING_MS,
        };
        Self {
            kv,
            db,
            http,
            app: App::new(platform.clone(), config.clone()),
            platform,
            config,
            update_id: Cell::new(1),
            at_reply,
        }
    }

    /// Every repository in `phase`, as the `settings` table says. `shadow` and `d1_only` are
    /// entered as operators enter them, through the guard rails: the history row the admin API
    /// writes for an unforced move, so D1 is vouched for (MIGRATION.md, "Shadow reads").
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
            if matches!(phase, "shadow" | "d1_only") {
                self.db
                    .run_script(&format!(
                        "INSERT INTO settings_history (key, old_value, new_value, changed_at, changed_by, forced) \
                         VALUES ('storage.phase.{repository}', 'dual_write', '{phase}', 0, 'bench', 0)"
                    ))
                    .expect("settings history row");
            }
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
        self.at_reply.set(None);
    }
}

/// What one command cost: storage calls before its reply (the critical path) and before its
/// response, D1 calls after the response (the claim marked done, the shadow evidence), and
/// outbound requests.
#[derive(Clone, Copy, Default)]
struct Cost {
    kv_get: u64,
    kv_put: u64,
    kv_delete: u64,
    /// KV and D1 calls before the first reply was sent (all of them when none was).
    kv_reply: u64,
    d1_reply: u64,
    d1: u64,
    /// Of `d1`, the writes (`execute` or `batch` calls).
    d1_writes: u64,
    d1_after: u64,
    outbound: usize,
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
    // command. A read that writes nothing, and touches storage (`/help` reads no flags).
    bench.say("/executions");
    for step in setup {
        bench.say(step);
    }
    bench.reset();
    bench.say_only(text);
    let (kv, d1, d1_writes) = (bench.kv.counts(), bench.db.round_trips(), bench.db.writes());
    let (kv_reply, d1_reply) = bench.at_reply.get().unwrap_or((kv.total(), d1));
    bench.db.reset_round_trips();
    futures::executor::block_on(bench.app.after_response());
    let sent = bench.http.sent();
    Cost {
        kv_get: kv.get,
        kv_put: kv.put,
        kv_delete: kv.delete,
        kv_reply,
        d1_reply,
        d1,
        d1_writes,
        d1_after: bench.db.round_trips(),
        outbound: sent.len(),
    }
}

const PHASES: [&str; 4] = ["kv_only", "dual_write", "shadow", "d1_only"];

/// Commands that change a user's data: in KV phases their claim is the one D1 call allowed
/// before the reply.
fn writes(text: &str) -> bool {
    [
        "/start",
        "/stop",
        "/execute",
        "/watchlist add",
        "/watchlist remove",
        "/subscribers",
    ]
    .iter()
    .any(|prefix| text.starts_with(prefix))
}

/// The targets a command's cost in `phase` misses (the performance issue's critical path):
/// `/help` touches no storage before its reply; `kv_only` makes no D1 call before the reply
/// but a writing command's claim; `dual_write` makes no more KV or D1 calls before the reply
/// than `kv_only` (D1's writes wait for the replies); `shadow` makes no KV call and no more D1
/// calls before the reply than `d1_only` (KV is compared after the replies); in `d1_only` a
/// command makes no more D1 calls than its KV operations in `kv_only` and writes in at most
/// one batch.
fn misses(
    text: &str,
    phase: &str,
    cost: &Cost,
    kv_only: &Cost,
    d1_only: &Cost,
) -> Vec<&'static str> {
    let mut missed = Vec::new();
    if text == "/help" && cost.kv_reply + cost.d1_reply > 0 {
        missed.push("/help touches storage");
    }
    if phase == "kv_only" && cost.d1_reply > u64::from(writes(text)) {
        missed.push("kv_only asks D1 before the reply");
    }
    let longer = cost.kv_reply > kv_only.kv_reply || cost.d1_reply > kv_only.d1_reply;
    if phase == "dual_write" && longer {
        missed.push("dual_write: more storage calls before the reply than kv_only");
    }
    if phase == "shadow" && (cost.kv_reply > 0 || cost.d1_reply > d1_only.d1_reply) {
        missed.push("shadow: KV, or more D1 calls than d1_only, before the reply");
    }
    if phase == "d1_only" && text != "hello" && (cost.d1 > kv_only.kv() || cost.d1_writes > 1) {
        missed.push("d1_only: more D1 calls than KV operations, or more than one write");
    }
    missed
}

fn main() {
    println!(
        "Per webhook command and phase (Fear & Greed `Fear`, a chat with a 2-ticker watchlist)."
    );
    println!("reply kv/d1 = storage calls before the first reply is sent (the critical path);");
    println!("d1 = D1 calls before the response; writes = of those, execute or batch calls;");
    println!("after = D1 calls after the response (the claim marked done, shadow evidence).");
    println!("check: /help touches no storage; kv_only asks D1 nothing before the reply but a");
    println!("writing command's claim; dual_write makes no more calls before the reply than");
    println!("kv_only; shadow (entered through the guard rails) makes no KV call and no more D1");
    println!(
        "calls before the reply than d1_only; d1_only makes no more D1 calls than kv_only's KV"
    );
    println!("operations and writes in at most one batch.");
    println!(
        "{:<28} {:<11} {:>6} {:>6} {:>6} {:>8} {:>8} {:>4} {:>6} {:>6} {:>9} {:>6}",
        "command",
        "phase",
        "kv get",
        "kv put",
        "kv del",
        "reply kv",
        "reply d1",
        "d1",
        "writes",
        "after",
        "outbound",
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
    let mut over = Vec::new();
    for (label, setup) in commands {
        let text = label.split(" (").next().unwrap_or(label);
        let kv_only = measure("kv_only", setup, text);
        let d1_only = measure("d1_only", setup, text);
        for phase in PHASES {
            let cost = measure(phase, setup, text);
            let missed = misses(text, phase, &cost, &kv_only, &d1_only);
            let check = if missed.is_empty() { "ok" } else { "OVER" };
            if !missed.is_empty() {
                over.push(format!("{label} in {phase}: {}", missed.join(", ")));
            }
            println!(
                "{label:<28} {phase:<11} {:>6} {:>6} {:>6} {:>8} {:>8} {:>4} {:>6} {:>6} {:>9} {:>6}",
                cost.kv_get,
                cost.kv_put,
                cost.kv_delete,
                cost.kv_reply,
                cost.d1_reply,
                cost.d1,
                cost.d1_writes,
                cost.d1_after,
                cost.outbound,
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
    queued_broadcast(&mut over);
    if !over.is_empty() {
        eprintln!("over the targets:\n{}", over.join("\n"));
        std::process::exit(1);
    }
}

/// The most a queued broadcast's invocation may spend: subrequests (outbound calls, KV and D1
/// calls, `sendBatch` calls) and storage operations (docs/broadcast-queue.md).
const INVOCATION_BUDGET: u64 = 1_000;
/// Telegram's broadcast rate, messages a second, for the delivery-time model.
const TELEGRAM_RATE: f64 = 30.0;

/// What one invocation spent.
#[derive(Clone, Copy, Default, PartialEq)]
struct Spent {
    outbound: u64,
    kv: u64,
    d1: u64,
    send_batches: u64,
}

impl Spent {
    fn subrequests(&self) -> u64 {
        self.outbound + self.kv + self.d1 + self.send_batches
    }

    fn storage(&self) -> u64 {
        self.kv + self.d1
    }

    fn max(self, other: Self) -> Self {
        if other.subrequests() > self.subrequests() {
            other
        } else {
            self
        }
    }
}

/// `subscribers` chats (a third watch SPY, a third SPY+AAPL, a third SPY+AAPL+MSFT) stored as
/// `phase` reads them: KV (`chat_ids`, `watchlist:<id>`) or D1 (rows written in bulk).
fn seed_audience(bench: &Bench, phase: &str, subscribers: i64) {
    bench.in_phase(phase);
    if phase == "kv_only" {
        let ids: Vec<i64> = (1..=subscribers).collect();
        bench
            .kv
            .seed("chat_ids", &serde_json::to_string(&ids).unwrap());
        for id in ids {
            let list = [
                "[\"SPY\"]",
                "[\"SPY\",\"AAPL\"]",
                "[\"SPY\",\"AAPL\",\"MSFT\"]",
            ];
            bench
                .kv
                .seed(&format!("watchlist:{id}"), list[(id % 3) as usize]);
        }
        return;
    }
    bench
        .db
        .run_script(&format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {subscribers})
             INSERT INTO users (chat_id, subscription_status, subscribed_seq, created_at, updated_at)
             SELECT CAST(i AS TEXT), 1, i, 0, 0 FROM n;
             INSERT INTO watchlists (chat_id, ticker, created_at) SELECT chat_id, 'SPY', 0 FROM users;
             INSERT INTO watchlists (chat_id, ticker, created_at)
             SELECT chat_id, 'AAPL', 0 FROM users WHERE CAST(chat_id AS INTEGER) % 3 != 0;
             INSERT INTO watchlists (chat_id, ticker, created_at)
             SELECT chat_id, 'MSFT', 0 FROM users WHERE CAST(chat_id AS INTEGER) % 3 = 2;"
        ))
        .expect("the audience");
}

/// One queued broadcast to `subscribers` chats in `phase`: the producer's invocation, then the
/// consumer's, one queue batch ([`MAX_BATCH_SIZE`] messages) each; at most `batches` of them
/// (the rest of a large run spends as they do: each batch holds the same number of chats).
/// Returns the producer's spending, the largest consumer invocation's, the run's D1 round trips
/// (those not run counted as the last one run: the first invocations keep the run's charts),
/// the consumer invocations run, those the run needs, and the Telegram messages those run sent.
fn queued_run(phase: &str, subscribers: i64, batches: usize) -> (Spent, Spent, u64, u64, u64, u64) {
    use fear_greed_bot::app::queued::Delivery;
    use fear_greed_bot::fanout::MAX_BATCH_SIZE;
    use fear_greed_bot::platform::native::MemoryQueue;
    let bench = Bench::new("Fear");
    seed_audience(&bench, phase, subscribers);
    let queue = Rc::new(MemoryQueue::default());
    let app = App::new(bench.platform.clone(), bench.config.clone()).with_queue(queue.clone());
    let spent = |calls_before: usize| {
        let sent = bench.http.sent();
        let spent = Spent {
            outbound: sent.len() as u64,
            kv: bench.kv.counts().total(),
            d1: bench.db.round_trips(),
            send_batches: (queue.calls().len() - calls_before) as u64,
        };
        let messages = sent
            .iter()
            .filter(|r| r.url.ends_with("/sendMessage"))
            .count() as u64;
        bench.reset();
        (spent, messages)
    };
    bench.reset();
    futures::executor::block_on(app.on_cron("0 9 * * 1-5"));
    futures::executor::block_on(app.after_response());
    let (producer, _) = spent(0);
    let needed = queue.len().div_ceil(MAX_BATCH_SIZE) as u64;
    let (mut consumer, mut ran, mut messages) = (Spent::default(), 0, 0);
    let (mut run_d1, mut last_d1) = (producer.d1, 0);
    while !queue.is_empty() && ran < batches as u64 {
        let deliveries: Vec<Delivery> = queue
            .take(MAX_BATCH_SIZE)
            .into_iter()
            .map(|body| Delivery { body, age_ms: 0 })
            .collect();
        let calls = queue.calls().len();
        // Each invocation on a fresh isolate: its flags read again, as the worst case.
        let app = App::new(bench.platform.clone(), bench.config.clone());
        futures::executor::block_on(app.on_queue(&deliveries));
        futures::executor::block_on(app.after_response());
        let (spent, sent) = spent(calls);
        (run_d1, last_d1) = (run_d1 + spent.d1, spent.d1);
        consumer = consumer.max(spent);
        messages += sent;
        ran += 1;
    }
    run_d1 += last_d1 * (needed - ran);
    (producer, consumer, run_d1, ran, needed, messages)
}

/// The queued broadcast's counts (docs/broadcast-queue.md): per invocation, subrequests and
/// storage operations at 10,000 subscribers (every consumer invocation run) and a simulated
/// 100,000 (the producer run in full, three consumer invocations: each holds as many chats at
/// any audience size); D1 round trips per run in `d1_only`; and how long Telegram's 30 messages
/// a second make the delivery, from the messages a chat gets here. Adds to `over` each count
/// above [`INVOCATION_BUDGET`].
fn queued_broadcast(over: &mut Vec<String>) {
    println!();
    println!("Queued broadcast, per invocation (subrequests: outbound + KV + D1 + sendBatch; storage: KV + D1; budget {INVOCATION_BUDGET}):");
    println!(
        "{:<10} {:>11} {:<9} {:>5} {:>5} {:>5} {:>6} {:>12} {:>8}",
        "phase", "subscribers", "invoker", "out", "kv", "d1", "batch", "subrequests", "storage"
    );
    let mut per_chat = 0.0;
    for phase in ["kv_only", "d1_only"] {
        for (subscribers, batches, label) in
            [(10_000, usize::MAX, "10^4"), (100_000, 3, "10^5 sim")]
        {
            let (producer, consumer, run_d1, ran, needed, messages) =
                queued_run(phase, subscribers, batches);
            for (who, spent) in [("producer", producer), ("consumer", consumer)] {
                println!(
                    "{phase:<10} {label:>11} {who:<9} {:>5} {:>5} {:>5} {:>6} {:>12} {:>8}",
                    spent.outbound,
                    spent.kv,
                    spent.d1,
                    spent.send_batches,
                    spent.subrequests(),
                    spent.storage()
                );
                if spent.subrequests() > INVOCATION_BUDGET || spent.storage() > INVOCATION_BUDGET {
                    over.push(format!(
                        "queued broadcast, {phase}, {label} subscribers: the {who}'s invocation makes {} subrequests, {} storage operations (budget {INVOCATION_BUDGET})",
                        spent.subrequests(),
                        spent.storage()
                    ));
                }
            }
            if phase == "d1_only" {
                println!(
                    "{phase:<10} {label:>11} D1 round trips per run: {run_d1} (producer {}, {} consumer invocations, at most {} each)",
                    producer.d1, needed, consumer.d1
                );
            }
            if ran == needed {
                per_chat = messages as f64 / subscribers as f64;
            }
        }
    }
    println!("Delivery time at Telegram's {TELEGRAM_RATE} messages a second ({per_chat:.2} messages a subscriber, as seeded here):");
    for subscribers in [1_000_u32, 10_000, 100_000] {
        let seconds = f64::from(subscribers) * per_chat / TELEGRAM_RATE;
        println!(
            "  {subscribers:>7} subscribers: {:>7.0} messages, {:>6.1} min; at the consumer's 25 a second {:>6.1} min",
            f64::from(subscribers) * per_chat,
            seconds / 60.0,
            f64::from(subscribers) * per_chat / 25.0 / 60.0
        );
    }
}
