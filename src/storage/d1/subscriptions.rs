//! `users`: a chat is subscribed while `subscription_status = 1`; `subscribed_seq` orders the
//! subscribers by their latest `/start`, as the KV array does.

use super::slot::Slot;
use super::{chat_param, Sql};
use crate::domain::ChatId;
use crate::platform::Statement;
use crate::storage::kv::CHAT_IDS_KEY;
use crate::storage::{Operation, Repository, StorageError, StorageResult, SubscriptionRepo};
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

pub struct D1Subscriptions(pub(crate) Sql);

/// Pushes onto `batch` the statements that subscribe `chat` (subscribe, version); the
/// subscribe's slot, which changes a row when the chat was not subscribed.
pub(super) fn subscribing(sql: &Sql, batch: &mut Vec<Statement>, chat: ChatId) -> Slot {
    let subscribe = Slot::push(
        batch,
        Statement::new(SUBSCRIBE, vec![chat_param(chat), sql.now().into()]),
    );
    batch.push(sql.touch(Repository::Subscriptions, CHAT_IDS_KEY));
    subscribe
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
        let mut statements = Vec::new();
        let subscribe = subscribing(&self.0, &mut statements, chat);
        Ok(subscribe.changed(&self.0.batch(&op, statements).await?) > 0)
    }

    async fn unsubscribe(&self, chat: ChatId) -> StorageResult<bool> {
        let op = Operation::new("subscriptions.unsubscribe").chat(chat);
        let mut statements = Vec::new();
        let unsubscribe = Slot::push(
            &mut statements,
            Statement::new(UNSUBSCRIBE, vec![chat_param(chat), self.0.now().into()]),
        );
        statements.push(self.0.touch(Repository::Subscriptions, CHAT_IDS_KEY));
        Ok(unsubscribe.changed(&self.0.batch(&op, statements).await?) > 0)
    }
}
