//! `/execute`'s and `/start`'s writes routed as one unit each (migration.md §2): one D1
//! `batch()` when the repositories a unit touches share a phase, a repair for each entity a
//! second store missed, and separate routed calls while their phases differ. The property at
//! the end holds all of it against a reference under injected store failures.

use crate::contract::execution as trade;
use crate::helpers::{run, T0};
use crate::router::{repair, repair_rows, routed_in, routed_with, stores, CHAT};
use crate::router_model::{restore, sabotage};
use fear_greed_bot::domain::{ChatId, Execution, Position, SignalType};
use fear_greed_bot::migration::experiment::KV_PROPAGATION_MS;
use fear_greed_bot::migration::repair::{run_step, StepOutcome};
use fear_greed_bot::migration::router::{routed, AfterReplies, Evidence};
use fear_greed_bot::migration::{Phase, Phases};
use fear_greed_bot::platform::native::KvOp;
use fear_greed_bot::storage::d1::UpdateClaim;
use fear_greed_bot::storage::{entities, EntityKey, Landed, Repos, Repository, Store};
use proptest::prelude::*;

const TRADED: [Repository; 3] = [
    Repository::Executions,
    Repository::Positions,
    Repository::Watchlists,
];

#[test]
fn in_d1_only_a_buy_is_one_round_trip_and_a_sell_another() {
    let f = stores();
    let (repos, _) = routed_in(&f, Phase::D1Only);
    let buy = trade(SignalType::Buy, "AAPL", 190.0, T0);
    assert_eq!(run(repos.units.trade(CHAT, &buy)), Ok(Landed::Complete));
    assert_eq!(f.db.round_trips(), 1, "execution, position and watchlist");
    assert_eq!(f.count("SELECT COUNT(*) FROM executions"), 1);
    assert_eq!(f.count("SELECT COUNT(*) FROM active_positions"), 1);
    assert_eq!(
        f.count("SELECT COUNT(*) FROM watchlists WHERE chat_id = '1'"),
        2,
        "SPY and AAPL"
    );

    f.db.reset_round_trips();
    run(repos
        .units
        .trade(CHAT, &trade(SignalType::Sell, "AAPL", 200.0, T0 + 1)))
    .unwrap();
    assert_eq!(f.db.round_trips(), 1);
    assert_eq!(f.count("SELECT COUNT(*) FROM active_positions"), 0);
    assert_eq!(f.kv.counts().total(), 0);
}

#[test]
fn in_d1_a_trade_lands_whole_or_not_at_all() {
    let f = stores();
    f.db.run_script("DROP TABLE watchlists").unwrap();
    let (repos, _) = routed_in(&f, Phase::D1Only);
    let failed = run(repos
        .units
        .trade(CHAT, &trade(SignalType::Buy, "AAPL", 1.0, T0)));
    assert!(failed.is_err(), "{failed:?}");
    assert_eq!(f.count("SELECT COUNT(*) FROM executions"), 0);
    assert_eq!(f.count("SELECT COUNT(*) FROM active_positions"), 0);
}

