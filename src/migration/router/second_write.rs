//! The second writes of `dual_write` and `shadow`: started once the authoritative write
//! answered, run as [`AfterReplies`](super::AfterReplies) says, and on a miss logged, counted
//! and queued for repair towards the store that missed it. Also what a failed authoritative
//! write leaves to repair, and the race checks.
//!
//! # Races
//!
//! Each store applies a write on its own: D1 atomically, KV as a read-modify-write of the
//! whole record. Two requests writing one entity at once can therefore leave the stores
//! holding different values although every call succeeded and answered alike (KV keeps one
//! of two concurrent adds, D1 both). So the D1 half of every dual write carries, in its own
//! batch, a race check per entity it writes: a repair towards the second store is queued when
//! D1 changed the entity since [`RACE_WINDOW_MS`] before the request began (`/execute`'s
//! history in `dual_write`: since the request's own version bump, which carried the same
//! check). Writes further apart than that were applied in the same order by both stores, each
//! on a KV read that saw the other's put (MIGRATION.md, "Races", has the proof and its
//! assumptions). A KV second write that ends more than [`SLOW_SECOND_WRITE_MS`] after its
//! request began queues a repair itself, since the window no longer covers it.

use super::evidence::WriteFailure;
use super::route::{erase_write, AnyWrite, Route, StoreCall, WriteAnswer, Written};
use crate::migration::experiment::KV_PROPAGATION_MS;
use crate::migration::Phase;
use crate::platform::Statement;
use crate::storage::d1::Since;
use crate::storage::{Repository, StorageError, Store};

/// How long after its request began a KV second write may land and still be covered by the
/// race checks of the writes after it.
pub(super) const SLOW_SECOND_WRITE_MS: i64 = 10_000;
/// How far before its request began a race check looks for other writes of the entity: KV's
/// propagation window (a KV read may miss a put that much older), plus the time a KV second
/// write may take to land, plus as much again for the worker's clock to differ from D1's.
pub(super) const RACE_WINDOW_MS: i64 = KV_PROPAGATION_MS + 2 * SLOW_SECOND_WRITE_MS;

impl Route {
    /// The authoritative write failed while `target` receives the second writes. It may have
    /// landed all the same: KV runs a unit (a write of more than one entity) as steps, and
    /// the steps before the failure may have landed; and any write, in either store, may have
    /// landed with its answer lost on the way back (found by the workerd fault soak). So each
    /// written entity is queued for repair towards `target`, which copies it if the stores
    /// differ and finds them in sync otherwise. Answers the error, which is the user's.
    pub(super) async fn authoritative_failed(
        &self,
        operation: &'static str,
        written: &Written,
        entity_key: &str,
        target: Store,
        error: StorageError,
    ) -> StorageError {
        // A refused claim stopped the attempt before anything landed.
        if self.claim.refused().is_none() {
            let failure = Failure {
                operation,
                entity_key,
                target,
                error: format!("the authoritative write failed, and may have landed: {error}"),
            };
            for repository in &written.repositories {
                self.queue_repair(*repository, &failure).await;
            }
        }
        error
    }

