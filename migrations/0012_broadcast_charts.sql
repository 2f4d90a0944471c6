-- The charts of a queued broadcast run (docs/broadcast-queue.md, "Charts"): the first consumer
-- invocation that needs a ticker fetches its chart and keeps it here, and every other chat of
-- the run is evaluated on that chart, so a run asks Yahoo once per ticker at any audience size.
CREATE TABLE IF NOT EXISTS broadcast_charts (
    run_id TEXT NOT NULL,
    ticker TEXT NOT NULL,
    chart TEXT NOT NULL,                  -- [price, [[time, open, high, low, close, volume], …]]
    fetched_at INTEGER NOT NULL,          -- ms since the epoch
    PRIMARY KEY (run_id, ticker)
);
