//! Every legacy KV key class read from arbitrary JSON: objects with right and wrong field
//! types, the same values as an array (the shape serde's derive reads as a struct), numbers,
//! strings, nulls, nesting. The repositories (the bot's reads) and the entity loads (the
//! sweeps' reads) either read exactly what the legacy bot reads from the value, or fail with
//! a decode error naming the key; nothing is coerced into a record.
//!
//! Each `legacy_*` function is the model: what the legacy bot, reading fields off whatever
//! `JSON.parse` returned, takes the value to be, or `None` where it does not read it as one.

use crate::helpers::{run, Backend, Fixture, T0};
use fear_greed_bot::domain::{
    normalize_ticker, CacheEntry, ChatId, Execution, Position, SignalType, Subscriber,
    DEFAULT_TICKER, FEAR_GREED_CACHE_KEY,
};
use fear_greed_bot::storage::Store;
use fear_greed_bot::storage::{entities, EntityKey, Repos, Snapshot, StorageError};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{json, Value};
use std::fmt::Debug;

const CHAT: ChatId = ChatId::new(42);

/// The legacy field names, so that arbitrary objects often carry them.
const FIELDS: [&str; 8] = [
    "ticker",
    "entryPrice",
    "signalType",
    "executionPrice",
    "executionDate",
    "signalPrice",
    "data",
    "timestamp",
];

// --- The model. ---

/// A price field: a number; `null` (the legacy's `Infinity`) or absent (`undefined`, which the
/// legacy cannot format either) for none; anything else is no price.
fn price(field: Option<&Value>) -> Option<Option<f64>> {
    match field {
        None | Some(Value::Null) => Some(None),
        Some(Value::Number(n)) => Some(n.as_f64()),
        Some(_) => None,
    }
}

/// `active_position:<chat>`: `null` is what KV itself answers for a missing key, so it is no
/// position; an object is one when its `ticker` is a string (the legacy upper-cases it) and
/// its `entryPrice` a price. Anything else has no `.ticker`: not a position.
fn legacy_position(value: &Value) -> Option<Option<Position>> {
    match value {
        Value::Null => Some(None),
        Value::Object(fields) => Some(Some(Position {
            ticker: fields.get("ticker")?.as_str()?.to_owned(),
            entry_price: price(fields.get("entryPrice"))?,
        })),
        _ => None,
    }
}

/// One element of `execution_history:<chat>`, an object. Stricter than JavaScript, and never
/// met in what the legacy wrote: a side other than `"BUY"`/`"SELL"` (the legacy would show it
/// with the SELL emoji), and a date not written as an integer (`Date.now()` and `Date.UTC`
/// give integers, which `JSON.stringify` writes without a fraction or an exponent).
fn legacy_execution(value: &Value) -> Option<Execution> {
    let fields = value.as_object()?;
    Some(Execution {
        signal_type: match fields.get("signalType")?.as_str()? {
            "BUY" => SignalType::Buy,
            "SELL" => SignalType::Sell,
            _ => return None,
        },
        ticker: fields.get("ticker")?.as_str()?.to_owned(),
        execution_price: price(fields.get("executionPrice"))?,
        execution_date: fields.get("executionDate")?.as_i64()?,
        signal_price: price(fields.get("signalPrice"))?,
    })
}

/// `execution_history:<chat>`: an array of executions, in stored order; one element that is
/// none fails them all (the legacy's `/executions` fails on it).
fn legacy_history(value: &Value) -> Option<Vec<Execution>> {
    value.as_array()?.iter().map(legacy_execution).collect()
}

/// `fear_greed_cache`: `null` is no entry; an object is one with a `data` (any JSON) and a
/// numeric `timestamp`, and fresh at `now` while `now - timestamp < 300000` in JavaScript's
/// doubles. The entry holds the timestamp in whole milliseconds, rounded up.
fn legacy_cache(value: &Value, now: i64) -> Option<Option<(CacheEntry, bool)>> {
    match value {
        Value::Null => Some(None),
        Value::Object(fields) => {
            let timestamp = fields.get("timestamp")?.as_f64()?;
            let entry = CacheEntry {
                data: fields.get("data")?.clone(),
                written_at: timestamp.ceil() as i64,
            };
            Some(Some((entry, (now as f64) - timestamp < 300_000.0)))
        }
        _ => None,
    }
}

