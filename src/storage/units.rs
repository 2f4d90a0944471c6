//! The units of [`UnitRepo`](super::UnitRepo) as separate repository calls, in the legacy
//! order. KV has no transaction, so this is how KV runs them; the router runs them this way too
//! while their repositories are in different phases.

use super::{ExecutionRepo, Landed, PositionRepo, StorageResult, SubscriptionRepo, WatchlistRepo};
use crate::domain::{ChatId, Execution, Position, SignalType};

/// The repositories a unit's steps go through.
pub struct Steps<'a> {
    pub subscriptions: &'a dyn SubscriptionRepo,
    pub watchlists: &'a dyn WatchlistRepo,
    pub executions: &'a dyn ExecutionRepo,
    pub positions: &'a dyn PositionRepo,
}

impl Steps<'_> {
    /// Records the execution, then opens or closes the position, then (a BUY) watches the
    /// ticker. A failure of the first two fails the trade, leaving whatever landed before it
    /// (as the legacy bot did).
    pub async fn trade(&self, chat: ChatId, execution: &Execution) -> StorageResult<Landed> {
        self.executions.record(chat, execution).await?;
        if execution.signal_type == SignalType::Sell {
            self.positions.clear_position(chat).await?;
            return Ok(Landed::Complete);
        }
        self.positions
            .set_position(chat, &opened(execution))
            .await?;
        let watched = self.watchlists.add(chat, &execution.ticker).await;
        Ok(watchlist_step(
            chat,
            watched.map(drop),
            "adding a bought ticker",
        ))
    }

    /// Subscribes, then (a new subscriber) reads the watchlist, which stores the default.
    pub async fn enrol(&self, chat: ChatId) -> StorageResult<Option<Landed>> {
        if !self.subscriptions.subscribe(chat).await? {
            return Ok(None);
        }
        let read = self.watchlists.watchlist(chat).await;
        let step = "giving a new subscriber the default watchlist";
        Ok(Some(watchlist_step(chat, read.map(drop), step)))
    }
}

/// A watchlist step's outcome: a failure is logged, never the unit's.
fn watchlist_step(chat: ChatId, outcome: StorageResult<()>, step: &str) -> Landed {
    match outcome {
        Ok(()) => Landed::Complete,
        Err(e) => {
            tracing::warn!(chat = %chat, error = %e, step, "a watchlist step failed");
            Landed::WatchlistMissed
        }
    }
}

/// The position a BUY opens.
pub(super) fn opened(execution: &Execution) -> Position {
    Position {
        ticker: execution.ticker.clone(),
        entry_price: execution.execution_price,
    }
}
