//! The D1 implementation against the real schema: users created on demand without
//! subscribing, one position row per chat, one round trip per change, and the embedded
//! migration list equal to `migrations/`.

use crate::helpers::{run, Backend, Fixture, T0};
use fear_greed_bot::domain::{ChatId, Execution, Position, SignalType};
use fear_greed_bot::schema::MIGRATIONS;

const CHAT: ChatId = ChatId::new(-1_001_234_567_890);

fn d1() -> Fixture {
    Fixture::new(Backend::D1)
}

#[test]
fn the_embedded_migrations_are_exactly_the_files_in_migrations_dir() {
    let mut files: Vec<String> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.ends_with(".sql"))
            .collect();
    files.sort();
    let embedded: Vec<&str> = MIGRATIONS.iter().map(|m| m.name).collect();
    assert_eq!(embedded, files);
    for m in MIGRATIONS {
        let on_disk = std::fs::read_to_string(format!(
            "{}/migrations/{}",
            env!("CARGO_MANIFEST_DIR"),
            m.name
        ))
        .unwrap();
        assert_eq!(m.sql, on_disk, "{} is embedded as it is on disk", m.name);
    }
}

#[test]
fn a_first_write_creates_an_unsubscribed_user_row() {
    let f = d1();
    run(f.repos.watchlists.add(CHAT, "AAPL")).unwrap();
    assert_eq!(f.count("SELECT COUNT(*) FROM users WHERE chat_id = '-1001234567890' AND subscription_status = 0"), 1);
    assert_eq!(f.count("SELECT COUNT(*) FROM watchlists"), 2);
}

#[test]
fn chat_ids_are_stored_as_decimal_text() {
    let f = d1();
    run(f.repos.subscriptions.subscribe(CHAT)).unwrap();
    assert_eq!(f.count("SELECT COUNT(*) FROM users WHERE chat_id = '-1001234567890' AND typeof(chat_id) = 'text'"), 1);
}

#[test]
fn the_schema_refuses_a_second_position_row_for_a_chat() {
    let f = d1();
    run(f.repos.positions.set_position(
        CHAT,
        &Position {
            ticker: "SPY".into(),
            entry_price: Some(1.0),
        },
    ))
    .unwrap();
    let second = f.db.run_script(
        "INSERT INTO active_positions (chat_id, ticker, entry_price, created_at, updated_at) VALUES ('-1001234567890', 'AAPL', 1, 0, 0)",
    );
    assert!(second
        .unwrap_err()
        .0
        .contains("UNIQUE constraint failed: active_positions.chat_id"));
    run(f.repos.positions.set_position(
        CHAT,
        &Position {
            ticker: "AAPL".into(),
            entry_price: Some(2.0),
        },
    ))
    .unwrap();
    assert_eq!(f.count("SELECT COUNT(*) FROM active_positions"), 1);
}

#[test]
fn every_change_is_one_round_trip() {
    let f = d1();
    let execution = Execution {
        signal_type: SignalType::Buy,
        ticker: "SPY".into(),
        execution_price: Some(1.0),
        execution_date: T0,
        signal_price: None,
    };
    let position = Position {
        ticker: "SPY".into(),
        entry_price: Some(1.0),
    };
    // Each call: reset the counter, run it, and expect exactly one D1 call.
    macro_rules! one_round_trip {
        ($name:literal, $call:expr) => {{
            f.db.reset_round_trips();
            run($call).unwrap();
            assert_eq!(f.db.round_trips(), 1, $name);
        }};
    }
    let repos = &f.repos;
    one_round_trip!("subscribe", repos.subscriptions.subscribe(CHAT));
    one_round_trip!("unsubscribe", repos.subscriptions.unsubscribe(CHAT));
    one_round_trip!("watchlist add", repos.watchlists.add(CHAT, "AAPL"));
    one_round_trip!("watchlist remove", repos.watchlists.remove(CHAT, "AAPL"));
    one_round_trip!("read watchlist", repos.watchlists.watchlist(CHAT));
    one_round_trip!(
        "record execution",
        repos.executions.record(CHAT, &execution)
    );
    one_round_trip!("latest execution", repos.executions.latest(CHAT));
    one_round_trip!(
        "set position",
        repos.positions.set_position(CHAT, &position)
    );
    one_round_trip!("clear position", repos.positions.clear_position(CHAT));
}

#[test]
fn a_first_watchlist_read_costs_a_read_and_one_batch() {
    let f = d1();
    run(f.repos.watchlists.watchlist(CHAT)).unwrap();
    assert_eq!(f.db.round_trips(), 2);
}

#[test]
fn row_timestamps_come_from_the_platform_clock() {
    let f = d1();
    run(f.repos.watchlists.watchlist(CHAT)).unwrap();
    f.clock.advance(60_000);
    run(f.repos.subscriptions.subscribe(CHAT)).unwrap();
    assert_eq!(f.count("SELECT created_at FROM users"), T0);
    assert_eq!(f.count("SELECT updated_at FROM users"), T0 + 60_000);
    assert_eq!(f.count("SELECT created_at FROM watchlists"), T0);
}