/// `chat_ids`: an array; a number with an integral value is a chat (`5.0` is 5 in
/// JavaScript; beyond 2^53, where JavaScript rounds and no Telegram id reaches, the id is
/// kept as written), anything else a stray.
fn legacy_chat_ids(value: &Value) -> Option<Vec<Subscriber>> {
    let entry = |element: &Value| {
        let integral = element
            .as_f64()
            .filter(|x| x.fract() == 0.0 && x.abs() < 2f64.powi(63));
        match element.as_i64().or(integral.map(|x| x as i64)) {
            Some(id) => Subscriber::Chat(ChatId::new(id)),
            None => Subscriber::Stray(element.clone()),
        }
    };
    Some(value.as_array()?.iter().map(entry).collect())
}

/// `watchlist:<chat>`: never refused. Its string elements, normalised, empty ones and repeats
/// dropped; the default when that leaves nothing or the value is no array.
fn legacy_watchlist(value: &Value) -> Vec<String> {
    let mut tickers: Vec<String> = Vec::new();
    let strings = value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str);
    for ticker in strings.map(normalize_ticker) {
        if !ticker.is_empty() && !tickers.contains(&ticker) {
            tickers.push(ticker);
        }
    }
    if tickers.is_empty() {
        tickers.push(DEFAULT_TICKER.into());
    }
    tickers
}

// --- The values tried. ---

fn finite() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("JSON has no NaN or Infinity", |x| x.is_finite())
}

fn number() -> BoxedStrategy<Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        (-3i64..3).prop_map(|n| Value::from(n as f64)),
        finite().prop_map(Value::from),
        Just(json!(T0)),
    ]
    .boxed()
}

fn string() -> BoxedStrategy<Value> {
    prop_oneof![
        prop::sample::select(vec!["SPY", " aapl ", "", "BUY", "400"]).prop_map(Value::from),
        "\\PC{0,6}".prop_map(Value::from),
    ]
    .boxed()
}

/// Any JSON value, nested; object keys are often legacy field names.
fn any_json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        number(),
        string(),
    ];
    let key = prop_oneof![
        prop::sample::select(FIELDS.to_vec()).prop_map(String::from),
        "[a-z]{1,5}",
    ];
    leaf.prop_recursive(3, 16, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..4)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
    .boxed()
}

/// `value` as the legacy writes it: the domain value's JSON (numbers aside, which serde_json
/// writes its own way: `400.0`).
fn written(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).expect("domain values serialise")
}

/// Values a lenient decoder might take for the field `name`'s: a side in the enum map form
/// or the wrong case, numbers in strings or as integral doubles, a ticker in an array.
fn tricky(name: &str) -> Vec<Value> {
    match name {
        "signalType" => vec![
            json!({"BUY": null}),
            json!({"SELL": null}),
            json!("buy"),
            json!("HOLD"),
        ],
        "ticker" => vec![
            json!(400),
            json!(["SPY"]),
            json!({"ticker": "SPY"}),
            json!(null),
        ],
        "executionDate" => vec![
            json!(T0 as f64),
            json!(0.5),
            json!(T0.to_string()),
            json!(null),
        ],
        "timestamp" => vec![
            json!(T0.to_string()),
            json!(-1e300),
            json!(T0 as f64 - 299_999.5),
            json!(null),
            json!(true),
        ],
        "data" => vec![json!(null), json!([])],
        _ => vec![json!("400"), json!(true), json!([400]), json!({})],
    }
}

/// A record as the legacy writes it, one step from it: a field removed, a field's value
/// replaced (often by a [`tricky`] one), an unknown field added, or its values as an array in
/// field order (what serde's derive reads as the struct).
fn near(records: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
    let other = (
        prop::bool::weighted(0.75),
        any::<prop::sample::Index>(),
        any_json(),
    );
    let step = (0..7usize, any::<prop::sample::Index>(), other);
    (records, step)
        .prop_map(|(record, (step, at, (is_tricky, which, any)))| {
            let Value::Object(mut fields) = record else {
                panic!("records are objects: {record}")
            };
            let name = fields.keys().nth(at.index(fields.len())).cloned();
            match (step, name) {
                (0, Some(name)) => drop(fields.remove(&name)),
                (1..=4, Some(name)) => {
                    let tricky = tricky(&name);
                    let other = if is_tricky {
                        which.get(&tricky).clone()
                    } else {
                        any
                    };
                    fields.insert(name, other);
                }
                (5, _) => drop(fields.insert("note".into(), any)),
                (6, _) => return Value::Array(fields.into_iter().map(|(_, v)| v).collect()),
                _ => {}
            }
            Value::Object(fields)
        })
        .boxed()
}

