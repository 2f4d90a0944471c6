//! `watchlists`: one row per ticker, ordered by `id` (insertion order). Every change is one
//! batch that first gives the chat its `users` row and its default SPY row if it has no rows,
//! exactly the state the KV read-then-write reaches, in a single round trip.

use super::slot::Slot;
use super::{chat_param, Sql};
use crate::domain::{normalize_ticker, ChatId, DEFAULT_TICKER};
use crate::platform::Statement;
use crate::storage::{
    AddTicker, Operation, RemoveTicker, Repository, StorageResult, WatchlistRepo,
};
use async_trait::async_trait;
use serde::Deserialize;

pub(super) const SELECT: &str = "SELECT ticker FROM watchlists WHERE chat_id = ?1 ORDER BY id";
pub(super) const INSERT_DEFAULT_IF_EMPTY: &str =
    "INSERT INTO watchlists (chat_id, ticker, created_at) \
     SELECT ?1, ?2, ?3 WHERE NOT EXISTS (SELECT 1 FROM watchlists WHERE chat_id = ?1)";
pub(super) const INSERT: &str =
    "INSERT OR IGNORE INTO watchlists (chat_id, ticker, created_at) VALUES (?1, ?2, ?3)";
const DELETE: &str = "DELETE FROM watchlists WHERE chat_id = ?1 AND ticker = ?2";
/// The default for a chat about to be subscribed: one with no rows that is not subscribed yet
/// (so the subscribe after it in the batch changes its row).
pub(super) const INSERT_DEFAULT_IF_NOT_SUBSCRIBED: &str =
    "INSERT INTO watchlists (chat_id, ticker, created_at) \
     SELECT ?1, ?2, ?3 WHERE NOT EXISTS (SELECT 1 FROM watchlists WHERE chat_id = ?1) \
     AND NOT EXISTS (SELECT 1 FROM users WHERE chat_id = ?1 AND subscription_status = 1)";

pub(crate) struct D1Watchlists(pub(crate) Sql);

#[derive(Deserialize)]
pub(super) struct TickerRow {
    pub(super) ticker: String,
}

impl D1Watchlists {
    /// The chat's rows in order, without the default a missing list reads as.
    pub(super) async fn stored(&self, op: &Operation, chat: ChatId) -> StorageResult<Vec<String>> {
        let rows: Vec<TickerRow> = self
            .0
            .query_as(op, Statement::new(SELECT, vec![chat_param(chat)]))
            .await?;
        Ok(rows.into_iter().map(|row| row.ticker).collect())
    }
}

/// Pushes onto `batch`, which already gives the chat its `users` row, the statements that
/// append `ticker` (normalised) to the chat's list (default, insert, version); the insert's
/// slot, which changes a row when the ticker is new.
pub(super) fn appending(sql: &Sql, batch: &mut Vec<Statement>, chat: ChatId, ticker: &str) -> Slot {
    batch.push(insert_default(sql, chat));
    let insert = Slot::push(
        batch,
        Statement::new(
            INSERT,
            vec![
                chat_param(chat),
                normalize_ticker(ticker).into(),
                sql.now().into(),
            ],
        ),
    );
    batch.push(sql.touch(Repository::Watchlists, &chat.to_string()));
    insert
}

/// `[users row, default]`, for the start of a batch that then subscribes the chat: a chat it
/// newly subscribes gets the default list when it has none.
pub(super) fn default_for_new_subscriber(sql: &Sql, chat: ChatId) -> Vec<Statement> {
    vec![
        sql.ensure_user(chat),
        Statement::new(
            INSERT_DEFAULT_IF_NOT_SUBSCRIBED,
            vec![chat_param(chat), DEFAULT_TICKER.into(), sql.now().into()],
        ),
    ]
}

/// `[users row, SPY if the chat has no rows]`: the prelude of every change.
fn with_default(sql: &Sql, chat: ChatId) -> Vec<Statement> {
    vec![sql.ensure_user(chat), insert_default(sql, chat)]
}

fn insert_default(sql: &Sql, chat: ChatId) -> Statement {
    Statement::new(
        INSERT_DEFAULT_IF_EMPTY,
        vec![chat_param(chat), DEFAULT_TICKER.into(), sql.now().into()],
    )
}

#[async_trait(?Send)]
impl WatchlistRepo for D1Watchlists {
    async fn watchlist(&self, chat: ChatId) -> StorageResult<Vec<String>> {
        let op = Operation::new("watchlists.watchlist").chat(chat);
        let tickers = self.stored(&op, chat).await?;
        if tickers.is_empty() {
            self.0.batch(&op, with_default(&self.0, chat)).await?;
            return Ok(vec![DEFAULT_TICKER.to_owned()]);
        }
        Ok(tickers)
    }

    async fn add(&self, chat: ChatId, ticker: &str) -> StorageResult<AddTicker> {
        let ticker = normalize_ticker(ticker);
        let op = Operation::new("watchlists.add").chat(chat).ticker(&ticker);
        let mut statements = vec![self.0.ensure_user(chat)];
        let insert = appending(&self.0, &mut statements, chat, &ticker);
        let changed = self.0.batch(&op, statements).await?;
        Ok(if insert.changed(&changed) > 0 {
            AddTicker::Added
        } else {
            AddTicker::AlreadyPresent
        })
    }

    async fn remove(&self, chat: ChatId, ticker: &str) -> StorageResult<RemoveTicker> {
        let ticker = normalize_ticker(ticker);
        let op = Operation::new("watchlists.remove")
            .chat(chat)
            .ticker(&ticker);
        let mut statements = with_default(&self.0, chat);
        let delete = Slot::push(
            &mut statements,
            Statement::new(DELETE, vec![chat_param(chat), ticker.into()]),
        );
        let default_after = Slot::push(&mut statements, insert_default(&self.0, chat));
        statements.push(self.0.touch(Repository::Watchlists, &chat.to_string()));
        let changed = self.0.batch(&op, statements).await?;
        Ok(
            match (delete.changed(&changed), default_after.changed(&changed)) {
                (0, _) => RemoveTicker::NotPresent,
                (_, 0) => RemoveTicker::Removed,
                _ => RemoveTicker::RemovedDefaultRestored,
            },
        )
    }
}
