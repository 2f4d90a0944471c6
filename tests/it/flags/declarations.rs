//! `flags.json` against the code, and validation of values against it.

use super::{current, d1, set, typed, OPERATOR};
use fear_greed_bot::migration::flags::{
    definitions, validate, Flag, FlagDefinition, FlagKey, FlagKind, FlagValue, Flags, Source,
};
use fear_greed_bot::migration::{FlagCache, Phase};
use fear_greed_bot::storage::Repository;
use serde_json::{json, Value};

/// A valid value of the flag other than its default (and other than `kv_only` for phases).
fn other_value(definition: &FlagDefinition) -> Value {
    match (definition.kind(), definition.default()) {
        (FlagKind::Phase { allowed }, _) => {
            let phase = allowed.iter().rev().find(|p| **p != Phase::KvOnly).unwrap();
            json!(phase.as_str())
        }
        (FlagKind::Rate { min, max }, FlagValue::Rate(default)) => {
            let middle = (min + max) / 2.0;
            json!(if middle == default { *min } else { middle })
        }
        (
            FlagKind::Count { min, max } | FlagKind::Seconds { min, max },
            FlagValue::Count(default) | FlagValue::Seconds(default),
        ) => json!(if default > *min {
            *min
        } else {
            max.unwrap_or(default + 1)
        }),
        (kind, default) => panic!("{kind:?} with default {default:?}"),
    }
}

#[test]
fn flags_json_declares_exactly_the_flags_the_code_reads() {
    // Pinned here as well: renaming a flag orphans the `settings` rows that hold it.
    let pinned = [
        "storage.phase.subscriptions",
        "storage.phase.watchlists",
        "storage.phase.executions",
        "storage.phase.positions",
        "storage.phase.cache",
        "shadow.sample_rate",
        "guard.min_compared",
        "guard.max_divergence_rate",
        "guard.max_fallback_rate",
        "guard.window_seconds",
        "flags.cache_ttl_seconds",
        "cleanup.retention_seconds",
        "page.max_fallbacks",
        "page.max_write_failures",
        "page.max_repair_queue",
        "page.repeat_seconds",
    ];
    let declared: Vec<&str> = definitions().iter().map(|d| d.flag().name()).collect();
    let in_code: Vec<&str> = Flag::ALL.into_iter().map(Flag::name).collect();
    assert_eq!(declared, pinned);
    assert_eq!(in_code, pinned);
    for definition in definitions() {
        let flag = definition.flag();
        assert_eq!(definition.kind().flag_type(), flag.flag_type(), "{flag}");
        assert!(!definition.description().is_empty(), "{flag}");
    }
}

#[test]
fn every_declared_flag_has_a_typed_home_in_flags() {
    let defaults = Flags::defaults(Phase::KvOnly);
    for definition in definitions() {
        let flag = definition.flag();
        let f = d1();
        let cache = FlagCache::default();
        let value = other_value(definition);
        set(&f, &cache, flag.name(), value.clone(), OPERATOR);
        let flags = current(&f, &cache);

        assert_eq!(flags.value(flag).to_json(), value, "{flag}");
        assert_eq!(typed(&flags, flag), flags.value(flag), "{flag}");
        assert_eq!(flags.source(flag), Source::Settings, "{flag}");
        for other in Flag::ALL.into_iter().filter(|other| *other != flag) {
            assert_eq!(
                typed(&flags, other),
                typed(&defaults, other),
                "setting {flag} moved {other}"
            );
            assert_eq!(flags.source(other), Source::Default, "{other}");
        }
    }
}

#[test]
fn defaults_are_the_declared_ones_and_phases_follow_storage_phase_default() {
    let flags = Flags::defaults(Phase::DualWrite);
    for flag in Flag::ALL {
        let want = match flag {
            Flag::Phase(_) => FlagValue::Phase(Phase::DualWrite),
            _ => flag.definition().default(),
        };
        assert_eq!(typed(&flags, flag), want, "{flag}");
    }
}

