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

use super::executions::ExecutionRow;
use super::positions::PositionRow;
use super::watchlists::TickerRow;
use super::{cache::CacheRow, D1Executions, D1Positions, D1Subscriptions, D1Watchlists};
use super::{chat_param, executions, positions, Sql};
use crate::domain::{ChatId, Execution, Position};
use crate::platform::{Platform, Row, SqlValue, Statement};
use crate::storage::{
    EntityKey, EntityStore, Operation, PositionRepo, Repository, Snapshot, StorageError,
    StorageResult, SubscriptionRepo,
};
use async_trait::async_trait;
use std::collections::{HashMap, HashSet};

/// Insertion order, which `history` re-sorts newest first.
pub(super) const EXECUTIONS_IN_ORDER: &str =
    "SELECT signal_type, ticker, execution_price, signal_price, execution_date \
     FROM executions WHERE chat_id = ?1 ORDER BY id";
pub(super) const CLEAR_EXECUTIONS: &str = "DELETE FROM executions WHERE chat_id = ?1";
pub(super) const CLEAR_WATCHLIST: &str = "DELETE FROM watchlists WHERE chat_id = ?1";
/// ?2: the tickers as one JSON array, inserted in its order (so `id` keeps it).
const INSERT_WATCHLIST: &str = "INSERT INTO watchlists (chat_id, ticker, created_at) \
     SELECT ?1, value, ?3 FROM json_each(?2) ORDER BY key";
/// Executions rows in chunks of 8, 4, 2 and 1, each row's values bound (a price must reach
/// the REAL column as the exact `f64`: SQLite's own text-to-number parsing, JSON's included,
/// is not correctly rounded for every value). Rows are inserted in order, so `id` keeps it.
macro_rules! insert_executions {
    ($($row:literal),+) => {
        concat!(
            "INSERT INTO executions (chat_id, signal_type, ticker, execution_price, ",
            "signal_price, execution_date, created_at) VALUES ",
            $($row),+
        )
    };
}
const EXECUTION_CHUNKS: [(usize, &str); 4] = [
    (
        8,
        insert_executions!(
            "(?, ?, ?, ?, ?, ?, ?), ",
            "(?, ?, ?, ?, ?, ?, ?), ",
            "(?, ?, ?, ?, ?, ?, ?), ",
            "(?, ?, ?, ?, ?, ?, ?), ",
            "(?, ?, ?, ?, ?, ?, ?), ",
            "(?, ?, ?, ?, ?, ?, ?), ",
            "(?, ?, ?, ?, ?, ?, ?), ",
            "(?, ?, ?, ?, ?, ?, ?)"
        ),
    ),
    (
        4,
        insert_executions!(
            "(?, ?, ?, ?, ?, ?, ?), ",
            "(?, ?, ?, ?, ?, ?, ?), ",
            "(?, ?, ?, ?, ?, ?, ?), ",
            "(?, ?, ?, ?, ?, ?, ?)"
        ),
    ),
    (
        2,
        insert_executions!("(?, ?, ?, ?, ?, ?, ?), ", "(?, ?, ?, ?, ?, ?, ?)"),
    ),
    (1, insert_executions!("(?, ?, ?, ?, ?, ?, ?)")),
];
/// The entry fresh or not (`cache.fresh` filters by expiry).
pub(super) const CACHE_ENTRY: &str =
    "SELECT cache_value, updated_at FROM cache WHERE cache_key = ?1";
pub(super) const CLEAR_CACHE: &str = "DELETE FROM cache WHERE cache_key = ?1";
/// A page of entities at once (?1: their keys as one JSON array), in entity then row order.
const WATCHLISTS_OF: &str = "SELECT chat_id AS entity_key, ticker FROM watchlists \
     WHERE chat_id IN (SELECT value FROM json_each(?1)) ORDER BY chat_id, id";
const EXECUTIONS_OF: &str = "SELECT chat_id AS entity_key, signal_type, ticker, \
     execution_price, signal_price, execution_date FROM executions \
     WHERE chat_id IN (SELECT value FROM json_each(?1)) ORDER BY chat_id, id";
const POSITIONS_OF: &str = "SELECT chat_id AS entity_key, ticker, entry_price \
     FROM active_positions WHERE chat_id IN (SELECT value FROM json_each(?1))";
