//! [`Route`]: one repository's phase turned into store calls. Every routed repository hands
//! each call to [`Route::write`] or [`Route::read`] as a pair of futures, one per store; the
//! phase decides which of them run, in which order, and what a failure of each means.
//!
//! Both futures are built before the phase is looked at, which is free: a future does nothing
//! until it is awaited, so the store whose future is dropped unawaited is never touched.

use super::after_replies::AfterReplies;
use super::answer::Answer;
use super::evidence::{Evidence, Fallback, FallbackCause, Measurement, Observation, WriteFailure};
use super::request_phases::RequestPhases;
use crate::migration::experiment::{agree, Reading, KV_PROPAGATION_MS};
use crate::migration::{Phase, Repository, Store};
use crate::platform::Clock;
use crate::storage::d1::{EntityVersions, RepairQueue, UpdateClaim};
use crate::storage::{StorageError, StorageResult};
use futures_util::future::{join, Either};
use std::future::Future;
use std::rc::Rc;

/// One repository's phase for one request, and what its second writes and shadow reads need.
#[derive(Clone)]
pub(super) struct Route {
    pub(super) repository: Repository,
    /// Every repository's phase; this route's is the one of `repository`.
    pub(super) phases: RequestPhases,
    pub(super) repairs: Rc<RepairQueue>,
    pub(super) versions: Rc<EntityVersions>,
    pub(super) clock: Rc<dyn Clock>,
    pub(super) evidence: Evidence,
    pub(super) later: AfterReplies,
    /// The update's claim: a call to KV takes it first when it is armed; a call to D1 carries
    /// it (see [`UpdateClaim`]).
    pub(super) claim: UpdateClaim,
}

impl Route {
    /// This repository's phase for the request, read from the flags by the request's first
    /// storage call.
    pub(super) async fn phase(&self) -> Phase {
        self.phases.get().await.get(self.repository)
    }

    /// Runs a write in the phase's order and answers with the authoritative store's result.
    ///
    /// Invariant: the authoritative write completes before the second one starts, and only its
    /// error fails the call. So an acknowledged write is always in the store that serves the
    /// next read, and a failed call has changed neither store (the second write never ran),
    /// except for the landed steps of a KV unit, which are queued for repair. The second write
    /// runs as [`AfterReplies`] says: at once, or after the replies.
    pub(super) async fn write<T: Answered>(
        &self,
        operation: &'static str,
        entity_key: &str,
        kv: impl Future<Output = StorageResult<T>> + 'static,
        d1: impl Future<Output = StorageResult<T>> + 'static,
    ) -> StorageResult<T> {
        let written = Written {
            repositories: vec![self.repository],
            on_difference: &[],
        };
        self.write_entities(operation, written, entity_key, kv, d1)
            .await
    }

    /// [`Route::write`] for one write that changes the entity `entity_key` of each of
    /// `written`'s repositories (all in this route's phase).
    pub(super) async fn write_entities<T: Answered>(
        &self,
        operation: &'static str,
        written: Written,
        entity_key: &str,
        kv: impl Future<Output = StorageResult<T>> + 'static,
        d1: impl Future<Output = StorageResult<T>> + 'static,
    ) -> StorageResult<T> {
        let phase = self.phase().await;
        let (first, second) = match phase.authoritative() {
            Store::Kv => {
                self.claim.before_kv_call().await?;
                (Either::Left(kv), Either::Right(d1))
            }
            Store::D1 => (Either::Right(d1), Either::Left(kv)),
        };
        let answer = first.await;
        let Some(target) = phase.second() else {
            return answer;
        };
        let first = match answer {
            Ok(first) => first,
            Err(error) => {
                return Err(self
                    .authoritative_failed(operation, &written, entity_key, target, error)
                    .await)
            }
        };
        self.then(operation, written, entity_key, target, &first, second)
            .await;
        Ok(first)
    }

