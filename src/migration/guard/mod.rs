//! Guard rails (migration.md §4, §5): each one a pure verdict over facts the admin API gathers
//! (the I/O stays in the handlers), tested case by case. [`phase`]: whether a repository may
//! move to another phase; [`sweep`]: whether a sweep (the backfill, the reverse sync) may
//! start; [`cleanup`]: whether the KV cleanup may delete.

pub(crate) mod cleanup;
pub(crate) mod phase;
pub(crate) mod sweep;

use super::Phase;

/// Where one repository stands: its phase, and since when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Standing {
    pub(crate) phase: Phase,
    /// When its `storage.phase.<repository>` flag last changed (ms); `None` if it never did
    /// (its phase comes from `STORAGE_PHASE_DEFAULT`).
    pub(crate) since_ms: Option<i64>,
}
