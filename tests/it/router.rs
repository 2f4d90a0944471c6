//! The phase router (migration.md §2): per phase, which store serves each read and where each
//! write lands, in the legacy KV bytes; a failed second write that the user never sees but the
//! repair queue does. Shadow reads are in `router_shadow`, the model-based property in
//! `router_model`; the fixtures here serve all three.

use crate::helpers::{run, Backend, Fixture, T0};
use fear_greed_bot::domain::{
    CacheEntry, ChatId, Execution, Position, SignalType, FEAR_GREED_CACHE_KEY,
};
use fear_greed_bot::migration::router::{routed, AfterReplies, Evidence};
use fear_greed_bot::migration::{Phase, Phases};
use fear_greed_bot::platform::native::KvOp;
use fear_greed_bot::platform::{SqlDatabase, Statement};
use fear_greed_bot::storage::d1::{RepairQueue, UpdateClaim};
use fear_greed_bot::storage::{AddTicker, Repos, Repository, Store};
use serde_json::json;

pub const CHAT: ChatId = ChatId::new(1);

/// Fresh, empty stores (the fixture's own repositories go unused).
pub fn stores() -> Fixture {
    Fixture::new(Backend::Kv)
}

/// Routed repositories for one request with every repository in `phase`, and their evidence.
pub fn routed_in(f: &Fixture, phase: Phase) -> (Repos, Evidence) {
    routed_with(f, Phases::uniform(phase))
}

pub fn routed_with(f: &Fixture, phases: Phases) -> (Repos, Evidence) {
    let evidence = Evidence::default();
    let later = AfterReplies::inline();
    (
        routed(
            &f.platform,
            phases,
            evidence.clone(),
            later,
            UpdateClaim::none(),
        ),
        evidence,
    )
}

/// One queued repair, as its row reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairRow {
    pub repository: String,
    pub entity_key: String,
    pub target: String,
}

/// Every queued repair, oldest row first.
pub fn repair_rows(f: &Fixture) -> Vec<RepairRow> {
    let rows = run(f.db.query(&Statement::new(
        "SELECT repository, entity_key, target FROM repair_queue ORDER BY rowid",
        vec![],
    )))
    .unwrap();
    rows.into_iter()
        .map(|row| RepairRow {
            repository: row["repository"].as_str().unwrap().to_owned(),
            entity_key: row["entity_key"].as_str().unwrap().to_owned(),
            target: row["target"].as_str().unwrap().to_owned(),
        })
        .collect()
}

pub fn repair(repository: Repository, entity_key: &str, target: Store) -> RepairRow {
    RepairRow {
        repository: repository.to_string(),
        entity_key: entity_key.to_owned(),
        target: target.to_string(),
    }
}

pub fn position(ticker: &str, price: f64) -> Position {
    Position {
        ticker: ticker.into(),
        entry_price: Some(price),
    }
}

pub fn buy(ticker: &str, price: f64, date: i64) -> Execution {
    Execution {
        signal_type: SignalType::Buy,
        ticker: ticker.into(),
        execution_price: Some(price),
        execution_date: date,
        signal_price: None,
    }
}

/// KV holds one position and D1 another, so the answer names the store that served it.
pub fn seed_different_positions(f: &Fixture) {
    run(Repos::kv(&f.platform)
        .positions
        .set_position(CHAT, &position("KV", 1.0)))
    .unwrap();
    run(Repos::d1(&f.platform)
        .positions
        .set_position(CHAT, &position("D1", 2.0)))
    .unwrap();
}

#[test]
fn each_phase_serves_reads_from_its_store() {
    let cases = [
        (Phase::KvOnly, "KV", "the legacy store alone"),
        (
            Phase::DualWrite,
            "KV",
            "KV stays authoritative while D1 catches up",
        ),
        (Phase::Shadow, "D1", "D1 serves; KV is only compared"),
        (Phase::D1Only, "D1", "KV is gone from the path"),
    ];
    for (phase, want, reason) in cases {
        let f = stores();
        seed_different_positions(&f);
        let (repos, _) = routed_in(&f, phase);
        let got = run(repos.positions.position(CHAT)).unwrap().unwrap();
        assert_eq!(got.ticker, want, "{phase}: {reason}");
    }
}

