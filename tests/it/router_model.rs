//! The router and the repair drain against a reference model: random sequences of user
//! operations on all five repositories, interleaved with phase moves of random repositories,
//! failures of the non-authoritative store and drain steps, must behave like one plain
//! in-memory store, and once the repair queue is drained the two stores must agree.
//!
//! Each run starts with both stores empty and every repository in a random phase (with no
//! data, any phase is consistent). Each step builds fresh routed repositories, as a request
//! does. After every call:
//!
//! - the call succeeded with the answer the reference [`Model`] gives (reads and the outcomes
//!   of writes alike);
//! - a failure injected into the second store showed up as exactly one failed write, and the
//!   repair queue holds a row for that repository, entity and target;
//! - nothing else failed, no read fell back to KV, and exactly the shadow reads left an
//!   observation.
//!
//! After every drain step, no repair failed or raced (nothing fails or runs concurrently
//! then). At the end, once KV has settled and the queue is drained: the queue is empty; every
//! entity the model knows holds the same domain value in KV and D1 (whole-entity snapshots),
//! in every repository not in `d1_only`, except the entities whose D1 missed a write in
//! `kv_only` (the backfill's to copy, not built yet) and never got it back from a drained
//! repair; and every entity, read straight from each repository's authoritative store, is the
//! model's: no acknowledged write was lost across the phases, flips and repairs.
//!
//! # Which moves are generated, and why
//!
//! The backfill and the reverse sync are not built yet, so the generator only makes the moves
//! whose preconditions hold without them; a move that does not qualify at its step is skipped.
//! These are the guard rails of migration.md §4 where they protect data, checked against the
//! real stores and queue:
//!
//! - `kv_only → dual_write`: always. D1 then lacks what `kv_only` wrote.
//! - `dual_write → shadow`: only when no repair is queued for the repository and every one of
//!   its entities agrees in both stores (in production: backfill done, validation clean, `d1`
//!   repairs drained), since shadow serves D1. A drain step is what lets a repository whose
//!   D1 writes failed move on.
//! - `shadow → d1_only`: always; KV stops mattering (its queued repairs are dropped).
//! - `dual_write → kv_only`: always; KV was authoritative all along, and its `d1` repairs
//!   still copy KV → D1.
//! - `shadow → dual_write`: only when no `kv` repair is queued for the repository. §4 allows
//!   this rollback unconditionally, but it makes KV authoritative again: with `kv` repairs
//!   still queued, users would see the stale KV values until the drain ran. The drain then
//!   restores them (`migration::repair` has the case), but asserting the stale answers in
//!   between would enshrine the gap, so the test stays on the side of the rule the guard
//!   rail should have (drain first), which a drain step now makes reachable.
//! - `d1_only → shadow`: never (it needs the reverse sync).
//!
//! Failures are injected only into the second store of `dual_write` (D1) or `shadow` (KV),
//! for one write at a time, and deterministically: the repository's D1 table is renamed away,
//! or every KV get, put and delete on its key prefix fails, so the second write fails whole and
//! changes nothing. Staying in shadow with a `kv` repair queued is within the model: reads
//! are served by D1, and the queued repair keeps a stale KV record from being served as a
//! fallback.

use crate::helpers::{run, Fixture, T0};
use crate::router::{repair, repair_rows, routed_with, stores};
use fear_greed_bot::domain::{
    normalize_ticker, CacheEntry, ChatId, Execution, Position, SignalType, Subscriber,
    DEFAULT_TICKER, FEAR_GREED_CACHE_KEY,
};
use fear_greed_bot::migration::experiment::KV_PROPAGATION_MS;
use fear_greed_bot::migration::repair::{run_step, StepOutcome};
use fear_greed_bot::migration::{Phase, Phases};
use fear_greed_bot::platform::native::KvOp;
use fear_greed_bot::storage::d1::RepairQueue;
use fear_greed_bot::storage::{
    entities, AddTicker, EntityKey, RemoveTicker, Repos, Repository, StorageResult, Store,
};
use proptest::prelude::*;
use serde_json::json;
use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};

