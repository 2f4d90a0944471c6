//! [`Flags`]: the typed value of every flag at one moment, and where each value came from.

use super::{Flag, FlagValue, Setting};
use crate::migration::handover::Standing;
use crate::migration::{Phase, Phases};
use crate::storage::d1::PhaseRows;
use crate::storage::Repository;

/// Where a flag's value in a [`Flags`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A valid row of the `settings` table.
    Settings,
    /// No valid row: the declared default, or `STORAGE_PHASE_DEFAULT` for a phase.
    Default,
}

impl Source {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Settings => "settings",
            Self::Default => "default",
        }
    }
}

/// The thresholds of the `shadow → d1_only` guard rails (migration.md §4).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GuardThresholds {
    /// `guard.min_compared`.
    pub min_compared: u64,
    /// `guard.max_divergence_rate`.
    pub max_divergence_rate: f64,
    /// `guard.max_fallback_rate`.
    pub max_fallback_rate: f64,
    /// `guard.window_seconds`, in milliseconds.
    pub window_ms: i64,
}

/// The thresholds of the on-call pages the maintenance cron sends (MIGRATION.md, "Watching");
/// the divergence rate's is `guard.max_divergence_rate`, over `guard.window_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageThresholds {
    /// `page.max_fallbacks`: per repository, within the guard window.
    pub max_fallbacks: u64,
    /// `page.max_write_failures`: per repository, within the guard window.
    pub max_write_failures: u64,
    /// `page.max_repair_queue`: per repository.
    pub max_repair_queue: u64,
    /// `page.repeat_seconds`, in milliseconds.
    pub repeat_ms: i64,
}

/// Every flag's value at one moment: what one request runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Flags {
    phases: Phases,
    sample_rate: f64,
    min_compared: u64,
    max_divergence_rate: f64,
    max_fallback_rate: f64,
    window_seconds: u64,
    cache_ttl_seconds: u64,
    cleanup_retention_seconds: u64,
    page_max_fallbacks: u64,
    page_max_write_failures: u64,
    page_max_repair_queue: u64,
    page_repeat_seconds: u64,
    sources: [Source; Flag::COUNT],
    /// The phase rows these flags were read from; `None` when they were not read from
    /// `settings` (the defaults of an isolate that never could read it).
    phase_rows: Option<PhaseRows>,
    /// What the read said of each repository besides its phase (a handover under way, repairs
    /// queued), by `Repository as usize`.
    standings: [Standing; 5],
}

impl Flags {
    /// Every flag at its default: each phase is `default_phase` (the `STORAGE_PHASE_DEFAULT`
    /// var), every other flag its default in `flags.json`.
    pub fn defaults(default_phase: Phase) -> Self {
        let mut flags = Self {
            phases: Phases::uniform(default_phase),
            // Each of these is overwritten by the loop below: `Flag::ALL` lists every flag.
            sample_rate: 0.0,
            min_compared: 0,
            max_divergence_rate: 0.0,
            max_fallback_rate: 0.0,
            window_seconds: 0,
            cache_ttl_seconds: 0,
            cleanup_retention_seconds: 0,
            page_max_fallbacks: 0,
            page_max_write_failures: 0,
            page_max_repair_queue: 0,
            page_repeat_seconds: 0,
            sources: [Source::Default; Flag::COUNT],
            phase_rows: None,
            standings: [Standing::default(); 5],
        };
        for flag in Flag::ALL {
            if !matches!(flag, Flag::Phase(_)) {
                flags.put(flag, flag.definition().default());
            }
        }
        flags
    }

    /// The phase rows these flags were read from, which fence a write's claim
    /// ([`PhaseRows`]); `None` when they were not read from `settings`.
    pub fn phase_rows(&self) -> Option<&PhaseRows> {
        self.phase_rows.as_ref()
    }

    /// These flags were read from `settings`, whose phase rows were `rows`.
    pub(crate) fn read_from(&mut self, rows: PhaseRows) {
        self.phase_rows = Some(rows);
    }

