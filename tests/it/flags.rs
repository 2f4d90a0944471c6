//! Runtime flags: `flags/flags.json` and the code agree, values are validated with messages an
//! operator can act on (`declarations`), changes are recorded in `settings_history`, and each
//! isolate reads `settings` once per TTL and survives it being unreadable (`settings`).

mod declarations;
mod settings;

use crate::helpers::{run, Backend, Fixture};
use fear_greed_bot::migration::flags::{validate, Flag, FlagValue, Flags, Setting};
use fear_greed_bot::migration::{Change, FlagCache, Phase};
use fear_greed_bot::platform::{SqlDatabase, Statement};
use serde_json::Value;

fn d1() -> Fixture {
    Fixture::new(Backend::D1)
}

const OPERATOR: Change<'static> = Change {
    by: "alice",
    reason: "step 2 of the runbook",
    forced: false,
    restore: "",
};

/// A valid setting, through the admin API's validation.
fn setting(key: &str, value: Value) -> Setting {
    let validated = validate(key, &value).unwrap();
    let [setting] = validated.settings()[..] else {
        panic!("{key} stands for one flag")
    };
    setting
}

fn set(f: &Fixture, cache: &FlagCache, key: &str, value: Value, change: Change<'_>) {
    run(cache.set(&f.platform, setting(key, value), change)).unwrap();
}

fn current(f: &Fixture, cache: &FlagCache) -> Flags {
    run(cache.current(&f.platform, Phase::KvOnly))
}

fn rows(f: &Fixture, sql: &'static str) -> Vec<Value> {
    run(f.db.query(&Statement::new(sql, vec![])))
        .unwrap()
        .into_iter()
        .map(Value::Object)
        .collect()
}

/// Writes a `settings` row directly, as a hand edit in the D1 console would.
pub(crate) fn store_raw(f: &Fixture, key: &str, value: &str) {
    let sql = "INSERT INTO settings (key, value, updated_at, updated_by, reason) \
               VALUES (?1, ?2, 0, 'console', '') \
               ON CONFLICT(key) DO UPDATE SET value = excluded.value";
    run(f
        .db
        .execute(&Statement::new(sql, vec![key.into(), value.into()])))
    .unwrap();
}

/// Each flag's value through its typed accessor. The exhaustive `match` makes a new flag
/// fail to compile here until it has a typed home in `Flags`.
fn typed(flags: &Flags, flag: Flag) -> FlagValue {
    let guards = flags.guards();
    match flag {
        Flag::Phase(repository) => FlagValue::Phase(flags.phase(repository)),
        Flag::ShadowSampleRate => FlagValue::Rate(flags.sample_rate()),
        Flag::GuardMinCompared => FlagValue::Count(guards.min_compared),
        Flag::GuardMaxDivergenceRate => FlagValue::Rate(guards.max_divergence_rate),
        Flag::GuardMaxFallbackRate => FlagValue::Rate(guards.max_fallback_rate),
        Flag::GuardWindowSeconds => FlagValue::Seconds((guards.window_ms / 1000) as u64),
        Flag::CacheTtlSeconds => FlagValue::Seconds((flags.cache_ttl_ms() / 1000) as u64),
        Flag::CleanupRetentionSeconds => {
            FlagValue::Seconds((flags.cleanup_retention_ms() / 1000) as u64)
        }
        Flag::PageMaxFallbacks => FlagValue::Count(flags.paging().max_fallbacks),
        Flag::PageMaxWriteFailures => FlagValue::Count(flags.paging().max_write_failures),
        Flag::PageMaxRepairQueue => FlagValue::Count(flags.paging().max_repair_queue),
        Flag::PageRepeatSeconds => FlagValue::Seconds((flags.paging().repeat_ms / 1000) as u64),
    }
}
