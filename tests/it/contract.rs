//! One contract, two implementations: every test here runs against the KV and the D1
//! repositories and asserts the same observable behaviour (legacy §4, §10.4, §10.6).

use crate::helpers::{contract, Backend, Fixture, T0};
use fear_greed_bot::domain::{
    CacheEntry, ChatId, Execution, Position, SignalType, Subscriber, CACHE_TTL_MS,
};
use fear_greed_bot::storage::{
    entities, AddTicker, EntityKey, Landed, RemoveTicker, Snapshot, Store,
};
use serde_json::json;

const CHAT: ChatId = ChatId::new(123_456_789);
const GROUP: ChatId = ChatId::new(-1_001_234_567_890);

pub fn execution(signal: SignalType, ticker: &str, price: f64, date: i64) -> Execution {
    Execution {
        signal_type: signal,
        ticker: ticker.into(),
        execution_price: Some(price),
        execution_date: date,
        signal_price: None,
    }
}

fn chats(ids: &[i64]) -> Vec<ChatId> {
    ids.iter().copied().map(ChatId::new).collect()
}

#[test]
fn subscribers_start_empty() {
    contract(async |f| {
        assert_eq!(
            f.repos.subscriptions.subscribers().await.unwrap(),
            vec![],
            "{:?}",
            f.backend
        );
    });
}

#[test]
fn subscribe_reports_only_new_subscriptions_and_keeps_subscription_order() {
    contract(async |f| {
        let subs = &f.repos.subscriptions;
        assert!(subs.subscribe(ChatId::new(3)).await.unwrap());
        assert!(subs.subscribe(GROUP).await.unwrap());
        assert!(subs.subscribe(ChatId::new(1)).await.unwrap());
        assert!(
            !subs.subscribe(ChatId::new(3)).await.unwrap(),
            "{:?}",
            f.backend
        );
        assert_eq!(
            subs.subscribers().await.unwrap(),
            vec![ChatId::new(3), GROUP, ChatId::new(1)]
        );
    });
}

#[test]
fn a_chat_that_resubscribes_moves_to_the_end() {
    contract(async |f| {
        let subs = &f.repos.subscriptions;
        for id in [1, 2, 3] {
            subs.subscribe(ChatId::new(id)).await.unwrap();
        }
        assert!(subs.unsubscribe(ChatId::new(1)).await.unwrap());
        assert_eq!(subs.subscribers().await.unwrap(), chats(&[2, 3]));
        assert!(subs.subscribe(ChatId::new(1)).await.unwrap());
        assert_eq!(
            subs.subscribers().await.unwrap(),
            chats(&[2, 3, 1]),
            "{:?}",
            f.backend
        );
    });
}

#[test]
fn entries_are_the_chats_in_order_and_forgetting_one_unsubscribes_it() {
    contract(async |f| {
        let subs = &f.repos.subscriptions;
        for id in [1, 2] {
            subs.subscribe(ChatId::new(id)).await.unwrap();
        }
        let entries = subs.entries().await.unwrap();
        assert_eq!(
            entries,
            vec![
                Subscriber::Chat(ChatId::new(1)),
                Subscriber::Chat(ChatId::new(2))
            ]
        );
        assert!(subs.forget(&entries[0]).await.unwrap());
        assert!(!subs
            .forget(&Subscriber::Stray(json!("blocked_user")))
            .await
            .unwrap());
        assert_eq!(
            subs.subscribers().await.unwrap(),
            chats(&[2]),
            "{:?}",
            f.backend
        );
    });
}

#[test]
fn unsubscribing_a_chat_that_is_not_subscribed_reports_false() {
    contract(async |f| {
        assert!(!f.repos.subscriptions.unsubscribe(CHAT).await.unwrap());
        f.repos.subscriptions.subscribe(CHAT).await.unwrap();
        assert!(f.repos.subscriptions.unsubscribe(CHAT).await.unwrap());
        assert!(
            !f.repos.subscriptions.unsubscribe(CHAT).await.unwrap(),
            "{:?}",
            f.backend
        );
        assert_eq!(f.repos.subscriptions.subscribers().await.unwrap(), vec![]);
    });
}

