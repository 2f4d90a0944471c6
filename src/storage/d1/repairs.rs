//! `repair_queue`: the entities whose second write failed (migration.md §2), one row per
//! repository, entity and target store. The phase router fills it and asks it whether an
//! entity's KV value is known to be stale; the repair drain (`migration::repair`, run by the
//! maintenance cron and the admin API) empties it. It lives in D1, so it is only as available
//! as D1: a failed enqueue is logged by the caller and left to validation to find.
//!
//! A row's `enqueued_at` is its version: every enqueue moves it forward, by at least 1 ms even
//! within the same millisecond, so the drain deletes a row only if no failure was queued for
//! the entity after the drain read it ([`RepairQueue::settle`]).
//!
//! A dual write's D1 call also carries a *race check* ([`RaceChecks`]): at the head of its own
//! batch, a statement that queues a repair of the entity when another write changed it lately
//! in D1, since the stores may then have applied the two writes in different orders
//! (MIGRATION.md, "Races"). It costs no round trip and writes no row unless it fires.

use super::Sql;
use crate::platform::{Platform, PlatformError, Row, SqlDatabase, SqlValue, Statement};
use crate::storage::kv::CHAT_IDS_KEY;
use crate::storage::{Operation, Repository, StorageError, StorageResult, Store};
use async_trait::async_trait;
use serde::Deserialize;
use std::cell::RefCell;
use std::rc::Rc;

/// Queues a repair, or refreshes the reason and time of the one already queued; the time always
/// moves forward (see the module documentation).
/// A reconciliation (see [`Repair::reconciles`]) never replaces a missed write's reason.
const ENQUEUE: &str =
    "INSERT INTO repair_queue (repository, entity_key, target, reason, enqueued_at) \
     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(repository, entity_key, target) DO UPDATE SET \
     reason = CASE WHEN excluded.reason LIKE ?6 THEN repair_queue.reason \
     ELSE excluded.reason END, \
     enqueued_at = MAX(excluded.enqueued_at, repair_queue.enqueued_at + 1)";
/// [`ENQUEUE`] when the entity's version row (?6) changed at or after ?7 (ms, D1's clock), or,
/// with ?8, when its version is no longer ?8; a row already queued keeps its reason, so a
/// missed write stays one (see [`Repair::reconciles`]).
pub(super) const RACE_CHECK: &str =
    "INSERT INTO repair_queue (repository, entity_key, target, reason, enqueued_at) \
     SELECT ?1, ?2, ?3, ?4, ?5 FROM entity_versions WHERE repository = ?1 AND entity_key = ?6 \
     AND CASE WHEN ?8 IS NULL THEN changed_at >= ?7 ELSE version <> ?8 END \
     ON CONFLICT(repository, entity_key, target) DO UPDATE SET \
     enqueued_at = MAX(excluded.enqueued_at, repair_queue.enqueued_at + 1)";
/// How the reason of a reconciliation begins (see [`Repair::reconciles`]).
const RECONCILE: &str = "reconcile: ";
/// [`RECONCILE`] as a `LIKE` pattern.
pub(super) const RECONCILING: &str = "reconcile: %";
/// The reason a race check queues.
const RACED: &str = "reconcile: written concurrently with another write, the stores may hold \
     them in different orders";
/// The reason a shadow read queues when KV still differs from D1 read again.
const DIVERGED: &str = "reconcile: KV differed from D1 on a shadow read";
/// Missed writes only: reconciliations (reasons like ?2) are not counted.
pub(super) const DEPTH: &str =
    "SELECT COUNT(*) AS depth FROM repair_queue WHERE repository = ?1 AND reason NOT LIKE ?2";
const TOTAL_DEPTH: &str = "SELECT COUNT(*) AS depth FROM repair_queue";
/// With ?4 = 0, a reconciliation (reason like ?5) does not count.
pub(super) const PENDING_FOR_ENTITY: &str = "SELECT 1 AS pending FROM repair_queue \
     WHERE repository = ?1 AND entity_key = ?2 AND target = ?3 AND (?4 = 1 OR reason NOT LIKE ?5)";
