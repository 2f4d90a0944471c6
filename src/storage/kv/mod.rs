//! The repositories on Workers KV, in the legacy key formats and JSON bytes (legacy §4): what
//! the legacy bot, or a rollback to it, must find exactly as it would have written it.

mod cache;
mod entities;
mod executions;
#[cfg(feature = "testing")]
mod legacy_dataset;
mod positions;
mod record;
mod subscriptions;
mod units;
mod watchlists;

pub use cache::KvCache;
pub use entities::KvEntities;
pub(crate) use executions::KvExecutions;
#[cfg(feature = "testing")]
pub use legacy_dataset::LegacyDataset;
pub(crate) use positions::KvPositions;
pub(crate) use subscriptions::KvSubscriptions;
pub(crate) use units::KvUnits;
pub(crate) use watchlists::KvWatchlists;

use super::{Operation, StorageError, StorageResult};
use crate::domain::{js_stringify, parse_json, ChatId};
use crate::platform::{KvStore, Platform};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// The subscriber list.
pub(crate) const CHAT_IDS_KEY: &str = "chat_ids";
pub(crate) const WATCHLIST_PREFIX: &str = "watchlist:";
pub(crate) const EXECUTION_HISTORY_PREFIX: &str = "execution_history:";
pub(crate) const ACTIVE_POSITION_PREFIX: &str = "active_position:";

/// `watchlist:<chatId>`, `execution_history:<chatId>`, ...: the id in decimal, `-` kept.
pub(crate) fn chat_key(prefix: &str, chat: ChatId) -> String {
    format!("{prefix}{chat}")
}

/// A KV namespace with the error context and JSON handling every KV repository needs.
///
/// It remembers what it read and wrote, so one update (or one cron run) reads each key at most
/// once however many repositories look at it: a `/execute` checks the history for the monthly
/// limit and then appends to it with one `get`. Clones share the memory; a new `Kv` (one per
/// update) starts empty, so nothing is remembered across requests.
#[derive(Clone)]
pub(crate) struct Kv {
    store: Rc<dyn KvStore>,
    seen: Rc<RefCell<HashMap<String, Option<String>>>>,
}

impl Kv {
    pub(crate) fn new(platform: &Platform) -> Self {
        Self {
            store: platform.kv.clone(),
            seen: Rc::default(),
        }
    }

    pub(crate) async fn ping(&self) -> StorageResult<()> {
        let op = Operation::new("kv.ping");
        self.store
            .list("", None, 1)
            .await
            .map(drop)
            .map_err(|e| kv_error(op, "", e))
    }

    async fn get(&self, op: &Operation, key: &str) -> StorageResult<Option<String>> {
        if let Some(value) = self.seen.borrow().get(key) {
            return Ok(value.clone());
        }
        let value = self
            .store
            .get(key)
            .await
            .map_err(|e| kv_error(op.clone(), key, e))?;
        self.seen.borrow_mut().insert(key.to_owned(), value.clone());
        Ok(value)
    }

    /// Reads and parses a JSON value; a missing key is `None`, a corrupt one a decode error.
    async fn get_json<T: DeserializeOwned>(
        &self,
        op: &Operation,
        key: &str,
    ) -> StorageResult<Option<T>> {
        match self.get(op, key).await? {
            None => Ok(None),
            Some(text) => parse_json(&text)
                .map(Some)
                .map_err(|e| decode_error(op, key, e)),
        }
    }

    /// Writes `value` as `JSON.stringify` would.
    async fn put_json(&self, op: &Operation, key: &str, value: &Value) -> StorageResult<()> {
        let text = js_stringify(value);
        self.remember(key, self.store.put(key, &text).await, Some(text))
            .map_err(|e| kv_error(op.clone(), key, e))
    }

    async fn delete(&self, op: &Operation, key: &str) -> StorageResult<()> {
        self.remember(key, self.store.delete(key).await, None)
            .map_err(|e| kv_error(op.clone(), key, e))
    }

    /// After a write: a success is what later reads see; after a failure the stored value is
    /// unknown, so the next read asks KV again.
    fn remember(
        &self,
        key: &str,
        outcome: Result<(), crate::platform::PlatformError>,
        value: Option<String>,
    ) -> Result<(), crate::platform::PlatformError> {
        let mut seen = self.seen.borrow_mut();
        match &outcome {
            Ok(()) => seen.insert(key.to_owned(), value),
            Err(_) => seen.remove(key),
        };
        outcome
    }
}

fn kv_error(operation: Operation, key: &str, e: crate::platform::PlatformError) -> StorageError {
    StorageError::Kv {
        operation,
        key: key.to_owned(),
        message: e.0,
    }
}

fn decode_error(operation: &Operation, key: &str, e: impl std::fmt::Display) -> StorageError {
    StorageError::Decode {
        operation: operation.clone(),
        key: key.to_owned(),
        message: e.to_string(),
    }
}

/// A domain value as JSON, in its declared field order.
fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("domain values always serialise to JSON")
}
