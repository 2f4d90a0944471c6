//! `active_position:<chatId>`: `{"ticker":…,"entryPrice":…}`, one per chat (legacy §4.7).

use super::{chat_key, to_json, Kv, ACTIVE_POSITION_PREFIX};
use crate::domain::{ChatId, Position};
use crate::storage::{Operation, PositionRepo, StorageResult};
use async_trait::async_trait;

pub(crate) struct KvPositions(pub(crate) Kv);

#[async_trait(?Send)]
impl PositionRepo for KvPositions {
    async fn position(&self, chat: ChatId) -> StorageResult<Option<Position>> {
        let op = Operation::new("positions.position").chat(chat);
        self.0
            .get_record(&op, &chat_key(ACTIVE_POSITION_PREFIX, chat))
            .await
    }

    async fn set_position(&self, chat: ChatId, position: &Position) -> StorageResult<()> {
        let op = Operation::new("positions.set_position")
            .chat(chat)
            .ticker(&position.ticker);
        let key = chat_key(ACTIVE_POSITION_PREFIX, chat);
        self.0.put_json(&op, &key, &to_json(position)).await
    }

    async fn clear_position(&self, chat: ChatId) -> StorageResult<()> {
        let op = Operation::new("positions.clear_position").chat(chat);
        self.0
            .delete(&op, &chat_key(ACTIVE_POSITION_PREFIX, chat))
            .await
    }
}
