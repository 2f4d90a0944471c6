-- The flags' read asks, for each repository, whether any repair towards KV or towards D1 is
-- queued (MIGRATION.md, "Handing over between dual_write and shadow"): a point probe with this
-- index, however many repairs towards the other store a D1 outage left queued.
CREATE INDEX IF NOT EXISTS idx_repair_queue_target ON repair_queue(repository, target);
