//! The broadcast through a queue (docs/broadcast-queue.md), on the in-memory queue: every chat
//! gets exactly the inline run's messages, in order, once, whatever the queue redelivers and
//! whatever Telegram answers.

use crate::helpers::{
    answer_market, linear_chart, ok_json, respond, run, telegram_ok, Backend, Fixture, ADMIN,
    BOT_TOKEN, CNN, YAHOO,
};
use fear_greed_bot::app::broadcast::Broadcast;
use fear_greed_bot::app::config::Config;
use fear_greed_bot::app::cron::CronOutcome;
use fear_greed_bot::app::queued::{Delivery, Verdict};
use fear_greed_bot::app::App;
use fear_greed_bot::domain::{ChatId, Position};
use fear_greed_bot::fanout::{QueueMessage, MAX_BATCH_SIZE};
use fear_greed_bot::migration::Phase;
use fear_greed_bot::platform::native::MemoryQueue;
use fear_greed_bot::platform::HttpResponse;
use serde_json::json;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;

const TUESDAY_2024_03_05_1400: i64 = 1_709_647_200_000;
const SUBSCRIBERS: i64 = 200;

/// A fixture whose app runs in the phase of its backend, with `SUBSCRIBERS` subscribers of
/// one, two or three tickers (some holding a position), in fear.
fn seeded(backend: Backend) -> Fixture {
    seeded_with(backend, SUBSCRIBERS)
}

/// [`seeded`] with `subscribers` subscribers.
fn seeded_with(backend: Backend, subscribers: i64) -> Fixture {
    let f = Fixture::new(backend);
    f.clock.set(TUESDAY_2024_03_05_1400);
    answer_market(&f, "Fear", 25.0, 380.0);
    run(async {
        for chat in 1..=subscribers {
            let id = ChatId::new(chat);
            f.repos.subscriptions.subscribe(id).await.unwrap();
            match chat % 3 {
                0 => {}
                1 => {
                    f.repos.watchlists.add(id, "AAPL").await.unwrap();
                }
                _ => {
                    f.repos.watchlists.add(id, "MSFT").await.unwrap();
                    f.repos.watchlists.add(id, "QQQ").await.unwrap();
                }
            }
            if chat % 7 == 0 {
                let position = Position {
                    ticker: "SPY".into(),
                    entry_price: Some(500.0),
                };
                f.repos.positions.set_position(id, &position).await.unwrap();
            }
        }
    });
    f.http.clear();
    f
}

fn app(f: &Fixture) -> App {
    let phase = match f.backend {
        Backend::Kv => Phase::KvOnly,
        Backend::D1 => Phase::D1Only,
    };
    App::new(
        f.platform.clone(),
        Config {
            storage_phase_default: phase,
            ..f.config()
        },
    )
}

fn cron(app: &App) -> Broadcast {
    match run(app.on_cron("0 9 * * 1-5")) {
        CronOutcome::Broadcast(outcome) => outcome,
        other => panic!("not a broadcast: {other:?}"),
    }
}

/// Every chat's messages, in the order it got them.
fn by_chat(sent: &[(i64, String)]) -> BTreeMap<i64, Vec<String>> {
    let mut chats: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (chat, text) in sent {
        chats.entry(*chat).or_default().push(text.clone());
    }
    chats
}

/// What the inline run sends to each chat.
fn inline(backend: Backend) -> BTreeMap<i64, Vec<String>> {
    inline_with(backend, SUBSCRIBERS)
}

fn inline_with(backend: Backend, subscribers: i64) -> BTreeMap<i64, Vec<String>> {
    let f = seeded_with(backend, subscribers);
    cron(&app(&f));
    by_chat(&f.sent_messages())
}

fn deliveries(bodies: Vec<String>) -> Vec<Delivery> {
    bodies
        .into_iter()
        .map(|body| Delivery { body, age_ms: 0 })
        .collect()
}

/// Enqueues the run and drains the queue a consumer batch at a time, retrying what the
/// consumer asks to retry at the back of the queue. Returns every verdict.
fn queued(f: &Fixture) -> Vec<Verdict> {
    let queue = Rc::new(MemoryQueue::default());
    let producer = app(f).with_queue(queue.clone());
    match cron(&producer) {
        Broadcast::Queued {
            subscribers,
            messages,
            ..
        } => assert_eq!((subscribers, messages), (SUBSCRIBERS as usize, 20)),
        other => panic!("not queued: {other:?}"),
    }
    drain(f, &queue)
}

