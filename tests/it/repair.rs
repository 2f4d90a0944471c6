//! The repair drain (migration.md §5 "Repair", `migration::repair::run_step`): after the router
//! queued a failed second write, one step copies the whole entity over; it waits for KV to
//! settle, survives users writing meanwhile, counts failures, and after a phase move copies
//! the way its plan says.

use crate::helpers::{run, Fixture, T0};
use crate::router::{
    buy, position, repair_rows, routed_in, seed_different_positions, stores, CHAT,
};
use async_trait::async_trait;
use fear_greed_bot::domain::ChatId;
use fear_greed_bot::migration::experiment::KV_PROPAGATION_MS;
use fear_greed_bot::migration::repair::{run_step, StepOutcome, Tally};
use fear_greed_bot::migration::{Phase, Phases};
use fear_greed_bot::platform::native::{KvOp, SqliteDatabase};
use fear_greed_bot::platform::{Platform, PlatformError, SqlDatabase, Statement};
use fear_greed_bot::storage::d1::{EntityVersions, RepairQueue};
use fear_greed_bot::storage::{entities, EntityKey, Repository, Snapshot, Store};
use std::cell::RefCell;
use std::rc::Rc;

fn step_in(platform: &Platform, phase: Phase, budget: usize) -> StepOutcome {
    run(run_step(platform, Phases::uniform(phase), budget)).expect("the queue is readable")
}

fn step(f: &Fixture, phase: Phase) -> StepOutcome {
    step_in(&f.platform, phase, 10)
}

fn progressed(tally: Tally, remaining: u64) -> StepOutcome {
    StepOutcome::Progressed { tally, remaining }
}

fn load(f: &Fixture, store: Store, key: &EntityKey) -> Snapshot {
    run(entities(&f.platform, store).load(key)).unwrap()
}

fn both(f: &Fixture, key: &EntityKey) -> (Snapshot, Snapshot) {
    (load(f, Store::Kv, key), load(f, Store::D1, key))
}

fn attempts(f: &Fixture) -> Vec<(String, i64)> {
    let pending = run(RepairQueue::new(&f.platform).pending(100)).unwrap();
    pending
        .into_iter()
        .map(|r| (r.entity_key, r.attempts))
        .collect()
}

fn rename(f: &Fixture, table: &str, to: &str) {
    f.db.run_script(&format!("ALTER TABLE {table} RENAME TO {to}"))
        .unwrap();
}

#[test]
fn a_write_d1_missed_in_dual_write_is_copied_from_kv_once_kv_has_settled() {
    let f = stores();
    let (repos, _) = routed_in(&f, Phase::DualWrite);
    rename(&f, "watchlists", "watchlists_away");
    run(repos.watchlists.add(CHAT, "aapl")).unwrap();
    f.clock.advance(500);
    run(repos.watchlists.add(CHAT, "MSFT")).unwrap();
    rename(&f, "watchlists_away", "watchlists");
    let key = EntityKey::Watchlist(CHAT);
    assert_ne!(both(&f, &key).0, both(&f, &key).1);

    let deferred = Tally {
        deferred: 1,
        ..Tally::default()
    };
    assert_eq!(
        step(&f, Phase::DualWrite),
        progressed(deferred, 1),
        "KV may not show it yet"
    );
    f.clock.advance(KV_PROPAGATION_MS);
    let copied = Tally {
        copied: 1,
        ..Tally::default()
    };
    assert_eq!(step(&f, Phase::DualWrite), progressed(copied, 0));
    let (kv, d1) = both(&f, &key);
    assert_eq!(
        kv,
        Snapshot::Watchlist(CHAT, vec!["SPY".into(), "AAPL".into(), "MSFT".into()])
    );
    assert_eq!(d1, kv);
    assert_eq!(repair_rows(&f), vec![]);
    assert_eq!(step(&f, Phase::DualWrite), StepOutcome::Done);
}

