//! [`EntityStore`] on the D1 tables. A replace is one `batch()`, so a copy lands whole or not
//! at all, and running it twice leaves what running it once did. Per-chat entities get their
//! `users` row (status 0) as any per-chat write does.
//!
//! The subscriber list is the one entity that spans rows of many chats. Its replace binds the
//! wanted chats as one JSON array (`json_each`), so the batch has two statements however long
//! the list is: everyone not listed is unsubscribed, and the chats from the first one out of
//! place on are re-subscribed in order at the end of the sequence (the chats before it keep
//! their rows untouched, so a missed subscribe re-sequences one row, not all of them). Which
//! chats are in place is read just before the batch: a subscription changed in between can
//! leave the list off (the repair drain's reload of its source sees that change, and retries).

use super::{cache::CacheRow, D1Executions, D1Positions, D1Subscriptions, D1Watchlists};
use super::{chat_param, positions, Sql};
use crate::domain::{ChatId, Execution};
use crate::platform::{Platform, SqlValue, Statement};
use crate::storage::{
    EntityKey, EntityStore, Operation, PositionRepo, Snapshot, StorageResult, SubscriptionRepo,
};
use async_trait::async_trait;
use std::collections::HashSet;

/// Insertion order, which `history` re-sorts newest first.
pub(super) const EXECUTIONS_IN_ORDER: &str =
    "SELECT signal_type, ticker, execution_price, signal_price, execution_date \
     FROM executions WHERE chat_id = ?1 ORDER BY id";
pub(super) const CLEAR_EXECUTIONS: &str = "DELETE FROM executions WHERE chat_id = ?1";
pub(super) const CLEAR_WATCHLIST: &str = "DELETE FROM watchlists WHERE chat_id = ?1";
/// ?2: the tickers as one JSON array, inserted in its order (so `id` keeps it).
const INSERT_WATCHLIST: &str = "INSERT INTO watchlists (chat_id, ticker, created_at) \
     SELECT ?1, value, ?3 FROM json_each(?2) ORDER BY key";
/// ?2: the executions as one JSON array of rows (see [`execution_rows`]), inserted in its order.
const INSERT_EXECUTIONS: &str = "INSERT INTO executions \
     (chat_id, signal_type, ticker, execution_price, signal_price, execution_date, created_at) \
     SELECT ?1, json_extract(value, '$[0]'), json_extract(value, '$[1]'), \
     json_extract(value, '$[2]'), json_extract(value, '$[3]'), json_extract(value, '$[4]'), ?3 \
     FROM json_each(?2) ORDER BY key";
/// The entry fresh or not (`cache.fresh` filters by expiry).
pub(super) const CACHE_ENTRY: &str =
    "SELECT cache_value, updated_at FROM cache WHERE cache_key = ?1";
pub(super) const CLEAR_CACHE: &str = "DELETE FROM cache WHERE cache_key = ?1";
/// ?1: the JSON array of every chat (decimal strings) that stays subscribed.
const UNSUBSCRIBE_UNLISTED: &str = "UPDATE users SET subscription_status = 0, updated_at = ?2 \
     WHERE subscription_status = 1 AND chat_id NOT IN (SELECT value FROM json_each(?1))";
/// ?1: the JSON array of the chats to (re-)subscribe, in order, after every sequence number
/// taken. `WHERE true` keeps SQLite from reading `ON CONFLICT` as a join constraint.
const SUBSCRIBE_IN_ORDER: &str =
    "INSERT INTO users (chat_id, subscription_status, subscribed_seq, created_at, updated_at) \
     SELECT value, 1, (SELECT COALESCE(MAX(subscribed_seq), 0) FROM users) + key + 1, ?2, ?2 \
     FROM json_each(?1) WHERE true ON CONFLICT(chat_id) DO UPDATE SET subscription_status = 1, \
     subscribed_seq = excluded.subscribed_seq, updated_at = excluded.updated_at";

/// Whole entities on the D1 tables.
pub(crate) struct D1Entities(Sql);

impl D1Entities {
    pub(crate) fn new(platform: &Platform) -> Self {
        Self(Sql::new(platform))
    }

    /// The batch that makes the subscribers `chats`; empty when they already are.
    async fn subscribers(&self, chats: &[ChatId]) -> StorageResult<Vec<Statement>> {
        let current = D1Subscriptions(self.0.clone()).subscribers().await?;
        let mut seen = HashSet::new();
        let wanted: Vec<ChatId> = chats.iter().copied().filter(|c| seen.insert(*c)).collect();
        if current == wanted {
            return Ok(Vec::new());
        }
        // The leading chats already subscribed in the wanted order keep their rows.
        let placed = current
            .iter()
            .filter(|chat| seen.contains(chat))
            .zip(&wanted)
            .take_while(|(current, wanted)| current == wanted)
            .count();
        let now = self.0.now();
        let mut statements = vec![Statement::new(
            UNSUBSCRIBE_UNLISTED,
            vec![json_chats(&wanted).into(), now.into()],
        )];
        if placed < wanted.len() {
            statements.push(Statement::new(
                SUBSCRIBE_IN_ORDER,
                vec![json_chats(&wanted[placed..]).into(), now.into()],
            ));
        }
        Ok(statements)
    }

