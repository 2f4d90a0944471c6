//! `subscriptions` routed: KV `chat_ids` ↔ D1 `users`, repairs keyed by chat id.
//!
//! The legacy list may hold stray elements that are no chat id (legacy §9.6). They exist only
//! in KV (D1 has no place for them, and the backfill skips them), so they are KV's alone: in
//! `kv_only` and `dual_write` [`SubscriptionRepo::entries`] lists them and
//! [`SubscriptionRepo::forget`] removes them from KV, as the legacy bot does. From `shadow` on,
//! entries are the served subscriber list, chats only, exactly what `d1_only` will answer: a
//! stray is neither shown nor compared (it would be a divergence by construction), and
//! forgetting one is a no-op.

use super::Routed;
use crate::domain::{ChatId, Subscriber};
use crate::storage::{StorageResult, Store, SubscriptionRepo};
use async_trait::async_trait;

#[async_trait(?Send)]
impl SubscriptionRepo for Routed<dyn SubscriptionRepo> {
    async fn subscribers(&self) -> StorageResult<Vec<ChatId>> {
        self.read("subscriptions.subscribers", None, |repo| async move {
            repo.subscribers().await
        })
        .await
    }

    async fn subscribe(&self, chat: ChatId) -> StorageResult<bool> {
        self.write(
            "subscriptions.subscribe",
            &chat.to_string(),
            |repo| async move { repo.subscribe(chat).await },
        )
        .await
    }

    async fn unsubscribe(&self, chat: ChatId) -> StorageResult<bool> {
        self.write(
            "subscriptions.unsubscribe",
            &chat.to_string(),
            |repo| async move { repo.unsubscribe(chat).await },
        )
        .await
    }

    async fn entries(&self) -> StorageResult<Vec<Subscriber>> {
        const OPERATION: &str = "subscriptions.entries";
        let phase = self.route.phase().await;
        let chats = match phase.authoritative() {
            Store::Kv => match self
                .route
                .answering_store_missed(phase, OPERATION, None)
                .await
            {
                false => return self.kv.entries().await,
                true => self.d1.subscribers().await?,
            },
            Store::D1 => self.subscribers().await?,
        };
        Ok(chats.into_iter().map(Subscriber::Chat).collect())
    }

    async fn forget(&self, entry: &Subscriber) -> StorageResult<bool> {
        match (entry, self.route.phase().await.authoritative()) {
            (Subscriber::Chat(chat), _) => self.unsubscribe(*chat).await,
            // KV is the only store a stray is in, so this is not a dual write.
            (Subscriber::Stray(_), Store::Kv) => self.kv.forget(entry).await,
            (Subscriber::Stray(_), Store::D1) => Ok(false),
        }
    }
}