#[test]
fn writes_kv_missed_in_shadow_are_copied_from_d1_once_settled_in_the_legacy_bytes() {
    let f = stores();
    let (repos, _) = routed_in(&f, Phase::Shadow);
    run(repos
        .positions
        .set_position(ChatId::new(2), &position("SPY", 1.0)))
    .unwrap();
    for prefix in ["active_position:", "execution_history:"] {
        f.kv.fail(KvOp::Put, prefix);
        f.kv.fail(KvOp::Delete, prefix);
    }
    run(repos
        .positions
        .set_position(CHAT, &position("AAPL", 180.25)))
    .unwrap();
    run(repos.executions.record(CHAT, &buy("AAPL", 180.25, T0))).unwrap();
    run(repos.positions.clear_position(ChatId::new(2))).unwrap();
    f.kv.heal();
    assert_eq!(repair_rows(&f).len(), 3);

    // Requests that wrote D1 within KV's window may still have their KV halves to land.
    let deferred = Tally {
        deferred: 3,
        ..Tally::default()
    };
    assert_eq!(step(&f, Phase::Shadow), progressed(deferred, 3));
    // The clear's race check (this "request" set the position before) and its failure queued
    // the same row, the second 1 ms later.
    f.clock.advance(KV_PROPAGATION_MS + 1);
    let copied = Tally {
        copied: 3,
        ..Tally::default()
    };
    assert_eq!(step(&f, Phase::Shadow), progressed(copied, 0));
    assert_eq!(
        f.kv.peek("active_position:1").unwrap(),
        r#"{"ticker":"AAPL","entryPrice":180.25}"#
    );
    assert_eq!(
        f.kv.peek("execution_history:1").unwrap(),
        r#"[{"signalType":"BUY","ticker":"AAPL","executionPrice":180.25,"executionDate":1705276800000}]"#
    );
    assert_eq!(
        f.kv.peek("active_position:2"),
        None,
        "the missed clear is applied"
    );
}