#[test]
fn each_phase_writes_to_its_stores() {
    // (phase, in KV, in D1, why)
    let cases = [
        (
            Phase::KvOnly,
            true,
            false,
            "D1 is not written before dual_write",
        ),
        (Phase::DualWrite, true, true, "both, KV first"),
        (Phase::Shadow, true, true, "both, D1 first"),
        (Phase::D1Only, false, true, "KV no longer receives writes"),
    ];
    for (phase, in_kv, in_d1, reason) in cases {
        let f = stores();
        let (repos, _) = routed_in(&f, phase);
        run(repos.subscriptions.subscribe(CHAT)).unwrap();
        run(repos.watchlists.add(CHAT, "AAPL")).unwrap();
        run(repos.executions.record(CHAT, &buy("SPY", 1.0, T0))).unwrap();
        run(repos.positions.set_position(CHAT, &position("SPY", 1.0))).unwrap();
        let entry = CacheEntry {
            data: json!({"score": 1}),
            written_at: T0,
        };
        run(repos.cache.store(FEAR_GREED_CACHE_KEY, &entry)).unwrap();

        let kv_keys = [
            "chat_ids",
            "watchlist:1",
            "execution_history:1",
            "active_position:1",
            FEAR_GREED_CACHE_KEY,
        ];
        for key in kv_keys {
            assert_eq!(f.kv.peek(key).is_some(), in_kv, "{phase} {key}: {reason}");
        }
        let d1_rows = [
            "SELECT COUNT(*) FROM users WHERE subscription_status = 1",
            "SELECT COUNT(*) FROM watchlists WHERE ticker = 'AAPL'",
            "SELECT COUNT(*) FROM executions",
            "SELECT COUNT(*) FROM active_positions",
            "SELECT COUNT(*) FROM cache",
        ];
        for sql in d1_rows {
            assert_eq!(f.count(sql), i64::from(in_d1), "{phase} {sql}: {reason}");
        }
    }
}

#[test]
fn kv_only_never_calls_d1_and_d1_only_never_calls_kv() {
    let f = stores();
    let (repos, _) = routed_in(&f, Phase::KvOnly);
    run(repos.watchlists.add(CHAT, "AAPL")).unwrap();
    run(repos.watchlists.watchlist(CHAT)).unwrap();
    run(repos.subscriptions.subscribers()).unwrap();
    assert_eq!(f.db.round_trips(), 0);

    let f = stores();
    let (repos, _) = routed_in(&f, Phase::D1Only);
    run(repos.watchlists.add(CHAT, "AAPL")).unwrap();
    run(repos.watchlists.watchlist(CHAT)).unwrap();
    run(repos.subscriptions.subscribers()).unwrap();
    assert_eq!(f.kv.counts().total(), 0);
}

