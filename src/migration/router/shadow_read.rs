//! The shadow read: D1 answers the user, KV is read for the comparator (after the replies
//! when D1 has the record), and KV answers instead only as a counted fallback.

use super::evidence::{Evidence, Fallback, FallbackCause, Measurement, Observation};
use super::read_answer::{AnyAnswer, ReadAnswer};
use super::route::{Read, Route, StoreCall};
use crate::migration::experiment::{agree, Reading, KV_PROPAGATION_MS};
use crate::migration::Phase;
use crate::platform::Clock;
use crate::storage::d1::RepairQueue;
use crate::storage::{Repository, StorageError, StorageResult, Store};
use futures_util::future::join;
use std::rc::Rc;

impl Route {
    /// The shadow read: D1 (the control) answers, and KV (the candidate) is read for the
    /// comparator. When D1 has the record, or has none but is vouched complete by the guard
    /// rails ([`d1_vouched`](crate::migration::Caution::d1_vouched)), the user gets D1's answer at once and KV is read after
    /// the replies ([`AfterReplies`](super::AfterReplies)), so KV adds no latency; when KV then
    /// answers a value that differs from D1's answer, D1 is read again (`recheck`) and KV is
    /// compared with that, so a change made while the request ran on (a broadcast,
    /// `/subscribers`) is not counted as a divergence. When D1 fails, or has no record and is
    /// not vouched for, KV's answer may be the user's, so KV is read at once, and the user gets
    /// it as a *fallback* when
    ///
    /// - D1 failed or has no record where KV has one, and KV is known to be current: no queued
    ///   repair says KV missed a write, and D1 did not change the entity within KV's window.
    ///
    /// That condition matters: in shadow a failed KV write leaves KV with a record D1 no
    /// longer has (a removed ticker, a cleared position, a last unsubscribe), and serving it
    /// would undo a write the user saw succeed. So does a KV write still queued behind the
    /// replies, which is why an entity this request wrote is never served from KV. The lookups
    /// run only on this rare path, so the common read costs no extra query. If they fail too,
    /// KV is not known to be current, and the user gets D1's answer (its error: the spec's
    /// error reply) rather than a value that may undo a write (found by the fault soak).
    ///
    /// Either way the pair is recorded as an [`Observation`] for the comparator.
    ///
    /// Why KV waits for D1 rather than running beside it: only a missing or failed D1 answer
    /// needs KV's before the reply, and a store that shares the worker's process (Miniflare,
    /// `wrangler dev`) runs the two reads one after the other anyway, so a concurrent KV read
    /// would cost every reply its full time (MIGRATION.md, "Shadow reads"). Why a vouched D1's
    /// "no record" does not wait for KV: the rails checked that D1 holds every record KV held
    /// before dual writes, and every write since reached D1 first or queued its repair, so a
    /// KV read there would only catch a bug, which the comparison after the replies reports
    /// as a `missing_in_d1` divergence anyway, at the price of a KV read before every such
    /// reply (MIGRATION.md, "Shadow reads").
    pub(super) async fn shadow(&self, read: Read<'_, AnyAnswer>) -> StorageResult<AnyAnswer> {
        let Read {
            operation,
            entity_key,
            kv,
            d1,
            recheck,
        } = read;
        let (control, control_measured) = measure(Store::D1, self.clock.as_ref(), d1).await;
        let pending = Pending {
            repository: self.repository,
            operation,
            entity_key: entity_key.map(str::to_owned),
            control: control_measured,
        };
        let vouched = self.caution().await.d1_vouched;
        if matches!(&control, Ok(answer) if vouched || !answer.is_absent()) {
            let (clock, evidence) = (self.clock.clone(), self.evidence.clone());
            let repairs = self.repairs.clone();
            let compare = pending.compare_later(clock, evidence, repairs, kv, recheck);
            self.later.start(compare).await;
            return control;
        }

        let (candidate, candidate_measured) = measure(Store::Kv, self.clock.as_ref(), kv).await;
        let (answer, served) = match (control, candidate) {
            (Ok(d1), Ok(kv)) if d1.is_absent() && !kv.is_absent() => {
                if self.kv_known_stale(operation, entity_key).await {
                    (Ok(d1), Store::D1)
                } else {
                    self.fall_back(
                        Phase::Shadow,
                        operation,
                        entity_key,
                        FallbackCause::MissingInD1,
                    );
                    (Ok(kv), Store::Kv)
                }
            }
            (Ok(d1), _) => (Ok(d1), Store::D1),
            // KV may be older than what D1 failed to give: this request's own write, a queued
            // repair towards KV, a change of the last 60 s. The user sees D1's error then.
            (Err(error), Ok(kv)) => {
                if self.kv_known_stale(operation, entity_key).await {
                    (Err(error), Store::D1)
                } else {
                    self.fall_back(
                        Phase::Shadow,
                        operation,
                        entity_key,
                        FallbackCause::D1Error(error.to_string()),
                    );
                    (Ok(kv), Store::Kv)
                }
            }
            // Nothing to fall back to: the user sees the authoritative store's error.
            (Err(error), Err(_)) => (Err(error), Store::D1),
        };
        self.evidence
            .observe(pending.observed(candidate_measured, served));
        answer
    }