const CACHE_OF: &str = "SELECT cache_key AS entity_key, cache_value, updated_at FROM cache \
     WHERE cache_key IN (SELECT value FROM json_each(?1))";
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
pub struct D1Entities(Sql);

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

    async fn load_each(&self, keys: &[EntityKey]) -> StorageResult<Vec<StorageResult<Snapshot>>> {
        let Some(first) = keys.first() else {
            return Ok(Vec::new());
        };
        let op = first.operation(false);
        let names: Vec<String> = keys.iter().map(ToString::to_string).collect();
        let list = || {
            vec![SqlValue::from(
                serde_json::Value::from(names.clone()).to_string(),
            )]
        };
        // Each entity's rows, by its key; every key starts out with none.
        let mut found: HashMap<String, Vec<Row>> =
            names.iter().map(|n| (n.clone(), Vec::new())).collect();
        let sql = match first.repository() {
            Repository::Subscriptions => {
                return Ok(vec![self.load(first).await]);
            }
            Repository::Watchlists => WATCHLISTS_OF,
            Repository::Executions => EXECUTIONS_OF,
            Repository::Positions => POSITIONS_OF,
            Repository::Cache => CACHE_OF,
        };
        for mut row in self.0.query(&op, Statement::new(sql, list())).await? {
            let key = row
                .remove("entity_key")
                .and_then(|k| k.as_str().map(str::to_owned));
            if let Some(rows) = key.and_then(|k| found.get_mut(&k)) {
                rows.push(row);
            }
        }
        Ok(keys
            .iter()
            .zip(&names)
            .map(|(key, name)| snapshot(&op, key, found.remove(name).unwrap_or_default()))
            .collect())
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
                statements.extend(insert_executions(*chat, list, self.0.now()));
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

/// The snapshot of `key` from its rows (of a `…_OF` query, `entity_key` taken out).
fn snapshot(op: &Operation, key: &EntityKey, rows: Vec<Row>) -> StorageResult<Snapshot> {
    fn decode<T: serde::de::DeserializeOwned>(op: &Operation, row: Row) -> StorageResult<T> {
        serde_json::from_value(serde_json::Value::Object(row)).map_err(|e| StorageError::Decode {
            operation: op.clone(),
            key: "a sweep's page".into(),
            message: e.to_string(),
        })
    }
    Ok(match key {
        EntityKey::Watchlist(chat) => {
            let tickers = rows
                .into_iter()
                .map(|row| decode::<TickerRow>(op, row).map(|t| t.ticker));
            Snapshot::Watchlist(*chat, tickers.collect::<StorageResult<_>>()?)
        }
        EntityKey::Executions(chat) => {
            let list = rows
                .into_iter()
                .map(|row| decode::<ExecutionRow>(op, row)?.execution(op));
            Snapshot::Executions(*chat, list.collect::<StorageResult<_>>()?)
        }
        EntityKey::Position(chat) => {
            let row = rows
                .into_iter()
                .next()
                .map(|row| decode::<PositionRow>(op, row));
            Snapshot::Position(*chat, row.transpose()?.map(Position::from))
        }
        EntityKey::Cache(name) => {
            let row = rows
                .into_iter()
                .next()
                .map(|row| decode::<CacheRow>(op, row));
            let entry = row
                .transpose()?
                .map(|row| row.entry(op, name))
                .transpose()?;
            Snapshot::Cache(name.clone(), entry)
        }
        // `load_each` loads the one subscriber list with `load`, never through here.
        EntityKey::Subscribers => unreachable!("the subscriber list is loaded whole"),
    })
}

/// The statements that insert `list` in order: as few as the chunks of
/// [`EXECUTION_CHUNKS`] allow (a history of 30 takes 8 + 8 + 8 + 4 + 2).
fn insert_executions(chat: ChatId, list: &[Execution], now: i64) -> Vec<Statement> {
    let mut statements = Vec::new();
    let mut rest = list;
    while let Some(&(size, sql)) = EXECUTION_CHUNKS
        .iter()
        .find(|(size, _)| *size <= rest.len())
    {
        let (chunk, tail) = rest.split_at(size);
        let params = chunk
            .iter()
            .flat_map(|e| executions::row_params(chat, e, now))
            .collect();
        statements.push(Statement::new(sql, params));
        rest = tail;
    }
    statements
}

/// At most how many statements [`D1Entities::statements`] gives for `snapshot`, without
/// asking D1 (the subscriber list's also reads its current order first).
pub fn statement_bound(snapshot: &Snapshot) -> u64 {
    let n = match snapshot {
        Snapshot::Subscribers(_) => 2,
        Snapshot::Watchlist(..) | Snapshot::Position(..) => 3,
        // Chunks of 8, then at most one each of 4, 2 and 1.
        Snapshot::Executions(_, list) => {
            2 + list.len() / 8 + (list.len() % 8).count_ones() as usize
        }
        Snapshot::Cache(..) => 1,
    };
    u64::try_from(n).unwrap_or(u64::MAX)
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
