//! `execution_history:<chatId>`: a JSON array in append order (legacy §4.6); readers sort
//! newest first with a stable sort. Appends keep the stored elements verbatim.

use super::{chat_key, record::records, to_json, Kv, EXECUTION_HISTORY_PREFIX};
use crate::domain::js_upper_case;
use crate::domain::{normalize_ticker, ChatId, Execution};
use crate::storage::{ExecutionRepo, Operation, StorageResult};
use async_trait::async_trait;
use serde_json::Value;

pub(crate) struct KvExecutions(pub(crate) Kv);

#[async_trait(?Send)]
impl ExecutionRepo for KvExecutions {
    async fn record(&self, chat: ChatId, execution: &Execution) -> StorageResult<()> {
        let op = Operation::new("executions.record")
            .chat(chat)
            .ticker(&execution.ticker);
        let key = chat_key(EXECUTION_HISTORY_PREFIX, chat);
        let mut stored: Vec<Value> = self.0.get_json(&op, &key).await?.unwrap_or_default();
        stored.push(to_json(execution));
        self.0.put_json(&op, &key, &Value::Array(stored)).await
    }

    async fn history(&self, chat: ChatId, ticker: Option<&str>) -> StorageResult<Vec<Execution>> {
        let mut op = Operation::new("executions.history").chat(chat);
        if let Some(ticker) = ticker {
            op = op.ticker(ticker);
        }
        let key = chat_key(EXECUTION_HISTORY_PREFIX, chat);
        let stored: Vec<Value> = self.0.get_json(&op, &key).await?.unwrap_or_default();
        let mut executions: Vec<Execution> = records(&op, &key, &stored)?;
        if let Some(ticker) = ticker.map(normalize_ticker) {
            executions.retain(|e| js_upper_case(&e.ticker) == ticker);
        }
        // `sort_by_key` is stable: equal dates keep append order, as the legacy sort does.
        executions.sort_by_key(|e| std::cmp::Reverse(e.execution_date));
        Ok(executions)
    }

    async fn latest(&self, chat: ChatId) -> StorageResult<Option<Execution>> {
        Ok(self.history(chat, None).await?.into_iter().next())
    }
}