fn drain(f: &Fixture, queue: &MemoryQueue) -> Vec<Verdict> {
    let mut verdicts = Vec::new();
    let mut rounds = 0;
    while !queue.is_empty() {
        rounds += 1;
        assert!(rounds < 100, "the queue never drains");
        let batch = queue.take(MAX_BATCH_SIZE);
        let answers = run(app(f).on_queue(&deliveries(batch.clone())));
        for (body, verdict) in batch.into_iter().zip(&answers) {
            if let Verdict::Retry { .. } = verdict {
                run(fear_greed_bot::platform::QueueProducer::send_batch(
                    queue,
                    &[body],
                ))
                .unwrap();
            }
        }
        verdicts.extend(answers);
    }
    verdicts
}

#[test]
fn every_chat_gets_the_inline_runs_messages_in_order_in_both_stores() {
    for backend in [Backend::Kv, Backend::D1] {
        let want = inline(backend);
        assert_eq!(want.len(), SUBSCRIBERS as usize);
        let f = seeded(backend);
        let verdicts = queued(&f);
        assert!(verdicts.iter().all(|v| *v == Verdict::Ack));
        assert_eq!(by_chat(&f.sent_messages()), want, "{backend:?}");
        let total: usize = want.values().map(Vec::len).sum();
        assert_eq!(
            f.count("SELECT sent FROM broadcast_runs WHERE finished_at IS NOT NULL AND chats_done = 200"),
            total as i64
        );
        assert_eq!(
            f.count("SELECT COUNT(*) FROM broadcast_deliveries WHERE handled = total"),
            SUBSCRIBERS
        );
    }
}

#[test]
fn a_run_asks_yahoo_once_per_ticker_and_every_invocation_evaluates_on_that_chart() {
    for backend in [Backend::Kv, Backend::D1] {
        let want = inline(backend);
        let f = seeded(backend);
        let queue = enqueued(&f);
        // The first consumer invocation fetches the charts at 380 …
        let first = queue.take(MAX_BATCH_SIZE);
        run(app(&f).on_queue(&deliveries(first)));
        let first_chats = by_chat(&f.sent_messages()).len();
        assert!(first_chats > 0 && first_chats < SUBSCRIBERS as usize);
        // … then Yahoo's answer moves: the rest of the run still gets the run's charts.
        answer_market(&f, "Fear", 25.0, 420.0);
        drain(&f, &queue);
        assert_eq!(by_chat(&f.sent_messages()), want, "{backend:?}");
        let charts = f
            .http
            .sent()
            .iter()
            .filter(|r| r.url.starts_with(YAHOO))
            .count();
        // SPY (the default watchlist), AAPL, MSFT and QQQ: each once for the whole run.
        assert_eq!(charts, 4, "{backend:?}");
        assert_eq!(f.count("SELECT COUNT(*) FROM broadcast_charts"), 4);
    }
}

/// Greed, a Saturday and Independence Day: with a queue bound the cron enqueues nothing and
/// nobody gets a message, and it answers what the inline run answers.
#[test]
fn greed_weekends_and_holidays_enqueue_nothing_and_send_nothing() {
    const SATURDAY_2024_03_09_1400: i64 = 1_709_992_800_000;
    const JULY_4_2024_1400: i64 = 1_720_101_600_000;
    for backend in [Backend::Kv, Backend::D1] {
        for (at, rating) in [
            (TUESDAY_2024_03_05_1400, "Greed"),
            (SATURDAY_2024_03_09_1400, "Fear"),
            (JULY_4_2024_1400, "Fear"),
        ] {
            let outcome = |queue: Option<Rc<MemoryQueue>>| {
                let f = seeded(backend);
                f.clock.set(at);
                answer_market(
                    &f,
                    rating,
                    if rating == "Fear" { 25.0 } else { 75.0 },
                    380.0,
                );
                let outcome = match queue {
                    Some(queue) => cron(&app(&f).with_queue(queue)),
                    None => cron(&app(&f)),
                };
                (outcome, f.sent_messages().len())
            };
            let queue = Rc::new(MemoryQueue::default());
            let queued = outcome(Some(queue.clone()));
            assert_eq!(queued, outcome(None), "{backend:?} {at} {rating}");
            assert_eq!((queued.1, queue.len()), (0, 0), "{backend:?} {at} {rating}");
        }
    }
}