/// What a record's key may hold: the record as written, one step from it, any JSON, `null`.
fn stored(written: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
    prop_oneof![
        2 => written.clone(),
        6 => near(written),
        1 => any_json(),
        1 => Just(Value::Null),
    ]
    .boxed()
}

fn positions() -> BoxedStrategy<Value> {
    let written = ("[A-Z]{1,5}", prop::option::of(finite()))
        .prop_map(|(ticker, entry_price)| {
            written(Position {
                ticker,
                entry_price,
            })
        })
        .boxed();
    prop_oneof![10 => stored(written), 1 => Just(json!(["SPY", 400]))].boxed()
}

fn written_executions() -> BoxedStrategy<Value> {
    let sides = prop::sample::select(vec![SignalType::Buy, SignalType::Sell]);
    let prices = (prop::option::of(finite()), prop::option::of(finite()));
    (sides, "[A-Z]{1,5}", prices, any::<i64>())
        .prop_map(
            |(signal_type, ticker, (execution_price, signal_price), execution_date)| {
                written(Execution {
                    signal_type,
                    ticker,
                    execution_price,
                    execution_date,
                    signal_price,
                })
            },
        )
        .boxed()
}

/// Mostly executions as written, each history with at most one near miss or other value.
fn histories() -> BoxedStrategy<Value> {
    let odd = prop_oneof![6 => near(written_executions()), 1 => any_json()];
    let arrays = (
        prop::collection::vec(written_executions(), 0..4),
        prop::option::weighted(0.8, odd),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(mut executions, odd, at)| {
            if let Some(odd) = odd {
                executions.insert(at.index(executions.len() + 1), odd);
            }
            Value::Array(executions)
        });
    prop_oneof![6 => arrays, 1 => any_json(), 1 => Just(Value::Null)].boxed()
}

fn caches() -> BoxedStrategy<Value> {
    let timestamps = prop_oneof![Just(json!(T0)), Just(json!(T0 - 400_000)), number()];
    let written = (any_json(), timestamps)
        .prop_map(|(data, timestamp)| json!({"data": data, "timestamp": timestamp}))
        .boxed();
    stored(written)
}

/// Arrays of chat ids among other things, and anything else.
fn lists() -> BoxedStrategy<Value> {
    let element = prop_oneof![number(), string(), any_json()];
    let arrays = prop::collection::vec(element, 0..5).prop_map(Value::Array);
    prop_oneof![4 => arrays, 1 => any_json()].boxed()
}

// --- The reads. ---

/// Fresh stores holding `value` under `key`, written as JSON text.
fn holding(key: &str, value: &Value) -> Fixture {
    let f = Fixture::new(Backend::Kv);
    f.kv.seed(key, &value.to_string());
    f
}

/// The sweeps' read of `key`, through the KV entities.
fn load(f: &Fixture, key: &EntityKey) -> Result<Snapshot, StorageError> {
    run(entities(&f.platform, Store::Kv).load(key))
}

