//! `executions` routed: KV `execution_history:<id>` ↔ D1 `executions`, repairs keyed by chat
//! id. A repair re-copies the chat's whole history: an append that missed a store cannot be
//! replayed on its own without knowing which appends the store did get.

use super::Routed;
use crate::domain::{ChatId, Execution};
use crate::storage::{ExecutionRepo, StorageResult};
use async_trait::async_trait;

#[async_trait(?Send)]
impl ExecutionRepo for Routed<dyn ExecutionRepo> {
    /// An append is the one write that is not idempotent: landing it twice in D1 records two
    /// executions. So in `dual_write` the history's D1 version is bumped before KV is written,
    /// and a backfill that copies this append from KV before its D1 insert runs either fails
    /// its guard or sees a change too recent to copy (`migration::sweep`).
    async fn record(&self, chat: ChatId, execution: &Execution) -> StorageResult<()> {
        self.route
            .bump_d1_version("executions.record", &chat.to_string())
            .await;
        self.write("executions.record", &chat.to_string(), |repo| {
            let execution = execution.clone();
            async move { repo.record(chat, &execution).await }
        })
        .await
    }

    async fn history(&self, chat: ChatId, ticker: Option<&str>) -> StorageResult<Vec<Execution>> {
        let key = chat.to_string();
        self.read("executions.history", Some(&key), |repo| {
            let ticker = ticker.map(str::to_owned);
            async move { repo.history(chat, ticker.as_deref()).await }
        })
        .await
    }

    async fn latest(&self, chat: ChatId) -> StorageResult<Option<Execution>> {
        let key = chat.to_string();
        self.read("executions.latest", Some(&key), |repo| async move {
            repo.latest(chat).await
        })
        .await
    }
}