const CHATS: [i64; 3] = [1, 2, -1_001_234_567_890];
/// Raw tickers as users type them; some normalise to the same ticker.
const TICKERS: [&str; 5] = ["SPY", "aapl", " AAPL ", "msft", "BRK.B"];
const EXECUTION_TICKERS: [&str; 3] = ["SPY", "AAPL", "MSFT"];
const DAY: i64 = 86_400_000;
/// Few dates, so equal dates (kept in insertion order) are common.
const DATES: [i64; 3] = [T0 - DAY, T0, -2_203_891_200_000];
const CACHE_KEYS: [&str; 2] = [FEAR_GREED_CACHE_KEY, "other_cache"];

#[derive(Debug, Clone)]
enum Op {
    Subscribe(usize),
    Unsubscribe(usize),
    Subscribers,
    Entries,
    Watchlist(usize),
    Add(usize, usize),
    Remove(usize, usize),
    Record(usize, Execution),
    History(usize, Option<usize>),
    Latest(usize),
    SetPosition(usize, Position),
    ClearPosition(usize),
    Position(usize),
    Store(usize, i64),
    Fresh(usize),
}

impl Op {
    fn repository(&self) -> Repository {
        match self {
            Op::Subscribe(_) | Op::Unsubscribe(_) | Op::Subscribers | Op::Entries => {
                Repository::Subscriptions
            }
            Op::Watchlist(_) | Op::Add(..) | Op::Remove(..) => Repository::Watchlists,
            Op::Record(..) | Op::History(..) | Op::Latest(_) => Repository::Executions,
            Op::SetPosition(..) | Op::ClearPosition(_) | Op::Position(_) => Repository::Positions,
            Op::Store(..) | Op::Fresh(_) => Repository::Cache,
        }
    }

    /// The entity the call reads or changes.
    fn entity(&self) -> EntityKey {
        match self {
            Op::Subscribe(_) | Op::Unsubscribe(_) | Op::Subscribers | Op::Entries => {
                EntityKey::Subscribers
            }
            Op::Watchlist(c) | Op::Add(c, _) | Op::Remove(c, _) => EntityKey::Watchlist(chat(*c)),
            Op::Record(c, _) | Op::History(c, _) | Op::Latest(c) => EntityKey::Executions(chat(*c)),
            Op::SetPosition(c, _) | Op::ClearPosition(c) | Op::Position(c) => {
                EntityKey::Position(chat(*c))
            }
            Op::Store(k, _) | Op::Fresh(k) => EntityKey::Cache(CACHE_KEYS[*k].to_owned()),
        }
    }

    /// Whether the call may store something: every write, and a watchlist read (which stores
    /// the default list when there is none).
    fn may_write(&self) -> bool {
        self.written_entity().is_some() || matches!(self, Op::Watchlist(_))
    }

    /// The entity a write changes (its repair key); `None` for reads.
    fn written_entity(&self) -> Option<String> {
        match self {
            Op::Subscribe(c)
            | Op::Unsubscribe(c)
            | Op::Add(c, _)
            | Op::Remove(c, _)
            | Op::Record(c, _)
            | Op::SetPosition(c, _)
            | Op::ClearPosition(c) => Some(CHATS[*c].to_string()),
            Op::Store(k, _) => Some(CACHE_KEYS[*k].to_owned()),
            _ => None,
        }
    }
}

fn chat(index: usize) -> ChatId {
    ChatId::new(CHATS[index])
}

/// What a call answered, comparable between the router and the model.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Changed(bool),
    Chats(Vec<ChatId>),
    Entries(Vec<Subscriber>),
    Tickers(Vec<String>),
    Added(AddTicker),
    Removed(RemoveTicker),
    Done,
    History(Vec<Execution>),
    Latest(Option<Execution>),
    Position(Option<Position>),
    Cache(Option<CacheEntry>),
}

