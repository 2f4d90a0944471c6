//! The backfill (KV → D1) and the validation over a generated legacy dataset, by repeated
//! bounded steps: budgets per step, resumption after a failure at any point, idempotence,
//! corrupt records skipped, the dry run, and the version guard against concurrent dual writes.

use crate::helpers::{run, Backend, Fixture};
use fear_greed_bot::migration::sweep::{run_step, Budget, Kind, Step};
use fear_greed_bot::migration::{Phase, Phases};
use fear_greed_bot::platform::native::KvOp;
use fear_greed_bot::platform::Platform;
use fear_greed_bot::storage::d1::{RepairQueue, SweepStore};
use fear_greed_bot::storage::kv::LegacyDataset;
use fear_greed_bot::storage::{entities, EntityKey, Repository, Store};

fn seeded(chats: usize, seed: u64) -> (Fixture, LegacyDataset) {
    let f = Fixture::new(Backend::D1);
    let data = LegacyDataset::generate(chats, seed);
    for (key, value) in &data.entries {
        f.kv.seed(key, value);
    }
    (f, data)
}

fn dual_write() -> Phases {
    Phases::uniform(Phase::DualWrite)
}

/// A whole invocation's budget, with no KV propagation window: these tests' KV is the
/// in-memory one, consistent at once (the window has its own test).
fn invocation() -> Budget {
    Budget {
        settle_ms: 0,
        ..Budget::INVOCATION
    }
}

/// The budget of a small invocation, so small datasets take many steps.
fn small_budget() -> Budget {
    Budget {
        kv_ops: 60,
        d1_statements: 120,
        page: 25,
        settle_ms: 0,
        time_ms: 10_000,
    }
}

fn step(platform: &Platform, kind: Kind, budget: Budget) -> Step {
    run(run_step(
        platform,
        kind,
        &Repository::ALL,
        dual_write(),
        budget,
        false,
    ))
    .expect("a step runs")
}

/// Steps until the sweep of every repository is finished; every step within `budget`.
/// Returns the steps taken.
fn until_finished(f: &Fixture, kind: Kind, budget: Budget) -> Vec<Step> {
    loop_steps(f, kind, &Repository::ALL, budget)
}

/// Lets KV's propagation window pass, then drains the repair queue (in `dual_write`).
fn drain_once_kv_settled(f: &Fixture) {
    f.clock.advance(120_000);
    run(fear_greed_bot::migration::repair::run_step(
        &f.platform,
        dual_write(),
        200,
    ))
    .unwrap();
}

/// Every entity of every chat of `data`, and the two single ones.
fn every_entity(data: &LegacyDataset) -> Vec<EntityKey> {
    let mut keys = vec![
        EntityKey::Subscribers,
        EntityKey::Cache("fear_greed_cache".into()),
    ];
    for chat in &data.chats {
        keys.push(EntityKey::Watchlist(*chat));
        keys.push(EntityKey::Executions(*chat));
        keys.push(EntityKey::Position(*chat));
    }
    keys
}

/// D1 holds what KV holds for every entity, but for the corrupt ones, which it does not hold.
fn assert_d1_mirrors_kv(f: &Fixture, data: &LegacyDataset) {
    let kv = entities(&f.platform, Store::Kv);
    let d1 = entities(&f.platform, Store::D1);
    for key in every_entity(data) {
        let in_d1 = run(d1.load(&key)).unwrap();
        match run(kv.load(&key)) {
            Ok(in_kv) => assert_eq!(in_d1, in_kv, "{key:?}"),
            Err(_) => assert!(in_d1.is_absent(), "a corrupt {key:?} is not copied"),
        }
    }
}

fn total(steps: &[Step], field: impl Fn(&fear_greed_bot::migration::sweep::Tally) -> u64) -> u64 {
    steps
        .last()
        .map(|s| s.sweeps.iter().map(|p| field(&p.tally)).sum())
        .unwrap_or(0)
}

