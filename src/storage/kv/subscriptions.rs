//! `chat_ids`: a JSON array in subscription order (legacy §4.4). Rewrites keep every element
//! they do not touch verbatim, strings included.

use super::{Kv, CHAT_IDS_KEY};
use crate::domain::{ChatId, Subscriber};
use crate::storage::{Operation, StorageResult, SubscriptionRepo};
use async_trait::async_trait;
use serde_json::Value;

pub(crate) struct KvSubscriptions(pub(crate) Kv);

impl KvSubscriptions {
    async fn load(&self, op: &Operation) -> StorageResult<Vec<Value>> {
        Ok(self.0.get_json(op, CHAT_IDS_KEY).await?.unwrap_or_default())
    }

    /// Removes the first element that `matches` (legacy `indexOf` + `splice`); `true` when one
    /// was there.
    async fn remove_first(
        &self,
        op: &Operation,
        matches: impl Fn(&Value) -> bool,
    ) -> StorageResult<bool> {
        let mut ids = self.load(op).await?;
        let Some(at) = ids.iter().position(matches) else {
            return Ok(false);
        };
        ids.remove(at);
        self.0
            .put_json(op, CHAT_IDS_KEY, &Value::Array(ids))
            .await?;
        Ok(true)
    }
}

/// JavaScript strict equality between a stored element and a chat id: numbers only, so the
/// string `"123"` is not the chat 123.
fn is_chat(value: &Value, chat: ChatId) -> bool {
    value.as_f64() == Some(chat.get() as f64)
}

/// A stored element as a subscriber: a number with an integral value is a chat, anything else
/// a stray. JavaScript has one number type, so `5.0` (or `5e0`) is the chat 5 to the legacy
/// bot, which `includes(5)` finds and messages, exactly as it does `5`.
pub(super) fn entry(value: &Value) -> Subscriber {
    let integral = || {
        value
            .as_f64()
            .filter(|x| x.fract() == 0.0 && x.abs() < i64::MAX as f64)
            .map(|x| x as i64)
    };
    match value.as_i64().or_else(integral) {
        Some(id) => Subscriber::Chat(ChatId::new(id)),
        None => Subscriber::Stray(value.clone()),
    }
}

#[async_trait(?Send)]
impl SubscriptionRepo for KvSubscriptions {
    async fn subscribers(&self) -> StorageResult<Vec<ChatId>> {
        let entries = self.entries().await?;
        Ok(entries
            .into_iter()
            .filter_map(|entry| match entry {
                Subscriber::Chat(chat) => Some(chat),
                Subscriber::Stray(value) => {
                    tracing::warn!(key = CHAT_IDS_KEY, element = %value, "skipping a chat_ids element that is not a chat id");
                    None
                }
            })
            .collect())
    }

    async fn entries(&self) -> StorageResult<Vec<Subscriber>> {
        let op = Operation::new("subscriptions.entries");
        Ok(self.load(&op).await?.iter().map(entry).collect())
    }

    async fn forget(&self, entry: &Subscriber) -> StorageResult<bool> {
        match entry {
            Subscriber::Chat(chat) => self.unsubscribe(*chat).await,
            Subscriber::Stray(stray) => {
                let op = Operation::new("subscriptions.forget");
                self.remove_first(&op, |value| value == stray).await
            }
        }
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
        self.remove_first(&op, |value| is_chat(value, chat)).await
    }
}
