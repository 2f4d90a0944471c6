//! `fear_greed_cache`: `{"data":…,"timestamp":<ms>}` (legacy §4.8); fresh for 5 minutes, and
//! stale entries are ignored, not deleted.

use super::Kv;
use crate::domain::CacheEntry;
use crate::storage::{CacheRepo, Operation, StorageResult};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};

pub struct KvCache(pub(crate) Kv);

/// The stored shape (a [`record`](super::record)); readers accept any key order.
#[derive(Deserialize)]
pub(super) struct Stored {
    data: Value,
    /// `Date.now()` at write time; read leniently as a double, as JavaScript would.
    timestamp: f64,
}

#[async_trait(?Send)]
impl CacheRepo for KvCache {
    async fn fresh(&self, key: &str, now_ms: i64) -> StorageResult<Option<CacheEntry>> {
        let op = Operation::new("cache.fresh");
        let stored: Option<Stored> = self.0.get_record(&op, key).await?;
        Ok(stored
            .map(Stored::entry)
            .filter(|entry| entry.is_fresh(now_ms)))
    }

    async fn store(&self, key: &str, entry: &CacheEntry) -> StorageResult<()> {
        let op = Operation::new("cache.store");
        self.0.put_json(&op, key, &encode(entry)).await
    }
}

impl Stored {
    pub(super) fn entry(self) -> CacheEntry {
        CacheEntry {
            data: self.data,
            // The legacy bot writes whole milliseconds. Of another number, the next whole
            // one keeps JavaScript's verdict for every whole `now`: `now - t < 300000` holds
            // exactly when it holds for `ceil(t)`. (Beyond `i64`, `as` saturates.)
            written_at: self.timestamp.ceil() as i64,
        }
    }
}

/// The stored form of an entry.
pub(super) fn encode(entry: &CacheEntry) -> Value {
    json!({ "data": entry.data, "timestamp": entry.written_at })
}
