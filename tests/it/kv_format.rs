//! The KV implementation writes the legacy bytes exactly and applies the legacy read rules
//! (legacy §4.2–§4.8), and spends no more KV operations than the behaviour needs.

use crate::helpers::{run, Backend, Fixture, T0};
use fear_greed_bot::domain::{CacheEntry, ChatId, Execution, Position, SignalType};
use fear_greed_bot::platform::native::{KvOp, KvOpCounts};
use fear_greed_bot::storage::{Repos, StorageError};
use serde_json::json;

const CHAT: ChatId = ChatId::new(123_456_789);

fn kv() -> Fixture {
    Fixture::new(Backend::Kv)
}

#[test]
fn chat_ids_are_a_compact_array_of_numbers_in_subscription_order() {
    let f = kv();
    run(async {
        f.repos.subscriptions.subscribe(CHAT).await.unwrap();
        f.repos
            .subscriptions
            .subscribe(ChatId::new(-100_222))
            .await
            .unwrap();
    });
    assert_eq!(f.kv.peek("chat_ids").unwrap(), "[123456789,-100222]");
}

#[test]
fn chat_ids_rewrites_keep_foreign_elements_verbatim_and_remove_the_first_match() {
    let f = kv();
    f.kv.seed("chat_ids", r#"["blocked_user",5,"5",7,5]"#);
    run(async {
        assert!(f
            .repos
            .subscriptions
            .unsubscribe(ChatId::new(5))
            .await
            .unwrap());
        assert_eq!(
            f.repos.subscriptions.subscribers().await.unwrap(),
            vec![ChatId::new(7), ChatId::new(5)]
        );
    });
    assert_eq!(
        f.kv.peek("chat_ids").unwrap(),
        r#"["blocked_user","5",7,5]"#
    );
}

#[test]
fn a_chat_id_written_as_an_integral_double_is_that_chat_as_in_javascript() {
    let f = kv();
    f.kv.seed("chat_ids", r#"[5.0,"7",7e0,7.5]"#);
    run(async {
        assert_eq!(
            f.repos.subscriptions.subscribers().await.unwrap(),
            vec![ChatId::new(5), ChatId::new(7)],
            "the string and the fraction are strays"
        );
        assert!(!f
            .repos
            .subscriptions
            .subscribe(ChatId::new(5))
            .await
            .unwrap());
        assert!(f
            .repos
            .subscriptions
            .unsubscribe(ChatId::new(7))
            .await
            .unwrap());
    });
    assert_eq!(f.kv.peek("chat_ids").unwrap(), r#"[5,"7",7.5]"#);
}

#[test]
fn removing_the_last_subscriber_leaves_an_empty_array() {
    let f = kv();
    run(async {
        f.repos.subscriptions.subscribe(CHAT).await.unwrap();
        f.repos.subscriptions.unsubscribe(CHAT).await.unwrap();
    });
    assert_eq!(f.kv.peek("chat_ids").unwrap(), "[]");
}

#[test]
fn a_corrupt_chat_ids_value_is_a_decode_error_naming_the_key() {
    let f = kv();
    f.kv.seed("chat_ids", "{not json");
    let err = run(f.repos.subscriptions.subscribe(CHAT)).unwrap_err();
    assert!(
        matches!(&err, StorageError::Decode { key, .. } if key == "chat_ids"),
        "{err:?}"
    );
    assert_eq!(
        f.kv.peek("chat_ids").unwrap(),
        "{not json",
        "nothing changed"
    );
}

#[test]
fn reading_a_watchlist_repairs_it_the_legacy_way() {
    let cases = [
        (
            r#"["SPY","AAPL","spy","MSFT","aapl"]"#,
            r#"["SPY","AAPL","MSFT"]"#,
            "duplicates and case",
        ),
        (
            r#"[" tsla ",""]"#,
            r#"["TSLA"]"#,
            "whitespace and empty strings",
        ),
        ("[]", r#"["SPY"]"#, "empty array"),
        (r#"{"x":1}"#, r#"["SPY"]"#, "not an array"),
        ("null", r#"["SPY"]"#, "null"),
    ];
    for (stored, repaired, why) in cases {
        let f = kv();
        f.kv.seed("watchlist:123456789", stored);
        run(f.repos.watchlists.watchlist(CHAT)).unwrap();
        assert_eq!(f.kv.peek("watchlist:123456789").unwrap(), repaired, "{why}");
    }
}

#[test]
fn reading_a_normalised_watchlist_does_not_write() {
    let f = kv();
    f.kv.seed("watchlist:123456789", r#"["SPY","BRK.B"]"#);
    run(f.repos.watchlists.watchlist(CHAT)).unwrap();
    assert_eq!(
        f.kv.counts(),
        KvOpCounts {
            get: 1,
            ..Default::default()
        }
    );
}

#[test]
fn a_watchlist_that_is_not_json_is_an_error_and_left_alone() {
    let f = kv();
    f.kv.seed("watchlist:123456789", "[\"SPY\"");
    assert!(matches!(
        run(f.repos.watchlists.add(CHAT, "AAPL")),
        Err(StorageError::Decode { .. })
    ));
    assert_eq!(f.kv.peek("watchlist:123456789").unwrap(), "[\"SPY\"");
}

#[test]
fn watchlist_add_and_remove_read_once_and_write_once() {
    let f = kv();
    let one_read_one_write = KvOpCounts {
        get: 1,
        put: 1,
        ..Default::default()
    };
    run(async {
        f.repos.watchlists.add(CHAT, "AAPL").await.unwrap();
        assert_eq!(f.kv.counts(), one_read_one_write);
        f.kv.reset_counts();
        // Repositories are built per update; a new update reads the key again.
        let next_update = Repos::kv(&f.platform);
        next_update.watchlists.remove(CHAT, "AAPL").await.unwrap();
        assert_eq!(f.kv.counts(), one_read_one_write);
    });
    assert_eq!(f.kv.peek("watchlist:123456789").unwrap(), r#"["SPY"]"#);
}

#[test]
fn within_one_update_a_key_is_read_once_and_sees_its_own_writes() {
    let f = kv();
    run(async {
        f.repos.watchlists.add(CHAT, "AAPL").await.unwrap();
        assert_eq!(
            f.repos.watchlists.watchlist(CHAT).await.unwrap(),
            ["SPY", "AAPL"]
        );
        f.repos.watchlists.remove(CHAT, "SPY").await.unwrap();
        assert_eq!(f.repos.watchlists.watchlist(CHAT).await.unwrap(), ["AAPL"]);
    });
    assert_eq!(f.kv.counts().get, 1);
    assert_eq!(f.kv.peek("watchlist:123456789").unwrap(), r#"["AAPL"]"#);
}

#[test]
fn executions_are_appended_in_legacy_bytes_and_old_elements_kept_verbatim() {
    let f = kv();
    let old = r#"{"signalType":"SELL","ticker":"SPY","executionPrice":410,"executionDate":1705363200000,"signalPrice":400.25}"#;
    f.kv.seed("execution_history:123456789", &format!("[{old}]"));
    let buy = |price| Execution {
        signal_type: SignalType::Buy,
        ticker: "SPY".into(),
        execution_price: fear_greed_bot::domain::stored_price(price),
        execution_date: T0,
        signal_price: None,
    };
    run(async {
        f.repos.executions.record(CHAT, &buy(400.5)).await.unwrap();
        f.repos.executions.record(CHAT, &buy(400.0)).await.unwrap();
        f.repos
            .executions
            .record(CHAT, &buy(f64::INFINITY))
            .await
            .unwrap();
    });
    assert_eq!(
        f.kv.peek("execution_history:123456789").unwrap(),
        format!(
            "[{old},{},{},{}]",
            r#"{"signalType":"BUY","ticker":"SPY","executionPrice":400.5,"executionDate":1705276800000}"#,
            r#"{"signalType":"BUY","ticker":"SPY","executionPrice":400,"executionDate":1705276800000}"#,
            r#"{"signalType":"BUY","ticker":"SPY","executionPrice":null,"executionDate":1705276800000}"#,
        )
    );
}

#[test]
fn a_malformed_history_is_a_decode_error_naming_the_key() {
    for (stored, why) in [
        (r#"[{"ticker":"SPY"}]"#, "missing fields"),
        ("[1]", "not an object"),
        ("{}", "not an array"),
    ] {
        let f = kv();
        f.kv.seed("execution_history:123456789", stored);
        let err = run(f.repos.executions.history(CHAT, None)).unwrap_err();
        assert!(
            matches!(&err, StorageError::Decode { key, .. } if key == "execution_history:123456789"),
            "{why}: {err:?}"
        );
    }
}

#[test]
fn positions_are_one_key_in_legacy_bytes_and_deleted_on_clear() {
    let f = kv();
    run(async {
        let p = Position {
            ticker: "SPY".into(),
            entry_price: Some(400.5),
        };
        f.repos.positions.set_position(CHAT, &p).await.unwrap();
        assert_eq!(
            f.kv.peek("active_position:123456789").unwrap(),
            r#"{"ticker":"SPY","entryPrice":400.5}"#
        );
        f.repos.positions.clear_position(CHAT).await.unwrap();
    });
    assert_eq!(f.kv.peek("active_position:123456789"), None);
}

#[test]
fn the_cache_entry_is_data_then_timestamp_and_read_in_any_key_order() {
    let f = kv();
    let entry = CacheEntry {
        data: json!({"rating": "fear", "score": 25.5}),
        written_at: T0,
    };
    run(f.repos.cache.store("fear_greed_cache", &entry)).unwrap();
    assert_eq!(
        f.kv.peek("fear_greed_cache").unwrap(),
        r#"{"data":{"rating":"fear","score":25.5},"timestamp":1705276800000}"#
    );
    f.kv.seed(
        "fear_greed_cache",
        r#"{"timestamp":1705276800000,"data":{"score":25.5,"rating":"fear"}}"#,
    );
    let read = run(f.repos.cache.fresh("fear_greed_cache", T0 + 1))
        .unwrap()
        .unwrap();
    assert_eq!(read.data["rating"], "fear");
}

#[test]
fn a_price_of_seventeen_digits_reads_as_the_double_javascript_wrote() {
    // The shortest digits of a double (legacy §4.2): serde_json's default parser lands one
    // ulp off for about one in eleven of these, and the bytes written back would differ.
    let f = kv();
    let stored = r#"{"ticker":"SPY","entryPrice":96500.75960886349}"#;
    f.kv.seed("active_position:123456789", stored);
    let position = run(f.repos.positions.position(CHAT)).unwrap().unwrap();
    assert_eq!(position.entry_price, Some(96500.75960886349));
    run(f.repos.positions.set_position(CHAT, &position)).unwrap();
    assert_eq!(f.kv.peek("active_position:123456789").unwrap(), stored);
}

#[test]
fn cache_freshness_is_javascripts_subtraction_for_any_stored_timestamp() {
    let cases = [
        ("1705276500001", true, "299999 ms old"),
        ("1705276500000", false, "300000 ms old"),
        (
            "1705276500000.5",
            true,
            "299999.5 ms old: not a whole millisecond",
        ),
        ("-1e300", false, "far in the past: stale, not an overflow"),
        ("1e300", true, "in the future: `now - 1e300 < 300000`"),
    ];
    for (timestamp, fresh, why) in cases {
        let f = kv();
        let stored = format!(r#"{{"data":{{"rating":"fear","score":1}},"timestamp":{timestamp}}}"#);
        f.kv.seed("fear_greed_cache", &stored);
        let read = run(f.repos.cache.fresh("fear_greed_cache", T0)).unwrap();
        assert_eq!(read.is_some(), fresh, "{why}");
    }
}

#[test]
fn kv_failures_carry_the_operation_and_key() {
    let f = kv();
    f.kv.fail(KvOp::Put, "watchlist:");
    let err = run(f.repos.watchlists.add(CHAT, "AAPL")).unwrap_err();
    match err {
        StorageError::Kv { operation, key, .. } => {
            assert_eq!(operation.name, "watchlists.add");
            assert_eq!(operation.chat, Some(CHAT));
            assert_eq!(operation.ticker.as_deref(), Some("AAPL"));
            assert_eq!(key, "watchlist:123456789");
        }
        other => panic!("expected a KV error, got {other:?}"),
    }
}
