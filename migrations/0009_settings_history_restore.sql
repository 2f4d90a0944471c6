-- Every flag change records how to undo everything since: the D1 Time Travel command that
-- restores the database to the moment before the change (MIGRATION.md, "Runbook"), one row
-- per `settings_history` row. A table of its own rather than a column: a migration only adds
-- (the version still running keeps writing history rows without it), and applying it again
-- changes nothing.
CREATE TABLE IF NOT EXISTS settings_history_restore (
    history_id INTEGER PRIMARY KEY,
    restore_command TEXT NOT NULL
);