#[test]
fn a_backfill_of_ten_thousand_chats_copies_every_entity_in_bounded_steps() {
    let (f, data) = seeded(10_000, 7);
    let steps = until_finished(&f, Kind::Backfill, Budget::INVOCATION);
    assert_d1_mirrors_kv(&f, &data);
    // Rows, table by table, as the dataset says a faithful copy holds them.
    assert_eq!(
        f.count("SELECT COUNT(*) FROM watchlists"),
        data.watchlist_rows as i64
    );
    assert_eq!(
        f.count("SELECT COUNT(*) FROM executions"),
        data.execution_rows as i64
    );
    assert_eq!(
        f.count("SELECT COUNT(*) FROM active_positions"),
        data.position_rows as i64
    );
    assert_eq!(
        f.count("SELECT COUNT(*) FROM users WHERE subscription_status = 1"),
        data.subscribers.len() as i64
    );
    // Chats with data that never subscribed have their (unsubscribed) users row.
    let with_rows = f.count(
        "SELECT COUNT(DISTINCT chat_id) FROM (SELECT chat_id FROM watchlists \
         UNION SELECT chat_id FROM executions UNION SELECT chat_id FROM active_positions)",
    );
    let orphans = f.count(
        "SELECT COUNT(*) FROM (SELECT chat_id FROM watchlists UNION SELECT chat_id FROM \
         executions UNION SELECT chat_id FROM active_positions) WHERE chat_id NOT IN \
         (SELECT chat_id FROM users)",
    );
    assert!(with_rows > data.subscribers.len() as i64 / 2);
    assert_eq!(orphans, 0);
    // Every corrupt record was skipped and listed, and nothing else was.
    assert_eq!(total(&steps, |t| t.skipped), data.corrupt.len() as u64);
    assert!(steps.len() > 10, "{} steps", steps.len());
}

#[test]
fn each_corrupt_record_is_listed_with_its_key_and_the_run_goes_on() {
    let (f, data) = seeded(400, 11);
    until_finished(&f, Kind::Backfill, invocation());
    let store = SweepStore::new(&f.platform);
    let mut listed: Vec<String> = Repository::ALL
        .iter()
        .flat_map(|r| run(store.findings("backfill", *r, 1000)).unwrap())
        .map(|finding| finding.entity_key)
        .collect();
    listed.sort();
    let mut corrupt = data.corrupt.clone();
    corrupt.sort();
    assert_eq!(listed, corrupt);
    assert_d1_mirrors_kv(&f, &data);
}

