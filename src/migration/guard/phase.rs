//! The phase-move rail (migration.md §4): whether one repository may move from one phase to
//! another, as a pure verdict over the facts the admin API gathers. Forward moves go one phase
//! at a time; a rollback goes to the previous phase; anything else is forbidden outright. A
//! move that is possible but unsafe lists every unmet condition; `force` with a reason
//! overrides those, never a forbidden move.

use crate::migration::flags::GuardThresholds;
use crate::migration::tally::Totals;
use crate::migration::Phase;

/// What is known about one repository when a move is asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Facts {
    /// Every table the embedded migrations create exists in D1.
    pub schema_current: bool,
    /// The repository's backfill ran to its end (and started after dual writes were on).
    pub backfill_completed: bool,
    /// A validation after the backfill found no unexplained difference.
    pub validation_clean: bool,
    /// A reverse sync (D1 → KV) completed since the repository entered its phase.
    pub reverse_sync_completed: bool,
    /// The repository came back to `shadow` from `d1_only`, and no reverse sync has completed
    /// since that move took effect everywhere: writes between the last one and the move
    /// reached D1 only, so KV is behind.
    pub kv_resync_pending: bool,
    /// How many entities the repository holds in D1.
    pub entities: i64,
    /// The shadow numbers over the guard window.
    pub window: Totals,
    /// Repairs queued for the repository.
    pub repairs_queued: i64,
    /// Some of them are towards KV: KV missed writes and is stale until they drain.
    pub kv_repairs_pending: bool,
    /// Some of them are towards D1: D1 missed writes and is stale until they drain.
    pub d1_repairs_pending: bool,
    /// The last move between `dual_write` and `shadow` is still being handed over, until then
    /// (`i64::MAX`: until the writes claimed before it finish).
    pub handing_over_until: Option<i64>,
}

/// The answer to "may this repository move from `from` to `to`?".
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// Nothing to do: the repository is already there.
    Unchanged,
    /// Safe to move.
    Allowed,
    /// Possible, but these conditions are unmet; `force` with a reason overrides them.
    Unsafe(Vec<String>),
    /// Never allowed, forced or not.
    Forbidden(String),
}

/// The verdict for moving from `from` to `to`.
pub(crate) fn verdict(
    from: Phase,
    to: Phase,
    facts: &Facts,
    thresholds: &GuardThresholds,
) -> Verdict {
    if from == to {
        return Verdict::Unchanged;
    }
    let mut unmet = if from.next() == Some(to) {
        forward(to, facts, thresholds)
    } else if from.previous() == Some(to) {
        rollback(from, facts)
    } else {
        return Verdict::Forbidden(format!(
            "{from} → {to} skips a phase: moves go one phase at a time ({})",
            Phase::ALL.map(Phase::as_str).join(" → ")
        ));
    };
    if let Some(until) = facts.handing_over_until {
        unmet.push(match until {
            i64::MAX => "the last move between dual_write and shadow is still being handed over: writes claimed before it are still running".to_owned(),
            until => format!("the last move between dual_write and shadow is still being handed over, until {until} (ms since the epoch)"),
        });
    }
    if unmet.is_empty() {
        Verdict::Allowed
    } else {
        Verdict::Unsafe(unmet)
    }
}

