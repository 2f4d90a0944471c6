//! The KV cleanup's rail (migration.md §5 "KV cleanup"): a real cleanup runs only once every
//! repository has been `d1_only`, on record, for `cleanup.retention_seconds`. A pure verdict over
//! each repository's [`Standing`]; the admin handler reads them.

use super::Standing;
use crate::migration::Phase;
use crate::storage::Repository;

/// Every reason a real cleanup must not run now, one per repository that is not `d1_only` or
/// has not been for `retention_ms`; empty when it may run. A repository whose phase was never
/// recorded (`d1_only` only through `STORAGE_PHASE_DEFAULT`) has no start to its retention
/// window, so it is refused too.
pub(crate) fn refusals(
    standings: impl IntoIterator<Item = (Repository, Standing)>,
    now_ms: i64,
    retention_ms: i64,
) -> Vec<String> {
    let retention_s = retention_ms / 1000;
    standings
        .into_iter()
        .filter_map(|(repository, standing)| {
            if standing.phase != Phase::D1Only {
                return Some(format!(
                    "{repository}: in {}, not d1_only: it may still read or fall back to KV",
                    standing.phase
                ));
            }
            let Some(since) = standing.since_ms else {
                return Some(format!(
                    "{repository}: no recorded move to d1_only (storage.phase.{repository} was \
                     never set), so its retention window has not started"
                ));
            };
            let elapsed = now_ms - since;
            (elapsed < retention_ms).then(|| {
                format!(
                    "{repository}: d1_only for {} s only; cleanup.retention_seconds is {retention_s} s",
                    elapsed.max(0) / 1000
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_MS: i64 = 86_400_000;

    fn d1_only_since(since_ms: Option<i64>) -> Standing {
        Standing {
            phase: Phase::D1Only,
            since_ms,
        }
    }

    #[test]
    fn cleanup_refusals_name_each_repository_not_d1_only_for_the_retention_window() {
        let now = 10 * DAY_MS;
        let standings = [
            (
                Repository::Subscriptions,
                Standing {
                    phase: Phase::Shadow,
                    since_ms: Some(0),
                },
            ),
            (
                Repository::Watchlists,
                d1_only_since(Some(now - 8 * DAY_MS)),
            ),
            (Repository::Executions, d1_only_since(Some(now - 3_600_000))),
            (Repository::Positions, d1_only_since(None)),
            (Repository::Cache, d1_only_since(Some(now - 7 * DAY_MS))),
        ];
        assert_eq!(
            refusals(standings, now, 7 * DAY_MS),
            [
                "subscriptions: in shadow, not d1_only: it may still read or fall back to KV",
                "executions: d1_only for 3600 s only; cleanup.retention_seconds is 604800 s",
                "positions: no recorded move to d1_only (storage.phase.positions was never set), \
                 so its retention window has not started",
            ]
        );
        let all_old = Repository::ALL.map(|r| (r, d1_only_since(Some(0))));
        assert!(refusals(all_old, now, 7 * DAY_MS).is_empty());
        // A change recorded in the future (clock skew) has not started the window either.
        let future = [(Repository::Cache, d1_only_since(Some(now + 5)))];
        assert_eq!(refusals(future, now, 1000).len(), 1);
    }

    #[test]
    fn each_standing_passes_or_is_refused_for_its_reason() {
        let (now, retention) = (10 * DAY_MS, 7 * DAY_MS);
        let other = |phase, since_ms| Standing { phase, since_ms };
        let cases = [
            (
                d1_only_since(Some(now - retention)),
                true,
                "d1_only for exactly the window",
            ),
            (d1_only_since(Some(0)), true, "d1_only since long before"),
            (
                d1_only_since(Some(now - retention + 1000)),
                false,
                "a second short of it",
            ),
            (
                d1_only_since(None),
                false,
                "d1_only through STORAGE_PHASE_DEFAULT only",
            ),
            (
                d1_only_since(Some(now + 5)),
                false,
                "a change in the future (clock skew)",
            ),
            (
                other(Phase::Shadow, Some(0)),
                false,
                "shadow may still fall back to KV",
            ),
            (
                other(Phase::DualWrite, Some(0)),
                false,
                "dual_write: KV still serves",
            ),
            (other(Phase::KvOnly, None), false, "kv_only, never moved"),
        ];
        for (standing, passes, why) in cases {
            let refused = refusals([(Repository::Cache, standing)], now, retention);
            assert_eq!(refused.is_empty(), passes, "{why}: {refused:?}");
        }
    }
}