/// With ?3 = 0, a reconciliation (reason like ?4) does not count.
pub(super) const PENDING_IN_REPOSITORY: &str = "SELECT 1 AS pending FROM repair_queue \
     WHERE repository = ?1 AND target = ?2 AND (?3 = 1 OR reason NOT LIKE ?4) LIMIT 1";
/// Fewest attempts first, then oldest: a repair that keeps failing goes behind the others
/// instead of taking every step's budget. Not in the plan check: it reads the whole queue and
/// sorts it by design (the queue is short; an index would need a migration).
const NEXT: &str = "SELECT repository, entity_key, target, reason, enqueued_at, attempts \
     FROM repair_queue ORDER BY attempts, enqueued_at, rowid LIMIT ?1";
/// Deletes a repair unless it was queued again since it was read.
pub(super) const SETTLE: &str = "DELETE FROM repair_queue \
     WHERE repository = ?1 AND entity_key = ?2 AND target = ?3 AND enqueued_at = ?4";
pub(super) const BUMP_ATTEMPTS: &str = "UPDATE repair_queue SET attempts = attempts + 1 \
     WHERE repository = ?1 AND entity_key = ?2 AND target = ?3";

/// The D1 queue of entities one store missed a write for.
pub struct RepairQueue(Sql);

/// One queued repair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    pub repository: Repository,
    /// The chat id (decimal) or the cache key.
    pub entity_key: String,
    /// The store that missed the write, to be re-copied from the other one.
    pub target: Store,
    /// The failed write's error.
    pub reason: String,
    /// Milliseconds since the epoch of the latest failure.
    pub enqueued_at: i64,
    pub attempts: i64,
}

impl Repair {
    /// A reconciliation, not a missed write: queued by a race check (the stores may have
    /// applied concurrent writes in different orders) or by a shadow read that found KV
    /// still differing from D1. No write a user saw acknowledged is missing from the store
    /// that answered it, so that store wins when the drain reaches the row.
    pub fn reconciles(&self) -> bool {
        self.reason.starts_with(RECONCILE)
    }
}

#[derive(Deserialize)]
struct RepairRow {
    repository: String,
    entity_key: String,
    target: String,
    reason: String,
    enqueued_at: i64,
    attempts: i64,
}

#[derive(Deserialize)]
struct DepthRow {
    depth: i64,
}

impl RepairQueue {
    pub fn new(platform: &Platform) -> Self {
        Self(Sql::new(platform))
    }

    /// Records that `target` missed a write of `entity_key`; idempotent per entity and target.
    pub async fn enqueue(
        &self,
        repository: Repository,
        entity_key: &str,
        target: Store,
        reason: &str,
    ) -> StorageResult<()> {
        let op = Operation::new("repairs.enqueue");
        let params = vec![
            repository.as_str().into(),
            entity_key.into(),
            target.as_str().into(),
            reason.into(),
            self.0.now().into(),
            RECONCILING.into(),
        ];
        self.0
            .execute(&op, Statement::new(ENQUEUE, params))
            .await
            .map(drop)
    }

    /// Queues KV's reconciliation with D1 for `entity_key`: a shadow read found KV still
    /// differing from D1 read again.
    pub async fn enqueue_divergence(
        &self,
        repository: Repository,
        entity_key: &str,
    ) -> StorageResult<()> {
        self.enqueue(repository, entity_key, Store::Kv, DIVERGED)
            .await
    }

    /// Runs a [`RepairQueue::race_check`] on its own.
    pub(crate) async fn check_race(&self, check: Statement) -> StorageResult<()> {
        let op = Operation::new("repairs.race_check");
        self.0.execute(&op, check).await.map(drop)
    }