/// The conditions of a forward move into `to` that do not hold.
fn forward(to: Phase, facts: &Facts, t: &GuardThresholds) -> Vec<String> {
    let mut unmet = Vec::new();
    match to {
        Phase::DualWrite => {
            if !facts.schema_current {
                unmet.push("the D1 schema is not at the latest migration".into());
            }
        }
        Phase::Shadow => {
            if !facts.backfill_completed {
                unmet.push(
                    "the backfill has not completed (it must start at least 60 s + the flag cache TTL after dual writes began)"
                        .into(),
                );
            }
            if !facts.validation_clean {
                unmet.push("no clean validation run after the backfill".into());
            }
            if facts.d1_repairs_pending {
                unmet.push("repairs towards D1 are queued: D1 would serve stale data".into());
            }
        }
        Phase::D1Only => {
            let w = &facts.window;
            let needed = (t.min_compared as i64).min(facts.entities.max(1));
            if w.compared < needed {
                unmet.push(format!(
                    "{} comparisons in the window, at least {needed} needed",
                    w.compared
                ));
            }
            if w.divergence_rate() > t.max_divergence_rate {
                unmet.push(format!(
                    "divergence rate {} is above {}",
                    w.divergence_rate(),
                    t.max_divergence_rate
                ));
            }
            if w.fallback_rate() > t.max_fallback_rate {
                unmet.push(format!(
                    "fallback rate {} is above {}",
                    w.fallback_rate(),
                    t.max_fallback_rate
                ));
            }
            if facts.repairs_queued > 0 {
                unmet.push(format!("{} repairs are queued", facts.repairs_queued));
            }
        }
        Phase::KvOnly => {}
    }
    unmet
}