/// The broadcast cron's run, enqueued and left in the queue.
fn enqueued(f: &Fixture) -> Rc<MemoryQueue> {
    let queue = Rc::new(MemoryQueue::default());
    cron(&app(f).with_queue(queue.clone()));
    queue
}

#[test]
fn a_message_delivered_twice_sends_once() {
    let want = inline(Backend::Kv);
    let f = seeded(Backend::Kv);
    let queue = enqueued(&f);
    let first = queue.take(1);
    let chats = QueueMessage::from_body(&first[0]).unwrap().chats;
    // Twice in one batch, then once more in a later one.
    let twice = deliveries(vec![first[0].clone(), first[0].clone()]);
    assert_eq!(run(app(&f).on_queue(&twice)), [Verdict::Ack, Verdict::Ack]);
    let telegram_calls = f.sent_messages().len();
    assert_eq!(run(app(&f).on_queue(&deliveries(first))), [Verdict::Ack]);
    assert_eq!(
        f.sent_messages().len(),
        telegram_calls,
        "nothing sent again"
    );
    let got = by_chat(&f.sent_messages());
    for chat in chats {
        assert_eq!(got[&chat], want[&chat], "chat {chat}");
    }
}

/// The duplicate bound (docs/broadcast-queue.md): an invocation that dies after its sends and
/// before its D1 batch commits is redelivered whole, and its sends go once more, no more.
#[test]
fn a_consumer_that_dies_before_its_record_commits_repeats_that_batch_once_then_nothing() {
    let want = inline(Backend::Kv);
    let f = seeded(Backend::Kv);
    let queue = enqueued(&f);
    let batch = queue.take(2);
    let chats: Vec<i64> = batch
        .iter()
        .flat_map(|body| QueueMessage::from_body(body).unwrap().chats)
        .collect();
    // The record's write fails as if the isolate died before it: the sends stand, unrecorded.
    f.db.run_script(
        "CREATE TRIGGER crash BEFORE INSERT ON broadcast_deliveries \
         BEGIN SELECT RAISE(ABORT, 'the isolate died'); END;",
    )
    .unwrap();
    run(app(&f).on_queue(&deliveries(batch.clone())));
    let first = f.sent_messages().len();
    assert!(first > 0);
    assert_eq!(f.count("SELECT COUNT(*) FROM broadcast_deliveries"), 0);
    f.db.run_script("DROP TRIGGER crash;").unwrap();
    // Queues delivers the unacknowledged batch again: everything goes once more, and is recorded.
    run(app(&f).on_queue(&deliveries(batch.clone())));
    assert_eq!(f.sent_messages().len(), 2 * first);
    let got = by_chat(&f.sent_messages());
    for chat in &chats {
        let twice: Vec<String> = want[chat].iter().chain(&want[chat]).cloned().collect();
        assert_eq!(
            got[chat], twice,
            "chat {chat}: its messages once more, in order"
        );
    }
    // A third delivery sends nothing.
    run(app(&f).on_queue(&deliveries(batch)));
    assert_eq!(f.sent_messages().len(), 2 * first);
}

/// Telegram answers `answer` to the `n`-th `sendMessage` (1-based), success otherwise.
fn telegram_fails_once(f: &Fixture, n: usize, answer: HttpResponse) {
    let chart = linear_chart(380.0);
    let sends = Cell::new(0);
    f.http.answer_with(move |request| {
        Ok(if request.url.starts_with(CNN) {
            ok_json(&json!({"rating": "Fear", "score": 25.0}))
        } else if request.url.starts_with(YAHOO) {
            ok_json(&chart)
        } else {
            sends.set(sends.get() + 1);
            if sends.get() == n {
                answer.clone()
            } else {
                telegram_ok(request)
            }
        })
    });
}

#[test]
fn a_429_is_retried_after_retry_after_and_resumes_without_re_sending() {
    let want = inline(Backend::Kv);
    let f = seeded(Backend::Kv);
    let too_many = json!({"ok": false, "error_code": 429, "parameters": {"retry_after": 7}});
    telegram_fails_once(&f, 25, respond(429, &too_many));
    let verdicts = queued(&f);
    let retried: Vec<_> = verdicts.iter().filter(|v| **v != Verdict::Ack).collect();
    // The message that met the 429 and every later one of its batch wait Telegram's pause.
    assert!(!retried.is_empty());
    assert!(retried
        .iter()
        .all(|v| **v == Verdict::Retry { delay_seconds: 7 }));
    assert_eq!(without_failed_attempt(&f), want);
}

