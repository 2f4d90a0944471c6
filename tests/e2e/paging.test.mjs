// On-call paging in workerd (MIGRATION.md, "Watching"): the maintenance cron pages
// ADMIN_CHAT_ID once about a divergence spike, not again on the next runs, again once the
// repeat is due, and sends exactly one "cleared" message, even from two runs at once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startWorker } from "./harness.mjs";
import { createStandIn } from "./stand-in.mjs";

const ADMIN = 4242;
const MAINTENANCE = "*/5 * * * *";
const DASHBOARD = "Dashboard: https://fear-greed-bot.example.workers.dev/admin/dashboard";

test("a divergence spike pages once, repeats when due, clears once, and never storms", async () => {
  const world = createStandIn();
  const worker = await startWorker({
    outbound: world.outbound,
    vars: { ADMIN_CHAT_ID: String(ADMIN), PUBLIC_URL: "https://fear-greed-bot.example.workers.dev" },
  });
  try {
    const db = await worker.d1();
    await worker.cron(MAINTENANCE);
    assert.deepEqual(world.takePages(), [], "quiet: no page");

    // 5 of 100 watchlists comparisons diverged this minute.
    const minute = Date.now() - (Date.now() % 60000);
    await db.batch([
      db.prepare("INSERT INTO migration_counters VALUES (?1, 'watchlists', 'get', 'compared', 100, 0)").bind(minute),
      db.prepare("INSERT INTO migration_counters VALUES (?1, 'watchlists', 'get', 'divergence.value_mismatch', 5, 0)").bind(minute),
    ]);
    await worker.cron(MAINTENANCE);
    assert.deepEqual(world.takePages(), [
      [
        ADMIN,
        "[fear-greed-bot] PAGE: divergence rate of watchlists above the guard\n" +
          "divergence rate 0.05 (5 divergences in 100 comparisons) over the last 24 h; guard.max_divergence_rate is 0.001\n" +
          DASHBOARD,
      ],
    ]);

    // More runs, two of them at once: nothing more.
    await worker.cron(MAINTENANCE);
    await Promise.all([worker.cron(MAINTENANCE), worker.cron(MAINTENANCE)]);
    assert.deepEqual(world.takePages(), [], "no page storm");

    // The repeat is due (page.repeat_seconds, 1 hour, since the last page): one more page.
    await db.prepare("UPDATE pages SET first_paged_at = first_paged_at - 3600000, last_paged_at = last_paged_at - 3600000").run();
    await Promise.all([worker.cron(MAINTENANCE), worker.cron(MAINTENANCE)]);
    const repeats = world.takePages();
    assert.equal(repeats.length, 1, JSON.stringify(repeats));
    assert.match(repeats[0][1], /^\[fear-greed-bot\] STILL FIRING \(60 min since the first page\): divergence rate of watchlists/);

    // Cleared: exactly one message from two runs at once, then quiet.
    await db.prepare("DELETE FROM migration_counters WHERE outcome LIKE 'divergence.%'").run();
    await Promise.all([worker.cron(MAINTENANCE), worker.cron(MAINTENANCE)]);
    await worker.cron(MAINTENANCE);
    const cleared = world.takePages();
    assert.equal(cleared.length, 1, JSON.stringify(cleared));
    assert.equal(cleared[0][0], ADMIN);
    assert.match(cleared[0][1], /^\[fear-greed-bot\] CLEARED after 60 min: divergence rate of watchlists above the guard\nnow: divergence rate 0\.0 /);
    assert.ok(cleared[0][1].endsWith(`\n${DASHBOARD}`), cleared[0][1]);
    const { results } = await db.prepare("SELECT COUNT(*) AS n FROM pages").all();
    assert.equal(results[0].n, 0);
    assert.deepEqual(world.take(), [], "no Markdown message either");
  } finally {
    await worker.stop();
  }
});
