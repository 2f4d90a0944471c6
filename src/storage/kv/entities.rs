//! [`EntityStore`] on the legacy KV keys. Every value is written by the encoder its repository
//! uses, so a replaced entity has the bytes the legacy bot (or the repository) would have
//! written; and what a replace does not change stays verbatim: the strays of `chat_ids`, and
//! the leading execution records that already match.
//!
//! Each call reads KV itself (a fresh [`Kv`], so nothing is remembered between calls): the
//! repair drain loads the source again after a copy to see whether a user wrote meanwhile.

use super::record::{record, records};
use super::{
    cache, chat_key, subscriptions, to_json, watchlists, Kv, ACTIVE_POSITION_PREFIX, CHAT_IDS_KEY,
    EXECUTION_HISTORY_PREFIX, WATCHLIST_PREFIX,
};
use crate::domain::{parse_json, ChatId, Execution, Subscriber};
use crate::platform::{KvStore, Platform};
use crate::storage::{EntityKey, EntityStore, Operation, Snapshot, StorageResult};
use async_trait::async_trait;
use serde_json::Value;
use std::collections::HashSet;
use std::rc::Rc;

/// Whole entities on the legacy KV keys.
pub struct KvEntities(Rc<dyn KvStore>);

impl KvEntities {
    pub(crate) fn new(platform: &Platform) -> Self {
        Self(platform.kv.clone())
    }

    /// A [`Kv`] that remembers nothing yet.
    fn kv(&self) -> Kv {
        Kv {
            store: self.0.clone(),
            seen: Rc::default(),
        }
    }
}

#[async_trait(?Send)]
impl EntityStore for KvEntities {
    async fn load(&self, key: &EntityKey) -> StorageResult<Snapshot> {
        let kv = self.kv();
        let op = key.operation(false);
        Ok(match key {
            EntityKey::Subscribers => {
                let stored: Vec<Value> = kv.get_json(&op, CHAT_IDS_KEY).await?.unwrap_or_default();
                // Strays are no subscribers; a chat listed twice (a legacy anomaly) is one
                // subscriber, at its first place, as D1 can only hold it.
                let mut seen = HashSet::new();
                let chats = stored
                    .iter()
                    .filter_map(|value| match subscriptions::entry(value) {
                        Subscriber::Chat(chat) => Some(chat),
                        Subscriber::Stray(_) => None,
                    })
                    .filter(|chat| seen.insert(*chat));
                Snapshot::Subscribers(chats.collect())
            }
            EntityKey::Watchlist(chat) => {
                let stored: Option<Value> =
                    kv.get_json(&op, &chat_key(WATCHLIST_PREFIX, *chat)).await?;
                Snapshot::Watchlist(*chat, stored.map_or_else(Vec::new, |v| watchlist(&v)))
            }
            EntityKey::Executions(chat) => {
                let key = chat_key(EXECUTION_HISTORY_PREFIX, *chat);
                let stored: Vec<Value> = kv.get_json(&op, &key).await?.unwrap_or_default();
                Snapshot::Executions(*chat, records(&op, &key, &stored)?)
            }
            EntityKey::Position(chat) => {
                let key = chat_key(ACTIVE_POSITION_PREFIX, *chat);
                Snapshot::Position(*chat, kv.get_record(&op, &key).await?)
            }
            EntityKey::Cache(key) => {
                let stored: Option<cache::Stored> = kv.get_record(&op, key).await?;
                Snapshot::Cache(key.clone(), stored.map(cache::Stored::entry))
            }
        })
    }

    async fn replace(&self, snapshot: &Snapshot) -> StorageResult<()> {
        let kv = self.kv();
        let op = snapshot.key().operation(true);
        match snapshot {
            Snapshot::Subscribers(chats) => replace_chat_ids(&kv, &op, chats).await,
            Snapshot::Watchlist(chat, tickers) => {
                let value = (!tickers.is_empty()).then(|| watchlists::encode(tickers));
                put_or_delete(&kv, &op, &chat_key(WATCHLIST_PREFIX, *chat), value).await
            }
            Snapshot::Executions(chat, executions) => {
                let key = chat_key(EXECUTION_HISTORY_PREFIX, *chat);
                let stored = stored_array(&kv, &op, &key).await?.unwrap_or_default();
                let value = (!executions.is_empty()).then(|| history(&stored, executions));
                put_or_delete(&kv, &op, &key, value).await
            }
            Snapshot::Position(chat, position) => {
                let key = chat_key(ACTIVE_POSITION_PREFIX, *chat);
                put_or_delete(&kv, &op, &key, position.as_ref().map(to_json)).await
            }
            Snapshot::Cache(key, entry) => {
                put_or_delete(&kv, &op, key, entry.as_ref().map(cache::encode)).await
            }
        }
    }
}

/// A stored watchlist as the repository reads it, without the rewrite: normalised, and the
/// default for a value that holds no ticker (an empty array, or JSON that is no array).
fn watchlist(stored: &Value) -> Vec<String> {
    let tickers = watchlists::normalize(stored.as_array().map_or(&[], Vec::as_slice));
    if tickers.is_empty() {
        watchlists::default_list()
    } else {
        tickers
    }
}

async fn put_or_delete(
    kv: &Kv,
    op: &Operation,
    key: &str,
    value: Option<Value>,
) -> StorageResult<()> {
    match value {
        Some(value) => kv.put_json(op, key, &value).await,
        None => kv.delete(op, key).await,
    }
}