/// Every chat's messages, the one attempt Telegram did not deliver taken out: it reached
/// Telegram, and its retry follows it.
fn without_failed_attempt(f: &Fixture) -> BTreeMap<i64, Vec<String>> {
    let mut got = by_chat(&f.sent_messages());
    let repeated: Vec<(i64, usize)> = got
        .iter()
        .filter_map(|(chat, texts)| {
            let i = (1..texts.len()).find(|&i| texts[i] == texts[i - 1])?;
            Some((*chat, i))
        })
        .collect();
    assert_eq!(repeated.len(), 1, "one attempt failed, and was sent again");
    let (chat, i) = repeated[0];
    got.get_mut(&chat).unwrap().remove(i);
    got
}

#[test]
fn a_403_is_not_retried_and_the_others_still_get_theirs() {
    let want = inline(Backend::Kv);
    let f = seeded(Backend::Kv);
    let blocked = json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"});
    telegram_fails_once(&f, 3, respond(403, &blocked));
    let verdicts = queued(&f);
    assert!(verdicts.iter().all(|v| *v == Verdict::Ack));
    assert_eq!(
        by_chat(&f.sent_messages()),
        want,
        "the refused attempt is its one send"
    );
    assert_eq!(f.count("SELECT refused FROM broadcast_runs"), 1);
    let subscribed: Vec<i64> = serde_json::from_str(&f.kv.peek("chat_ids").unwrap()).unwrap();
    assert_eq!(
        subscribed.len() as i64,
        SUBSCRIBERS,
        "nobody is unsubscribed"
    );
}

#[test]
fn a_5xx_backs_off_then_the_retry_resumes_without_re_sending() {
    let want = inline(Backend::Kv);
    let f = seeded(Backend::Kv);
    telegram_fails_once(&f, 40, respond(502, &json!({"ok": false})));
    let verdicts = queued(&f);
    assert!(verdicts.contains(&Verdict::Retry { delay_seconds: 30 }));
    assert_eq!(without_failed_attempt(&f), want);
}

#[test]
fn the_maintenance_cron_forgets_runs_past_their_retention_with_their_records_and_charts() {
    const DAY_MS: i64 = 24 * 60 * 60 * 1000;
    let f = seeded(Backend::D1);
    queued(&f);
    f.clock.set(TUESDAY_2024_03_05_1400 + DAY_MS);
    queued(&f);
    let rows = || {
        [
            "SELECT COUNT(*) FROM broadcast_runs",
            "SELECT COUNT(*) FROM broadcast_deliveries",
            "SELECT COUNT(*) FROM broadcast_charts",
        ]
        .map(|count| f.count(count))
    };
    assert_eq!(rows(), [2, 2 * SUBSCRIBERS, 8]);
    // 30 days after the first run: it goes, records and charts with it; the second stays.
    f.clock.set(TUESDAY_2024_03_05_1400 + 30 * DAY_MS + 1);
    let CronOutcome::Maintained {
        forgotten_broadcasts,
        ..
    } = run(app(&f).on_cron("*/5 * * * *"))
    else {
        panic!("not the maintenance");
    };
    assert_eq!(forgotten_broadcasts, Ok(SUBSCRIBERS as u64 + 4 + 1));
    assert_eq!(rows(), [1, SUBSCRIBERS, 4]);
    assert_eq!(
        f.count("SELECT COUNT(*) FROM broadcast_deliveries WHERE updated_at < 1709700000000"),
        0
    );
}