    /// Whether KV may hold an older value of the entity (of any entity of the repository when
    /// the read covers it all): this request wrote it (its KV write may still be queued behind
    /// the replies), D1 changed it within KV's propagation window (another request's KV write
    /// may be queued, or still propagating), or a repair towards KV is queued for it. A failed
    /// lookup counts as "may": KV is served only when known to be current.
    async fn kv_known_stale(&self, operation: &'static str, entity_key: Option<&str>) -> bool {
        if self.evidence.has_written(self.repository, entity_key) {
            return true;
        }
        let (changed, pending) = join(
            self.versions
                .changed_within(self.repository, entity_key, KV_PROPAGATION_MS),
            self.repairs
                .has_pending(self.repository, entity_key, Store::Kv),
        )
        .await;
        match changed.and_then(|changed| Ok(changed || pending?)) {
            Ok(stale) => stale,
            Err(error) => {
                tracing::warn!(
                    repository = %self.repository,
                    operation,
                    entity_key,
                    error = %error,
                    "entity versions or repair queue unreadable; KV not known to be current"
                );
                true
            }
        }
    }

    /// Whether the store `phase` reads missed a write of the entity read (of any entity when
    /// the read covers them all) that is still queued for repair (a race check's row, which
    /// says the stores may differ, not that one missed a write, does not count): looked up
    /// only while the handover or the flags' read says such a repair may be queued. Then the
    /// other store, which acknowledged the write, answers, and the read is counted as a
    /// fallback. A failed lookup leaves the read to the phase's store.
    pub(super) async fn answering_store_missed(
        &self,
        phase: Phase,
        operation: &'static str,
        entity_key: Option<&str>,
    ) -> bool {
        if phase.second().is_none() || !self.caution().await.reads_look_for_repairs {
            return false;
        }
        let answering = phase.authoritative();
        let missed = self
            .repairs
            .has_missed_writes(self.repository, entity_key, answering)
            .await;
        match missed {
            Ok(false) => false,
            Ok(true) => {
                self.fall_back(phase, operation, entity_key, FallbackCause::RepairQueued);
                true
            }
            Err(error) => {
                tracing::warn!(
                    repository = %self.repository,
                    operation,
                    entity_key,
                    error = %error,
                    "repair queue unreadable; the phase's store answers"
                );
                false
            }
        }
    }

    /// A read answered by the store its phase does not read from.
    fn fall_back(
        &self,
        phase: Phase,
        operation: &'static str,
        entity_key: Option<&str>,
        cause: FallbackCause,
    ) {
        macro_rules! fell_back {
            ($message:literal) => {
                tracing::warn!(
                    repository = %self.repository,
                    phase = %phase,
                    operation,
                    entity_key,
                    cause = cause.as_str(),
                    detail = ?cause,
                    $message
                )
            };
        }
        match phase.authoritative() {
            Store::D1 => fell_back!("shadow read answered from KV"),
            Store::Kv => fell_back!("dual_write read answered from D1"),
        }
        self.evidence.fell_back(Fallback {
            repository: self.repository,
            operation,
            entity_key: entity_key.map(str::to_owned),
            cause,
        });
    }
}