    /// The authoritative write failed while `target` receives the second writes. D1 commits a
    /// unit (a write of more than one entity) in one `batch()` or not at all; KV runs it as
    /// steps, and the steps before the failure may have landed, so then each entity is queued
    /// for repair towards D1, which then copies whatever KV holds. Answers the error, which
    /// is the user's.
    async fn authoritative_failed(
        &self,
        operation: &'static str,
        written: &Written,
        entity_key: &str,
        target: Store,
        error: StorageError,
    ) -> StorageError {
        if target == Store::D1 && written.repositories.len() > 1 {
            let failure = Failure {
                operation,
                entity_key,
                target,
                error: format!("KV's unit stopped part way: {error}"),
            };
            for repository in &written.repositories {
                self.queue_repair(*repository, &failure).await;
            }
        }
        error
    }

    /// After the authoritative write answered `first`: notes the written entities and starts
    /// the second write towards `target`.
    async fn then<T: Answered>(
        &self,
        operation: &'static str,
        written: Written,
        entity_key: &str,
        target: Store,
        first: &T,
        write: impl Future<Output = StorageResult<T>> + 'static,
    ) {
        for repository in &written.repositories {
            self.evidence.wrote(*repository, entity_key);
        }
        let follow = Follow {
            route: self.clone(),
            operation,
            written,
            entity_key: entity_key.to_owned(),
            target,
            first: first.clone(),
        };
        self.later.start(follow.run(write)).await;
    }

    /// In `dual_write`, bumps the entity's D1 version before a write that must not land twice
    /// (see `executions::record`); nothing in the other phases. A failure is logged: the D1
    /// write that follows most likely fails too, and is queued for repair.
    pub(super) async fn announce(&self, operation: &'static str, entity_key: &str) {
        if self.phase().await != Phase::DualWrite {
            return;
        }
        if let Err(error) = self.versions.touch(self.repository, entity_key).await {
            tracing::warn!(
                repository = %self.repository,
                operation,
                entity_key,
                error = %error,
                "entity version not bumped before a dual write"
            );
        }
    }

