// Latency of each bot command in workerd (Miniflare, the real wasm build) over 200 requests,
// in each storage phase with its ratio to kv_only: until the reply reaches Telegram and until
// the webhook's response, with outbound requests per webhook; whether this runtime overlaps a
// KV and a D1 read; then one broadcast cron to 1,000 subscribers (kv_only). Every outbound
// request is answered in-process by the test stand-in, so the numbers are the worker's own
// time plus local storage. Run through `bash scripts/bench.sh`.
import { Miniflare, convertV4MiniflareOptions } from "miniflare";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startWorker } from "../tests/e2e/harness.mjs";
import { createStandIn } from "../tests/e2e/stand-in.mjs";

const RUNS = Number(process.env.BENCH_RUNS ?? 200);
/** `BENCH_ONLY="/help,/executions"` times only those commands and skips the broadcast. */
const ONLY = process.env.BENCH_ONLY?.split(",");
/**
 * A pause between requests, outside the timed window: the work a request leaves for after its
 * response (`wait_until`: shadow comparisons, counters) then finishes before the next request
 * is timed. Miniflare runs it in the same isolate, so without the pause one request's latency
 * would include the previous one's after-response work.
 */
const GAP_MS = Number(process.env.BENCH_GAP_MS ?? 30);
const pause = () => new Promise((resolve) => setTimeout(resolve, GAP_MS));
const TUESDAY_0900 = 1795510800000;

const PHASES = ["kv_only", "dual_write", "shadow", "d1_only"];
const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

async function start() {
  const world = createStandIn();
  const worker = await startWorker({
    outbound: world.outbound,
    vars: { ADMIN_CHAT_ID: "1", TEST_CLOCK_START_MS: String(TUESDAY_0900) },
  });
  return { world, worker, kv: await worker.kv(), d1: await worker.d1() };
}

/** Every repository into `phase`, one step at a time (forced: the stores start empty). */
async function moveTo(worker, phase) {
  for (const step of PHASES.slice(1, PHASES.indexOf(phase) + 1)) {
    const [status] = await worker.admin("PUT", "/admin/flags", { key: "storage.phase.all", value: step, force: true, reason: "bench" });
    if (status !== 200) throw new Error(`moving to ${step}: ${status}`);
  }
}

/**
 * `text` from a fresh chat each run (so /execute records a BUY every time), after `setup`
 * (texts from the same chat, or a function). `/subscribers` runs against the same 3
 * subscribers in both stores (no fallback, the same replies in every phase): with more, its
 * one-second pauses between `getChat` batches of 30 are all the time it takes.
 */
const SUBSCRIBED = "INSERT INTO users (chat_id, subscription_status, subscribed_seq, created_at, updated_at) " +
  "VALUES ('1', 1, 1, 0, 0), ('2', 1, 2, 0, 0), ('3', 1, 3, 0, 0) " +
  "ON CONFLICT(chat_id) DO UPDATE SET subscription_status = 1, subscribed_seq = excluded.subscribed_seq";
const commands = ({ kv, d1 }) => [
  ["/start", []],
  ["/help", []],
  ["/watchlist", []],
  ["/watchlist add AAPL", []],
  ["/now", ["/watchlist add AAPL"]],
  ["/now AAPL", []],
  ["/execute SPY 400.5", []],
  ["/executions", ["/execute SPY 400.5"]],
  ["/subscribers", [
    () => kv.put("chat_ids", "[1,2,3]"),
    () => d1.prepare("UPDATE users SET subscription_status = 0 WHERE chat_id NOT IN ('1', '2', '3')").run(),
    () => d1.prepare(SUBSCRIBED).run(),
  ]],
];

/**
 * p50, p95 and outbound requests per command and phase, over RUNS requests each. The phases'
 * workers run side by side and take turns request by request (in a rotating order), so every
 * phase is timed under the same conditions and the ratios compare like with like.
 */
async function measure(runs) {
  const results = new Map(PHASES.map((phase) => [phase, new Map()]));
  let chat = 10_000;
  for (const [text] of commands({}).filter(([t]) => !ONLY || ONLY.includes(t))) {
    const samples = new Map(PHASES.map((phase) => [phase, { times: [], replies: [], outbound: 0 }]));
    for (let i = 0; i < RUNS; i++) {
      chat += 1;
      const from = text === "/subscribers" ? 1 : chat;
      for (let k = 0; k < PHASES.length; k++) {
        const phase = PHASES[(i + k) % PHASES.length];
        const run = runs.get(phase);
        const setup = commands(run).find(([t]) => t === text)[1];
        for (const step of setup) await (typeof step === "function" ? step() : run.worker.say(from, step));
        await pause();
        run.world.requests.length = 0;
        run.world.sentAt.length = 0;
        const started = performance.now();
        const res = await run.worker.say(from, text);
        await res.arrayBuffer();
        const sample = samples.get(phase);
        sample.times.push(performance.now() - started);
        sample.replies.push(run.world.sentAt.at(-1) - started);
        sample.outbound += run.world.requests.length;
        run.world.take();
      }
    }
    for (const phase of PHASES) {
      const { times, replies, outbound } = samples.get(phase);
      times.sort((a, b) => a - b);
      replies.sort((a, b) => a - b);
      results.get(phase).set(text, {
        reply50: quantile(replies, 0.5),
        reply95: quantile(replies, 0.95),
        p50: quantile(times, 0.5),
        p95: quantile(times, 0.95),
        outbound: outbound / RUNS,
      });
    }
  }
  return results;
}

