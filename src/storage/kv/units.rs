//! The units on the legacy keys, one key after another ([`Steps`]).

use super::{Kv, KvExecutions, KvPositions, KvSubscriptions, KvWatchlists};
use crate::domain::{ChatId, Execution};
use crate::storage::{Landed, Steps, StorageResult, UnitRepo};
use async_trait::async_trait;

pub(crate) struct KvUnits {
    subscriptions: KvSubscriptions,
    watchlists: KvWatchlists,
    executions: KvExecutions,
    positions: KvPositions,
}

impl KvUnits {
    pub(crate) fn new(kv: Kv) -> Self {
        Self {
            subscriptions: KvSubscriptions(kv.clone()),
            watchlists: KvWatchlists(kv.clone()),
            executions: KvExecutions(kv.clone()),
            positions: KvPositions(kv),
        }
    }

    fn steps(&self) -> Steps<'_> {
        Steps {
            subscriptions: &self.subscriptions,
            watchlists: &self.watchlists,
            executions: &self.executions,
            positions: &self.positions,
        }
    }
}

#[async_trait(?Send)]
impl UnitRepo for KvUnits {
    async fn trade(&self, chat: ChatId, execution: &Execution) -> StorageResult<Landed> {
        self.steps().trade(chat, execution).await
    }

    async fn enrol(&self, chat: ChatId) -> StorageResult<Option<Landed>> {
        self.steps().enrol(chat).await
    }
}
