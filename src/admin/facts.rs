//! The facts guard-rail verdicts need, gathered from D1: the schema and the shadow numbers over
//! the guard window (read once for every repository asked about), then each repository's
//! entities and repair queue.
//!
//! Backfill, validation and reverse sync do not exist yet, so their conditions are never met:
//! `dual_write → shadow` and leaving `d1_only` need `force` with a reason until they do.

use super::AdminError;
use crate::app::App;
use crate::migration::flags::GuardThresholds;
use crate::migration::guard::Facts;
use crate::migration::tally::totals;
use crate::migration::{Repository, Store};
use crate::storage::d1::{Census, EvidenceStore, RepairQueue};
use std::collections::BTreeMap;

pub(super) async fn facts(
    app: &App,
    repositories: impl IntoIterator<Item = Repository>,
    thresholds: &GuardThresholds,
) -> Result<BTreeMap<Repository, Facts>, AdminError> {
    let platform = app.platform();
    let census = Census::new(platform);
    let repairs = RepairQueue::new(platform);
    let schema_current = census.missing_tables().await?.is_empty();
    let since = platform.clock.now_ms() - thresholds.window_ms;
    let window = totals(&EvidenceStore::new(platform).counters_since(since).await?);
    let mut facts = BTreeMap::new();
    for repository in repositories {
        let repairs_queued = repairs.depth(repository).await?;
        facts.insert(
            repository,
            Facts {
                schema_current,
                backfill_completed: false,
                validation_clean: false,
                reverse_sync_completed: false,
                entities: census.entities(repository).await?,
                window: window.get(&repository).copied().unwrap_or_default(),
                repairs_queued: i64::try_from(repairs_queued).unwrap_or(i64::MAX),
                kv_repairs_pending: repairs.has_pending(repository, None, Store::Kv).await?,
                d1_repairs_pending: repairs.has_pending(repository, None, Store::D1).await?,
            },
        );
    }
    Ok(facts)
}