console.log(`Per command and phase in workerd, ${RUNS} requests each (index: Fear, cached after the first /now);`);
console.log("the four phases' workers take turns request by request.");
console.log("reply = until the bot's last sendMessage reaches Telegram (what the user waits for);");
console.log("response = until the webhook's response (the second writes of dual_write and shadow run");
console.log("between the two). ratio = p50 / p50 in kv_only; shadow/d1 = shadow p50 / d1_only p50");
console.log("(target <= 1.15, on the reply).");
const runs = new Map();
for (const phase of PHASES) {
  const run = await start();
  await moveTo(run.worker, phase);
  runs.set(phase, run);
}
const byPhase = await measure(runs);
for (const run of runs.values()) await run.worker.stop();
const cells = [
  ["reply p50", 10], ["p95", 7], ["ratio", 6], ["shadow/d1", 10],
  ["response p50", 13], ["p95", 7], ["ratio", 6], ["shadow/d1", 10], ["outbound", 9],
];
console.log(`${"command".padEnd(22)} ${"phase".padEnd(11)} ${cells.map(([h, w]) => h.padStart(w)).join(" ")}`);
for (const [text] of commands({}).filter(([t]) => byPhase.get("kv_only").has(t))) {
  const base = byPhase.get("kv_only").get(text);
  const d1 = byPhase.get("d1_only").get(text);
  for (const phase of PHASES) {
    const r = byPhase.get(phase).get(text);
    const vsD1 = (key) => (phase === "shadow" ? (r[key] / d1[key]).toFixed(2) : "");
    const values = [
      r.reply50.toFixed(2), r.reply95.toFixed(2), (r.reply50 / base.reply50).toFixed(2), vsD1("reply50"),
      r.p50.toFixed(2), r.p95.toFixed(2), (r.p50 / base.p50).toFixed(2), vsD1("p50"), r.outbound.toFixed(2),
    ];
    console.log(`${text.padEnd(22)} ${phase.padEnd(11)} ${values.map((v, i) => v.padStart(cells[i][1])).join(" ")}`);
  }
}

/**
 * Whether this runtime overlaps a KV read and a D1 read: a bare worker times one KV get, one
 * D1 query, both at once, both one after the other, and a response sent on the D1 answer while
 * a KV get started beside it is still running. Where "both" costs what "one after the other"
 * does, the two stores share one local process, and a KV read started before the reply costs
 * the reply its full time even when the reply does not wait for it; which is why a shadow read
 * leaves KV for after the replies (MIGRATION.md, "Shadow reads").
 */
async function overlap() {
  const dir = mkdtempSync(join(tmpdir(), "fear-greed-overlap-"));
  const mf = new Miniflare(convertV4MiniflareOptions({
    modules: true,
    compatibilityDate: "2026-11-01",
    kvNamespaces: { KV: "kv" },
    d1Databases: { DB: "db" },
    resourcePersistencePath: dir,
    script: `export default { async fetch(request, env, ctx) {
      const kv = () => env.KV.get("k");
      const d1 = () => env.DB.prepare("SELECT v FROM t WHERE k = 1").first();
      const mode = new URL(request.url).searchParams.get("mode");
      if (mode === "kv") await kv();
      if (mode === "d1") await d1();
      if (mode === "together") await Promise.all([kv(), d1()]);
      if (mode === "in turn") { await kv(); await d1(); }
      if (mode === "beside") { const pending = kv(); await d1(); ctx.waitUntil(pending); }
      return new Response("ok");
    } }`,
  }));
  await mf.ready;
  const db = await mf.getD1Database("DB");
  await db.exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)");
  await db.prepare("INSERT INTO t VALUES (1, 'x')").run();
  await (await mf.getKVNamespace("KV")).put("k", "v");
  const modes = ["nothing", "kv", "d1", "together", "in turn", "beside"];
  const times = new Map(modes.map((mode) => [mode, []]));
  for (let i = 0; i < RUNS; i++) {
    for (const mode of modes) {
      const started = performance.now();
      await (await mf.dispatchFetch(`http://x/?mode=${encodeURIComponent(mode)}`)).text();
      times.get(mode).push(performance.now() - started);
    }
  }
  await mf.dispose();
  const p50 = (mode) => quantile(times.get(mode).sort((a, b) => a - b), 0.5);
  const cost = (mode) => `${(p50(mode) - p50("nothing")).toFixed(2)} ms`;
  console.log(
    `\nOverlap in this runtime (p50 over a bare request): KV get ${cost("kv")}, D1 query ${cost("d1")}, ` +
      `both at once ${cost("together")}, one after the other ${cost("in turn")}, ` +
      `D1 answering with a KV get beside it ${cost("beside")}.`,
  );
}
await overlap();
if (ONLY) process.exit(0);

const { world, worker, kv } = await start();
const ids = Array.from({ length: 1000 }, (_, i) => 100_000 + i);
await kv.put("chat_ids", JSON.stringify(ids));
for (const id of ids) {
  const list = id % 3 === 0 ? ["SPY"] : id % 3 === 1 ? ["SPY", "AAPL"] : ["SPY", "AAPL", "MSFT"];
  await kv.put(`watchlist:${id}`, JSON.stringify(list));
}
console.log("\nOne broadcast cron, 1,000 subscribers (2,000 watchlist tickers, 3 distinct):");
for (const rating of ["Fear", "Greed"]) {
  await kv.delete("fear_greed_cache");
  world.state.index = { rating, score: 25 };
  world.requests.length = 0;
  const started = performance.now();
  await worker.cron("0 9 * * 1-5");
  const wall = performance.now() - started;
  const sent = world.take().length;
  const charts = world.requests.filter((u) => u.includes("/v8/finance/chart/")).length;
  console.log(
    `${rating.padEnd(6)} outbound ${String(world.requests.length).padStart(5)}  charts ${String(charts).padStart(3)}  messages ${String(sent).padStart(5)}  wall ${wall.toFixed(0)} ms`,
  );
}
await worker.stop();
