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
pub mod tally;
mod validate;

use super::{Phases, Repository, Store};
use crate::platform::metered::{metered, Meter, Usage};
use crate::platform::Platform;
use crate::storage::d1::{
    statement_bound, Checkpoint, Commit, Finding, RepairQueue, SweepRow, SweepStore, Version,
};
use crate::storage::{entities, EntityKey, EntityStore, Snapshot, StorageError, StorageResult};
pub use budget::{Budget, Kind};
use futures_util::future::join;
use pages::next_page;
pub(crate) use progress::Position;
pub use progress::{Progress, Sweeps};
use std::collections::HashMap;
use std::rc::Rc;
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
pub async fn continue_unfinished(
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

/// One step's stores and budget.
struct Sweeper {
    platform: Platform,
    store: SweepStore,
    kv: Box<dyn EntityStore>,
    d1: Box<dyn EntityStore>,
    repairs: RepairQueue,
    meter: Rc<Meter>,
    phases: Phases,
    budget: Budget,
    /// When the step started (ms).
    started: i64,
}

impl Sweeper {
    /// Sweeps pages of `progress`'s repository while they fit in the budget; `false` when the
    /// step has to stop first (budget or time spent, or another step of the sweep landed).
    async fn sweep(&self, progress: &mut Progress) -> StorageResult<bool> {
        while !progress.finished {
            let before = self.meter.usage();
            let limit = self
                .budget
                .page_size(progress.kind, progress.repository, before);
            let started = self.platform.clock.now_ms();
            if limit == 0 || started - self.started >= self.budget.time_ms {
                return Ok(false);
            }
            let page = next_page(
                &self.platform,
                &self.store,
                progress.repository,
                &progress.position(),
                limit,
            )
            .await?;
            let mut next = progress.clone();
            next.advance(page.next.clone(), self.platform.clock.now_ms());
            next.tally.pages += 1;
            next.tally.scanned += count(page.entities.len());
            next.tally.skipped += count(page.bad_keys.len());
            for finding in &page.bad_keys {
                tracing::warn!(kind = %progress.kind, repository = %progress.repository,
                    key = %finding.entity_key, "sweep skipped a key that names no entity");
            }
            let (findings, mut copies) = match progress.kind {
                Kind::Backfill | Kind::DryRun => self.read_for_d1(&page, &mut next).await?,
                Kind::Validation => (self.validate(&page, &mut next).await?, Vec::new()),
                Kind::ReverseSync => (self.copy_to_kv(&page, &mut next).await?, Vec::new()),
            };
            if progress.kind == Kind::Backfill {
                self.fit_in_budget(&mut copies, findings.len(), &mut next)
                    .await?;
            }
            for (snapshot, _) in &copies {
                next.tally.written += 1;
                next.tally.rows_written += tally::rows(snapshot);
            }
            if progress.kind == Kind::DryRun {
                copies.clear();
            }
            next.tally.duration_ms += self.platform.clock.now_ms() - started;
            next.tally.usage += delta(before, self.meter.usage());
            let (kind, repository) = (progress.kind.as_str(), progress.repository);
            let checkpoint = |next: &Progress| next.row();
            let after_pages = progress.tally.pages;
            let row = checkpoint(&next);
            let mut commit = self
                .store
                .commit(
                    kind,
                    repository,
                    &copies,
                    &findings,
                    Checkpoint {
                        row: &row,
                        after_pages,
                    },
                )
                .await?;
            if commit == Commit::Raced {
                // A user's write landed in D1 after the page's versions were read: which copy
                // it raced is unknown, so every copy goes to the repair queue, and the
                // checkpoint lands alone.
                for (snapshot, _) in &copies {
                    self.defer(
                        &snapshot.key(),
                        Store::D1,
                        "written in D1 while being backfilled",
                    )
                    .await?;
                    next.tally.written -= 1;
                    next.tally.rows_written -= tally::rows(snapshot);
                    next.tally.deferred += 1;
                }
                let row = checkpoint(&next);
                commit = self
                    .store
                    .commit(
                        kind,
                        repository,
                        &[],
                        &findings,
                        Checkpoint {
                            row: &row,
                            after_pages,
                        },
                    )
                    .await?;
            }
            if commit == Commit::Superseded {
                tracing::warn!(kind, repository = %repository,
                    "another step of this sweep landed meanwhile; this one stops");
                return Ok(false);
            }
            *progress = next;
        }
        Ok(true)
    }

    /// Keeps the copies whose statements still fit in the budget, with the page's findings and
    /// checkpoint; the others (an unusually long history can take more than planned) go to
    /// the repair queue, which copies each on its own, so every KV key is still read once.
    async fn fit_in_budget(
        &self,
        copies: &mut Vec<(Snapshot, Version)>,
        findings: usize,
        next: &mut Progress,
    ) -> StorageResult<()> {
        let used = self.meter.usage().d1_statements + count(findings) + 2;
        let mut left = self.budget.d1_statements.saturating_sub(used);
        let mut kept = Vec::with_capacity(copies.len());
        let total = copies.len();
        for (i, (snapshot, version)) in copies.drain(..).enumerate() {
            // Its guard and its rows, leaving one statement for each copy after it (the one
            // that queues its repair, should it not fit either).
            let cost = statement_bound(&snapshot) + 1;
            let after = count(total - i - 1);
            if cost + after <= left {
                left -= cost;
                kept.push((snapshot, version));
            } else {
                left = left.saturating_sub(1);
                self.defer(
                    &snapshot.key(),
                    Store::D1,
                    "too large for the step's budget",
                )
                .await?;
                next.tally.deferred += 1;
            }
        }
        *copies = kept;
        Ok(())
    }

    /// A page as both stores hold it: the D1 versions of its entities (read first, see the
    /// module documentation; `recent_ms` says which changes are recent), then each entity as
    /// KV and as D1 hold it, in page order.
    async fn read_page(&self, page: &pages::Page, recent_ms: i64) -> StorageResult<PageRead> {
        let versions = self
            .store
            .versions(page.repository, &names(&page.entities), recent_ms)
            .await?;
        let (kv, d1) = join(
            self.kv.load_each(&page.entities),
            self.d1.load_each(&page.entities),
        )
        .await;
        Ok(PageRead {
            versions,
            kv: kv?,
            d1: d1?,
        })
    }

    /// Queues a repair of `key` towards `target`.
    async fn defer(&self, key: &EntityKey, target: Store, reason: &str) -> StorageResult<()> {
        tracing::info!(repository = %key.repository(), entity_key = %key, target = %target,
            reason, "sweep left an entity to the repair queue");
        self.repairs
            .enqueue(key.repository(), &key.to_string(), target, reason)
            .await
    }
}

/// A page as [`Sweeper::read_page`] read it.
struct PageRead {
    versions: HashMap<String, Version>,
    kv: Vec<StorageResult<Snapshot>>,
    d1: Vec<StorageResult<Snapshot>>,
}

/// A KV load as a sweep takes it: a corrupt record is logged, listed under its KV key and
/// skipped (`None`); any other failure fails the step.
fn skip_corrupt(
    next: &mut Progress,
    key: &EntityKey,
    load: StorageResult<Snapshot>,
    findings: &mut Vec<Finding>,
) -> StorageResult<Option<Snapshot>> {
    match load {
        Ok(snapshot) => Ok(Some(snapshot)),
        Err(error @ StorageError::Decode { .. }) => {
            tracing::warn!(kind = %next.kind, repository = %next.repository, key = %key.kv_key(),
                error = %error, "sweep skipped a corrupt KV record");
            next.tally.skipped += 1;
            findings.push(Finding {
                entity_key: key.kv_key(),
                problem: "kv_decode_error".into(),
                detail: error.to_string(),
            });
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// Entity keys as `entity_versions` and the findings name them.
fn names(keys: &[EntityKey]) -> Vec<String> {
    keys.iter().map(ToString::to_string).collect()
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn delta(before: Usage, after: Usage) -> Usage {
    Usage {
        kv_ops: after.kv_ops - before.kv_ops,
        d1_statements: after.d1_statements - before.d1_statements,
        d1_round_trips: after.d1_round_trips - before.d1_round_trips,
    }
}
