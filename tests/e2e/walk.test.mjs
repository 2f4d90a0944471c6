// The whole move in workerd, as an operator makes it (migration.md §4–§6): legacy KV data,
// then kv_only → dual_write → backfill → validate → shadow → d1_only through the admin API,
// a reverse sync and the rollback to dual_write, forward again, and the KV cleanup; all the
// while a conversation goes on. Every segment of it gives the messages a worker that never
// left kv_only gives for the same data at the same moment, and no write is lost across any
// flip. The guard rails run on the real clock here, unforced: this test waits out KV's 60 s
// propagation window twice and the 60 s cleanup retention once.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { servedIn, startWorker, sweepToEnd } from "./harness.mjs";
import { converse, createStandIn } from "./stand-in.mjs";

const A = 111; // subscribed, with a watchlist, executions and a position
const B = 222; // new
const C = 333; // never subscribed, with a watchlist
const ADMIN = 999999999;

const LEGACY = {
  chat_ids: `[${A},"blocked_user",444]`,
  [`watchlist:${A}`]: '["SPY","AAPL"]',
  [`execution_history:${A}`]:
    '[{"signalType":"BUY","ticker":"SPY","executionPrice":380.25,"executionDate":1763337600000},' +
    '{"signalType":"SELL","ticker":"AAPL","executionPrice":null,"executionDate":1762128000000}]',
  [`active_position:${A}`]: '{"ticker":"SPY","entryPrice":380.25}',
  [`watchlist:${C}`]: '["QQQ"]',
  "watchlist:444": '["IWM","TSLA"]',
  // Corrupt legacy records: skipped by the backfill, listed, and never touched by the script.
  "watchlist:555": '["SPY"',
  "active_position:abc": '{"ticker":"SPY"}',
  fear_greed_cache: '{"data":{"rating":"fear","score":30},"timestamp":1705276800000}',
};

const SEGMENTS = {
  kvOnly: [[A, "/watchlist"], [B, "/start"], [A, "/executions"]],
  dualWrite: [[B, "/watchlist add msft"], [A, "/execute SPY 401"], [C, "/watchlist"]],
  backfilled: [[A, "/executions"], [B, "/watchlist"], [A, "/now"]],
  shadow: [[B, "/execute QQQ 500"], [C, "/watchlist remove QQQ"], [A, "/watchlist"], [A, "/now"], [ADMIN, "/subscribers"]],
  d1Only: [[A, "/execute SPY 405.5"], [B, "/stop"], [C, "/start"], [A, "/executions"]],
  backInShadow: [[A, "/executions"], [C, "/watchlist"], [B, "/start"]],
  backInDualWrite: [[A, "/executions"], [B, "/executions"], [C, "/watchlist add nvda"], [B, "/watchlist"]],
  forwardAgain: [[A, "/watchlist remove aapl"], [C, "/executions"]],
  afterCleanup: [[A, "/executions"], [C, "/watchlist"], [B, "/watchlist"], [A, "/now AAPL"]],
};

const running = new Set();
after(async () => {
  for (const worker of running) await worker.stop();
});

/** How long an isolate may hold its migration counters before D1 has them, with a margin. */
const COUNTERS_MS = 6_000;

async function seeded() {
  const world = createStandIn();
  const worker = await startWorker({ outbound: world.outbound, vars: { ADMIN_CHAT_ID: String(ADMIN) } });
  running.add(worker);
  const kv = await worker.kv();
  for (const [key, value] of Object.entries(LEGACY)) await kv.put(key, value);
  return { world, worker };
}

async function ok(worker, method, path, body) {
  const [status, answer] = await worker.admin(method, path, body);
  assert.equal(status, 200, `${method} ${path} ${JSON.stringify(body)}: ${JSON.stringify(answer)}`);
  return answer;
}

async function refused(worker, method, path, body) {
  const [status, answer] = await worker.admin(method, path, body);
  assert.equal(status, 409, `${method} ${path}: ${JSON.stringify(answer)}`);
  return answer.error.details;
}

/** Every repository moved to `value`, and served in it: a move between dual_write and shadow is handed over first. */
async function moveAll(worker, value) {
  await ok(worker, "PUT", "/admin/flags", { key: "storage.phase.all", value, reason: "e2e walk" });
  await servedIn(worker, value, { settled: true });
}
const setFlag = (worker, key, value) => ok(worker, "PUT", "/admin/flags", { key, value, reason: "e2e walk" });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Waits out KV's window, then drains the repair queue one admin step at a time. */
async function drained(worker) {
  await sleep(62_000);
  for (let step = 0; step < 20; step++) {
    if ((await ok(worker, "POST", "/admin/repair", {})).step.remaining === 0) return;
  }
  assert.fail("the repair queue never drained");
}