    /// The race check of a write of `repository`'s entity `entity_key` that `target` receives
    /// second: queues its repair when D1 changed the entity since `since` (see [`Since`]).
    pub(crate) fn race_check(
        &self,
        repository: Repository,
        entity_key: &str,
        target: Store,
        since: Since,
    ) -> Statement {
        let versioned = match repository {
            Repository::Subscriptions => CHAT_IDS_KEY,
            _ => entity_key,
        };
        let (at, version) = match since {
            Since::Time(ms) => (ms, SqlValue::Null),
            Since::Version(version) => (0, version.into()),
        };
        let params = vec![
            repository.as_str().into(),
            entity_key.into(),
            target.as_str().into(),
            RACED.into(),
            self.0.now().into(),
            versioned.into(),
            at.into(),
            version,
        ];
        Statement::new(RACE_CHECK, params)
    }

    /// How many missed writes are queued for repair in `repository` (either target; the race
    /// checks' rows are not counted).
    pub async fn depth(&self, repository: Repository) -> StorageResult<u64> {
        let op = Operation::new("repairs.depth");
        let params = vec![repository.as_str().into(), RECONCILING.into()];
        let rows: Vec<DepthRow> = self.0.query_as(&op, Statement::new(DEPTH, params)).await?;
        // COUNT(*) always yields one row, and never a negative count.
        Ok(rows.first().map_or(0, |row| row.depth.unsigned_abs()))
    }

    /// Whether a repair towards `target` is queued for `entity_key`, or with `None` for any
    /// entity of `repository`.
    pub async fn has_pending(
        &self,
        repository: Repository,
        entity_key: Option<&str>,
        target: Store,
    ) -> StorageResult<bool> {
        self.queued(repository, entity_key, target, true).await
    }

    /// Whether `target` missed a write of `entity_key` (with `None`, of any entity of
    /// `repository`) that is still queued for repair (a race check's row is not one).
    pub async fn has_missed_writes(
        &self,
        repository: Repository,
        entity_key: Option<&str>,
        target: Store,
    ) -> StorageResult<bool> {
        self.queued(repository, entity_key, target, false).await
    }

    async fn queued(
        &self,
        repository: Repository,
        entity_key: Option<&str>,
        target: Store,
        with_reconciliations: bool,
    ) -> StorageResult<bool> {
        let op = Operation::new("repairs.has_pending");
        let statement = match entity_key {
            Some(key) => Statement::new(
                PENDING_FOR_ENTITY,
                vec![
                    repository.as_str().into(),
                    key.into(),
                    target.as_str().into(),
                    i64::from(with_reconciliations).into(),
                    RECONCILING.into(),
                ],
            ),
            None => Statement::new(
                PENDING_IN_REPOSITORY,
                vec![
                    repository.as_str().into(),
                    target.as_str().into(),
                    i64::from(with_reconciliations).into(),
                    RECONCILING.into(),
                ],
            ),
        };
        Ok(!self.0.query(&op, statement).await?.is_empty())
    }

    /// How many repairs are queued in all.
    pub async fn total_depth(&self) -> StorageResult<u64> {
        let op = Operation::new("repairs.total_depth");
        let rows: Vec<DepthRow> = self
            .0
            .query_as(&op, Statement::new(TOTAL_DEPTH, vec![]))
            .await?;
        // As in `depth`.
        Ok(rows.first().map_or(0, |row| row.depth.unsigned_abs()))
    }

    /// Deletes `repair` once it is done, unless a failure was queued for the same entity and
    /// target after `repair` was read (its `enqueued_at` moved): that newer write still has to
    /// be copied. `true` when the row was deleted.
    pub(crate) async fn settle(&self, repair: &Repair) -> StorageResult<bool> {
        let op = Operation::new("repairs.settle");
        let mut params = key_params(repair);
        params.push(repair.enqueued_at.into());
        let deleted = self.0.execute(&op, Statement::new(SETTLE, params)).await?;
        Ok(deleted > 0)
    }