#[test]
fn the_declared_phase_default_is_the_storage_phase_default_of_wrangler_toml() {
    let wrangler = include_str!("../../../wrangler.toml");
    let var = wrangler
        .lines()
        .find_map(|line| line.strip_prefix("STORAGE_PHASE_DEFAULT = "))
        .expect("wrangler.toml sets STORAGE_PHASE_DEFAULT");
    let phase: Phase = var.trim_matches('"').parse().unwrap();
    for repository in Repository::ALL {
        let definition = Flag::Phase(repository).definition();
        assert_eq!(
            definition.default(),
            FlagValue::Phase(phase),
            "{repository}"
        );
    }
}

#[test]
fn guard_rail_thresholds_name_the_transition_they_guard() {
    for definition in definitions() {
        let name = definition.flag().name();
        let want = name
            .starts_with("guard.")
            .then_some((Phase::Shadow, Phase::D1Only));
        assert_eq!(definition.guards(), want, "{name}");
    }
}

#[test]
fn validation_accepts_each_type_within_its_bounds() {
    let cases = [
        (
            "storage.phase.watchlists",
            json!("dual_write"),
            FlagValue::Phase(Phase::DualWrite),
        ),
        (
            "storage.phase.cache",
            json!("d1_only"),
            FlagValue::Phase(Phase::D1Only),
        ),
        ("shadow.sample_rate", json!(0), FlagValue::Rate(0.0)),
        ("shadow.sample_rate", json!(1), FlagValue::Rate(1.0)),
        ("shadow.sample_rate", json!(0.25), FlagValue::Rate(0.25)),
        ("guard.min_compared", json!(0), FlagValue::Count(0)),
        (
            "guard.min_compared",
            json!(5_000_000),
            FlagValue::Count(5_000_000),
        ),
        (
            "guard.max_divergence_rate",
            json!(0.01),
            FlagValue::Rate(0.01),
        ),
        ("guard.max_fallback_rate", json!(0), FlagValue::Rate(0.0)),
        ("guard.window_seconds", json!(1), FlagValue::Seconds(1)),
        (
            "guard.window_seconds",
            json!(2_592_000),
            FlagValue::Seconds(2_592_000),
        ),
        ("flags.cache_ttl_seconds", json!(1), FlagValue::Seconds(1)),
        ("flags.cache_ttl_seconds", json!(10), FlagValue::Seconds(10)),
        (
            "cleanup.retention_seconds",
            json!(60),
            FlagValue::Seconds(60),
        ),
        (
            "cleanup.retention_seconds",
            json!(31_536_000),
            FlagValue::Seconds(31_536_000),
        ),
        ("page.max_fallbacks", json!(0), FlagValue::Count(0)),
        ("page.max_write_failures", json!(25), FlagValue::Count(25)),
        ("page.max_repair_queue", json!(1000), FlagValue::Count(1000)),
        ("page.repeat_seconds", json!(300), FlagValue::Seconds(300)),
        (
            "page.repeat_seconds",
            json!(604_800),
            FlagValue::Seconds(604_800),
        ),
        (
            "storage.phase.all",
            json!("shadow"),
            FlagValue::Phase(Phase::Shadow),
        ),
    ];
    for (key, value, want) in cases {
        let validated = validate(key, &value).unwrap_or_else(|e| panic!("{key} = {value}: {e}"));
        assert_eq!(validated.value(), want, "{key} = {value}");
        assert_eq!(validated.key().name(), key);
    }
}