#[test]
fn admin_broadcast_lists_the_runs_with_what_each_did() {
    let want = inline(Backend::Kv);
    let total: usize = want.values().map(Vec::len).sum();
    let f = seeded(Backend::Kv);
    telegram_fails_once(&f, 40, respond(502, &json!({"ok": false})));
    let verdicts = queued(&f);
    let retried = verdicts.iter().filter(|v| **v != Verdict::Ack).count();
    // A message of the run that ran out of retries, as the dead-letter queue delivers it.
    let run_id = f.admin("GET", "/admin/broadcast", "").1["runs"][0]["id"].clone();
    let dead = json!({"run": run_id, "seq": 3, "chats": [31], "work": {"deploy": {"text": "x"}}});
    assert!(run(
        app(&f).on_dead_letters(&deliveries(vec![dead.to_string()]))
    ));

    let (status, body) = f.admin("GET", "/admin/broadcast", "");
    assert_eq!(status, 200, "{body}");
    let runs = body["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let r = &runs[0];
    assert_eq!(r["id"], run_id);
    assert_eq!(r["kind"], "broadcast");
    let count = |name: &str| r[name].as_u64().unwrap_or_else(|| panic!("{name}: {r}"));
    assert_eq!(
        [
            "chats",
            "messages",
            "chats_done",
            "sent",
            "refused",
            "failed",
            "retried",
            "dead_lettered"
        ]
        .map(count),
        [200, 20, 200, total as u64, 0, 1, retried as u64, 1]
    );
    // The chats of the message that met the 502 before it were found done on its retry.
    assert!(count("skipped") > 0, "{r}");
    assert_eq!(
        count("duration_ms"),
        count("finished_at") - count("planned_at")
    );
}

#[test]
fn deploy_notify_goes_through_the_queue_with_the_inline_text() {
    let body = r#"{"commitHash":"abc1234","commitMessage":"Ship it\nmore","commitUrl":"https://x/c/abc1234"}"#;
    let notify = |app: &App| {
        let request = fear_greed_bot::http::Request {
            method: "POST".into(),
            path: "/deploy-notify".into(),
            query: String::new(),
            headers: vec![("authorization".into(), format!("Bearer {BOT_TOKEN}"))],
            body: body.as_bytes().to_vec(),
        };
        run(app.handle(&request))
    };
    let inline = seeded(Backend::Kv);
    assert_eq!(notify(&app(&inline)).status, 200);
    let want = by_chat(&inline.sent_messages());
    assert_eq!(want.len(), SUBSCRIBERS as usize);

    let f = seeded(Backend::Kv);
    let queue = Rc::new(MemoryQueue::default());
    let response = notify(&app(&f).with_queue(queue.clone()));
    let run_id = format!("deploy-{TUESDAY_2024_03_05_1400}-abc1234");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&response.body).unwrap(),
        json!({"success": true, "broadcast": {"totalSubscribers": 200, "queued": run_id, "messages": 20}})
    );
    assert!(
        f.sent_messages().is_empty(),
        "nothing is sent before the consumer runs"
    );
    assert!(drain(&f, &queue).iter().all(|v| *v == Verdict::Ack));
    assert_eq!(by_chat(&f.sent_messages()), want);
    let (_, listed) = f.admin("GET", "/admin/broadcast", "");
    assert_eq!(
        [&listed["runs"][0]["kind"], &listed["runs"][0]["sent"]],
        [&json!("deploy"), &json!(200)]
    );
}

/// The duplicate bound and the pacing assume the consumer wrangler.toml declares.
#[test]
fn wrangler_toml_declares_the_queue_the_consumer_is_built_for() {
    let toml = include_str!("../../wrangler.toml");
    let setting = |name: &str| {
        toml.lines()
            .find_map(|line| line.strip_prefix(&format!("{name} = ")))
            .unwrap_or_else(|| panic!("{name} is not set"))
            .trim_matches('"')
            .to_owned()
    };
    assert!(toml.contains("binding = \"BROADCAST_QUEUE\"\nqueue = \"fear-greed-broadcast\""));
    assert_eq!(setting("max_batch_size"), MAX_BATCH_SIZE.to_string());
    assert_eq!(setting("max_concurrency"), "1");
    assert_eq!(setting("dead_letter_queue"), "fear-greed-broadcast-dlq");
}

