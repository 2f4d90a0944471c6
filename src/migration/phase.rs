//! Phases (migration.md §1, §2): parsed once from flag values and admin
//! requests, then passed around as these types only. The phase → store table
//! ([`Phase::authoritative`], [`Phase::second`]) is here, once, for every reader of phases:
//! the router (requests), the repair planner, and the sweeps (which may run, which repairs a
//! difference queues).

use super::handover::Caution;
use crate::storage::{by_name, Repository, Store, UnknownName};
use std::fmt;
use std::str::FromStr;

/// Where one repository stands in the move, in order (migration.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Reads and writes on KV only: the legacy bot.
    KvOnly,
    /// KV serves; every write goes to KV, then D1.
    DualWrite,
    /// D1 serves (KV as a counted fallback) and is compared against KV; writes D1, then KV.
    Shadow,
    /// D1 only.
    D1Only,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Phase; 4] = [
        Phase::KvOnly,
        Phase::DualWrite,
        Phase::Shadow,
        Phase::D1Only,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::KvOnly => "kv_only",
            Self::DualWrite => "dual_write",
            Self::Shadow => "shadow",
            Self::D1Only => "d1_only",
        }
    }

    /// The store that serves reads and whose write decides a call: KV up to `dual_write`,
    /// D1 from `shadow`.
    pub(crate) fn authoritative(self) -> Store {
        match self {
            Self::KvOnly | Self::DualWrite => Store::Kv,
            Self::Shadow | Self::D1Only => Store::D1,
        }
    }

    /// The store that receives every write second, after the authoritative one: D1 in
    /// `dual_write`, KV in `shadow`, none in the single-store phases.
    pub(crate) fn second(self) -> Option<Store> {
        match self {
            Self::DualWrite => Some(Store::D1),
            Self::Shadow => Some(Store::Kv),
            Self::KvOnly | Self::D1Only => None,
        }
    }

    /// The phase a forward move goes to, if any.
    pub fn next(self) -> Option<Phase> {
        Self::ALL.get(self as usize + 1).copied()
    }

    /// The phase a rollback goes to, if any.
    pub(crate) fn previous(self) -> Option<Phase> {
        (self as usize).checked_sub(1).map(|i| Self::ALL[i])
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Phase {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        by_name("phase", s, Self::ALL, Self::as_str)
    }
}

/// The phase of every repository at one moment: what one request runs with, and the
/// [`Caution`] of a repository being handed over (`handover`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phases {
    phases: [Phase; 5],
    cautions: [Caution; 5],
}

impl Phases {
    /// Every repository in `phase`.
    pub fn uniform(phase: Phase) -> Self {
        Self {
            phases: [phase; 5],
            cautions: [Caution::default(); 5],
        }
    }

    pub fn get(&self, repository: Repository) -> Phase {
        self.phases[repository as usize]
    }

    pub fn set(&mut self, repository: Repository, phase: Phase) {
        self.phases[repository as usize] = phase;
    }

    pub fn caution(&self, repository: Repository) -> Caution {
        self.cautions[repository as usize]
    }

    pub(crate) fn set_caution(&mut self, repository: Repository, caution: Caution) {
        self.cautions[repository as usize] = caution;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_say_what_is_expected() {
        for phase in Phase::ALL {
            assert_eq!(phase.as_str().parse(), Ok(phase));
        }
        for repository in Repository::ALL {
            assert_eq!(repository.as_str().parse(), Ok(repository));
        }
        assert_eq!(
            "d1only".parse::<Phase>().unwrap_err().to_string(),
            r#"unknown phase "d1only"; expected one of: kv_only, dual_write, shadow, d1_only"#
        );
        assert!("Watchlists".parse::<Repository>().is_err());
    }

    #[test]
    fn phases_are_ordered_one_step_at_a_time() {
        assert_eq!(Phase::KvOnly.previous(), None);
        assert_eq!(Phase::KvOnly.next(), Some(Phase::DualWrite));
        assert_eq!(Phase::Shadow.previous(), Some(Phase::DualWrite));
        assert_eq!(Phase::D1Only.next(), None);
    }

    #[test]
    fn the_phase_table_names_the_serving_store_and_the_second_one() {
        let table = Phase::ALL.map(|phase| (phase.as_str(), phase.authoritative(), phase.second()));
        assert_eq!(
            table,
            [
                ("kv_only", Store::Kv, None),
                ("dual_write", Store::Kv, Some(Store::D1)),
                ("shadow", Store::D1, Some(Store::Kv)),
                ("d1_only", Store::D1, None),
            ]
        );
        // The second store is always the other one.
        for phase in Phase::ALL {
            if let Some(second) = phase.second() {
                assert_eq!(second, phase.authoritative().other());
            }
        }
    }

    #[test]
    fn each_repository_has_its_own_phase() {
        let mut phases = Phases::uniform(Phase::KvOnly);
        phases.set(Repository::Cache, Phase::D1Only);
        assert_eq!(phases.get(Repository::Cache), Phase::D1Only);
        assert_eq!(phases.get(Repository::Watchlists), Phase::KvOnly);
    }
}