/// The conditions of a rollback from `from` that do not hold: KV must hold every write before
/// it serves again (after `d1_only` it received none; in `shadow` some may have failed).
fn rollback(from: Phase, facts: &Facts) -> Vec<String> {
    match from {
        Phase::D1Only if !facts.reverse_sync_completed => {
            vec!["no completed reverse sync (D1 → KV) since the move to d1_only".into()]
        }
        Phase::Shadow => {
            let mut unmet = Vec::new();
            if facts.kv_repairs_pending {
                unmet.push("repairs towards KV are queued: KV would serve stale data".into());
            }
            if facts.kv_resync_pending {
                unmet.push(
                    "KV was behind D1 (d1_only): no reverse sync has completed since the move to shadow took effect (started at least the flag cache TTL after it)"
                        .into(),
                );
            }
            unmet
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thresholds() -> GuardThresholds {
        GuardThresholds {
            min_compared: 1000,
            max_divergence_rate: 0.001,
            max_fallback_rate: 0.001,
            window_ms: 86_400_000,
        }
    }

    fn healthy() -> Facts {
        Facts {
            schema_current: true,
            backfill_completed: true,
            validation_clean: true,
            reverse_sync_completed: true,
            kv_resync_pending: false,
            entities: 5_000,
            window: Totals {
                reads: 10_000,
                compared: 2_000,
                matched: 2_000,
                ..Totals::default()
            },
            repairs_queued: 0,
            kv_repairs_pending: false,
            d1_repairs_pending: false,
            handing_over_until: None,
        }
    }

    #[test]
    fn no_move_while_the_last_one_is_being_handed_over() {
        for until in [1_700_000_000_000, i64::MAX] {
            let facts = Facts {
                handing_over_until: Some(until),
                ..healthy()
            };
            for (from, to) in [
                (Phase::Shadow, Phase::D1Only),
                (Phase::Shadow, Phase::DualWrite),
            ] {
                let unmet = unmet(from, to, facts);
                assert_eq!(unmet.len(), 1, "{from} → {to}: {unmet:?}");
                assert!(unmet[0].contains("still being handed over"), "{unmet:?}");
            }
        }
    }

    fn unmet(from: Phase, to: Phase, facts: Facts) -> Vec<String> {
        match verdict(from, to, &facts, &thresholds()) {
            Verdict::Unsafe(unmet) => unmet,
            Verdict::Allowed => vec![],
            other => panic!("{from} → {to}: {other:?}"),
        }
    }

    #[test]
    fn every_move_one_step_either_way_is_allowed_when_the_facts_are_good() {
        for from in Phase::ALL {
            for to in [from.next(), from.previous()].into_iter().flatten() {
                assert_eq!(
                    verdict(from, to, &healthy(), &thresholds()),
                    Verdict::Allowed,
                    "{from} → {to}"
                );
            }
        }
        assert_eq!(
            verdict(Phase::Shadow, Phase::Shadow, &healthy(), &thresholds()),
            Verdict::Unchanged
        );
    }

    #[test]
    fn skipping_a_phase_is_forbidden_in_both_directions() {
        for (from, to) in [
            (Phase::KvOnly, Phase::Shadow),
            (Phase::KvOnly, Phase::D1Only),
            (Phase::DualWrite, Phase::D1Only),
            (Phase::D1Only, Phase::DualWrite),
            (Phase::D1Only, Phase::KvOnly),
            (Phase::Shadow, Phase::KvOnly),
        ] {
            assert!(
                matches!(
                    verdict(from, to, &healthy(), &thresholds()),
                    Verdict::Forbidden(_)
                ),
                "{from} → {to}"
            );
        }
    }

    #[test]
    fn each_forward_move_lists_every_unmet_condition() {
        let stale = Facts {
            schema_current: false,
            ..healthy()
        };
        assert_eq!(
            unmet(Phase::KvOnly, Phase::DualWrite, stale),
            ["the D1 schema is not at the latest migration"]
        );
        let not_backfilled = Facts {
            backfill_completed: false,
            validation_clean: false,
            ..healthy()
        };
        assert_eq!(
            unmet(Phase::DualWrite, Phase::Shadow, not_backfilled).len(),
            2
        );
        let noisy = Facts {
            window: Totals {
                reads: 1_000,
                compared: 500,
                divergences: 1,
                fallbacks: 2,
                ..Totals::default()
            },
            repairs_queued: 3,
            ..healthy()
        };
        assert_eq!(
            unmet(Phase::Shadow, Phase::D1Only, noisy),
            [
                "500 comparisons in the window, at least 1000 needed",
                "divergence rate 0.002 is above 0.001",
                "fallback rate 0.002 is above 0.001",
                "3 repairs are queued",
            ]
        );
    }

    #[test]
    fn fewer_entities_than_the_minimum_need_every_entity_compared() {
        let small = |compared| Facts {
            entities: 40,
            window: Totals {
                reads: compared,
                compared,
                matched: compared,
                ..Totals::default()
            },
            ..healthy()
        };
        assert!(unmet(Phase::Shadow, Phase::D1Only, small(40)).is_empty());
        assert_eq!(
            unmet(Phase::Shadow, Phase::D1Only, small(39)),
            ["39 comparisons in the window, at least 40 needed"]
        );
    }

    #[test]
    fn a_store_that_missed_writes_may_not_start_serving() {
        let d1_behind = Facts {
            d1_repairs_pending: true,
            repairs_queued: 1,
            ..healthy()
        };
        assert_eq!(
            unmet(Phase::DualWrite, Phase::Shadow, d1_behind),
            ["repairs towards D1 are queued: D1 would serve stale data"]
        );
        let kv_behind = Facts {
            kv_repairs_pending: true,
            repairs_queued: 1,
            ..healthy()
        };
        assert_eq!(
            unmet(Phase::Shadow, Phase::DualWrite, kv_behind),
            ["repairs towards KV are queued: KV would serve stale data"]
        );
        assert!(unmet(Phase::DualWrite, Phase::KvOnly, kv_behind).is_empty());
        let kv_not_resynced = Facts {
            kv_resync_pending: true,
            ..healthy()
        };
        assert_eq!(
            unmet(Phase::Shadow, Phase::DualWrite, kv_not_resynced),
            ["KV was behind D1 (d1_only): no reverse sync has completed since the move to shadow took effect (started at least the flag cache TTL after it)"]
        );
    }

    #[test]
    fn leaving_d1_only_needs_a_reverse_sync_and_other_rollbacks_need_nothing() {
        let no_sync = Facts {
            reverse_sync_completed: false,
            schema_current: false,
            backfill_completed: false,
            ..healthy()
        };
        assert_eq!(
            unmet(Phase::D1Only, Phase::Shadow, no_sync),
            ["no completed reverse sync (D1 → KV) since the move to d1_only"]
        );
        assert!(unmet(Phase::Shadow, Phase::DualWrite, no_sync).is_empty());
        assert!(unmet(Phase::DualWrite, Phase::KvOnly, no_sync).is_empty());
    }
}