    /// After the authoritative write answered `first`: notes the written entities and starts
    /// the second write towards `target`.
    pub(super) async fn start_second_write(
        &self,
        operation: &'static str,
        written: Written,
        entity_key: &str,
        target: Store,
        first: AnyWrite,
        write: StoreCall<AnyWrite>,
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
            first,
        };
        self.behind_replies(follow.run(write)).await;
    }

    /// Has the next D1 call carry the race checks of a write of `repositories`' entities under
    /// `entity_key` whose second write goes to `target` (see the module documentation).
    pub(super) fn carry_race_checks(
        &self,
        repositories: &[Repository],
        entity_key: &str,
        target: Store,
    ) {
        self.races
            .carry(self.race_checks(repositories, entity_key, target));
    }

    /// A race check run on its own, after a KV write no D1 call carried one for: in `shadow`,
    /// KV's half of a watchlist read may store the default (see `watchlists`). The statement
    /// is made now, so that the check can run after the replies.
    pub(super) fn race_check_later(
        &self,
        entity_key: &str,
    ) -> impl std::future::Future<Output = ()> + 'static {
        let checks = self.race_checks(&[self.repository], entity_key, Store::Kv);
        let (repairs, repository) = (self.repairs.clone(), self.repository);
        async move {
            for check in checks {
                if let Err(error) = repairs.check_race(check).await {
                    tracing::error!(
                        repository = %repository,
                        error = %error,
                        "race check after a KV write failed; the validation finds what it leaves"
                    );
                }
            }
        }
    }

    /// The race checks of [`Route::carry_race_checks`].
    fn race_checks(
        &self,
        repositories: &[Repository],
        entity_key: &str,
        target: Store,
    ) -> Vec<Statement> {
        let bumped = self.bumped.borrow();
        let window = Since::Time(self.started - RACE_WINDOW_MS);
        let since = |repository| match &*bumped {
            Some((key, version)) if repository == Repository::Executions && key == entity_key => {
                Since::Version(*version)
            }
            _ => window,
        };
        let check = |r: &Repository| self.repairs.race_check(*r, entity_key, target, since(*r));
        // Filling the cache twice is harmless: whichever fill a store keeps is a true answer.
        let raced = |r: &&Repository| **r != Repository::Cache;
        repositories.iter().filter(raced).map(check).collect()
    }

    /// In `dual_write`, bumps the entity's D1 version before a write that must not land twice
    /// (see `executions::record`), with the write's race check; nothing in the other phases.
    /// A failure is logged: the D1 write that follows most likely fails too, and is queued for
    /// repair.
    pub(super) async fn bump_d1_version(&self, operation: &'static str, entity_key: &str) {
        if self.phase().await != Phase::DualWrite {
            return;
        }
        if matches!(&*self.bumped.borrow(), Some((bumped, _)) if bumped == entity_key) {
            // Bumped earlier in this request, before the command read anything.
            return;
        }
        let mut check = self.race_checks(&[self.repository], entity_key, Store::D1);
        let bump = self
            .versions
            .touch(self.repository, entity_key, check.pop());
        match bump.await {
            Ok(version) => *self.bumped.borrow_mut() = Some((entity_key.to_owned(), version)),
            // The bump carried the update's claim, which another attempt holds (or a flip
            // fenced): the attempt stops at its next call, and no write of it lands.
            Err(_) if self.claim.stopped() => {}
            Err(error) => tracing::warn!(
                repository = %self.repository,
                operation,
                entity_key,
                error = %error,
                "entity version not bumped before a dual write"
            ),
        }
    }

    /// A second write of its own (not after a routed write): its outcome is not the user's
    /// business, and it runs as [`Route::behind_replies`] says. A failure is queued
    /// for repair towards `target` ([`Route::queue_repair`]). Nothing here can fail the call.
    pub(super) async fn mirror<T: WriteAnswer>(
        &self,
        operation: &'static str,
        entity_key: &str,
        target: Store,
        write: StoreCall<T>,
    ) {
        let (route, key) = (self.clone(), entity_key.to_owned());
        let write = erase_write(write);
        let second = async move {
            let repositories = [route.repository];
            route
                .run_second_write(operation, &repositories, &key, target, write)
                .await;
        };
        self.behind_replies(second).await;
    }

    /// [`Route::mirror`] of a write that changes the entity of each of `repositories`, its race
    /// checks carried when it goes to D1; the second write's answer when it succeeded (to KV:
    /// within [`SLOW_SECOND_WRITE_MS`]).
    async fn run_second_write(
        &self,
        operation: &'static str,
        repositories: &[Repository],
        entity_key: &str,
        target: Store,
        write: StoreCall<AnyWrite>,
    ) -> Option<AnyWrite> {
        if target == Store::D1 {
            self.carry_race_checks(repositories, entity_key, target);
        }
        let written = write.await;
        self.races.clear();
        let late = self.clock.now_ms() - self.started;
        let error = match written {
            Ok(answer) if target == Store::D1 || late <= SLOW_SECOND_WRITE_MS => {
                return Some(answer)
            }
            Ok(_) => "landed later than the race checks cover".to_owned(),
            Err(error) => error.to_string(),
        };
        let failure = Failure {
            operation,
            entity_key,
            target,
            error,
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
        // Both events name the same write.
        macro_rules! about_the_write {
            ($level:ident, $error:expr, $message:literal) => {
                tracing::$level!(
                    repository = %repository,
                    phase = %phase,
                    operation,
                    entity_key,
                    target = %target,
                    error = %$error,
                    $message
                )
            };
        }
        about_the_write!(warn, error, "second write failed; queueing a repair");
        let queued = self
            .repairs
            .enqueue(repository, entity_key, target, error)
            .await;
        if let Err(enqueue_error) = &queued {
            about_the_write!(
                error,
                enqueue_error,
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
}

/// A second write about to run, with what it needs to report a miss.
struct Follow {
    route: Route,
    operation: &'static str,
    written: Written,
    entity_key: String,
    target: Store,
    /// The authoritative store's answer.
    first: AnyWrite,
}

impl Follow {
    /// Runs the second write: a failure queues a repair of every written entity, an answer
    /// other than the first store's a repair of each `on_difference` entity.
    async fn run(self, write: StoreCall<AnyWrite>) {
        let Follow {
            route,
            operation,
            written,
            entity_key,
            target,
            first,
        } = self;
        let second = route
            .run_second_write(operation, &written.repositories, &entity_key, target, write)
            .await;
        let Some(second) = second.filter(|second| !second.same_as(&*first)) else {
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