    /// Takes what the read said of `repository` besides its phase.
    pub(crate) fn stand(&mut self, repository: Repository, standing: Standing) {
        self.standings[repository as usize] = standing;
    }

    /// Takes the value of a valid `settings` row.
    pub(crate) fn apply(&mut self, setting: Setting) {
        self.put(setting.flag(), setting.value());
        self.sources[setting.flag().index()] = Source::Settings;
    }

    fn put(&mut self, flag: Flag, value: FlagValue) {
        match (flag, value) {
            (Flag::Phase(repository), FlagValue::Phase(phase)) => {
                self.phases.set(repository, phase)
            }
            (Flag::ShadowSampleRate, FlagValue::Rate(rate)) => self.sample_rate = rate,
            (Flag::GuardMinCompared, FlagValue::Count(n)) => self.min_compared = n,
            (Flag::GuardMaxDivergenceRate, FlagValue::Rate(rate)) => {
                self.max_divergence_rate = rate
            }
            (Flag::GuardMaxFallbackRate, FlagValue::Rate(rate)) => self.max_fallback_rate = rate,
            (Flag::GuardWindowSeconds, FlagValue::Seconds(s)) => self.window_seconds = s,
            (Flag::CacheTtlSeconds, FlagValue::Seconds(s)) => self.cache_ttl_seconds = s,
            (Flag::CleanupRetentionSeconds, FlagValue::Seconds(s)) => {
                self.cleanup_retention_seconds = s
            }
            (Flag::PageMaxFallbacks, FlagValue::Count(n)) => self.page_max_fallbacks = n,
            (Flag::PageMaxWriteFailures, FlagValue::Count(n)) => self.page_max_write_failures = n,
            (Flag::PageMaxRepairQueue, FlagValue::Count(n)) => self.page_max_repair_queue = n,
            (Flag::PageRepeatSeconds, FlagValue::Seconds(s)) => self.page_repeat_seconds = s,
            // Values are only made by checking them against the flag's definition, and loading
            // the definitions refuses a declared type other than `Flag::flag_type`.
            (flag, value) => unreachable!("{flag} cannot hold {value:?}"),
        }
    }

    /// The value of `flag`, whatever its type (for listing every flag).
    pub fn value(&self, flag: Flag) -> FlagValue {
        match flag {
            Flag::Phase(repository) => FlagValue::Phase(self.phase(repository)),
            Flag::ShadowSampleRate => FlagValue::Rate(self.sample_rate),
            Flag::GuardMinCompared => FlagValue::Count(self.min_compared),
            Flag::GuardMaxDivergenceRate => FlagValue::Rate(self.max_divergence_rate),
            Flag::GuardMaxFallbackRate => FlagValue::Rate(self.max_fallback_rate),
            Flag::GuardWindowSeconds => FlagValue::Seconds(self.window_seconds),
            Flag::CacheTtlSeconds => FlagValue::Seconds(self.cache_ttl_seconds),
            Flag::CleanupRetentionSeconds => FlagValue::Seconds(self.cleanup_retention_seconds),
            Flag::PageMaxFallbacks => FlagValue::Count(self.page_max_fallbacks),
            Flag::PageMaxWriteFailures => FlagValue::Count(self.page_max_write_failures),
            Flag::PageMaxRepairQueue => FlagValue::Count(self.page_max_repair_queue),
            Flag::PageRepeatSeconds => FlagValue::Seconds(self.page_repeat_seconds),
        }
    }

    /// Where the value of `flag` came from.
    pub fn source(&self, flag: Flag) -> Source {
        self.sources[flag.index()]
    }

    /// Every repository's phase flag: what the guard rails, the repair drain and the sweeps
    /// go by. A request goes by [`Flags::serving`].
    pub fn phases(&self) -> Phases {
        self.phases
    }

