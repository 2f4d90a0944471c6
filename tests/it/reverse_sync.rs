//! The reverse sync (D1 → KV) writes the legacy KV formats byte for byte: after a backfill,
//! any run of `d1_only` writes, and a reverse sync, KV holds exactly the bytes the legacy bot
//! would have written had it made the same writes itself.

use crate::helpers::{run, Backend, Fixture, HookedKv, KvHook, T0};
use fear_greed_bot::domain::{ChatId, Execution, Position, SignalType};
use fear_greed_bot::migration::sweep::{run_step, Budget, Kind};
use fear_greed_bot::migration::{Phase, Phases};
use fear_greed_bot::platform::native::{KvOp, MemoryKv};
use fear_greed_bot::platform::Platform;
use fear_greed_bot::storage::kv::LegacyDataset;
use fear_greed_bot::storage::{Repos, Repository};
use proptest::prelude::*;
use std::rc::Rc;

#[derive(Debug, Clone)]
enum Write {
    Add(usize, &'static str),
    Remove(usize, &'static str),
    Record(usize, u32),
    Open(usize, &'static str),
    Close(usize),
    Subscribe(usize),
    Unsubscribe(usize),
}

fn writes() -> impl Strategy<Value = Write> {
    let chat = 0usize..25;
    prop_oneof![
        (
            chat.clone(),
            prop::sample::select(vec!["AAPL", "NEWT", "SPY"])
        )
            .prop_map(|(c, t)| Write::Add(c, t)),
        (
            chat.clone(),
            prop::sample::select(vec!["AAPL", "SPY", "QQQ"])
        )
            .prop_map(|(c, t)| Write::Remove(c, t)),
        (chat.clone(), 1u32..100_000).prop_map(|(c, p)| Write::Record(c, p)),
        (chat.clone(), prop::sample::select(vec!["TSLA", "IWM"]))
            .prop_map(|(c, t)| Write::Open(c, t)),
        chat.clone().prop_map(Write::Close),
        chat.clone().prop_map(Write::Subscribe),
        chat.prop_map(Write::Unsubscribe),
    ]
}

async fn apply(repos: &Repos, chats: &[ChatId], write: &Write) {
    // Chats past the dataset's are new ones.
    let chat = |i: usize| {
        chats
            .get(i)
            .copied()
            .unwrap_or(ChatId::new(7_000 + i as i64))
    };
    let done = match write {
        Write::Add(c, t) => repos.watchlists.add(chat(*c), t).await.map(drop),
        Write::Remove(c, t) => repos.watchlists.remove(chat(*c), t).await.map(drop),
        Write::Record(c, p) => {
            let execution = Execution {
                signal_type: SignalType::Sell,
                ticker: "SPY".into(),
                execution_price: Some(f64::from(*p) / 100.0),
                execution_date: T0,
                signal_price: None,
            };
            repos.executions.record(chat(*c), &execution).await
        }
        Write::Open(c, t) => {
            let position = Position {
                ticker: (*t).into(),
                entry_price: Some(3.25),
            };
            repos.positions.set_position(chat(*c), &position).await
        }
        Write::Close(c) => repos.positions.clear_position(chat(*c)).await,
        Write::Subscribe(c) => repos.subscriptions.subscribe(chat(*c)).await.map(drop),
        Write::Unsubscribe(c) => repos.subscriptions.unsubscribe(chat(*c)).await.map(drop),
    };
    done.expect("the write is acknowledged");
}

fn until_finished(platform: &Platform, kind: Kind, phase: Phase) {
    for _ in 0..1_000 {
        let step = run(run_step(
            platform,
            kind,
            &Repository::ALL,
            Phases::uniform(phase),
            Budget {
                settle_ms: 0,
                ..Budget::INVOCATION
            },
            false,
        ))
        .unwrap();
        if step.finished() {
            return;
        }
    }
    panic!("{kind} never finished");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn after_d1_only_writes_the_reverse_sync_leaves_kv_byte_identical_to_the_legacy_bots(
        seed in 0u64..1_000,
        writes in prop::collection::vec(writes(), 0..40),
    ) {
        let f = Fixture::new(Backend::D1);
        // What the legacy bot would have stored: the same data, the same writes, on KV alone.
        let legacy_kv = Rc::new(MemoryKv::new());
        let legacy = Platform { kv: legacy_kv.clone(), ..f.platform.clone() };
        let data = LegacyDataset::generate(20, seed);
        for (key, value) in &data.entries {
            if !data.corrupt.contains(key) {
                f.kv.seed(key, value);
                legacy_kv.seed(key, value);
            }
        }
        until_finished(&f.platform, Kind::Backfill, Phase::DualWrite);
        let (d1, kv) = (Repos::d1(&f.platform), Repos::kv(&legacy));
        for write in &writes {
            run(apply(&d1, &data.chats, write));
            run(apply(&kv, &data.chats, write));
        }
        until_finished(&f.platform, Kind::ReverseSync, Phase::D1Only);
        prop_assert_eq!(f.kv.keys(), legacy_kv.keys());
        for key in legacy_kv.keys() {
            prop_assert_eq!(f.kv.peek(&key), legacy_kv.peek(&key), "{}", key);
        }
    }
}

/// After the next KV `put`, a user's D1 write, as if made while the copy ran (the hook of a
/// [`HookedKv`]).
struct WriteDuringCopy {
    users: Platform,
    armed: std::cell::Cell<bool>,
}

#[async_trait::async_trait(?Send)]
impl KvHook for WriteDuringCopy {
    async fn after(&self, op: KvOp, _key: &str) {
        if op == KvOp::Put && self.armed.replace(false) {
            let d1 = Repos::d1(&self.users);
            let write = d1.watchlists.add(ChatId::new(1), "LATE").await;
            write.expect("the user's write is acknowledged");
        }
    }
}

#[test]
fn an_entity_changed_while_it_is_copied_is_deferred_and_the_next_run_copies_it() {
    let f = Fixture::new(Backend::D1);
    let d1 = Repos::d1(&f.platform);
    run(d1.watchlists.add(ChatId::new(1), "AAPL")).unwrap();
    let racing = Platform {
        kv: Rc::new(HookedKv {
            inner: f.kv.clone(),
            hook: Rc::new(WriteDuringCopy {
                users: f.platform.clone(),
                armed: std::cell::Cell::new(true),
            }),
        }),
        ..f.platform.clone()
    };
    let step = |platform: &Platform, restart: bool| {
        run(run_step(
            platform,
            Kind::ReverseSync,
            &[Repository::Watchlists],
            Phases::uniform(Phase::D1Only),
            Budget {
                settle_ms: 0,
                ..Budget::INVOCATION
            },
            restart,
        ))
        .unwrap()
    };
    let first = step(&racing, false);
    assert!(first.finished());
    assert_eq!(
        first.sweeps[0].tally.deferred, 1,
        "the user's write came during the copy"
    );
    assert_eq!(
        f.kv.peek("watchlist:1").unwrap(),
        r#"["SPY","AAPL"]"#,
        "KV is behind"
    );
    let again = step(&f.platform, true);
    assert_eq!(again.sweeps[0].tally.deferred, 0);
    assert_eq!(
        f.kv.peek("watchlist:1").unwrap(),
        r#"["SPY","AAPL","LATE"]"#
    );
}