/// The reference: one plain in-memory store with the repositories' documented behaviour.
#[derive(Default)]
struct Model {
    subscribers: Vec<ChatId>,
    watchlists: HashMap<ChatId, Vec<String>>,
    executions: HashMap<ChatId, Vec<Execution>>,
    positions: HashMap<ChatId, Position>,
    cache: HashMap<&'static str, CacheEntry>,
}

impl Model {
    fn apply(&mut self, op: &Op, now: i64) -> Outcome {
        match op {
            Op::Subscribe(c) => {
                let new = !self.subscribers.contains(&chat(*c));
                if new {
                    self.subscribers.push(chat(*c));
                }
                Outcome::Changed(new)
            }
            Op::Unsubscribe(c) => {
                let at = self.subscribers.iter().position(|s| *s == chat(*c));
                at.map(|at| self.subscribers.remove(at));
                Outcome::Changed(at.is_some())
            }
            Op::Subscribers => Outcome::Chats(self.subscribers.clone()),
            Op::Entries => Outcome::Entries(
                self.subscribers
                    .iter()
                    .copied()
                    .map(Subscriber::Chat)
                    .collect(),
            ),
            Op::Watchlist(c) => Outcome::Tickers(self.watchlist(chat(*c)).clone()),
            Op::Add(c, t) => {
                let ticker = normalize_ticker(TICKERS[*t]);
                let list = self.watchlist(chat(*c));
                Outcome::Added(if list.contains(&ticker) {
                    AddTicker::AlreadyPresent
                } else {
                    list.push(ticker);
                    AddTicker::Added
                })
            }
            Op::Remove(c, t) => {
                let ticker = normalize_ticker(TICKERS[*t]);
                let list = self.watchlist(chat(*c));
                Outcome::Removed(match list.iter().position(|x| *x == ticker) {
                    None => RemoveTicker::NotPresent,
                    Some(at) => {
                        list.remove(at);
                        if list.is_empty() {
                            list.push(DEFAULT_TICKER.to_owned());
                            RemoveTicker::RemovedDefaultRestored
                        } else {
                            RemoveTicker::Removed
                        }
                    }
                })
            }
            Op::Record(c, execution) => {
                self.executions
                    .entry(chat(*c))
                    .or_default()
                    .push(execution.clone());
                Outcome::Done
            }
            Op::History(c, ticker) => {
                Outcome::History(self.history(chat(*c), ticker.map(|t| TICKERS[t])))
            }
            Op::Latest(c) => Outcome::Latest(self.history(chat(*c), None).into_iter().next()),
            Op::SetPosition(c, position) => {
                self.positions.insert(chat(*c), position.clone());
                Outcome::Done
            }
            Op::ClearPosition(c) => {
                self.positions.remove(&chat(*c));
                Outcome::Done
            }
            Op::Position(c) => Outcome::Position(self.positions.get(&chat(*c)).cloned()),
            Op::Store(k, score) => {
                let entry = CacheEntry {
                    data: json!({ "score": score }),
                    written_at: now,
                };
                self.cache.insert(CACHE_KEYS[*k], entry);
                Outcome::Done
            }
            Op::Fresh(k) => Outcome::Cache(self.fresh(CACHE_KEYS[*k], now)),
        }
    }

    /// A missing watchlist is the default, and reading it stores it.
    fn watchlist(&mut self, chat: ChatId) -> &mut Vec<String> {
        self.watchlists
            .entry(chat)
            .or_insert_with(|| vec![DEFAULT_TICKER.to_owned()])
    }

    /// Newest first, equal dates in insertion order, optionally one ticker.
    fn history(&self, chat: ChatId, ticker: Option<&str>) -> Vec<Execution> {
        let mut history: Vec<Execution> = self
            .executions
            .get(&chat)
            .into_iter()
            .flatten()
            .filter(|e| ticker.is_none_or(|t| e.ticker.to_uppercase() == normalize_ticker(t)))
            .cloned()
            .collect();
        history.sort_by_key(|e| Reverse(e.execution_date));
        history
    }

    fn fresh(&self, key: &str, now: i64) -> Option<CacheEntry> {
        self.cache
            .get(key)
            .filter(|entry| entry.is_fresh(now))
            .cloned()
    }
}

