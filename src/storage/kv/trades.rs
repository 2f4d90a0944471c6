//! A trade on the legacy keys: `execution_history:<id>`, `active_position:<id>` and
//! `watchlist:<id>` written one after another ([`in_steps`]).

use super::{Kv, KvExecutions, KvPositions, KvWatchlists};
use crate::domain::{ChatId, Execution};
use crate::storage::{in_steps, StorageResult, TradeRepo, Traded};
use async_trait::async_trait;

pub(crate) struct KvTrades(pub(crate) Kv);

#[async_trait(?Send)]
impl TradeRepo for KvTrades {
    async fn trade(&self, chat: ChatId, execution: &Execution) -> StorageResult<Traded> {
        let executions = KvExecutions(self.0.clone());
        let positions = KvPositions(self.0.clone());
        let watchlists = KvWatchlists(self.0.clone());
        in_steps(&executions, &positions, &watchlists, chat, execution).await
    }
}