    /// A second write of its own (not after a routed write): its outcome is not the user's
    /// business, and it runs as [`AfterReplies`] says. A failure is queued for repair towards
    /// `target` ([`Route::queue_repair`]). Nothing here can fail the call.
    pub(super) async fn mirror<T: 'static>(
        &self,
        operation: &'static str,
        entity_key: &str,
        target: Store,
        write: impl Future<Output = StorageResult<T>> + 'static,
    ) {
        let (route, key) = (self.clone(), entity_key.to_owned());
        let second = async move {
            let repositories = [route.repository];
            route
                .second(operation, &repositories, &key, target, write)
                .await;
        };
        self.later.start(second).await;
    }

    /// [`Route::mirror`] of a write that changes the entity of each of `repositories`; the
    /// second write's answer when it succeeded.
    async fn second<T>(
        &self,
        operation: &'static str,
        repositories: &[Repository],
        entity_key: &str,
        target: Store,
        write: impl Future<Output = StorageResult<T>>,
    ) -> Option<T> {
        let error = match write.await {
            Ok(answer) => return Some(answer),
            Err(error) => error,
        };
        let failure = Failure {
            operation,
            entity_key,
            target,
            error: error.to_string(),
        };
        for repository in repositories {
            self.queue_repair(*repository, &failure).await;
        }
        None
    }

    /// A second write that missed `repository`'s entity: logged, counted and queued for repair
    /// towards the store that missed it; when even the enqueue fails (D1 down while D1 is the
    /// target) it is logged as an error and the difference is left to validation to find.
    async fn queue_repair(&self, repository: Repository, failure: &Failure<'_>) {
        let Failure {
            operation,
            entity_key,
            target,
            ref error,
        } = *failure;
        let phase = self.phase().await;
        tracing::warn!(
            repository = %repository,
            phase = %phase,
            operation,
            entity_key,
            target = %target,
            error = %error,
            "second write failed; queueing a repair"
        );
        let queued = self
            .repairs
            .enqueue(repository, entity_key, target, error)
            .await;
        if let Err(enqueue_error) = &queued {
            tracing::error!(
                repository = %repository,
                phase = %phase,
                operation,
                entity_key,
                target = %target,
                error = %enqueue_error,
                "repair could not be queued; the stores differ until a validation finds it"
            );
        }
        self.evidence.write_failed(WriteFailure {
            repository,
            operation,
            entity_key: entity_key.to_owned(),
            target,
            error: error.clone(),
            queued: queued.is_ok(),
        });
    }

    /// Runs a read on the phase's store; in shadow on both (see [`Route::shadow`], which may
    /// also run `recheck`, the same D1 read again). `entity_key` is `None` for a read of the
    /// whole repository.
    pub(super) async fn read<T: Answer + 'static>(
        &self,
        operation: &'static str,
        entity_key: Option<&str>,
        kv: impl Future<Output = StorageResult<T>> + 'static,
        d1: impl Future<Output = StorageResult<T>>,
        recheck: impl Future<Output = StorageResult<T>> + 'static,
    ) -> StorageResult<T> {
        let phase = self.phase().await;
        match phase.authoritative() {
            Store::Kv => {
                self.claim.before_kv_call().await?;
                kv.await
            }
            // The one phase whose reads are compared: D1 serves while KV still gets every write.
            Store::D1 if phase.second().is_some() => {
                self.shadow(operation, entity_key, kv, d1, recheck).await
            }
            Store::D1 => d1.await,
        }
    }

    /// The shadow read: D1 (the control) answers, and KV (the candidate) is read for the
    /// comparator. When D1 has the record, the user gets it at once and KV is read after the
    /// replies ([`AfterReplies`]), so KV adds no latency; when KV then answers a value that
    /// differs from D1's answer, D1 is read again (`recheck`) and KV is compared with that, so
    /// a change made while the request ran on (a broadcast, `/subscribers`) is not counted as
    /// a divergence. When D1 fails or has no record, KV's answer may be the user's, so KV is
    /// read at once, and the user gets it as a *fallback* when
    ///
    /// - D1 failed and KV answered, or
    /// - D1 has no record where KV has one, and no queued repair says KV missed a write.
    ///
    /// That last condition matters: in shadow a failed KV write leaves KV with a record D1 no
    /// longer has (a cleared position, a last unsubscribe), and serving it would undo a write
    /// the user saw succeed. So does a KV write still queued behind the replies, which is why
    /// an entity this request wrote is never served from KV. The repair queue is consulted
    /// only on this rare path, so the common read costs no extra query. If the lookup itself
    /// fails, D1 is failing, and the read falls back as it would on a D1 error.
    ///
    /// Either way the pair is recorded as an [`Observation`] for the comparator.
    ///
    /// Why KV waits for D1 rather than running beside it: only a missing or failed D1 answer
    /// needs KV's before the reply, and a store that shares the worker's process (Miniflare,
    /// `wrangler dev`) runs the two reads one after the other anyway, so a concurrent KV read
    /// would cost every reply its full time (MIGRATION.md, "Shadow reads").
    async fn shadow<T: Answer + 'static>(
        &self,
        operation: &'static str,
        entity_key: Option<&str>,
        kv: impl Future<Output = StorageResult<T>> + 'static,
        d1: impl Future<Output = StorageResult<T>>,
        recheck: impl Future<Output = StorageResult<T>> + 'static,
    ) -> StorageResult<T> {
        let (control, control_measured) = measure(Store::D1, self.clock.as_ref(), d1).await;
        let pending = Pending {
            repository: self.repository,
            operation,
            entity_key: entity_key.map(str::to_owned),
            control: control_measured,
        };
        if matches!(&control, Ok(answer) if !answer.is_absent()) {
            let (clock, evidence) = (self.clock.clone(), self.evidence.clone());
            let compare = pending.compare_later(clock, evidence, kv, recheck);
            self.later.start(compare).await;
            return control;
        }

        let (candidate, candidate_measured) = measure(Store::Kv, self.clock.as_ref(), kv).await;
        let (answer, served) = match (control, candidate) {
            (Ok(d1), Ok(kv)) if d1.is_absent() && !kv.is_absent() => {
                if self.kv_known_stale(operation, entity_key).await {
                    (Ok(d1), Store::D1)
                } else {
                    self.fall_back(operation, entity_key, FallbackCause::MissingInD1);
                    (Ok(kv), Store::Kv)
                }
            }
            (Ok(d1), _) => (Ok(d1), Store::D1),
            // KV may still be waiting for this request's own write of the entity.
            (Err(error), Ok(_)) if self.evidence.has_written(self.repository, entity_key) => {
                (Err(error), Store::D1)
            }
            (Err(error), Ok(kv)) => {
                self.fall_back(
                    operation,
                    entity_key,
                    FallbackCause::D1Error(error.to_string()),
                );
                (Ok(kv), Store::Kv)
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
    /// lookup counts as "not known".
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
                    "entity versions or repair queue unreadable; treating KV as current"
                );
                false
            }
        }
    }

    /// A shadow read answered from KV (only shadow reads fall back).
    fn fall_back(&self, operation: &'static str, entity_key: Option<&str>, cause: FallbackCause) {
        tracing::warn!(
            repository = %self.repository,
            phase = %Phase::Shadow,
            operation,
            entity_key,
            cause = cause.as_str(),
            detail = ?cause,
            "shadow read answered from KV"
        );
        self.evidence.fell_back(Fallback {
            repository: self.repository,
            operation,
            entity_key: entity_key.map(str::to_owned),
            cause,
        });
    }
}