async fn call(repos: &Repos, op: &Op, now: i64) -> StorageResult<Outcome> {
    Ok(match op {
        Op::Subscribe(c) => Outcome::Changed(repos.subscriptions.subscribe(chat(*c)).await?),
        Op::Unsubscribe(c) => Outcome::Changed(repos.subscriptions.unsubscribe(chat(*c)).await?),
        Op::Subscribers => Outcome::Chats(repos.subscriptions.subscribers().await?),
        Op::Entries => Outcome::Entries(repos.subscriptions.entries().await?),
        Op::Watchlist(c) => Outcome::Tickers(repos.watchlists.watchlist(chat(*c)).await?),
        Op::Add(c, t) => Outcome::Added(repos.watchlists.add(chat(*c), TICKERS[*t]).await?),
        Op::Remove(c, t) => Outcome::Removed(repos.watchlists.remove(chat(*c), TICKERS[*t]).await?),
        Op::Record(c, execution) => {
            repos.executions.record(chat(*c), execution).await?;
            Outcome::Done
        }
        Op::History(c, ticker) => Outcome::History(
            repos
                .executions
                .history(chat(*c), ticker.map(|t| TICKERS[t]))
                .await?,
        ),
        Op::Latest(c) => Outcome::Latest(repos.executions.latest(chat(*c)).await?),
        Op::SetPosition(c, position) => {
            repos.positions.set_position(chat(*c), position).await?;
            Outcome::Done
        }
        Op::ClearPosition(c) => {
            repos.positions.clear_position(chat(*c)).await?;
            Outcome::Done
        }
        Op::Position(c) => Outcome::Position(repos.positions.position(chat(*c)).await?),
        Op::Store(k, score) => {
            let entry = CacheEntry {
                data: json!({ "score": score }),
                written_at: now,
            };
            repos.cache.store(CACHE_KEYS[*k], &entry).await?;
            Outcome::Done
        }
        Op::Fresh(k) => Outcome::Cache(repos.cache.fresh(CACHE_KEYS[*k], now).await?),
    })
}

/// The D1 table and the KV key prefix each repository lives in.
pub(crate) fn homes(repository: Repository) -> (&'static str, &'static str) {
    match repository {
        Repository::Subscriptions => ("users", "chat_ids"),
        Repository::Watchlists => ("watchlists", "watchlist:"),
        Repository::Executions => ("executions", "execution_history:"),
        Repository::Positions => ("active_positions", "active_position:"),
        Repository::Cache => ("cache", ""),
    }
}

/// Makes every call of `repository` on `store` fail, until [`restore`].
pub(crate) fn sabotage(f: &Fixture, repository: Repository, store: Store) {
    let (table, prefix) = homes(repository);
    match store {
        Store::D1 => {
            f.db.run_script(&format!("ALTER TABLE {table} RENAME TO {table}_away"))
                .unwrap()
        }
        Store::Kv => {
            let prefixes: &[&str] = match repository {
                Repository::Cache => &CACHE_KEYS,
                _ => &[prefix],
            };
            for prefix in prefixes {
                for op in [KvOp::Get, KvOp::Put, KvOp::Delete] {
                    f.kv.fail(op, prefix);
                }
            }
        }
    }
}

pub(crate) fn restore(f: &Fixture, repository: Repository, store: Store) {
    match store {
        Store::D1 => {
            let (table, _) = homes(repository);
            f.db.run_script(&format!("ALTER TABLE {table}_away RENAME TO {table}"))
                .unwrap()
        }
        Store::Kv => f.kv.heal(),
    }
}

#[derive(Debug, Clone)]
enum Step {
    Call {
        op: Op,
        fail_second_store: bool,
    },
    Forward(Repository),
    Rollback(Repository),
    Wait(i64),
    /// One drain step with this budget, in the phases of the moment.
    Drain(usize),
}