#[test]
fn a_missing_watchlist_reads_as_spy_and_stays() {
    contract(async |f| {
        assert_eq!(
            f.repos.watchlists.watchlist(CHAT).await.unwrap(),
            vec!["SPY"]
        );
        assert_eq!(
            f.repos.watchlists.add(CHAT, "AAPL").await.unwrap(),
            AddTicker::Added
        );
        assert_eq!(
            f.repos.watchlists.watchlist(CHAT).await.unwrap(),
            vec!["SPY", "AAPL"],
            "{:?}",
            f.backend
        );
    });
}

#[test]
fn adding_to_a_missing_watchlist_keeps_the_default_first() {
    contract(async |f| {
        assert_eq!(
            f.repos.watchlists.add(GROUP, "aapl").await.unwrap(),
            AddTicker::Added
        );
        assert_eq!(
            f.repos.watchlists.watchlist(GROUP).await.unwrap(),
            vec!["SPY", "AAPL"],
            "{:?}",
            f.backend
        );
    });
}

#[test]
fn adding_normalises_and_refuses_duplicates_case_insensitively() {
    contract(async |f| {
        let w = &f.repos.watchlists;
        assert_eq!(w.add(CHAT, " brk.b ").await.unwrap(), AddTicker::Added);
        assert_eq!(
            w.add(CHAT, "BRK.B").await.unwrap(),
            AddTicker::AlreadyPresent
        );
        assert_eq!(
            w.add(CHAT, "spy").await.unwrap(),
            AddTicker::AlreadyPresent,
            "{:?}",
            f.backend
        );
        assert_eq!(w.watchlist(CHAT).await.unwrap(), vec!["SPY", "BRK.B"]);
    });
}

#[test]
fn removing_reports_each_outcome_and_restores_spy_when_emptied() {
    contract(async |f| {
        let w = &f.repos.watchlists;
        w.add(CHAT, "AAPL").await.unwrap();
        assert_eq!(
            w.remove(CHAT, "MSFT").await.unwrap(),
            RemoveTicker::NotPresent
        );
        assert_eq!(w.remove(CHAT, "spy").await.unwrap(), RemoveTicker::Removed);
        assert_eq!(w.watchlist(CHAT).await.unwrap(), vec!["AAPL"]);
        assert_eq!(
            w.remove(CHAT, "AAPL").await.unwrap(),
            RemoveTicker::RemovedDefaultRestored,
            "{:?}",
            f.backend
        );
        assert_eq!(w.watchlist(CHAT).await.unwrap(), vec!["SPY"]);
    });
}

#[test]
fn removing_spy_from_a_missing_watchlist_restores_it() {
    contract(async |f| {
        assert_eq!(
            f.repos.watchlists.remove(CHAT, "SPY").await.unwrap(),
            RemoveTicker::RemovedDefaultRestored,
            "{:?}",
            f.backend
        );
        assert_eq!(
            f.repos.watchlists.watchlist(CHAT).await.unwrap(),
            vec!["SPY"]
        );
    });
}

#[test]
fn a_removed_and_readded_ticker_goes_to_the_end() {
    contract(async |f| {
        let w = &f.repos.watchlists;
        for t in ["AAPL", "MSFT"] {
            w.add(CHAT, t).await.unwrap();
        }
        w.remove(CHAT, "AAPL").await.unwrap();
        w.add(CHAT, "AAPL").await.unwrap();
        assert_eq!(
            w.watchlist(CHAT).await.unwrap(),
            vec!["SPY", "MSFT", "AAPL"],
            "{:?}",
            f.backend
        );
    });
}

#[test]
fn history_is_empty_for_a_new_chat() {
    contract(async |f| {
        assert_eq!(
            f.repos.executions.history(CHAT, None).await.unwrap(),
            vec![]
        );
        assert_eq!(
            f.repos.executions.latest(CHAT).await.unwrap(),
            None,
            "{:?}",
            f.backend
        );
    });
}

