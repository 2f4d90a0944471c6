//! Flags in D1: changes with their history, and the per-isolate cache over `settings`.

use super::{current, d1, rows, set, setting, store_raw, OPERATOR};
use crate::helpers::{run, T0};
use fear_greed_bot::migration::flags::{Flag, Flags, Source};
use fear_greed_bot::migration::{Change, FlagCache, Phase, Phases};
use fear_greed_bot::storage::Repository;
use serde_json::json;

#[test]
fn setting_a_flag_upserts_its_row_and_appends_history_with_old_and_new_values() {
    let f = d1();
    let cache = FlagCache::default();
    set(
        &f,
        &cache,
        "storage.phase.watchlists",
        json!("dual_write"),
        OPERATOR,
    );
    f.clock.advance(60_000);
    let forced = Change {
        by: "bob",
        reason: "incident 42: guard rail data lost",
        forced: true,
        restore: "",
    };
    set(
        &f,
        &cache,
        "storage.phase.watchlists",
        json!("shadow"),
        forced,
    );
    set(&f, &cache, "shadow.sample_rate", json!(0.5), OPERATOR);

    assert_eq!(
        rows(
            &f,
            "SELECT key, value, updated_at, updated_by, reason FROM settings ORDER BY key"
        ),
        [
            json!({"key": "shadow.sample_rate", "value": "0.5", "updated_at": T0 + 60_000,
                   "updated_by": "alice", "reason": "step 2 of the runbook"}),
            json!({"key": "storage.phase.watchlists", "value": "shadow", "updated_at": T0 + 60_000,
                   "updated_by": "bob", "reason": "incident 42: guard rail data lost"}),
        ]
    );
    assert_eq!(
        rows(
            &f,
            "SELECT key, old_value, new_value, changed_at, changed_by, reason, forced \
             FROM settings_history ORDER BY id"
        ),
        [
            json!({"key": "storage.phase.watchlists", "old_value": null, "new_value": "dual_write",
                   "changed_at": T0, "changed_by": "alice", "reason": "step 2 of the runbook",
                   "forced": 0}),
            json!({"key": "storage.phase.watchlists", "old_value": "dual_write",
                   "new_value": "shadow", "changed_at": T0 + 60_000, "changed_by": "bob",
                   "reason": "incident 42: guard rail data lost", "forced": 1}),
            json!({"key": "shadow.sample_rate", "old_value": null, "new_value": "0.5",
                   "changed_at": T0 + 60_000, "changed_by": "alice",
                   "reason": "step 2 of the runbook", "forced": 0}),
        ]
    );
    let flags = current(&f, &cache);
    assert_eq!(flags.phase(Repository::Watchlists), Phase::Shadow);
    assert_eq!(flags.sample_rate(), 0.5);
}

#[test]
fn a_flag_change_is_one_round_trip() {
    let f = d1();
    f.db.reset_round_trips();
    set(
        &f,
        &FlagCache::default(),
        "guard.min_compared",
        json!(10),
        OPERATOR,
    );
    assert_eq!(f.db.round_trips(), 1);
}

#[test]
fn a_flag_change_whose_history_cannot_be_written_is_not_made() {
    let f = d1();
    let cache = FlagCache::default();
    set(
        &f,
        &cache,
        "storage.phase.cache",
        json!("dual_write"),
        OPERATOR,
    );
    f.db.run_script(
        "CREATE TRIGGER no_history BEFORE INSERT ON settings_history \
         BEGIN SELECT RAISE(ABORT, 'disk full'); END",
    )
    .unwrap();

    let refused = run(cache.set(
        &f.platform,
        setting("storage.phase.cache", json!("shadow")),
        OPERATOR,
    ));
    assert!(refused.is_err());
    assert_eq!(
        rows(
            &f,
            "SELECT value FROM settings WHERE key = 'storage.phase.cache'"
        ),
        [json!({"value": "dual_write"})]
    );
    assert_eq!(
        current(&f, &cache).phase(Repository::Cache),
        Phase::DualWrite
    );
}

#[test]
fn flags_are_read_once_per_ttl() {
    let f = d1();
    let cache = FlagCache::default();
    f.db.reset_round_trips();
    assert_eq!(
        current(&f, &cache).phase(Repository::Positions),
        Phase::KvOnly
    );
    assert_eq!(f.db.round_trips(), 1);

    // Another isolate's change: not seen until this isolate's TTL (10 s by default) ends.
    store_raw(&f, "storage.phase.positions", "dual_write");
    f.db.reset_round_trips();
    f.clock.advance(9_999);
    assert_eq!(
        current(&f, &cache).phase(Repository::Positions),
        Phase::KvOnly
    );
    assert_eq!(f.db.round_trips(), 0);

    f.clock.advance(1);
    assert_eq!(
        current(&f, &cache).phase(Repository::Positions),
        Phase::DualWrite
    );
    assert_eq!(f.db.round_trips(), 1);
}

#[test]
fn the_ttl_is_itself_a_flag() {
    let f = d1();
    let cache = FlagCache::default();
    store_raw(&f, "flags.cache_ttl_seconds", "2");
    assert_eq!(current(&f, &cache).cache_ttl_ms(), 2_000);
    store_raw(&f, "storage.phase.cache", "shadow");
    f.clock.advance(1_999);
    assert_eq!(current(&f, &cache).phase(Repository::Cache), Phase::KvOnly);
    f.clock.advance(1);
    assert_eq!(current(&f, &cache).phase(Repository::Cache), Phase::Shadow);
}

