//! `trades` routed: one `/execute` as one write across `executions`, `positions` and, for a
//! BUY, `watchlists`, all keyed by the chat id.
//!
//! When the repositories a trade touches share a phase, the trade is routed like any write,
//! with the stores' own trades: in D1 that is one `batch()`, so in `d1_only` a command's writes
//! cost one round trip and land together. A failed second write queues a repair for every
//! entity of the trade, and a second store that answers differently (only KV can miss the
//! watchlist step alone) a repair of the watchlist. While their phases differ (an operator moving them one at a time), the
//! trade runs as the three routed calls, each in its own repository's phase.

use super::route::{Route, Written};
use crate::domain::{ChatId, Execution, SignalType};
use crate::migration::{Phases, Repository};
use crate::storage::{
    in_steps, ExecutionRepo, PositionRepo, StorageResult, TradeRepo, Traded, WatchlistRepo,
};
use async_trait::async_trait;
use std::rc::Rc;

const OPERATION: &str = "trades.trade";

pub(super) struct RoutedTrades {
    pub(super) kv: Rc<dyn TradeRepo>,
    pub(super) d1: Rc<dyn TradeRepo>,
    pub(super) phases: Phases,
    /// The executions route: a joint trade runs in its phase, and bumps its version first.
    pub(super) route: Route,
    /// The routed repositories, for a trade across phases.
    pub(super) executions: Rc<dyn ExecutionRepo>,
    pub(super) positions: Rc<dyn PositionRepo>,
    pub(super) watchlists: Rc<dyn WatchlistRepo>,
}

#[async_trait(?Send)]
impl TradeRepo for RoutedTrades {
    async fn trade(&self, chat: ChatId, execution: &Execution) -> StorageResult<Traded> {
        let touched = touched(execution);
        let phase = self.route.phase;
        if touched.iter().any(|r| self.phases.get(*r) != phase) {
            let (executions, positions) = (&*self.executions, &*self.positions);
            return in_steps(executions, positions, &*self.watchlists, chat, execution).await;
        }
        let key = chat.to_string();
        // The append must not land twice (see `executions::record`).
        self.route.announce(OPERATION, &key).await;
        let (kv, d1, execution) = (self.kv.clone(), self.d1.clone(), execution.clone());
        let (kv_execution, d1_execution) = (execution.clone(), execution);
        let written = Written {
            repositories: touched.to_vec(),
            // One store has the bought ticker on the watchlist and the other has not: the
            // second store takes the authoritative one's list.
            on_difference: Some(Repository::Watchlists),
        };
        self.route
            .write_entities(
                OPERATION,
                written,
                &key,
                async move { kv.trade(chat, &kv_execution).await },
                async move { d1.trade(chat, &d1_execution).await },
            )
            .await
    }
}

/// The repositories whose entity the trade changes.
fn touched(execution: &Execution) -> &'static [Repository] {
    match execution.signal_type {
        SignalType::Buy => &[
            Repository::Executions,
            Repository::Positions,
            Repository::Watchlists,
        ],
        SignalType::Sell => &[Repository::Executions, Repository::Positions],
    }
}
