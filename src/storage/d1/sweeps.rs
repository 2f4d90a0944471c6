//! The D1 side of the sweeps (`migration::sweep`): their checkpoints (`sweeps`), what they
//! found (`sweep_findings`), the entity versions the triggers of migration 0006 keep, and the
//! guarded batch in which a copy into D1 lands together with its checkpoint.
//!
//! # The version guard
//!
//! A copy into D1 must never overwrite a change a user made after the copy read its source.
//! Every change of an entity's rows bumps its version (`entity_versions`, by trigger, in the
//! same transaction as the change). A copy reads the versions *before* it reads the source,
//! and its batch starts each entity with [`GUARD`], which violates `entity_unchanged` when the
//! version moved: the whole batch rolls back and nothing of it, checkpoint included, lands.
//! [`SweepStore::commit`] then says [`Commit::Raced`], and the sweep retries entity by entity.

use super::{D1Entities, Sql};
use crate::platform::{Platform, SqlValue, Statement};
use crate::storage::{
    classify, D1Call, Operation, Repository, Snapshot, StorageError, StorageResult,
};
use serde::Deserialize;
use std::collections::HashMap;

const SWEEP: &str = "SELECT kind, repository, kv_cursor, after_key, finished, tally, started_at, \
     updated_at, finished_at FROM sweeps WHERE kind = ?1 AND repository = ?2";
const SWEEPS: &str = "SELECT kind, repository, kv_cursor, after_key, finished, tally, started_at, \
     updated_at, finished_at FROM sweeps ORDER BY kind, repository";
const CHECKPOINT: &str = "INSERT INTO sweeps (kind, repository, kv_cursor, after_key, finished, \
     tally, started_at, updated_at, finished_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
     ON CONFLICT(kind, repository) DO UPDATE SET kv_cursor = excluded.kv_cursor, \
     after_key = excluded.after_key, finished = excluded.finished, tally = excluded.tally, \
     updated_at = excluded.updated_at, finished_at = excluded.finished_at";
const FORGET_SWEEP: &str = "DELETE FROM sweeps WHERE kind = ?1 AND repository = ?2";
const FORGET_FINDINGS: &str = "DELETE FROM sweep_findings WHERE kind = ?1 AND repository = ?2";
const FIND: &str = "INSERT INTO sweep_findings \
     (kind, repository, entity_key, problem, detail, found_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
const FINDINGS: &str = "SELECT entity_key, problem, detail FROM sweep_findings \
     WHERE kind = ?1 AND repository = ?2 ORDER BY id LIMIT ?3";
/// ?2: the entity keys as one JSON array; ?3: how young (ms, by D1's clock) a change is recent.
const VERSIONS: &str = "SELECT entity_key, version, \
     changed_at > CAST(unixepoch('subsec') * 1000 AS INTEGER) - ?3 AS recent \
     FROM entity_versions WHERE repository = ?1 AND entity_key IN (SELECT value FROM json_each(?2))";
/// Fails with `sweep_unchanged` unless the sweep (?1, ?2) has swept exactly ?3 pages: no
/// other step of it (the cron's and an operator's at once, or a restart) landed meanwhile.
const SWEEP_GUARD: &str = "UPDATE copy_guard SET current = \
     (COALESCE((SELECT json_extract(tally, '$.pages') FROM sweeps \
     WHERE kind = ?1 AND repository = ?2), -1) = ?3) WHERE id = 1";
/// Fails with `entity_unchanged` unless the entity's version is still ?3 (0: none yet).
pub(super) const GUARD: &str = "UPDATE copy_guard SET unchanged = \
     (COALESCE((SELECT version FROM entity_versions WHERE repository = ?1 AND entity_key = ?2), 0) \
     = ?3) WHERE id = 1";
/// Keys in (?1, ?2], in the order KV lists them (byte order, as SQLite's `BINARY` compares).
pub(super) const WATCHLIST_KEYS: &str = "SELECT DISTINCT chat_id AS entity_key FROM watchlists \
     WHERE chat_id > ?1 AND chat_id <= ?2 ORDER BY chat_id LIMIT ?3";
