//! Sweeps (migration.md §5): the backfill (KV → D1), its dry run, the validation and the
//! reverse sync (D1 → KV). Each walks every entity of a repository, page by page
//! ([`pages`]), and is a *step*, not a loop: [`run_step`] does as many pages as fit in its
//! [`Budget`], checkpoints after each in D1 and returns; the maintenance cron and the admin API
//! call it again until the sweep is finished.
//!
//! # Invariants
//!
//! - **A page lands whole, checkpoint included, or not at all.** A page's copies into D1, its
//!   findings and its new cursor are one `batch()`; a crash, timeout or redeploy before it lands
//!   leaves the previous checkpoint, and the page is swept again. Copies are whole-entity
//!   replaces, so sweeping a page twice leaves what sweeping it once did: nothing duplicated,
//!   nothing skipped.
//! - **A copy into D1 never overwrites a newer write.** Before the backfill reads a page from KV
//!   it reads the D1 versions of the page's entities (every change of an entity's rows bumps its
//!   version, by trigger). Each copy is guarded by the version it read: if a dual write changed
//!   the entity since, the batch rolls back, and the page's copies are left to the repair
//!   queue, which re-copies each from KV once it has settled (the checkpoint then lands
//!   alone). An entity whose version changed within KV's propagation window is deferred the
//!   same way up front: KV may not show that write yet, so its KV value may be older than D1's.
//!   An append (an execution) is not idempotent, so in `dual_write` its version is bumped
//!   before KV is written: a backfill that copies the append from KV cannot land before the
//!   append's own D1 insert, and so never lands it twice.
//! - **What is equal is left alone.** A copy is only written where the target does not hold
//!   the source's value yet, so running a sweep again writes nothing new.
//! - **The backfill copies only from the authoritative store.** It runs in `dual_write`, where
//!   KV has every write; in `shadow` or `d1_only` D1 has them, and a copy from KV could only
//!   lose some (the admin API and the cron refuse it).
//! - **The reverse sync re-reads after it copies.** It reads the page's D1 versions, copies
//!   the D1 values to KV, and reads the versions again; an entity a user changed in between
//!   is listed and counted as deferred, and a reverse sync with deferred entities does not
//!   open a rollback until it runs again.
//! - **One sweep runs one step at a time.** Each checkpoint is guarded by the page count of
//!   the one it replaces: if the cron and an operator step the same sweep at once, the second
//!   commit lands nothing and its step ends.

mod budget;
mod copy;
mod pages;
mod progress;
mod sweeper;
pub(crate) mod tally;
mod validate;

use super::Phases;
use crate::platform::metered::{metered, Usage};
use crate::platform::Platform;
use crate::storage::d1::{RepairQueue, SweepRow, SweepStore};
use crate::storage::{entities, Repository, StorageResult, Store};
pub use budget::{Budget, Kind};
pub use progress::Position;
pub use progress::{Progress, Sweeps};
use sweeper::Sweeper;
pub use tally::Tally;

/// What one step did.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Each repository asked for, as its sweep stands after the step.
    pub sweeps: Vec<Progress>,
    /// What the step spent.
    pub usage: Usage,
    pub elapsed_ms: i64,
}

impl Step {
    /// Every sweep asked for is finished.
    pub fn finished(&self) -> bool {
        self.sweeps.iter().all(|p| p.finished)
    }
}

/// Runs one bounded step of the `kind` sweep of each of `repositories`, in order: continues
/// the unfinished ones; when all of them are finished (or `restart`), starts them all over.
/// `phases` decide which store is authoritative where a sweep queues repairs.
///
/// Fails when a store fails (the step's landed pages stay landed; the rest is retried by the
/// next step). Phase checks are the caller's ([`Kind::allowed_in`]).
pub async fn run_step(
    platform: &Platform,
    kind: Kind,
    repositories: &[Repository],
    phases: Phases,
    budget: Budget,
    restart: bool,
) -> StorageResult<Step> {
    let (platform, meter) = metered(platform);
    let started = platform.clock.now_ms();
    let store = SweepStore::new(&platform);
    let mut sweeps = Vec::new();
    for repository in repositories {
        let row = store.sweep(kind.as_str(), *repository).await?;
        sweeps.push(row.as_ref().and_then(Progress::from_row));
    }
    let start_over = restart
        || sweeps
            .iter()
            .all(|p| p.as_ref().is_some_and(|p| p.finished));
    // Sweeps starting now are recorded before any page, so the cron continues them even when
    // this step's budget ends before it reaches them.
    let sweeps: Vec<(Progress, bool)> = repositories
        .iter()
        .zip(sweeps)
        .map(|(repository, progress)| match progress {
            Some(progress) if !start_over => (progress, false),
            _ => (Progress::fresh(kind, *repository, started), true),
        })
        .collect();
    let starting: Vec<SweepRow> = sweeps
        .iter()
        .filter(|(_, fresh)| *fresh)
        .map(|(progress, _)| progress.row())
        .collect();
    if !starting.is_empty() {
        store.start(&starting).await?;
    }
    let sweeper = Sweeper {
        kv: entities(&platform, Store::Kv),
        d1: entities(&platform, Store::D1),
        repairs: RepairQueue::new(&platform),
        store,
        meter,
        phases,
        budget,
        started,
        platform: platform.clone(),
    };
    let mut out = Vec::new();
    let mut spent = false;
    for (mut progress, _) in sweeps {
        if !progress.finished && !spent {
            spent = !sweeper.sweep(&mut progress).await?;
        }
        out.push(progress);
    }
    let step = Step {
        sweeps: out,
        usage: sweeper.meter.usage(),
        elapsed_ms: platform.clock.now_ms() - started,
    };
    tracing::info!(
        kind = %kind,
        repositories = ?repositories.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        kv_ops = step.usage.kv_ops,
        d1_statements = step.usage.d1_statements,
        d1_round_trips = step.usage.d1_round_trips,
        duration_ms = step.elapsed_ms,
        finished = step.finished(),
        "sweep step"
    );
    Ok(step)
}

/// Continues, by one step, the unfinished sweeps of the first kind that has some its
/// repositories' phases still allow (backfill, validation, reverse sync, dry run): what the
/// maintenance cron runs, so a sweep an operator started goes on to its end. `None` when
/// nothing is unfinished.
pub(crate) async fn continue_unfinished(
    platform: &Platform,
    phases: Phases,
    budget: Budget,
) -> StorageResult<Option<Step>> {
    let sweeps = Sweeps::load(platform).await?;
    let unfinished: Vec<&Progress> = sweeps
        .iter()
        .filter(|p| !p.finished && p.kind.allowed_in(phases.get(p.repository)))
        .collect();
    let order = [
        Kind::Backfill,
        Kind::Validation,
        Kind::ReverseSync,
        Kind::DryRun,
    ];
    let Some(kind) = order
        .into_iter()
        .find(|kind| unfinished.iter().any(|p| p.kind == *kind))
    else {
        return Ok(None);
    };
    let repositories: Vec<Repository> = unfinished
        .iter()
        .filter(|p| p.kind == kind)
        .map(|p| p.repository)
        .collect();
    run_step(platform, kind, &repositories, phases, budget, false)
        .await
        .map(Some)
}