#[test]
fn subscription_repairs_copy_the_whole_list_once_and_keep_kv_strays() {
    let f = stores();
    f.kv.seed("chat_ids", r#"["blocked_user"]"#);
    let (repos, _) = routed_in(&f, Phase::Shadow);
    f.kv.fail(KvOp::Put, "chat_ids");
    run(repos.subscriptions.subscribe(CHAT)).unwrap();
    run(repos.subscriptions.subscribe(ChatId::new(-5))).unwrap();
    f.kv.heal();
    assert_eq!(repair_rows(&f).len(), 2, "queued per chat");
    // The second subscribe's race check (the list changed just before) and its failure queued
    // the same row, the second 1 ms later.
    f.clock.advance(KV_PROPAGATION_MS + 1);

    let tally = Tally {
        copied: 1,
        in_sync: 1,
        ..Tally::default()
    };
    assert_eq!(step(&f, Phase::Shadow), progressed(tally, 0));
    assert_eq!(f.kv.peek("chat_ids").unwrap(), r#"["blocked_user",1,-5]"#);
}

#[test]
fn a_failing_repair_counts_its_attempt_and_goes_behind_the_others() {
    let f = stores();
    let (repos, _) = routed_in(&f, Phase::DualWrite);
    rename(&f, "active_positions", "away");
    run(repos.positions.set_position(CHAT, &position("SPY", 1.0))).unwrap();
    f.clock.advance(1_000);
    rename(&f, "executions", "executions_away");
    run(repos
        .executions
        .record(ChatId::new(2), &buy("SPY", 1.0, T0)))
    .unwrap();
    rename(&f, "executions_away", "executions");
    f.clock.advance(KV_PROPAGATION_MS);

    let failed = Tally {
        failed: 1,
        ..Tally::default()
    };
    assert_eq!(
        step_in(&f.platform, Phase::DualWrite, 1),
        progressed(failed, 2)
    );
    assert_eq!(
        attempts(&f),
        vec![("2".into(), 0), ("1".into(), 1)],
        "the failed one goes last"
    );
    let copied = Tally {
        copied: 1,
        ..Tally::default()
    };
    assert_eq!(
        step_in(&f.platform, Phase::DualWrite, 1),
        progressed(copied, 1)
    );
    assert_eq!(
        step_in(&f.platform, Phase::DualWrite, 1),
        progressed(failed, 1)
    );
    assert_eq!(attempts(&f), vec![("1".into(), 2)]);

    rename(&f, "away", "active_positions");
    assert_eq!(step(&f, Phase::DualWrite), progressed(copied, 0));
    let key = EntityKey::Position(CHAT);
    assert_eq!(
        both(&f, &key).1,
        Snapshot::Position(CHAT, Some(position("SPY", 1.0)))
    );
}

#[test]
fn a_row_naming_no_entity_fails_and_stays_for_an_operator() {
    let f = stores();
    let queue = RepairQueue::new(&f.platform);
    run(queue.enqueue(Repository::Watchlists, "not-a-chat", Store::D1, "test")).unwrap();
    f.clock.advance(KV_PROPAGATION_MS);
    let failed = Tally {
        failed: 1,
        ..Tally::default()
    };
    assert_eq!(step(&f, Phase::DualWrite), progressed(failed, 1));
    assert_eq!(attempts(&f), vec![("not-a-chat".into(), 1)]);
}

#[test]
fn each_step_takes_at_most_its_budget() {
    let f = stores();
    let queue = RepairQueue::new(&f.platform);
    for chat in ["1", "2", "3"] {
        run(queue.enqueue(Repository::Positions, chat, Store::Kv, "test")).unwrap();
    }
    f.clock.advance(KV_PROPAGATION_MS);
    let in_sync = |n| Tally {
        in_sync: n,
        ..Tally::default()
    };
    assert_eq!(
        step_in(&f.platform, Phase::Shadow, 2),
        progressed(in_sync(2), 1)
    );
    assert_eq!(
        step_in(&f.platform, Phase::Shadow, 0),
        progressed(Tally::default(), 1)
    );
    assert_eq!(
        step_in(&f.platform, Phase::Shadow, 2),
        progressed(in_sync(1), 0)
    );
    assert_eq!(step_in(&f.platform, Phase::Shadow, 0), StepOutcome::Done);
}

#[test]
fn any_recent_write_to_the_entity_defers_a_copy_from_kv() {
    let f = stores();
    let queue = RepairQueue::new(&f.platform);
    run(queue.enqueue(Repository::Subscriptions, "1", Store::D1, "test")).unwrap();
    f.clock.advance(KV_PROPAGATION_MS);
    // Another chat subscribed a moment ago (D1's clock): the list KV serves may not show it yet.
    let versions = EntityVersions::new(&f.platform);
    run(versions.touch(Repository::Subscriptions, "chat_ids", None)).unwrap();
    let deferred = Tally {
        deferred: 1,
        ..Tally::default()
    };
    assert_eq!(step(&f, Phase::DualWrite), progressed(deferred, 1));
    f.db.run_script("UPDATE entity_versions SET changed_at = changed_at - 60001")
        .unwrap();
    let in_sync = Tally {
        in_sync: 1,
        ..Tally::default()
    };
    assert_eq!(step(&f, Phase::DualWrite), progressed(in_sync, 0));
}

/// D1 with a hook that runs once, just before the first `batch` (the drain's replace).
struct Hooked {
    db: Rc<SqliteDatabase>,
    before_batch: RefCell<Option<Box<dyn FnOnce()>>>,
}

#[async_trait(?Send)]
impl SqlDatabase for Hooked {
    async fn query(
        &self,
        statement: &Statement,
    ) -> Result<Vec<fear_greed_bot::platform::Row>, PlatformError> {
        self.db.query(statement).await
    }

    async fn execute(&self, statement: &Statement) -> Result<u64, PlatformError> {
        self.db.execute(statement).await
    }

    async fn batch(&self, statements: &[Statement]) -> Result<Vec<u64>, PlatformError> {
        if let Some(hook) = self.before_batch.take() {
            hook();
        }
        self.db.batch(statements).await
    }
}

fn hooked(f: &Fixture, hook: impl FnOnce() + 'static) -> Platform {
    Platform {
        db: Rc::new(Hooked {
            db: f.db.clone(),
            before_batch: RefCell::new(Some(Box::new(hook))),
        }),
        ..f.platform.clone()
    }
}

/// Dual write with D1 missing chat 1's new ticker, KV settled.
fn missed_add() -> Fixture {
    let f = stores();
    let (repos, _) = routed_in(&f, Phase::DualWrite);
    rename(&f, "watchlists", "watchlists_away");
    run(repos.watchlists.add(CHAT, "AAPL")).unwrap();
    rename(&f, "watchlists_away", "watchlists");
    f.clock.advance(KV_PROPAGATION_MS);
    f
}

#[test]
fn a_user_write_during_the_copy_keeps_the_repair_for_the_next_step() {
    let f = missed_add();
    let kv = f.kv.clone();
    // The user adds MSFT while the drain copies: KV has it by the time the drain looks again.
    let platform = hooked(&f, move || {
        kv.seed("watchlist:1", r#"["SPY","AAPL","MSFT"]"#)
    });
    let raced = Tally {
        raced: 1,
        ..Tally::default()
    };
    assert_eq!(
        step_in(&platform, Phase::DualWrite, 10),
        progressed(raced, 1)
    );
    // The entity changed in D1 a moment ago: the next copy from KV waits until KV settles.
    let deferred = Tally {
        deferred: 1,
        ..Tally::default()
    };
    assert_eq!(step(&f, Phase::DualWrite), progressed(deferred, 1));
    f.clock.advance(KV_PROPAGATION_MS);
    let copied = Tally {
        copied: 1,
        ..Tally::default()
    };
    assert_eq!(step(&f, Phase::DualWrite), progressed(copied, 0));
    let (kv, d1) = both(&f, &EntityKey::Watchlist(CHAT));
    assert_eq!(d1, kv);
    assert_eq!(
        d1,
        Snapshot::Watchlist(CHAT, vec!["SPY".into(), "AAPL".into(), "MSFT".into()])
    );
}

#[test]
fn a_failure_queued_again_during_the_copy_keeps_the_row() {
    let f = missed_add();
    let db = f.db.clone();
    // Another second write of the entity fails while the drain copies: queued again.
    let platform = hooked(&f, move || {
        db.run_script("UPDATE repair_queue SET enqueued_at = enqueued_at + 1")
            .unwrap()
    });
    let raced = Tally {
        raced: 1,
        ..Tally::default()
    };
    assert_eq!(
        step_in(&platform, Phase::DualWrite, 10),
        progressed(raced, 1)
    );
    f.clock.advance(KV_PROPAGATION_MS);
    let in_sync = Tally {
        in_sync: 1,
        ..Tally::default()
    };
    assert_eq!(step(&f, Phase::DualWrite), progressed(in_sync, 0));
}

#[test]
fn queueing_again_within_the_same_millisecond_still_moves_the_row_forward() {
    let f = stores();
    let queue = RepairQueue::new(&f.platform);
    run(queue.enqueue(Repository::Cache, "k", Store::Kv, "first")).unwrap();
    run(queue.enqueue(Repository::Cache, "k", Store::Kv, "second")).unwrap();
    let pending = run(queue.pending(10)).unwrap();
    assert_eq!((pending.len(), pending[0].enqueued_at), (1, T0 + 1));
}

#[test]
fn after_a_phase_move_each_repair_goes_the_way_its_plan_says() {
    use Phase::*;
    // (queued targets, phase at the drain, position in KV and in D1 after it, why)
    let cases: [(&[Store], Phase, &str, &str, &str); 10] = [
        (
            &[Store::D1],
            KvOnly,
            "KV",
            "KV",
            "rolled back: D1 still catches up from KV",
        ),
        (&[Store::D1], DualWrite, "KV", "KV", "as queued"),
        (
            &[Store::D1],
            Shadow,
            "KV",
            "KV",
            "moved early: the acknowledged write is restored",
        ),
        (
            &[Store::D1],
            D1Only,
            "KV",
            "D1",
            "dropped: KV would undo d1_only writes",
        ),
        (
            &[Store::Kv],
            KvOnly,
            "KV",
            "KV",
            "D1 stopped receiving writes: KV wins",
        ),
        (
            &[Store::Kv],
            DualWrite,
            "D1",
            "D1",
            "rolled back early: the write is restored in KV",
        ),
        (&[Store::Kv], Shadow, "D1", "D1", "as queued"),
        (
            &[Store::Kv],
            D1Only,
            "KV",
            "D1",
            "dropped: KV no longer matters",
        ),
        (
            &[Store::D1, Store::Kv],
            Shadow,
            "D1",
            "D1",
            "both missed writes: D1 serves, D1 wins",
        ),
        (
            &[Store::Kv, Store::D1],
            DualWrite,
            "KV",
            "KV",
            "both missed writes: KV serves, KV wins",
        ),
    ];
    for (targets, phase, in_kv, in_d1, why) in cases {
        let f = stores();
        seed_different_positions(&f);
        let queue = RepairQueue::new(&f.platform);
        for target in targets {
            run(queue.enqueue(Repository::Positions, "1", *target, "test")).unwrap();
        }
        f.clock.advance(KV_PROPAGATION_MS);
        let outcome = step(&f, phase);
        let StepOutcome::Progressed { tally, remaining } = outcome else {
            panic!("{why}: {outcome:?}");
        };
        assert_eq!(
            (tally.repaired(), remaining),
            (targets.len() as u32, 0),
            "{why}: {tally:?}"
        );
        let ticker = |snapshot: Snapshot| match snapshot {
            Snapshot::Position(_, Some(p)) => p.ticker,
            other => panic!("{other:?}"),
        };
        let (kv, d1) = both(&f, &EntityKey::Position(CHAT));
        assert_eq!(
            (ticker(kv).as_str(), ticker(d1).as_str()),
            (in_kv, in_d1),
            "{targets:?} in {phase}: {why}"
        );
    }
}
