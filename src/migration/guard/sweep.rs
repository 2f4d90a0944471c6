//! The sweeps' start rail (migration.md §5): whether a sweep may start on a repository now.
//! The backfill copies KV → D1 only in `dual_write`, and only once every isolate dual-writes
//! and KV has settled ([`backfill_wait_ms`] after the move); the reverse sync copies D1 → KV
//! only in `shadow` or `d1_only`; the dry run and the validation write neither store and run in
//! every phase. A pure verdict over each repository's [`Standing`]; the admin handler reads them.

use super::Standing;
use crate::migration::experiment::KV_PROPAGATION_MS;
use crate::migration::sweep::Kind;
use crate::migration::Phase;
use crate::storage::Repository;

/// How long after a repository entered `dual_write` a backfill may start: KV's propagation
/// window plus the flag cache TTL. Writes made before every isolate dual-wrote, and before KV
/// settled, may be missed by a backfill that starts earlier.
pub(crate) fn backfill_wait_ms(cache_ttl_ms: i64) -> i64 {
    KV_PROPAGATION_MS + cache_ttl_ms
}

/// Whether the verdict on `kind` looks at since when a repository in `phase` is there (only a
/// backfill in `dual_write` does), so the caller reads that fact only then.
pub(crate) fn needs_since(kind: Kind, phase: Phase) -> bool {
    kind == Kind::Backfill && kind.allowed_in(phase)
}

/// Every reason `kind` may not start now, one per repository of `standings` refused; empty
/// when it may. A standing's `since_ms` counts only where [`needs_since`] says.
pub(crate) fn refusals(
    kind: Kind,
    standings: impl IntoIterator<Item = (Repository, Standing)>,
    now_ms: i64,
    cache_ttl_ms: i64,
) -> Vec<String> {
    standings
        .into_iter()
        .filter_map(|(repository, standing)| {
            refusal(kind, repository, standing, now_ms, cache_ttl_ms)
        })
        .collect()
}

