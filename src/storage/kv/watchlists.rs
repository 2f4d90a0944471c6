//! `watchlist:<chatId>`: a JSON array of tickers (legacy §4.5). Reading repairs: a missing,
//! non-array or empty value becomes `["SPY"]`, and an un-normalised list is rewritten
//! normalised. Each operation writes at most once, with the state the legacy bot ends in.

use super::{chat_key, Kv, WATCHLIST_PREFIX};
use crate::domain::{normalize_ticker, ChatId, DEFAULT_TICKER};
use crate::storage::{AddTicker, Operation, RemoveTicker, StorageResult, WatchlistRepo};
use async_trait::async_trait;
use serde_json::Value;

pub(crate) struct KvWatchlists(pub(crate) Kv);

/// A watchlist as read, and whether the stored bytes must be rewritten to match it.
struct Loaded {
    tickers: Vec<String>,
    dirty: bool,
}

/// Trim, upper-case, drop empty and non-string elements, keep the first of duplicates.
pub(super) fn normalize(stored: &[Value]) -> Vec<String> {
    let mut tickers: Vec<String> = Vec::with_capacity(stored.len());
    for ticker in stored
        .iter()
        .filter_map(Value::as_str)
        .map(normalize_ticker)
    {
        if !ticker.is_empty() && !tickers.contains(&ticker) {
            tickers.push(ticker);
        }
    }
    tickers
}

pub(super) fn default_list() -> Vec<String> {
    vec![DEFAULT_TICKER.to_owned()]
}

/// The stored form of a (normalised) list: a JSON array of strings.
pub(super) fn encode(tickers: &[String]) -> Value {
    Value::Array(tickers.iter().cloned().map(Value::from).collect())
}

impl KvWatchlists {
    async fn load(&self, op: &Operation, key: &str) -> StorageResult<Loaded> {
        // JSON that is not an array is "no list" and gets the default, as in legacy; text that
        // is not JSON at all is a decode error and is left untouched.
        let stored = match self.0.get_json::<Value>(op, key).await? {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        let tickers = normalize(&stored);
        if tickers.is_empty() {
            return Ok(Loaded {
                tickers: default_list(),
                dirty: true,
            });
        }
        let dirty = stored.len() != tickers.len()
            || stored
                .iter()
                .zip(&tickers)
                .any(|(stored, ticker)| stored.as_str() != Some(ticker.as_str()));
        Ok(Loaded { tickers, dirty })
    }

    async fn save(&self, op: &Operation, key: &str, tickers: &[String]) -> StorageResult<()> {
        self.0.put_json(op, key, &encode(tickers)).await
    }
}

#[async_trait(?Send)]
impl WatchlistRepo for KvWatchlists {
    async fn watchlist(&self, chat: ChatId) -> StorageResult<Vec<String>> {
        let op = Operation::new("watchlists.watchlist").chat(chat);
        let key = chat_key(WATCHLIST_PREFIX, chat);
        let loaded = self.load(&op, &key).await?;
        if loaded.dirty {
            self.save(&op, &key, &loaded.tickers).await?;
        }
        Ok(loaded.tickers)
    }

    async fn add(&self, chat: ChatId, ticker: &str) -> StorageResult<AddTicker> {
        let ticker = normalize_ticker(ticker);
        let op = Operation::new("watchlists.add").chat(chat).ticker(&ticker);
        let key = chat_key(WATCHLIST_PREFIX, chat);
        let mut loaded = self.load(&op, &key).await?;
        let outcome = if loaded.tickers.contains(&ticker) {
            AddTicker::AlreadyPresent
        } else {
            loaded.tickers.push(ticker);
            loaded.dirty = true;
            AddTicker::Added
        };
        if loaded.dirty {
            self.save(&op, &key, &loaded.tickers).await?;
        }
        Ok(outcome)
    }

    async fn remove(&self, chat: ChatId, ticker: &str) -> StorageResult<RemoveTicker> {
        let ticker = normalize_ticker(ticker);
        let op = Operation::new("watchlists.remove")
            .chat(chat)
            .ticker(&ticker);
        let key = chat_key(WATCHLIST_PREFIX, chat);
        let mut loaded = self.load(&op, &key).await?;
        let outcome = match loaded.tickers.iter().position(|t| *t == ticker) {
            None => RemoveTicker::NotPresent,
            Some(at) => {
                loaded.tickers.remove(at);
                loaded.dirty = true;
                if loaded.tickers.is_empty() {
                    loaded.tickers = default_list();
                    RemoveTicker::RemovedDefaultRestored
                } else {
                    RemoveTicker::Removed
                }
            }
        };
        if loaded.dirty {
            self.save(&op, &key, &loaded.tickers).await?;
        }
        Ok(outcome)
    }
}
