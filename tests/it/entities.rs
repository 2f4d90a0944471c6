//! Whole entities in each store (`storage::EntityStore`): a load has no side effects and reads
//! as the repositories do; a replace round-trips through a load, writes the legacy KV bytes
//! (the ones the repositories write for the same state), is one atomic batch in D1, and leaves
//! every other entity alone.

use crate::helpers::{run, Backend, Fixture, T0};
use crate::router::{buy, position, CHAT};
use fear_greed_bot::domain::{CacheEntry, ChatId, Execution, SignalType};
use fear_greed_bot::platform::{SqlDatabase, Statement};
use fear_greed_bot::storage::{entities, EntityKey, Repos, Snapshot, StorageError, Store};
use serde_json::json;

const OTHER: ChatId = ChatId::new(-1_001_234_567_890);

fn stores() -> Fixture {
    Fixture::new(Backend::Kv)
}

fn load(f: &Fixture, store: Store, key: &EntityKey) -> Snapshot {
    run(entities(&f.platform, store).load(key)).unwrap()
}

fn replace(f: &Fixture, store: Store, snapshot: &Snapshot) {
    run(entities(&f.platform, store).replace(snapshot)).unwrap()
}

fn sell(ticker: &str, price: Option<f64>, date: i64) -> Execution {
    Execution {
        signal_type: SignalType::Sell,
        ticker: ticker.into(),
        execution_price: price,
        execution_date: date,
        signal_price: Some(2.5),
    }
}

/// One snapshot of every kind, each with a value, for `chat`.
fn samples(chat: ChatId) -> Vec<Snapshot> {
    vec![
        Snapshot::Subscribers(vec![chat, ChatId::new(7)]),
        Snapshot::Watchlist(chat, vec!["SPY".into(), "BRK.B".into(), "AAPL".into()]),
        Snapshot::Executions(
            chat,
            vec![
                buy("SPY", 400.25, T0),
                sell("SPY", None, T0),
                buy("AAPL", 1e-7, -2_203_891_200_000),
            ],
        ),
        Snapshot::Position(chat, Some(position("SPY", 401.5))),
        Snapshot::Cache(
            "fear_greed_cache".into(),
            Some(CacheEntry {
                data: json!({"score": 41.5, "rating": "fear", "nested": [1, null]}),
                written_at: T0 - 3_600_000,
            }),
        ),
    ]
}

fn absent(key: &EntityKey) -> Snapshot {
    match key {
        EntityKey::Subscribers => Snapshot::Subscribers(vec![]),
        EntityKey::Watchlist(chat) => Snapshot::Watchlist(*chat, vec![]),
        EntityKey::Executions(chat) => Snapshot::Executions(*chat, vec![]),
        EntityKey::Position(chat) => Snapshot::Position(*chat, None),
        EntityKey::Cache(key) => Snapshot::Cache(key.clone(), None),
    }
}

/// Every table's rows, and every KV key with its value: all a store holds.
fn everything(f: &Fixture) -> (Vec<String>, Vec<Option<String>>) {
    let tables = [
        "users",
        "watchlists",
        "executions",
        "active_positions",
        "cache",
    ];
    let rows = tables
        .iter()
        .map(|table| {
            let sql = match *table {
                "users" => "SELECT * FROM users ORDER BY chat_id",
                "watchlists" => "SELECT * FROM watchlists ORDER BY id",
                "executions" => "SELECT * FROM executions ORDER BY id",
                "active_positions" => "SELECT * FROM active_positions ORDER BY id",
                _ => "SELECT * FROM cache ORDER BY cache_key",
            };
            format!(
                "{:?}",
                run(f.db.query(&Statement::new(sql, vec![]))).unwrap()
            )
        })
        .collect();
    let kv = f.kv.keys().iter().map(|key| f.kv.peek(key)).collect();
    (rows, kv)
}

#[test]
fn missing_entities_load_as_absent_without_writing_anything() {
    for store in [Store::Kv, Store::D1] {
        let f = stores();
        for snapshot in samples(CHAT) {
            let key = snapshot.key();
            let loaded = load(&f, store, &key);
            assert!(loaded.is_absent(), "{store} {key}: {loaded:?}");
            assert_eq!(loaded, absent(&key));
        }
        assert_eq!(
            everything(&f),
            everything(&stores()),
            "{store}: nothing written"
        );
        assert_eq!(f.kv.counts().put + f.kv.counts().delete, 0);
    }
}

