//! `users`: a chat is subscribed while `subscription_status = 1`; `subscribed_seq` orders the
//! subscribers by their latest `/start`, as the KV array does.

use super::{chat_param, Sql};
use crate::domain::ChatId;
use crate::migration::Repository;
use crate::platform::Statement;
use crate::storage::kv::CHAT_IDS_KEY;
use crate::storage::{Operation, StorageError, StorageResult, SubscriptionRepo};
use async_trait::async_trait;
use serde::Deserialize;

pub(super) const SUBSCRIBERS: &str =
    "SELECT chat_id FROM users WHERE subscription_status = 1 ORDER BY subscribed_seq";
/// Inserts or re-subscribes, moving the chat to the end; changes nothing (0 rows) when the chat
/// is already subscribed. One statement, so the sequence number cannot be taken twice.
pub(super) const SUBSCRIBE: &str =
    "INSERT INTO users (chat_id, subscription_status, subscribed_seq, created_at, updated_at) \
     VALUES (?1, 1, (SELECT COALESCE(MAX(subscribed_seq), 0) + 1 FROM users), ?2, ?2) \
     ON CONFLICT(chat_id) DO UPDATE SET subscription_status = 1, \
     subscribed_seq = excluded.subscribed_seq, updated_at = excluded.updated_at \
     WHERE users.subscription_status = 0";
const UNSUBSCRIBE: &str = "UPDATE users SET subscription_status = 0, updated_at = ?2 \
     WHERE chat_id = ?1 AND subscription_status = 1";

pub(crate) struct D1Subscriptions(pub(crate) Sql);

/// The batch that subscribes `chat`: `[subscribe (1 row when the chat is new), version]`.
pub(super) fn subscribing(sql: &Sql, chat: ChatId) -> Vec<Statement> {
    vec![
        Statement::new(SUBSCRIBE, vec![chat_param(chat), sql.now().into()]),
        sql.touch(Repository::Subscriptions, CHAT_IDS_KEY),
    ]
}

#[derive(Deserialize)]
struct SubscriberRow {
    chat_id: String,
}

#[async_trait(?Send)]
impl SubscriptionRepo for D1Subscriptions {
    async fn subscribers(&self) -> StorageResult<Vec<ChatId>> {
        let op = Operation::new("subscriptions.subscribers");
        let rows: Vec<SubscriberRow> = self
            .0
            .query_as(&op, Statement::new(SUBSCRIBERS, vec![]))
            .await?;
        rows.into_iter()
            .map(|row| {
                row.chat_id.parse().map_err(|_| StorageError::Decode {
                    operation: op.clone(),
                    key: format!("users.chat_id={}", row.chat_id),
                    message: "not a decimal chat id".into(),
                })
            })
            .collect()
    }

    async fn subscribe(&self, chat: ChatId) -> StorageResult<bool> {
        let op = Operation::new("subscriptions.subscribe").chat(chat);
        Ok(self.0.batch(&op, subscribing(&self.0, chat)).await?[0] > 0)
    }

    async fn unsubscribe(&self, chat: ChatId) -> StorageResult<bool> {
        let op = Operation::new("subscriptions.unsubscribe").chat(chat);
        let statements = vec![
            Statement::new(UNSUBSCRIBE, vec![chat_param(chat), self.0.now().into()]),
            self.0.touch(Repository::Subscriptions, CHAT_IDS_KEY),
        ];
        Ok(self.0.batch(&op, statements).await?[0] > 0)
    }
}