#[test]
fn validation_refuses_with_a_message_naming_the_problem() {
    let cases = [
        // (key, value, message, why)
        (
            "storage.phase.watchlist",
            json!("shadow"),
            "unknown flag \"storage.phase.watchlist\"; known flags: storage.phase.subscriptions, \
             storage.phase.watchlists, storage.phase.executions, storage.phase.positions, \
             storage.phase.cache, shadow.sample_rate, guard.min_compared, \
             guard.max_divergence_rate, guard.max_fallback_rate, guard.window_seconds, \
             flags.cache_ttl_seconds, cleanup.retention_seconds, page.max_fallbacks, \
             page.max_write_failures, page.max_repair_queue, page.repeat_seconds, \
             storage.phase.all",
            "a typo in the key",
        ),
        (
            "storage.phase.cache",
            json!("d1only"),
            "storage.phase.cache takes one of kv_only, dual_write, shadow, d1_only, got \"d1only\"",
            "not a phase",
        ),
        (
            "storage.phase.all",
            json!("D1_ONLY"),
            "storage.phase.subscriptions takes one of kv_only, dual_write, shadow, d1_only, got \"D1_ONLY\"",
            "phase names are lower case, for every repository",
        ),
        (
            "storage.phase.cache",
            json!(3),
            "storage.phase.cache takes a phase name, got the number 3",
            "phases are named, not numbered",
        ),
        (
            "shadow.sample_rate",
            json!("0.5"),
            "shadow.sample_rate takes a number, got the string \"0.5\"",
            "a number in a string",
        ),
        (
            "shadow.sample_rate",
            json!(1.5),
            "shadow.sample_rate must be from 0 to 1, got 1.5",
            "a rate above 1",
        ),
        (
            "guard.max_fallback_rate",
            json!(-0.001),
            "guard.max_fallback_rate must be from 0 to 1, got -0.001",
            "a negative rate",
        ),
        (
            "guard.min_compared",
            json!(-1),
            "guard.min_compared must be at least 0, got -1",
            "a negative count",
        ),
        (
            "guard.min_compared",
            json!(10.5),
            "guard.min_compared takes a whole number, got the number 10.5",
            "a fractional count",
        ),
        (
            "guard.window_seconds",
            json!(0),
            "guard.window_seconds must be from 1 to 2592000, got 0",
            "an empty window",
        ),
        (
            "cleanup.retention_seconds",
            json!(604_800_000),
            "cleanup.retention_seconds must be from 60 to 31536000, got 604800000",
            "seven days in milliseconds, not seconds",
        ),
        (
            "cleanup.retention_seconds",
            json!(0),
            "cleanup.retention_seconds must be from 60 to 31536000, got 0",
            "an isolate may still serve from KV for up to flags.cache_ttl_seconds after the flip",
        ),
        (
            "page.repeat_seconds",
            json!(60),
            "page.repeat_seconds must be from 300 to 604800, got 60",
            "a repeat shorter than the maintenance cron's 5 minutes would page every run",
        ),
        (
            "flags.cache_ttl_seconds",
            json!(60),
            "flags.cache_ttl_seconds must be from 1 to 10, got 60",
            "§3 caps the cache at 10 s",
        ),
        (
            "flags.cache_ttl_seconds",
            json!(null),
            "flags.cache_ttl_seconds takes a whole number, got null",
            "no value",
        ),
        (
            "guard.min_compared",
            json!(true),
            "guard.min_compared takes a whole number, got the boolean true",
            "a boolean",
        ),
    ];
    for (key, value, message, why) in cases {
        let error = validate(key, &value).unwrap_err();
        assert_eq!(error.to_string(), message, "{why}");
    }
}

#[test]
fn storage_phase_all_validates_into_one_setting_per_repository() {
    let validated = validate("storage.phase.all", &json!("dual_write")).unwrap();
    assert_eq!(validated.key(), FlagKey::AllPhases);
    let settings: Vec<(Flag, FlagValue)> = validated
        .settings()
        .iter()
        .map(|s| (s.flag(), s.value()))
        .collect();
    let want: Vec<(Flag, FlagValue)> = Repository::ALL
        .map(|r| (Flag::Phase(r), FlagValue::Phase(Phase::DualWrite)))
        .to_vec();
    assert_eq!(settings, want);
}

/// MIGRATION.md documents every flag (migration.md §3): a row of its flags table each.
#[test]
fn migration_md_documents_every_declared_flag() {
    let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/MIGRATION.md"))
        .expect("MIGRATION.md exists");
    for definition in definitions() {
        let row = format!("| `{}` |", definition.flag().name());
        assert!(guide.contains(&row), "MIGRATION.md has no row for {row}");
    }
}