#[test]
fn every_entity_round_trips_through_replace_and_load_in_both_stores() {
    for store in [Store::Kv, Store::D1] {
        let f = stores();
        for snapshot in samples(CHAT) {
            replace(&f, store, &snapshot);
            assert_eq!(load(&f, store, &snapshot.key()), snapshot, "{store}");
            // Replaced again, by its absence: gone.
            let key = snapshot.key();
            replace(&f, store, &absent(&key));
            assert_eq!(load(&f, store, &key), absent(&key), "{store} {key} deleted");
        }
    }
}

/// The state of each sample, built through the KV repositories.
fn written_by_the_repositories(f: &Fixture) {
    let repos = Repos::kv(&f.platform);
    run(async {
        repos.subscriptions.subscribe(CHAT).await.unwrap();
        repos.subscriptions.subscribe(ChatId::new(7)).await.unwrap();
        repos.watchlists.add(CHAT, " brk.b").await.unwrap();
        repos.watchlists.add(CHAT, "aapl").await.unwrap();
        for execution in [
            buy("SPY", 400.25, T0),
            sell("SPY", None, T0),
            buy("AAPL", 1e-7, -2_203_891_200_000),
        ] {
            repos.executions.record(CHAT, &execution).await.unwrap();
        }
        repos
            .positions
            .set_position(CHAT, &position("SPY", 401.5))
            .await
            .unwrap();
        let entry = CacheEntry {
            data: json!({"score": 41.5, "rating": "fear", "nested": [1, null]}),
            written_at: T0 - 3_600_000,
        };
        repos.cache.store("fear_greed_cache", &entry).await.unwrap();
    });
}