    /// Counts a failed attempt at `repair`; the row stays queued.
    pub(crate) async fn bump_attempts(&self, repair: &Repair) -> StorageResult<()> {
        let op = Operation::new("repairs.bump_attempts");
        let statement = Statement::new(BUMP_ATTEMPTS, key_params(repair));
        self.0.execute(&op, statement).await.map(drop)
    }

    /// Up to `limit` queued repairs, those tried least often first and among them the oldest
    /// failure first: what one drain step works on.
    pub async fn pending(&self, limit: u32) -> StorageResult<Vec<Repair>> {
        let op = Operation::new("repairs.pending");
        let rows: Vec<RepairRow> = self
            .0
            .query_as(&op, Statement::new(NEXT, vec![i64::from(limit).into()]))
            .await?;
        rows.into_iter()
            .map(|row| {
                let decode = |column: &str, value: &str, e: crate::storage::UnknownName| {
                    StorageError::Decode {
                        operation: op.clone(),
                        key: format!("repair_queue.{column}={value}"),
                        message: e.to_string(),
                    }
                };
                Ok(Repair {
                    repository: row
                        .repository
                        .parse()
                        .map_err(|e| decode("repository", &row.repository, e))?,
                    target: row
                        .target
                        .parse()
                        .map_err(|e| decode("target", &row.target, e))?,
                    entity_key: row.entity_key,
                    reason: row.reason,
                    enqueued_at: row.enqueued_at,
                    attempts: row.attempts,
                })
            })
            .collect()
    }
}

/// The parameters naming a repair's row: repository, entity key, target.
fn key_params(repair: &Repair) -> Vec<crate::platform::SqlValue> {
    vec![
        repair.repository.as_str().into(),
        repair.entity_key.as_str().into(),
        repair.target.as_str().into(),
    ]
}

/// Where a race check starts looking for other writes of the entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// Any change at or after this time (ms, D1's clock).
    Time(i64),
    /// Any change after the request's own, which left the entity at this version.
    Version(i64),
}

/// The race checks the D1 call of a dual write carries at the head of its first statement (a
/// single write becomes a batch, a read runs after them in one transaction): set before that
/// call by the router ([`RaceChecks::carry`]) and cleared after it, taken by its first
/// statement. Clones share them.
#[derive(Clone, Default)]
pub struct RaceChecks(Rc<RefCell<Vec<Statement>>>);

impl RaceChecks {
    /// `db`, carrying the checks of the call under way.
    pub(crate) fn wrap(&self, db: Rc<dyn SqlDatabase>) -> Rc<dyn SqlDatabase> {
        Rc::new(Checked {
            db,
            checks: self.clone(),
        })
    }

    /// Has the next statement carry `checks` (none once [`RaceChecks::clear`]ed).
    pub(crate) fn carry(&self, checks: Vec<Statement>) {
        *self.0.borrow_mut() = checks;
    }

    /// Drops the checks no statement carried.
    pub(crate) fn clear(&self) {
        self.0.borrow_mut().clear();
    }
}

/// The D1 database of [`RaceChecks::wrap`].
struct Checked {
    db: Rc<dyn SqlDatabase>,
    checks: RaceChecks,
}

#[async_trait(?Send)]
impl SqlDatabase for Checked {
    async fn query(&self, statement: &Statement) -> Result<Vec<Row>, PlatformError> {
        let checks = std::mem::take(&mut *self.checks.0.borrow_mut());
        if checks.is_empty() {
            return self.db.query(statement).await;
        }
        self.db.query_after(&checks, statement).await
    }

    async fn execute(&self, statement: &Statement) -> Result<u64, PlatformError> {
        if self.checks.0.borrow().is_empty() {
            return self.db.execute(statement).await;
        }
        Ok(self.batch(std::slice::from_ref(statement)).await?[0])
    }

    async fn batch(&self, statements: &[Statement]) -> Result<Vec<u64>, PlatformError> {
        let mut carried = std::mem::take(&mut *self.checks.0.borrow_mut());
        let skip = carried.len();
        carried.extend_from_slice(statements);
        Ok(self.db.batch(&carried).await?.split_off(skip))
    }
}