/// The reliability issue's record: serde's derive read `["SPY",400]` as a struct, field by
/// field, and the backfill copied it into D1 as a position in SPY at 400, which the legacy bot
/// never sees in it (an array has no `.ticker`). It is a corrupt record like any other.
#[test]
fn a_position_stored_as_an_array_is_listed_as_corrupt_and_not_copied() {
    let f = Fixture::new(Backend::D1);
    f.kv.seed("active_position:5", r#"["SPY",400]"#);
    f.kv.seed("active_position:6", r#"{"ticker":"SPY","entryPrice":400}"#);
    for kind in [Kind::Backfill, Kind::Validation] {
        let steps = until_finished(&f, kind, invocation());
        assert_eq!(total(&steps, |t| t.skipped), 1, "{kind:?}");
        assert_eq!(total(&steps, |t| t.discrepancies), 0, "{kind:?}");
        let findings = run(SweepStore::new(&f.platform).findings(
            &kind.to_string(),
            Repository::Positions,
            10,
        ))
        .unwrap();
        let [finding] = &findings[..] else {
            panic!("{kind:?}: {findings:?}")
        };
        assert_eq!(
            (finding.entity_key.as_str(), finding.problem.as_str()),
            ("active_position:5", "kv_decode_error")
        );
        assert!(
            finding.detail.contains("active_position:5")
                && finding.detail.contains("expected a JSON object"),
            "{}",
            finding.detail
        );
    }
    assert_eq!(
        f.count("SELECT COUNT(*) FROM active_positions WHERE chat_id = '5'"),
        0
    );
    assert_eq!(
        f.count("SELECT COUNT(*) FROM active_positions WHERE chat_id = '6' AND entry_price = 400"),
        1,
        "the object beside it is copied"
    );
}

#[test]
fn a_backfill_that_fails_at_any_point_resumes_with_nothing_duplicated_or_skipped() {
    let (reference, data) = seeded(150, 3);
    until_finished(&reference, Kind::Backfill, small_budget());
    // The same dataset again, with a KV failure injected into every other step, each time on
    // another prefix, so steps die after some pages landed and before others did.
    let (f, _) = seeded(150, 3);
    let prefixes = [
        "watchlist:",
        "execution_history:",
        "active_position:",
        "chat_ids",
    ];
    let mut attempts = 0;
    loop {
        attempts += 1;
        if attempts % 2 == 0 {
            f.kv.fail(KvOp::Get, prefixes[attempts / 2 % prefixes.len()]);
        }
        let outcome = run(run_step(
            &f.platform,
            Kind::Backfill,
            &Repository::ALL,
            dual_write(),
            small_budget(),
            false,
        ));
        f.kv.heal();
        if outcome.as_ref().is_ok_and(Step::finished) {
            break;
        }
        assert!(attempts < 2_000);
    }
    assert_d1_mirrors_kv(&f, &data);
    for table in ["watchlists", "executions", "active_positions", "users"] {
        let count = |fx: &Fixture| {
            fx.count(match table {
                "watchlists" => "SELECT COUNT(*) FROM watchlists",
                "executions" => "SELECT COUNT(*) FROM executions",
                "active_positions" => "SELECT COUNT(*) FROM active_positions",
                _ => "SELECT COUNT(*) FROM users",
            })
        };
        assert_eq!(count(&f), count(&reference), "{table}");
    }
}

#[test]
fn running_a_finished_backfill_again_changes_nothing() {
    let (f, data) = seeded(200, 5);
    let first = until_finished(&f, Kind::Backfill, invocation());
    let rows = |f: &Fixture| {
        f.count("SELECT COUNT(*) FROM executions")
            + f.count("SELECT COUNT(*) FROM watchlists")
            + f.count("SELECT COALESCE(SUM(id), 0) FROM executions")
    };
    let before = rows(&f);
    let versions = f.count("SELECT SUM(version) FROM entity_versions");
    // A finished sweep starts over when asked again; everything is equal already.
    let again = until_finished(&f, Kind::Backfill, invocation());
    assert_eq!(rows(&f), before, "no row rewritten");
    assert_eq!(
        f.count("SELECT SUM(version) FROM entity_versions"),
        versions
    );
    assert_eq!(total(&again, |t| t.written), 0);
    assert_eq!(total(&again, |t| t.matched), total(&first, |t| t.written));
    assert_d1_mirrors_kv(&f, &data);
}

#[test]
fn pages_cover_every_entity_of_either_store_once_whatever_their_size() {
    for page in 1..6 {
        let f = Fixture::new(Backend::D1);
        let d1 = fear_greed_bot::storage::Repos::d1(&f.platform);
        for chat in 1..=10 {
            f.kv.seed(&format!("watchlist:{chat}"), r#"["SPY"]"#);
        }
        for chat in 5..=20 {
            run(d1
                .watchlists
                .add(fear_greed_bot::domain::ChatId::new(chat), "SPY"))
            .unwrap();
        }
        let budget = Budget {
            page,
            ..small_budget()
        };
        let steps = loop_steps(&f, Kind::Validation, &[Repository::Watchlists], budget);
        let last = &steps.last().unwrap().sweeps[0].tally;
        assert_eq!(last.scanned, 20, "page {page}");
        assert_eq!(last.matched, 6, "page {page}");
        assert_eq!(last.discrepancies, 14, "page {page}");
        let store = SweepStore::new(&f.platform);
        let mut found: Vec<(i64, String)> =
            run(store.findings("validation", Repository::Watchlists, 100))
                .unwrap()
                .into_iter()
                .map(|finding| (finding.entity_key.parse().unwrap(), finding.problem))
                .collect();
        found.sort();
        let expected: Vec<(i64, String)> = (1..=4)
            .map(|c| (c, "missing_in_d1".to_owned()))
            .chain((11..=20).map(|c| (c, "missing_in_kv".to_owned())))
            .collect();
        assert_eq!(found, expected, "page {page}");
    }
}

/// Steps the `kind` sweep of `repositories` (in `dual_write`) until it is finished; every
/// step within `budget`. Returns the steps taken.
fn loop_steps(f: &Fixture, kind: Kind, repositories: &[Repository], budget: Budget) -> Vec<Step> {
    let mut steps = Vec::new();
    for _ in 0..10_000 {
        let step = run(run_step(
            &f.platform,
            kind,
            repositories,
            dual_write(),
            budget,
            false,
        ))
        .expect("a step runs");
        assert!(step.usage.kv_ops <= budget.kv_ops, "{:?}", step.usage);
        assert!(
            step.usage.d1_statements <= budget.d1_statements,
            "{:?}",
            step.usage
        );
        let finished = step.finished();
        steps.push(step);
        if finished {
            return steps;
        }
    }
    panic!("{kind} never finished");
}

#[test]
fn a_dry_run_counts_what_the_backfill_writes_and_writes_nothing() {
    let (f, _) = seeded(300, 9);
    let before = f.count("SELECT COUNT(*) FROM watchlists")
        + f.count("SELECT COUNT(*) FROM executions")
        + f.count("SELECT COUNT(*) FROM users");
    let dry = until_finished(&f, Kind::DryRun, invocation());
    let after = f.count("SELECT COUNT(*) FROM watchlists")
        + f.count("SELECT COUNT(*) FROM executions")
        + f.count("SELECT COUNT(*) FROM users");
    assert_eq!(before, after);
    assert_eq!(f.count("SELECT COUNT(*) FROM entity_versions"), 0);
    let real = until_finished(&f, Kind::Backfill, invocation());
    for field in [
        |t: &fear_greed_bot::migration::sweep::Tally| t.written,
        |t: &fear_greed_bot::migration::sweep::Tally| t.rows_written,
        |t: &fear_greed_bot::migration::sweep::Tally| t.skipped,
    ] {
        assert_eq!(total(&dry, field), total(&real, field));
    }
}

#[test]
fn validation_finds_exactly_the_injected_differences_and_is_clean_after_repair() {
    let (f, data) = seeded(300, 13);
    until_finished(&f, Kind::Backfill, invocation());
    let clean = until_finished(&f, Kind::Validation, invocation());
    assert_eq!(total(&clean, |t| t.discrepancies), 0);
    assert_eq!(total(&clean, |t| t.skipped), data.corrupt.len() as u64);
    // Three differences made behind both stores' backs.
    let [a, b, c] = [data.chats[0], data.chats[1], data.chats[2]];
    f.db.run_script(&format!("DELETE FROM watchlists WHERE chat_id = '{a}'"))
        .unwrap();
    f.kv.seed(
        &format!("active_position:{b}"),
        r#"{"ticker":"ZZZ","entryPrice":1.5}"#,
    );
    f.db.run_script(&format!(
        "INSERT OR IGNORE INTO users (chat_id, subscription_status, created_at, updated_at) \
         VALUES ('{c}', 0, 0, 0); \
         INSERT INTO executions (chat_id, signal_type, ticker, execution_price, \
         execution_date, created_at) VALUES ('{c}', 'BUY', 'EXTRA', 1.0, 1, 1)"
    ))
    .unwrap();
    let found = until_finished(&f, Kind::Validation, invocation());
    assert_eq!(total(&found, |t| t.discrepancies), 3);
    let store = SweepStore::new(&f.platform);
    let mut problems: Vec<(String, String)> = Repository::ALL
        .iter()
        .flat_map(|r| run(store.findings("validation", *r, 100)).unwrap())
        .filter(|finding| finding.problem != "kv_decode_error" && finding.problem != "bad_key")
        .map(|finding| (finding.entity_key, finding.problem))
        .collect();
    problems.sort();
    let mut expected = vec![
        (a.to_string(), "missing_in_d1".to_owned()),
        (b.to_string(), "value_mismatch".to_owned()),
        (c.to_string(), "value_mismatch".to_owned()),
    ];
    expected.sort();
    // (b's position may be missing in D1 rather than different: it depends on the dataset.)
    let b_problem = problems.iter().find(|(k, _)| *k == b.to_string()).cloned();
    if let Some((_, p)) = &b_problem {
        if p == "missing_in_d1" {
            expected.retain(|(k, _)| *k != b.to_string());
            expected.push((b.to_string(), "missing_in_d1".into()));
            expected.sort();
        }
    }
    assert_eq!(problems, expected);
    // Validation queued each for repair towards D1 (dual_write); the drain copies them over.
    assert_eq!(run(RepairQueue::new(&f.platform).total_depth()).unwrap(), 3);
    drain_once_kv_settled(&f);
    let after = until_finished(&f, Kind::Validation, invocation());
    assert_eq!(total(&after, |t| t.discrepancies), 0);
}

#[test]
fn an_entity_changed_in_d1_within_the_kv_window_is_left_to_the_repair_queue() {
    let (f, data) = seeded(50, 21);
    let chat = data.chats[0];
    // A dual write that reached D1 a moment ago: KV may not show it everywhere yet.
    let routed = fear_greed_bot::migration::router::routed(
        &f.platform,
        dual_write(),
        fear_greed_bot::migration::router::Evidence::default(),
        fear_greed_bot::migration::router::AfterReplies::inline(),
        fear_greed_bot::storage::d1::UpdateClaim::none(),
    );
    run(routed.watchlists.add(chat, "NEWT")).unwrap();
    let steps = until_finished(&f, Kind::Backfill, Budget::INVOCATION);
    assert_eq!(total(&steps, |t| t.deferred), 1);
    let queued = run(RepairQueue::new(&f.platform).pending(10)).unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].entity_key, chat.to_string());
    assert_eq!(queued[0].target, Store::D1);
    // Once KV has settled, the drain copies it: D1 then mirrors KV everywhere.
    drain_once_kv_settled(&f);
    assert_d1_mirrors_kv(&f, &data);
}

#[test]
fn a_step_whose_time_is_spent_starts_no_page() {
    let (f, _) = seeded(20, 1);
    let spent = Budget {
        time_ms: 0,
        ..invocation()
    };
    let step = step(&f.platform, Kind::Backfill, spent);
    assert!(!step.finished());
    assert!(step.sweeps.iter().all(|p| p.tally.scanned == 0));
    assert_eq!(f.count("SELECT COUNT(*) FROM watchlists"), 0);
}

#[test]
fn a_history_too_long_for_the_steps_budget_is_left_to_the_repair_queue() {
    let f = Fixture::new(Backend::D1);
    let record = r#"{"signalType":"BUY","ticker":"SPY","executionPrice":1.5,"executionDate":1}"#;
    let long = format!("[{}]", vec![record; 2_000].join(","));
    f.kv.seed("execution_history:42", &long);
    f.kv.seed("execution_history:43", &format!("[{record}]"));
    let budget = Budget {
        kv_ops: 100,
        d1_statements: 200,
        ..invocation()
    };
    let steps = until_finished(&f, Kind::Backfill, budget);
    assert_eq!(total(&steps, |t| t.deferred), 1);
    assert_eq!(
        f.count("SELECT COUNT(*) FROM executions"),
        1,
        "the short one is copied"
    );
    let queued = run(RepairQueue::new(&f.platform).pending(10)).unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].entity_key, "42");
    drain_once_kv_settled(&f);
    assert_eq!(f.count("SELECT COUNT(*) FROM executions"), 2_001);
}