/// Where the run stands: the phases, and which entities D1 missed a write of in `kv_only`.
struct World {
    f: Fixture,
    phases: Phases,
    model: Model,
    /// Entities whose D1 may lack a `kv_only` write (no repair is queued for those): the
    /// backfill's to copy. An entity leaves the set once a drain finds both stores agreeing on
    /// it (a drained `d1` repair copies the whole entity); from then on every write reaches
    /// both stores or queues a repair, until the next `kv_only` write.
    unsynced: HashSet<EntityKey>,
}

impl World {
    fn new(initial: [Phase; 5]) -> Self {
        let mut phases = Phases::uniform(Phase::KvOnly);
        for (repository, phase) in Repository::ALL.into_iter().zip(initial) {
            phases.set(repository, phase);
        }
        Self {
            f: stores(),
            phases,
            model: Model::default(),
            unsynced: HashSet::new(),
        }
    }

    /// Whether `target` has a repair queued for any entity of `repository`.
    fn queued(&self, repository: Repository, target: Store) -> bool {
        let queue = RepairQueue::new(&self.f.platform);
        run(queue.has_pending(repository, None, target)).unwrap()
    }

    /// Whether both stores hold the same value of `key`.
    fn agree(&self, key: &EntityKey) -> bool {
        let load = |store| run(entities(&self.f.platform, store).load(key)).unwrap();
        load(Store::Kv) == load(Store::D1)
    }

    /// The moves the guard rails allow here (see the module docs); others are skipped.
    fn forward(&mut self, repository: Repository) {
        let next = match self.phases.get(repository).next() {
            Some(Phase::Shadow)
                if self.queued(repository, Store::D1)
                    || self.queued(repository, Store::Kv)
                    || !entity_keys(repository).iter().all(|key| self.agree(key)) =>
            {
                None
            }
            next => next,
        };
        if let Some(phase) = next {
            self.phases.set(repository, phase);
        }
    }

    fn rollback(&mut self, repository: Repository) {
        let previous = match self.phases.get(repository) {
            Phase::DualWrite => Some(Phase::KvOnly),
            Phase::Shadow if !self.queued(repository, Store::Kv) => Some(Phase::DualWrite),
            _ => None,
        };
        if let Some(phase) = previous {
            self.phases.set(repository, phase);
        }
    }

    fn call(&mut self, op: &Op, fail_second_store: bool) -> Result<(), TestCaseError> {
        let repository = op.repository();
        let phase = self.phases.get(repository);
        let written = op.written_entity();
        // The second store, whose write fails when a failure is injected into a write.
        let second = match phase {
            Phase::DualWrite => Some(Store::D1),
            Phase::Shadow => Some(Store::Kv),
            Phase::KvOnly | Phase::D1Only => None,
        };
        let injected = second.filter(|_| fail_second_store && written.is_some());

        let now = self.f.clock_now();
        let (repos, evidence) = routed_with(&self.f, self.phases);
        if let Some(store) = injected {
            sabotage(&self.f, repository, store);
        }
        let got = run(call(&repos, op, now));
        if let Some(store) = injected {
            restore(&self.f, repository, store);
        }
        let want = self.model.apply(op, now);
        prop_assert_eq!(got, Ok(want), "{:?} in {}", op, phase);

        let collected = evidence.take();
        prop_assert_eq!(&collected.fallbacks, &vec![], "{:?} in {}", op, phase);
        let shadow_read = phase == Phase::Shadow && written.is_none();
        prop_assert_eq!(collected.observations.len(), usize::from(shadow_read));
        match injected {
            Some(target) => {
                let entity = written
                    .as_deref()
                    .expect("failures are injected into writes only");
                prop_assert_eq!(collected.write_failures.len(), 1);
                prop_assert_eq!(collected.write_failures[0].target, target);
                prop_assert!(collected.write_failures[0].queued);
                let rows = repair_rows(&self.f);
                prop_assert!(
                    rows.contains(&repair(repository, entity, target)),
                    "{:?} in {}: no repair row in {:?}",
                    op,
                    phase,
                    rows
                );
            }
            None => prop_assert_eq!(&collected.write_failures, &vec![]),
        }
        // `kv_only` leaves D1 out of every write, with nothing queued. (What `d1_only` leaves
        // KV out of never matters again: the repository never leaves `d1_only`.)
        if phase == Phase::KvOnly && op.may_write() {
            self.unsynced.insert(op.entity());
        }
        Ok(())
    }