#[test]
fn history_is_newest_first_with_ties_in_insertion_order() {
    contract(async |f| {
        let e = &f.repos.executions;
        let a = execution(SignalType::Buy, "SPY", 400.5, T0);
        let b = execution(SignalType::Sell, "SPY", 410.0, T0 + 86_400_000);
        let c = execution(SignalType::Buy, "AAPL", 190.0, T0);
        let back_dated = execution(SignalType::Buy, "MSFT", 1.0, -2_203_891_200_000);
        for x in [&a, &b, &c, &back_dated] {
            e.record(CHAT, x).await.unwrap();
        }
        let history = e.history(CHAT, None).await.unwrap();
        assert_eq!(
            history,
            vec![b.clone(), a.clone(), c, back_dated],
            "{:?}",
            f.backend
        );
        assert_eq!(e.latest(CHAT).await.unwrap(), Some(b.clone()));
        assert_eq!(e.history(CHAT, Some("spy")).await.unwrap(), vec![b, a]);
        assert_eq!(e.history(GROUP, None).await.unwrap(), vec![]);
    });
}

#[test]
fn executions_keep_a_null_price_and_a_signal_price() {
    contract(async |f| {
        let mut x = execution(SignalType::Buy, "SPY", 1.0, T0);
        x.execution_price = None;
        x.signal_price = Some(399.875);
        f.repos.executions.record(CHAT, &x).await.unwrap();
        assert_eq!(
            f.repos.executions.history(CHAT, None).await.unwrap(),
            vec![x],
            "{:?}",
            f.backend
        );
    });
}

#[test]
fn a_chat_holds_at_most_one_position() {
    contract(async |f| {
        let p = &f.repos.positions;
        assert_eq!(p.position(CHAT).await.unwrap(), None);
        let spy = Position {
            ticker: "SPY".into(),
            entry_price: Some(400.5),
        };
        let aapl = Position {
            ticker: "AAPL".into(),
            entry_price: None,
        };
        p.set_position(CHAT, &spy).await.unwrap();
        assert_eq!(p.position(CHAT).await.unwrap(), Some(spy.clone()));
        p.set_position(CHAT, &spy).await.unwrap();
        p.set_position(CHAT, &aapl).await.unwrap();
        assert_eq!(
            p.position(CHAT).await.unwrap(),
            Some(aapl),
            "{:?}",
            f.backend
        );
        p.clear_position(CHAT).await.unwrap();
        assert_eq!(p.position(CHAT).await.unwrap(), None);
        p.clear_position(CHAT).await.unwrap();
    });
}

#[test]
fn a_buy_opens_the_position_and_watches_the_ticker_and_a_sell_closes_it() {
    contract(async |f| {
        let r = &f.repos;
        r.watchlists.add(CHAT, "MSFT").await.unwrap();
        let buy = execution(SignalType::Buy, "AAPL", 190.25, T0);
        assert_eq!(r.units.trade(CHAT, &buy).await.unwrap(), Landed::Complete);
        let open = Position {
            ticker: "AAPL".into(),
            entry_price: Some(190.25),
        };
        assert_eq!(r.positions.position(CHAT).await.unwrap(), Some(open));
        assert_eq!(
            r.executions.history(CHAT, None).await.unwrap(),
            vec![buy.clone()]
        );
        assert_eq!(
            r.watchlists.watchlist(CHAT).await.unwrap(),
            ["SPY", "MSFT", "AAPL"],
            "{:?}",
            f.backend
        );

        // A BUY of a watched ticker leaves the list as it is; a SELL closes the position.
        let again = execution(SignalType::Buy, "MSFT", 400.0, T0 + 1);
        r.units.trade(CHAT, &again).await.unwrap();
        let sell = execution(SignalType::Sell, "MSFT", 410.0, T0 + 2);
        assert_eq!(r.units.trade(CHAT, &sell).await.unwrap(), Landed::Complete);
        assert_eq!(r.positions.position(CHAT).await.unwrap(), None);
        assert_eq!(
            r.watchlists.watchlist(CHAT).await.unwrap(),
            ["SPY", "MSFT", "AAPL"]
        );
        assert_eq!(
            r.executions.history(CHAT, None).await.unwrap(),
            vec![sell, again, buy],
            "{:?}",
            f.backend
        );
    });
}

#[test]
fn a_sell_for_a_chat_without_a_position_is_recorded() {
    contract(async |f| {
        let r = &f.repos;
        let sell = execution(SignalType::Sell, "SPY", 410.0, T0);
        r.units.trade(GROUP, &sell).await.unwrap();
        assert_eq!(r.executions.latest(GROUP).await.unwrap(), Some(sell));
        assert_eq!(r.positions.position(GROUP).await.unwrap(), None);
    });
}