#[test]
fn a_joint_trade_writes_the_legacy_kv_bytes_and_the_d1_rows() {
    for phase in [Phase::DualWrite, Phase::Shadow] {
        let f = stores();
        let (repos, evidence) = routed_in(&f, phase);
        run(repos
            .units
            .trade(CHAT, &trade(SignalType::Buy, "SPY", 400.5, T0)))
        .unwrap();
        assert_eq!(
            f.kv.peek("execution_history:1").as_deref(),
            Some(
                r#"[{"signalType":"BUY","ticker":"SPY","executionPrice":400.5,"executionDate":1705276800000}]"#
            ),
            "{phase}"
        );
        assert_eq!(
            f.kv.peek("active_position:1").as_deref(),
            Some(r#"{"ticker":"SPY","entryPrice":400.5}"#)
        );
        assert_eq!(f.kv.peek("watchlist:1").as_deref(), Some(r#"["SPY"]"#));
        assert_eq!(f.count("SELECT COUNT(*) FROM executions"), 1, "{phase}");
        assert_eq!(f.count("SELECT COUNT(*) FROM active_positions"), 1);
        assert_eq!(f.count("SELECT COUNT(*) FROM watchlists"), 1);
        assert_eq!(repair_rows(&f), vec![]);
        let written: Vec<_> = evidence.take().writes;
        let want: Vec<_> = TRADED.iter().map(|r| (*r, "1".to_owned())).collect();
        assert_eq!(
            written, want,
            "{phase}: each entity counts as recently written"
        );
    }
}

#[test]
fn a_second_store_that_fails_the_trade_gets_a_repair_for_each_entity() {
    // (phase, how the second store fails, the store that missed the trade)
    let cases = [(Phase::Shadow, Store::Kv), (Phase::DualWrite, Store::D1)];
    for (phase, missed) in cases {
        let f = stores();
        sabotage(&f, Repository::Positions, missed);
        let (repos, evidence) = routed_in(&f, phase);
        let buy = trade(SignalType::Buy, "AAPL", 1.0, T0);
        assert_eq!(run(repos.units.trade(CHAT, &buy)), Ok(Landed::Complete));
        restore(&f, Repository::Positions, missed);
        let want: Vec<_> = TRADED.iter().map(|r| repair(*r, "1", missed)).collect();
        assert_eq!(repair_rows(&f), want, "{phase}");
        let collected = evidence.take();
        for repository in TRADED {
            assert_eq!(collected.write_failure_count(repository, missed), 1);
        }
        drained_and_equal(&f, phase);
    }
}

#[test]
fn a_kv_trade_that_stops_part_way_in_dual_write_queues_what_landed_for_d1() {
    // KV appends the execution, then fails to open the position: the user's trade failed, but
    // the execution is KV's, the store that answers, and D1 must get it too.
    let f = stores();
    f.kv.fail(KvOp::Put, "active_position:");
    let (repos, _) = routed_in(&f, Phase::DualWrite);
    let failed = run(repos
        .units
        .trade(CHAT, &trade(SignalType::Buy, "AAPL", 1.0, T0)));
    f.kv.heal();
    assert!(failed.is_err(), "{failed:?}");
    assert!(f.kv.peek("execution_history:1").is_some());
    assert_eq!(
        f.count("SELECT COUNT(*) FROM executions"),
        0,
        "D1's half never ran"
    );
    let want: Vec<_> = TRADED.iter().map(|r| repair(*r, "1", Store::D1)).collect();
    assert_eq!(repair_rows(&f), want);
    drained_and_equal(&f, Phase::DualWrite);
    assert_eq!(f.count("SELECT COUNT(*) FROM executions"), 1);
}

#[test]
fn a_kv_watchlist_that_misses_the_bought_ticker_is_repaired_in_either_direction() {
    for phase in [Phase::DualWrite, Phase::Shadow] {
        let f = stores();
        f.kv.fail(KvOp::Put, "watchlist:");
        let (repos, _) = routed_in(&f, phase);
        let got = run(repos
            .units
            .trade(CHAT, &trade(SignalType::Buy, "AAPL", 1.0, T0)));
        f.kv.heal();
        // In dual_write KV is authoritative: the user's watchlist is KV's, without AAPL, and D1
        // takes it back. In shadow D1 has the ticker and KV gets it.
        let (want, target, watchlist) = match phase {
            Phase::DualWrite => (Landed::WatchlistMissed, Store::D1, vec!["SPY"]),
            _ => (Landed::Complete, Store::Kv, vec!["SPY", "AAPL"]),
        };
        assert_eq!(got, Ok(want), "{phase}");
        assert_eq!(
            repair_rows(&f),
            vec![repair(Repository::Watchlists, "1", target)],
            "{phase}"
        );
        drained_and_equal(&f, phase);
        let (repos, _) = routed_in(&f, phase);
        assert_eq!(run(repos.watchlists.watchlist(CHAT)).unwrap(), watchlist);
    }
}

#[test]
fn across_phases_a_trade_is_three_calls_each_in_its_own_phase() {
    let f = stores();
    let mut phases = Phases::uniform(Phase::KvOnly);
    phases.set(Repository::Executions, Phase::D1Only);
    phases.set(Repository::Positions, Phase::Shadow);
    let (repos, _) = routed_with(&f, phases);
    run(repos
        .units
        .trade(CHAT, &trade(SignalType::Buy, "AAPL", 1.0, T0)))
    .unwrap();
    assert_eq!(
        f.kv.peek("execution_history:1"),
        None,
        "executions: d1_only"
    );
    assert_eq!(f.count("SELECT COUNT(*) FROM executions"), 1);
    assert!(
        f.kv.peek("active_position:1").is_some(),
        "positions: shadow"
    );
    assert_eq!(f.count("SELECT COUNT(*) FROM active_positions"), 1);
    assert!(f.kv.peek("watchlist:1").is_some(), "watchlists: kv_only");
    assert_eq!(f.count("SELECT COUNT(*) FROM watchlists"), 0);
}

#[test]
fn in_d1_only_a_new_subscriber_is_one_round_trip() {
    let f = stores();
    let (repos, _) = routed_in(&f, Phase::D1Only);
    assert_eq!(run(repos.units.enrol(CHAT)), Ok(Some(Landed::Complete)));
    assert_eq!(f.db.round_trips(), 1, "subscription and default watchlist");
    assert_eq!(
        f.count("SELECT COUNT(*) FROM watchlists WHERE ticker = 'SPY'"),
        1
    );
    assert_eq!(run(repos.subscriptions.subscribers()).unwrap(), vec![CHAT]);
}

#[test]
fn when_the_stores_disagree_on_a_subscriber_the_second_follows_the_first() {
    // KV never saw the subscription D1 has (a failed second write not yet drained): KV's
    // enrolment is new and stores the default, D1's is not and stores nothing.
    let f = stores();
    run(Repos::d1(&f.platform).subscriptions.subscribe(CHAT)).unwrap();
    let (repos, _) = routed_in(&f, Phase::DualWrite);
    assert_eq!(run(repos.units.enrol(CHAT)), Ok(Some(Landed::Complete)));
    assert_eq!(
        repair_rows(&f),
        vec![
            repair(Repository::Subscriptions, "1", Store::D1),
            repair(Repository::Watchlists, "1", Store::D1)
        ]
    );
    drained_and_equal(&f, Phase::DualWrite);
    assert_eq!(
        f.count("SELECT COUNT(*) FROM watchlists WHERE ticker = 'SPY'"),
        1
    );
}

#[test]
fn across_phases_an_enrolment_is_two_calls_each_in_its_own_phase() {
    let f = stores();
    let mut phases = Phases::uniform(Phase::KvOnly);
    phases.set(Repository::Subscriptions, Phase::D1Only);
    let (repos, _) = routed_with(&f, phases);
    assert_eq!(run(repos.units.enrol(CHAT)), Ok(Some(Landed::Complete)));
    assert_eq!(f.kv.peek("chat_ids"), None, "subscriptions: d1_only");
    assert_eq!(f.kv.peek("watchlist:1").as_deref(), Some(r#"["SPY"]"#));
    assert_eq!(
        f.count("SELECT COUNT(*) FROM watchlists"),
        0,
        "watchlists: kv_only"
    );
}

/// Lets KV settle, drains the repair queue, and checks both stores hold the chat's entities
/// alike.
fn drained_and_equal(f: &crate::helpers::Fixture, phase: Phase) {
    f.clock.advance(KV_PROPAGATION_MS + 1_000);
    let phases = Phases::uniform(phase);
    for _ in 0..20 {
        if run(run_step(&f.platform, phases, 10)).unwrap() == StepOutcome::Done {
            break;
        }
    }
    assert_eq!(repair_rows(f), vec![], "{phase}: drained");
    for key in entity_keys(CHAT) {
        let load = |store| run(entities(&f.platform, store).load(&key)).unwrap();
        assert_eq!(load(Store::Kv), load(Store::D1), "{phase}: {key:?}");
    }
}

fn entity_keys(chat: ChatId) -> [EntityKey; 4] {
    [
        EntityKey::Subscribers,
        EntityKey::Executions(chat),
        EntityKey::Position(chat),
        EntityKey::Watchlist(chat),
    ]
}

/// The chat's state as the user sees it.
#[derive(Debug, Clone, Default, PartialEq)]
struct Book {
    subscribed: bool,
    history: Vec<Execution>,
    position: Option<Position>,
    watchlist: Vec<String>,
}

impl Book {
    /// The reference trade: the watchlist step lands unless `watch_fails`.
    fn trade(&mut self, execution: &Execution, watch_fails: bool) -> Landed {
        self.history.insert(0, execution.clone());
        if execution.signal_type == SignalType::Sell {
            self.position = None;
            return Landed::Complete;
        }
        self.position = Some(Position {
            ticker: execution.ticker.clone(),
            entry_price: execution.execution_price,
        });
        self.watch(Some(&execution.ticker), watch_fails)
    }

    /// The reference enrolment.
    fn enrol(&mut self, watch_fails: bool) -> Option<Landed> {
        if self.subscribed {
            return None;
        }
        self.subscribed = true;
        Some(self.watch(None, watch_fails))
    }

    /// A watchlist step: the default when there is no list, then `ticker` unless present.
    fn watch(&mut self, ticker: Option<&String>, fails: bool) -> Landed {
        if fails {
            return Landed::WatchlistMissed;
        }
        if self.watchlist.is_empty() {
            self.watchlist.push("SPY".into());
        }
        if let Some(ticker) = ticker.filter(|t| !self.watchlist.contains(t)) {
            self.watchlist.push(ticker.clone());
        }
        Landed::Complete
    }
}

#[derive(Debug, Clone)]
enum Op {
    Trade { sell: bool, ticker: usize },
    Enrol,
    Stop,
}

impl Op {
    fn touched(&self) -> &'static [Repository] {
        match self {
            Op::Trade { .. } => &UNIT_REPOSITORIES[1..],
            Op::Enrol => &[Repository::Subscriptions, Repository::Watchlists],
            Op::Stop => &UNIT_REPOSITORIES[..1],
        }
    }
}

const UNIT_REPOSITORIES: [Repository; 4] = [
    Repository::Subscriptions,
    Repository::Executions,
    Repository::Positions,
    Repository::Watchlists,
];
const TICKERS: [&str; 3] = ["SPY", "AAPL", "MSFT"];
const BOTH_STORES: [Phase; 2] = [Phase::DualWrite, Phase::Shadow];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (any::<bool>(), 0..TICKERS.len()).prop_map(|(sell, ticker)| Op::Trade { sell, ticker }),
        1 => Just(Op::Enrol),
        1 => Just(Op::Stop),
    ]
}

/// Where an injected failure goes: a second store of a repository, or the authoritative store
/// of the watchlists (whose failure a unit tolerates) when that is KV: a D1 failure fails the
/// whole batch.
fn failed_store(phases: Phases, repository: Repository, authoritative: bool) -> Option<Store> {
    match (phases.get(repository), authoritative, repository) {
        (Phase::DualWrite, true, Repository::Watchlists) => Some(Store::Kv),
        (_, true, _) => None,
        (Phase::DualWrite, false, _) => Some(Store::D1),
        (Phase::Shadow, false, _) => Some(Store::Kv),
        _ => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Trades, enrolments and unsubscriptions in every mix of dual_write and shadow over the
    /// four repositories, some with a store failing, their second writes at once or after the
    /// call: the user sees the reference's answers, and once the repair queue drains KV and D1
    /// hold the same entities.
    #[test]
    fn units_keep_both_stores_whole(
        phases in proptest::array::uniform4(proptest::sample::select(BOTH_STORES.to_vec())),
        queued in any::<bool>(),
        ops in proptest::collection::vec(
            (op(), proptest::option::of((0..UNIT_REPOSITORIES.len(), any::<bool>()))),
            1..14,
        ),
    ) {
        let f = stores();
        let mut all = Phases::uniform(Phase::KvOnly);
        for (repository, phase) in UNIT_REPOSITORIES.into_iter().zip(phases) {
            all.set(repository, phase);
        }
        let mut book = Book::default();
        for (i, (op, failure)) in ops.into_iter().enumerate() {
            let touched = op.touched();
            let joint = touched.iter().all(|r| all.get(*r) == all.get(touched[0]));
            // Failures go to a repository the unit touches (D1's `users` holds every chat's
            // row). A watchlist read of an enrolment across phases is a shadow read, whose
            // failed KV half stores no default and queues nothing (left to validation): not
            // injected.
            let injected = failure
                .filter(|_| joint || !matches!(op, Op::Enrol))
                .map(|(r, authoritative)| (UNIT_REPOSITORIES[r], authoritative))
                .filter(|(repository, _)| touched.contains(repository))
                .and_then(|(repository, authoritative)| {
                    failed_store(all, repository, authoritative).map(|store| (repository, store))
                });
            let watch_fails = injected == Some((Repository::Watchlists, Store::Kv))
                && all.get(Repository::Watchlists) == Phase::DualWrite;

            // As the app runs them (after the replies), or at once.
            let later = if queued { AfterReplies::queued() } else { AfterReplies::inline() };
            let repos = routed(&f.platform, all, Evidence::default(), later.clone(), UpdateClaim::none());
            if let Some((repository, store)) = injected {
                sabotage(&f, repository, store);
            }
            match op {
                Op::Trade { sell, ticker } => {
                    let signal = if sell { SignalType::Sell } else { SignalType::Buy };
                    let execution = trade(signal, TICKERS[ticker], 1.0 + i as f64, T0 + i as i64);
                    let got = run(repos.units.trade(CHAT, &execution));
                    prop_assert_eq!(got, Ok(book.trade(&execution, watch_fails)), "{:?}", injected);
                }
                Op::Enrol => {
                    let got = run(repos.units.enrol(CHAT));
                    prop_assert_eq!(got, Ok(book.enrol(watch_fails)), "{:?}", injected);
                }
                Op::Stop => {
                    let got = run(repos.subscriptions.unsubscribe(CHAT));
                    prop_assert_eq!(got, Ok(book.subscribed), "{:?}", injected);
                    book.subscribed = false;
                }
            }
            run(later.run());
            if let Some((repository, store)) = injected {
                restore(&f, repository, store);
            }

            let (repos, _) = routed_with(&f, all);
            let subscribers = run(repos.subscriptions.subscribers()).unwrap();
            let seen = Book {
                subscribed: subscribers == [CHAT],
                history: run(repos.executions.history(CHAT, None)).unwrap(),
                position: run(repos.positions.position(CHAT)).unwrap(),
                watchlist: if book.watchlist.is_empty() {
                    vec![]
                } else {
                    run(repos.watchlists.watchlist(CHAT)).unwrap()
                },
            };
            prop_assert_eq!(&seen, &book);
        }
        f.clock.advance(KV_PROPAGATION_MS + 1_000);
        for _ in 0..50 {
            if run(run_step(&f.platform, all, 10)).unwrap() == StepOutcome::Done {
                break;
            }
        }
        prop_assert_eq!(repair_rows(&f), vec![]);
        for key in entity_keys(CHAT) {
            let load = |store| run(entities(&f.platform, store).load(&key)).unwrap();
            prop_assert_eq!(load(Store::Kv), load(Store::D1), "{:?} in {:?}", key, all);
        }
    }
}
