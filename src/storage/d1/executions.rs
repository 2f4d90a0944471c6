//! `executions`: append-only rows, read newest first with ties in insertion order
//! (`ORDER BY execution_date DESC, id`), as the stable KV sort gives them.

use super::{chat_param, Sql};
use crate::domain::{normalize_ticker, ChatId, Execution, SignalType};
use crate::platform::{SqlValue, Statement};
use crate::storage::{ExecutionRepo, Operation, StorageError, StorageResult};
use async_trait::async_trait;
use serde::Deserialize;

const INSERT: &str = "INSERT INTO executions \
     (chat_id, signal_type, ticker, execution_price, signal_price, execution_date, created_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
pub(super) const HISTORY: &str =
    "SELECT signal_type, ticker, execution_price, signal_price, execution_date \
     FROM executions WHERE chat_id = ?1 ORDER BY execution_date DESC, id";
pub(super) const HISTORY_FOR_TICKER: &str =
    "SELECT signal_type, ticker, execution_price, signal_price, execution_date \
     FROM executions WHERE chat_id = ?1 AND ticker = ?2 ORDER BY execution_date DESC, id";
pub(super) const LATEST: &str =
    "SELECT signal_type, ticker, execution_price, signal_price, execution_date \
     FROM executions WHERE chat_id = ?1 ORDER BY execution_date DESC, id LIMIT 1";

pub struct D1Executions(pub(crate) Sql);

#[derive(Deserialize)]
pub(super) struct ExecutionRow {
    signal_type: String,
    ticker: String,
    execution_price: Option<f64>,
    signal_price: Option<f64>,
    execution_date: i64,
}

impl ExecutionRow {
    /// The execution the row holds; a signal type other than BUY or SELL is a decode error.
    pub(super) fn execution(self, op: &Operation) -> StorageResult<Execution> {
        let signal_type =
            SignalType::parse(&self.signal_type).ok_or_else(|| StorageError::Decode {
                operation: op.clone(),
                key: format!("executions.signal_type={}", self.signal_type),
                message: "not BUY or SELL".into(),
            })?;
        Ok(Execution {
            signal_type,
            ticker: self.ticker,
            execution_price: self.execution_price,
            execution_date: self.execution_date,
            signal_price: self.signal_price,
        })
    }
}

impl D1Executions {
    pub(super) async fn select(
        &self,
        op: &Operation,
        statement: Statement,
    ) -> StorageResult<Vec<Execution>> {
        let rows: Vec<ExecutionRow> = self.0.query_as(op, statement).await?;
        rows.into_iter().map(|row| row.execution(op)).collect()
    }
}

/// The statement that appends `execution` to the chat's history.
pub(super) fn insert(sql: &Sql, chat: ChatId, execution: &Execution) -> Statement {
    Statement::new(INSERT, row_params(chat, execution, sql.now()).to_vec())
}

/// The values of one `executions` row, in the column order every insert names them.
pub(super) fn row_params(chat: ChatId, execution: &Execution, now: i64) -> [SqlValue; 7] {
    [
        chat_param(chat),
        execution.signal_type.as_str().into(),
        execution.ticker.as_str().into(),
        execution.execution_price.into(),
        execution.signal_price.into(),
        execution.execution_date.into(),
        now.into(),
    ]
}

#[async_trait(?Send)]
impl ExecutionRepo for D1Executions {
    async fn record(&self, chat: ChatId, execution: &Execution) -> StorageResult<()> {
        let op = Operation::new("executions.record")
            .chat(chat)
            .ticker(&execution.ticker);
        let insert = insert(&self.0, chat, execution);
        self.0
            .batch(&op, vec![self.0.ensure_user(chat), insert])
            .await
            .map(drop)
    }

    async fn history(&self, chat: ChatId, ticker: Option<&str>) -> StorageResult<Vec<Execution>> {
        let op = Operation::new("executions.history").chat(chat);
        let statement = match ticker.map(normalize_ticker) {
            None => Statement::new(HISTORY, vec![chat_param(chat)]),
            Some(ticker) => {
                Statement::new(HISTORY_FOR_TICKER, vec![chat_param(chat), ticker.into()])
            }
        };
        self.select(&op, statement).await
    }

    async fn latest(&self, chat: ChatId) -> StorageResult<Option<Execution>> {
        let op = Operation::new("executions.latest").chat(chat);
        let statement = Statement::new(LATEST, vec![chat_param(chat)]);
        Ok(self.select(&op, statement).await?.into_iter().next())
    }
}