    /// One drain step: nothing fails or races here, so every repair it takes is settled or,
    /// when it would read KV too soon, deferred.
    fn drain(&mut self, budget: usize) -> Result<StepOutcome, TestCaseError> {
        let outcome = run(run_step(&self.f.platform, self.phases, budget));
        prop_assert!(outcome.is_ok(), "{:?}", outcome);
        let outcome = outcome.unwrap();
        if let StepOutcome::Progressed { tally, .. } = outcome {
            prop_assert_eq!((tally.failed, tally.raced), (0, 0), "{:?}", tally);
        }
        let resynced: Vec<EntityKey> = self
            .unsynced
            .iter()
            .filter(|key| self.agree(key))
            .cloned()
            .collect();
        for key in resynced {
            self.unsynced.remove(&key);
        }
        Ok(outcome)
    }

    /// Lets KV settle and drains the queue to its end.
    fn drain_all(&mut self) -> Result<(), TestCaseError> {
        // A repair queued again within the same millisecond moves 1 ms ahead of the clock;
        // a run has fewer than 1,000 steps.
        self.f.clock.advance(KV_PROPAGATION_MS + 1_000);
        for _ in 0..100 {
            let outcome = self.drain(4)?;
            if outcome == StepOutcome::Done {
                prop_assert_eq!(repair_rows(&self.f), vec![]);
                return Ok(());
            }
            // A copy into D1 is a change of the entity: a repair of it from KV waits until
            // KV's propagation window has passed again.
            if matches!(outcome, StepOutcome::Progressed { tally, .. } if tally.deferred > 0) {
                self.f.clock.advance(KV_PROPAGATION_MS);
            }
        }
        Err(TestCaseError::fail("the queue never drained"))
    }

    /// After the drain, both stores hold the same value of every entity the model knows, but
    /// for `d1_only` repositories and entities D1 missed in `kv_only`.
    fn check_stores_agree(&self) -> Result<(), TestCaseError> {
        for repository in Repository::ALL {
            if self.phases.get(repository) == Phase::D1Only {
                continue;
            }
            for key in entity_keys(repository) {
                if self.unsynced.contains(&key) {
                    continue;
                }
                let load = |store| run(entities(&self.f.platform, store).load(&key)).unwrap();
                prop_assert_eq!(
                    load(Store::Kv),
                    load(Store::D1),
                    "{} in {}",
                    key,
                    self.phases.get(repository)
                );
            }
        }
        Ok(())
    }

    /// Every entity, read straight from each repository's authoritative store, is the model's.
    fn check_nothing_lost(&mut self) -> Result<(), TestCaseError> {
        let now = self.f.clock_now();
        let kv = Repos::kv(&self.f.platform);
        let d1 = Repos::d1(&self.f.platform);
        for repository in Repository::ALL {
            let repos = match self.phases.get(repository) {
                Phase::KvOnly | Phase::DualWrite => &kv,
                Phase::Shadow | Phase::D1Only => &d1,
            };
            let reads: Vec<Op> = match repository {
                Repository::Subscriptions => vec![Op::Subscribers],
                Repository::Watchlists => (0..CHATS.len()).map(Op::Watchlist).collect(),
                Repository::Executions => (0..CHATS.len()).map(|c| Op::History(c, None)).collect(),
                Repository::Positions => (0..CHATS.len()).map(Op::Position).collect(),
                Repository::Cache => (0..CACHE_KEYS.len()).map(Op::Fresh).collect(),
            };
            for op in reads {
                let got = run(call(repos, &op, now));
                prop_assert_eq!(got, Ok(self.model.apply(&op, now)), "{:?} at the end", op);
            }
        }
        Ok(())
    }
}

