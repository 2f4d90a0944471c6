//! The repositories: what the rest of the code may ask of storage, and nothing about where it
//! lives. Each trait has a KV implementation (`kv`, the legacy keys and bytes) and a D1 one
//! (`d1`, the tables of `migrations/`); a shared contract suite holds them to the same behaviour.
//! Beside them, [`EntityStore`] reads and replaces whole entities in either store, for the
//! machinery that copies and compares them (repair, backfill, validation).

pub mod d1;
mod entity;
mod error;
pub mod kv;
mod units;
mod vocabulary;

pub use entity::{entities, BadEntityKey, EntityKey, EntityStore, Snapshot};
pub use error::{classify, D1Call, Operation, StorageError};
pub use units::Steps;
pub(crate) use vocabulary::by_name;
pub use vocabulary::{Repository, Store, UnknownName};

use crate::domain::{CacheEntry, ChatId, Execution, Position, Subscriber};
use crate::platform::Platform;
use async_trait::async_trait;
use std::rc::Rc;

pub type StorageResult<T> = Result<T, StorageError>;

/// Who is subscribed to the broadcasts (KV `chat_ids`, D1 `users`).
#[async_trait(?Send)]
pub trait SubscriptionRepo {
    /// Subscribed chats in subscription order: a chat that re-subscribes moves to the end.
    async fn subscribers(&self) -> StorageResult<Vec<ChatId>>;
    /// Subscribes `chat`; `true` when it was not subscribed before.
    async fn subscribe(&self, chat: ChatId) -> StorageResult<bool>;
    /// Unsubscribes `chat`; `true` when it was subscribed.
    async fn unsubscribe(&self, chat: ChatId) -> StorageResult<bool>;
    /// Every element of the list in order, strays included (only KV can hold strays).
    async fn entries(&self) -> StorageResult<Vec<Subscriber>> {
        let chats = self.subscribers().await?;
        Ok(chats.into_iter().map(Subscriber::Chat).collect())
    }
    /// Removes one element: a chat is unsubscribed, a stray's first occurrence dropped; `true`
    /// when something was removed.
    async fn forget(&self, entry: &Subscriber) -> StorageResult<bool> {
        match entry {
            Subscriber::Chat(chat) => self.unsubscribe(*chat).await,
            Subscriber::Stray(_) => Ok(false),
        }
    }
}

/// Outcome of adding a ticker to a watchlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddTicker {
    Added,
    AlreadyPresent,
}

/// Outcome of removing a ticker from a watchlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveTicker {
    Removed,
    /// The list became empty, so SPY was put back.
    RemovedDefaultRestored,
    NotPresent,
}

/// Each chat's tickers, in the order they were added; never empty (SPY is the default).
#[async_trait(?Send)]
pub trait WatchlistRepo {
    /// The chat's watchlist. Reading can write: a missing or empty list becomes `["SPY"]`, and
    /// a list that is not normalised (trimmed, upper-case, unique) is stored normalised.
    async fn watchlist(&self, chat: ChatId) -> StorageResult<Vec<String>>;
    /// Appends `ticker` (normalised) unless present, comparing case-insensitively.
    async fn add(&self, chat: ChatId, ticker: &str) -> StorageResult<AddTicker>;
    /// Removes `ticker`; an emptied list becomes `["SPY"]`.
    async fn remove(&self, chat: ChatId, ticker: &str) -> StorageResult<RemoveTicker>;
}

/// Each chat's recorded executions, append-only.
#[async_trait(?Send)]
pub trait ExecutionRepo {
    async fn record(&self, chat: ChatId, execution: &Execution) -> StorageResult<()>;
    /// Newest first by `execution_date`; equal dates keep insertion order. With a ticker, only
    /// that ticker's executions (compared upper-case).
    async fn history(&self, chat: ChatId, ticker: Option<&str>) -> StorageResult<Vec<Execution>>;
    /// The first entry of [`ExecutionRepo::history`] without a filter.
    async fn latest(&self, chat: ChatId) -> StorageResult<Option<Execution>>;
}

