-- The bot's data in D1: the seed design's five tables (seed-kv-to-d1-design.md), with the
-- additions the legacy contract needs (legacy-bot.md §10.4, §10.6, §10.9). Every statement is
-- idempotent, so applying this file twice leaves the same schema as applying it once.

CREATE TABLE IF NOT EXISTS users (
    chat_id TEXT PRIMARY KEY,                        -- Telegram chat id, decimal i64 (KV `chat_ids` element)
    subscription_status INTEGER NOT NULL DEFAULT 1,  -- 1 subscribed, 0 not (a row is created on demand for any chat with data)
    subscribed_seq INTEGER,                          -- order of the latest /start: a re-subscribe moves the chat to the end, as in KV
    created_at INTEGER NOT NULL,                     -- ms since the epoch
    updated_at INTEGER NOT NULL                      -- ms since the epoch
);
CREATE INDEX IF NOT EXISTS idx_users_subscription_status ON users(subscription_status);
-- Serves "subscribers in subscription order" without a sort, and MAX(subscribed_seq).
CREATE INDEX IF NOT EXISTS idx_users_status_seq ON users(subscription_status, subscribed_seq);
CREATE INDEX IF NOT EXISTS idx_users_subscribed_seq ON users(subscribed_seq);

CREATE TABLE IF NOT EXISTS watchlists (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- insertion order is the watchlist order
    chat_id TEXT NOT NULL,                 -- owner (users.chat_id)
    ticker TEXT NOT NULL,                  -- normalised: trimmed, upper-case
    created_at INTEGER NOT NULL,           -- ms since the epoch
    FOREIGN KEY(chat_id) REFERENCES users(chat_id) ON DELETE CASCADE,
    UNIQUE(chat_id, ticker)
);
CREATE INDEX IF NOT EXISTS idx_watchlists_chat_id ON watchlists(chat_id);
CREATE INDEX IF NOT EXISTS idx_watchlists_ticker ON watchlists(ticker);

CREATE TABLE IF NOT EXISTS executions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- insertion order: breaks ties between equal dates
    chat_id TEXT NOT NULL,                 -- owner (users.chat_id)
    signal_type TEXT NOT NULL CHECK(signal_type IN ('BUY', 'SELL')),
    ticker TEXT NOT NULL,                  -- normalised ticker
    execution_price REAL,                  -- NULL is the legacy JSON null of a non-finite price (legacy §3.8, §10.9)
    signal_price REAL,                     -- optional; /execute never sets it
    execution_date INTEGER NOT NULL,       -- ms since the epoch, may be negative
    created_at INTEGER NOT NULL,           -- ms since the epoch
    FOREIGN KEY(chat_id) REFERENCES users(chat_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_executions_chat_id ON executions(chat_id);
CREATE INDEX IF NOT EXISTS idx_executions_chat_id_ticker ON executions(chat_id, ticker);
CREATE INDEX IF NOT EXISTS idx_executions_execution_date ON executions(execution_date DESC);
-- Serves history and "latest execution" (ORDER BY execution_date DESC, id) without a sort.
CREATE INDEX IF NOT EXISTS idx_executions_chat_id_date ON executions(chat_id, execution_date DESC);

CREATE TABLE IF NOT EXISTS active_positions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id TEXT NOT NULL,                 -- owner (users.chat_id)
    ticker TEXT NOT NULL,                  -- normalised ticker
    entry_price REAL,                      -- NULL is the legacy JSON null of a non-finite price
    created_at INTEGER NOT NULL,           -- ms since the epoch
    updated_at INTEGER NOT NULL,           -- ms since the epoch
    FOREIGN KEY(chat_id) REFERENCES users(chat_id) ON DELETE CASCADE,
    UNIQUE(chat_id, ticker)
);
CREATE INDEX IF NOT EXISTS idx_active_positions_chat_id ON active_positions(chat_id);
CREATE INDEX IF NOT EXISTS idx_active_positions_ticker ON active_positions(ticker);
-- At most one position per chat (legacy §4.7, §10.4): a BUY replaces it, a SELL deletes it.
CREATE UNIQUE INDEX IF NOT EXISTS idx_active_positions_one_per_chat ON active_positions(chat_id);

CREATE TABLE IF NOT EXISTS cache (
    cache_key TEXT PRIMARY KEY,     -- e.g. fear_greed_cache
    cache_value TEXT NOT NULL,      -- JSON of the cached data
    expires_at INTEGER NOT NULL,    -- ms since the epoch: written_at + 300000 (5 minutes, legacy §10.4)
    updated_at INTEGER NOT NULL     -- ms since the epoch: when the value was written
);
CREATE INDEX IF NOT EXISTS idx_cache_expires_at ON cache(expires_at);
