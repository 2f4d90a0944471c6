// Latency of each bot command in workerd (Miniflare, the real wasm build) over 200 requests,
// with outbound requests per webhook, then one broadcast cron to 1,000 subscribers. Every
// outbound request is answered in-process by the test stand-in, so the numbers are the
// worker's own time plus local storage. Run through `bash scripts/bench.sh`.
import { startWorker } from "../tests/e2e/harness.mjs";
import { createStandIn } from "../tests/e2e/stand-in.mjs";

const RUNS = Number(process.env.BENCH_RUNS ?? 200);
const TUESDAY_0900 = 1795510800000;

const world = createStandIn();
const worker = await startWorker({
  outbound: world.outbound,
  vars: { ADMIN_CHAT_ID: "1", TEST_CLOCK_START_MS: String(TUESDAY_0900) },
});

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

const kv = await worker.kv();

/**
 * `text` from a fresh chat each run (so /execute records a BUY every time), after `setup`
 * (texts from the same chat, or a function). `/subscribers` runs against 3 subscribers: with
 * more, its one-second pauses between `getChat` batches of 30 are all the time it takes.
 */
const commands = [
  ["/start", []],
  ["/help", []],
  ["/watchlist", []],
  ["/watchlist add AAPL", []],
  ["/now", ["/watchlist add AAPL"]],
  ["/now AAPL", []],
  ["/execute SPY 400.5", []],
  ["/executions", ["/execute SPY 400.5"]],
  ["/subscribers", [() => kv.put("chat_ids", "[1,2,3]")]],
];

console.log(`Per command in workerd, ${RUNS} requests each (index: Fear, cached after the first /now):`);
console.log(`${"command".padEnd(22)} ${"p50 ms".padStart(8)} ${"p95 ms".padStart(8)} ${"outbound/req".padStart(13)}`);
let chat = 10_000;
for (const [text, setup] of commands) {
  const times = [];
  let outbound = 0;
  for (let i = 0; i < RUNS; i++) {
    chat += 1;
    const from = text === "/subscribers" ? 1 : chat;
    for (const step of setup) await (typeof step === "function" ? step() : worker.say(from, step));
    world.requests.length = 0;
    const started = performance.now();
    const res = await worker.say(from, text);
    await res.arrayBuffer();
    times.push(performance.now() - started);
    outbound += world.requests.length;
    world.take();
  }
  times.sort((a, b) => a - b);
  console.log(
    `${text.padEnd(22)} ${quantile(times, 0.5).toFixed(2).padStart(8)} ${quantile(times, 0.95).toFixed(2).padStart(8)} ${(outbound / RUNS).toFixed(2).padStart(13)}`,
  );
}

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
