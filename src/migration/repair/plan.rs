//! Which way a repair copies, after whatever phase moves happened since it was queued.

use crate::migration::Phase;
use crate::storage::d1::Repair;
use crate::storage::{BadEntityKey, EntityKey, Repository, Store};

/// What the drain does with one repair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    Copy {
        from: Store,
        to: Store,
    },
    /// Delete the row without copying.
    Drop,
}

/// Which way a repair copies, given the store that missed the write (`target`), the
/// repository's phase now, and whether the entity is also queued for the other target
/// (`conflicting`: each store missed a write).
///
/// A row was queued while the other store was authoritative, and that store holds every write
/// acknowledged for the entity since; so the drain copies from it to the target, for as long
/// as it keeps receiving writes. A phase flip since can change that:
///
/// ```text
/// target  kv_only      dual_write   shadow       d1_only
/// d1      KV → D1      KV → D1      KV → D1 (*)  drop (**)
/// kv      KV → D1 (†)  D1 → KV (*)  D1 → KV      drop
/// ```
///
/// - `d1_only`: KV no longer matters, and reverse sync re-copies every entity before any
///   rollback. (**) A `d1` repair here means a forced move left D1 without a write KV got;
///   copying KV over would undo every `d1_only` write since, so the row is dropped and logged.
/// - (†) In `kv_only` D1 receives no writes, so after a `kv` repair it no longer holds every
///   write: the authoritative KV wins (the write KV missed is lost, logged), which D1 needs
///   anyway to be a faithful copy when `dual_write` resumes.
/// - (*) The authoritative store is the one that missed the write: the repository moved while
///   repairs towards it were queued, which the guard rails should refuse. Reads serve the stale
///   value until the drain runs; copying towards the target restores the write the user saw
///   acknowledged (in `shadow` it is also what a fallback read served). If the entity is
///   queued for both targets (`conflicting`), neither store holds every write, and the
///   authoritative store wins instead, for both rows.
pub(super) fn plan(target: Store, phase: Phase, conflicting: bool) -> Action {
    match phase {
        Phase::D1Only => Action::Drop,
        Phase::KvOnly => Action::Copy {
            from: Store::Kv,
            to: Store::D1,
        },
        Phase::DualWrite | Phase::Shadow if conflicting => {
            let from = phase.authoritative();
            Action::Copy {
                from,
                to: from.other(),
            }
        }
        Phase::DualWrite | Phase::Shadow => Action::Copy {
            from: target.other(),
            to: target,
        },
    }
}

/// The entity a repair row names.
pub(super) fn entity(repair: &Repair) -> Result<EntityKey, BadEntityKey> {
    match repair.repository {
        // Queued per chat; the list is one entity (see the module documentation).
        Repository::Subscriptions => Ok(EntityKey::Subscribers),
        repository => EntityKey::parse(repository, &repair.entity_key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Phase::{D1Only, DualWrite, KvOnly, Shadow};
    use Store::{Kv, D1};

    const fn copy(from: Store, to: Store) -> Action {
        Action::Copy { from, to }
    }

    const DROP: Action = Action::Drop;

    #[test]
    fn each_target_and_phase_has_its_direction() {
        // (target, phase now, queued for the other target too, action, why)
        let cases = [
            (
                D1,
                DualWrite,
                false,
                copy(Kv, D1),
                "the failure's own phase",
            ),
            (Kv, Shadow, false, copy(D1, Kv), "the failure's own phase"),
            (D1, KvOnly, false, copy(Kv, D1), "KV still has every write"),
            (
                Kv,
                KvOnly,
                false,
                copy(Kv, D1),
                "D1 gets no writes: KV wins",
            ),
            (Kv, D1Only, false, DROP, "KV no longer matters"),
            (D1, D1Only, false, DROP, "KV would undo d1_only writes"),
            (
                D1,
                Shadow,
                false,
                copy(Kv, D1),
                "moved early: restore the write",
            ),
            (
                Kv,
                DualWrite,
                false,
                copy(D1, Kv),
                "rolled back early: restore it",
            ),
            (
                D1,
                Shadow,
                true,
                copy(D1, Kv),
                "both missed writes: D1 wins",
            ),
            (
                Kv,
                DualWrite,
                true,
                copy(Kv, D1),
                "both missed writes: KV wins",
            ),
            (
                D1,
                DualWrite,
                true,
                copy(Kv, D1),
                "the conflict changes nothing",
            ),
        ];
        for (target, phase, conflicting, want, why) in cases {
            let got = plan(target, phase, conflicting);
            assert_eq!(got, want, "{target} in {phase}: {why}");
        }
    }

    #[test]
    fn subscription_repairs_copy_the_whole_list() {
        let repair = |repository, key: &str| Repair {
            repository,
            entity_key: key.into(),
            target: D1,
            reason: String::new(),
            enqueued_at: 0,
            attempts: 0,
        };
        let subscriptions = entity(&repair(Repository::Subscriptions, "42"));
        assert_eq!(subscriptions, Ok(EntityKey::Subscribers));
        let position = entity(&repair(Repository::Positions, "-42"));
        assert_eq!(
            position,
            Ok(EntityKey::Position(crate::domain::ChatId::new(-42)))
        );
        assert!(entity(&repair(Repository::Watchlists, "x")).is_err());
    }
}
