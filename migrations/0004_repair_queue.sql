-- Writes that one store acknowledged and the other missed (migration.md §2, §5 "Repair"): in
-- dual_write a failed D1 write (target 'd1'), in shadow a failed KV write (target 'kv'). The
-- repair re-copies the entity from the authoritative store and deletes its row; until then the
-- row also tells the shadow read that this entity's KV value is known to be stale. One row per
-- entity and target: queueing it again only refreshes the reason and the time.
CREATE TABLE IF NOT EXISTS repair_queue (
    repository TEXT NOT NULL,              -- subscriptions, watchlists, executions, positions, cache
    entity_key TEXT NOT NULL,              -- the chat id (decimal), or the cache key
    target TEXT NOT NULL CHECK (target IN ('kv', 'd1')),  -- the store that missed the write
    reason TEXT NOT NULL,                  -- the failed write's error
    enqueued_at INTEGER NOT NULL,          -- ms since the epoch, of the latest failure
    attempts INTEGER NOT NULL DEFAULT 0,   -- repair attempts so far
    UNIQUE(repository, entity_key, target)
);
-- The drain takes the oldest rows first, in index order and without a sort.
CREATE INDEX IF NOT EXISTS idx_repair_queue_enqueued_at ON repair_queue(enqueued_at);
