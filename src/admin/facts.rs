//! The facts a guard-rail verdict needs about one repository, gathered from D1: the schema,
//! its entities, the shadow numbers over the guard window and the repair queue.
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

pub(super) async fn facts(
    app: &App,
    repository: Repository,
    thresholds: &GuardThresholds,
) -> Result<Facts, AdminError> {
    let platform = app.platform();
    let census = Census::new(platform);
    let since = platform.clock.now_ms() - thresholds.window_ms;
    let counts = EvidenceStore::new(platform).counters_since(since).await?;
    let repairs = RepairQueue::new(platform);
    let repairs_queued = repairs.depth(repository).await?;
    let kv_repairs_pending = repairs.has_pending(repository, None, Store::Kv).await?;
    let d1_repairs_pending = repairs.has_pending(repository, None, Store::D1).await?;
    Ok(Facts {
        schema_current: census.missing_tables().await?.is_empty(),
        backfill_completed: false,
        validation_clean: false,
        reverse_sync_completed: false,
        entities: census.entities(repository).await?,
        window: totals(&counts)
            .get(&repository)
            .copied()
            .unwrap_or_default(),
        repairs_queued: i64::try_from(repairs_queued).unwrap_or(i64::MAX),
        kv_repairs_pending,
        d1_repairs_pending,
    })
}
