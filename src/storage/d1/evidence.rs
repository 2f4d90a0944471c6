//! The shadow evidence in D1 (migration 0005): per-minute counters and the ring of the latest
//! divergences. One publication is one `batch()`, written after the response.

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

/// Everything one request observed, to be written in one batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Publication {
    pub counts: Vec<Count>,
    pub divergences: Vec<Divergence>,
}

/// The evidence tables.
pub struct EvidenceStore(Sql);

impl EvidenceStore {
    pub fn new(platform: &Platform) -> Self {
        Self(Sql::new(platform))
    }

    /// Writes a publication in one batch: counters added, divergences appended and the ring
    /// trimmed.
    pub async fn publish(&self, publication: &Publication) -> StorageResult<()> {
        let op = Operation::new("evidence.publish");
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
        if statements.is_empty() {
            // Nothing left to write (another request flushed the counters this one waited
            // for): D1 refuses an empty batch.
            return Ok(());
        }
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