/// The single open position of each chat.
#[async_trait(?Send)]
pub trait PositionRepo {
    async fn position(&self, chat: ChatId) -> StorageResult<Option<Position>>;
    /// Replaces whatever position the chat held.
    async fn set_position(&self, chat: ChatId, position: &Position) -> StorageResult<()>;
    async fn clear_position(&self, chat: ChatId) -> StorageResult<()>;
}

/// The commands whose writes span repositories, each as one unit: a store that can commit the
/// unit at once does (D1: one `batch()`, all or nothing), and the router routes it as one
/// write. KV runs a unit as the legacy steps: a failed step fails the unit and leaves the steps
/// before it, except the watchlist step, whose failure (ignored by the legacy bot) is only
/// reported as [`Landed::WatchlistMissed`].
#[async_trait(?Send)]
pub trait UnitRepo {
    /// A [`UnitRepo::trade`] for `chat` may follow, before the command's first read: what must
    /// happen before the trade's first write happens now, in the round trip that takes the
    /// update's claim. The stores themselves need nothing; the storage move's router does.
    async fn before_trade(&self, _chat: ChatId) {}
    /// `/execute` (legacy §3.8): records `execution`; a BUY opens the position on its ticker and
    /// puts the ticker on the watchlist, a SELL closes the position.
    async fn trade(&self, chat: ChatId, execution: &Execution) -> StorageResult<Landed>;
    /// `/start` (legacy §3.3): subscribes `chat` and gives a new subscriber its default
    /// watchlist. `None` when the chat was already subscribed (nothing else is done), else how
    /// much landed.
    async fn enrol(&self, chat: ChatId) -> StorageResult<Option<Landed>>;
}

/// How much of a unit landed, when it succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Landed {
    Complete,
    /// Everything but the watchlist step.
    WatchlistMissed,
}

/// Short-lived cached values (the Fear & Greed reading), valid for `CACHE_TTL_MS`.
#[async_trait(?Send)]
pub trait CacheRepo {
    /// The entry under `key` if it is still fresh at `now_ms`.
    async fn fresh(&self, key: &str, now_ms: i64) -> StorageResult<Option<CacheEntry>>;
    async fn store(&self, key: &str, entry: &CacheEntry) -> StorageResult<()>;
}

/// One implementation of every repository: what the bot is handed.
pub struct Repos {
    pub subscriptions: Rc<dyn SubscriptionRepo>,
    pub watchlists: Rc<dyn WatchlistRepo>,
    pub executions: Rc<dyn ExecutionRepo>,
    pub positions: Rc<dyn PositionRepo>,
    pub units: Rc<dyn UnitRepo>,
    pub cache: Rc<dyn CacheRepo>,
}

impl Repos {
    /// Every repository on the legacy KV keys.
    pub fn kv(platform: &Platform) -> Self {
        let kv = kv::Kv::new(platform);
        Self {
            subscriptions: Rc::new(kv::KvSubscriptions(kv.clone())),
            watchlists: Rc::new(kv::KvWatchlists(kv.clone())),
            executions: Rc::new(kv::KvExecutions(kv.clone())),
            positions: Rc::new(kv::KvPositions(kv.clone())),
            units: Rc::new(kv::KvUnits::new(kv.clone())),
            cache: Rc::new(kv::KvCache(kv)),
        }
    }

    /// Every repository on the D1 tables.
    pub fn d1(platform: &Platform) -> Self {
        let sql = d1::Sql::new(platform);
        Self {
            subscriptions: Rc::new(d1::D1Subscriptions(sql.clone())),
            watchlists: Rc::new(d1::D1Watchlists(sql.clone())),
            executions: Rc::new(d1::D1Executions(sql.clone())),
            positions: Rc::new(d1::D1Positions(sql.clone())),
            units: Rc::new(d1::D1Units(sql.clone())),
            cache: Rc::new(d1::D1Cache(sql)),
        }
    }
}

/// Whether each store answered a trivial request (`GET /healthz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Health {
    pub d1: bool,
    pub kv: bool,
}

/// Asks D1 and KV one trivial question each.
pub(crate) async fn probe(platform: &Platform) -> Health {
    Health {
        d1: d1::Sql::new(platform).ping().await.is_ok(),
        kv: kv::Kv::new(platform).ping().await.is_ok(),
    }
}
