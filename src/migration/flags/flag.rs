//! The flags the code knows, by name: [`Flag`] is the code's side of the agreement with
//! `flags/flags.json`, and [`FlagKey`] adds the admin API's `storage.phase.all`.

use super::FlagError;
use crate::storage::Repository;
use std::fmt;
use std::str::FromStr;

/// One runtime flag the code reads. Its name is the `settings` key: renaming one orphans the
/// rows that hold it, so the names are pinned by a test as well as by `flags.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flag {
    /// `storage.phase.<repository>`.
    Phase(Repository),
    /// `shadow.sample_rate`.
    ShadowSampleRate,
    /// `guard.min_compared`.
    GuardMinCompared,
    /// `guard.max_divergence_rate`.
    GuardMaxDivergenceRate,
    /// `guard.max_fallback_rate`.
    GuardMaxFallbackRate,
    /// `guard.window_seconds`.
    GuardWindowSeconds,
    /// `flags.cache_ttl_seconds`.
    CacheTtlSeconds,
    /// `cleanup.retention_seconds`.
    CleanupRetentionSeconds,
    /// `page.max_fallbacks`.
    PageMaxFallbacks,
    /// `page.max_write_failures`.
    PageMaxWriteFailures,
    /// `page.max_repair_queue`.
    PageMaxRepairQueue,
    /// `page.repeat_seconds`.
    PageRepeatSeconds,
}

/// The type of a flag's values, as `flags.json` names it in `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlagType {
    /// A phase name.
    Phase,
    /// A number from 0 to 1.
    Rate,
    /// A whole number from 0.
    Count,
    /// A whole number of seconds from 1.
    Seconds,
}

impl FlagType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Phase => "phase",
            Self::Rate => "rate",
            Self::Count => "count",
            Self::Seconds => "seconds",
        }
    }
}

impl Flag {
    /// How many flags there are.
    pub(crate) const COUNT: usize = 16;

    /// Every flag, in the order of `flags.json`.
    pub const ALL: [Flag; Flag::COUNT] = [
        Flag::Phase(Repository::Subscriptions),
        Flag::Phase(Repository::Watchlists),
        Flag::Phase(Repository::Executions),
        Flag::Phase(Repository::Positions),
        Flag::Phase(Repository::Cache),
        Flag::ShadowSampleRate,
        Flag::GuardMinCompared,
        Flag::GuardMaxDivergenceRate,
        Flag::GuardMaxFallbackRate,
        Flag::GuardWindowSeconds,
        Flag::CacheTtlSeconds,
        Flag::CleanupRetentionSeconds,
        Flag::PageMaxFallbacks,
        Flag::PageMaxWriteFailures,
        Flag::PageMaxRepairQueue,
        Flag::PageRepeatSeconds,
    ];

    /// The flag's name: its `settings` key and its `name` in `flags.json`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Phase(Repository::Subscriptions) => "storage.phase.subscriptions",
            Self::Phase(Repository::Watchlists) => "storage.phase.watchlists",
            Self::Phase(Repository::Executions) => "storage.phase.executions",
            Self::Phase(Repository::Positions) => "storage.phase.positions",
            Self::Phase(Repository::Cache) => "storage.phase.cache",
            Self::ShadowSampleRate => "shadow.sample_rate",
            Self::GuardMinCompared => "guard.min_compared",
            Self::GuardMaxDivergenceRate => "guard.max_divergence_rate",
            Self::GuardMaxFallbackRate => "guard.max_fallback_rate",
            Self::GuardWindowSeconds => "guard.window_seconds",
            Self::CacheTtlSeconds => "flags.cache_ttl_seconds",
            Self::CleanupRetentionSeconds => "cleanup.retention_seconds",
            Self::PageMaxFallbacks => "page.max_fallbacks",
            Self::PageMaxWriteFailures => "page.max_write_failures",
            Self::PageMaxRepairQueue => "page.max_repair_queue",
            Self::PageRepeatSeconds => "page.repeat_seconds",
        }
    }

    /// The type the code reads the flag as; `flags.json` must declare the same.
    pub fn flag_type(self) -> FlagType {
        match self {
            Self::Phase(_) => FlagType::Phase,
            Self::ShadowSampleRate | Self::GuardMaxDivergenceRate | Self::GuardMaxFallbackRate => {
                FlagType::Rate
            }
            Self::GuardMinCompared
            | Self::PageMaxFallbacks
            | Self::PageMaxWriteFailures
            | Self::PageMaxRepairQueue => FlagType::Count,
            Self::GuardWindowSeconds
            | Self::CacheTtlSeconds
            | Self::CleanupRetentionSeconds
            | Self::PageRepeatSeconds => FlagType::Seconds,
        }
    }

    /// The flag's position in [`Flag::ALL`].
    pub(crate) fn index(self) -> usize {
        match self {
            Self::Phase(repository) => repository as usize,
            Self::ShadowSampleRate => 5,
            Self::GuardMinCompared => 6,
            Self::GuardMaxDivergenceRate => 7,
            Self::GuardMaxFallbackRate => 8,
            Self::GuardWindowSeconds => 9,
            Self::CacheTtlSeconds => 10,
            Self::CleanupRetentionSeconds => 11,
            Self::PageMaxFallbacks => 12,
            Self::PageMaxWriteFailures => 13,
            Self::PageMaxRepairQueue => 14,
            Self::PageRepeatSeconds => 15,
        }
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Flag {
    type Err = FlagError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|flag| flag.name() == s)
            .ok_or_else(|| FlagError::unknown(s))
    }
}

/// What the admin API may set: one flag, or every `storage.phase.*` flag at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagKey {
    One(Flag),
    /// `storage.phase.all`: a pseudo-key, never stored; it stands for the five phase flags.
    AllPhases,
}

impl FlagKey {
    pub(crate) const ALL_PHASES: &'static str = "storage.phase.all";

    pub fn name(self) -> &'static str {
        match self {
            Self::One(flag) => flag.name(),
            Self::AllPhases => Self::ALL_PHASES,
        }
    }

    /// The flags the key stands for: itself, or every repository's phase flag.
    pub(crate) fn flags(self) -> Vec<Flag> {
        match self {
            Self::One(flag) => vec![flag],
            Self::AllPhases => Repository::ALL.map(Flag::Phase).to_vec(),
        }
    }
}

impl FromStr for FlagKey {
    type Err = FlagError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == Self::ALL_PHASES {
            return Ok(Self::AllPhases);
        }
        s.parse().map(Self::One)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_each_flag_once_at_its_index() {
        for (i, flag) in Flag::ALL.into_iter().enumerate() {
            assert_eq!(flag.index(), i, "{flag}");
            assert_eq!(flag.name().parse::<Flag>(), Ok(flag));
        }
    }

    #[test]
    fn storage_phase_all_stands_for_the_five_phase_flags() {
        let key: FlagKey = "storage.phase.all".parse().unwrap();
        assert_eq!(key.name(), "storage.phase.all");
        let names: Vec<_> = key.flags().into_iter().map(Flag::name).collect();
        assert_eq!(
            names,
            [
                "storage.phase.subscriptions",
                "storage.phase.watchlists",
                "storage.phase.executions",
                "storage.phase.positions",
                "storage.phase.cache",
            ]
        );
        assert_eq!(
            "shadow.sample_rate".parse(),
            Ok(FlagKey::One(Flag::ShadowSampleRate))
        );
        // The pseudo-key is not a flag: no settings row may hold it.
        assert!("storage.phase.all".parse::<Flag>().is_err());
    }
}
