//! Shadow reads (migration.md §2): the user answered from D1 and KV read after the replies,
//! KV's answer served instead only as a counted fallback (D1 failed, or D1 lacks a record KV
//! has and no queued repair marks KV stale), and every read left behind as an observation.

use crate::helpers::{run, T0};
use crate::router::{
    buy, position, repair, repair_rows, routed_in, seed_different_positions, stores, CHAT,
};
use fear_greed_bot::domain::{ChatId, Position, Subscriber};
use fear_greed_bot::migration::experiment::Reading;
use fear_greed_bot::migration::repair::run_step;
use fear_greed_bot::migration::router::{routed, AfterReplies, Evidence, FallbackCause};
use fear_greed_bot::migration::{Phase, Phases};
use fear_greed_bot::platform::native::KvOp;
use fear_greed_bot::storage::d1::UpdateClaim;
use fear_greed_bot::storage::{Repos, Repository, Store};
use serde_json::json;
#[test]
fn shadow_read_returns_d1_value_and_records_the_observation() {
    let f = stores();
    seed_different_positions(&f);
    let (repos, evidence) = routed_in(&f, Phase::Shadow);
    let got = run(repos.positions.position(CHAT)).unwrap();
    assert_eq!(got, Some(position("D1", 2.0)));

    let collected = evidence.take();
    assert_eq!(collected.fallbacks, vec![]);
    let [observation] = collected.observations.as_slice() else {
        panic!("one observation: {collected:?}")
    };
    assert_eq!(observation.repository, Repository::Positions);
    assert_eq!(observation.operation, "positions.position");
    assert_eq!(observation.entity_key.as_deref(), Some("1"));
    assert_eq!(observation.served, Store::D1);
    assert_eq!(
        (observation.control.store, &observation.control.reading),
        (
            Store::D1,
            &Reading::Found(json!({"ticker": "D1", "entryPrice": 2.0}))
        )
    );
    assert_eq!(
        (observation.candidate.store, &observation.candidate.reading),
        (
            Store::Kv,
            &Reading::Found(json!({"ticker": "KV", "entryPrice": 1.0}))
        )
    );
    // The manual clock does not move during a read.
    assert_eq!(
        (
            observation.control.elapsed_ms,
            observation.candidate.elapsed_ms
        ),
        (0, 0)
    );
    assert_eq!(evidence.take(), Default::default(), "take empties the sink");
}

/// A shadow read that finds KV still differing from D1 read again queues KV to be reconciled
/// with D1, and the drain copies D1's value: no divergence the comparator sees is left
/// without a repair.
#[test]
fn a_divergence_the_comparator_confirms_queues_kv_for_reconciliation() {
    let f = stores();
    seed_different_positions(&f);
    let (repos, _) = routed_in(&f, Phase::Shadow);
    run(repos.positions.position(CHAT)).unwrap();
    assert_eq!(
        repair_rows(&f),
        vec![repair(Repository::Positions, "1", Store::Kv)]
    );
    f.clock.advance(61_000);
    run(run_step(&f.platform, Phases::uniform(Phase::Shadow), 10)).unwrap();
    assert_eq!(repair_rows(&f), vec![]);
    assert_eq!(
        run(Repos::kv(&f.platform).positions.position(CHAT)).unwrap(),
        Some(position("D1", 2.0))
    );
}

#[test]
fn shadow_read_returns_kv_value_when_d1_lacks_the_record() {
    let f = stores();
    let kv = Repos::kv(&f.platform);
    run(kv.executions.record(CHAT, &buy("SPY", 1.0, T0))).unwrap();
    run(kv.subscriptions.subscribe(CHAT)).unwrap();
    let (repos, evidence) = routed_in(&f, Phase::Shadow);

    assert_eq!(
        run(repos.executions.latest(CHAT)).unwrap(),
        Some(buy("SPY", 1.0, T0))
    );
    assert_eq!(run(repos.subscriptions.subscribers()).unwrap(), vec![CHAT]);

    let collected = evidence.take();
    assert_eq!(collected.fallback_count(Repository::Executions), 1);
    assert_eq!(collected.fallback_count(Repository::Subscriptions), 1);
    assert!(collected
        .fallbacks
        .iter()
        .all(|fallback| fallback.cause == FallbackCause::MissingInD1));
    assert!(collected.observations.iter().all(|o| o.served == Store::Kv));
    assert_eq!(collected.fallbacks[1].entity_key, None, "the whole list");
}

