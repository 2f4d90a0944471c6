//! Cron dispatch: which job a cron expression from `wrangler.toml` runs.

use super::broadcast::Broadcast;
use super::pager::PagesSent;
use super::App;
use crate::migration::repair::{run_step, StepOutcome};
use crate::migration::sweep::{continue_unfinished, Budget, Kind};
use crate::storage::d1::{BroadcastRuns, D1Cache, Sql, UpdateClaims};

/// The jobs the worker's cron triggers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// One of the four legacy Fear & Greed broadcast slots (legacy §8.1).
    Broadcast,
    /// Background upkeep every five minutes, invisible to users.
    Maintenance,
}

/// The broadcast crons of the legacy bot, in UTC.
pub(crate) const BROADCAST_CRONS: [&str; 4] = [
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
    /// Each step of the upkeep ran whatever the others did: a step that failed holds its
    /// error's text.
    Maintained {
        expired_cache_rows: Result<u64, String>,
        forgotten_updates: Result<u64, String>,
        /// Rows of the queued broadcast's runs past their retention, a bounded step a run.
        forgotten_broadcasts: Result<u64, String>,
        /// One bounded step of the repair queue's drain.
        repair: Result<StepOutcome, String>,
        /// One bounded step of the unfinished sweeps, if any: their kind, and whether that
        /// step finished them.
        sweep: Result<Option<(Kind, bool)>, String>,
        /// The on-call pages and "cleared" messages sent to `ADMIN_CHAT_ID`.
        paging: Result<PagesSent, String>,
    },
}

impl CronOutcome {
    /// The maintenance steps that failed, by name, with their errors.
    pub(crate) fn failures(&self) -> Vec<(&'static str, &str)> {
        let Self::Maintained {
            expired_cache_rows,
            forgotten_updates,
            forgotten_broadcasts,
            repair,
            sweep,
            paging,
        } = self
        else {
            return Vec::new();
        };
        [
            ("cache_purge", expired_cache_rows.as_ref().err()),
            ("update_claims_purge", forgotten_updates.as_ref().err()),
            ("broadcast_runs_purge", forgotten_broadcasts.as_ref().err()),
            ("repair_drain", repair.as_ref().err()),
            ("sweeps", sweep.as_ref().err()),
            ("paging", paging.as_ref().err()),
        ]
        .into_iter()
        .filter_map(|(step, error)| Some((step, error?.as_str())))
        .collect()
    }
}

impl App {
    /// Runs the job of one cron trigger; a job this build does not have (the `bot` and `ops`
    /// features) is an unknown cron.
    pub async fn on_cron(&self, cron: &str) -> CronOutcome {
        let outcome = match Job::for_cron(cron) {
            #[cfg(feature = "bot")]
            Some(Job::Broadcast) => CronOutcome::Broadcast(self.broadcast().await),
            #[cfg(feature = "ops")]
            Some(Job::Maintenance) => self.maintain().await,
            // A job of the other worker's build.
            #[allow(unreachable_patterns)]
            None | Some(_) => CronOutcome::UnknownCron,
        };
        self.after_replies().await;
        let failed_steps: Vec<&str> = outcome.failures().iter().map(|(step, _)| *step).collect();
        tracing::info!(cron, outcome = ?outcome, failed_steps = ?failed_steps, "cron run finished");
        outcome
    }

    /// Purges expired cache rows, update claims and queued broadcast runs past their
    /// retention, drains the repair queue by one step, continues unfinished sweeps by one and
    /// pages on-call about what fires (`pager`); nothing users see. Each step runs whether or
    /// not the ones before it failed; a failure is logged with its step's name.
    async fn maintain(&self) -> CronOutcome {
        let sql = Sql::new(self.platform());
        let now = self.platform().clock.now_ms();
        let expired_cache_rows = D1Cache(sql.clone()).purge_expired(now).await;
        let forgotten_updates = UpdateClaims(sql).purge_old().await;
        let forgotten_broadcasts = BroadcastRuns::new(self.platform()).purge_old().await;
        let flags = self
            .flag_cache()
            .current(self.platform(), self.config().storage_phase_default)
            .await;
        let repair = run_step(self.platform(), flags.phases(), REPAIRS_PER_RUN).await;
        let sweep = continue_unfinished(self.platform(), flags.phases(), Budget::CRON)
            .await
            .map(|step| step.and_then(|step| Some((step.sweeps.first()?.kind, step.finished()))));
        let paging = self.page_on_call(&flags).await;
        let outcome = CronOutcome::Maintained {
            expired_cache_rows: expired_cache_rows.map_err(|e| e.to_string()),
            forgotten_updates: forgotten_updates.map_err(|e| e.to_string()),
            forgotten_broadcasts: forgotten_broadcasts.map_err(|e| e.to_string()),
            repair: repair.map_err(|e| e.to_string()),
            sweep: sweep.map_err(|e| e.to_string()),
            paging,
        };
        for (step, error) in outcome.failures() {
            tracing::error!(step, error, "maintenance step failed");
            self.maintenance_failed.borrow_mut().push(step);
        }
        outcome
    }
}
