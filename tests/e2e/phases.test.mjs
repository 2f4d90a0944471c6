// The storage move in workerd (migration.md §2, §4, §6): the same conversation gives
// byte-identical Telegram messages in each phase and across flips made through the admin API;
// the admin API's auth, guard rails and forced moves; a record edited in D1 shows up in
// /admin/divergences with its diff and in /admin/metrics; a record missing from D1 is served
// from KV and counted as a fallback.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { pastHandover, startWorker } from "./harness.mjs";
import { converse, createStandIn } from "./stand-in.mjs";

const A = 111;
const B = 222;
const ADMIN = 999999999;
const TUESDAY = 1795478640000; // 2026-11-24T00:04Z
const SCRIPT = [
  [A, "/start"],
  [A, "/watchlist add aapl"],
  [B, "/start"],
  [A, "/now"],
  [A, "/execute SPY 400.5"],
  [A, "/executions"],
  [A, "/execute SPY 410"],
  [ADMIN, "/subscribers"],
  [A, "/watchlist remove SPY"],
  [A, "/watchlist remove AAPL"],
  [A, "/stop"],
  [B, "/watchlist"],
  [B, "/execute QQQ 500"],
  [B, "/executions"],
  [ADMIN, "/subscribers"],
];

const running = new Set();
after(async () => {
  for (const worker of running) await worker.stop();
});

async function start() {
  const world = createStandIn();
  const worker = await startWorker({
    outbound: world.outbound,
    vars: { ADMIN_CHAT_ID: String(ADMIN), TEST_CLOCK_START_MS: String(TUESDAY) },
  });
  running.add(worker);
  return { world, worker };
}

async function stop(worker) {
  running.delete(worker);
  await worker.stop();
}

async function moveAll(worker, phase) {
  const [status, body] = await worker.admin("PUT", "/admin/flags", {
    key: "storage.phase.all",
    value: phase,
    force: true,
    reason: "e2e",
  });
  assert.equal(status, 200, JSON.stringify(body));
}

/**
 * /admin/metrics totals of `repository`, once the after-response publication has landed (an
 * isolate holds its counters for up to 5 s before writing them).
 */
async function totals(worker, repository, ready) {
  for (let attempt = 0; attempt < 300; attempt++) {
    const [, body] = await worker.admin("GET", "/admin/metrics?minutes=60");
    const t = body.repositories[repository];
    if (ready(t)) return t;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`metrics of ${repository} never became ready`);
}

test("the conversation reads the same in every phase and across flips", async () => {
  const reference = await start();
  const expected = await converse(reference, SCRIPT);
  await stop(reference.worker);
  assert.ok(expected.length >= SCRIPT.length);

  for (const path of [["dual_write"], ["dual_write", "shadow"], ["dual_write", "shadow", "d1_only"]]) {
    const run = await start();
    for (const phase of path) await moveAll(run.worker, phase);
    assert.deepEqual(await converse(run, SCRIPT), expected, path.at(-1));
    await stop(run.worker);
  }

  const flipping = await start();
  await moveAll(flipping.worker, "dual_write");
  const messages = await converse(flipping, SCRIPT.slice(0, 5));
  await moveAll(flipping.worker, "shadow");
  messages.push(...(await converse(flipping, SCRIPT.slice(5, 10))));
  await moveAll(flipping.worker, "d1_only");
  messages.push(...(await converse(flipping, SCRIPT.slice(10))));
  assert.deepEqual(messages, expected);
  await stop(flipping.worker);
});

test("the admin API: auth, a guard-rail refusal, then a forced move", async () => {
  const { worker } = await start();
  assert.equal((await worker.admin("GET", "/admin/flags", undefined, null))[0], 401);
  assert.equal((await worker.admin("GET", "/admin/flags", undefined, "wrong"))[0], 401);
  let [status, body] = await worker.admin("PUT", "/admin/flags", { key: "storage.phase.positions", value: "dual_write" });
  assert.equal(status, 200);
  [status, body] = await worker.admin("PUT", "/admin/flags", { key: "storage.phase.positions", value: "shadow" });
  assert.equal(status, 409);
  assert.equal(body.error.code, "guard_rail");
  assert.equal(body.error.details.length, 2);
  [status, body] = await worker.admin("PUT", "/admin/flags", {
    key: "storage.phase.positions",
    value: "shadow",
    force: true,
    reason: "nothing to backfill",
  });
  assert.deepEqual([status, body.changes], [200, [{ key: "storage.phase.positions", from: "dual_write", to: "shadow", forced: true }]]);
  const { results } = await (await worker.d1())
    .prepare("SELECT new_value, forced, reason FROM settings_history WHERE key = 'storage.phase.positions' ORDER BY id")
    .all();
  assert.deepEqual(results, [
    { new_value: "dual_write", forced: 0, reason: "" },
    { new_value: "shadow", forced: 1, reason: "nothing to backfill" },
  ]);
  await stop(worker);
});

test("shadow: a record edited in D1 is reported with its diff; one missing from D1 is served from KV", async () => {
  const run = await start();
  const { worker } = run;
  await moveAll(worker, "dual_write");
  await converse(run, [[A, "/watchlist add TSLA"]]);
  await moveAll(worker, "shadow");
  await pastHandover(worker);
  const d1 = await worker.d1();
  await d1.prepare("UPDATE watchlists SET ticker = 'NVDA' WHERE chat_id = ? AND ticker = 'TSLA'").bind(String(A)).run();
  assert.deepEqual(await converse(run, [[A, "/watchlist"]]), [
    [
      A,
      "*Your Watchlist:*\n\n• $SPY\n• $NVDA\n\nUse /watchlist add TICKER to add a ticker.\nUse /watchlist remove TICKER to remove a ticker.",
    ],
  ]);
  const w = await totals(worker, "watchlists", (t) => t.divergences + t.stale_kv_suspected > 0);
  const [, listed] = await worker.admin("GET", "/admin/divergences?repository=watchlists");
  const record = listed.divergences[0];
  assert.equal(record.entity_key, String(A));
  assert.match(record.diff, /-  "NVDA"\n\+  "TSLA"/);
  assert.ok(w.compared >= 1);

  await (await worker.kv()).put(`execution_history:${B}`, '[{"signalType":"BUY","ticker":"SPY","executionPrice":400,"executionDate":1705276800000}]');
  assert.deepEqual(await converse(run, [[B, "/executions"]]), [
    [B, "*Your Execution History:*\n\n*Execution History (1 entry):*\n\n\n🟢 *BUY* SPY at $400.00\n   📅 Jan 15, 2024, 12:00 AM"],
  ]);
  const e = await totals(worker, "executions", (t) => t.fallbacks > 0);
  assert.equal(e.fallbacks, 1);
  await stop(worker);
});