#[test]
fn shadow_read_returns_kv_value_when_d1_errors() {
    let f = stores();
    run(Repos::kv(&f.platform)
        .positions
        .set_position(CHAT, &position("SPY", 1.0)))
    .unwrap();
    f.db.run_script("DROP TABLE active_positions").unwrap();
    let (repos, evidence) = routed_in(&f, Phase::Shadow);
    assert_eq!(
        run(repos.positions.position(CHAT)).unwrap(),
        Some(position("SPY", 1.0))
    );
    let collected = evidence.take();
    assert_eq!(collected.fallback_count(Repository::Positions), 1);
    assert_eq!(collected.fallbacks[0].cause.as_str(), "d1_error");
    let observation = &collected.observations[0];
    assert!(matches!(observation.control.reading, Reading::Failed(_)));
    assert_eq!(observation.served, Store::Kv);
}

/// Found by the workerd fault soak: a D1 read that failed was answered from KV even while a
/// repair towards KV was queued for the entity, so the user saw a ticker they had just added
/// missing. The user now gets D1's error (the command's failure text), as when KV fails too.
#[test]
fn shadow_read_does_not_fall_back_to_kv_known_to_be_stale_when_d1_errors() {
    served_nothing_stale_after("DROP TABLE active_positions");
}

/// In shadow, a position change that reaches D1 only (KV keeps SPY, a repair towards KV is
/// queued); then `failure` runs on D1, and the read must give D1's error, not KV's SPY.
fn served_nothing_stale_after(failure: &str) {
    let f = stores();
    let (repos, _) = routed_in(&f, Phase::Shadow);
    run(repos.positions.set_position(CHAT, &position("SPY", 1.0))).unwrap();
    f.kv.fail(KvOp::Put, "active_position:");
    run(repos.positions.set_position(CHAT, &position("QQQ", 2.0))).unwrap();
    f.kv.heal();
    f.db.run_script(failure).unwrap();
    let (repos, evidence) = routed_in(&f, Phase::Shadow);
    let error = run(repos.positions.position(CHAT)).unwrap_err();
    assert!(error.to_string().contains("no such table"), "{error}");
    assert_eq!(evidence.take().fallbacks, vec![]);
}

/// Found by the workerd fault soak at 10 %: a removed ticker's KV half failed (a repair towards
/// KV queued), then a read met a failed D1 and failed lookups of that queue, and was answered
/// from KV as if current: the ticker was back. KV not known to be current is not served.
#[test]
fn shadow_read_does_not_fall_back_to_kv_it_cannot_check_when_d1_errors() {
    served_nothing_stale_after(
        "DROP TABLE active_positions; DROP TABLE repair_queue; DROP TABLE entity_versions",
    );
}

#[test]
fn shadow_read_when_both_stores_fail_returns_the_d1_error() {
    let f = stores();
    f.db.run_script("DROP TABLE active_positions").unwrap();
    f.kv.fail(KvOp::Get, "active_position:");
    let (repos, evidence) = routed_in(&f, Phase::Shadow);
    let error = run(repos.positions.position(CHAT)).unwrap_err();
    assert!(error.to_string().contains("no such table"), "{error}");
    let collected = evidence.take();
    assert_eq!(collected.fallbacks, vec![]);
    assert_eq!(collected.observations.len(), 1);
}

#[test]
fn shadow_read_does_not_fall_back_to_kv_known_to_be_stale() {
    let f = stores();
    let (repos, _) = routed_in(&f, Phase::Shadow);
    run(repos.positions.set_position(CHAT, &position("SPY", 1.0))).unwrap();
    run(repos.subscriptions.subscribe(CHAT)).unwrap();
    // The clear and the unsubscribe reach D1 only: KV still has what the user removed.
    f.kv.fail(KvOp::Delete, "active_position:");
    f.kv.fail(KvOp::Put, "chat_ids");
    run(repos.positions.clear_position(CHAT)).unwrap();
    run(repos.subscriptions.unsubscribe(CHAT)).unwrap();
    f.kv.heal();
    assert!(f.kv.peek("active_position:1").is_some());

    let (repos, evidence) = routed_in(&f, Phase::Shadow);
    assert_eq!(run(repos.positions.position(CHAT)).unwrap(), None);
    assert_eq!(run(repos.subscriptions.subscribers()).unwrap(), vec![]);
    let collected = evidence.take();
    assert_eq!(collected.fallbacks, vec![]);
    assert!(collected.observations.iter().all(|o| o.served == Store::D1));
}

