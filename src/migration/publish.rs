//! After the response (migration.md §2, §7): what one request's routed repositories collected
//! becomes counters, divergence records with their diffs, and log events, written to D1 in one
//! batch (the counters gathered per isolate first, see `buffer`). Nothing here runs on the
//! user's critical path, and nothing here can fail a request: a failed publication is logged
//! and dropped.

use super::buffer::{CounterBuffer, Flush};
use super::experiment::{agree, compare, sampled, Outcome, KV_PROPAGATION_MS};
use super::router::Collected;
use super::tally;
use crate::platform::{MetricPoint, MetricSink, Platform};
use crate::storage::d1::{Count, Divergence, EntityVersions, EvidenceStore, Publication};
use crate::storage::Repository;
use std::collections::{BTreeMap, HashSet};

/// Everything one request observed about the move.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Observed {
    /// What the routed repositories collected.
    pub collected: Collected,
    /// Failed reads of `settings` (the flags came from the last good read or the default).
    pub settings_unreadable: u64,
    /// The maintenance cron's steps that failed, by name.
    pub maintenance_failed: Vec<&'static str>,
}

/// Compares the sampled shadow reads (`sample_rate`, 0.0–1.0) and writes everything the
/// request observed: its divergence records at once, its counters through the isolate's
/// `buffer` (now, or after a wait by this request, or by another request). The caller skips
/// a request that observed nothing (`Observed::default()`).
pub(crate) async fn publish(
    platform: &Platform,
    sample_rate: f64,
    observed: Observed,
    analytics: Option<&dyn MetricSink>,
    buffer: &CounterBuffer,
) {
    let Observed {
        collected,
        settings_unreadable,
        maintenance_failed,
    } = observed;
    let store = EvidenceStore::new(platform);
    let now = platform.clock.now_ms();
    let recent = recently_written(platform, &collected).await;
    let mut publication = tally_up(&collected, now, &recent, || sampled(sample_rate, draw()));
    if settings_unreadable > 0 {
        publication.counts.push(Count {
            minute: tally::minute_of(now),
            repository: tally::FLAGS.into(),
            operation: "settings.all".into(),
            outcome: tally::SETTINGS_UNREADABLE.into(),
            count: i64::try_from(settings_unreadable).unwrap_or(i64::MAX),
            total_ms: 0,
        });
    }
    for step in maintenance_failed {
        publication.counts.push(Count {
            minute: tally::minute_of(now),
            repository: tally::MAINTENANCE.into(),
            operation: step.into(),
            outcome: tally::FAILED.into(),
            count: 1,
            total_ms: 0,
        });
    }
    if let Some(sink) = analytics {
        // At most a few dozen counters per request: well under the 250 points per invocation.
        for c in &publication.counts {
            sink.write(&MetricPoint {
                index: c.repository.clone(),
                blobs: vec![c.repository.clone(), c.operation.clone(), c.outcome.clone()],
                doubles: vec![c.count as f64, c.total_ms as f64],
            });
        }
    }
    let Publication {
        counts,
        divergences,
    } = publication;
    let urgent = !divergences.is_empty();
    let flush = buffer.plan(counts, now, urgent);
    match flush {
        Flush::Held if !urgent => return,
        Flush::After(ms) => platform.clock.sleep(ms.unsigned_abs()).await,
        _ => {}
    }
    let publication = Publication {
        counts: buffer.take(),
        divergences,
    };
    if let Err(error) = store.publish(&publication).await {
        tracing::error!(error = %error, "shadow evidence not published; its counters are held for the next write");
        buffer.put_back(publication.counts, platform.clock.now_ms());
    }
}

/// A uniform draw in [0, 1) for the sample, straight from the system's randomness
/// (`crypto.getRandomValues` in the worker): one draw per compared read needs no seeded
/// generator, and the upload none of its code.
fn draw() -> f64 {
    use rand::RngExt;
    rand::rand_core::UnwrapErr(rand::rngs::SysRng).random()
}