/// The JSON array stored under `key`, if any. A value that is no JSON array is about to be
/// replaced, which is the repair it needs: it is logged, not an error.
async fn stored_array(kv: &Kv, op: &Operation, key: &str) -> StorageResult<Option<Vec<Value>>> {
    let Some(text) = kv.get(op, key).await? else {
        return Ok(None);
    };
    match parse_json(&text) {
        Ok(items) => Ok(Some(items)),
        Err(error) => {
            tracing::warn!(key, value = %text, error = %error, "replacing a corrupt KV value");
            Ok(None)
        }
    }
}

/// `executions` in the stored form, keeping verbatim the stored records that already match
/// its leading ones: a history that missed an append ends byte for byte as if it had not.
fn history(stored: &[Value], executions: &[Execution]) -> Value {
    let kept = stored
        .iter()
        .zip(executions)
        .take_while(|(value, execution)| {
            record::<Execution>(value).ok().as_ref() == Some(*execution)
        })
        .count();
    let records = stored[..kept]
        .iter()
        .cloned()
        .chain(executions[kept..].iter().map(to_json));
    Value::Array(records.collect())
}

/// Makes `chat_ids` list `chats`, strays kept (see [`merge_chat_ids`]). Nothing is written when
/// nothing changes, and no key is created for an empty list.
async fn replace_chat_ids(kv: &Kv, op: &Operation, chats: &[ChatId]) -> StorageResult<()> {
    let stored = stored_array(kv, op, CHAT_IDS_KEY).await?;
    if stored.is_none() && chats.is_empty() {
        return Ok(());
    }
    let stored = stored.unwrap_or_default();
    let merged = merge_chat_ids(&stored, chats);
    if merged == stored {
        return Ok(());
    }
    kv.put_json(op, CHAT_IDS_KEY, &Value::Array(merged)).await
}

/// `stored` with its chats turned into `chats`, the way the legacy bot's own changes would
/// have turned it: every stray stays verbatim where it is; a chat leaves the list where it
/// stands (a legacy unsubscribe splices it out) and joins it at the end (a legacy subscribe
/// appends). So the chats kept in place are the longest leading run of `chats` that `stored`
/// lists in the same order (matched greedily, which finds the longest); every other stored
/// chat is spliced out, and the rest of `chats` is appended. An append or removal the list
/// missed is applied exactly as the legacy bot would have applied it.
fn merge_chat_ids(stored: &[Value], chats: &[ChatId]) -> Vec<Value> {
    let mut merged = Vec::with_capacity(stored.len().max(chats.len()));
    // `chats[..placed]` are in `merged` already.
    let mut placed = 0;
    for value in stored {
        match subscriptions::entry(value) {
            Subscriber::Stray(_) => merged.push(value.clone()),
            Subscriber::Chat(chat) if chats.get(placed) == Some(&chat) => {
                merged.push(value.clone());
                placed += 1;
            }
            // Unsubscribed, listed twice, or re-subscribed since (appended below).
            Subscriber::Chat(_) => {}
        }
    }
    merged.extend(chats[placed..].iter().map(|chat| Value::from(chat.get())));
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn merged(stored: Value, chats: &[i64]) -> Value {
        let stored = stored.as_array().unwrap().clone();
        let chats: Vec<ChatId> = chats.iter().copied().map(ChatId::new).collect();
        Value::Array(merge_chat_ids(&stored, &chats))
    }

    #[test]
    fn chat_ids_merge_like_the_legacy_changes_and_keep_strays_in_place() {
        let cases = [
            (
                json!([1, "s", 2]),
                vec![1, 2, 3],
                json!([1, "s", 2, 3]),
                "a missed subscribe is appended",
            ),
            (
                json!([1, "s", 2]),
                vec![2],
                json!(["s", 2]),
                "a missed unsubscribe is spliced out",
            ),
            (
                json!([1, "s", 2]),
                vec![2, 1],
                json!(["s", 2, 1]),
                "a missed re-subscribe moves the chat to the end",
            ),
            (
                json!([2, 1, "s"]),
                vec![1, 2],
                json!([1, "s", 2]),
                "2 re-subscribed: spliced out and appended",
            ),
            (
                json!([1, 2, 3, "s", 4]),
                vec![1, 3, 4, 2],
                json!([1, 3, "s", 4, 2]),
                "one chat re-subscribed: the others keep their places",
            ),
            (
                json!(["s", 1, 1]),
                vec![1],
                json!(["s", 1]),
                "a repeated chat is dropped",
            ),
            (
                json!(["s"]),
                vec![],
                json!(["s"]),
                "strays outlive every chat",
            ),
            (
                json!([1, "1", 2.5]),
                vec![1],
                json!([1, "1", 2.5]),
                "unchanged: verbatim",
            ),
            (json!([]), vec![4, 5], json!([4, 5]), "from empty"),
        ];
        for (stored, chats, want, why) in cases {
            assert_eq!(merged(stored, &chats), want, "{why}");
        }
    }

    #[test]
    fn histories_keep_the_matching_stored_records_verbatim() {
        let first: Execution = serde_json::from_value(
            json!({"signalType": "BUY", "ticker": "SPY", "executionPrice": 1, "executionDate": 5}),
        )
        .unwrap();
        let second: Execution = serde_json::from_value(
            json!({"signalType": "SELL", "ticker": "SPY", "executionPrice": 2, "executionDate": 6}),
        )
        .unwrap();
        // Stored with a key order and an extra field the encoder would not write.
        let stored = vec![
            json!({"ticker": "SPY", "signalType": "BUY", "executionPrice": 1, "executionDate": 5, "note": "x"}),
        ];
        let value = history(&stored, &[first, second.clone()]);
        assert_eq!(value, json!([stored[0], to_json(&second)]));
        let value = history(&stored, std::slice::from_ref(&second));
        assert_eq!(value, json!([to_json(&second)]), "a mismatch is re-encoded");
    }
}
