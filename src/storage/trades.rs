//! A trade as separate repository calls, in the legacy order: record the execution, then open
//! or close the position, then (a BUY) watch the ticker. KV has no transaction, so this is how
//! KV trades; the router runs a trade this way too while its repositories are in different
//! phases.

use super::{ExecutionRepo, PositionRepo, StorageResult, Traded, WatchlistRepo};
use crate::domain::{ChatId, Execution, Position, SignalType};

/// Runs a trade as three calls. A failure of the first two fails the trade, leaving whatever
/// landed before it (as the legacy bot did); a failed watchlist step is logged and reported as
/// [`Traded::WatchlistMissed`].
pub async fn in_steps(
    executions: &dyn ExecutionRepo,
    positions: &dyn PositionRepo,
    watchlists: &dyn WatchlistRepo,
    chat: ChatId,
    execution: &Execution,
) -> StorageResult<Traded> {
    executions.record(chat, execution).await?;
    if execution.signal_type == SignalType::Sell {
        positions.clear_position(chat).await?;
        return Ok(Traded::Complete);
    }
    positions.set_position(chat, &opened(execution)).await?;
    match watchlists.add(chat, &execution.ticker).await {
        Ok(_) => Ok(Traded::Complete),
        Err(e) => {
            tracing::warn!(chat = %chat, error = %e, "adding a bought ticker to the watchlist failed");
            Ok(Traded::WatchlistMissed)
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