fn refusal(
    kind: Kind,
    repository: Repository,
    Standing { phase, since_ms }: Standing,
    now_ms: i64,
    cache_ttl_ms: i64,
) -> Option<String> {
    let allowed = kind.allowed_in(phase);
    match kind {
        Kind::Backfill if !allowed => Some(format!(
            "{repository} is in {phase}: the backfill copies KV → D1 only in dual_write, \
             while KV has every write and D1 receives them too"
        )),
        Kind::Backfill => {
            let wait = backfill_wait_ms(cache_ttl_ms);
            match since_ms {
                Some(since) if now_ms - since >= wait => None,
                Some(since) => Some(format!(
                    "{repository} entered dual_write {} s ago: the backfill may start {} s after \
                     (KV's 60 s propagation window plus the flag cache TTL)",
                    (now_ms - since) / 1000,
                    wait / 1000
                )),
                None => Some(format!(
                    "{repository} has no recorded move into dual_write (its phase comes from \
                     STORAGE_PHASE_DEFAULT): move it through PUT /admin/flags first"
                )),
            }
        }
        Kind::ReverseSync if !allowed => Some(format!(
            "{repository} is in {phase}: the reverse sync copies D1 → KV only in shadow \
             or d1_only, while D1 has every write"
        )),
        // The dry run and the validation write neither store: they run in every phase.
        Kind::ReverseSync | Kind::DryRun | Kind::Validation => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Phase::{D1Only, DualWrite, KvOnly, Shadow};

    const TTL_MS: i64 = 10_000;
    const NOW_MS: i64 = 1_000_000;

    fn at(phase: Phase, since_ms: Option<i64>) -> Standing {
        Standing { phase, since_ms }
    }

    fn refused(kind: Kind, standing: Standing) -> Vec<String> {
        refusals(kind, [(Repository::Watchlists, standing)], NOW_MS, TTL_MS)
    }

    #[test]
    fn each_sweep_starts_only_in_the_phases_and_after_the_wait_its_copy_needs() {
        let wait = backfill_wait_ms(TTL_MS);
        assert_eq!(wait, 70_000);
        let cases = [
            (
                Kind::Backfill,
                at(DualWrite, Some(NOW_MS - wait)),
                true,
                "dual_write for the wait",
            ),
            (
                Kind::Backfill,
                at(DualWrite, Some(NOW_MS - wait + 1)),
                false,
                "1 ms short of it",
            ),
            (
                Kind::Backfill,
                at(DualWrite, None),
                false,
                "dual_write by default only",
            ),
            (
                Kind::Backfill,
                at(KvOnly, Some(0)),
                false,
                "D1 receives no writes",
            ),
            (
                Kind::Backfill,
                at(Shadow, Some(0)),
                false,
                "KV is no longer authoritative",
            ),
            (
                Kind::Backfill,
                at(D1Only, Some(0)),
                false,
                "KV receives no writes",
            ),
            (
                Kind::ReverseSync,
                at(Shadow, None),
                true,
                "D1 is authoritative",
            ),
            (
                Kind::ReverseSync,
                at(D1Only, Some(NOW_MS)),
                true,
                "no wait: D1 has every write",
            ),
            (
                Kind::ReverseSync,
                at(DualWrite, Some(0)),
                false,
                "KV is authoritative",
            ),
            (
                Kind::ReverseSync,
                at(KvOnly, None),
                false,
                "D1 receives no writes",
            ),
        ];
        for (kind, standing, starts, why) in cases {
            let refused = refused(kind, standing);
            assert_eq!(refused.is_empty(), starts, "{kind}, {why}: {refused:?}");
        }
        // They write neither store.
        for kind in [Kind::DryRun, Kind::Validation] {
            for phase in Phase::ALL {
                for since_ms in [None, Some(NOW_MS)] {
                    assert!(
                        refused(kind, at(phase, since_ms)).is_empty(),
                        "{kind} {phase}"
                    );
                }
            }
        }
    }

    #[test]
    fn sweep_refusals_name_each_repository_refused_and_why() {
        let standings = [
            (Repository::Subscriptions, at(DualWrite, Some(0))),
            (Repository::Watchlists, at(KvOnly, Some(0))),
            (Repository::Executions, at(DualWrite, Some(NOW_MS - 5_500))),
            (Repository::Positions, at(DualWrite, None)),
        ];
        assert_eq!(
            refusals(Kind::Backfill, standings, NOW_MS, TTL_MS),
            [
                "watchlists is in kv_only: the backfill copies KV → D1 only in dual_write, while \
                 KV has every write and D1 receives them too",
                "executions entered dual_write 5 s ago: the backfill may start 70 s after (KV's \
                 60 s propagation window plus the flag cache TTL)",
                "positions has no recorded move into dual_write (its phase comes from \
                 STORAGE_PHASE_DEFAULT): move it through PUT /admin/flags first",
            ]
        );
        assert_eq!(
            refusals(Kind::ReverseSync, standings, NOW_MS, TTL_MS),
            [
                "subscriptions is in dual_write: the reverse sync copies D1 → KV only in shadow \
                 or d1_only, while D1 has every write",
                "watchlists is in kv_only: the reverse sync copies D1 → KV only in shadow or \
                 d1_only, while D1 has every write",
                "executions is in dual_write: the reverse sync copies D1 → KV only in shadow or \
                 d1_only, while D1 has every write",
                "positions is in dual_write: the reverse sync copies D1 → KV only in shadow or \
                 d1_only, while D1 has every write",
            ]
        );
    }

    #[test]
    fn the_verdict_looks_at_since_when_only_where_needs_since_says() {
        for kind in Kind::ALL {
            for phase in Phase::ALL {
                let unknown = refused(kind, at(phase, None));
                let just_now = refused(kind, at(phase, Some(NOW_MS)));
                assert_eq!(
                    unknown != just_now,
                    needs_since(kind, phase),
                    "{kind} in {phase}"
                );
            }
        }
    }
}
