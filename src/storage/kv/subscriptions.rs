//! `chat_ids`: a JSON array in subscription order (legacy §4.4). Rewrites keep every element
//! they do not touch verbatim, strings included.

use super::{Kv, CHAT_IDS_KEY};
use crate::domain::ChatId;
use crate::storage::{Operation, StorageResult, SubscriptionRepo};
use async_trait::async_trait;
use serde_json::Value;

pub(crate) struct KvSubscriptions(pub(crate) Kv);

impl KvSubscriptions {
    async fn load(&self, op: &Operation) -> StorageResult<Vec<Value>> {
        Ok(self.0.get_json(op, CHAT_IDS_KEY).await?.unwrap_or_default())
    }
}

/// JavaScript strict equality between a stored element and a chat id: numbers only, so the
/// string `"123"` is not the chat 123.
fn is_chat(value: &Value, chat: ChatId) -> bool {
    value.as_f64() == Some(chat.get() as f64)
}

#[async_trait(?Send)]
impl SubscriptionRepo for KvSubscriptions {
    async fn subscribers(&self) -> StorageResult<Vec<ChatId>> {
        let op = Operation::new("subscriptions.subscribers");
        let ids = self.load(&op).await?;
        Ok(ids
            .iter()
            .filter_map(|value| match value.as_i64() {
                Some(id) => Some(ChatId::new(id)),
                None => {
                    tracing::warn!(key = CHAT_IDS_KEY, element = %value, "skipping a chat_ids element that is not a chat id");
                    None
                }
            })
            .collect())
    }

    async fn subscribe(&self, chat: ChatId) -> StorageResult<bool> {
        let op = Operation::new("subscriptions.subscribe").chat(chat);
        let mut ids = self.load(&op).await?;
        if ids.iter().any(|value| is_chat(value, chat)) {
            return Ok(false);
        }
        ids.push(Value::from(chat.get()));
        self.0
            .put_json(&op, CHAT_IDS_KEY, &Value::Array(ids))
            .await?;
        Ok(true)
    }

    async fn unsubscribe(&self, chat: ChatId) -> StorageResult<bool> {
        let op = Operation::new("subscriptions.unsubscribe").chat(chat);
        let mut ids = self.load(&op).await?;
        let Some(at) = ids.iter().position(|value| is_chat(value, chat)) else {
            return Ok(false);
        };
        ids.remove(at);
        self.0
            .put_json(&op, CHAT_IDS_KEY, &Value::Array(ids))
            .await?;
        Ok(true)
    }
}