/// A read agrees with the model: the value it reads, or a decode error naming `key`.
fn agrees<T: PartialEq + Debug>(
    key: &str,
    read: Result<T, StorageError>,
    legacy: Option<T>,
) -> Result<(), TestCaseError> {
    match (read, legacy) {
        (Ok(read), Some(legacy)) => prop_assert_eq!(read, legacy),
        (Err(StorageError::Decode { key: named, .. }), None) => prop_assert_eq!(named, key),
        (read, legacy) => prop_assert!(false, "read {read:?}, the legacy reads {legacy:?}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_position_reads_as_the_legacy_reads_it_or_is_a_decode_error(value in positions()) {
        let key = "active_position:42";
        let f = holding(key, &value);
        let legacy = legacy_position(&value);
        let read = run(Repos::kv(&f.platform).positions.position(CHAT));
        agrees(key, read, legacy.clone())?;
        let loaded = load(&f, &EntityKey::Position(CHAT));
        agrees(key, loaded, legacy.map(|position| Snapshot::Position(CHAT, position)))?;
    }

    #[test]
    fn a_history_reads_as_the_legacy_reads_it_or_is_a_decode_error(value in histories()) {
        let key = "execution_history:42";
        let f = holding(key, &value);
        let legacy = legacy_history(&value);
        let loaded = load(&f, &EntityKey::Executions(CHAT));
        agrees(key, loaded, legacy.clone().map(|history| Snapshot::Executions(CHAT, history)))?;
        // The bot's read: newest first, ties in stored order.
        let newest_first = legacy.map(|mut executions| {
            executions.sort_by_key(|e| std::cmp::Reverse(e.execution_date));
            executions
        });
        let read = run(Repos::kv(&f.platform).executions.history(CHAT, None));
        agrees(key, read, newest_first)?;
    }

    #[test]
    fn the_cache_reads_as_the_legacy_reads_it_or_is_a_decode_error(value in caches()) {
        let key = FEAR_GREED_CACHE_KEY;
        let f = holding(key, &value);
        let legacy = legacy_cache(&value, T0);
        let loaded = load(&f, &EntityKey::Cache(key.into()));
        let entry = legacy.clone().map(|read| Snapshot::Cache(key.into(), read.map(|(entry, _)| entry)));
        agrees(key, loaded, entry)?;
        let fresh = legacy.map(|read| read.filter(|(_, fresh)| *fresh).map(|(entry, _)| entry));
        agrees(key, run(Repos::kv(&f.platform).cache.fresh(key, T0)), fresh)?;
    }

    #[test]
    fn chat_ids_read_as_the_legacy_reads_them_or_are_a_decode_error(value in lists()) {
        let key = "chat_ids";
        let f = holding(key, &value);
        let legacy = legacy_chat_ids(&value);
        agrees(key, run(Repos::kv(&f.platform).subscriptions.entries()), legacy.clone())?;
        // The sweeps' subscribers: the chats, each once, at its first place.
        let chats = legacy.map(|entries| {
            let mut chats: Vec<ChatId> = Vec::new();
            for entry in entries {
                if let Subscriber::Chat(chat) = entry {
                    if !chats.contains(&chat) {
                        chats.push(chat);
                    }
                }
            }
            Snapshot::Subscribers(chats)
        });
        agrees(key, load(&f, &EntityKey::Subscribers), chats)?;
    }

    #[test]
    fn a_watchlist_reads_as_the_legacy_reads_it_and_is_repaired_to_that(value in lists()) {
        let key = "watchlist:42";
        let f = holding(key, &value);
        let legacy = legacy_watchlist(&value);
        let loaded = load(&f, &EntityKey::Watchlist(CHAT));
        prop_assert_eq!(loaded, Ok(Snapshot::Watchlist(CHAT, legacy.clone())));
        let read = run(Repos::kv(&f.platform).watchlists.watchlist(CHAT));
        prop_assert_eq!(read, Ok(legacy.clone()));
        let stored: Value = serde_json::from_str(&f.kv.peek(key).unwrap()).unwrap();
        prop_assert_eq!(stored, json!(legacy), "what the legacy reads is what stays stored");
    }
}

/// The properties do not pass vacuously: of the values tried, a fair share of each key
/// class's reads records and a fair share is refused.
#[test]
fn the_values_tried_are_both_records_and_refusals() {
    fn shares(values: BoxedStrategy<Value>, reads: impl Fn(&Value) -> Option<bool>) -> [usize; 2] {
        let mut runner = TestRunner::deterministic();
        let mut counts = [0, 0];
        for _ in 0..1000 {
            let value = values.new_tree(&mut runner).unwrap().current();
            match reads(&value) {
                Some(true) => counts[0] += 1,
                None => counts[1] += 1,
                Some(false) => {}
            }
        }
        counts
    }
    let classes = [
        (
            "positions",
            shares(positions(), |v| legacy_position(v).map(|p| p.is_some())),
        ),
        (
            "histories",
            shares(histories(), |v| legacy_history(v).map(|h| !h.is_empty())),
        ),
        (
            "caches",
            shares(caches(), |v| legacy_cache(v, T0).map(|c| c.is_some())),
        ),
        (
            "chat_ids",
            shares(lists(), |v| legacy_chat_ids(v).map(|ids| !ids.is_empty())),
        ),
    ];
    for (class, [records, refusals]) in classes {
        assert!(
            records >= 150 && refusals >= 100,
            "{class}: {records} records, {refusals} refused"
        );
    }
}
