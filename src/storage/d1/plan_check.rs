//! The statements whose query plans the tests check (only with the `testing` feature: the
//! worker never ships them).

use super::*;

/// The statements whose plans matter, for the query-plan tests: every read, and the writes
/// that search (the subscription sequence, the default-watchlist checks, the recent-change
/// lookups and race checks, the cache purge, the old value a flag change records, the
/// repair-queue lookups, the entity loads and deletes).
/// The subscriber-list replace is not here: it reads the bound `json_each` list by design.
pub fn statements_for_plan_check() -> Vec<(&'static str, Statement)> {
    let chat = || chat_param(ChatId::new(1));
    vec![
        (
            "subscribers",
            Statement::new(subscriptions::SUBSCRIBERS, vec![]),
        ),
        (
            "subscribe",
            Statement::new(subscriptions::SUBSCRIBE, vec![chat(), 0.into()]),
        ),
        (
            "watchlist_default",
            Statement::new(
                watchlists::INSERT_DEFAULT_IF_EMPTY,
                vec![chat(), "SPY".into(), 0.into()],
            ),
        ),
        (
            "watchlist",
            Statement::new(watchlists::SELECT, vec![chat()]),
        ),
        (
            "watchlist_default_if_not_subscribed",
            Statement::new(
                watchlists::INSERT_DEFAULT_IF_NOT_SUBSCRIBED,
                vec![chat(), "SPY".into(), 0.into()],
            ),
        ),
        (
            "entity_changed_within",
            Statement::new(
                sweeps::CHANGED_WITHIN,
                vec!["positions".into(), 60_000.into(), chat()],
            ),
        ),
        (
            "repository_changed_within",
            Statement::new(
                sweeps::CHANGED_WITHIN_REPOSITORY,
                vec!["subscriptions".into(), 60_000.into()],
            ),
        ),
        (
            "entity_version",
            Statement::new(sweeps::VERSION, vec!["executions".into(), chat()]),
        ),
        (
            "race_check",
            Statement::new(
                repairs::RACE_CHECK,
                vec![
                    "watchlists".into(),
                    chat(),
                    "kv".into(),
                    "raced".into(),
                    0.into(),
                    chat(),
                    0.into(),
                    crate::platform::SqlValue::Null,
                ],
            ),
        ),
        ("history", Statement::new(executions::HISTORY, vec![chat()])),
        (
            "history_for_ticker",
            Statement::new(executions::HISTORY_FOR_TICKER, vec![chat(), "SPY".into()]),
        ),
        ("latest", Statement::new(executions::LATEST, vec![chat()])),
        ("position", Statement::new(positions::SELECT, vec![chat()])),
        (
            "cache",
            Statement::new(cache::SELECT_FRESH, vec!["k".into(), 0.into()]),
        ),
        ("cache_purge", Statement::new(cache::PURGE, vec![0.into()])),
        (
            "repair_depth",
            Statement::new(repairs::DEPTH, vec!["watchlists".into(), "raced".into()]),
        ),
        (
            "repair_pending_for_entity",
            Statement::new(
                repairs::PENDING_FOR_ENTITY,
                vec![
                    "watchlists".into(),
                    "1".into(),
                    "kv".into(),
                    0.into(),
                    "raced".into(),
                ],
            ),
        ),
        (
            "repair_pending_in_repository",
            Statement::new(
                repairs::PENDING_IN_REPOSITORY,
                vec![
                    "subscriptions".into(),
                    "kv".into(),
                    0.into(),
                    "raced".into(),
                ],
            ),
        ),
        (
            "repair_settle",
            Statement::new(
                repairs::SETTLE,
                vec!["watchlists".into(), "1".into(), "kv".into(), 0.into()],
            ),
        ),
        (
            "repair_bump_attempts",
            Statement::new(
                repairs::BUMP_ATTEMPTS,
                vec!["watchlists".into(), "1".into(), "kv".into()],
            ),
        ),
        (
            "entity_executions",
            Statement::new(entities::EXECUTIONS_IN_ORDER, vec![chat()]),
        ),
        (
            "entity_clear_executions",
            Statement::new(entities::CLEAR_EXECUTIONS, vec![chat()]),
        ),
        (
            "entity_clear_watchlist",
            Statement::new(entities::CLEAR_WATCHLIST, vec![chat()]),
        ),
        (
            "entity_cache",
            Statement::new(entities::CACHE_ENTRY, vec!["k".into()]),
        ),
        (
            "entity_clear_cache",
            Statement::new(entities::CLEAR_CACHE, vec!["k".into()]),
        ),
        (
            "sweep_watchlist_keys",
            Statement::new(
                sweeps::WATCHLIST_KEYS,
                vec!["".into(), "~".into(), 100.into()],
            ),
        ),
        (
            "sweep_execution_keys",
            Statement::new(
                sweeps::EXECUTION_KEYS,
                vec!["".into(), "~".into(), 100.into()],
            ),
        ),
        (
            "sweep_position_keys",
            Statement::new(
                sweeps::POSITION_KEYS,
                vec!["".into(), "~".into(), 100.into()],
            ),
        ),
        (
            "sweep_cache_keys",
            Statement::new(sweeps::CACHE_KEYS, vec!["".into(), "~".into(), 100.into()]),
        ),
        (
            "sweep_guard",
            Statement::new(sweeps::GUARD, vec!["watchlists".into(), chat(), 0.into()]),
        ),
        (
            "update_state",
            Statement::new(updates::STATE, vec![1.into()]),
        ),
        (
            "update_purge",
            Statement::new(updates::PURGE, vec![0.into()]),
        ),
        (
            "evidence_counters_since",
            Statement::new(evidence::COUNTERS_SINCE, vec![0.into()]),
        ),
        (
            // Scans `settings` (a handful of rows) by design; each of its lookups must not scan.
            "settings_all",
            Statement::new(
                settings::SELECT_ALL,
                vec![0.into(), 0.into(), 0.into(), "reconcile: %".into()],
            ),
        ),
        (
            "settings_previous_value",
            Statement::new(settings::PREVIOUS_VALUE, vec!["k".into()]),
        ),
        (
            "settings_changed_at",
            Statement::new(settings::CHANGED_AT, vec!["k".into()]),
        ),
        (
            "settings_history_append",
            Statement::new(
                settings::APPEND_HISTORY,
                vec![
                    "shadow.sample_rate".into(),
                    "1.0".into(),
                    0.into(),
                    "test".into(),
                    "".into(),
                    0.into(),
                ],
            ),
        ),
        (
            "page_update",
            Statement::new(
                pages::UPDATE,
                vec!["k".into(), 0.into(), 1.into(), "n".into(), 0.into()],
            ),
        ),
        (
            "page_delete",
            Statement::new(pages::DELETE, vec!["k".into(), 0.into()]),
        ),
    ]
}
