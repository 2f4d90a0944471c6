//! What a sweep has done so far, kept as JSON in its `sweeps` row and carried forward by every
//! step: the numbers of the backfill's `MigrationResult` and the validation's
//! `ValidationReport` (seed design), and the budget the sweep has used.

use crate::domain::parse_json;
use crate::platform::metered::Usage;
use crate::storage::Snapshot;
use serde::{Deserialize, Serialize};

/// A sweep's counts, cumulative over its steps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Tally {
    /// Entities visited.
    pub scanned: u64,
    /// Entities copied to the target (a dry run: that would be).
    pub written: u64,
    /// Rows those entities hold in the repository's table (`recordsMigrated`).
    pub rows_written: u64,
    /// Entities equal in both stores (the backfill and the reverse sync leave them alone).
    pub matched: u64,
    /// Validation: entities that differ with no explanation (each is a finding).
    pub discrepancies: u64,
    /// Validation: entities that differ but changed within KV's propagation window, so KV may
    /// simply not show the change yet (`stale_kv_suspected`); not counted against the verdict.
    pub in_flight: u64,
    /// Corrupt source records and keys that name no entity: logged, listed, skipped.
    pub skipped: u64,
    /// Entities left to the repair queue: they changed while or just before they were copied.
    pub deferred: u64,
    /// Validation: rows per store, over every entity visited (`kvCount`, `d1Count`).
    pub kv_rows: u64,
    pub d1_rows: u64,
    /// Pages swept (each one checkpoint).
    pub pages: u64,
    /// What the pages spent up to their checkpoint's batch (not counting that batch).
    pub usage: Usage,
    /// Time spent in steps, ms.
    pub duration_ms: i64,
}

impl Tally {
    /// The tally a checkpoint recorded; `None` if it is not one.
    pub(crate) fn decode(json: &str) -> Option<Self> {
        parse_json(json).ok()
    }

    pub(crate) fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

/// The rows an entity's snapshot holds in its D1 table: a list's length, one for a position
/// or cache entry that exists.
pub(crate) fn rows(snapshot: &Snapshot) -> u64 {
    let n = match snapshot {
        Snapshot::Subscribers(chats) => chats.len(),
        Snapshot::Watchlist(_, tickers) => tickers.len(),
        Snapshot::Executions(_, list) => list.len(),
        Snapshot::Position(_, position) => usize::from(position.is_some()),
        Snapshot::Cache(_, entry) => usize::from(entry.is_some()),
    };
    u64::try_from(n).unwrap_or(u64::MAX)
}
