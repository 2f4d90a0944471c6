//! The repositories on D1, in the tables of `migrations/`. Every value is a bound parameter,
//! every multi-statement change is one atomic `batch()`, every list has an explicit `ORDER BY`
//! reproducing the KV order, and a chat that never subscribed gets a `users` row (status 0) on
//! its first write so foreign keys hold (legacy §10.6).

mod broadcasts;
mod cache;
mod census;
mod entities;
mod evidence;
mod executions;
mod pages;
#[cfg(feature = "testing")]
mod plan_check;
mod positions;
mod repairs;
mod settings;
mod slot;
mod subscriptions;
mod sweeps;
mod units;
mod updates;
mod watchlists;

pub use broadcasts::{BroadcastRuns, DeadLetters, PlannedRun, Progress};
pub use cache::D1Cache;
pub use census::Census;
pub use entities::statement_bound;
pub use entities::D1Entities;
pub use evidence::{Count, Divergence, EvidenceStore, Publication, DIVERGENCE_RING};
pub use executions::D1Executions;
pub use pages::{PageRow, Pages};
#[cfg(feature = "testing")]
pub use plan_check::statements_for_plan_check;
pub use positions::D1Positions;
pub use repairs::{RaceChecks, Repair, RepairQueue, Since};
pub(crate) use settings::restore_command;
pub use settings::{D1Settings, PhaseStanding, SettingChange, SettingRow};
pub use subscriptions::D1Subscriptions;
pub use sweeps::{Checkpoint, Commit, EntityVersions, Finding, SweepRow, SweepStore, Version};
pub use units::D1Units;
pub use updates::{Claim, PhaseRows, UpdateClaim, UpdateClaims, CLAIM_EXPIRY_MS};
pub(crate) use watchlists::D1Watchlists;

use super::{classify, D1Call, Operation, StorageError, StorageResult};
use crate::domain::ChatId;
use crate::platform::{Clock, Platform, Row, SqlDatabase, Statement};
use crate::storage::Repository;
use serde::de::DeserializeOwned;
use std::rc::Rc;

/// Creates the chat's `users` row if it has none, without subscribing it.
const ENSURE_USER: &str = "INSERT OR IGNORE INTO users (chat_id, subscription_status, created_at, updated_at) VALUES (?1, 0, ?2, ?2)";
const PING: &str = "SELECT 1 AS ok";
/// Bumps an entity's version (see `sweeps`): the triggers of migration 0006 do it for every
/// changed row, this for a write that may change none (a delete of a row D1 never held) while
/// KV's copy of the same write did change something.
const TOUCH: &str = "INSERT INTO entity_versions (repository, entity_key, version, changed_at) \
     VALUES (?1, ?2, 1, CAST(unixepoch('subsec') * 1000 AS INTEGER)) \
     ON CONFLICT(repository, entity_key) DO UPDATE SET version = version + 1, \
     changed_at = excluded.changed_at";

/// A D1 database with the error classification and row decoding every D1 repository needs.
#[derive(Clone)]
pub(crate) struct Sql {
    db: Rc<dyn SqlDatabase>,
    clock: Rc<dyn Clock>,
}

impl Sql {
    pub(crate) fn new(platform: &Platform) -> Self {
        Self {
            db: platform.db.clone(),
            clock: platform.clock.clone(),
        }
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    pub(crate) async fn ping(&self) -> StorageResult<()> {
        self.query(&Operation::new("d1.ping"), Statement::new(PING, vec![]))
            .await
            .map(drop)
    }

    async fn query(&self, op: &Operation, statement: Statement) -> StorageResult<Vec<Row>> {
        self.db
            .query(&statement)
            .await
            .map_err(|e| classify(op.clone(), D1Call::Single, e))
    }

    /// Runs a query and decodes each row into `T`.
    async fn query_as<T: DeserializeOwned>(
        &self,
        op: &Operation,
        statement: Statement,
    ) -> StorageResult<Vec<T>> {
        let sql = statement.sql;
        self.query(op, statement)
            .await?
            .into_iter()
            .map(|row| {
                serde_json::from_value(serde_json::Value::Object(row)).map_err(|e| {
                    StorageError::Decode {
                        operation: op.clone(),
                        key: sql.to_owned(),
                        message: e.to_string(),
                    }
                })
            })
            .collect()
    }

    async fn execute(&self, op: &Operation, statement: Statement) -> StorageResult<u64> {
        self.db
            .execute(&statement)
            .await
            .map_err(|e| classify(op.clone(), D1Call::Single, e))
    }

    /// Runs statements atomically; returns the rows each changed.
    async fn batch(&self, op: &Operation, statements: Vec<Statement>) -> StorageResult<Vec<u64>> {
        self.db
            .batch(&statements)
            .await
            .map_err(|e| classify(op.clone(), D1Call::Batch, e))
    }

    /// The statement that bumps the version of `repository`'s entity `entity_key`, for the
    /// end of a write's batch.
    fn touch(&self, repository: Repository, entity_key: &str) -> Statement {
        Statement::new(TOUCH, vec![repository.as_str().into(), entity_key.into()])
    }

    /// The statement that gives `chat` its `users` row before a per-chat write.
    fn ensure_user(&self, chat: ChatId) -> Statement {
        Statement::new(ENSURE_USER, vec![chat_param(chat), self.now().into()])
    }
}

/// Chat ids are `TEXT` in D1: the decimal form, `-` kept.
fn chat_param(chat: ChatId) -> crate::platform::SqlValue {
    chat.to_string().into()
}
