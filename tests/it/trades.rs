//! `/execute`'s writes routed as one trade (migration.md §2): one D1 `batch()` when the
//! repositories it touches share a phase, a repair for each entity a second store missed, and
//! the three routed calls while their phases differ. The property at the end holds all of it
//! against a reference under injected store failures.

use crate::contract::execution as trade;
use crate::helpers::{run, T0};
use crate::router::{repair, repair_rows, routed_in, routed_with, stores, CHAT};
use crate::router_model::{restore, sabotage};
use fear_greed_bot::domain::{ChatId, Execution, Position, SignalType};
use fear_greed_bot::migration::experiment::KV_PROPAGATION_MS;
use fear_greed_bot::migration::repair::{run_step, StepOutcome};
use fear_greed_bot::migration::{Phase, Phases, Repository, Store};
use fear_greed_bot::platform::native::KvOp;
use fear_greed_bot::storage::{entities, EntityKey, Traded};
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
    assert_eq!(run(repos.trades.trade(CHAT, &buy)), Ok(Traded::Complete));
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
        .trades
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
        .trades
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
            .trades
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
        assert_eq!(run(repos.trades.trade(CHAT, &buy)), Ok(Traded::Complete));
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
fn a_kv_watchlist_that_misses_the_bought_ticker_is_repaired_in_either_direction() {
    for phase in [Phase::DualWrite, Phase::Shadow] {
        let f = stores();
        f.kv.fail(KvOp::Put, "watchlist:");
        let (repos, _) = routed_in(&f, phase);
        let got = run(repos
            .trades
            .trade(CHAT, &trade(SignalType::Buy, "AAPL", 1.0, T0)));
        f.kv.heal();
        // In dual_write KV is authoritative: the user's watchlist is KV's, without AAPL, and D1
        // takes it back. In shadow D1 has the ticker and KV gets it.
        let (want, target, watchlist) = match phase {
            Phase::DualWrite => (Traded::WatchlistMissed, Store::D1, vec!["SPY"]),
            _ => (Traded::Complete, Store::Kv, vec!["SPY", "AAPL"]),
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
        .trades
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

/// Lets KV settle, drains the repair queue, and checks both stores hold the chat's three
/// entities alike.
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

fn entity_keys(chat: ChatId) -> [EntityKey; 3] {
    [
        EntityKey::Executions(chat),
        EntityKey::Position(chat),
        EntityKey::Watchlist(chat),
    ]
}

/// The chat's state as the user sees it.
#[derive(Debug, Clone, Default, PartialEq)]
struct Book {
    history: Vec<Execution>,
    position: Option<Position>,
    watchlist: Vec<String>,
}

impl Book {
    /// The reference trade: the watchlist step lands unless `watch_fails`.
    fn trade(&mut self, execution: &Execution, watch_fails: bool) -> Traded {
        self.history.insert(0, execution.clone());
        if execution.signal_type == SignalType::Sell {
            self.position = None;
            return Traded::Complete;
        }
        self.position = Some(Position {
            ticker: execution.ticker.clone(),
            entry_price: execution.execution_price,
        });
        if watch_fails {
            return Traded::WatchlistMissed;
        }
        if self.watchlist.is_empty() {
            self.watchlist.push("SPY".into());
        }
        if !self.watchlist.contains(&execution.ticker) {
            self.watchlist.push(execution.ticker.clone());
        }
        Traded::Complete
    }
}

const TICKERS: [&str; 3] = ["SPY", "AAPL", "MSFT"];
const BOTH_STORES: [Phase; 2] = [Phase::DualWrite, Phase::Shadow];

/// Where a trade's injected failure goes: a second store of one of the three repositories, or
/// the authoritative store of the watchlist (whose failure a trade tolerates).
fn failed_store(phases: Phases, repository: Repository, authoritative: bool) -> Option<Store> {
    let (first, second) = match phases.get(repository) {
        Phase::KvOnly => (Store::Kv, None),
        Phase::DualWrite => (Store::Kv, Some(Store::D1)),
        Phase::Shadow => (Store::D1, Some(Store::Kv)),
        Phase::D1Only => (Store::D1, None),
    };
    match (authoritative, repository, first) {
        // A D1 failure fails the whole batch, so only KV's watchlist step may fail alone.
        (true, Repository::Watchlists, Store::Kv) => Some(Store::Kv),
        (true, ..) => None,
        (false, ..) => second,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Trades in every mix of dual_write and shadow over the three repositories, some with a
    /// store failing: the user sees the reference's answers, and once the queue drains KV and
    /// D1 hold the same three entities.
    #[test]
    fn trades_keep_both_stores_whole(
        phases in proptest::array::uniform3(proptest::sample::select(BOTH_STORES.to_vec())),
        trades in proptest::collection::vec(
            (any::<bool>(), 0..TICKERS.len(), proptest::option::of((0..3usize, any::<bool>()))),
            1..12,
        ),
    ) {
        let f = stores();
        let mut all = Phases::uniform(Phase::KvOnly);
        for (repository, phase) in TRADED.into_iter().zip(phases) {
            all.set(repository, phase);
        }
        let mut book = Book::default();
        for (i, (sell, ticker, failure)) in trades.into_iter().enumerate() {
            let signal = if sell { SignalType::Sell } else { SignalType::Buy };
            let execution = trade(signal, TICKERS[ticker], 1.0 + i as f64, T0 + i as i64);
            let injected = failure.and_then(|(r, authoritative)| {
                failed_store(all, TRADED[r], authoritative).map(|store| (TRADED[r], store))
            });
            let (repos, _) = routed_with(&f, all);
            if let Some((repository, store)) = injected {
                sabotage(&f, repository, store);
            }
            let got = run(repos.trades.trade(CHAT, &execution));
            if let Some((repository, store)) = injected {
                restore(&f, repository, store);
            }
            let watch_fails = matches!(injected, Some((Repository::Watchlists, Store::Kv)))
                && all.get(Repository::Watchlists) == Phase::DualWrite;
            prop_assert_eq!(got, Ok(book.trade(&execution, watch_fails)), "{:?}", injected);

            let (repos, _) = routed_with(&f, all);
            let seen = Book {
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
