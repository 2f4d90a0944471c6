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
//!   the entity since, the batch rolls back, and the page is retried entity by entity; the
//!   entities that raced are left to the repair queue, which re-copies them from KV once it has
//!   settled. An entity whose version changed within KV's propagation window is deferred the
//!   same way up front: KV may not show that write yet, so its KV value may be older than D1's.
//! - **The backfill copies only from the authoritative store.** It runs in `dual_write`, where
//!   KV has every write; in `shadow` or `d1_only` D1 has them, and a copy from KV could only
//!   lose some (the admin API and the cron refuse it).
//! - **The reverse sync re-reads after it copies.** It reads an entity's D1 version, copies its
//!   D1 value to KV, and reads the version again; if a user changed it in between, it copies
//!   again, and if it keeps changing it is listed as a finding for the next run to take.

mod pages;
pub mod tally;

use super::experiment::{diff, Reading, KV_PROPAGATION_MS};
use super::{Phase, Phases, Repository, Store};
use crate::platform::metered::{metered, Meter, Usage};
use crate::platform::Platform;
use crate::storage::d1::{Commit, Finding, RepairQueue, SweepRow, SweepStore, Version};
use crate::storage::{entities, EntityKey, EntityStore, Snapshot, StorageError, StorageResult};
use futures_util::future::join_all;
use pages::{next_page, Page};
use std::collections::HashMap;
use std::fmt;
pub use tally::Tally;

/// What a sweep does to each entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// KV → D1, guarded against newer writes.
    Backfill,
    /// What the backfill would write; writes nothing but its own checkpoint and findings.
    DryRun,
    /// Every entity compared between the stores.
    Validation,
    /// D1 → KV, in the legacy bytes.
    ReverseSync,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::Backfill,
        Kind::DryRun,
        Kind::Validation,
        Kind::ReverseSync,
    ];

    /// The name the `sweeps` table and the admin API use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Backfill => "backfill",
            Self::DryRun => "dry_run",
            Self::Validation => "validation",
            Self::ReverseSync => "reverse_sync",
        }
    }

    /// Whether the sweep may run with its repository in `phase`: the backfill only while KV
    /// is authoritative and D1 receives every write (`dual_write`), the reverse sync only
    /// while D1 is authoritative; the dry run and the validation only read, so always.
    pub fn allowed_in(self, phase: Phase) -> bool {
        match self {
            Self::Backfill => phase == Phase::DualWrite,
            Self::ReverseSync => matches!(phase, Phase::Shadow | Phase::D1Only),
            Self::DryRun | Self::Validation => true,
        }
    }

    /// KV operations and D1 statements one entity may cost, at most, for [`Budget`] planning.
    fn cost_per_entity(self) -> (u64, u64) {
        match self {
            // A get; a guard and up to four statements, or a repair queued.
            Self::Backfill => (1, 5),
            // A get; a finding.
            Self::DryRun => (1, 1),
            // A get; a load (one query), a finding, a repair queued.
            Self::Validation => (1, 3),
            // A get to compare, and a get and a put to replace (an execution history keeps its
            // matching records); a load; twice when the entity changed meanwhile.
            Self::ReverseSync => (6, 2),
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one invocation may spend: migration.md §5 keeps each under 1,000 KV operations and
/// 1,000 D1 queries; a page is only started when its worst case still fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub kv_ops: u64,
    pub d1_statements: u64,
    /// Most KV keys listed per page.
    pub page: usize,
    /// How recent (ms) a D1 change must be for KV possibly not to show it yet.
    pub settle_ms: i64,
    /// Wall time (ms) after which a step starts no new page: a page's CPU time is a fraction
    /// of its wall time (mostly storage round trips), so this keeps a step well inside the
    /// Workers CPU limit, which the runtime does not expose.
    pub time_ms: i64,
}

impl Budget {
    /// What the maintenance cron gives a sweep, after its other upkeep (the repair drain
    /// takes up to about 300 D1 statements and 150 KV operations).
    pub const CRON: Budget = Budget {
        kv_ops: 600,
        d1_statements: 600,
        page: 100,
        settle_ms: KV_PROPAGATION_MS,
        time_ms: 5_000,
    };

    /// A whole invocation's budget, with room for the request's own queries.
    pub const INVOCATION: Budget = Budget {
        kv_ops: 950,
        d1_statements: 950,
        page: 100,
        settle_ms: KV_PROPAGATION_MS,
        time_ms: 10_000,
    };

    /// The most keys a page may hold with `used` spent, 0 when none fits. Per page, one KV
    /// `list` and six D1 statements are overhead: the D1 key range, the versions before and
    /// after, the subscriber list's current order, the checkpoint, and one to spare.
    fn page_size(&self, kind: Kind, used: Usage) -> usize {
        let (kv, d1) = kind.cost_per_entity();
        let kv_left = self.kv_ops.saturating_sub(used.kv_ops + 1) / kv;
        let d1_left = self.d1_statements.saturating_sub(used.d1_statements + 6) / d1;
        let fits = usize::try_from(kv_left.min(d1_left)).unwrap_or(usize::MAX);
        fits.min(self.page)
    }
}

/// Where a sweep stands in its enumeration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Position {
    pub(crate) kv_cursor: Option<String>,
    pub(crate) after_key: Option<String>,
    pub(crate) finished: bool,
}

