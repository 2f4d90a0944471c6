// The foundation in workerd: health, the two workers (the maintenance cron on the ops worker,
// `/admin/` handed on by the bot), and legacy KV bytes read back through the worker's
// repository path.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { ADMIN_TOKEN, OPS_WORKER, startWorker } from "./harness.mjs";

let worker;
before(async () => {
  worker = await startWorker();
});
after(async () => {
  await worker?.stop();
});

test("healthz answers 200 and reports that D1 and KV answered", async () => {
  const res = await worker.fetch("/healthz");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/json");
  assert.deepEqual(await res.json(), { ok: true, d1: true, kv: true });
});

test("every other route keeps the legacy 405 plain-text answer", async () => {
  for (const [method, path] of [["GET", "/"], ["PUT", "/"], ["GET", "/deploy-notify"], ["POST", "/healthz"]]) {
    const res = await worker.fetch(path, { method });
    assert.equal(res.status, 405, `${method} ${path}`);
    assert.equal(res.headers.get("content-type"), "text/plain;charset=UTF-8");
    assert.equal(await res.text(), "Method not allowed");
  }
});

// The tables migrations/ leave, in their order (0007 drops 0005's `recent_writes`).
const TABLES = [
  "users", "watchlists", "executions", "active_positions", "cache",
  "settings", "settings_history", "_migration_status",
  "telegram_updates",
  "repair_queue",
  "migration_counters", "divergences",
  "entity_versions", "copy_guard", "sweeps", "sweep_findings",
  "settings_history_restore",
  "pages",
  "broadcast_runs", "broadcast_deliveries", "broadcast_charts",
];

test("migrations created every table and no other, with foreign keys enforced by D1", async () => {
  // Leaving out SQLite's, D1's and wrangler's own tables.
  const { results } = await (await worker.d1())
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT GLOB 'sqlite_*' AND name NOT GLOB '_cf_*' AND name <> 'd1_migrations' ORDER BY name")
    .all();
  assert.deepEqual(results.map((r) => r.name), [...TABLES].sort());
  await assert.rejects(
    (await worker.d1()).prepare("INSERT INTO watchlists (chat_id, ticker, created_at) VALUES ('404', 'SPY', 0)").run(),
    /FOREIGN KEY constraint failed/,
  );
});

test("the maintenance cron purges expired cache rows and keeps fresh ones, fired on the ops worker or through the bot", async () => {
  const db = await worker.d1();
  const fire = {
    // As deployed: the ops worker's own trigger.
    ops: async () => (await worker.mf.getWorker(OPS_WORKER)).scheduled({ cron: "*/5 * * * *" }),
    // As `wrangler dev` fires it: on the bot, which hands it to the ops worker.
    bot: () => worker.cron("*/5 * * * *"),
  };
  for (const [where, cron] of Object.entries(fire)) {
    const now = Date.now();
    await db.batch([
      db.prepare("INSERT INTO cache (cache_key, cache_value, expires_at, updated_at) VALUES ('stale', '{}', ?1, ?2)").bind(now - 1000, now - 301000),
      db.prepare("INSERT OR REPLACE INTO cache (cache_key, cache_value, expires_at, updated_at) VALUES ('fresh', '{}', ?1, ?2)").bind(now + 299000, now - 1000),
    ]);
    await cron();
    const { results } = await db.prepare("SELECT cache_key FROM cache ORDER BY cache_key").all();
    assert.deepEqual(results.map((r) => r.cache_key), ["fresh"], where);
  }
});

test("the bot hands /admin/ to the ops worker as it came; without the binding it has no admin API", async () => {
  const ops = await worker.mf.getWorker(OPS_WORKER);
  for (const token of [ADMIN_TOKEN, "wrong"]) {
    const init = { headers: { Authorization: `Bearer ${token}` } };
    const [direct, handed] = [await ops.fetch("http://ops/admin/flags", init), await worker.fetch("/admin/flags", init)];
    assert.deepEqual([handed.status, await handed.text()], [direct.status, await direct.text()], token);
  }
  const alone = await startWorker({ opsBinding: false });
  try {
    const res = await alone.fetch("/admin/flags", { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.deepEqual([res.status, await res.text()], [405, "Method not allowed"]);
  } finally {
    await alone.stop();
  }
});