/// Every entity of `repository` the model can know.
fn entity_keys(repository: Repository) -> Vec<EntityKey> {
    let chats = CHATS.map(ChatId::new);
    match repository {
        Repository::Subscriptions => vec![EntityKey::Subscribers],
        Repository::Watchlists => chats.map(EntityKey::Watchlist).to_vec(),
        Repository::Executions => chats.map(EntityKey::Executions).to_vec(),
        Repository::Positions => chats.map(EntityKey::Position).to_vec(),
        Repository::Cache => CACHE_KEYS.map(|k| EntityKey::Cache(k.to_owned())).to_vec(),
    }
}

fn repository() -> impl Strategy<Value = Repository> {
    prop::sample::select(Repository::ALL.to_vec())
}

fn phase() -> impl Strategy<Value = Phase> {
    prop::sample::select(Phase::ALL.to_vec())
}

fn execution() -> impl Strategy<Value = Execution> {
    let price = prop_oneof![
        1 => Just(None),
        4 => (1u32..4_000).prop_map(|quarters| Some(f64::from(quarters) / 4.0)),
    ];
    (
        any::<bool>(),
        0..EXECUTION_TICKERS.len(),
        price.clone(),
        0..DATES.len(),
        price,
    )
        .prop_map(|(buy, ticker, price, date, signal_price)| Execution {
            signal_type: if buy {
                SignalType::Buy
            } else {
                SignalType::Sell
            },
            ticker: EXECUTION_TICKERS[ticker].to_owned(),
            execution_price: price,
            execution_date: DATES[date],
            signal_price,
        })
}

fn op() -> impl Strategy<Value = Op> {
    let chat = || 0..CHATS.len();
    let ticker = || 0..TICKERS.len();
    let key = || 0..CACHE_KEYS.len();
    let position = (0..EXECUTION_TICKERS.len(), prop::option::of(1u32..4_000)).prop_map(
        |(ticker, quarters)| Position {
            ticker: EXECUTION_TICKERS[ticker].to_owned(),
            entry_price: quarters.map(|q| f64::from(q) / 4.0),
        },
    );
    prop_oneof![
        chat().prop_map(Op::Subscribe),
        chat().prop_map(Op::Unsubscribe),
        Just(Op::Subscribers),
        Just(Op::Entries),
        chat().prop_map(Op::Watchlist),
        (chat(), ticker()).prop_map(|(c, t)| Op::Add(c, t)),
        (chat(), ticker()).prop_map(|(c, t)| Op::Remove(c, t)),
        (chat(), execution()).prop_map(|(c, e)| Op::Record(c, e)),
        (chat(), prop::option::of(ticker())).prop_map(|(c, t)| Op::History(c, t)),
        chat().prop_map(Op::Latest),
        (chat(), position).prop_map(|(c, p)| Op::SetPosition(c, p)),
        chat().prop_map(Op::ClearPosition),
        chat().prop_map(Op::Position),
        (key(), 0i64..100).prop_map(|(k, score)| Op::Store(k, score)),
        key().prop_map(Op::Fresh),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        10 => (op(), prop::bool::weighted(0.25))
            .prop_map(|(op, fail_second_store)| Step::Call { op, fail_second_store }),
        2 => repository().prop_map(Step::Forward),
        1 => repository().prop_map(Step::Rollback),
        1 => (0i64..200_000).prop_map(Step::Wait),
        1 => (1usize..4).prop_map(Step::Drain),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn routed_repositories_behave_like_one_store_and_drained_stores_agree(
        initial in prop::array::uniform5(phase()),
        steps in prop::collection::vec(step(), 1..60),
    ) {
        let mut world = World::new(initial);
        for step in &steps {
            match step {
                Step::Call { op, fail_second_store } => world.call(op, *fail_second_store)?,
                Step::Forward(repository) => world.forward(*repository),
                Step::Rollback(repository) => world.rollback(*repository),
                Step::Wait(ms) => world.f.clock.advance(*ms),
                Step::Drain(budget) => drop(world.drain(*budget)?),
            }
        }
        world.drain_all()?;
        // Before the reads: a watchlist read stores a default in the store it reads.
        world.check_stores_agree()?;
        world.check_nothing_lost()?;
    }
}