/// One sweep of one repository: its position and counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub kind: Kind,
    pub repository: Repository,
    pub kv_cursor: Option<String>,
    pub after_key: Option<String>,
    pub finished: bool,
    pub tally: Tally,
    pub started_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

impl Progress {
    fn fresh(kind: Kind, repository: Repository, now: i64) -> Self {
        Self {
            kind,
            repository,
            kv_cursor: None,
            after_key: None,
            finished: false,
            tally: Tally::default(),
            started_at: now,
            updated_at: now,
            finished_at: None,
        }
    }

    /// The progress a `sweeps` row records, `None` for a row of another kind or repository.
    pub fn from_row(row: &SweepRow) -> Option<Self> {
        let kind = Kind::ALL.into_iter().find(|k| k.as_str() == row.kind)?;
        let repository = row.repository.parse().ok()?;
        Some(Self {
            kind,
            repository,
            kv_cursor: row.kv_cursor.clone(),
            after_key: row.after_key.clone(),
            finished: row.finished,
            tally: Tally::decode(&row.tally),
            started_at: row.started_at,
            updated_at: row.updated_at,
            finished_at: row.finished_at,
        })
    }

    fn row(&self) -> SweepRow {
        SweepRow {
            kind: self.kind.as_str().to_owned(),
            repository: self.repository.as_str().to_owned(),
            kv_cursor: self.kv_cursor.clone(),
            after_key: self.after_key.clone(),
            finished: self.finished,
            tally: self.tally.encode(),
            started_at: self.started_at,
            updated_at: self.updated_at,
            finished_at: self.finished_at,
        }
    }

    fn position(&self) -> Position {
        Position {
            kv_cursor: self.kv_cursor.clone(),
            after_key: self.after_key.clone(),
            finished: self.finished,
        }
    }

