//! [`Sweeper`]: one step's stores and budget, and how it sweeps a repository page by page:
//! each page read, handed to its kind (`copy`, `validate`), and committed with its checkpoint
//! (see the invariants in the `sweep` module).

use super::budget::{Budget, Kind};
use super::pages::{self, next_page};
use super::progress::Progress;
use super::tally;
use crate::migration::Phases;
use crate::platform::metered::{Meter, Usage};
use crate::platform::Platform;
use crate::storage::d1::{
    statement_bound, Checkpoint, Commit, Finding, RepairQueue, SweepStore, Version,
};
use crate::storage::{EntityKey, EntityStore, Snapshot, StorageError, StorageResult, Store};
use futures_util::future::join;
use std::collections::HashMap;
use std::rc::Rc;

/// One step's stores and budget.
pub(super) struct Sweeper {
    pub(super) platform: Platform,
    pub(super) store: SweepStore,
    pub(super) kv: Box<dyn EntityStore>,
    pub(super) d1: Box<dyn EntityStore>,
    pub(super) repairs: RepairQueue,
    pub(super) meter: Rc<Meter>,
    pub(super) phases: Phases,
    pub(super) budget: Budget,
    /// When the step started (ms).
    pub(super) started: i64,
}

impl Sweeper {
    /// Sweeps pages of `progress`'s repository while they fit in the budget; `false` when the
    /// step has to stop first (budget or time spent, or another step of the sweep landed).
    pub(super) async fn sweep(&self, progress: &mut Progress) -> StorageResult<bool> {
        while !progress.finished {
            let before = self.meter.usage();
            let limit = self
                .budget
                .page_size(progress.kind, progress.repository, before);
            let started = self.platform.clock.now_ms();
            if limit == 0 || started - self.started >= self.budget.time_ms {
                return Ok(false);
            }
            match self.page(progress, limit, before, started).await? {
                Some(next) => *progress = next,
                None => return Ok(false),
            }
        }
        Ok(true)
    }

    /// One page of at most `limit` entities: read, compared or copied, then committed with
    /// its checkpoint. The progress after it, or `None` when another step of the sweep landed
    /// meanwhile.
    async fn page(
        &self,
        progress: &Progress,
        limit: usize,
        before: Usage,
        started: i64,
    ) -> StorageResult<Option<Progress>> {
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
        let (findings, copies) = self.work(&page, &mut next).await?;
        next.tally.duration_ms += self.platform.clock.now_ms() - started;
        next.tally.usage += delta(before, self.meter.usage());
        let landed = self
            .commit(progress.tally.pages, &mut next, &copies, &findings)
            .await?;
        Ok(landed.then_some(next))
    }

    /// What the sweep's kind does with one page: its findings, and the copies into D1 to
    /// commit with them (none for a dry run, whose copies are only counted).
    async fn work(
        &self,
        page: &pages::Page,
        next: &mut Progress,
    ) -> StorageResult<(Vec<Finding>, Vec<(Snapshot, Version)>)> {
        let kind = next.kind;
        // Each kind's future boxed: compiled on its own, not inlined into every caller's.
        let (findings, mut copies) = match kind {
            Kind::Backfill | Kind::DryRun => Box::pin(self.read_for_d1(page, next)).await?,
            Kind::Validation => (Box::pin(self.validate(page, next)).await?, Vec::new()),
            Kind::ReverseSync => (Box::pin(self.copy_to_kv(page, next)).await?, Vec::new()),
        };
        if kind == Kind::Backfill {
            self.fit_in_budget(&mut copies, findings.len(), next)
                .await?;
        }
        for (snapshot, _) in &copies {
            next.tally.written += 1;
            next.tally.rows_written += tally::rows(snapshot);
        }
        if kind == Kind::DryRun {
            copies.clear();
        }
        Ok((findings, copies))
    }

    /// Commits a page's copies and findings with `next`'s checkpoint, guarded by the page count
    /// of the checkpoint it replaces (`after_pages`); `false` when another step of the sweep
    /// landed meanwhile, so this one stops.
    async fn commit(
        &self,
        after_pages: u64,
        next: &mut Progress,
        copies: &[(Snapshot, Version)],
        findings: &[Finding],
    ) -> StorageResult<bool> {
        let (kind, repository) = (next.kind.as_str(), next.repository);
        let row = next.row();
        let checkpoint = Checkpoint {
            row: &row,
            after_pages,
        };
        let mut commit = self
            .store
            .commit(kind, repository, copies, findings, checkpoint)
            .await?;
        if commit == Commit::Raced {
            // A user's write landed in D1 after the page's versions were read: which copy it
            // raced is unknown, so every copy goes to the repair queue, and the checkpoint
            // lands alone.
            for (snapshot, _) in copies {
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
            let row = next.row();
            let checkpoint = Checkpoint {
                row: &row,
                after_pages,
            };
            commit = self
                .store
                .commit(kind, repository, &[], findings, checkpoint)
                .await?;
        }
        if commit == Commit::Superseded {
            tracing::warn!(kind, repository = %repository,
                "another step of this sweep landed meanwhile; this one stops");
            return Ok(false);
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
    pub(super) async fn read_page(
        &self,
        page: &pages::Page,
        recent_ms: i64,
    ) -> StorageResult<PageRead> {
        let names = names(&page.entities);
        let versions = self
            .store
            .versions(page.repository, &names, recent_ms)
            .await?;
        let (kv, d1) = join(
            self.kv.load_each(&page.entities),
            self.d1.load_each(&page.entities),
        )
        .await;
        Ok(PageRead {
            names,
            versions,
            kv: kv?,
            d1: d1?,
        })
    }

    /// Queues a repair of `key` towards `target`.
    pub(super) async fn defer(
        &self,
        key: &EntityKey,
        target: Store,
        reason: &str,
    ) -> StorageResult<()> {
        tracing::info!(repository = %key.repository(), entity_key = %key, target = %target,
            reason, "sweep left an entity to the repair queue");
        self.repairs
            .enqueue(key.repository(), &key.to_string(), target, reason)
            .await
    }
}

/// A page as [`Sweeper::read_page`] read it.
pub(super) struct PageRead {
    /// The page's entity keys, as `entity_versions` and the findings name them.
    pub(super) names: Vec<String>,
    pub(super) versions: HashMap<String, Version>,
    pub(super) kv: Vec<StorageResult<Snapshot>>,
    pub(super) d1: Vec<StorageResult<Snapshot>>,
}

/// A KV load as a sweep takes it: a corrupt record is logged, listed under its KV key and
/// skipped (`None`); any other failure fails the step.
pub(super) fn skip_corrupt(
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
