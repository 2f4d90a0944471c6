//! The backfill's version guard, as a property: users keep writing through the dual-write
//! router while the backfill runs, at any point of it, including between the moment the
//! backfill read an entity from KV and the moment its copy lands in D1. No write a user made is
//! ever overwritten by an older KV value, and no append lands twice (an append's D1 insert may
//! come well after its KV write): once the backfill is finished, every entity D1 holds either
//! equals KV or is queued for repair, and after the drain every entity is equal.

use crate::helpers::{run, Backend, Fixture, HookedKv, KvHook};
use async_trait::async_trait;
use fear_greed_bot::domain::{ChatId, Execution, Position, SignalType};
use fear_greed_bot::migration::router::{routed, AfterReplies, Evidence};
use fear_greed_bot::migration::sweep::{run_step, Budget, Kind};
use fear_greed_bot::migration::{Phase, Phases};
use fear_greed_bot::platform::native::KvOp;
use fear_greed_bot::platform::Platform;
use fear_greed_bot::storage::d1::{EntityVersions, RepairQueue, UpdateClaim};
use fear_greed_bot::storage::kv::LegacyDataset;
use fear_greed_bot::storage::{entities, EntityKey, Repos, Repository, Store};
use proptest::prelude::*;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// A user's write, made through the router in `dual_write` (KV, then D1).
#[derive(Debug, Clone)]
enum Write {
    Add(&'static str),
    Remove(&'static str),
    Record(f64),
    Open(&'static str),
    Close,
    Subscribe,
    Unsubscribe,
}

/// A write of the chat whose key the backfill reads at its `at`-th KV `get` (or of a chat of
/// the dataset, when that key names none), made just after the read: the backfill holds the
/// old value.
#[derive(Debug, Clone)]
struct Interleaved {
    at: u64,
    write: Write,
    fallback_chat: usize,
}

fn writes() -> impl Strategy<Value = Write> {
    prop_oneof![
        prop::sample::select(vec!["AAPL", "NEWT", "SPY"]).prop_map(Write::Add),
        prop::sample::select(vec!["AAPL", "SPY", "QQQ"]).prop_map(Write::Remove),
        (1u32..10_000).prop_map(|p| Write::Record(f64::from(p) / 100.0)),
        prop::sample::select(vec!["TSLA", "IWM"]).prop_map(Write::Open),
        Just(Write::Close),
        Just(Write::Subscribe),
        Just(Write::Unsubscribe),
    ]
}

/// Lets users write right after the backfill read a key (the hook of a [`HookedKv`]).
struct RacingKv {
    /// The platform users write through (the plain KV: their reads trigger nothing).
    users: Platform,
    gets: Cell<u64>,
    pending: RefCell<Vec<Interleaved>>,
    /// The D1 halves of appends whose KV half already ran, and the `get` they run at.
    appends: RefCell<Vec<(u64, ChatId, Execution)>>,
    chats: Vec<ChatId>,
}

/// Every append is split: the router's first half (the version bump, then KV) at once, its D1
/// insert a few backfill reads later, so the backfill can copy the append from KV in between.
const APPEND_GAP: u64 = 5;

impl RacingKv {
    async fn write(&self, key: &str, write: &Write, fallback: ChatId) {
        let chat = key
            .rsplit(':')
            .next()
            .and_then(|id| id.parse::<i64>().ok())
            .map_or(fallback, ChatId::new);
        let repos = routed(
            &self.users,
            Phases::uniform(Phase::DualWrite),
            Evidence::default(),
            AfterReplies::inline(),
            UpdateClaim::none(),
        );
        let done = match write {
            Write::Add(t) => repos.watchlists.add(chat, t).await.map(drop),
            Write::Remove(t) => repos.watchlists.remove(chat, t).await.map(drop),
            Write::Record(price) => {
                let execution = Execution {
                    signal_type: SignalType::Buy,
                    ticker: "SPY".into(),
                    execution_price: Some(*price),
                    execution_date: 1_700_000_000_000,
                    signal_price: None,
                };
                // What `Route::announce` and the KV half of `Route::write` do in dual_write.
                let versions = EntityVersions::new(&self.users);
                versions
                    .touch(Repository::Executions, &chat.to_string(), None)
                    .await
                    .expect("the version is bumped");
                let kv = Repos::kv(&self.users);
                let done = kv.executions.record(chat, &execution).await;
                let at = self.gets.get() + APPEND_GAP;
                self.appends.borrow_mut().push((at, chat, execution));
                done
            }
            Write::Open(t) => {
                let position = Position {
                    ticker: (*t).into(),
                    entry_price: Some(12.5),
                };
                repos.positions.set_position(chat, &position).await
            }
            Write::Close => repos.positions.clear_position(chat).await,
            Write::Subscribe => repos.subscriptions.subscribe(chat).await.map(drop),
            Write::Unsubscribe => repos.subscriptions.unsubscribe(chat).await.map(drop),
        };
        done.expect("the user's write is acknowledged");
    }
}

impl RacingKv {
    /// Runs the D1 halves of the appends due at `get` number `at` (all of them: `None`).
    async fn land_appends(&self, at: Option<u64>) {
        let due: Vec<(u64, ChatId, Execution)> = {
            let mut appends = self.appends.borrow_mut();
            let (due, later) = appends
                .drain(..)
                .partition(|(when, _, _)| at.is_none_or(|n| *when <= n));
            *appends = later;
            due
        };
        let d1 = Repos::d1(&self.users);
        for (_, chat, execution) in due {
            d1.executions
                .record(chat, &execution)
                .await
                .expect("the D1 half lands");
        }
    }
}

#[async_trait(?Send)]
impl KvHook for RacingKv {
    async fn after(&self, op: KvOp, key: &str) {
        if op != KvOp::Get {
            return;
        }
        let n = self.gets.get() + 1;
        self.gets.set(n);
        let due: Vec<Interleaved> = {
            let mut pending = self.pending.borrow_mut();
            let (due, later) = pending.drain(..).partition(|w| w.at == n);
            *pending = later;
            due
        };
        for w in due {
            let fallback = self.chats[w.fallback_chat % self.chats.len()];
            self.write(key, &w.write, fallback).await;
        }
        self.land_appends(Some(n)).await;
    }
}

/// Every entity either store may hold for the dataset's chats.
fn every_entity(chats: &[ChatId]) -> Vec<EntityKey> {
    let mut keys = vec![EntityKey::Subscribers];
    for chat in chats {
        keys.extend([
            EntityKey::Watchlist(*chat),
            EntityKey::Executions(*chat),
            EntityKey::Position(*chat),
        ]);
    }
    keys
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn a_write_made_during_the_backfill_is_never_overwritten_by_an_older_kv_value(
        seed in 0u64..1_000,
        interleaved in prop::collection::vec(
            (1u64..120, writes(), 0usize..30).prop_map(|(at, write, fallback_chat)| Interleaved { at, write, fallback_chat }),
            1..25,
        ),
    ) {
        let f = Fixture::new(Backend::D1);
        let data = LegacyDataset::generate(30, seed);
        for (key, value) in &data.entries {
            // Corrupt records have their own tests; here every value decodes.
            if !data.corrupt.contains(key) {
                f.kv.seed(key, value);
            }
        }
        let racing = Rc::new(RacingKv {
            users: f.platform.clone(),
            gets: Cell::new(0),
            pending: RefCell::new(interleaved),
            appends: RefCell::new(Vec::new()),
            chats: data.chats.clone(),
        });
        let kv = Rc::new(HookedKv { inner: f.kv.clone(), hook: racing.clone() });
        let backfill = Platform { kv, ..f.platform.clone() };
        // KV's propagation window as in production: a change D1 made within it is deferred.
        let budget = Budget { kv_ops: 40, d1_statements: 90, page: 10, settle_ms: 60_000, time_ms: 10_000 };
        let phases = Phases::uniform(Phase::DualWrite);
        for _ in 0..500 {
            let step = run(run_step(&backfill, Kind::Backfill, &Repository::ALL, phases, budget, false)).unwrap();
            if step.finished() {
                break;
            }
        }
        run(racing.land_appends(None));
        let kv = entities(&f.platform, Store::Kv);
        let d1 = entities(&f.platform, Store::D1);
        let queue = RepairQueue::new(&f.platform);
        let queued: Vec<(Repository, String)> = run(queue.pending(1_000)).unwrap()
            .into_iter().map(|r| (r.repository, r.entity_key)).collect();
        for key in every_entity(&data.chats) {
            let (in_kv, in_d1) = (run(kv.load(&key)).unwrap(), run(d1.load(&key)).unwrap());
            let repaired = queued.contains(&(key.repository(), key.to_string()));
            prop_assert!(in_kv == in_d1 || repaired, "{:?}: D1 {:?} but KV {:?}", key, in_d1, in_kv);
        }
        f.clock.advance(120_000);
        run(fear_greed_bot::migration::repair::run_step(&f.platform, phases, 1_000)).unwrap();
        for key in every_entity(&data.chats) {
            prop_assert_eq!(run(kv.load(&key)).unwrap(), run(d1.load(&key)).unwrap(), "{:?}", key);
        }
    }
}
