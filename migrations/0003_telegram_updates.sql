-- Telegram updates the webhook has taken on (legacy-bot.md §10.8): an update_id is applied at
-- most once. A claim is 'running' while its attempt runs and 'done' once every reply went out;
-- an attempt that answered 500 deletes its claim so Telegram's redelivery runs again, and a
-- 'running' claim older than 15 minutes (a crashed attempt) may be taken over. Rows are
-- kept for two days (Telegram keeps undelivered updates for one), then purged by maintenance.
CREATE TABLE IF NOT EXISTS telegram_updates (
    update_id INTEGER PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('running', 'done')),
    claimed_at INTEGER NOT NULL,
    finished_at INTEGER
);

CREATE INDEX IF NOT EXISTS idx_telegram_updates_claimed_at ON telegram_updates(claimed_at);
