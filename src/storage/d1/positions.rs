//! `active_positions`: at most one row per chat (a unique index on `chat_id` enforces it); a
//! new position replaces the old one inside one batch.

use super::{chat_param, Sql};
use crate::domain::{ChatId, Position};
use crate::platform::Statement;
use crate::storage::{Operation, PositionRepo, Repository, StorageResult};
use async_trait::async_trait;
use serde::Deserialize;

pub(super) const SELECT: &str =
    "SELECT ticker, entry_price FROM active_positions WHERE chat_id = ?1";
pub(super) const DELETE: &str = "DELETE FROM active_positions WHERE chat_id = ?1";
const INSERT: &str = "INSERT INTO active_positions \
     (chat_id, ticker, entry_price, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)";

pub struct D1Positions(pub(crate) Sql);

#[derive(Deserialize)]
pub(super) struct PositionRow {
    ticker: String,
    entry_price: Option<f64>,
}

impl From<PositionRow> for Position {
    fn from(row: PositionRow) -> Self {
        Position {
            ticker: row.ticker,
            entry_price: row.entry_price,
        }
    }
}

/// The batch that makes `position` the chat's only one.
pub(super) fn replace(sql: &Sql, chat: ChatId, position: &Position) -> Vec<Statement> {
    let mut statements = vec![sql.ensure_user(chat)];
    statements.extend(replacing(sql, chat, position));
    statements
}

/// [`replace`] in a batch that already gives the chat its `users` row.
pub(super) fn replacing(sql: &Sql, chat: ChatId, position: &Position) -> [Statement; 2] {
    [
        Statement::new(DELETE, vec![chat_param(chat)]),
        Statement::new(
            INSERT,
            vec![
                chat_param(chat),
                position.ticker.clone().into(),
                position.entry_price.into(),
                sql.now().into(),
            ],
        ),
    ]
}

/// The batch that leaves the chat without a position; the version is bumped even when there
/// was none to delete.
pub(super) fn clearing(sql: &Sql, chat: ChatId) -> Vec<Statement> {
    vec![
        Statement::new(DELETE, vec![chat_param(chat)]),
        sql.touch(Repository::Positions, &chat.to_string()),
    ]
}

#[async_trait(?Send)]
impl PositionRepo for D1Positions {
    async fn position(&self, chat: ChatId) -> StorageResult<Option<Position>> {
        let op = Operation::new("positions.position").chat(chat);
        let rows: Vec<PositionRow> = self
            .0
            .query_as(&op, Statement::new(SELECT, vec![chat_param(chat)]))
            .await?;
        Ok(rows.into_iter().next().map(Position::from))
    }

    async fn set_position(&self, chat: ChatId, position: &Position) -> StorageResult<()> {
        let op = Operation::new("positions.set_position")
            .chat(chat)
            .ticker(&position.ticker);
        self.0
            .batch(&op, replace(&self.0, chat, position))
            .await
            .map(drop)
    }

    async fn clear_position(&self, chat: ChatId) -> StorageResult<()> {
        let op = Operation::new("positions.clear_position").chat(chat);
        self.0.batch(&op, clearing(&self.0, chat)).await.map(drop)
    }
}