/// A producer whose `sendBatch` keeps failing half-way stops short and says so: the run records
/// how far it got and why, the admin is told; the run fired again enqueues the rest, once, and
/// every chat gets the inline run's messages once.
#[test]
fn a_producer_whose_send_batch_fails_half_way_records_it_tells_the_admin_and_resumes() {
    const CHATS: i64 = 1_250;
    let want = inline_with(Backend::Kv, CHATS);
    let f = seeded_with(Backend::Kv, CHATS);
    let queue = Rc::new(MemoryQueue::default());
    let producer = app(&f).with_queue(queue.clone());
    // The first call (100 messages) lands; the second fails, and both its retries.
    queue.fail_after(1, 3);
    let run_id = format!("broadcast-{TUESDAY_2024_03_05_1400}");
    let error = format!(
        "broadcast run {run_id} enqueued 100 of 125 queue messages (1000 of 1250 chats); \
         sendBatch failed 3 times: queue unavailable; the run, fired again, enqueues the rest"
    );
    assert_eq!(cron(&producer), Broadcast::Failed(error.clone()));
    assert_eq!(queue.calls(), [100, 25, 25, 25]);
    assert_eq!(queue.len(), 100);
    let notices: Vec<String> = f
        .sent_messages()
        .into_iter()
        .filter(|(chat, _)| *chat == ADMIN)
        .map(|(_, text)| text)
        .collect();
    assert_eq!(notices.len(), 1);
    assert!(
        notices[0].starts_with("An error occurred: broadcast run"),
        "{notices:?}"
    );
    assert!(notices[0].contains("enqueued 100 of 125 queue messages (1000 of 1250 chats)"));
    let (_, listed) = f.admin("GET", "/admin/broadcast", "");
    let row = &listed["runs"][0];
    assert_eq!(
        [&row["messages"], &row["enqueued"], &row["enqueue_error"]],
        [&json!(125), &json!(100), &json!("queue unavailable")]
    );

    // Fired again in its minute: the rest, once; and once more, nothing.
    let queued = |messages| Broadcast::Queued {
        run: run_id.clone(),
        subscribers: CHATS as usize,
        messages,
    };
    assert_eq!(cron(&producer), queued(25));
    assert_eq!(queue.len(), 125);
    assert_eq!(cron(&producer), queued(0));
    assert_eq!(queue.len(), 125);
    let (_, listed) = f.admin("GET", "/admin/broadcast", "");
    let row = &listed["runs"][0];
    assert_eq!(
        [&row["enqueued"], &row["enqueue_error"]],
        [&json!(125), &json!(null)]
    );

    f.http.clear();
    assert!(drain(&f, &queue).iter().all(|v| *v == Verdict::Ack));
    assert_eq!(by_chat(&f.sent_messages()), want);
    assert_eq!(f.count("SELECT chats_done FROM broadcast_runs"), CHATS);
}

/// In `d1_only` the producer reads the plan (subscribers, watchlists, positions) a page of
/// 1,000 subscribers a D1 query, and no consumer reads a chat: the run's D1 calls grow with
/// pages, consumer batches and tickers, not with subscribers (a batch: the delivery records,
/// the kept charts of its plans' tickers, the record); every chat still gets the inline run's
/// messages.
#[test]
fn in_d1_only_the_plan_is_read_a_page_a_query_and_no_consumer_reads_a_chat() {
    let mut per_size = Vec::new();
    for chats in [999_i64, 2_500] {
        let want = inline_with(Backend::D1, chats);
        let f = seeded_with(Backend::D1, chats);
        let queue = Rc::new(MemoryQueue::default());
        f.http.clear();
        f.db.reset_round_trips();
        let outcome = cron(&app(&f).with_queue(queue.clone()));
        assert!(matches!(outcome, Broadcast::Queued { .. }), "{outcome:?}");
        let producer = f.db.round_trips();
        let messages = queue.len();
        f.db.reset_round_trips();
        assert!(drain(&f, &queue).iter().all(|v| *v == Verdict::Ack));
        let consumer = f.db.round_trips();
        let batches = messages.div_ceil(MAX_BATCH_SIZE) as u64;
        assert_eq!(by_chat(&f.sent_messages()), want, "{chats} chats");
        // Besides each batch's calls, the run keeps each of its 4 tickers' chart once.
        let batch_calls = consumer - 4;
        assert_eq!(
            batch_calls % batches,
            0,
            "{consumer} D1 calls in {batches} batches"
        );
        per_size.push((chats, producer, batch_calls / batches));
    }
    let [(_, small, per_batch), (_, large, per_batch_large)] = per_size[..] else {
        unreachable!()
    };
    // 999 subscribers: one page; 2,500: three. The difference is the two pages, nothing more.
    assert_eq!(large - small, 2, "{per_size:?}");
    assert!(
        small <= 8,
        "the producer's D1 calls besides its pages: {per_size:?}"
    );
    assert_eq!(per_batch, per_batch_large, "{per_size:?}");
    assert!(per_batch <= 3, "a consumer batch's D1 calls: {per_size:?}");
}
