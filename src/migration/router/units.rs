//! `units` routed: a command whose writes span repositories as one write, all its entities
//! keyed by the chat id. `/execute` writes `executions`, `positions` and, for a BUY,
//! `watchlists`; `/start` writes `subscriptions` and, for a new subscriber, `watchlists`.
//!
//! When the repositories a unit touches share a phase, the unit is routed like any write, with
//! the stores' own units: in D1 that is one `batch()`, so in `d1_only` the command's writes
//! cost one round trip and land together. A failed second write queues a repair for every
//! entity of the unit, and a second store that answers differently (only KV can miss the
//! watchlist step alone; the stores may also disagree on who was subscribed) a repair of the
//! watchlist. While their phases differ (an operator moving them one at a time), the unit runs
//! as separate routed calls, each in its own repository's phase.

use super::route::{Route, WriteAnswer, Written};
use crate::domain::{ChatId, Execution, SignalType};
use crate::storage::{
    ExecutionRepo, Landed, PositionRepo, Repository, Steps, StorageResult, SubscriptionRepo,
    UnitRepo, WatchlistRepo,
};
use async_trait::async_trait;
use std::future::Future;
use std::rc::Rc;

pub(super) struct RoutedUnits {
    pub(super) kv: Rc<dyn UnitRepo>,
    pub(super) d1: Rc<dyn UnitRepo>,
    /// Any repository's route: a unit runs on a copy for the repository that leads it.
    pub(super) route: Route,
    /// The routed repositories, for a unit across phases.
    pub(super) subscriptions: Rc<dyn SubscriptionRepo>,
    pub(super) watchlists: Rc<dyn WatchlistRepo>,
    pub(super) executions: Rc<dyn ExecutionRepo>,
    pub(super) positions: Rc<dyn PositionRepo>,
}

impl RoutedUnits {
    /// The routed repositories as steps.
    fn steps(&self) -> Steps<'_> {
        Steps {
            subscriptions: &*self.subscriptions,
            watchlists: &*self.watchlists,
            executions: &*self.executions,
            positions: &*self.positions,
        }
    }

    /// The route of `touched[0]` when every repository in `touched` shares its phase.
    async fn joint(&self, touched: &[Repository]) -> Option<Route> {
        let phases = self.route.phases.get().await;
        let phase = phases.get(touched[0]);
        touched
            .iter()
            .all(|r| phases.get(*r) == phase)
            .then(|| Route {
                repository: touched[0],
                ..self.route.clone()
            })
    }

    /// Routes one unit as one write of `touched`'s entities under `chat`; a different second
    /// answer means the stores differ on the `on_difference` entities.
    async fn write<T: WriteAnswer, F: Future<Output = StorageResult<T>> + 'static>(
        &self,
        route: &Route,
        operation: &'static str,
        (touched, on_difference): (&[Repository], &'static [Repository]),
        chat: ChatId,
        call: impl Fn(Rc<dyn UnitRepo>) -> F,
    ) -> StorageResult<T> {
        let written = Written {
            repositories: touched.to_vec(),
            on_difference,
        };
        let (kv, d1) = (
            Box::pin(call(self.kv.clone())),
            Box::pin(call(self.d1.clone())),
        );
        route
            .write_entities(operation, written, &chat.to_string(), kv, d1)
            .await
    }
}

#[async_trait(?Send)]
impl UnitRepo for RoutedUnits {
    /// In `dual_write` the history's D1 version is bumped before KV is written (see
    /// `executions::record`). Bumped here, before the command reads, the bump is the command's
    /// first D1 call and carries the update's claim: one round trip for both before the reply,
    /// where the bump at the trade cost one more. A trade the monthly limit then refuses has
    /// bumped a version that nothing changed, which only makes a backfill re-copy the
    /// history once it has settled.
    async fn before_trade(&self, chat: ChatId) {
        let route = Route {
            repository: Repository::Executions,
            ..self.route.clone()
        };
        route
            .bump_d1_version("units.trade", &chat.to_string())
            .await;
    }

    async fn trade(&self, chat: ChatId, execution: &Execution) -> StorageResult<Landed> {
        const OPERATION: &str = "units.trade";
        let touched: &[Repository] = match execution.signal_type {
            SignalType::Buy => &[
                Repository::Executions,
                Repository::Positions,
                Repository::Watchlists,
            ],
            SignalType::Sell => &[Repository::Executions, Repository::Positions],
        };
        let Some(route) = self.joint(touched).await else {
            return self.steps().trade(chat, execution).await;
        };
        // The append must not land twice (see `executions::record`); bumped already when the
        // command said a trade would follow.
        route.bump_d1_version(OPERATION, &chat.to_string()).await;
        let trade = |units: Rc<dyn UnitRepo>| {
            let execution = execution.clone();
            async move { units.trade(chat, &execution).await }
        };
        // Only the watchlist step can differ: KV may miss it alone.
        let differs = &[Repository::Watchlists];
        self.write(&route, OPERATION, (touched, differs), chat, trade)
            .await
    }

    async fn enrol(&self, chat: ChatId) -> StorageResult<Option<Landed>> {
        const TOUCHED: &[Repository] = &[Repository::Subscriptions, Repository::Watchlists];
        let Some(route) = self.joint(TOUCHED).await else {
            return self.steps().enrol(chat).await;
        };
        let enrol = |units: Rc<dyn UnitRepo>| async move { units.enrol(chat).await };
        // The stores disagreed on the subscription (its place in the order too) or KV missed
        // the watchlist step: both entities follow the authoritative store.
        self.write(&route, "units.enrol", (TOUCHED, TOUCHED), chat, enrol)
            .await
    }
}
