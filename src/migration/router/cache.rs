//! `cache` routed: KV `fear_greed_cache` ↔ D1 `cache`, repairs keyed by cache key.
//!
//! Both stores apply the same freshness rule to the same `written_at`, so an entry expires in
//! both at the same instant and "D1 has no fresh entry where KV has one" means D1 missed the
//! write, as for any other record. A failed second write is queued like any other too; the
//! drain copies the entry as stored, fresh or not, since both stores judge freshness alike.

use super::Routed;
use crate::domain::CacheEntry;
use crate::storage::{CacheRepo, StorageResult};
use async_trait::async_trait;

#[async_trait(?Send)]
impl CacheRepo for Routed<dyn CacheRepo> {
    async fn fresh(&self, key: &str, now_ms: i64) -> StorageResult<Option<CacheEntry>> {
        self.read("cache.fresh", Some(key), |repo| {
            let key = key.to_owned();
            async move { repo.fresh(&key, now_ms).await }
        })
        .await
    }

    async fn store(&self, key: &str, entry: &CacheEntry) -> StorageResult<()> {
        self.write("cache.store", key, |repo| {
            let (key, entry) = (key.to_owned(), entry.clone());
            async move { repo.store(&key, &entry).await }
        })
        .await
    }
}