#[test]
fn a_clock_that_goes_back_does_not_stretch_the_ttl() {
    let f = d1();
    let cache = FlagCache::default();
    current(&f, &cache);
    store_raw(&f, "storage.phase.cache", "shadow");
    f.clock.advance(-1);
    assert_eq!(current(&f, &cache).phase(Repository::Cache), Phase::Shadow);
}

#[test]
fn a_change_is_seen_at_once_by_the_isolate_that_made_it() {
    let f = d1();
    let cache = FlagCache::default();
    assert_eq!(
        current(&f, &cache).phase(Repository::Executions),
        Phase::KvOnly
    );
    set(
        &f,
        &cache.clone(),
        "storage.phase.executions",
        json!("dual_write"),
        OPERATOR,
    );
    assert_eq!(
        current(&f, &cache).phase(Repository::Executions),
        Phase::DualWrite
    );
}

#[test]
fn unreadable_settings_keep_the_last_good_flags_and_are_counted() {
    let f = d1();
    let cache = FlagCache::default();
    set(
        &f,
        &cache,
        "storage.phase.subscriptions",
        json!("dual_write"),
        OPERATOR,
    );
    let good = current(&f, &cache);
    assert_eq!(good.phase(Repository::Subscriptions), Phase::DualWrite);
    assert_eq!(cache.settings_read_failures(), 0);

    f.db.run_script("DROP TABLE settings").unwrap();
    f.clock.advance(10_000);
    f.db.reset_round_trips();
    assert_eq!(run(cache.current(&f.platform, Phase::D1Only)), good);
    assert_eq!((f.db.round_trips(), cache.settings_read_failures()), (1, 1));

    // The failed read is not retried within the TTL, then is, and is counted again.
    f.clock.advance(9_999);
    assert_eq!(current(&f, &cache), good);
    assert_eq!((f.db.round_trips(), cache.settings_read_failures()), (1, 1));
    f.clock.advance(1);
    assert_eq!(current(&f, &cache), good);
    assert_eq!((f.db.round_trips(), cache.settings_read_failures()), (2, 2));
}

#[test]
fn unreadable_settings_never_read_give_storage_phase_default_and_are_counted() {
    let f = d1();
    store_raw(&f, "storage.phase.watchlists", "d1_only");
    store_raw(&f, "shadow.sample_rate", "0.5");
    f.db.run_script("ALTER TABLE settings RENAME TO settings_away")
        .unwrap();
    let cache = FlagCache::default();

    let flags = run(cache.current(&f.platform, Phase::DualWrite));
    assert_eq!(flags, Flags::defaults(Phase::DualWrite));
    assert_eq!(flags.phases(), Phases::uniform(Phase::DualWrite));
    assert_eq!(
        flags.source(Flag::Phase(Repository::Watchlists)),
        Source::Default
    );
    assert_eq!(cache.settings_read_failures(), 1);

    // Defaults are not a good read: the next call tries again, and counts again.
    run(cache.current(&f.platform, Phase::DualWrite));
    assert_eq!(cache.settings_read_failures(), 2);

    f.db.run_script("ALTER TABLE settings_away RENAME TO settings")
        .unwrap();
    let flags = run(cache.current(&f.platform, Phase::DualWrite));
    assert_eq!(flags.phase(Repository::Watchlists), Phase::D1Only);
    assert_eq!(flags.phase(Repository::Cache), Phase::DualWrite);
    assert_eq!(flags.sample_rate(), 0.5);
    assert_eq!(cache.settings_read_failures(), 2);
}

#[test]
fn invalid_and_unknown_settings_rows_are_ignored() {
    let f = d1();
    for (key, value) in [
        ("storage.phase.cache", "d1only"),
        ("storage.phase.positions", "\"shadow\""),
        ("shadow.sample_rate", "2"),
        ("guard.window_seconds", "a day"),
        ("storage.phase.all", "shadow"),
        ("shadow.enabled", "true"),
        // The one valid row.
        ("guard.min_compared", "500"),
    ] {
        store_raw(&f, key, value);
    }
    let cache = FlagCache::default();
    let flags = run(cache.current(&f.platform, Phase::Shadow));

    let defaults = Flags::defaults(Phase::Shadow);
    assert_eq!(flags.guards().min_compared, 500, "the valid row is applied");
    assert_eq!(flags.source(Flag::GuardMinCompared), Source::Settings);
    for flag in Flag::ALL
        .into_iter()
        .filter(|f| *f != Flag::GuardMinCompared)
    {
        assert_eq!(flags.value(flag), defaults.value(flag), "{flag}");
        assert_eq!(flags.source(flag), Source::Default, "{flag}");
    }
    assert_eq!(
        cache.settings_read_failures(),
        0,
        "a bad row is not a failed read"
    );
    f.db.reset_round_trips();
    assert_eq!(current(&f, &cache), flags);
    assert_eq!(f.db.round_trips(), 0, "the read is cached as a good one");
}
