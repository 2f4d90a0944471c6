//! What a sweep does to each entity ([`Kind`]) and what one step may spend doing it
//! ([`Budget`]): migration.md §5 keeps every invocation under 1,000 KV operations and 1,000 D1
//! queries, so a page is only started when its worst case still fits.

use crate::migration::experiment::KV_PROPAGATION_MS;
use crate::migration::Phase;
use crate::platform::metered::Usage;
use crate::storage::{Repository, Store};
use std::fmt;

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
    pub(crate) const ALL: [Kind; 4] = [
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
    pub(crate) fn allowed_in(self, phase: Phase) -> bool {
        match self {
            Self::Backfill => phase.second() == Some(Store::D1),
            Self::ReverseSync => phase.authoritative() == Store::D1,
            Self::DryRun | Self::Validation => true,
        }
    }

    /// KV operations and D1 statements one entity of `repository` may cost, at most.
    fn cost_per_entity(self, repository: Repository) -> (u64, u64) {
        match self {
            // A get; a guard and up to three statements, then a repair queued if the page's
            // batch raced a user's write (or just the repair, for an entity changed lately).
            // A history's rows take up to five statements more (30 executions: 8+8+8+4+2);
            // a longer one is left to the repair queue (`Sweeper::fit_in_budget`).
            Self::Backfill if repository == Repository::Executions => (1, 9),
            Self::Backfill => (1, 5),
            // A get; a finding.
            Self::DryRun => (1, 1),
            // A get; a finding and a repair queued.
            Self::Validation => (1, 2),
            // A get to compare, a get and a put to replace (an execution history keeps its
            // matching records, the subscriber list its strays); a finding and a repair queued.
            Self::ReverseSync => (3, 2),
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one step may spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub kv_ops: u64,
    pub d1_statements: u64,
    /// Most keys per page.
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
    pub(crate) const CRON: Budget = Budget {
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
    /// `list` and ten D1 statements are overhead: the D1 key range, the page's loads and
    /// versions, the subscriber list's current order, the checkpoint and its guard.
    pub(super) fn page_size(&self, kind: Kind, repository: Repository, used: Usage) -> usize {
        let (kv, d1) = kind.cost_per_entity(repository);
        let kv_left = self.kv_ops.saturating_sub(used.kv_ops + 1) / kv;
        let d1_left = self.d1_statements.saturating_sub(used.d1_statements + 10) / d1;
        let fits = usize::try_from(kv_left.min(d1_left)).unwrap_or(usize::MAX);
        fits.min(self.page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_only_as_large_as_the_budget_left_allows() {
        let budget = Budget::INVOCATION;
        let none = Usage::default();
        assert_eq!(
            budget.page_size(Kind::DryRun, Repository::Watchlists, none),
            100
        );
        // 950 - 600 - 10 statements left, 5 per backfilled entity.
        let used = Usage {
            kv_ops: 0,
            d1_statements: 600,
            d1_round_trips: 3,
        };
        assert_eq!(
            budget.page_size(Kind::Backfill, Repository::Watchlists, used),
            68
        );
        // 9 per history.
        assert_eq!(
            budget.page_size(Kind::Backfill, Repository::Executions, used),
            37
        );
        let spent = Usage {
            kv_ops: 949,
            ..none
        };
        assert_eq!(
            budget.page_size(Kind::Validation, Repository::Cache, spent),
            0
        );
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
