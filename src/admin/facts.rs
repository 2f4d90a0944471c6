//! The facts guard-rail verdicts need, gathered from D1. For a phase move ([`facts`]): the
//! schema, the shadow numbers over the guard window and the sweeps (read once for every
//! repository asked about), then each repository's entities, repair queue and phase change.
//! For a sweep's start and the KV cleanup ([`standings`]): each repository's phase and, where
//! the rail looks at it, since when.
//!
//! A sweep counts only if it started late enough to see every write it has to (migration.md
//! §4): the backfill at least KV's propagation window plus the flag-cache TTL after dual writes
//! began (`backfill_wait_ms`, the wait the backfill's start rail enforces too); the
//! validation after the backfill finished; the reverse sync after the move it prepares began
//! (the flag-cache TTL after it, for the one that lets KV serve again).

use super::{AdminContext, AdminError};
use crate::migration::flags::{Flag, Flags};
use crate::migration::guard::phase::Facts;
use crate::migration::guard::sweep::backfill_wait_ms;
use crate::migration::guard::Standing;
use crate::migration::sweep::{Kind, Progress, Sweeps};
use crate::migration::tally::totals;
use crate::migration::Phase;
use crate::storage::d1::{Census, D1Settings, EvidenceStore, RepairQueue, Sql};
use crate::storage::{Repository, Store};
use std::collections::BTreeMap;

/// A repository's phase-move facts, and since when it is in its phase (`None`: it never
/// moved, its phase comes from `STORAGE_PHASE_DEFAULT`).
pub(super) struct MoveFacts {
    pub facts: Facts,
    pub since: Option<i64>,
}

/// The standing of each of `repositories`, with the sweeps the caller already read.
pub(super) async fn facts(
    cx: &AdminContext<'_>,
    repositories: impl IntoIterator<Item = Repository>,
    flags: &Flags,
    sweeps: &Sweeps,
) -> Result<BTreeMap<Repository, MoveFacts>, AdminError> {
    let platform = cx.platform;
    let census = Census::new(platform);
    let repairs = RepairQueue::new(platform);
    let settings = D1Settings(Sql::new(platform));
    let schema_current = census.missing_tables().await?.is_empty();
    let thresholds = flags.guards();
    let since = platform.clock.now_ms() - thresholds.window_ms;
    let window = totals(&EvidenceStore::new(platform).counters_since(since).await?);
    let mut facts = BTreeMap::new();
    for repository in repositories {
        let repairs_queued = repairs.depth(repository).await?;
        let flag = Flag::Phase(repository).name();
        let since = settings.changed_at(flag).await?;
        let phase_since = since.unwrap_or(i64::MAX);
        let phase = flags.phase(repository);
        // Back in shadow from d1_only: KV missed the writes made in d1_only.
        let back_from_d1_only = phase == Phase::Shadow
            && settings.previous_value(flag).await?.as_deref() == Some(Phase::D1Only.as_str());
        let sweep = |kind: Kind| sweeps.get(kind, repository);
        let ttl = flags.cache_ttl_ms();
        let counted = Counted {
            phase,
            phase_since,
            ttl,
        };
        let standing = Facts {
            schema_current,
            backfill_completed: counted.backfill(sweep(Kind::Backfill)),
            validation_clean: counted.validation(sweep(Kind::Backfill), sweep(Kind::Validation)),
            reverse_sync_completed: counted.reverse_sync(sweep(Kind::ReverseSync), 0),
            kv_resync_pending: back_from_d1_only
                && !counted.reverse_sync(sweep(Kind::ReverseSync), ttl),
            entities: census.entities(repository).await?,
            window: window.get(&repository).copied().unwrap_or_default(),
            repairs_queued: i64::try_from(repairs_queued).unwrap_or(i64::MAX),
            kv_repairs_pending: repairs.has_pending(repository, None, Store::Kv).await?,
            // A race check's row is not a write D1 missed: D1 applied every call.
            d1_repairs_pending: repairs
                .has_missed_writes(repository, None, Store::D1)
                .await?,
            handing_over_until: flags.handing_over_until(repository, platform.clock.now_ms()),
        };
        facts.insert(
            repository,
            MoveFacts {
                facts: standing,
                since,
            },
        );
    }
    Ok(facts)
}

/// Which finished sweeps count for a repository in `phase` since `phase_since`.
struct Counted {
    phase: Phase,
    phase_since: i64,
    ttl: i64,
}

impl Counted {
    /// A finished backfill that started once every isolate dual-wrote and KV had settled.
    fn backfill(&self, backfill: Option<&Progress>) -> bool {
        let Some(backfill) = backfill.filter(|p| p.finished) else {
            return false;
        };
        self.phase == Phase::DualWrite
            && backfill.started_at >= self.phase_since.saturating_add(backfill_wait_ms(self.ttl))
    }

    /// A finished validation that started after that backfill finished and found no
    /// difference: none unexplained, and none in flight either (those are re-checked by
    /// validating again once KV has settled).
    fn validation(&self, backfill: Option<&Progress>, validation: Option<&Progress>) -> bool {
        let (Some(backfill), Some(validation)) = (backfill, validation) else {
            return false;
        };
        self.backfill(Some(backfill))
            && validation.finished
            && validation.started_at >= backfill.finished_at.unwrap_or(i64::MAX)
            && validation.tally.discrepancies == 0
            && validation.tally.in_flight == 0
    }

    /// A finished reverse sync that started at least `after` ms after the current phase began.
    fn reverse_sync(&self, reverse_sync: Option<&Progress>, after: i64) -> bool {
        reverse_sync
            .is_some_and(|p| p.finished && p.started_at >= self.phase_since.saturating_add(after))
    }
}

/// Each of `repositories`' phase and, where `wants_since` says for that phase, since when (a D1
/// read each): the facts of the sweep and cleanup rails.
pub(super) async fn standings(
    cx: &AdminContext<'_>,
    flags: &Flags,
    repositories: impl IntoIterator<Item = Repository>,
    wants_since: impl Fn(Phase) -> bool,
) -> Result<Vec<(Repository, Standing)>, AdminError> {
    let settings = D1Settings(Sql::new(cx.platform));
    let mut standings = Vec::new();
    for repository in repositories {
        let phase = flags.phase(repository);
        let since_ms = if wants_since(phase) {
            settings.changed_at(Flag::Phase(repository).name()).await?
        } else {
            None
        };
        standings.push((repository, Standing { phase, since_ms }));
    }
    Ok(standings)
}
