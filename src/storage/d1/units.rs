//! The units, each in one `batch()`, committed together or not at all: a trade's
//! `executions` row, `active_positions` change and (a BUY) `watchlists` row; an enrolment's
//! `users` subscription and default `watchlists` row.

use super::{executions, positions, subscriptions, watchlists, Sql};
use crate::domain::{ChatId, Execution, SignalType};
use crate::storage::units::opened;
use crate::storage::{Landed, Operation, StorageResult, UnitRepo};
use async_trait::async_trait;

pub struct D1Units(pub(crate) Sql);

#[async_trait(?Send)]
impl UnitRepo for D1Units {
    async fn trade(&self, chat: ChatId, execution: &Execution) -> StorageResult<Landed> {
        let sql = &self.0;
        let op = Operation::new("units.trade")
            .chat(chat)
            .ticker(&execution.ticker);
        let mut statements = vec![
            sql.ensure_user(chat),
            executions::insert(sql, chat, execution),
        ];
        match execution.signal_type {
            SignalType::Buy => {
                statements.extend(positions::replacing(sql, chat, &opened(execution)));
                watchlists::appending(sql, &mut statements, chat, &execution.ticker);
            }
            SignalType::Sell => statements.extend(positions::clearing(sql, chat)),
        }
        sql.batch(&op, statements).await?;
        Ok(Landed::Complete)
    }

    async fn enrol(&self, chat: ChatId) -> StorageResult<Option<Landed>> {
        let sql = &self.0;
        let op = Operation::new("units.enrol").chat(chat);
        let mut statements = watchlists::default_for_new_subscriber(sql, chat);
        let subscribe = subscriptions::subscribing(sql, &mut statements, chat);
        let changed = sql.batch(&op, statements).await?;
        Ok((subscribe.changed(&changed) > 0).then_some(Landed::Complete))
    }
}
