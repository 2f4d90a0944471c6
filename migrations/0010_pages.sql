-- On-call pages (MIGRATION.md, "Watching"): one row per condition the maintenance cron paged
-- ADMIN_CHAT_ID about and that has not cleared yet. Shared by every isolate, so two cron runs
-- page a condition once: each claims its page by a conditional write of this row
-- (`last_paged_at` compared and set) and only the run whose write changed it sends. The row is
-- deleted, by the run that sends the "cleared" message, when the condition clears.
CREATE TABLE IF NOT EXISTS pages (
    condition TEXT PRIMARY KEY,           -- e.g. divergence_rate.watchlists, settings_unreadable
    first_paged_at INTEGER NOT NULL,      -- ms since the epoch, of the first page while firing
    last_paged_at INTEGER NOT NULL,       -- ms since the epoch, of the latest page
    numbers TEXT NOT NULL                 -- what the latest page said, for the cleared message
);
