//! The phase router: every repository served as its phase says (migration.md §2), behind the
//! same traits the bot already uses. It is the only code on the request path that knows
//! phases; the bot gets a [`Repos`] and cannot tell a routed one from a plain one.
//!
//! Phases are also read off the request path, each for its own decision: the guard rails
//! (which moves an operator may make), the repair drain (which way a queued repair copies,
//! `repair::plan`) and the sweeps (which may run, which store a difference they find is
//! queued towards). All of them take the phase → store rule from one table on
//! [`Phase`](crate::migration::Phase): `authoritative()` and `second()`.
//!
//! # The phase table
//!
//! ```text
//! phase        reads from          writes, in order   a failed second write
//! kv_only      KV                  KV                 –
//! dual_write   KV                  KV, then D1        logged, counted, queued for repair (target d1)
//! shadow       D1 (+ KV, compared) D1, then KV        logged, counted, queued for repair (target kv)
//! d1_only      D1                  D1                 –
//! ```
//!
//! # Invariants
//!
//! - **The authoritative store decides.** It is the store reads are served from (KV up to
//!   `dual_write`, D1 from `shadow`). Its write runs first and alone decides whether the call
//!   succeeds; the user's answer is its answer. So a call that succeeded is in the store the
//!   next read is served from, and a call that failed wrote nothing anywhere.
//! - **A second write never fails a request.** When it fails, the stores differ for that
//!   entity until a repair copies it over; the failure is in the log, in the metrics
//!   ([`Evidence`]) and in the D1 repair queue, keyed by repository, entity and target.
//! - **Shadow reads cost no latency and are recorded.** D1 answers; when it has the record,
//!   or the guard rails vouched for it, KV is read after the replies ([`AfterReplies`]), and
//!   both answers go to the [`Evidence`] sink as an [`Observation`]; the comparison runs after
//!   the response. KV is read at once, and answers instead, only as a counted *fallback*: when
//!   D1 fails, or when D1, not vouched for, lacks a record KV has and the repair queue does
//!   not say KV is stale.
//! - **One command, one unit.** `/execute` and `/start` write more than one repository; the
//!   router routes each as one write when those share a phase (`units`), so D1 commits the
//!   command in one `batch()`.
//! - **Stores left apart by a race are queued for repair.** Each store applies a write on its
//!   own, so concurrent writes of one entity can leave them apart although both answered
//!   alike; the D1 half of every dual write carries a race check that queues the entity's
//!   repair when another write came close enough to it (`second_write`).
//! - **Single-store phases touch one store.** `kv_only` never calls D1 (the legacy bot's cost,
//!   exactly) and `d1_only` never calls KV.
//!
//! - **A handover asks for caution.** While a move between `dual_write` and `shadow` is handed
//!   over ([`handover`](crate::migration::handover)), a repository's [`Caution`](crate::migration::Caution) makes its
//!   second writes run before the reply, and its reads look for a repair queued towards the
//!   store they read first, answered by the other store when there is one; reads do that too
//!   whenever the flags' read says such a repair is queued.
//!
//! What the router cannot keep by itself is left to the guard rails (migration.md §4): a move
//! to `shadow` must wait for the backfill and for an empty `d1` repair queue, or D1 would serve
//! data it never received; a rollback from `shadow` to `dual_write` while `kv` repairs are
//! queued would serve the stale KV values until the drain has run.
//!
//! # Per request
//!
//! [`routed`] is called once per update or cron run, like `Repos::kv`: the KV repositories
//! remember what they read for the length of one request only, and the phases and evidence
//! sink are the request's.

mod after_replies;
mod cache;
mod evidence;
mod executions;
mod positions;
mod read_answer;
mod request_phases;
mod route;
mod second_write;
mod shadow_read;
mod subscriptions;
mod units;
mod watchlists;

pub use after_replies::AfterReplies;
pub use evidence::{
    Collected, Evidence, Fallback, FallbackCause, Measurement, Observation, WriteFailure,
};
pub use request_phases::RequestPhases;

use crate::platform::Platform;
use crate::storage::d1::{D1Cache, EntityVersions, RaceChecks, RepairQueue, Sql, UpdateClaim};
use crate::storage::{Repos, Repository, StorageResult};
use read_answer::ReadAnswer;
use route::{Read, Route, WriteAnswer};
use std::future::Future;
use std::rc::Rc;
use units::RoutedUnits;

