//! `positions` routed: KV `active_position:<id>` ↔ D1 `active_positions`, repairs keyed by
//! chat id. A cleared position is the case the shadow read's repair-queue check exists for:
//! when KV missed the clear, KV still has the position D1 no longer has.

use super::Routed;
use crate::domain::{ChatId, Position};
use crate::storage::{PositionRepo, StorageResult};
use async_trait::async_trait;

#[async_trait(?Send)]
impl PositionRepo for Routed<dyn PositionRepo> {
    async fn position(&self, chat: ChatId) -> StorageResult<Option<Position>> {
        let key = chat.to_string();
        self.read("positions.position", Some(&key), |repo| async move {
            repo.position(chat).await
        })
        .await
    }

    async fn set_position(&self, chat: ChatId, position: &Position) -> StorageResult<()> {
        self.write("positions.set_position", &chat.to_string(), |repo| {
            let position = position.clone();
            async move { repo.set_position(chat, &position).await }
        })
        .await
    }

    async fn clear_position(&self, chat: ChatId) -> StorageResult<()> {
        self.write(
            "positions.clear_position",
            &chat.to_string(),
            |repo| async move { repo.clear_position(chat).await },
        )
        .await
    }
}