pub(super) const EXECUTION_KEYS: &str = "SELECT DISTINCT chat_id AS entity_key FROM executions \
     WHERE chat_id > ?1 AND chat_id <= ?2 ORDER BY chat_id LIMIT ?3";
pub(super) const POSITION_KEYS: &str = "SELECT chat_id AS entity_key FROM active_positions \
     WHERE chat_id > ?1 AND chat_id <= ?2 ORDER BY chat_id LIMIT ?3";
pub(super) const CACHE_KEYS: &str = "SELECT cache_key AS entity_key FROM cache \
     WHERE cache_key > ?1 AND cache_key <= ?2 ORDER BY cache_key LIMIT ?3";
/// Above every key (U+10FFFF is the largest character UTF-8 can encode).
const LAST: &str = "\u{10FFFF}";

/// One sweep's checkpoint, as the `sweeps` table holds it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SweepRow {
    pub kind: String,
    pub repository: String,
    pub kv_cursor: Option<String>,
    pub after_key: Option<String>,
    #[serde(deserialize_with = "flag")]
    pub finished: bool,
    /// JSON, owned by `migration::sweep`.
    pub tally: String,
    pub started_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    i64::deserialize(d).map(|v| v != 0)
}

/// Something a sweep found about one entity or KV key.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
pub struct Finding {
    pub entity_key: String,
    /// e.g. `kv_decode_error`, `bad_key`, `missing_in_d1`, `value_mismatch`.
    pub problem: String,
    pub detail: String,
}

/// An entity's D1 version as a copy reads it before its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Version {
    /// 0 when D1 never held the entity.
    pub number: i64,
    /// Changed within the window asked for: KV may not show that change yet.
    pub recent: bool,
}

/// How a guarded commit ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    Landed,
    /// A copied entity changed after its version was read: nothing landed.
    Raced,
    /// Another step of the same sweep landed since this one read its checkpoint: nothing
    /// landed.
    Superseded,
}

/// A sweep's new checkpoint, and how many pages the one it replaces had swept.
pub struct Checkpoint<'a> {
    pub row: &'a SweepRow,
    pub after_pages: u64,
}

#[derive(Deserialize)]
struct VersionRow {
    entity_key: String,
    version: i64,
    recent: i64,
}

#[derive(Deserialize)]
struct KeyRow {
    entity_key: String,
}

/// Entity versions, for the writes that must announce a change before they make it.
pub struct EntityVersions(Sql);

impl EntityVersions {
    pub fn new(platform: &Platform) -> Self {
        Self(Sql::new(platform))
    }

    /// Bumps the version of `repository`'s entity `entity_key`, as a change of its rows would,
    /// after `check` (a race check, `RepairQueue::race_check`) in the same transaction; the
    /// version it left.
    pub async fn touch(
        &self,
        repository: Repository,
        entity_key: &str,
        check: Option<Statement>,
    ) -> StorageResult<i64> {
        let op = Operation::new("entity_versions.touch");
        let mut writes: Vec<Statement> = check.into_iter().collect();
        writes.push(self.0.touch(repository, entity_key));
        let read = Statement::new(VERSION, vec![repository.as_str().into(), entity_key.into()]);
        let rows = (self.0.db.query_after(&writes, &read).await)
            .map_err(|e| classify(op.clone(), D1Call::Batch, e))?;
        rows.first()
            .and_then(|row| row.get("version")?.as_i64())
            .ok_or_else(|| StorageError::Decode {
                operation: op,
                key: format!("entity_versions.{repository}.{entity_key}"),
                message: "no version after the bump".into(),
            })
    }