/// One repository on both stores, routed by its phase.
struct Routed<R: ?Sized> {
    kv: Rc<R>,
    d1: Rc<R>,
    route: Route,
}

impl<R: ?Sized + 'static> Routed<R> {
    /// A [`Route::write`] of the same `call` on each store's repository. The call owns what it
    /// needs, so the second write can run after the replies.
    async fn write<T, F>(
        &self,
        operation: &'static str,
        entity_key: &str,
        call: impl Fn(Rc<R>) -> F,
    ) -> StorageResult<T>
    where
        T: WriteAnswer,
        F: Future<Output = StorageResult<T>> + 'static,
    {
        let (kv, d1) = (
            Box::pin(call(self.kv.clone())),
            Box::pin(call(self.d1.clone())),
        );
        self.route.write(operation, entity_key, kv, d1).await
    }

    /// A [`Route::read`] of the same `call` on each store's repository (twice on D1, for the
    /// recheck). The call owns what it needs, so KV's half can run after the replies.
    async fn read<T, F>(
        &self,
        operation: &'static str,
        entity_key: Option<&str>,
        call: impl Fn(Rc<R>) -> F,
    ) -> StorageResult<T>
    where
        T: ReadAnswer + 'static,
        F: Future<Output = StorageResult<T>> + 'static,
    {
        self.route
            .read(Read {
                operation,
                entity_key,
                kv: Box::pin(call(self.kv.clone())),
                d1: Box::pin(call(self.d1.clone())),
                recheck: Box::pin(call(self.d1.clone())),
            })
            .await
    }
}

/// Every repository on both stores, each routed by its phase in `phases` (read by the first
/// call that needs it, see [`RequestPhases`]); shadow reads,
/// fallbacks and failed second writes go to `evidence`; second writes and the KV reads only
/// the comparator needs run as `later` says; the first call to a user's data takes the
/// update's `claim` when it is armed (never the cache: filling it twice is harmless).
pub fn routed(
    platform: &Platform,
    phases: impl Into<RequestPhases>,
    evidence: Evidence,
    later: AfterReplies,
    claim: UpdateClaim,
) -> Repos {
    let kv = Repos::kv(platform);
    let races = RaceChecks::default();
    let d1 = Repos::d1(&Platform {
        db: races.wrap(claim.wrap(platform.db.clone())),
        ..platform.clone()
    });
    let started = platform.clock.now_ms();
    let bumped = Rc::default();
    let repairs = Rc::new(RepairQueue::new(platform));
    // A version bump may be the command's first D1 call, and then carries the claim.
    let versions = Rc::new(EntityVersions::new(&Platform {
        db: claim.wrap(platform.db.clone()),
        ..platform.clone()
    }));
    let phases = phases.into();
    let route = |repository| Route {
        repository,
        phases: phases.clone(),
        repairs: repairs.clone(),
        versions: versions.clone(),
        clock: platform.clock.clone(),
        evidence: evidence.clone(),
        later: later.clone(),
        claim: claim.clone(),
        races: races.clone(),
        started,
        bumped: Rc::clone(&bumped),
    };
    let subscriptions = Rc::new(Routed {
        kv: kv.subscriptions,
        d1: d1.subscriptions,
        route: route(Repository::Subscriptions),
    });
    let watchlists = Rc::new(Routed {
        kv: kv.watchlists,
        d1: d1.watchlists,
        route: route(Repository::Watchlists),
    });
    let executions = Rc::new(Routed {
        kv: kv.executions,
        d1: d1.executions,
        route: route(Repository::Executions),
    });
    let positions = Rc::new(Routed {
        kv: kv.positions,
        d1: d1.positions,
        route: route(Repository::Positions),
    });
    Repos {
        units: Rc::new(RoutedUnits {
            kv: kv.units,
            d1: d1.units,
            route: route(Repository::Executions),
            subscriptions: subscriptions.clone(),
            watchlists: watchlists.clone(),
            executions: executions.clone(),
            positions: positions.clone(),
        }),
        subscriptions,
        watchlists,
        executions,
        positions,
        cache: Rc::new(Routed {
            kv: kv.cache,
            d1: Rc::new(D1Cache(Sql::new(&Platform {
                db: races.wrap(platform.db.clone()),
                ..platform.clone()
            }))),
            route: Route {
                claim: UpdateClaim::none(),
                ..route(Repository::Cache)
            },
        }),
    }
}
