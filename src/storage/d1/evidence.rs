//! The shadow evidence in D1 (migration 0005): per-minute counters, the ring of the latest
//! divergences, and the entities written within the KV propagation window. One publication is
//! one `batch()`, written after the response.

use super::Sql;
use crate::platform::{Platform, SqlValue, Statement};
use crate::storage::{Operation, StorageResult};
use serde::Deserialize;

/// How many divergence records the ring keeps.
pub const DIVERGENCE_RING: i64 = 1_000;

const COUNT: &str =
    "INSERT INTO migration_counters (minute, repository, operation, outcome, count, total_ms) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (minute, repository, operation, outcome) \
     DO UPDATE SET count = count + excluded.count, total_ms = total_ms + excluded.total_ms";
const DIVERGE: &str =
    "INSERT INTO divergences (observed_at, repository, operation, entity_key, class, diff) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
const TRIM: &str = "DELETE FROM divergences WHERE id <= (SELECT MAX(id) FROM divergences) - ?1";
const WROTE: &str =
    "INSERT INTO recent_writes (repository, entity_key, written_at) VALUES (?1, ?2, ?3) \
     ON CONFLICT (repository, entity_key) DO UPDATE SET written_at = excluded.written_at";
const FORGET_WRITES: &str = "DELETE FROM recent_writes WHERE written_at < ?1";
pub(super) const WRITTEN_SINCE: &str =
    "SELECT repository, entity_key FROM recent_writes WHERE written_at >= ?1";
pub(super) const COUNTERS_SINCE: &str =
    "SELECT minute, repository, operation, outcome, count, total_ms \
     FROM migration_counters WHERE minute >= ?1 ORDER BY minute, repository, operation, outcome";
pub(super) const LATEST_DIVERGENCES: &str =
    "SELECT id, observed_at, repository, operation, entity_key, class, diff \
     FROM divergences WHERE (?2 IS NULL OR repository = ?2) AND (?3 IS NULL OR class = ?3) \
     ORDER BY id DESC LIMIT ?1";

/// One counter increment.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Count {
    /// Start of the minute bucket, ms since the epoch.
    pub minute: i64,
    pub repository: String,
    pub operation: String,
    pub outcome: String,
    pub count: i64,
    pub total_ms: i64,
}

/// One stored divergence.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Divergence {
    #[serde(default)]
    pub id: i64,
    pub observed_at: i64,
    pub repository: String,
    pub operation: String,
    pub entity_key: String,
    pub class: String,
    pub diff: String,
}

/// An entity a request wrote.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
pub struct Written {
    pub repository: String,
    pub entity_key: String,
}

/// Everything one request observed, to be written in one batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Publication {
    pub counts: Vec<Count>,
    pub divergences: Vec<Divergence>,
    pub writes: Vec<Written>,
}

/// The evidence tables.
pub struct EvidenceStore(Sql);

impl EvidenceStore {
    pub fn new(platform: &Platform) -> Self {
        Self(Sql::new(platform))
    }

    /// Entities written at or after `since` (ms since the epoch), by any request.
    pub async fn written_since(&self, since: i64) -> StorageResult<Vec<Written>> {
        let op = Operation::new("evidence.written_since");
        self.0
            .query_as(&op, Statement::new(WRITTEN_SINCE, vec![since.into()]))
            .await
    }

    /// Writes a publication in one batch: counters added, divergences appended and the ring
    /// trimmed, this request's writes remembered and those older than `forget_before` dropped.
    pub async fn publish(
        &self,
        publication: &Publication,
        forget_before: i64,
    ) -> StorageResult<()> {
        let op = Operation::new("evidence.publish");
        let now = self.0.now();
        let mut statements: Vec<Statement> = publication
            .counts
            .iter()
            .map(|c| {
                let params = vec![
                    c.minute.into(),
                    c.repository.clone().into(),
                    c.operation.clone().into(),
                    c.outcome.clone().into(),
                    c.count.into(),
                    c.total_ms.into(),
                ];
                Statement::new(COUNT, params)
            })
            .collect();
        for d in &publication.divergences {
            let params = vec![
                d.observed_at.into(),
                d.repository.clone().into(),
                d.operation.clone().into(),
                d.entity_key.clone().into(),
                d.class.clone().into(),
                d.diff.clone().into(),
            ];
            statements.push(Statement::new(DIVERGE, params));
        }
        if !publication.divergences.is_empty() {
            statements.push(Statement::new(TRIM, vec![DIVERGENCE_RING.into()]));
        }
        for w in &publication.writes {
            let params = vec![
                w.repository.clone().into(),
                w.entity_key.clone().into(),
                now.into(),
            ];
            statements.push(Statement::new(WROTE, params));
        }
        statements.push(Statement::new(FORGET_WRITES, vec![forget_before.into()]));
        self.0.batch(&op, statements).await.map(drop)
    }

    /// Counters of the minutes from `since` on, oldest first.
    pub async fn counters_since(&self, since: i64) -> StorageResult<Vec<Count>> {
        let op = Operation::new("evidence.counters_since");
        self.0
            .query_as(&op, Statement::new(COUNTERS_SINCE, vec![since.into()]))
            .await
    }

    /// The newest divergences, newest first, of one repository and class when given.
    pub async fn latest_divergences(
        &self,
        limit: i64,
        repository: Option<&str>,
        class: Option<&str>,
    ) -> StorageResult<Vec<Divergence>> {
        let op = Operation::new("evidence.latest_divergences");
        let text = |v: Option<&str>| v.map_or(SqlValue::Null, SqlValue::from);
        let params = vec![limit.into(), text(repository), text(class)];
        self.0
            .query_as(&op, Statement::new(LATEST_DIVERGENCES, params))
            .await
    }
}