    /// Whether `repository`'s entity `entity_key` (any of its entities when `None`) changed in
    /// D1 less than `window_ms` ago, on D1's own clock.
    pub(crate) async fn changed_within(
        &self,
        repository: Repository,
        entity_key: Option<&str>,
        window_ms: i64,
    ) -> StorageResult<bool> {
        let op = Operation::new("entity_versions.changed_within");
        let statement = match entity_key {
            Some(key) => Statement::new(
                CHANGED_WITHIN,
                vec![repository.as_str().into(), window_ms.into(), key.into()],
            ),
            None => Statement::new(
                CHANGED_WITHIN_REPOSITORY,
                vec![repository.as_str().into(), window_ms.into()],
            ),
        };
        Ok(!self.0.query(&op, statement).await?.is_empty())
    }
}

pub(super) const CHANGED_WITHIN_REPOSITORY: &str =
    "SELECT 1 FROM entity_versions WHERE repository = ?1 \
     AND changed_at > CAST(unixepoch('subsec') * 1000 AS INTEGER) - ?2 LIMIT 1";
/// One entity's version.
pub(super) const VERSION: &str =
    "SELECT version FROM entity_versions WHERE repository = ?1 AND entity_key = ?2";
pub(super) const CHANGED_WITHIN: &str = "SELECT 1 FROM entity_versions WHERE repository = ?1 \
     AND changed_at > CAST(unixepoch('subsec') * 1000 AS INTEGER) - ?2 AND entity_key = ?3";

/// The sweeps' tables in D1.
pub struct SweepStore {
    sql: Sql,
    entities: D1Entities,
}

impl SweepStore {
    pub fn new(platform: &Platform) -> Self {
        Self {
            sql: Sql::new(platform),
            entities: D1Entities::new(platform),
        }
    }

    /// The checkpoint of the `kind` sweep of `repository`, if one ever started.
    pub(crate) async fn sweep(
        &self,
        kind: &str,
        repository: Repository,
    ) -> StorageResult<Option<SweepRow>> {
        let op = Operation::new("sweeps.sweep");
        let statement = Statement::new(SWEEP, vec![kind.into(), repository.as_str().into()]);
        Ok(self.sql.query_as(&op, statement).await?.into_iter().next())
    }

    /// Every sweep's checkpoint.
    pub(crate) async fn sweeps(&self) -> StorageResult<Vec<SweepRow>> {
        let op = Operation::new("sweeps.all");
        self.sql.query_as(&op, Statement::new(SWEEPS, vec![])).await
    }

    /// Starts the sweeps `checkpoints` record, in one `batch()`: whatever an earlier sweep of
    /// the same kind and repository recorded, findings included, is replaced.
    pub(crate) async fn start(&self, checkpoints: &[SweepRow]) -> StorageResult<()> {
        let op = Operation::new("sweeps.start");
        let statements = checkpoints
            .iter()
            .flat_map(|row| {
                let params = || {
                    vec![
                        SqlValue::from(row.kind.as_str()),
                        row.repository.as_str().into(),
                    ]
                };
                [
                    Statement::new(FORGET_SWEEP, params()),
                    Statement::new(FORGET_FINDINGS, params()),
                    checkpoint_statement(row),
                ]
            })
            .collect();
        self.sql.batch(&op, statements).await.map(drop)
    }

    /// The sweep's first `limit` findings, in the order it found them.
    pub async fn findings(
        &self,
        kind: &str,
        repository: Repository,
        limit: u32,
    ) -> StorageResult<Vec<Finding>> {
        let op = Operation::new("sweeps.findings");
        let params = vec![
            kind.into(),
            repository.as_str().into(),
            i64::from(limit).into(),
        ];
        self.sql
            .query_as(&op, Statement::new(FINDINGS, params))
            .await
    }