#[test]
fn dual_write_keeps_the_legacy_kv_bytes_exactly() {
    let f = stores();
    let (repos, _) = routed_in(&f, Phase::DualWrite);
    run(repos.subscriptions.subscribe(CHAT)).unwrap();
    run(repos
        .subscriptions
        .subscribe(ChatId::new(-1_001_234_567_890)))
    .unwrap();
    run(repos.watchlists.add(CHAT, " aapl ")).unwrap();
    run(repos.executions.record(CHAT, &buy("SPY", 400.5, T0))).unwrap();
    run(repos.positions.set_position(CHAT, &position("SPY", 400.5))).unwrap();
    let entry = CacheEntry {
        data: json!({"rating": "fear", "score": 25.5}),
        written_at: T0,
    };
    run(repos.cache.store(FEAR_GREED_CACHE_KEY, &entry)).unwrap();

    let want = [
        ("chat_ids", r#"[1,-1001234567890]"#),
        ("watchlist:1", r#"["SPY","AAPL"]"#),
        (
            "execution_history:1",
            r#"[{"signalType":"BUY","ticker":"SPY","executionPrice":400.5,"executionDate":1705276800000}]"#,
        ),
        (
            "active_position:1",
            r#"{"ticker":"SPY","entryPrice":400.5}"#,
        ),
        (
            FEAR_GREED_CACHE_KEY,
            r#"{"data":{"rating":"fear","score":25.5},"timestamp":1705276800000}"#,
        ),
    ];
    for (key, bytes) in want {
        assert_eq!(f.kv.peek(key).as_deref(), Some(bytes), "{key}");
    }
    assert_eq!(
        f.count("SELECT COUNT(*) FROM users WHERE subscription_status = 1"),
        2
    );
    assert_eq!(f.count("SELECT COUNT(*) FROM watchlists"), 2);
}

#[test]
fn dual_write_reads_never_touch_d1_except_to_mirror_a_new_default_watchlist() {
    let f = stores();
    f.kv.seed("watchlist:1", r#"["SPY","AAPL"]"#);
    let (repos, _) = routed_in(&f, Phase::DualWrite);
    run(repos.positions.position(CHAT)).unwrap();
    run(repos.executions.history(CHAT, None)).unwrap();
    run(repos.executions.latest(CHAT)).unwrap();
    run(repos.subscriptions.subscribers()).unwrap();
    run(repos.cache.fresh(FEAR_GREED_CACHE_KEY, T0)).unwrap();
    assert_eq!(
        run(repos.watchlists.watchlist(CHAT)).unwrap(),
        vec!["SPY", "AAPL"]
    );
    assert_eq!(
        f.db.round_trips(),
        0,
        "a list KV already has is D1's by dual writes or backfill"
    );

    let new_chat = ChatId::new(2);
    assert_eq!(
        run(repos.watchlists.watchlist(new_chat)).unwrap(),
        vec!["SPY"]
    );
    assert_eq!(f.kv.peek("watchlist:2").as_deref(), Some(r#"["SPY"]"#));
    assert_eq!(
        f.count("SELECT COUNT(*) FROM watchlists WHERE chat_id = '2' AND ticker = 'SPY'"),
        1,
        "the default the KV read created is in D1 too"
    );
}

#[test]
fn the_authoritative_store_answers_a_write() {
    // KV already has AAPL, D1 does not: the answer says whose outcome the user got.
    let cases = [
        (Phase::DualWrite, AddTicker::AlreadyPresent),
        (Phase::Shadow, AddTicker::Added),
    ];
    for (phase, want) in cases {
        let f = stores();
        f.kv.seed("watchlist:1", r#"["SPY","AAPL"]"#);
        let (repos, _) = routed_in(&f, phase);
        assert_eq!(
            run(repos.watchlists.add(CHAT, "AAPL")).unwrap(),
            want,
            "{phase}"
        );
    }
}

#[test]
fn dual_write_with_d1_failing_still_succeeds_and_queues_a_d1_repair() {
    let f = stores();
    f.db.run_script("DROP TABLE watchlists").unwrap();
    let (repos, evidence) = routed_in(&f, Phase::DualWrite);
    assert_eq!(
        run(repos.watchlists.add(CHAT, "AAPL")).unwrap(),
        AddTicker::Added
    );
    assert_eq!(
        f.kv.peek("watchlist:1").as_deref(),
        Some(r#"["SPY","AAPL"]"#)
    );
    assert_eq!(
        repair_rows(&f),
        vec![repair(Repository::Watchlists, "1", Store::D1)]
    );
    let collected = evidence.take();
    assert_eq!(
        collected.write_failure_count(Repository::Watchlists, Store::D1),
        1
    );
    let failure = &collected.write_failures[0];
    assert_eq!(failure.operation, "watchlists.add");
    assert!(failure.queued);
    assert!(
        failure.error.contains("no such table: watchlists"),
        "{failure:?}"
    );
}

#[test]
fn shadow_with_kv_failing_still_succeeds_and_queues_a_kv_repair() {
    let f = stores();
    f.kv.fail(KvOp::Put, "watchlist:");
    let (repos, evidence) = routed_in(&f, Phase::Shadow);
    assert_eq!(
        run(repos.watchlists.add(CHAT, "AAPL")).unwrap(),
        AddTicker::Added
    );
    assert_eq!(f.kv.peek("watchlist:1"), None);
    assert_eq!(f.count("SELECT COUNT(*) FROM watchlists"), 2);
    assert_eq!(
        repair_rows(&f),
        vec![repair(Repository::Watchlists, "1", Store::Kv)]
    );
    assert_eq!(
        evidence
            .take()
            .write_failure_count(Repository::Watchlists, Store::Kv),
        1
    );
}

#[test]
fn queueing_the_same_repair_again_keeps_one_row_with_the_latest_time() {
    let f = stores();
    f.db.run_script("DROP TABLE active_positions").unwrap();
    let (repos, evidence) = routed_in(&f, Phase::DualWrite);
    run(repos.positions.set_position(CHAT, &position("SPY", 1.0))).unwrap();
    f.clock.advance(1_000);
    run(repos.positions.clear_position(CHAT)).unwrap();
    run(repos
        .positions
        .set_position(ChatId::new(2), &position("SPY", 1.0)))
    .unwrap();
    assert_eq!(evidence.take().write_failures.len(), 3);

    let queue = RepairQueue::new(&f.platform);
    assert_eq!(run(queue.depth(Repository::Positions)).unwrap(), 2);
    assert_eq!(run(queue.depth(Repository::Watchlists)).unwrap(), 0);
    let pending = run(queue.pending(10)).unwrap();
    let keys: Vec<(&str, i64)> = pending
        .iter()
        .map(|r| (r.entity_key.as_str(), r.enqueued_at))
        .collect();
    assert_eq!(
        keys,
        vec![("1", T0 + 1_000), ("2", T0 + 1_000)],
        "one row per entity, re-queued at the latest failure"
    );
    assert_eq!(pending[0].repository, Repository::Positions);
    assert_eq!(pending[0].target, Store::D1);
    assert_eq!(pending[0].attempts, 0);
    assert!(pending[0]
        .reason
        .contains("no such table: active_positions"));
    assert_eq!(run(queue.pending(1)).unwrap().len(), 1);
}

#[test]
fn when_even_the_repair_cannot_be_queued_the_user_call_still_succeeds() {
    let f = stores();
    f.db.run_script("DROP TABLE watchlists; DROP TABLE repair_queue")
        .unwrap();
    let (repos, evidence) = routed_in(&f, Phase::DualWrite);
    assert_eq!(
        run(repos.watchlists.add(CHAT, "AAPL")).unwrap(),
        AddTicker::Added
    );
    let collected = evidence.take();
    assert_eq!(collected.write_failures.len(), 1);
    assert!(!collected.write_failures[0].queued);
}

/// The failed write may have landed all the same (its answer lost on the way back; found by
/// the workerd fault soak), so the entity is queued for repair towards the second store: the
/// drain copies it if the stores differ, and finds them in sync otherwise.
#[test]
fn a_failed_authoritative_write_fails_the_call_skips_the_second_and_queues_a_repair() {
    let repair = |target: &str| RepairRow {
        repository: "positions".into(),
        entity_key: "1".into(),
        target: target.into(),
    };
    let f = stores();
    f.kv.fail(KvOp::Put, "active_position:");
    let (repos, _) = routed_in(&f, Phase::DualWrite);
    assert!(run(repos.positions.set_position(CHAT, &position("SPY", 1.0))).is_err());
    assert_eq!(f.count("SELECT COUNT(*) FROM active_positions"), 0);
    assert_eq!(repair_rows(&f), vec![repair("d1")]);

    let f = stores();
    f.db.run_script("DROP TABLE active_positions").unwrap();
    let (repos, _) = routed_in(&f, Phase::Shadow);
    assert!(run(repos.positions.set_position(CHAT, &position("SPY", 1.0))).is_err());
    assert_eq!(f.kv.peek("active_position:1"), None);
    assert_eq!(repair_rows(&f), vec![repair("kv")]);
}

#[test]
fn each_repository_follows_its_own_phase() {
    let f = stores();
    seed_different_positions(&f);
    f.kv.seed("watchlist:1", r#"["KV"]"#);
    let mut phases = Phases::uniform(Phase::DualWrite);
    phases.set(Repository::Positions, Phase::D1Only);
    let (repos, _) = routed_with(&f, phases);
    assert_eq!(
        run(repos.positions.position(CHAT)).unwrap().unwrap().ticker,
        "D1"
    );
    assert_eq!(run(repos.watchlists.watchlist(CHAT)).unwrap(), vec!["KV"]);
}
