//! A trade in one `batch()`: the `executions` row, the `active_positions` change and, for a
//! BUY, the `watchlists` row, committed together or not at all.

use super::{executions, positions, watchlists, Sql};
use crate::domain::{ChatId, Execution, SignalType};
use crate::storage::trades::opened;
use crate::storage::{Operation, StorageResult, TradeRepo, Traded};
use async_trait::async_trait;

pub(crate) struct D1Trades(pub(crate) Sql);

#[async_trait(?Send)]
impl TradeRepo for D1Trades {
    async fn trade(&self, chat: ChatId, execution: &Execution) -> StorageResult<Traded> {
        let sql = &self.0;
        let op = Operation::new("trades.trade")
            .chat(chat)
            .ticker(&execution.ticker);
        let mut statements = vec![
            sql.ensure_user(chat),
            executions::insert(sql, chat, execution),
        ];
        match execution.signal_type {
            SignalType::Buy => {
                statements.extend(positions::replace(sql, chat, &opened(execution)));
                statements.extend(watchlists::adding(sql, chat, &execution.ticker));
            }
            SignalType::Sell => statements.extend(positions::clearing(sql, chat)),
        }
        sql.batch(&op, statements).await?;
        Ok(Traded::Complete)
    }
}
