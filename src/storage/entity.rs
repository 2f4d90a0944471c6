//! Whole entities, store by store: what the repair drain copies, and what the backfill, the
//! validation and the reverse sync will copy and compare (migration.md §5). An entity is the
//! unit one store holds atomically for one repository: the subscriber list, one chat's
//! watchlist, execution history or position, one cache key.
//!
//! A [`Snapshot`] is an entity's domain value, the same in both stores whatever their bytes:
//! two stores agree on an entity when their snapshots are equal. [`EntityStore::load`] reads
//! one without side effects (a missing watchlist is *no* watchlist here, not a stored
//! default), and [`EntityStore::replace`] makes a store hold one, touching no other entity: in
//! D1 in one `batch()`, in KV in the legacy bytes, through the encoders the repositories use.
//!
//! # Absence
//!
//! Every snapshot can say "nothing stored": an empty list (subscribers, watchlist, executions)
//! or `None` (position, cache entry). Loads give that one form for every way a store can hold
//! nothing (no key, no rows, an empty KV array), so equal snapshots mean equal behaviour.
//!
//! # The subscriber list and its strays
//!
//! The legacy `chat_ids` array may hold elements that are no chat id (legacy §9.6). They are
//! not part of the domain value (D1 has no place for them), so a KV load leaves them out and
//! a KV replace keeps them: every stray stays verbatim and in place, and the chats around them
//! change the way the legacy bot's own removals (in place) and appends (at the end) would have
//! changed them (see `kv::entities`).

use crate::domain::{CacheEntry, ChatId, Execution, Position};
use crate::platform::Platform;
use crate::storage::kv::{
    chat_key, ACTIVE_POSITION_PREFIX, CHAT_IDS_KEY, EXECUTION_HISTORY_PREFIX, WATCHLIST_PREFIX,
};
use crate::storage::{Operation, Repository, StorageResult, Store};
use async_trait::async_trait;
use std::fmt;

/// Which entity: the repository and, but for the one subscriber list, the chat or cache key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityKey {
    /// The whole subscriber list (KV `chat_ids`, D1 `users`): one entity, since its order
    /// spans every chat.
    Subscribers,
    Watchlist(ChatId),
    Executions(ChatId),
    Position(ChatId),
    /// A cache key; never one of the other repositories' KV keys.
    Cache(String),
}

/// An entity key that cannot be one of `repository`'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key:?} is not a {repository} entity key: {reason}")]
pub struct BadEntityKey {
    pub repository: Repository,
    pub key: String,
    pub reason: &'static str,
}

impl EntityKey {
    /// The key as repair rows, recent writes and divergences name it (its `Display`): `chat_ids`
    /// for the subscriber list, the decimal chat id, or the cache key.
    pub(crate) fn parse(repository: Repository, key: &str) -> Result<Self, BadEntityKey> {
        let bad = |reason| BadEntityKey {
            repository,
            key: key.to_owned(),
            reason,
        };
        let chat = || {
            key.parse::<ChatId>()
                .map_err(|_| bad("not a decimal chat id"))
        };
        Ok(match repository {
            Repository::Subscriptions if key == CHAT_IDS_KEY => Self::Subscribers,
            Repository::Subscriptions => return Err(bad("the subscriber list is `chat_ids`")),
            Repository::Watchlists => Self::Watchlist(chat()?),
            Repository::Executions => Self::Executions(chat()?),
            Repository::Positions => Self::Position(chat()?),
            Repository::Cache => {
                let taken = [
                    WATCHLIST_PREFIX,
                    EXECUTION_HISTORY_PREFIX,
                    ACTIVE_POSITION_PREFIX,
                ]
                .iter()
                .any(|prefix| key.starts_with(prefix));
                if taken || key == CHAT_IDS_KEY {
                    return Err(bad("another repository's KV key"));
                }
                Self::Cache(key.to_owned())
            }
        })
    }

    /// The legacy KV key the entity lives under.
    pub(crate) fn kv_key(&self) -> String {
        match self {
            Self::Subscribers => CHAT_IDS_KEY.to_owned(),
            Self::Watchlist(chat) => chat_key(WATCHLIST_PREFIX, *chat),
            Self::Executions(chat) => chat_key(EXECUTION_HISTORY_PREFIX, *chat),
            Self::Position(chat) => chat_key(ACTIVE_POSITION_PREFIX, *chat),
            Self::Cache(key) => key.clone(),
        }
    }

    pub fn repository(&self) -> Repository {
        match self {
            Self::Subscribers => Repository::Subscriptions,
            Self::Watchlist(_) => Repository::Watchlists,
            Self::Executions(_) => Repository::Executions,
            Self::Position(_) => Repository::Positions,
            Self::Cache(_) => Repository::Cache,
        }
    }

