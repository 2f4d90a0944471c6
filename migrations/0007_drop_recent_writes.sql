-- The stale-KV check of a shadow comparison now asks `entity_versions` (migration 0006) about the
-- one entity whose stores disagree, by its key, instead of scanning every entity written within
-- KV's propagation window: its cost no longer grows with the write rate, and publishing the
-- evidence no longer writes a row per written entity. `recent_writes` has no reader left.
-- A contract migration (MIGRATION.md, "Schema changes while the worker runs"): no deployed
-- release ever used the table, as the first deploy ships this with the code that stopped.
-- contract: recent_writes, idx_recent_writes_written_at
DROP INDEX IF EXISTS idx_recent_writes_written_at;
DROP TABLE IF EXISTS recent_writes;
