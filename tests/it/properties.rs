//! The seed design's correctness properties on real SQLite, as proptest properties
//! (at least 100 cases each). Each test names the property it checks.

use crate::helpers::{run, Backend, Fixture, T0};
use fear_greed_bot::domain::{
    normalize_ticker, CacheEntry, ChatId, Execution, Position, SignalType,
};
use fear_greed_bot::platform::{SqlDatabase, SqlValue, Statement};
use fear_greed_bot::storage::{
    classify, d1::statements_for_plan_check, D1Call, Operation, StorageError,
};
use proptest::prelude::*;
use serde_json::json;

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(128)
}

fn chat_ids() -> impl Strategy<Value = i64> {
    prop_oneof![any::<i64>(), -1_002_000_000_000i64..10_000_000_000]
}

/// Strings a hostile user might send, and arbitrary ones.
fn hostile_strings() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("'; DROP TABLE users; --".to_owned()),
        Just("\" OR 1=1 --".to_owned()),
        Just("x'); DELETE FROM watchlists; --".to_owned()),
        Just("?1".to_owned()),
        "[ -~]{1,20}",
        any::<String>(),
    ]
}

fn raw(sql: &'static str, params: Vec<SqlValue>) -> Statement {
    Statement::new(sql, params)
}

fn d1() -> Fixture {
    Fixture::new(Backend::D1)
}

fn table_names(f: &Fixture) -> Vec<String> {
    run(f.db.query(&raw(
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
        vec![],
    )))
    .unwrap()
    .into_iter()
    .map(|row| row["name"].to_string())
    .collect()
}

fn constraint_of(error: StorageError) -> String {
    match error {
        StorageError::D1Constraint { constraint, .. } => constraint,
        other => panic!("expected a constraint error, got {other:?}"),
    }
}

