//! `cache`: one row per key with `expires_at = written_at + 5 minutes`, fresh while
//! `now < expires_at`, the same rule as the KV entry's timestamp (legacy §10.4).

use super::Sql;
use crate::domain::{js_stringify, parse_json, CacheEntry, CACHE_TTL_MS};
use crate::platform::Statement;
use crate::storage::{CacheRepo, Operation, StorageError, StorageResult};
use async_trait::async_trait;
use serde::Deserialize;

pub(super) const SELECT_FRESH: &str =
    "SELECT cache_value, updated_at FROM cache WHERE cache_key = ?1 AND expires_at > ?2";
const UPSERT: &str = "INSERT INTO cache (cache_key, cache_value, expires_at, updated_at) \
     VALUES (?1, ?2, ?3, ?4) ON CONFLICT(cache_key) DO UPDATE SET \
     cache_value = excluded.cache_value, expires_at = excluded.expires_at, \
     updated_at = excluded.updated_at";
pub(super) const PURGE: &str = "DELETE FROM cache WHERE expires_at <= ?1";

/// The D1 cache; besides the repository it can purge expired rows (the maintenance cron).
pub struct D1Cache(pub(crate) Sql);

#[derive(Deserialize)]
pub(super) struct CacheRow {
    cache_value: String,
    updated_at: i64,
}

impl CacheRow {
    /// The entry the row holds; `key` names it in a decode error.
    pub(super) fn entry(self, op: &Operation, key: &str) -> StorageResult<CacheEntry> {
        let data = parse_json(&self.cache_value).map_err(|e| StorageError::Decode {
            operation: op.clone(),
            key: format!("cache.cache_key={key}"),
            message: e.to_string(),
        })?;
        Ok(CacheEntry {
            data,
            written_at: self.updated_at,
        })
    }
}

/// The statement that stores `entry` under `key`, replacing what was there.
pub(super) fn upsert(key: &str, entry: &CacheEntry) -> Statement {
    Statement::new(
        UPSERT,
        vec![
            key.into(),
            js_stringify(&entry.data).into(),
            (entry.written_at + CACHE_TTL_MS).into(),
            entry.written_at.into(),
        ],
    )
}

impl D1Cache {
    /// Deletes every row expired at `now_ms`; returns how many.
    pub(crate) async fn purge_expired(&self, now_ms: i64) -> StorageResult<u64> {
        let op = Operation::new("cache.purge_expired");
        self.0
            .execute(&op, Statement::new(PURGE, vec![now_ms.into()]))
            .await
    }
}

#[async_trait(?Send)]
impl CacheRepo for D1Cache {
    async fn fresh(&self, key: &str, now_ms: i64) -> StorageResult<Option<CacheEntry>> {
        let op = Operation::new("cache.fresh");
        let rows: Vec<CacheRow> = self
            .0
            .query_as(
                &op,
                Statement::new(SELECT_FRESH, vec![key.into(), now_ms.into()]),
            )
            .await?;
        rows.into_iter()
            .next()
            .map(|row| row.entry(&op, key))
            .transpose()
    }

    async fn store(&self, key: &str, entry: &CacheEntry) -> StorageResult<()> {
        let op = Operation::new("cache.store");
        self.0.execute(&op, upsert(key, entry)).await.map(drop)
    }
}