/// A shadow read whose D1 answer is in, waiting for KV's.
struct Pending {
    repository: Repository,
    operation: &'static str,
    entity_key: Option<String>,
    control: Measurement,
}

impl Pending {
    /// The observation, once KV answered `candidate` and the user got `served`'s answer.
    fn observed(self, candidate: Measurement, served: Store) -> Observation {
        Observation {
            repository: self.repository,
            operation: self.operation,
            entity_key: self.entity_key,
            control: self.control,
            candidate,
            served,
        }
    }

    /// KV's half of a read D1 answered, for the comparator only (see [`Route::shadow`]): a
    /// KV value that differs from D1's first answer is compared with `recheck`, D1 read again,
    /// unless that fails. When KV still differs from a record D1 read again has, KV is queued
    /// to be reconciled with D1: KV's half of a read can write too (a chat's first
    /// `/watchlist` stores the default), and a concurrent write's KV half can be overwritten by
    /// it, which no race check sees. A record only KV has is left alone: reconciling would
    /// delete what may be its only copy (a vouched D1 that missed it), so the divergence is
    /// reported, its diff holding the record, for an operator to decide.
    async fn compare_later(
        mut self,
        clock: Rc<dyn Clock>,
        evidence: Evidence,
        repairs: Rc<RepairQueue>,
        kv: StoreCall<AnyAnswer>,
        recheck: StoreCall<AnyAnswer>,
    ) {
        let (_, candidate) = measure(Store::Kv, clock.as_ref(), kv).await;
        // Only a value or no record can be explained by D1 moving on.
        let answered = matches!(candidate.reading, Reading::Found(_) | Reading::Missing);
        if answered && !agree(&self.control.reading, &candidate.reading) {
            let rechecked = recheck.await;
            if rechecked.is_ok() {
                self.control.reading = reading(&rechecked);
                let d1_has_it = !matches!(self.control.reading, Reading::Missing);
                if d1_has_it && !agree(&self.control.reading, &candidate.reading) {
                    self.reconcile(&repairs).await;
                }
            }
        }
        evidence.observe(self.observed(candidate, Store::D1));
    }

    /// Queues KV to be reconciled with D1 for the entity read; a failure is logged (the
    /// validation finds what it leaves).
    async fn reconcile(&self, repairs: &RepairQueue) {
        let Some(entity_key) = &self.entity_key else {
            return;
        };
        if let Err(error) = repairs
            .enqueue_divergence(self.repository, entity_key)
            .await
        {
            tracing::error!(
                repository = %self.repository,
                entity_key,
                error = %error,
                "KV differs from D1 and its reconciliation could not be queued"
            );
        }
    }
}

/// Awaits `store`'s read and measures it: what it answered and how long it took.
async fn measure(
    store: Store,
    clock: &dyn Clock,
    read: StoreCall<AnyAnswer>,
) -> (StorageResult<AnyAnswer>, Measurement) {
    let started = clock.now_ms();
    let result = read.await;
    let measurement = Measurement {
        store,
        reading: reading(&result),
        elapsed_ms: clock.now_ms() - started,
    };
    (result, measurement)
}

/// A store's answer as the comparator reads it: no record, a domain value, a record that
/// does not decode, or no answer.
fn reading(result: &StorageResult<AnyAnswer>) -> Reading {
    match result {
        Ok(answer) if answer.is_absent() => Reading::Missing,
        Ok(answer) => Reading::Found(answer.canonical()),
        Err(error @ StorageError::Decode { .. }) => Reading::Undecodable(error.to_string()),
        Err(error) => Reading::Failed(error.to_string()),
    }
}
