//! The shadow evidence tables (migration.md §7): counters add up per minute bucket, the
//! divergence ring keeps the newest records, recent writes are remembered for a minute.

use crate::helpers::{run, Backend, Fixture, T0};
use fear_greed_bot::storage::d1::{Count, Divergence, EvidenceStore, Publication, DIVERGENCE_RING};

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
    run(store.publish(&publication)).unwrap();
    run(store.publish(&publication)).unwrap();
    assert_eq!(
        run(store.counters_since(T0)).unwrap(),
        vec![count("compared", 4, 0), count("latency.d1", 4, 18)]
    );
    assert_eq!(run(store.counters_since(T0 + 60_000)).unwrap(), vec![]);
}

/// A request that waited to flush the counters may find another flushed them: it publishes
/// nothing, and sends D1 nothing (D1 refuses an empty batch, which was logged as an error).
#[test]
fn an_empty_publication_asks_d1_nothing() {
    let f = Fixture::new(Backend::D1);
    let store = EvidenceStore::new(&f.platform);
    f.db.reset_round_trips();
    run(store.publish(&Publication::default())).unwrap();
    assert_eq!(f.db.round_trips(), 0);
}

#[test]
fn the_divergence_ring_keeps_the_newest_records() {
    let f = Fixture::new(Backend::D1);
    let store = EvidenceStore::new(&f.platform);
    let publication = Publication {
        divergences: (0..DIVERGENCE_RING + 5).map(divergence).collect(),
        ..Default::default()
    };
    run(store.publish(&publication)).unwrap();
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
