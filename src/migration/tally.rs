//! The counters' vocabulary (migration.md §7): the outcome names one request publishes per
//! repository and operation, and the totals on-call and the guard rails read back from them.

use super::experiment::Class;
use crate::storage::d1::Count;
use crate::storage::Repository;
use std::collections::BTreeMap;

/// The counters' bucket width.
pub(crate) const MINUTE_MS: i64 = 60_000;

/// The start of the minute bucket `ms` falls in.
pub(crate) fn minute_of(ms: i64) -> i64 {
    ms - ms.rem_euclid(MINUTE_MS)
}

/// A shadow read served to a user.
pub(crate) const READ: &str = "read";
/// A shadow read that was sampled and compared.
pub(crate) const COMPARED: &str = "compared";
/// A compared read whose two stores agreed.
pub(crate) const MATCHED: &str = "matched";
/// The counters' "repository" for the flags themselves.
pub(crate) const FLAGS: &str = "flags";
/// A read of `settings` that failed (the request ran on the last good flags or the default).
pub(crate) const SETTINGS_UNREADABLE: &str = "settings_unreadable";
/// The counters' "repository" for the maintenance cron, whose operations are its steps.
pub(crate) const MAINTENANCE: &str = "maintenance";
/// A maintenance step that failed (the others still ran).
pub(crate) const FAILED: &str = "failed";

/// A compared read that diverged, by class.
pub(crate) fn divergence(class: Class) -> String {
    format!("divergence.{}", class.as_str())
}

/// A shadow read answered from KV, by cause (`d1_error`, `missing_in_d1`).
pub(crate) fn fallback(cause: &str) -> String {
    format!("fallback.{cause}")
}

/// A failed secondary write, by the store that missed it (`kv`, `d1`).
pub(crate) fn write_failure(store: &str) -> String {
    format!("write_failure.{store}")
}

/// Reads of one store: `count` reads taking `total_ms` together.
pub(crate) fn latency(store: &str) -> String {
    format!("latency.{store}")
}

/// One repository's numbers over a window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Totals {
    pub reads: i64,
    pub compared: i64,
    pub matched: i64,
    /// Divergences of every class but `stale_kv_suspected`.
    pub divergences: i64,
    pub stale_kv_suspected: i64,
    pub fallbacks: i64,
    pub write_failures: i64,
}

impl Totals {
    /// Divergences per comparison; 0 when nothing was compared.
    pub(crate) fn divergence_rate(&self) -> f64 {
        ratio(self.divergences, self.compared)
    }

    /// Fallbacks per shadow read; 0 when nothing was read.
    pub(crate) fn fallback_rate(&self) -> f64 {
        ratio(self.fallbacks, self.reads)
    }

    fn add(&mut self, outcome: &str, count: i64) {
        let stale = divergence(Class::StaleKvSuspected);
        match outcome {
            READ => self.reads += count,
            COMPARED => self.compared += count,
            MATCHED => self.matched += count,
            o if o == stale => self.stale_kv_suspected += count,
            o if o.starts_with("divergence.") => self.divergences += count,
            o if o.starts_with("fallback.") => self.fallbacks += count,
            o if o.starts_with("write_failure.") => self.write_failures += count,
            _ => {}
        }
    }
}

fn ratio(part: i64, whole: i64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Totals per repository (every repository present, zero when it has no counters).
pub(crate) fn totals(counts: &[Count]) -> BTreeMap<Repository, Totals> {
    let mut totals: BTreeMap<Repository, Totals> = Repository::ALL
        .into_iter()
        .map(|repository| (repository, Totals::default()))
        .collect();
    for count in counts {
        if let Ok(repository) = count.repository.parse::<Repository>() {
            if let Some(entry) = totals.get_mut(&repository) {
                entry.add(&count.outcome, count.count);
            }
        }
    }
    totals
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(repository: &str, outcome: &str, n: i64) -> Count {
        Count {
            minute: 0,
            repository: repository.into(),
            operation: "op".into(),
            outcome: outcome.into(),
            count: n,
            total_ms: 0,
        }
    }

    #[test]
    fn totals_add_outcomes_per_repository_and_keep_stale_apart() {
        let counts = [
            count("watchlists", READ, 10),
            count("watchlists", COMPARED, 8),
            count("watchlists", MATCHED, 5),
            count("watchlists", &divergence(Class::ValueMismatch), 2),
            count("watchlists", &divergence(Class::StaleKvSuspected), 1),
            count("watchlists", &fallback("d1_error"), 1),
            count("watchlists", &write_failure("kv"), 3),
            count("watchlists", &latency("d1"), 10),
            count("positions", READ, 4),
            count("nonsense", READ, 99),
        ];
        let totals = totals(&counts);
        let w = totals[&Repository::Watchlists];
        assert_eq!(
            w,
            Totals {
                reads: 10,
                compared: 8,
                matched: 5,
                divergences: 2,
                stale_kv_suspected: 1,
                fallbacks: 1,
                write_failures: 3,
            }
        );
        assert_eq!(w.divergence_rate(), 0.25);
        assert_eq!(w.fallback_rate(), 0.1);
        assert_eq!(totals[&Repository::Positions].reads, 4);
        assert_eq!(totals[&Repository::Cache], Totals::default());
        assert_eq!(totals[&Repository::Cache].divergence_rate(), 0.0);
    }
}