proptest! {
    #![proptest_config(config())]

    /// Feature: kv-to-d1-migration, Property 1: foreign key constraint enforcement
    /// (and Property 20: the violated constraint is named).
    #[test]
    fn property_1_rows_for_unknown_users_are_rejected_as_foreign_key_violations(chat in chat_ids(), ticker in "[A-Z]{1,5}") {
        let f = d1();
        let chat = ChatId::new(chat).to_string();
        let attempts = [
            raw("INSERT INTO watchlists (chat_id, ticker, created_at) VALUES (?1, ?2, 0)", vec![chat.clone().into(), ticker.clone().into()]),
            raw("INSERT INTO executions (chat_id, signal_type, ticker, execution_price, execution_date, created_at) VALUES (?1, 'BUY', ?2, 1, 0, 0)", vec![chat.clone().into(), ticker.clone().into()]),
            raw("INSERT INTO active_positions (chat_id, ticker, entry_price, created_at, updated_at) VALUES (?1, ?2, 1, 0, 0)", vec![chat.clone().into(), ticker.clone().into()]),
        ];
        for attempt in attempts {
            let err = run(f.db.execute(&attempt)).unwrap_err();
            let classified = classify(Operation::new("insert"), D1Call::Single, err);
            prop_assert_eq!(constraint_of(classified), "FOREIGN KEY");
        }
        prop_assert_eq!(f.count("SELECT (SELECT COUNT(*) FROM watchlists) + (SELECT COUNT(*) FROM executions) + (SELECT COUNT(*) FROM active_positions)"), 0);
    }

    /// Feature: kv-to-d1-migration, Property 2: unique constraint enforcement (and Property 20).
    #[test]
    fn property_2_duplicates_are_rejected_naming_the_unique_constraint(chat in chat_ids(), ticker in "[A-Z]{1,5}") {
        let f = d1();
        let id = ChatId::new(chat);
        run(f.repos.watchlists.add(id, &ticker)).unwrap();
        run(f.repos.positions.set_position(id, &Position { ticker: ticker.clone(), entry_price: Some(1.0) })).unwrap();
        let chat = id.to_string();
        let duplicate_ticker = raw("INSERT INTO watchlists (chat_id, ticker, created_at) VALUES (?1, ?2, 0)", vec![chat.clone().into(), ticker.clone().into()]);
        let err = classify(Operation::new("insert"), D1Call::Single, run(f.db.execute(&duplicate_ticker)).unwrap_err());
        prop_assert_eq!(constraint_of(err), "UNIQUE(watchlists.chat_id, watchlists.ticker)");
        let second_position = raw("INSERT INTO active_positions (chat_id, ticker, entry_price, created_at, updated_at) VALUES (?1, ?2, 2, 0, 0)", vec![chat.clone().into(), ticker.clone().into()]);
        let err = classify(Operation::new("insert"), D1Call::Single, run(f.db.execute(&second_position)).unwrap_err());
        let constraint = constraint_of(err);
        prop_assert!(constraint.starts_with("UNIQUE(active_positions.chat_id"), "{}", constraint);
        let again = raw("INSERT INTO users (chat_id, created_at, updated_at) VALUES (?1, 0, 0)", vec![chat.into()]);
        let err = classify(Operation::new("insert"), D1Call::Single, run(f.db.execute(&again)).unwrap_err());
        prop_assert_eq!(constraint_of(err), "UNIQUE(users.chat_id)");
    }

    /// Feature: kv-to-d1-migration, Property 3: migration idempotency.
    #[test]
    fn property_3_applying_the_migrations_again_changes_nothing(chats in prop::collection::vec(chat_ids(), 0..5), ticker in "[A-Z]{1,5}") {
        let f = d1();
        for chat in &chats {
            let chat = ChatId::new(*chat);
            run(f.repos.subscriptions.subscribe(chat)).unwrap();
            run(f.repos.watchlists.add(chat, &ticker)).unwrap();
        }
        let before = f.db.dump().unwrap();
        f.db.apply_migrations().unwrap();
        f.db.apply_migrations().unwrap();
        prop_assert_eq!(f.db.dump().unwrap(), before);
    }

    /// Feature: kv-to-d1-migration, Property 4: SQL injection prevention.
    #[test]
    fn property_4_hostile_input_is_stored_verbatim_and_runs_no_sql(chat in chat_ids(), input in hostile_strings()) {
        let f = d1();
        let tables = table_names(&f);
        let chat = ChatId::new(chat);
        let ticker = normalize_ticker(&input);
        prop_assume!(!ticker.is_empty());
        run(f.repos.watchlists.add(chat, &input)).unwrap();
        let mut expected = vec!["SPY".to_owned()];
        if ticker != "SPY" {
            expected.push(ticker);
        }
        prop_assert_eq!(run(f.repos.watchlists.watchlist(chat)).unwrap(), expected);
        let entry = CacheEntry { data: json!({ "note": input }), written_at: T0 };
        run(f.repos.cache.store(&input, &entry)).unwrap();
        prop_assert_eq!(run(f.repos.cache.fresh(&input, T0)).unwrap(), Some(entry));
        prop_assert_eq!(table_names(&f), tables);
        prop_assert_eq!(f.count("SELECT COUNT(*) FROM users"), 1);
    }

    /// Feature: kv-to-d1-migration, Property 5 and Property 18: every failure is a typed D1
    /// error carrying the operation and its context.
    #[test]
    fn property_5_and_18_failures_are_typed_with_their_operation(chat in chat_ids(), table in 0usize..5) {
        let f = d1();
        let (sabotage, expected) = [
            ("DROP TABLE watchlists", "watchlists.add"),
            ("DROP TABLE executions", "executions.record"),
            ("DROP TABLE active_positions", "positions.set_position"),
            ("DROP TABLE cache", "cache.store"),
            ("DROP TRIGGER version_users_update; DROP INDEX idx_users_subscribed_seq; DROP INDEX idx_users_status_seq; ALTER TABLE users DROP COLUMN subscribed_seq", "subscriptions.subscribe"),
        ][table];
        f.db.run_script(sabotage).unwrap();
        let chat = ChatId::new(chat);
        let execution = Execution { signal_type: SignalType::Sell, ticker: "SPY".into(), execution_price: Some(1.0), execution_date: T0, signal_price: None };
        let error = run(async {
            match expected {
                "watchlists.add" => f.repos.watchlists.add(chat, "SPY").await.map(drop),
                "executions.record" => f.repos.executions.record(chat, &execution).await,
                "positions.set_position" => f.repos.positions.set_position(chat, &Position { ticker: "SPY".into(), entry_price: None }).await,
                "cache.store" => f.repos.cache.store("k", &CacheEntry { data: json!(1), written_at: T0 }).await,
                _ => f.repos.subscriptions.subscribe(chat).await.map(drop),
            }
        }).unwrap_err();
        prop_assert!(matches!(error, StorageError::D1 { .. } | StorageError::D1Transaction { .. }), "{:?}", error);
        prop_assert_eq!(error.operation().name, expected);
        if expected != "cache.store" {
            prop_assert_eq!(error.operation().chat, Some(chat));
        }
        prop_assert!(error.to_string().contains(expected));
    }

    /// Feature: kv-to-d1-migration, Properties 19, 27 and 28: a failing batch rolls back every
    /// statement in it, through the repositories and through the platform alike.
    #[test]
    fn property_19_27_28_a_failing_batch_leaves_nothing_behind(chat in chat_ids(), rows in 1usize..20) {
        let f = d1();
        f.db.run_script("CREATE TRIGGER refuse BEFORE INSERT ON executions BEGIN SELECT RAISE(ABORT, 'refused by test'); END;").unwrap();
        let execution = Execution { signal_type: SignalType::Buy, ticker: "SPY".into(), execution_price: Some(1.0), execution_date: T0, signal_price: None };
        let error = run(f.repos.executions.record(ChatId::new(chat), &execution)).unwrap_err();
        prop_assert!(matches!(error, StorageError::D1Transaction { .. }), "{:?}", error);
        prop_assert_eq!(f.count("SELECT COUNT(*) FROM users"), 0, "the users row of the failed batch was rolled back");

        let mut batch: Vec<Statement> = (0..rows)
            .map(|i| raw("INSERT INTO cache (cache_key, cache_value, expires_at, updated_at) VALUES (?1, '{}', 0, 0)", vec![format!("k{i}").into()]))
            .collect();
        batch.push(raw("INSERT INTO cache (cache_key, cache_value, expires_at, updated_at) VALUES ('k0', '{}', 0, 0)", vec![]));
        let err = classify(Operation::new("batch"), D1Call::Batch, run(f.db.batch(&batch)).unwrap_err());
        prop_assert_eq!(constraint_of(err), "UNIQUE(cache.cache_key)");
        prop_assert_eq!(f.count("SELECT COUNT(*) FROM cache"), 0);
    }
}

/// Feature: kv-to-d1-migration, Properties 22–26: the queries the repositories run search an
/// index on their filter columns; none scans a table or sorts in a temporary b-tree.
#[test]
fn properties_22_to_26_repository_queries_use_indexes() {
    let f = d1();
    for (name, statement) in statements_for_plan_check() {
        let steps = f.db.query_plan(&statement).unwrap();
        let plan = steps.join(" / ");
        assert!(
            plan.contains("USING INDEX")
                || plan.contains("USING COVERING INDEX")
                || plan.contains("USING PRIMARY KEY")
                || plan.contains("USING INTEGER PRIMARY KEY")
                || plan.contains("sqlite_autoindex"),
            "{name}: {plan}"
        );
        // `SCAN CONSTANT ROW` is the row of a `SELECT` without `FROM`, not a table scan; the
        // flags' read reads every `settings` row.
        let scans_a_table = steps.iter().any(|step| {
            step.starts_with("SCAN ")
                && step != "SCAN CONSTANT ROW"
                && !(name == "settings_all" && step == "SCAN s")
        });
        assert!(!scans_a_table, "{name} scans: {plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{name} sorts: {plan}");
    }
}
