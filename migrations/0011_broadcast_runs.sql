-- The broadcast through Cloudflare Queues (docs/broadcast-queue.md): one row per run the cron
-- or /deploy-notify enqueued, and what each chat of a run has got, so a queue message delivered
-- twice sends nothing twice.
CREATE TABLE IF NOT EXISTS broadcast_runs (
    id TEXT PRIMARY KEY,                  -- broadcast-<scheduled ms> or deploy-<ms>-<commit>
    kind TEXT NOT NULL,                   -- broadcast | deploy
    planned_at INTEGER NOT NULL,          -- ms since the epoch, when the producer enqueued it
    started_at INTEGER,                   -- the first consumer batch's end
    finished_at INTEGER,                  -- the batch that brought chats_done to chats
    chats INTEGER NOT NULL,               -- chats planned
    messages INTEGER NOT NULL,            -- queue messages planned
    enqueued INTEGER NOT NULL DEFAULT 0,  -- of them in the queue, in order (the producer's end)
    enqueue_error TEXT,                   -- why the producer stopped short; the rest resumable
    chats_done INTEGER NOT NULL DEFAULT 0,
    sent INTEGER NOT NULL DEFAULT 0,      -- Telegram messages delivered
    refused INTEGER NOT NULL DEFAULT 0,   -- Telegram messages refused (403, 400…), not retried
    skipped INTEGER NOT NULL DEFAULT 0,   -- chats a redelivered message found done: nothing sent
    failed INTEGER NOT NULL DEFAULT 0,    -- sends Telegram failed (5xx, no answer): retried
    retried INTEGER NOT NULL DEFAULT 0,   -- queue messages marked for retry (429, 5xx)
    dead_lettered INTEGER NOT NULL DEFAULT 0, -- queue messages that ran out of retries
    dead_letters_paged_at INTEGER         -- when the admin chat was paged about them (once a run)
);

CREATE TABLE IF NOT EXISTS broadcast_deliveries (
    run_id TEXT NOT NULL,
    chat_id INTEGER NOT NULL,
    total INTEGER NOT NULL,               -- the chat's messages in this run
    handled INTEGER NOT NULL,             -- of them behind it, in watchlist order: sent or refused
    sent INTEGER NOT NULL,
    refused INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, chat_id)
);