/// What a routed write may answer: small values that can be kept for the second write and
/// compared with its answer.
pub(super) trait Answered: Clone + PartialEq + std::fmt::Debug + 'static {}
impl<T: Clone + PartialEq + std::fmt::Debug + 'static> Answered for T {}

/// The entities one write changes: one per repository, all under the same key.
pub(super) struct Written {
    pub(super) repositories: Vec<Repository>,
    /// The repositories whose entities differ between the stores when the second write
    /// answers differently from the first (see `units`).
    pub(super) on_difference: &'static [Repository],
}

/// A second write about to run, with what it needs to report a miss.
struct Follow<T> {
    route: Route,
    operation: &'static str,
    written: Written,
    entity_key: String,
    target: Store,
    /// The authoritative store's answer.
    first: T,
}

impl<T: Answered> Follow<T> {
    /// Runs the second write: a failure queues a repair of every written entity, an answer
    /// other than the first store's a repair of each `on_difference` entity.
    async fn run(self, write: impl Future<Output = StorageResult<T>>) {
        let Follow {
            route,
            operation,
            written,
            entity_key,
            target,
            first,
        } = self;
        let second = route
            .second(operation, &written.repositories, &entity_key, target, write)
            .await;
        let Some(second) = second.filter(|second| *second != first) else {
            return;
        };
        let failure = Failure {
            operation,
            entity_key: &entity_key,
            target,
            error: format!("the stores answered differently: {first:?}, then {second:?}"),
        };
        for repository in written.on_difference {
            route.queue_repair(*repository, &failure).await;
        }
    }
}

/// A second write that did not land: which call, which entity, the store that missed it and
/// why.
struct Failure<'a> {
    operation: &'static str,
    entity_key: &'a str,
    target: Store,
    error: String,
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
    /// unless that fails.
    async fn compare_later<T: Answer>(
        mut self,
        clock: Rc<dyn Clock>,
        evidence: Evidence,
        kv: impl Future<Output = StorageResult<T>>,
        recheck: impl Future<Output = StorageResult<T>>,
    ) {
        let (_, candidate) = measure(Store::Kv, clock.as_ref(), kv).await;
        // Only a value or no record can be explained by D1 moving on.
        let answered = matches!(candidate.reading, Reading::Found(_) | Reading::Missing);
        if answered && !agree(&self.control.reading, &candidate.reading) {
            let rechecked = recheck.await;
            if rechecked.is_ok() {
                self.control.reading = reading(&rechecked);
            }
        }
        evidence.observe(self.observed(candidate, Store::D1));
    }
}

/// Awaits `store`'s read and measures it: what it answered and how long it took.
async fn measure<T: Answer>(
    store: Store,
    clock: &dyn Clock,
    read: impl Future<Output = StorageResult<T>>,
) -> (StorageResult<T>, Measurement) {
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
fn reading<T: Answer>(result: &StorageResult<T>) -> Reading {
    match result {
        Ok(answer) if answer.is_absent() => Reading::Missing,
        Ok(answer) => Reading::Found(answer.canonical()),
        Err(error @ StorageError::Decode { .. }) => Reading::Undecodable(error.to_string()),
        Err(error) => Reading::Failed(error.to_string()),
    }
}
