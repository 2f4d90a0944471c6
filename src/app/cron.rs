//! Cron dispatch: which job a cron expression from `wrangler.toml` runs.

use super::broadcast::Broadcast;
use super::App;
use crate::migration::repair::{run_step, StepOutcome};
use crate::migration::sweep::{continue_unfinished, Budget, Kind};
use crate::storage::d1::{D1Cache, Sql, UpdateClaims};

/// The jobs the worker's cron triggers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// One of the four legacy Fear & Greed broadcast slots (legacy §8.1).
    Broadcast,
    /// Background upkeep every five minutes, invisible to users.
    Maintenance,
}

/// The broadcast crons of the legacy bot, in UTC.
pub const BROADCAST_CRONS: [&str; 4] = [
    "0 9 * * 1-5",
    "30 14 * * 1-5",
    "0 21 * * 1-5",
    "0 1 * * 2-6",
];
pub const MAINTENANCE_CRON: &str = "*/5 * * * *";

/// Repairs one maintenance run takes from the queue.
const REPAIRS_PER_RUN: usize = 50;

impl Job {
    /// The job for a cron expression, `None` for one this worker does not know.
    pub fn for_cron(cron: &str) -> Option<Self> {
        if BROADCAST_CRONS.contains(&cron) {
            Some(Self::Broadcast)
        } else if cron == MAINTENANCE_CRON {
            Some(Self::Maintenance)
        } else {
            None
        }
    }
}

/// What a cron run did, for its log line and for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CronOutcome {
    UnknownCron,
    Broadcast(Broadcast),
    Maintained {
        expired_cache_rows: u64,
        forgotten_updates: u64,
        /// One bounded step of the repair queue's drain.
        repair: StepOutcome,
        /// One bounded step of the unfinished sweeps, if any: their kind, and whether that
        /// step finished them.
        sweep: Option<(Kind, bool)>,
    },
    Failed(String),
}

impl App {
    /// Runs the job of one cron trigger.
    pub async fn on_cron(&self, cron: &str) -> CronOutcome {
        let outcome = match Job::for_cron(cron) {
            None => CronOutcome::UnknownCron,
            Some(Job::Broadcast) => CronOutcome::Broadcast(self.broadcast().await),
            Some(Job::Maintenance) => self.maintain().await,
        };
        self.after_replies().await;
        tracing::info!(cron, outcome = ?outcome, "cron run finished");
        outcome
    }

    /// Purges expired cache rows and update claims past their retention, drains the repair
    /// queue by one step and continues unfinished sweeps by one; nothing users see.
    async fn maintain(&self) -> CronOutcome {
        let sql = Sql::new(self.platform());
        let now = self.platform().clock.now_ms();
        let purged = async {
            let expired_cache_rows = D1Cache(sql.clone()).purge_expired(now).await?;
            let forgotten_updates = UpdateClaims(sql).purge_old().await?;
            let flags = self
                .flag_cache()
                .current(self.platform(), self.config().storage_phase_default)
                .await;
            let repair = run_step(self.platform(), flags.phases(), REPAIRS_PER_RUN).await?;
            let sweep = continue_unfinished(self.platform(), flags.phases(), Budget::CRON)
                .await?
                .and_then(|step| Some((step.sweeps.first()?.kind, step.finished())));
            Ok::<_, crate::storage::StorageError>(CronOutcome::Maintained {
                expired_cache_rows,
                forgotten_updates,
                repair,
                sweep,
            })
        };
        purged.await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "maintenance failed");
            CronOutcome::Failed(e.to_string())
        })
    }
}