    /// The D1 versions of `keys` (entity keys), with which of them changed within `recent_ms`.
    /// A key D1 never held is absent from the map (version 0).
    pub(crate) async fn versions(
        &self,
        repository: Repository,
        keys: &[String],
        recent_ms: i64,
    ) -> StorageResult<HashMap<String, Version>> {
        let op = Operation::new("sweeps.versions");
        let keys = serde_json::Value::from(keys.to_vec()).to_string();
        let statement = Statement::new(
            VERSIONS,
            vec![repository.as_str().into(), keys.into(), recent_ms.into()],
        );
        let rows: Vec<VersionRow> = self.sql.query_as(&op, statement).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let version = Version {
                    number: row.version,
                    recent: row.recent != 0,
                };
                (row.entity_key, version)
            })
            .collect())
    }

    /// The first `limit` keys of the per-chat and cache entities D1 holds in `(after, upto]`
    /// (`None`: from the first, to the last), in KV's order. The subscriber list is no such
    /// entity.
    pub(crate) async fn keys_between(
        &self,
        repository: Repository,
        after: Option<&str>,
        upto: Option<&str>,
        limit: usize,
    ) -> StorageResult<Vec<String>> {
        let sql = match repository {
            Repository::Subscriptions => return Ok(Vec::new()),
            Repository::Watchlists => WATCHLIST_KEYS,
            Repository::Executions => EXECUTION_KEYS,
            Repository::Positions => POSITION_KEYS,
            Repository::Cache => CACHE_KEYS,
        };
        let op = Operation::new("sweeps.keys");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let params = vec![
            after.unwrap_or("").into(),
            upto.unwrap_or(LAST).into(),
            limit.into(),
        ];
        let rows: Vec<KeyRow> = self.sql.query_as(&op, Statement::new(sql, params)).await?;
        Ok(rows.into_iter().map(|row| row.entity_key).collect())
    }

    /// A page's writes in one `batch()`: every copy (each guarded by the version read before
    /// its source), the findings of the `kind` sweep of `repository`, and its checkpoint
    /// (guarded by the pages the previous one had). All of it lands, or none of it.
    pub(crate) async fn commit(
        &self,
        kind: &str,
        repository: Repository,
        copies: &[(Snapshot, Version)],
        findings: &[Finding],
        checkpoint: Checkpoint<'_>,
    ) -> StorageResult<Commit> {
        let op = Operation::new("sweeps.commit");
        let repository = repository.as_str();
        let mut statements = Vec::new();
        for (snapshot, version) in copies {
            statements.push(Statement::new(
                GUARD,
                vec![
                    repository.into(),
                    snapshot.key().to_string().into(),
                    version.number.into(),
                ],
            ));
            statements.extend(self.entities.statements(snapshot).await?);
        }
        let now = self.sql.now();
        statements.extend(findings.iter().map(|finding| {
            Statement::new(
                FIND,
                vec![
                    kind.into(),
                    repository.into(),
                    finding.entity_key.as_str().into(),
                    finding.problem.as_str().into(),
                    finding.detail.as_str().into(),
                    now.into(),
                ],
            )
        }));
        let pages = i64::try_from(checkpoint.after_pages).unwrap_or(i64::MAX);
        statements.push(Statement::new(
            SWEEP_GUARD,
            vec![kind.into(), repository.into(), pages.into()],
        ));
        statements.push(checkpoint_statement(checkpoint.row));
        match self.sql.batch(&op, statements).await {
            Ok(_) => Ok(Commit::Landed),
            Err(StorageError::D1Constraint { constraint, .. })
                if constraint.contains("entity_unchanged") =>
            {
                Ok(Commit::Raced)
            }
            Err(StorageError::D1Constraint { constraint, .. })
                if constraint.contains("sweep_unchanged") =>
            {
                Ok(Commit::Superseded)
            }
            Err(error) => Err(error),
        }
    }
}

/// The statement that records `row` as its sweep's checkpoint.
fn checkpoint_statement(row: &SweepRow) -> Statement {
    let text = |v: &Option<String>| v.clone().map_or(SqlValue::Null, SqlValue::from);
    Statement::new(
        CHECKPOINT,
        vec![
            row.kind.as_str().into(),
            row.repository.as_str().into(),
            text(&row.kv_cursor),
            text(&row.after_key),
            i64::from(row.finished).into(),
            row.tally.as_str().into(),
            row.started_at.into(),
            row.updated_at.into(),
            row.finished_at.map_or(SqlValue::Null, SqlValue::from),
        ],
    )
}
