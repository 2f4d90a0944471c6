// The bot in workerd (Miniflare, the real wasm build): what a deploy uploads; the Rust worker
// against a JavaScript reference doing the legacy /help (latency, workerd CPU, the reference's
// `GET /` as the floor); latency and workerd CPU per command in each storage phase, while other
// chats' writes flow into the same workers; D1 calls, statements and rows and KV calls per
// command and phase; whether this runtime overlaps a KV and a D1 read; the first requests on a
// fresh isolate, and the wasm they compile; one broadcast cron to 1,000 subscribers. Every
// outbound request is answered in-process by the test stand-in, so the numbers are the
// worker's own time plus local storage.
// Exits non-zero only on a count over its target (the upload size), never on a timing. Run
// through `bash scripts/bench.sh`; the sections live in scripts/bench/.
import { pastHandover, startWorker, sweepToEnd } from "../tests/e2e/harness.mjs";
import { createStandIn, TELEGRAM } from "../tests/e2e/stand-in.mjs";
import { printBroadcast } from "./bench/broadcast.mjs";
import { printFirstCompiled } from "./bench/compiled.mjs";
import { printFreshIsolates } from "./bench/fresh.mjs";
import { LOAD_CHATS, startLoad } from "./bench/load.mjs";
import { printOverlap } from "./bench/overlap.mjs";
import { startReference } from "./bench/reference.mjs";
import { fixed, mean, row, sleep, summarize } from "./bench/stats.mjs";
import { COUNTING_ENTRY, takeStorageCounts } from "./bench/storage-calls.mjs";
import { UPLOAD_TARGET_KIB, uploadSize } from "./bench/upload.mjs";
import { cpuMs, withWorkerdPid } from "./bench/workerd-cpu.mjs";

const RUNS = Number(process.env.BENCH_RUNS ?? 200);
/** Untimed requests per worker before any timing: the first few hundred are 20–40 % slower. */
const WARMUP = Number(process.env.BENCH_WARMUP ?? 300);
/** `BENCH_ONLY="/help,/executions"` times only those commands and skips the broadcast. */
const ONLY = process.env.BENCH_ONLY?.split(",");
/** `BENCH_LOAD=0` times the commands on quiet workers. */
const LOAD = process.env.BENCH_LOAD !== "0";
/** Writes per second into each phase's worker while the commands are timed. */
const LOAD_RATE = Number(process.env.BENCH_LOAD_RATE ?? 4.5);
const FRESH_REPS = Number(process.env.BENCH_FRESH ?? 15);
/** Requests per command and phase whose storage calls are counted (machine-independent). */
const STORAGE_RUNS = Number(process.env.BENCH_STORAGE_RUNS ?? 3);
/**
 * A pause after each timed request, outside the timed window: the work a request leaves for
 * after its response (`wait_until`: shadow comparisons, counters) then finishes before the next
 * request is timed, and is counted in the request's CPU. Miniflare runs it in the same isolate,
 * so without the pause one request's latency would include the previous one's.
 */
const GAP_MS = Number(process.env.BENCH_GAP_MS ?? 30);
const pause = () => sleep(GAP_MS);
const TUESDAY_0900 = 1795510800000;
const WARM_CHATS = 8_000_000;

const PHASES = ["kv_only", "dual_write", "shadow", "d1_only"];

/**
 * The stand-in's outbound handler, also logging each request's URL, Telegram chat and arrival
 * time into `log`, so a timed request's outbound calls can be told from the load's.
 */
function loggedOutbound(world, log) {
  return async (request) => {
    const chat = request.url.startsWith(TELEGRAM) ? (await request.clone().json()).chat_id : null;
    log.push({ url: request.url, chat, at: performance.now() });
    return world.outbound(request);
  };
}

/** Forgets what the stand-in recorded, so a long run does not accumulate it. */
function drain({ world, log }) {
  world.take();
  world.requests.length = 0;
  world.sentAt.length = 0;
  log.length = 0;
}

