-- State of the KV → D1 migration itself (migration.md §3, seed design "Migration State Tracking").

-- Runtime flags, one row per key (e.g. storage.phase.watchlists = 'shadow').
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,         -- flag name, declared in flags/
    value TEXT NOT NULL,          -- flag value as text
    updated_at INTEGER NOT NULL,  -- ms since the epoch
    updated_by TEXT NOT NULL,     -- operator or process that set it
    reason TEXT NOT NULL DEFAULT ''
);

-- Append-only audit of every flag change.
CREATE TABLE IF NOT EXISTS settings_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    old_value TEXT,               -- NULL when the flag was unset
    new_value TEXT NOT NULL,
    changed_at INTEGER NOT NULL,  -- ms since the epoch
    changed_by TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    forced INTEGER NOT NULL DEFAULT 0 CHECK(forced IN (0, 1))  -- 1 when a guard rail was overridden
);
CREATE INDEX IF NOT EXISTS idx_settings_history_key ON settings_history(key, changed_at);

-- The seed's one-row migration marker.
CREATE TABLE IF NOT EXISTS _migration_status (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    completed INTEGER NOT NULL DEFAULT 0,
    completed_at INTEGER,
    version TEXT NOT NULL
);