test("the whole move, back and forth, while users talk: the same messages, nothing lost", { timeout: 600_000 }, async () => {
  const reference = await seeded();
  const walk = await seeded();
  const { worker } = walk;
  /** The segment in both workers, back to back: the same replies. */
  async function both(name) {
    const expected = await converse(reference, SEGMENTS[name]);
    assert.deepEqual(await converse(walk, SEGMENTS[name]), expected, name);
    assert.ok(expected.length >= SEGMENTS[name].length, name);
  }

  await setFlag(worker, "flags.cache_ttl_seconds", 1);
  await both("kvOnly");

  // Forward: dual writes, then the backfill once KV has settled, then a clean validation.
  await moveAll(worker, "dual_write");
  const tooSoon = await refused(worker, "POST", "/admin/backfill", { repository: "all" });
  assert.equal(tooSoon.length, 5);
  await both("dualWrite");
  await sleep(62_000);
  const dry = await sweepToEnd(worker, "/admin/backfill", { dry_run: true });
  assert.equal(dry.kind, "dry_run");
  const backfill = await sweepToEnd(worker, "/admin/backfill", { repository: "all" });
  const executions = backfill.results.find((r) => r.table === "executions");
  assert.equal(executions.recordsMigrated, 3, JSON.stringify(executions));
  const skipped = backfill.results.flatMap((r) => r.errors.map((e) => e.key)).sort();
  assert.deepEqual(skipped, ["active_position:abc", "watchlist:555"]);
  const validation = await sweepToEnd(worker, "/admin/validate");
  assert.equal(validation.report.overallSuccess, true, JSON.stringify(validation.report));
  await both("backfilled");

  await moveAll(worker, "shadow");
  await both("shadow");
  await setFlag(worker, "guard.min_compared", 1);
  // The isolate writes the comparisons' counters at most 5 s after them; the rail reads those.
  await sleep(COUNTERS_MS);
  await moveAll(worker, "d1_only");
  await both("d1Only");

  // Back: KV heard nothing in d1_only, so the rollback waits for the reverse sync.
  const noSync = await refused(worker, "PUT", "/admin/flags", { key: "storage.phase.all", value: "shadow", reason: "rollback" });
  assert.match(noSync[0], /no completed reverse sync/);
  await sweepToEnd(worker, "/admin/reverse-sync");
  await moveAll(worker, "shadow");
  await both("backInShadow");
  const kvBehind = await refused(worker, "PUT", "/admin/flags", { key: "storage.phase.all", value: "dual_write", reason: "rollback" });
  assert.ok(kvBehind.some((unmet) => /no reverse sync has completed since the move to shadow/.test(unmet)), kvBehind.join("; "));
  await sleep(1_500);
  await sweepToEnd(worker, "/admin/reverse-sync");
  // The conversation's writes in shadow came close enough together to be race-checked, and KV
  // must hold every write before it answers: their repairs drain after a quiet minute
  // (MIGRATION.md, "Races").
  await drained(worker);
  await moveAll(worker, "dual_write");
  await both("backInDualWrite");

  // Forward again, all the way, and the KV data goes.
  await sleep(62_000);
  await sweepToEnd(worker, "/admin/backfill");
  assert.equal((await sweepToEnd(worker, "/admin/validate")).report.overallSuccess, true);
  await moveAll(worker, "shadow");
  await both("forwardAgain");
  await sleep(COUNTERS_MS);
  await moveAll(worker, "d1_only");
  await setFlag(worker, "cleanup.retention_seconds", 60);
  const early = await ok(worker, "POST", "/admin/kv-cleanup", {});
  assert.equal(early.dry_run, true);
  assert.ok(early.refused.length > 0, JSON.stringify(early));
  await sleep(61_000);
  for (let call = 0; call < 10; call++) {
    const cleanup = await ok(worker, "POST", "/admin/kv-cleanup", { confirm: "delete-kv-data", dry_run: false });
    if (!cleanup.remaining) break;
  }
  const left = await (await worker.kv()).list();
  assert.deepEqual(left.keys.map((k) => k.name), []);
  await both("afterCleanup");
});