#[test]
fn shadow_read_does_not_fall_back_to_kv_while_d1_changed_the_entity_recently() {
    // Another request cleared the position in D1 a moment ago; its KV write has not landed
    // (queued behind its replies, or still propagating), and nothing failed.
    let f = stores();
    run(Repos::kv(&f.platform)
        .positions
        .set_position(CHAT, &position("SPY", 1.0)))
    .unwrap();
    let d1 = Repos::d1(&f.platform);
    run(d1.positions.set_position(CHAT, &position("SPY", 1.0))).unwrap();
    run(d1.positions.clear_position(CHAT)).unwrap();

    let (repos, evidence) = routed_in(&f, Phase::Shadow);
    assert_eq!(run(repos.positions.position(CHAT)).unwrap(), None);
    assert_eq!(evidence.take().fallbacks, vec![]);
}

#[test]
fn a_kv_write_queued_behind_the_replies_is_not_served_in_the_meantime() {
    let f = stores();
    let (repos, _) = routed_in(&f, Phase::Shadow);
    run(repos.positions.set_position(CHAT, &position("SPY", 1.0))).unwrap();
    run(repos.subscriptions.subscribe(CHAT)).unwrap();

    let later = AfterReplies::queued();
    let evidence = Evidence::default();
    let phases = Phases::uniform(Phase::Shadow);
    let repos = routed(
        &f.platform,
        phases,
        evidence.clone(),
        later.clone(),
        UpdateClaim::none(),
    );
    run(repos.positions.clear_position(CHAT)).unwrap();
    run(repos.subscriptions.unsubscribe(CHAT)).unwrap();
    assert!(f.kv.peek("active_position:1").is_some(), "KV's write waits");
    assert_eq!(f.kv.peek("chat_ids").as_deref(), Some("[1]"));
    assert_eq!(run(repos.positions.position(CHAT)).unwrap(), None);
    assert_eq!(run(repos.subscriptions.subscribers()).unwrap(), vec![]);
    assert_eq!(evidence.take().fallbacks, vec![]);

    run(later.run());
    assert_eq!(f.kv.peek("active_position:1"), None);
    assert_eq!(f.kv.peek("chat_ids").as_deref(), Some("[]"));
}

#[test]
fn kv_is_read_after_the_replies_unless_d1_lacks_the_record() {
    let f = stores();
    seed_different_positions(&f);
    run(Repos::kv(&f.platform)
        .executions
        .record(CHAT, &buy("SPY", 1.0, T0)))
    .unwrap();
    let later = AfterReplies::queued();
    let evidence = Evidence::default();
    let phases = Phases::uniform(Phase::Shadow);
    let repos = routed(
        &f.platform,
        phases,
        evidence.clone(),
        later.clone(),
        UpdateClaim::none(),
    );
    f.kv.reset_counts();

    // D1 has the position: the user gets it without KV being asked.
    assert_eq!(
        run(repos.positions.position(CHAT)).unwrap(),
        Some(position("D1", 2.0))
    );
    assert_eq!(f.kv.counts().total(), 0, "KV waits for the replies");
    assert_eq!(
        evidence.take().observations,
        vec![],
        "nothing to compare yet"
    );

    // D1 has no execution: KV may have one, and is read at once.
    assert_eq!(
        run(repos.executions.latest(CHAT)).unwrap(),
        Some(buy("SPY", 1.0, T0))
    );
    assert_eq!(f.kv.counts().get, 1);
    let collected = evidence.take();
    assert_eq!(collected.fallback_count(Repository::Executions), 1);

    run(later.run());
    assert_eq!(f.kv.counts().get, 2);
    let [observation] = evidence.take().observations.try_into().unwrap();
    assert_eq!(observation.operation, "positions.position");
    assert_eq!(observation.served, Store::D1);
    assert_eq!(
        observation.candidate.reading,
        Reading::Found(json!({"ticker": "KV", "entryPrice": 1.0}))
    );
}

