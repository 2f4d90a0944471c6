-- What the shadow phase observes (migration.md §2, §7): per-minute counters, the latest
-- divergences with their diffs, and which entities were written in the last minute (a mismatch
-- on those is `stale_kv_suspected`, KV being eventually consistent).

-- One row per minute bucket, repository, operation and outcome. Outcomes: `compared`,
-- `matched`, `divergence.<class>`, `fallback.<cause>`, `write_failure.<store>`,
-- `latency.<store>` (count = reads, total_ms = their summed duration).
CREATE TABLE IF NOT EXISTS migration_counters (
    minute INTEGER NOT NULL,       -- start of the minute, ms since the epoch
    repository TEXT NOT NULL,
    operation TEXT NOT NULL,
    outcome TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 0,
    total_ms INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, repository, operation, outcome)
);

-- A bounded ring: each publication trims it to the newest 1,000 records.
CREATE TABLE IF NOT EXISTS divergences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    observed_at INTEGER NOT NULL,  -- ms since the epoch
    repository TEXT NOT NULL,
    operation TEXT NOT NULL,
    entity_key TEXT NOT NULL,
    class TEXT NOT NULL,
    diff TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_divergences_repository ON divergences(repository, id);

-- Entities written within the KV propagation window (60 s), kept a little longer.
CREATE TABLE IF NOT EXISTS recent_writes (
    repository TEXT NOT NULL,
    entity_key TEXT NOT NULL,
    written_at INTEGER NOT NULL,   -- ms since the epoch
    PRIMARY KEY (repository, entity_key)
);
CREATE INDEX IF NOT EXISTS idx_recent_writes_written_at ON recent_writes(written_at);