    async fn executions(&self, op: &Operation, chat: ChatId) -> StorageResult<Vec<Execution>> {
        let statement = Statement::new(EXECUTIONS_IN_ORDER, vec![chat_param(chat)]);
        D1Executions(self.0.clone()).select(op, statement).await
    }
}

/// Chat ids as D1 stores them (decimal text), as one JSON array to bind.
fn json_chats(chats: &[ChatId]) -> String {
    let ids: Vec<String> = chats.iter().map(ChatId::to_string).collect();
    serde_json::Value::from(ids).to_string()
}

#[async_trait(?Send)]
impl EntityStore for D1Entities {
    async fn load(&self, key: &EntityKey) -> StorageResult<Snapshot> {
        let op = key.operation(false);
        Ok(match key {
            EntityKey::Subscribers => {
                Snapshot::Subscribers(D1Subscriptions(self.0.clone()).subscribers().await?)
            }
            EntityKey::Watchlist(chat) => {
                let tickers = D1Watchlists(self.0.clone()).stored(&op, *chat).await?;
                Snapshot::Watchlist(*chat, tickers)
            }
            EntityKey::Executions(chat) => {
                Snapshot::Executions(*chat, self.executions(&op, *chat).await?)
            }
            EntityKey::Position(chat) => {
                Snapshot::Position(*chat, D1Positions(self.0.clone()).position(*chat).await?)
            }
            EntityKey::Cache(key) => {
                let statement = Statement::new(CACHE_ENTRY, vec![key.as_str().into()]);
                let rows: Vec<CacheRow> = self.0.query_as(&op, statement).await?;
                let entry = rows.into_iter().next().map(|row| row.entry(&op, key));
                Snapshot::Cache(key.clone(), entry.transpose()?)
            }
        })
    }

    async fn replace(&self, snapshot: &Snapshot) -> StorageResult<()> {
        let op = snapshot.key().operation(true);
        let statements = self.statements(snapshot).await?;
        if statements.is_empty() {
            return Ok(());
        }
        self.0.batch(&op, statements).await.map(drop)
    }
}

impl D1Entities {
    /// The statements that make D1 hold `snapshot`, for one `batch()` (alone, or with other
    /// entities' in a sweep's); none when it already does (only the subscriber list can tell
    /// without writing). At most four whatever the entity's size: a list's rows go in one
    /// `json_each` insert.
    pub(crate) async fn statements(&self, snapshot: &Snapshot) -> StorageResult<Vec<Statement>> {
        let now = || SqlValue::from(self.0.now());
        Ok(match snapshot {
            Snapshot::Subscribers(chats) => self.subscribers(chats).await?,
            Snapshot::Watchlist(chat, tickers) => {
                let mut statements = users_row(&self.0, *chat, tickers.is_empty());
                statements.push(Statement::new(CLEAR_WATCHLIST, vec![chat_param(*chat)]));
                if !tickers.is_empty() {
                    let list = serde_json::Value::from(tickers.clone()).to_string();
                    statements.push(Statement::new(
                        INSERT_WATCHLIST,
                        vec![chat_param(*chat), list.into(), now()],
                    ));
                }
                statements
            }
            Snapshot::Executions(chat, list) => {
                let mut statements = users_row(&self.0, *chat, list.is_empty());
                statements.push(Statement::new(CLEAR_EXECUTIONS, vec![chat_param(*chat)]));
                if !list.is_empty() {
                    statements.push(Statement::new(
                        INSERT_EXECUTIONS,
                        vec![chat_param(*chat), execution_rows(list).into(), now()],
                    ));
                }
                statements
            }
            Snapshot::Position(chat, Some(position)) => {
                positions::replace(&self.0, *chat, position)
            }
            Snapshot::Position(chat, None) => {
                vec![Statement::new(positions::DELETE, vec![chat_param(*chat)])]
            }
            Snapshot::Cache(key, Some(entry)) => vec![super::cache::upsert(key, entry)],
            Snapshot::Cache(key, None) => {
                vec![Statement::new(CLEAR_CACHE, vec![key.as_str().into()])]
            }
        })
    }
}

/// Executions as one JSON array of `[signal_type, ticker, execution_price, signal_price,
/// execution_date]` rows, for [`INSERT_EXECUTIONS`]. A missing price is JSON `null`, read back
/// as SQL `NULL`; a price is written in the shortest form that reads back as the same `f64`.
fn execution_rows(list: &[Execution]) -> String {
    let rows: Vec<serde_json::Value> = list
        .iter()
        .map(|e| {
            serde_json::json!([
                e.signal_type.as_str(),
                e.ticker,
                e.execution_price,
                e.signal_price,
                e.execution_date
            ])
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}

/// The chat's `users` row first, unless the entity is being deleted (a delete needs none, and
/// must not create one).
fn users_row(sql: &Sql, chat: ChatId, deleting: bool) -> Vec<Statement> {
    if deleting {
        Vec::new()
    } else {
        vec![sql.ensure_user(chat)]
    }
}
