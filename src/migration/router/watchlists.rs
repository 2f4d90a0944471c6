//! `watchlists` routed: KV `watchlist:<id>` ↔ D1 `watchlists`, repairs keyed by chat id.

use super::route::Read;
use super::Routed;
use crate::domain::{ChatId, DEFAULT_TICKER};
use crate::migration::Phase;
use crate::storage::{AddTicker, RemoveTicker, StorageResult, Store, WatchlistRepo};
use async_trait::async_trait;

#[async_trait(?Send)]
impl WatchlistRepo for Routed<dyn WatchlistRepo> {
    /// Reading a watchlist can write (a missing or empty list is stored as `["SPY"]`, an
    /// un-normalised one rewritten), so in `dual_write` the read has a second half.
    ///
    /// Only the default can be new to D1 here: any other list KV holds was written by a change
    /// that was itself dual-written (or is the backfill's to copy), and a normalising rewrite
    /// only restores, in KV, the form D1 always stores. So when KV answers exactly `["SPY"]`,
    /// D1's own read runs too, creating the default there if it has no rows (a no-op read
    /// otherwise); its failure is a failed second write like any other. Any other answer leaves
    /// D1 alone: a default planted under a list D1 has not received yet would be a D1 record
    /// newer than KV's, which the backfill must not overwrite.
    ///
    /// In `shadow` both reads run anyway, and each creates its own default: KV's after the
    /// replies, with every other KV write. KV's default is a KV write that no D1 call checked
    /// for races (a concurrent first add's KV half can be overwritten by it), so when KV
    /// answers exactly `["SPY"]`, a race check runs after it, as in `dual_write`.
    async fn watchlist(&self, chat: ChatId) -> StorageResult<Vec<String>> {
        const OPERATION: &str = "watchlists.watchlist";
        let key = chat.to_string();
        let phase = self.route.phase().await;
        if phase == Phase::Shadow {
            let (kv, check) = (self.kv.clone(), self.route.race_check_later(&key));
            let kv_half = async move {
                let tickers = kv.watchlist(chat).await;
                if matches!(&tickers, Ok(tickers) if tickers == &[DEFAULT_TICKER]) {
                    check.await;
                }
                tickers
            };
            let d1 = || {
                let d1 = self.d1.clone();
                Box::pin(async move { d1.watchlist(chat).await })
            };
            return self
                .route
                .read(Read {
                    operation: OPERATION,
                    entity_key: Some(&key),
                    kv: Box::pin(kv_half),
                    d1: d1(),
                    recheck: d1(),
                })
                .await;
        }
        if phase == Phase::DualWrite {
            if self
                .route
                .answering_store_missed(phase, OPERATION, Some(&key))
                .await
            {
                return self.d1.watchlist(chat).await;
            }
            let tickers = self.kv.watchlist(chat).await?;
            if tickers == [DEFAULT_TICKER] {
                let d1 = self.d1.clone();
                let create = Box::pin(async move { d1.watchlist(chat).await });
                self.route.mirror(OPERATION, &key, Store::D1, create).await;
            }
            return Ok(tickers);
        }
        self.read(OPERATION, Some(&key), |repo| async move {
            repo.watchlist(chat).await
        })
        .await
    }

    async fn add(&self, chat: ChatId, ticker: &str) -> StorageResult<AddTicker> {
        self.write("watchlists.add", &chat.to_string(), |repo| {
            let ticker = ticker.to_owned();
            async move { repo.add(chat, &ticker).await }
        })
        .await
    }

    async fn remove(&self, chat: ChatId, ticker: &str) -> StorageResult<RemoveTicker> {
        self.write("watchlists.remove", &chat.to_string(), |repo| {
            let ticker = ticker.to_owned();
            async move { repo.remove(chat, &ticker).await }
        })
        .await
    }
}