/// The chat's watchlist as stored, without the default a read would create.
async fn stored_watchlist(f: &Fixture, chat: ChatId) -> Vec<String> {
    let store = match f.backend {
        Backend::Kv => Store::Kv,
        Backend::D1 => Store::D1,
    };
    let key = EntityKey::Watchlist(chat);
    match entities(&f.platform, store).load(&key).await.unwrap() {
        Snapshot::Watchlist(_, tickers) => tickers,
        other => panic!("not a watchlist: {other:?}"),
    }
}

#[test]
fn enrolling_subscribes_and_gives_only_a_new_subscriber_the_default_watchlist() {
    contract(async |f| {
        let r = &f.repos;
        assert_eq!(r.units.enrol(CHAT).await.unwrap(), Some(Landed::Complete));
        assert_eq!(r.subscriptions.subscribers().await.unwrap(), vec![CHAT]);
        assert_eq!(stored_watchlist(f, CHAT).await, ["SPY"], "{:?}", f.backend);

        // Already subscribed: nothing else happens, even without a watchlist.
        r.subscriptions.subscribe(GROUP).await.unwrap();
        assert_eq!(r.units.enrol(GROUP).await.unwrap(), None, "{:?}", f.backend);
        assert_eq!(stored_watchlist(f, GROUP).await, Vec::<String>::new());

        // A returning subscriber keeps the list it has.
        r.watchlists.add(CHAT, "AAPL").await.unwrap();
        r.subscriptions.unsubscribe(CHAT).await.unwrap();
        assert_eq!(r.units.enrol(CHAT).await.unwrap(), Some(Landed::Complete));
        assert_eq!(
            r.subscriptions.subscribers().await.unwrap(),
            vec![GROUP, CHAT]
        );
        let both = ["SPY", "AAPL"];
        assert_eq!(stored_watchlist(f, CHAT).await, both, "{:?}", f.backend);
    });
}

#[test]
fn cache_entries_are_fresh_for_exactly_five_minutes() {
    contract(async |f| {
        let entry = CacheEntry {
            data: json!({"rating": "fear", "score": 25.123}),
            written_at: T0,
        };
        assert_eq!(
            f.repos.cache.fresh("fear_greed_cache", T0).await.unwrap(),
            None
        );
        f.repos
            .cache
            .store("fear_greed_cache", &entry)
            .await
            .unwrap();
        let fresh = f
            .repos
            .cache
            .fresh("fear_greed_cache", T0 + CACHE_TTL_MS - 1)
            .await
            .unwrap();
        assert_eq!(fresh, Some(entry.clone()), "{:?}", f.backend);
        assert_eq!(
            f.repos
                .cache
                .fresh("fear_greed_cache", T0 + CACHE_TTL_MS)
                .await
                .unwrap(),
            None
        );
        let newer = CacheEntry {
            data: json!({"rating": "greed", "score": 70}),
            written_at: T0 + CACHE_TTL_MS,
        };
        f.repos
            .cache
            .store("fear_greed_cache", &newer)
            .await
            .unwrap();
        assert_eq!(
            f.repos
                .cache
                .fresh("fear_greed_cache", T0 + CACHE_TTL_MS)
                .await
                .unwrap(),
            Some(newer)
        );
    });
}

#[test]
fn per_chat_data_works_for_chats_that_never_subscribed() {
    contract(async |f| {
        f.repos.watchlists.add(CHAT, "AAPL").await.unwrap();
        f.repos
            .executions
            .record(CHAT, &execution(SignalType::Buy, "AAPL", 1.0, T0))
            .await
            .unwrap();
        f.repos
            .positions
            .set_position(
                CHAT,
                &Position {
                    ticker: "AAPL".into(),
                    entry_price: Some(1.0),
                },
            )
            .await
            .unwrap();
        assert_eq!(
            f.repos.subscriptions.subscribers().await.unwrap(),
            vec![],
            "{:?}",
            f.backend
        );
        assert!(!f.repos.subscriptions.unsubscribe(CHAT).await.unwrap());
        assert!(f.repos.subscriptions.subscribe(CHAT).await.unwrap());
        assert_eq!(
            f.repos.subscriptions.subscribers().await.unwrap(),
            vec![CHAT]
        );
    });
}
