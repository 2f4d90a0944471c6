-- Copies and comparisons of whole stores (migration.md §5): the backfill (KV → D1), its dry
-- run, the validation and the reverse sync (D1 → KV), each a resumable sweep per repository.

-- Every entity's D1 version, bumped by the triggers below on every change of its rows, in the
-- same statement (so in the same transaction) as the change. A copy into D1 reads the versions
-- before it reads its source and writes only if they are unchanged (`copy_guard`): a write that
-- landed in between is never overwritten. `changed_at` is D1's own clock, compared only with
-- D1's own clock: a change younger than KV's propagation window may not be visible in KV yet.
CREATE TABLE IF NOT EXISTS entity_versions (
    repository TEXT NOT NULL,      -- subscriptions, watchlists, executions, positions, cache
    entity_key TEXT NOT NULL,      -- 'chat_ids', the chat id (decimal) or the cache key
    version INTEGER NOT NULL,      -- changes so far
    changed_at INTEGER NOT NULL,   -- ms since the epoch (D1's clock) of the latest change
    PRIMARY KEY (repository, entity_key)
);

CREATE TRIGGER IF NOT EXISTS version_users_insert AFTER INSERT ON users WHEN NEW.subscription_status = 1 BEGIN INSERT INTO entity_versions (repository, entity_key, version, changed_at) VALUES ('subscriptions', 'chat_ids', 1, CAST(unixepoch('subsec') * 1000 AS INTEGER)) ON CONFLICT(repository, entity_key) DO UPDATE SET version = version + 1, changed_at = excluded.changed_at; END;
CREATE TRIGGER IF NOT EXISTS version_users_update AFTER UPDATE OF subscription_status, subscribed_seq ON users WHEN OLD.subscription_status IS NOT NEW.subscription_status OR OLD.subscribed_seq IS NOT NEW.subscribed_seq BEGIN INSERT INTO entity_versions (repository, entity_key, version, changed_at) VALUES ('subscriptions', 'chat_ids', 1, CAST(unixepoch('subsec') * 1000 AS INTEGER)) ON CONFLICT(repository, entity_key) DO UPDATE SET version = version + 1, changed_at = excluded.changed_at; END;
CREATE TRIGGER IF NOT EXISTS version_users_delete AFTER DELETE ON users WHEN OLD.subscription_status = 1 BEGIN INSERT INTO entity_versions (repository, entity_key, version, changed_at) VALUES ('subscriptions', 'chat_ids', 1, CAST(unixepoch('subsec') * 1000 AS INTEGER)) ON CONFLICT(repository, entity_key) DO UPDATE SET version = version + 1, changed_at = excluded.changed_at; END;
CREATE TRIGGER IF NOT EXISTS version_watchlists_insert AFTER INSERT ON watchlists BEGIN INSERT INTO entity_versions (repository, entity_key, version, changed_at) VALUES ('watchlists', NEW.chat_id, 1, CAST(unixepoch('subsec') * 1000 AS INTEGER)) ON CONFLICT(repository, entity_key) DO UPDATE SET version = version + 1, changed_at = excluded.changed_at; END;
CREATE TRIGGER IF NOT EXISTS version_watchlists_update AFTER UPDATE ON watchlists BEGIN INSERT INTO entity_versions (repository, entity_key, version, changed_at) VALUES ('watchlists', NEW.chat_id, 1, CAST(unixepoch('subsec') * 1000 AS INTEGER)) ON CONFLICT(repository, entity_key) DO UPDATE SET version = version + 1, changed_at = excluded.changed_at; END;
CREATE TRIGGER IF NOT EXISTS version_watchlists_delete AFTER DELETE ON watchlists BEGIN INSERT INTO entity_versions (repository, entity_key, version, changed_at) VALUES ('watchlists', OLD.chat_id, 1, CAST(unixepoch('subsec') * 1000 AS INTEGER)) ON CONFLICT(repository, entity_key) DO UPDATE SET version = version + 1, changed_at = excluded.changed_at; END;
CREATE TRIGGER IF NOT EXISTS version_executions_insert AFTER INSERT ON executions BEGIN INSERT INTO entity_versions (repository, entity_key, version, changed_at) VALUES ('executions', NEW.chat_id, 1, CAST(unixepoch('subsec') * 1000 AS INTEGER)) ON CONFLICT(repository, entity_key) DO UPDATE SET version = version + 1, changed_at = excluded.changed_at; END;
CREATE TRIGGER IF NOT EXISTS version_executions_update AFTER UPDATE ON executions BEGIN INSERT INTO entity_versions (repository, entity_key, version, changed_at) VALUES ('executions', NEW.chat_id, 1, CAST(unixepoch('subsec') * 1000 AS INTEGER)) ON CONFLICT(repository, entity_key) DO UPDATE SET version = version + 1, changed_at = excluded.changed_at; END;
CREATE TRIGGER IF NOT EXISTS version_executions_delete AFTER DELETE ON executions BEGIN INSERT INTO entity_versions (repository, entity_key, version, changed_at) VALUES ('executions', OLD.chat_id, 1, CAST(unixepoch('subsec') * 1000 AS INTEGER)) ON CONFLICT(repository, entity_key) DO UPDATE SET version = version + 1, changed_at = excluded.changed_at; END;
CREATE TRIGGER IF NOT EXISTS version_positions_insert AFTER INSERT ON active_positions BEGIN INSERT INTO entity_versions (repository, entity_key, version, changed_at) VALUES ('positions', NEW.chat_id, 1, CAST(unixepoch('subsec') * 1000 AS INTEGER)) ON CONFLICT(repository, entity_key) DO UPDATE SET version = version + 1, changed_at = excluded.changed_at; END;
CREATE TRIGGER IF NOT EXISTS version_positions_update AFTER UPDATE ON active_positions BEGIN INSERT INTO entity_versions (repository, entity_key, version, changed_at) VALUES ('positions', NEW.chat_id, 1, CAST(unixepoch('subsec') * 1000 AS INTEGER)) ON CONFLICT(repository, entity_key) DO UPDATE SET version = version + 1, changed_at = excluded.changed_at; END;
CREATE TRIGGER IF NOT EXISTS version_positions_delete AFTER DELETE ON active_positions BEGIN INSERT INTO entity_versions (repository, entity_key, version, changed_at) VALUES ('positions', OLD.chat_id, 1, CAST(unixepoch('subsec') * 1000 AS INTEGER)) ON CONFLICT(repository, entity_key) DO UPDATE SET version = version + 1, changed_at = excluded.changed_at; END;
CREATE TRIGGER IF NOT EXISTS version_cache_insert AFTER INSERT ON cache BEGIN INSERT INTO entity_versions (repository, entity_key, version, changed_at) VALUES ('cache', NEW.cache_key, 1, CAST(unixepoch('subsec') * 1000 AS INTEGER)) ON CONFLICT(repository, entity_key) DO UPDATE SET version = version + 1, changed_at = excluded.changed_at; END;
CREATE TRIGGER IF NOT EXISTS version_cache_update AFTER UPDATE ON cache BEGIN INSERT INTO entity_versions (repository, entity_key, version, changed_at) VALUES ('cache', NEW.cache_key, 1, CAST(unixepoch('subsec') * 1000 AS INTEGER)) ON CONFLICT(repository, entity_key) DO UPDATE SET version = version + 1, changed_at = excluded.changed_at; END;
CREATE TRIGGER IF NOT EXISTS version_cache_delete AFTER DELETE ON cache BEGIN INSERT INTO entity_versions (repository, entity_key, version, changed_at) VALUES ('cache', OLD.cache_key, 1, CAST(unixepoch('subsec') * 1000 AS INTEGER)) ON CONFLICT(repository, entity_key) DO UPDATE SET version = version + 1, changed_at = excluded.changed_at; END;

-- The guards of a sweep's batch(): each copied entity's statements are preceded by
-- `UPDATE copy_guard SET unchanged = (<its version> = <the version read>)`, and the checkpoint
-- by `UPDATE copy_guard SET current = (<the sweep's pages> = <the pages it had>)`; a version
-- or checkpoint that moved violates `entity_unchanged` or `sweep_unchanged` and rolls the whole
-- batch back. One row, never anything else.
CREATE TABLE IF NOT EXISTS copy_guard (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    unchanged INTEGER NOT NULL CONSTRAINT entity_unchanged CHECK (unchanged = 1),
    current INTEGER NOT NULL DEFAULT 1 CONSTRAINT sweep_unchanged CHECK (current = 1)
);
INSERT OR IGNORE INTO copy_guard (id, unchanged, current) VALUES (1, 1, 1);

-- One sweep per kind and repository: where it is, what it has done, checkpointed in the same
-- batch() as the writes of each step (so a step lands whole, cursor included, or not at all).
CREATE TABLE IF NOT EXISTS sweeps (
    kind TEXT NOT NULL CHECK (kind IN ('backfill', 'dry_run', 'validation', 'reverse_sync')),
    repository TEXT NOT NULL,      -- subscriptions, watchlists, executions, positions, cache
    kv_cursor TEXT,                -- the KV list cursor of the next page; NULL at the start
    after_key TEXT,                -- the last entity key swept (its KV key's suffix); NULL at the start
    finished INTEGER NOT NULL DEFAULT 0,  -- 1 once every entity was swept
    tally TEXT NOT NULL,           -- JSON: the sweep's counts so far (see migration::sweep::Tally)
    started_at INTEGER NOT NULL,   -- ms since the epoch
    updated_at INTEGER NOT NULL,   -- ms since the epoch, of the latest step
    finished_at INTEGER,           -- ms since the epoch
    PRIMARY KEY (kind, repository)
);

-- What sweeps found: records a backfill skipped (corrupt KV values, bad keys) and entities a
-- validation found different. Cleared when the sweep restarts; listed in its report.
CREATE TABLE IF NOT EXISTS sweep_findings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,            -- the sweep's kind
    repository TEXT NOT NULL,
    entity_key TEXT NOT NULL,      -- the KV key, or the entity key
    problem TEXT NOT NULL,         -- e.g. kv_decode_error, bad_key, value_mismatch, missing_in_d1
    detail TEXT NOT NULL,          -- the error or the diff
    found_at INTEGER NOT NULL      -- ms since the epoch
);
CREATE INDEX IF NOT EXISTS idx_sweep_findings_sweep ON sweep_findings(kind, repository, id);