/** A fresh Rust worker (kv_only) with its stand-in, outbound log and workerd pid; `entry` as in startWorker. */
function startRust(name, entry) {
  return withWorkerdPid(async () => {
    const world = createStandIn();
    const log = [];
    const worker = await startWorker({
      outbound: loggedOutbound(world, log),
      vars: { ADMIN_CHAT_ID: "1", TEST_CLOCK_START_MS: String(TUESDAY_0900) },
      entry,
      // Kept in `worker.logs`, not printed: printing would cost the timed requests, and the
      // reference's the same.
      secretsScan: false,
      printLogs: false,
    });
    return { name, world, log, worker, kv: await worker.kv(), d1: await worker.d1() };
  });
}

/** A fresh reference worker with its stand-in, outbound log and workerd pid. */
function startRef() {
  return withWorkerdPid(async () => {
    const world = createStandIn();
    const log = [];
    const worker = await startReference({ outbound: loggedOutbound(world, log) });
    return { name: "reference", world, log, worker };
  });
}

/** PUTs every repository's phase flag to `value`, `force`d past the guard rails or not. */
async function moveAll(worker, value, force) {
  const [status, body] = await worker.admin("PUT", "/admin/flags", { key: "storage.phase.all", value, force, reason: "bench" });
  if (status !== 200) throw new Error(`moving to ${value}: ${status} ${JSON.stringify(body)}`);
}

/**
 * Every repository into `phase`, one step at a time, as operators move it: into `shadow`
 * through the guard rails (the backfill once KV has settled, a clean validation), so D1 is
 * vouched for and its "no record" answers do not wait for KV (MIGRATION.md, "Shadow reads");
 * into `d1_only` forced, since its rail wants a day of comparisons.
 */
async function moveTo(worker, phase) {
  for (const step of PHASES.slice(1, PHASES.indexOf(phase) + 1)) {
    if (step === "shadow") {
      // The bench's clock is frozen: dual writes are dated back past KV's window and the TTL.
      await pastHandover(worker, 80_000);
      await sweepToEnd(worker, "/admin/backfill", { repository: "all" });
      // Each request's clock starts at the same instant, so the backfill is dated back a
      // second: the validation then starts after it finished, as the rail asks.
      const d1 = await worker.d1();
      await d1.prepare("UPDATE sweeps SET started_at = started_at - 1000, finished_at = finished_at - 1000 WHERE kind = 'backfill'").run();
      const { report } = await sweepToEnd(worker, "/admin/validate", {});
      if (!report.overallSuccess) throw new Error(`validation: ${JSON.stringify(report)}`);
    }
    await moveAll(worker, step, step === "d1_only");
  }
  // A move between dual_write and shadow is handed over for about 41 s: dated back, the phase
  // is measured as it runs once handed over.
  await pastHandover(worker);
}

/** `count` untimed requests cycling through `mix` (texts, or "GET /"), a new chat per cycle. */
async function warmUp(run, count, mix) {
  for (let i = 0; i < count; i++) {
    const step = mix[i % mix.length];
    const chat = WARM_CHATS + Math.floor(i / mix.length);
    await (await (step === "GET /" ? run.worker.fetch("/") : run.worker.say(chat, step))).arrayBuffer();
  }
  drain(run);
}

/**
 * Times one request on `run`: its own latency (from sending it to the end of its response
 * body), the outbound calls it made (the load's left out), and the CPU its workerd spent from
 * just before it until the pause after it; `cpu` is null when a `load` write ran on the same
 * worker meanwhile, since that CPU would not be the request's alone.
 */