    fn advance(&mut self, to: Position, now: i64) {
        self.kv_cursor = to.kv_cursor;
        self.after_key = to.after_key;
        self.finished = to.finished;
        self.updated_at = now;
        if to.finished {
            self.finished_at = Some(now);
        }
    }
}

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
/// `phases` decide which store is authoritative where a validation queues repairs.
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
    let now = platform.clock.now_ms();
    let sweeps: Vec<(Progress, bool)> = repositories
        .iter()
        .zip(sweeps)
        .map(|(repository, progress)| match progress {
            Some(progress) if !start_over => (progress, false),
            _ => (Progress::fresh(kind, *repository, now), true),
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
    let rows = SweepStore::new(platform).sweeps().await?;
    let unfinished: Vec<Progress> = rows
        .iter()
        .filter_map(Progress::from_row)
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
    meter: std::rc::Rc<Meter>,
    phases: Phases,
    budget: Budget,
    /// When the step started (ms).
    started: i64,
}

impl Sweeper {
    /// Sweeps pages of `progress`'s repository while they fit in the budget; `false` when the
    /// budget ran out before the sweep finished.
    async fn sweep(&self, progress: &mut Progress) -> StorageResult<bool> {
        while !progress.finished {
            let before = self.meter.usage();
            let limit = self.budget.page_size(progress.kind, before);
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
            let now = self.platform.clock.now_ms();
            next.advance(page.next.clone(), now);
            next.tally.steps += 1;
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
            for (snapshot, _) in &copies {
                next.tally.written += 1;
                next.tally.rows_written += tally::rows(snapshot);
            }
            next.tally.duration_ms += self.platform.clock.now_ms() - started;
            next.tally.usage += delta(before, self.meter.usage());
            let kind = progress.kind.as_str();
            let repository = progress.repository;
            if progress.kind == Kind::DryRun {
                copies.clear();
            }
            let checkpoint = Some(next.row());
            let commit = self
                .store
                .commit(kind, repository, &copies, &findings, checkpoint.as_ref())
                .await?;
            if commit == Commit::Raced {
                // Some entity changed since its version was read: find which, one by one,
                // then land the checkpoint with what did land.
                for copy in &copies {
                    let one = std::slice::from_ref(copy);
                    if self.store.commit(kind, repository, one, &[], None).await? == Commit::Raced {
                        let key = copy.0.key();
                        self.defer(&key, Store::D1, "written in D1 while being backfilled")
                            .await?;
                        next.tally.written -= 1;
                        next.tally.rows_written -= tally::rows(&copy.0);
                        next.tally.deferred += 1;
                    }
                }
                let checkpoint = next.row();
                self.store
                    .commit(kind, repository, &[], &findings, Some(&checkpoint))
                    .await?;
            }
            *progress = next;
        }
        Ok(true)
    }

    /// The backfill (and its dry run) of one page, up to its commit: reads the D1 versions,
    /// then KV; returns the page's findings and the copies to land under their versions (a
    /// dry run counts them the same, and lands none).
    async fn read_for_d1(
        &self,
        page: &Page,
        next: &mut Progress,
    ) -> StorageResult<(Vec<Finding>, Vec<(Snapshot, Version)>)> {
        let dry_run = next.kind == Kind::DryRun;
        let keys: Vec<String> = page.entities.iter().map(ToString::to_string).collect();
        // Before the source is read: see the module documentation.
        let versions = if dry_run {
            HashMap::new()
        } else {
            self.store
                .versions(next.repository, &keys, self.budget.settle_ms)
                .await?
        };
        let loads = join_all(page.entities.iter().map(|key| self.kv.load(key))).await;
        let mut findings = page.bad_keys.clone();
        let mut copies = Vec::new();
        for ((key, name), load) in page.entities.iter().zip(&keys).zip(loads) {
            let Some(snapshot) = skip_corrupt(next, key, load, &mut findings)? else {
                continue;
            };
            let version = versions.get(name).copied().unwrap_or_default();
            if version.recent {
                self.defer(
                    key,
                    Store::D1,
                    "changed in D1 within KV's propagation window",
                )
                .await?;
                next.tally.deferred += 1;
            } else {
                copies.push((snapshot, version));
            }
        }
        Ok((findings, copies))
    }

    /// The validation of one page: both stores read, each entity compared. A difference is
    /// listed with its diff; one that is not in flight is also queued for repair towards the
    /// store that is not authoritative, in the phases that have one.
    async fn validate(&self, page: &Page, next: &mut Progress) -> StorageResult<Vec<Finding>> {
        let repository = next.repository;
        let keys: Vec<String> = page.entities.iter().map(ToString::to_string).collect();
        let versions = self
            .store
            .versions(repository, &keys, self.budget.settle_ms)
            .await?;
        let kv = join_all(page.entities.iter().map(|key| self.kv.load(key))).await;
        let d1 = join_all(page.entities.iter().map(|key| self.d1.load(key))).await;
        let mut findings = page.bad_keys.clone();
        for (((key, name), kv), d1) in page.entities.iter().zip(&keys).zip(kv).zip(d1) {
            let d1 = d1?;
            next.tally.d1_rows += tally::rows(&d1);
            let Some(kv) = skip_corrupt(next, key, kv, &mut findings)? else {
                continue;
            };
            next.tally.kv_rows += tally::rows(&kv);
            if kv == d1 {
                next.tally.matched += 1;
                continue;
            }
            let recent = versions.get(name).is_some_and(|v| v.recent);
            let problem = match (kv.is_absent(), d1.is_absent()) {
                _ if recent => "stale_kv_suspected",
                (false, true) => "missing_in_d1",
                (true, false) => "missing_in_kv",
                _ => "value_mismatch",
            };
            tracing::warn!(repository = %repository, entity_key = %name, class = problem,
                "validation found a difference");
            findings.push(Finding {
                entity_key: name.clone(),
                problem: problem.into(),
                detail: diff(&reading(&d1), &reading(&kv)),
            });
            if recent {
                next.tally.in_flight += 1;
                continue;
            }
            next.tally.discrepancies += 1;
            let target = match self.phases.get(repository) {
                Phase::DualWrite => Some(Store::D1),
                Phase::Shadow => Some(Store::Kv),
                Phase::KvOnly | Phase::D1Only => None,
            };
            if let Some(target) = target {
                self.defer(key, target, "validation found the stores different")
                    .await?;
            }
        }
        Ok(findings)
    }

    /// The reverse sync of one page: each entity's D1 value written to KV in the legacy bytes,
    /// re-read and re-copied when a user changed it meanwhile.
    async fn copy_to_kv(&self, page: &Page, next: &mut Progress) -> StorageResult<Vec<Finding>> {
        let repository = next.repository;
        let keys: Vec<String> = page.entities.iter().map(ToString::to_string).collect();
        let mut pending: Vec<&EntityKey> = page.entities.iter().collect();
        let mut findings = page.bad_keys.clone();
        // A second round takes only what changed during the first.
        for round in 0..2 {
            let before = self.store.versions(repository, &keys, 0).await?;
            for key in &pending {
                let snapshot = self.d1.load(key).await?;
                // KV writes are the costly ones (and limited per key): one that would change
                // nothing is left out. A corrupt KV value is replaced.
                if self.kv.load(key).await.ok().as_ref() == Some(&snapshot) {
                    continue;
                }
                self.kv.replace(&snapshot).await?;
                if round == 0 {
                    next.tally.written += 1;
                    next.tally.rows_written += tally::rows(&snapshot);
                }
            }
            let after = self.store.versions(repository, &keys, 0).await?;
            pending.retain(|key| {
                let name = key.to_string();
                before.get(&name).map(|v| v.number) != after.get(&name).map(|v| v.number)
            });
            if pending.is_empty() {
                break;
            }
        }
        for key in pending {
            next.tally.deferred += 1;
            findings.push(Finding {
                entity_key: key.to_string(),
                problem: "changed_during_copy".into(),
                detail: "D1 changed twice while the entity was copied to KV; run the reverse \
                         sync again"
                    .into(),
            });
        }
        Ok(findings)
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

/// A KV load as a sweep takes it: a corrupt record is logged, listed and skipped (`None`);
/// any other failure fails the step.
fn skip_corrupt(
    next: &mut Progress,
    key: &EntityKey,
    load: StorageResult<Snapshot>,
    findings: &mut Vec<Finding>,
) -> StorageResult<Option<Snapshot>> {
    match load {
        Ok(snapshot) => Ok(Some(snapshot)),
        Err(error @ StorageError::Decode { .. }) => {
            tracing::warn!(kind = %next.kind, repository = %next.repository, entity_key = %key,
                error = %error, "sweep skipped a corrupt KV record");
            next.tally.skipped += 1;
            findings.push(Finding {
                entity_key: key.to_string(),
                problem: "kv_decode_error".into(),
                detail: error.to_string(),
            });
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// An entity's value as the comparator renders it.
fn reading(snapshot: &Snapshot) -> Reading {
    if snapshot.is_absent() {
        return Reading::Missing;
    }
    let value = match snapshot {
        Snapshot::Subscribers(chats) => {
            serde_json::Value::from(chats.iter().map(|c| c.get()).collect::<Vec<_>>())
        }
        Snapshot::Watchlist(_, tickers) => serde_json::Value::from(tickers.clone()),
        Snapshot::Executions(_, list) => serde_json::to_value(list).unwrap_or_default(),
        Snapshot::Position(_, position) => serde_json::to_value(position).unwrap_or_default(),
        Snapshot::Cache(_, entry) => entry
            .as_ref()
            .map(|e| serde_json::json!({ "data": e.data, "writtenAt": e.written_at }))
            .unwrap_or_default(),
    };
    Reading::Found(value)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_only_as_large_as_the_budget_left_allows() {
        let budget = Budget::INVOCATION;
        let none = Usage::default();
        assert_eq!(budget.page_size(Kind::DryRun, none), 100);
        // 950 - 600 - 6 statements left, 5 per backfilled entity.
        let used = Usage {
            kv_ops: 0,
            d1_statements: 600,
            d1_round_trips: 3,
        };
        assert_eq!(budget.page_size(Kind::Backfill, used), 68);
        let spent = Usage {
            kv_ops: 949,
            ..none
        };
        assert_eq!(budget.page_size(Kind::Validation, spent), 0);
    }

    #[test]
    fn each_kind_runs_only_where_it_copies_from_the_authoritative_store() {
        let allowed = |kind: Kind| -> Vec<Phase> {
            Phase::ALL
                .into_iter()
                .filter(|p| kind.allowed_in(*p))
                .collect()
        };
        assert_eq!(allowed(Kind::Backfill), [Phase::DualWrite]);
        assert_eq!(allowed(Kind::ReverseSync), [Phase::Shadow, Phase::D1Only]);
        assert_eq!(allowed(Kind::Validation), Phase::ALL);
        assert_eq!(allowed(Kind::DryRun), Phase::ALL);
    }
}