    /// What a load (`replacing: false`) or replace of this entity is doing, for its errors.
    pub(crate) fn operation(&self, replacing: bool) -> Operation {
        let name = match (self.repository(), replacing) {
            (Repository::Subscriptions, false) => "subscriptions.load",
            (Repository::Subscriptions, true) => "subscriptions.replace",
            (Repository::Watchlists, false) => "watchlists.load",
            (Repository::Watchlists, true) => "watchlists.replace",
            (Repository::Executions, false) => "executions.load",
            (Repository::Executions, true) => "executions.replace",
            (Repository::Positions, false) => "positions.load",
            (Repository::Positions, true) => "positions.replace",
            (Repository::Cache, false) => "cache.load",
            (Repository::Cache, true) => "cache.replace",
        };
        match self {
            Self::Watchlist(chat) | Self::Executions(chat) | Self::Position(chat) => {
                Operation::new(name).chat(*chat)
            }
            Self::Subscribers | Self::Cache(_) => Operation::new(name),
        }
    }
}

impl fmt::Display for EntityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Subscribers => f.write_str(CHAT_IDS_KEY),
            Self::Watchlist(chat) | Self::Executions(chat) | Self::Position(chat) => {
                write!(f, "{chat}")
            }
            Self::Cache(key) => f.write_str(key),
        }
    }
}

/// One entity's domain value, with the key it belongs to, so a snapshot can only ever be
/// written back to its own entity.
#[derive(Debug, Clone, PartialEq)]
pub enum Snapshot {
    /// Subscribed chats in subscription order, each once; empty when nobody is subscribed.
    Subscribers(Vec<ChatId>),
    /// Normalised tickers in insertion order; empty when the chat has no watchlist (the
    /// repositories read that as the default, but store nothing until asked).
    Watchlist(ChatId, Vec<String>),
    /// Every execution in the order it was recorded (not the newest-first order of
    /// `history`, which both stores derive from this one); empty when there are none.
    Executions(ChatId, Vec<Execution>),
    Position(ChatId, Option<Position>),
    /// The entry as stored, fresh or not: freshness is the reader's rule, the same in both
    /// stores.
    Cache(String, Option<CacheEntry>),
}

impl Snapshot {
    /// The entity this is a snapshot of.
    pub fn key(&self) -> EntityKey {
        match self {
            Self::Subscribers(_) => EntityKey::Subscribers,
            Self::Watchlist(chat, _) => EntityKey::Watchlist(*chat),
            Self::Executions(chat, _) => EntityKey::Executions(*chat),
            Self::Position(chat, _) => EntityKey::Position(*chat),
            Self::Cache(key, _) => EntityKey::Cache(key.clone()),
        }
    }

    /// Whether the store holds nothing for the entity.
    pub fn is_absent(&self) -> bool {
        match self {
            Self::Subscribers(chats) => chats.is_empty(),
            Self::Watchlist(_, tickers) => tickers.is_empty(),
            Self::Executions(_, executions) => executions.is_empty(),
            Self::Position(_, position) => position.is_none(),
            Self::Cache(_, entry) => entry.is_none(),
        }
    }
}

/// One store's entities: read whole, replaced whole.
#[async_trait(?Send)]
pub trait EntityStore {
    /// What the store holds for `key`, read without side effects and from the store itself
    /// (nothing remembered from earlier calls); a corrupt record is a decode error.
    async fn load(&self, key: &EntityKey) -> StorageResult<Snapshot>;
    /// [`EntityStore::load`] of each of `keys`, in their order, for a sweep's page: `Err` when
    /// the store failed for them all, an inner `Err` for one entity's (a corrupt record). KV
    /// reads them concurrently; D1 in one query per repository.
    async fn load_each(&self, keys: &[EntityKey]) -> StorageResult<Vec<StorageResult<Snapshot>>> {
        Ok(futures_util::future::join_all(keys.iter().map(|key| self.load(key))).await)
    }
    /// Makes the store hold `snapshot` for its entity (an absent snapshot deletes it), and
    /// changes nothing else: atomically in D1, in the legacy bytes in KV.
    async fn replace(&self, snapshot: &Snapshot) -> StorageResult<()>;
}

/// The entities of `store`.
pub fn entities(platform: &Platform, store: Store) -> Box<dyn EntityStore> {
    match store {
        Store::Kv => Box::new(crate::storage::kv::KvEntities::new(platform)),
        Store::D1 => Box::new(crate::storage::d1::D1Entities::new(platform)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_from_their_display_and_name_their_repository() {
        let keys = [
            EntityKey::Subscribers,
            EntityKey::Watchlist(ChatId::new(-1_001_234)),
            EntityKey::Executions(ChatId::new(7)),
            EntityKey::Position(ChatId::new(7)),
            EntityKey::Cache("fear_greed_cache".into()),
        ];
        for key in keys {
            let parsed = EntityKey::parse(key.repository(), &key.to_string());
            assert_eq!(parsed, Ok(key));
        }
    }

    #[test]
    fn keys_that_are_not_the_repositorys_are_refused() {
        let cases = [
            (Repository::Subscriptions, "7", "a chat is not the list"),
            (
                Repository::Watchlists,
                "watchlist:7",
                "the KV key, not the id",
            ),
            (Repository::Positions, "1.5", "not an integer"),
            (
                Repository::Cache,
                "watchlist:7",
                "would overwrite a watchlist",
            ),
            (
                Repository::Cache,
                "chat_ids",
                "would overwrite the subscribers",
            ),
        ];
        for (repository, key, why) in cases {
            assert!(EntityKey::parse(repository, key).is_err(), "{why}");
        }
    }
}