    /// The phases a request at `now` runs with: a repository being handed over between
    /// `dual_write` and `shadow` may still serve its old phase, and with caution
    /// ([`handover`](crate::migration::handover)).
    pub fn serving(&self, now: i64) -> Phases {
        let mut serving = self.phases;
        for repository in Repository::ALL {
            let standing = &self.standings[repository as usize];
            let (phase, caution) =
                standing.serving(self.phase(repository), self.cache_ttl_ms(), now);
            serving.set(repository, phase);
            serving.set_caution(repository, caution);
        }
        serving
    }

    /// Until when `repository`'s handover is under way at `now` (`i64::MAX`: not known yet),
    /// `None` when there is none.
    pub fn handing_over_until(&self, repository: Repository, now: i64) -> Option<i64> {
        self.standings[repository as usize].handing_over_until(self.cache_ttl_ms(), now)
    }

    pub fn phase(&self, repository: Repository) -> Phase {
        self.phases.get(repository)
    }

    /// `shadow.sample_rate`: the share of shadow reads that are compared.
    pub fn sample_rate(&self) -> f64 {
        self.sample_rate
    }

    pub fn guards(&self) -> GuardThresholds {
        GuardThresholds {
            min_compared: self.min_compared,
            max_divergence_rate: self.max_divergence_rate,
            max_fallback_rate: self.max_fallback_rate,
            window_ms: millis(self.window_seconds),
        }
    }

    /// `flags.cache_ttl_seconds`, in milliseconds: how long an isolate keeps these flags.
    pub fn cache_ttl_ms(&self) -> i64 {
        millis(self.cache_ttl_seconds)
    }

    /// `cleanup.retention_seconds`, in milliseconds: how long every repository must have been
    /// `d1_only` before the KV cleanup may delete anything.
    pub fn cleanup_retention_ms(&self) -> i64 {
        millis(self.cleanup_retention_seconds)
    }
}

impl Flags {
    /// The on-call pages' thresholds (`page.*`).
    pub fn paging(&self) -> PageThresholds {
        PageThresholds {
            max_fallbacks: self.page_max_fallbacks,
            max_write_failures: self.page_max_write_failures,
            max_repair_queue: self.page_max_repair_queue,
            repeat_ms: millis(self.page_repeat_seconds),
        }
    }
}

/// Saturates rather than wraps; the declared maxima keep real values far below the limit.
fn millis(seconds: u64) -> i64 {
    i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_take_the_given_phase_and_the_declared_values() {
        let flags = Flags::defaults(Phase::Shadow);
        assert_eq!(flags.phases(), Phases::uniform(Phase::Shadow));
        assert_eq!(flags.sample_rate(), 1.0);
        assert_eq!(
            flags.guards(),
            GuardThresholds {
                min_compared: 1000,
                max_divergence_rate: 0.001,
                max_fallback_rate: 0.001,
                window_ms: 86_400_000,
            }
        );
        assert_eq!(flags.cache_ttl_ms(), 10_000);
        assert_eq!(flags.cleanup_retention_ms(), 604_800_000);
        assert_eq!(
            flags.paging(),
            PageThresholds {
                max_fallbacks: 100,
                max_write_failures: 10,
                max_repair_queue: 100,
                repeat_ms: 3_600_000,
            }
        );
        assert!(Flag::ALL
            .into_iter()
            .all(|flag| flags.source(flag) == Source::Default));
    }

    #[test]
    fn applying_a_setting_changes_that_flag_only_and_marks_it_from_settings() {
        let mut flags = Flags::defaults(Phase::KvOnly);
        let setting = Setting::from_stored("guard.window_seconds", "3600").unwrap();
        flags.apply(setting);
        assert_eq!(flags.guards().window_ms, 3_600_000);
        assert_eq!(flags.source(Flag::GuardWindowSeconds), Source::Settings);
        let mut expected = Flags::defaults(Phase::KvOnly);
        expected.window_seconds = 3600;
        expected.sources[Flag::GuardWindowSeconds.index()] = Source::Settings;
        assert_eq!(flags, expected);
    }

    #[test]
    fn millis_saturates() {
        assert_eq!(millis(10), 10_000);
        assert_eq!(millis(u64::MAX), i64::MAX);
    }
}