#[test]
fn kv_replaces_write_the_bytes_the_repositories_write() {
    let by_repositories = stores();
    written_by_the_repositories(&by_repositories);
    let by_replace = stores();
    for snapshot in samples(CHAT) {
        replace(&by_replace, Store::Kv, &snapshot);
    }
    let keys = by_repositories.kv.keys();
    assert_eq!(by_replace.kv.keys(), keys);
    for key in &keys {
        assert_eq!(
            by_replace.kv.peek(key),
            by_repositories.kv.peek(key),
            "{key}"
        );
    }
    // And those are the legacy bytes (legacy §4.4–§4.8).
    let peek = |key: &str| by_replace.kv.peek(key).unwrap();
    assert_eq!(peek("chat_ids"), "[1,7]");
    assert_eq!(peek("watchlist:1"), r#"["SPY","BRK.B","AAPL"]"#);
    assert_eq!(
        peek("execution_history:1"),
        r#"[{"signalType":"BUY","ticker":"SPY","executionPrice":400.25,"executionDate":1705276800000},{"signalType":"SELL","ticker":"SPY","executionPrice":null,"executionDate":1705276800000,"signalPrice":2.5},{"signalType":"BUY","ticker":"AAPL","executionPrice":1e-7,"executionDate":-2203891200000}]"#
    );
    assert_eq!(
        peek("active_position:1"),
        r#"{"ticker":"SPY","entryPrice":401.5}"#
    );
    assert_eq!(
        peek("fear_greed_cache"),
        r#"{"data":{"score":41.5,"rating":"fear","nested":[1,null]},"timestamp":1705273200000}"#
    );
}

#[test]
fn entities_copied_from_kv_to_d1_and_back_keep_their_legacy_bytes() {
    let f = stores();
    written_by_the_repositories(&f);
    let before: Vec<(String, Option<String>)> =
        f.kv.keys()
            .into_iter()
            .map(|k| (k.clone(), f.kv.peek(&k)))
            .collect();
    for snapshot in samples(CHAT) {
        let key = snapshot.key();
        let from_kv = load(&f, Store::Kv, &key);
        assert_eq!(from_kv, snapshot);
        replace(&f, Store::D1, &from_kv);
        let from_d1 = load(&f, Store::D1, &key);
        assert_eq!(from_d1, from_kv, "{key} through D1");
        // Delete it in KV, then write it back from D1.
        replace(&f, Store::Kv, &absent(&key));
        replace(&f, Store::Kv, &from_d1);
    }
    for (key, value) in before {
        assert_eq!(f.kv.peek(&key), value, "{key}");
    }
}

#[test]
fn d1_replaces_are_rows_the_repositories_read() {
    let f = stores();
    for snapshot in samples(CHAT) {
        replace(&f, Store::D1, &snapshot);
    }
    let d1 = Repos::d1(&f.platform);
    run(async {
        assert_eq!(
            d1.subscriptions.subscribers().await.unwrap(),
            vec![CHAT, ChatId::new(7)]
        );
        assert_eq!(
            d1.watchlists.watchlist(CHAT).await.unwrap(),
            ["SPY", "BRK.B", "AAPL"]
        );
        let history = d1.executions.history(CHAT, None).await.unwrap();
        assert_eq!(
            history,
            vec![
                buy("SPY", 400.25, T0),
                sell("SPY", None, T0),
                buy("AAPL", 1e-7, -2_203_891_200_000)
            ],
            "newest first, equal dates in recorded order"
        );
        assert_eq!(
            d1.positions.position(CHAT).await.unwrap(),
            Some(position("SPY", 401.5))
        );
        assert_eq!(
            d1.cache.fresh("fear_greed_cache", T0).await.unwrap(),
            None,
            "stale"
        );
    });
    assert_eq!(
        f.count("SELECT COUNT(*) FROM users WHERE subscription_status = 0"),
        0,
        "CHAT is subscribed; its data needed no extra row"
    );
    // A chat with data but no subscription gets its users row, unsubscribed.
    replace(
        &f,
        Store::D1,
        &Snapshot::Position(OTHER, Some(position("X", 1.0))),
    );
    assert_eq!(
        f.count("SELECT COUNT(*) FROM users WHERE chat_id = '-1001234567890' AND subscription_status = 0"),
        1
    );
}

#[test]
fn a_replace_leaves_every_other_entity_alone() {
    for store in [Store::Kv, Store::D1] {
        let f = stores();
        for snapshot in samples(OTHER) {
            replace(&f, store, &snapshot);
        }
        let before = everything(&f);
        for chat_snapshot in samples(CHAT).into_iter().skip(1).take(3) {
            replace(&f, store, &chat_snapshot);
            replace(&f, store, &absent(&chat_snapshot.key()));
        }
        for snapshot in samples(OTHER) {
            assert_eq!(load(&f, store, &snapshot.key()), snapshot, "{store}");
        }
        if store == Store::Kv {
            assert_eq!(everything(&f).1, before.1, "KV: byte for byte");
        }
    }
}

#[test]
fn kv_subscriber_replaces_keep_strays_verbatim_and_apply_changes_the_legacy_way() {
    let f = stores();
    f.kv.seed("chat_ids", r#"["blocked_user",1,"5",2,1]"#);
    assert_eq!(
        load(&f, Store::Kv, &EntityKey::Subscribers),
        Snapshot::Subscribers(vec![CHAT, ChatId::new(2)]),
        "strays are no subscribers, and a chat listed twice is one"
    );
    let chats = |ids: &[i64]| Snapshot::Subscribers(ids.iter().copied().map(ChatId::new).collect());
    replace(&f, Store::Kv, &chats(&[1, 2, 3]));
    assert_eq!(
        f.kv.peek("chat_ids").unwrap(),
        r#"["blocked_user",1,"5",2,3]"#
    );
    replace(&f, Store::Kv, &chats(&[2, 3]));
    assert_eq!(
        f.kv.peek("chat_ids").unwrap(),
        r#"["blocked_user","5",2,3]"#
    );
    replace(&f, Store::Kv, &chats(&[]));
    assert_eq!(f.kv.peek("chat_ids").unwrap(), r#"["blocked_user","5"]"#);

    let f = stores();
    replace(&f, Store::Kv, &chats(&[]));
    assert_eq!(f.kv.peek("chat_ids"), None, "no key is created for nobody");
}

#[test]
fn d1_subscriber_replaces_keep_the_rows_already_in_place() {
    let f = stores();
    let chats = |ids: &[i64]| Snapshot::Subscribers(ids.iter().copied().map(ChatId::new).collect());
    let seqs = || {
        let rows = run(f.db.query(&Statement::new(
            "SELECT chat_id, subscription_status AS s, subscribed_seq AS q FROM users ORDER BY chat_id",
            vec![],
        )))
        .unwrap();
        rows.iter()
            .map(|r| format!("{}:{}:{}", r["chat_id"], r["s"], r["q"]))
            .collect::<Vec<_>>()
    };
    replace(&f, Store::D1, &chats(&[3, 1, 2]));
    assert_eq!(
        load(&f, Store::D1, &EntityKey::Subscribers),
        chats(&[3, 1, 2])
    );
    let before = seqs();
    replace(&f, Store::D1, &chats(&[3, 1, 2, 4]));
    let after = seqs();
    assert_eq!(
        after[..3],
        before[..],
        "a missed subscribe touches only its own row"
    );
    replace(&f, Store::D1, &chats(&[1, 4, 3]));
    assert_eq!(
        load(&f, Store::D1, &EntityKey::Subscribers),
        chats(&[1, 4, 3])
    );
    replace(&f, Store::D1, &chats(&[]));
    assert_eq!(load(&f, Store::D1, &EntityKey::Subscribers), chats(&[]));
    assert_eq!(
        f.count("SELECT COUNT(*) FROM users"),
        4,
        "unsubscribed, not deleted"
    );
}

#[test]
fn a_d1_replace_is_one_batch_that_fails_whole() {
    let f = stores();
    f.db.run_script("ALTER TABLE watchlists RENAME TO watchlists_away")
        .unwrap();
    let snapshot = Snapshot::Watchlist(CHAT, vec!["SPY".into(), "AAPL".into()]);
    let error = run(entities(&f.platform, Store::D1).replace(&snapshot)).unwrap_err();
    assert!(
        matches!(error, StorageError::D1Transaction { .. }),
        "{error:?}"
    );
    assert_eq!(
        f.count("SELECT COUNT(*) FROM users"),
        0,
        "its users row rolled back"
    );
}

#[test]
fn loads_read_the_repositories_rules_and_replaces_overwrite_corrupt_values() {
    let f = stores();
    f.kv.seed("watchlist:1", r#"[" aapl","","AAPL",7]"#);
    f.kv.seed("watchlist:2", "[]");
    f.kv.seed("execution_history:1", "{oops");
    let watchlist = |chat| load(&f, Store::Kv, &EntityKey::Watchlist(ChatId::new(chat)));
    assert_eq!(
        watchlist(1),
        Snapshot::Watchlist(CHAT, vec!["AAPL".into()]),
        "normalised"
    );
    assert_eq!(
        watchlist(2),
        Snapshot::Watchlist(ChatId::new(2), vec!["SPY".into()]),
        "default"
    );
    assert_eq!(
        f.kv.peek("watchlist:1").unwrap(),
        r#"[" aapl","","AAPL",7]"#,
        "not rewritten"
    );
    let error =
        run(entities(&f.platform, Store::Kv).load(&EntityKey::Executions(CHAT))).unwrap_err();
    assert!(matches!(&error, StorageError::Decode { key, .. } if key == "execution_history:1"));
    let history = Snapshot::Executions(CHAT, vec![buy("SPY", 1.0, T0)]);
    replace(&f, Store::Kv, &history);
    assert_eq!(load(&f, Store::Kv, &EntityKey::Executions(CHAT)), history);
}

#[test]
fn kv_history_replaces_append_to_the_records_already_there_verbatim() {
    let f = stores();
    // A record as the legacy bot may have stored it: integral price, no signalPrice.
    let legacy =
        r#"{"signalType":"BUY","ticker":"SPY","executionPrice":400,"executionDate":1705276800000}"#;
    f.kv.seed("execution_history:1", &format!("[{legacy}]"));
    let history = Snapshot::Executions(
        CHAT,
        vec![buy("SPY", 400.0, T0), sell("SPY", Some(1.0), T0)],
    );
    replace(&f, Store::Kv, &history);
    let stored = f.kv.peek("execution_history:1").unwrap();
    assert!(stored.starts_with(&format!("[{legacy},")), "{stored}");
    assert_eq!(load(&f, Store::Kv, &EntityKey::Executions(CHAT)), history);
}

/// Prices through SQLite's JSON parser.
mod histories {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// A replace binds a history as one JSON array that SQLite parses: every finite price,
        /// however many digits it takes, and every date, reads back as the same value, in the
        /// same order, from D1's own rows and from a page load.
        #[test]
        fn any_history_replaced_in_d1_reads_back_exactly(
            prices in prop::collection::vec(any::<f64>().prop_filter("finite", |p| p.is_finite()), 1..12),
            date in any::<i64>(),
        ) {
            let f = stores();
            let history: Vec<Execution> = prices
                .iter()
                .enumerate()
                .map(|(i, p)| sell("SPY", if i % 5 == 4 { None } else { Some(*p) }, date.wrapping_add(i as i64)))
                .collect();
            let snapshot = Snapshot::Executions(CHAT, history);
            replace(&f, Store::D1, &snapshot);
            prop_assert_eq!(&load(&f, Store::D1, &snapshot.key()), &snapshot);
            let d1 = entities(&f.platform, Store::D1);
            let page = run(d1.load_each(&[snapshot.key()])).unwrap();
            prop_assert_eq!(page[0].as_ref().unwrap(), &snapshot);
        }
    }
}
