// What the wasm build costs per request and on a fresh isolate, for one or more builds compared
// in one run: p50 latency and the workerd process's CPU per request (utime + stime of all its
// threads, from /proc) for `/help` updates and `GET /` after a warm-up, then cold starts (a fresh
// Miniflare's `ready`, its first `GET /`, and `/help` as the first request of another fresh one).
// Builds take turns request by request, so a noisy machine affects all alike.
//
//   node scripts/bench-wasm.mjs [BUILD_DIR ...]   (default: build; e.g. /tmp/wasm-variants/base)
//   BENCH_N (500) timed requests per kind, BENCH_WARMUP (300), BENCH_COLD (5) cold starts each.
import { resolve } from "node:path";
import { startWorker } from "../tests/e2e/harness.mjs";
import { createStandIn } from "../tests/e2e/stand-in.mjs";
import { cpuMs, withWorkerdPid } from "./bench/workerd-cpu.mjs";
import { median } from "./bench/stats.mjs";

const N = Number(process.env.BENCH_N ?? 500);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 300);
const COLD = Number(process.env.BENCH_COLD ?? 5);
/** A pause between requests (untimed) so one request's `wait_until` work ends before the next. */
const GAP_MS = Number(process.env.BENCH_GAP_MS ?? 5);
const builds = (process.argv.length > 2 ? process.argv.slice(2) : ["build"]).map((dir) => resolve(dir));
const pause = () => new Promise((done) => setTimeout(done, GAP_MS));

/** A fresh worker on `build`, with its workerd pid and its `ready` time. */
async function start(build) {
  const world = createStandIn();
  const { worker, pid } = await withWorkerdPid(async () => ({ worker: await startWorker({ outbound: world.outbound, build, secretsScan: false }) }));
  const timed = async (request) => {
    const t0 = performance.now();
    const res = await request();
    await res.arrayBuffer();
    return performance.now() - t0;
  };
  return {
    ready: worker.readyMs,
    pid,
    help: () => timed(() => worker.say(42, "/help")),
    root: () => timed(() => worker.fetch("/")),
    stop: () => worker.stop(),
  };
}

const name = (build) => build.replace(/\/build$/, "").split("/").at(-1);

/** p50 and workerd CPU per request of each kind, builds taking turns request by request. */
async function steady() {
  const workers = [];
  for (const build of builds) workers.push(await start(build));
  for (let i = 0; i < WARMUP; i++) {
    for (const w of workers) { await w.help(); await w.root(); await pause(); }
  }
  const rows = [];
  for (const kind of ["help", "root"]) {
    const times = workers.map(() => []);
    const cpu0 = workers.map((w) => cpuMs(w.pid));
    for (let i = 0; i < N; i++) {
      for (const [k, w] of workers.entries()) { times[k].push(await w[kind]()); await pause(); }
    }
    workers.forEach((w, k) => rows.push([name(builds[k]), kind, median(times[k]), (cpuMs(w.pid) - cpu0[k]) / N]));
  }
  for (const w of workers) await w.stop();
  return rows;
}

/** Median over COLD fresh instances of `ready`, the first `GET /`, and `/help` as the first request. */
async function cold() {
  const samples = builds.map(() => ({ ready: [], root: [], help: [] }));
  for (let i = 0; i < COLD; i++) {
    for (const [k, build] of builds.entries()) {
      const a = await start(build);
      samples[k].ready.push(a.ready);
      samples[k].root.push(await a.root());
      await a.stop();
      const b = await start(build);
      samples[k].help.push(await b.help());
      await b.stop();
    }
  }
  return samples;
}

console.log(`${N} requests per kind after ${WARMUP} warm-up rounds; cold: median of ${COLD}.`);
console.log("build                kind   p50 ms   workerd CPU ms/request");
for (const [build, kind, p50, cpu] of await steady()) {
  console.log(`${build.padEnd(20)} ${kind.padEnd(5)} ${p50.toFixed(3).padStart(7)} ${cpu.toFixed(3).padStart(9)}`);
}
console.log("build                ready ms  first GET / ms  first /help ms");
for (const [k, s] of (await cold()).entries()) {
  const cells = [median(s.ready), median(s.root), median(s.help)].map((v, i) => v.toFixed(1).padStart([8, 15, 15][i]));
  console.log(`${name(builds[k]).padEnd(20)} ${cells.join(" ")}`);
}
