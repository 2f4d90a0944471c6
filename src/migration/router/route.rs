//! [`Route`]: one repository's phase turned into store calls. Every routed repository hands
//! each call to [`Route::write`] or [`Route::read`] as a pair of futures, one per store; the
//! phase decides which of them run, in which order, and what a failure of each means.
//!
//! Both futures are built before the phase is looked at, which is free: a future does nothing
//! until it is awaited, so the store whose future is dropped unawaited is never touched.
//!
//! This module dispatches; what follows an authoritative write is in `second_write`, the
//! shadow read and its fallback in `shadow_read`.

use super::after_replies::AfterReplies;
use super::evidence::Evidence;
use super::read_answer::{AnyAnswer, ReadAnswer};
use super::request_phases::RequestPhases;
use crate::migration::{Caution, Phase};
use crate::platform::Clock;
use crate::storage::d1::{EntityVersions, RaceChecks, RepairQueue, UpdateClaim};
use crate::storage::{Repository, StorageResult, Store};
use futures_util::future::LocalBoxFuture;
use std::any::Any;
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
    /// What the D1 half of a dual write carries: its race checks (`second_write`).
    pub(super) races: RaceChecks,
    /// When the request began (ms, the worker's clock): before any of its KV reads.
    pub(super) started: i64,
    /// The executions version this request's bump left, with its entity (`second_write`).
    pub(super) bumped: Rc<std::cell::RefCell<Option<(String, i64)>>>,
}

impl Route {
    /// This repository's phase for the request, read from the flags by the request's first
    /// storage call.
    pub(super) async fn phase(&self) -> Phase {
        self.phases.get().await.get(self.repository)
    }

    /// The care this repository's handover asks of the request, if one is under way
    /// ([`handover`](crate::migration::handover)).
    pub(super) async fn caution(&self) -> Caution {
        self.phases.get().await.caution(self.repository)
    }

    /// Runs `work`, the store that does not answer the user's part of a call: after the
    /// replies ([`AfterReplies`]), or at once while a handover asks for caution.
    pub(super) async fn behind_replies(
        &self,
        work: impl std::future::Future<Output = ()> + 'static,
    ) {
        if self.caution().await.writes_inline {
            work.await;
        } else {
            self.later.start(work).await;
        }
    }

    /// Runs a write in the phase's order and answers with the authoritative store's result.
    ///
    /// Invariant: the authoritative write completes before the second one starts, and only its
    /// error fails the call. So an acknowledged write is always in the store that serves the
    /// next read, and a failed call has changed neither store (the second write never ran),
    /// except for the landed steps of a KV unit, which are queued for repair. The second write
    /// runs as [`AfterReplies`] says: at once, or after the replies.
    pub(super) async fn write<T: WriteAnswer>(
        &self,
        operation: &'static str,
        entity_key: &str,
        kv: StoreCall<T>,
        d1: StoreCall<T>,
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
    pub(super) async fn write_entities<T: WriteAnswer>(
        &self,
        operation: &'static str,
        written: Written,
        entity_key: &str,
        kv: StoreCall<T>,
        d1: StoreCall<T>,
    ) -> StorageResult<T> {
        let phase = self.phase().await;
        let (first, second) = match phase.authoritative() {
            Store::Kv => {
                self.claim.before_kv_call().await?;
                (kv, d1)
            }
            Store::D1 => (d1, kv),
        };
        if phase.second() == Some(Store::Kv) {
            // `shadow`: D1 answers first, carrying the race checks.
            self.carry_race_checks(&written.repositories, entity_key, Store::Kv);
        }
        let answer = first.await;
        self.races.clear();
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
        let (answer, second) = (Box::new(first.clone()), erase_write(second));
        self.start_second_write(operation, written, entity_key, target, answer, second)
            .await;
        Ok(first)
    }

    /// Runs a read on the phase's store; in shadow on both (see [`Route::shadow`], which may
    /// also run `recheck`, the same D1 read again).
    pub(super) async fn read<T: ReadAnswer + 'static>(
        &self,
        read: Read<'_, T>,
    ) -> StorageResult<T> {
        let phase = self.phase().await;
        if self
            .answering_store_missed(phase, read.operation, read.entity_key)
            .await
        {
            return match phase.authoritative() {
                Store::Kv => read.d1.await,
                Store::D1 => {
                    self.claim.before_kv_call().await?;
                    read.kv.await
                }
            };
        }
        match phase.authoritative() {
            Store::Kv => {
                self.claim.before_kv_call().await?;
                read.kv.await
            }
            // The one phase whose reads are compared: D1 serves while KV still gets every write.
            Store::D1 if phase.second().is_some() => {
                let answer = self.shadow(read.erase()).await?;
                Ok(*answer
                    .into_any()
                    .downcast()
                    .expect("a shadow read answers with its read's own type"))
            }
            Store::D1 => read.d1.await,
        }
    }
}

/// One store's half of a routed call. Boxed, so that each answer type's routing is compiled
/// once rather than once per repository method (the worker's size).
pub(super) type StoreCall<T> = LocalBoxFuture<'static, StorageResult<T>>;

/// One routed read: its name and entity for the evidence (`entity_key` is `None` for a read
/// of the whole repository), and its call on each store, D1's twice (`recheck`).
pub(super) struct Read<'a, T> {
    pub(super) operation: &'static str,
    pub(super) entity_key: Option<&'a str>,
    pub(super) kv: StoreCall<T>,
    pub(super) d1: StoreCall<T>,
    pub(super) recheck: StoreCall<T>,
}

impl<'a, T: ReadAnswer + 'static> Read<'a, T> {
    /// The same read with its answers behind [`AnyAnswer`].
    fn erase(self) -> Read<'a, AnyAnswer> {
        Read {
            operation: self.operation,
            entity_key: self.entity_key,
            kv: erase(self.kv),
            d1: erase(self.d1),
            recheck: erase(self.recheck),
        }
    }
}

fn erase<T: ReadAnswer + 'static>(call: StoreCall<T>) -> StoreCall<AnyAnswer> {
    Box::pin(async move { Ok(Box::new(call.await?) as AnyAnswer) })
}

/// What a routed write may answer: small values that can be kept for the second write and
/// compared with its answer.
pub(super) trait WriteAnswer: Clone + PartialEq + std::fmt::Debug + 'static {}
impl<T: Clone + PartialEq + std::fmt::Debug + 'static> WriteAnswer for T {}

/// A write's answer of whichever type, as the second write keeps and compares it: so what
/// follows an authoritative write is compiled once, not once per answer type.
pub(super) type AnyWrite = Box<dyn ErasedWrite>;

/// A [`WriteAnswer`] compared without knowing its type.
pub(super) trait ErasedWrite: std::fmt::Debug {
    /// Whether `other` is the same answer (of the same type).
    fn same_as(&self, other: &dyn ErasedWrite) -> bool;
    fn as_any(&self) -> &dyn Any;
}

impl<T: WriteAnswer> ErasedWrite for T {
    fn same_as(&self, other: &dyn ErasedWrite) -> bool {
        other.as_any().downcast_ref::<T>() == Some(self)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// `call` answering an [`AnyWrite`].
pub(super) fn erase_write<T: WriteAnswer>(call: StoreCall<T>) -> StoreCall<AnyWrite> {
    Box::pin(async move { Ok(Box::new(call.await?) as AnyWrite) })
}

/// The entities one write changes: one per repository, all under the same key.
pub(super) struct Written {
    pub(super) repositories: Vec<Repository>,
    /// The repositories whose entities differ between the stores when the second write
    /// answers differently from the first (see `units`).
    pub(super) on_difference: &'static [Repository],
}