#[test]
fn kv_read_after_the_replies_is_compared_with_d1_as_it_is_by_then() {
    let f = stores();
    let (kv, d1) = (Repos::kv(&f.platform), Repos::d1(&f.platform));
    let both = |p: Position| {
        run(kv.positions.set_position(CHAT, &p)).unwrap();
        run(d1.positions.set_position(CHAT, &p)).unwrap();
    };
    let entry = |price: f64| Reading::Found(json!({"ticker": "SPY", "entryPrice": price}));
    let later = AfterReplies::queued();
    let evidence = Evidence::default();
    // A request's repositories (KV's remember what they read until the request ends).
    let request = || {
        let phases = Phases::uniform(Phase::Shadow);
        routed(
            &f.platform,
            phases,
            evidence.clone(),
            later.clone(),
            UpdateClaim::none(),
        )
    };

    both(position("SPY", 1.0));
    assert_eq!(
        run(request().positions.position(CHAT)).unwrap(),
        Some(position("SPY", 1.0))
    );
    f.db.reset_round_trips();
    run(later.run());
    let [agreed] = evidence.take().observations.try_into().unwrap();
    assert_eq!(
        (agreed.control.reading, agreed.candidate.reading),
        (entry(1.0), entry(1.0))
    );
    assert_eq!(f.db.round_trips(), 0, "no recheck when KV agrees");

    // Another request moves the position in both stores before this one's replies are out.
    assert_eq!(
        run(request().positions.position(CHAT)).unwrap(),
        Some(position("SPY", 1.0))
    );
    both(position("SPY", 2.0));
    f.db.reset_round_trips();
    run(later.run());
    let [rechecked] = evidence.take().observations.try_into().unwrap();
    assert_eq!(
        (rechecked.control.reading, rechecked.candidate.reading),
        (entry(2.0), entry(2.0)),
        "KV compared with D1 as it is when KV is read"
    );
    assert_eq!(f.db.round_trips(), 1, "D1 read again because KV differed");

    // A KV error is no reason to read D1 again.
    assert!(run(request().positions.position(CHAT)).is_ok());
    f.kv.fail(KvOp::Get, "active_position:");
    f.db.reset_round_trips();
    run(later.run());
    let [failed] = evidence.take().observations.try_into().unwrap();
    assert!(matches!(failed.candidate.reading, Reading::Failed(_)));
    assert_eq!(f.db.round_trips(), 0);
}

#[test]
fn strays_are_kv_only_up_to_dual_write_and_invisible_from_shadow() {
    let stray = Subscriber::Stray(json!("blocked_user"));
    let chats = || {
        vec![
            Subscriber::Chat(ChatId::new(1)),
            Subscriber::Chat(ChatId::new(2)),
        ]
    };
    let seeded = || {
        let f = stores();
        f.kv.seed("chat_ids", r#"[1,"blocked_user",2]"#);
        let d1 = Repos::d1(&f.platform);
        for id in [1, 2] {
            run(d1.subscriptions.subscribe(ChatId::new(id))).unwrap();
        }
        f.db.reset_round_trips();
        f
    };

    let f = seeded();
    let (repos, _) = routed_in(&f, Phase::DualWrite);
    let entries = run(repos.subscriptions.entries()).unwrap();
    assert_eq!(entries[1], stray);
    assert!(run(repos.subscriptions.forget(&stray)).unwrap());
    assert_eq!(f.kv.peek("chat_ids").as_deref(), Some("[1,2]"));
    assert_eq!(f.db.round_trips(), 0, "D1 never held the stray");

    let f = seeded();
    let (repos, evidence) = routed_in(&f, Phase::Shadow);
    assert_eq!(run(repos.subscriptions.entries()).unwrap(), chats());
    assert!(!run(repos.subscriptions.forget(&stray)).unwrap());
    assert_eq!(
        f.kv.peek("chat_ids").as_deref(),
        Some(r#"[1,"blocked_user",2]"#)
    );
    let observation = &evidence.take().observations[0];
    assert_eq!(
        observation.control.reading, observation.candidate.reading,
        "a stray is not a divergence"
    );
}