async function timeOne(run, send, load) {
  const mark = load?.mark(run.name);
  const cpuBefore = cpuMs(run.pid);
  run.log.length = 0;
  const started = performance.now();
  const res = await send();
  await res.arrayBuffer();
  const elapsed = performance.now() - started;
  const outbound = run.log.filter((call) => !(call.chat >= LOAD_CHATS));
  await pause();
  const cpu = cpuMs(run.pid) - cpuBefore;
  return { started, elapsed, outbound, cpu: !load || load.quiet(run.name, mark) ? cpu : null };
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
const WARM_MIX = ["/help", "/watchlist", "/watchlist add AAPL", "/now AAPL", "/execute SPY 400.5", "/executions", "/start", "/now", "GET /"];

/**
 * Rust `/help` and `GET /` against the reference's, RUNS requests each, taking turns request by
 * request in a rotating order. Returns each variant's p50, p95 and CPU (ms).
 */
async function compareWithReference(rust, ref) {
  const variants = [
    ["Rust /help", rust, (chat) => rust.worker.say(chat, "/help")],
    ["Rust GET /", rust, () => rust.worker.fetch("/")],
    ["reference /help", ref, (chat) => ref.worker.say(chat, "/help")],
    ["reference GET /", ref, () => ref.worker.fetch("/")],
  ];
  const samples = variants.map(() => ({ times: [], cpu: [] }));
  for (let i = 0; i < RUNS; i++) {
    for (let k = 0; k < variants.length; k++) {
      const v = (i + k) % variants.length;
      const [, run, send] = variants[v];
      const { elapsed, cpu } = await timeOne(run, () => send(20_000 + i), null);
      samples[v].times.push(elapsed);
      samples[v].cpu.push(cpu);
      drain(run);
    }
  }
  return new Map(variants.map(([label], v) => [label, summarize(samples[v].times, samples[v].cpu)]));
}

function printReference(byVariant) {
  const floor = byVariant.get("reference GET /");
  const columns = [["", 20], ["p50", 7], ["p95", 7], ["cpu ms", 7], ["p50 ×floor", 11], ["cpu ×floor", 11]];
  console.log(`\nThe Rust worker (kv_only) against a JavaScript reference doing the legacy /help (one sendMessage,`);
  console.log(`response.json()) and GET / (405), quiet, ${RUNS} requests each, taking turns; ms. The floor is the`);
  console.log("reference's GET /. Legacy JS on this machine class: /help 2.2× the floor's p50, /watchlist 2.9×.");
  console.log(row(columns, columns.map(([h]) => h)));
  for (const [label, r] of byVariant) {
    console.log(row(columns, [label, fixed(r.p50), fixed(r.p95), fixed(r.cpu), fixed(r.p50 / floor.p50), fixed(r.cpu / floor.cpu)]));
  }
  const rust = byVariant.get("Rust /help");
  const ref = byVariant.get("reference /help");
  console.log(`Rust /help ÷ reference /help: p50 ${fixed(rust.p50 / ref.p50)}×, CPU ${fixed(rust.cpu / ref.cpu)}×.`);
}

/**
 * p50, p95, CPU and outbound requests per command and phase, over RUNS requests each. The
 * phases' workers run side by side and take turns request by request (in a rotating order),
 * so every phase is timed under the same conditions and the ratios compare like with like.
 */
async function measure(runs, load) {
  const results = new Map(PHASES.map((phase) => [phase, new Map()]));
  const clean = { cpu: 0, all: 0 };
  let chat = 10_000;
  for (const [text] of commands({}).filter(([t]) => !ONLY || ONLY.includes(t))) {
    const samples = new Map(PHASES.map((phase) => [phase, { times: [], replies: [], cpu: [], outbound: 0 }]));
    for (let i = 0; i < RUNS; i++) {
      chat += 1;
      const from = text === "/subscribers" ? 1 : chat;
      for (let k = 0; k < PHASES.length; k++) {
        const phase = PHASES[(i + k) % PHASES.length];
        const run = runs.get(phase);
        const setup = commands(run).find(([t]) => t === text)[1];
        for (const step of setup) await (typeof step === "function" ? step() : run.worker.say(from, step));
        if (setup.length) await pause();
        const t = await timeOne(run, () => run.worker.say(from, text), load);
        const sample = samples.get(phase);
        sample.times.push(t.elapsed);
        sample.replies.push(t.outbound.findLast((call) => call.chat === from).at - t.started);
        sample.outbound += t.outbound.length;
        if (t.cpu !== null) sample.cpu.push(t.cpu);
        clean.all += 1;
        clean.cpu += t.cpu !== null ? 1 : 0;
        drain(run);
      }
    }
    for (const phase of PHASES) {
      const { times, replies, cpu, outbound } = samples.get(phase);
      const response = summarize(times, cpu);
      const reply = summarize(replies, []);
      results.get(phase).set(text, { ...response, reply50: reply.p50, reply95: reply.p95, outbound: outbound / RUNS });
    }
  }
  return { byPhase: results, clean };
}

function printCommands(byPhase, floor) {
  const columns = [
    ["command", 22], ["phase", 11], ["reply p50", 10], ["p95", 7], ["ratio", 6], ["shadow/d1", 10],
    ["response p50", 13], ["p95", 7], ["ratio", 6], ["shadow/d1", 10], ["×floor", 7], ["cpu ms", 7], ["×floor", 7], ["outbound", 9],
  ];
  console.log(row(columns, columns.map(([h]) => h)));
  for (const [text] of commands({}).filter(([t]) => byPhase.get("kv_only").has(t))) {
    const base = byPhase.get("kv_only").get(text);
    const d1 = byPhase.get("d1_only").get(text);
    for (const phase of PHASES) {
      const r = byPhase.get(phase).get(text);
      const vsD1 = (key) => (phase === "shadow" ? fixed(r[key] / d1[key]) : "");
      console.log(row(columns, [
        text, phase,
        fixed(r.reply50), fixed(r.reply95), fixed(r.reply50 / base.reply50), vsD1("reply50"),
        fixed(r.p50), fixed(r.p95), fixed(r.p50 / base.p50), vsD1("p50"), fixed(r.p50 / floor.p50),
        fixed(r.cpu), fixed(r.cpu / floor.cpu), fixed(r.outbound),
      ]));
    }
  }
}

function printLoad(lanes, clean) {
  console.log(`Load: ${LOAD_RATE} writes/s asked per worker (/watchlist add, /watchlist remove, /execute from other chats);`);
  for (const lane of lanes) {
    const fewest = lane.fewest === null ? "under 60 s of load" : `fewest in any 60 s: ${lane.fewest}`;
    console.log(`  ${lane.name.padEnd(11)} ${fixed(lane.perSecond)} writes/s, ${lane.writes} writes, ${fewest}, ${lane.failed} not answered 200`);
  }
  console.log(`CPU from the ${clean.cpu} of ${clean.all} timed requests during which no load write ran on the same worker.`);
}

/**
 * D1 calls, statements and rows, and KV calls, per command and phase: the mean over
 * STORAGE_RUNS requests on quiet workers behind the counting entry, after-response work included.
 */
async function printStorage() {
  const runs = new Map();
  for (const phase of PHASES) {
    const run = await startRust(phase, COUNTING_ENTRY);
    await moveTo(run.worker, phase);
    runs.set(phase, run);
  }
  const keys = ["d1Calls", "d1Statements", "rowsRead", "rowsWritten", "kvGets", "kvPuts", "kvDeletes", "kvLists"];
  const columns = [["command", 22], ["phase", 11], ["d1 calls", 9], ["statements", 11], ["rows read", 10], ["rows written", 13],
    ["kv get", 7], ["kv put", 7], ["kv delete", 10], ["kv list", 8]];
  console.log(`\nStorage per request in workerd (mean of ${STORAGE_RUNS}, quiet, after-response work included), counted by`);
  console.log("wrapping the worker's D1 and KV bindings; rows as D1's meta reports them:");
  console.log(row(columns, columns.map(([h]) => h)));
  let chat = 30_000;
  for (const [text] of commands({}).filter(([t]) => !ONLY || ONLY.includes(t))) {
    for (const [phase, run] of runs) {
      const samples = [];
      for (let i = 0; i < STORAGE_RUNS; i++) {
        chat += 1;
        const from = text === "/subscribers" ? 1 : chat;
        for (const step of commands(run).find(([t]) => t === text)[1]) await (typeof step === "function" ? step() : run.worker.say(from, step));
        await pause();
        await takeStorageCounts(run.worker);
        await (await run.worker.say(from, text)).arrayBuffer();
        await pause();
        samples.push(await takeStorageCounts(run.worker));
        drain(run);
      }
      console.log(row(columns, [text, phase, ...keys.map((key) => fixed(mean(samples.map((s) => s[key])), 1))]));
    }
  }
  for (const run of runs.values()) await run.worker.stop();
}

function printUpload() {
  let over = false;
  for (const [worker, config] of [["bot", "wrangler.toml"], ["ops", "wrangler.ops.toml"]]) {
    const { modules, gzippedKib } = uploadSize(config);
    const overHere = gzippedKib > UPLOAD_TARGET_KIB;
    over ||= overHere;
    const parts = modules.map((m) => `${m.name} ${fixed(m.kib, 1)} KiB → ${fixed(m.gzippedKib, 1)}`).join(", ");
    console.log(`Upload of the ${worker} worker (wrangler's dry-run bundle): ${parts}; gzipped total ` +
      `${fixed(gzippedKib, 1)} KiB (target <= ${UPLOAD_TARGET_KIB} KiB${overHere ? ", OVER" : ""}).`);
  }
  return over;
}

const uploadOver = printUpload();

const runs = new Map();
for (const phase of PHASES) {
  const run = await startRust(phase);
  await moveTo(run.worker, phase);
  await warmUp(run, WARMUP, WARM_MIX);
  runs.set(phase, run);
}
const ref = await startRef();
await warmUp(ref, WARMUP, ["/help", "GET /"]);

const byVariant = await compareWithReference(runs.get("kv_only"), ref);
printReference(byVariant);
await ref.worker.stop();

console.log(`\nPer command and phase in workerd, ${RUNS} requests each after ${WARMUP} untimed (index: Fear, cached after`);
console.log("the first /now); the four phases' workers take turns request by request" +
  (LOAD ? `, each also receiving ${LOAD_RATE} writes/s from other chats.` : ", quiet (BENCH_LOAD=0)."));
console.log("reply = until the bot's last sendMessage reaches Telegram (what the user waits for); response = until");
console.log("the webhook's response (the second writes of dual_write and shadow run between the two). ratio = p50 /");
console.log("p50 in kv_only; shadow/d1 = shadow p50 / d1_only p50 (target <= 1.15, on the reply); ×floor = response");
console.log("p50 or CPU / the reference's GET / (quiet); cpu ms = workerd's CPU per request, after-response work included.");
const load = LOAD ? startLoad(new Map([...runs].map(([phase, run]) => [phase, run.worker])), { rate: LOAD_RATE, maxSeconds: 900, settleMs: GAP_MS }) : null;
const { byPhase, clean } = await measure(runs, load);
const lanes = await load?.stop();
printCommands(byPhase, byVariant.get("reference GET /"));
if (lanes) printLoad(lanes, clean);
for (const run of runs.values()) await run.worker.stop();

await printStorage();
await printOverlap(RUNS);
await printFreshIsolates([
  ["Rust (kv_only)", () => startRust("fresh")],
  ["reference", startRef],
], FRESH_REPS);
await printFirstCompiled();

if (!ONLY) {
  const run = await startRust("broadcast");
  await printBroadcast(run);
  await run.worker.stop();
}
process.exitCode = uploadOver ? 1 : 0;
