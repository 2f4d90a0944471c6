//! The shadow evidence tables (migration.md §7): counters add up per minute bucket, the
//! divergence ring keeps the newest records, recent writes are remembered for a minute.

use crate::helpers::{run, Backend, Fixture, T0};
use fear_greed_bot::storage::d1::{
    Count, Divergence, EvidenceStore, Publication, Written, DIVERGENCE_RING,
};

fn count(outcome: &str, count: i64, total_ms: i64) -> Count {
    Count {
        minute: T0,
        repository: "watchlists".into(),
        operation: "watchlists.watchlist".into(),
        outcome: outcome.into(),
        count,
        total_ms,
    }
}

fn divergence(i: i64) -> Divergence {
    Divergence {
        id: 0,
        observed_at: T0 + i,
        repository: "positions".into(),
        operation: "positions.position".into(),
        entity_key: i.to_string(),
        class: "value_mismatch".into(),
        diff: format!("diff {i}"),
    }
}

#[test]
fn counters_add_up_within_a_minute_bucket() {
    let f = Fixture::new(Backend::D1);
    let store = EvidenceStore::new(&f.platform);
    let publication = Publication {
        counts: vec![count("compared", 2, 0), count("latency.d1", 2, 9)],
        ..Default::default()
    };
    run(store.publish(&publication, 0)).unwrap();
    run(store.publish(&publication, 0)).unwrap();
    assert_eq!(
        run(store.counters_since(T0)).unwrap(),
        vec![count("compared", 4, 0), count("latency.d1", 4, 18)]
    );
    assert_eq!(run(store.counters_since(T0 + 60_000)).unwrap(), vec![]);
}

#[test]
fn the_divergence_ring_keeps_the_newest_records() {
    let f = Fixture::new(Backend::D1);
    let store = EvidenceStore::new(&f.platform);
    let publication = Publication {
        divergences: (0..DIVERGENCE_RING + 5).map(divergence).collect(),
        ..Default::default()
    };
    run(store.publish(&publication, 0)).unwrap();
    assert_eq!(f.count("SELECT COUNT(*) FROM divergences"), DIVERGENCE_RING);
    let latest = run(store.latest_divergences(2, None, None)).unwrap();
    assert_eq!(
        latest
            .iter()
            .map(|d| d.entity_key.as_str())
            .collect::<Vec<_>>(),
        ["1004", "1003"]
    );
    assert_eq!(latest[0].diff, "diff 1004");
}

#[test]
fn recent_writes_are_remembered_then_forgotten() {
    let f = Fixture::new(Backend::D1);
    let store = EvidenceStore::new(&f.platform);
    let wrote = |key: &str| Publication {
        writes: vec![Written {
            repository: "watchlists".into(),
            entity_key: key.into(),
        }],
        ..Default::default()
    };
    run(store.publish(&wrote("1"), 0)).unwrap();
    f.clock.advance(61_000);
    run(store.publish(&wrote("2"), f.clock_now() - 60_000)).unwrap();
    let keys: Vec<String> = run(store.written_since(0))
        .unwrap()
        .into_iter()
        .map(|w| w.entity_key)
        .collect();
    assert_eq!(keys, ["2"], "the write of a minute ago was forgotten");
}