/// The entities whose KV copy may still be settling: those this request wrote, and those of
/// the reads where the stores disagree that D1 changed within the KV propagation window (by
/// this request or another). Only a disagreement costs a lookup, of that one entity
/// (`entity_versions`, by its key), so the check reads no more as writes flow faster.
async fn recently_written(
    platform: &Platform,
    collected: &Collected,
) -> HashSet<(Repository, Option<String>)> {
    let mut recent: HashSet<(Repository, Option<String>)> = collected
        .writes
        .iter()
        .map(|(repository, key)| (*repository, Some(key.clone())))
        .collect();
    let versions = EntityVersions::new(platform);
    for o in &collected.observations {
        let entity = (o.repository, o.entity_key.clone());
        if agree(&o.control.reading, &o.candidate.reading) || recent.contains(&entity) {
            continue;
        }
        let key = o.entity_key.as_deref();
        match versions
            .changed_within(o.repository, key, KV_PROPAGATION_MS)
            .await
        {
            Ok(true) => {
                recent.insert(entity);
            }
            Ok(false) => {}
            // Without it a mismatch on a fresh write reads as a divergence: noisier, not wrong.
            Err(error) => tracing::warn!(error = %error, "entity versions unreadable"),
        }
    }
    recent
}

/// The publication for `collected`: every observation counted as a read with each store's
/// latency, the sampled ones compared; fallbacks and failed second writes counted.
fn tally_up(
    collected: &Collected,
    now: i64,
    recent: &HashSet<(Repository, Option<String>)>,
    mut sample: impl FnMut() -> bool,
) -> Publication {
    let minute = tally::minute_of(now);
    let mut counts: BTreeMap<(String, &'static str, String), (i64, i64)> = BTreeMap::new();
    let mut add = |repository: &str, operation: &'static str, outcome: String, ms: i64| {
        let entry = counts
            .entry((repository.to_owned(), operation, outcome))
            .or_default();
        entry.0 += 1;
        entry.1 += ms;
    };
    let mut divergences = Vec::new();
    for o in &collected.observations {
        let repository = o.repository.as_str();
        add(repository, o.operation, tally::READ.into(), 0);
        for m in [&o.control, &o.candidate] {
            add(
                repository,
                o.operation,
                tally::latency(m.store.as_str()),
                m.elapsed_ms,
            );
        }
        if !sample() {
            continue;
        }
        add(repository, o.operation, tally::COMPARED.into(), 0);
        let is_recent = recent.contains(&(o.repository, o.entity_key.clone()));
        let key = o.entity_key.clone().unwrap_or_else(|| "*".into());
        match compare(&o.control.reading, &o.candidate.reading, is_recent) {
            Outcome::Matched => add(repository, o.operation, tally::MATCHED.into(), 0),
            Outcome::Mismatched { class, diff } => {
                add(repository, o.operation, tally::divergence(class), 0);
                tracing::warn!(
                    repository,
                    operation = o.operation,
                    entity_key = %key,
                    class = class.as_str(),
                    served = %o.served,
                    diff = %diff,
                    "shadow divergence"
                );
                divergences.push(Divergence {
                    id: 0,
                    observed_at: now,
                    repository: repository.to_owned(),
                    operation: o.operation.to_owned(),
                    entity_key: key,
                    class: class.as_str().to_owned(),
                    diff,
                });
            }
        }
    }
    for f in &collected.fallbacks {
        add(
            f.repository.as_str(),
            f.operation,
            tally::fallback(f.cause.as_str()),
            0,
        );
    }
    for w in &collected.write_failures {
        add(
            w.repository.as_str(),
            w.operation,
            tally::write_failure(w.target.as_str()),
            0,
        );
    }
    Publication {
        counts: counts
            .into_iter()
            .map(
                |((repository, operation, outcome), (count, total_ms))| Count {
                    minute,
                    repository,
                    operation: operation.to_owned(),
                    outcome,
                    count,
                    total_ms,
                },
            )
            .collect(),
        divergences,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration::experiment::Reading;
    use crate::migration::router::{Measurement, Observation};
    use crate::storage::{Repository, Store};
    use serde_json::json;

    fn observation(key: &str, d1: Reading, kv: Reading) -> Observation {
        let measure = |store, reading| Measurement {
            store,
            reading,
            elapsed_ms: 4,
        };
        Observation {
            repository: Repository::Positions,
            operation: "positions.position",
            entity_key: Some(key.into()),
            control: measure(Store::D1, d1),
            candidate: measure(Store::Kv, kv),
            served: Store::D1,
        }
    }

    fn outcomes(publication: &Publication) -> Vec<(String, i64, i64)> {
        publication
            .counts
            .iter()
            .map(|c| (c.outcome.clone(), c.count, c.total_ms))
            .collect()
    }

    #[test]
    fn every_read_is_counted_with_its_latency_and_sampled_ones_are_compared() {
        let same = || Reading::Found(json!({"ticker": "SPY"}));
        let collected = Collected {
            observations: vec![
                observation("1", same(), same()),
                observation("2", same(), Reading::Found(json!({"ticker": "QQQ"}))),
                observation("3", same(), same()),
            ],
            ..Collected::default()
        };
        // The third read is not in the sample.
        let mut draws = [true, true, false].into_iter();
        let publication = tally_up(&collected, 90_000, &HashSet::new(), || {
            draws.next().unwrap()
        });
        assert_eq!(
            outcomes(&publication),
            [
                ("compared".into(), 2, 0),
                ("divergence.value_mismatch".into(), 1, 0),
                ("latency.d1".into(), 3, 12),
                ("latency.kv".into(), 3, 12),
                ("matched".into(), 1, 0),
                ("read".into(), 3, 0),
            ]
        );
        assert!(publication.counts.iter().all(|c| c.minute == 60_000));
        let [divergence] = publication.divergences.as_slice() else {
            panic!("one divergence");
        };
        assert_eq!(
            (divergence.entity_key.as_str(), divergence.class.as_str()),
            ("2", "value_mismatch")
        );
        assert!(divergence
            .diff
            .contains("-  \"ticker\": \"SPY\"\n+  \"ticker\": \"QQQ\""));
    }

    #[test]
    fn a_mismatch_on_a_recent_write_is_stale_kv_not_a_divergence() {
        let collected = Collected {
            observations: vec![observation(
                "1",
                Reading::Found(json!(1)),
                Reading::Found(json!(2)),
            )],
            ..Collected::default()
        };
        let recent = HashSet::from([(Repository::Positions, Some("1".to_owned()))]);
        let publication = tally_up(&collected, 0, &recent, || true);
        assert!(outcomes(&publication).contains(&("divergence.stale_kv_suspected".into(), 1, 0)));
    }

    #[test]
    fn the_systems_draws_are_uniform_so_a_rate_samples_its_share() {
        let draws: Vec<f64> = (0..10_000).map(|_| draw()).collect();
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        let sampled_of = |rate: f64| draws.iter().filter(|d| sampled(rate, **d)).count();
        assert_eq!((sampled_of(0.0), sampled_of(1.0)), (0, 10_000));
        // Half of 10,000 draws, within ten standard deviations (50 each).
        let half = sampled_of(0.5);
        assert!((4_500..=5_500).contains(&half), "{half} of 10,000 at 0.5");
    }

    #[test]
    fn at_sample_rate_zero_nothing_is_compared() {
        let collected = Collected {
            observations: vec![observation("1", Reading::Missing, Reading::Found(json!(1)))],
            ..Collected::default()
        };
        let publication = tally_up(&collected, 0, &HashSet::new(), || sampled(0.0, 0.0));
        assert!(publication.divergences.is_empty());
        assert!(!outcomes(&publication).iter().any(|(o, ..)| o == "compared"));
    }
}
