// What the wasm build costs per request and on a fresh isolate, for one or more builds compared
// in one run: p50 latency and the workerd process's CPU per request (utime + stime of all its
// threads, from /proc) for `/help` updates and `GET /` after a warm-up, then cold starts (a fresh
// Miniflare's `ready`, its first `GET /`, and `/help` as the first request of another fresh one).
// Builds take turns request by request, so a noisy machine affects all alike.
//
//   node scripts/bench-wasm.mjs [BUILD_DIR ...]   (default: build; e.g. /tmp/wasm-variants/base)
//   BENCH_N (500) timed requests per kind, BENCH_WARMUP (300), BENCH_COLD (5) cold starts each.
import { Miniflare, convertV4MiniflareOptions } from "miniflare";
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ROOT, BOT_TOKEN, WEBHOOK_SECRET } from "../tests/e2e/harness.mjs";
import { createStandIn } from "../tests/e2e/stand-in.mjs";

const N = Number(process.env.BENCH_N ?? 500);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 300);
const COLD = Number(process.env.BENCH_COLD ?? 5);
/** A pause between requests (untimed) so one request's `wait_until` work ends before the next. */
const GAP_MS = Number(process.env.BENCH_GAP_MS ?? 5);
const builds = (process.argv.length > 2 ? process.argv.slice(2) : ["build"]).map((dir) => resolve(dir));
const pause = () => new Promise((done) => setTimeout(done, GAP_MS));
const TICK_MS = 1000 / 100; // USER_HZ

/** A D1 directory migrated once by wrangler; every instance gets its own copy. */
function migratedTemplate() {
  const dir = mkdtempSync(join(tmpdir(), "bench-wasm-template-"));
  execFileSync(join(ROOT, "node_modules/.bin/wrangler"),
    ["d1", "migrations", "apply", "FEAR_GREED_D1", "--local", "--persist-to", dir],
    { cwd: ROOT, env: { ...process.env, CI: "true", SKIP_WORKER_BUILD: "1" }, stdio: "pipe" });
  return dir;
}

/** The pids of this process's workerd children. */
function workerdPids() {
  return readdirSync("/proc").filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return stat.includes("(workerd)") && Number(fields[1]) === process.pid;
    } catch {
      return false;
    }
  });
}

/** utime + stime of every thread of `pid`, in ms. */
function cpuMs(pid) {
  let ticks = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks * TICK_MS;
}

/** A fresh Miniflare on `build` with its own copy of the migrated D1, and its workerd pid. */
async function start(build, template) {
  const dir = mkdtempSync(join(tmpdir(), "bench-wasm-"));
  cpSync(template, dir, { recursive: true });
  const world = createStandIn();
  const before = new Set(workerdPids());
  const started = performance.now();
  const mf = new Miniflare(convertV4MiniflareOptions({
    rootPath: ROOT,
    modulesRoot: build,
    modules: [
      { type: "ESModule", path: join(build, "index.js") },
      { type: "CompiledWasm", path: join(build, "index_bg.wasm") },
    ],
    compatibilityDate: "2026-11-01",
    kvNamespaces: { FEAR_GREED_KV: "local-dev-namespace-id" },
    d1Databases: { FEAR_GREED_D1: "local-dev-database-id" },
    resourcePersistencePath: join(dir, "v3"),
    bindings: {
      STORAGE_PHASE_DEFAULT: "kv_only",
      TELEGRAM_BOT_TOKEN_SECRET: BOT_TOKEN,
      TELEGRAM_WEBHOOK_SECRET: WEBHOOK_SECRET,
      TELEGRAM_API_BASE_URL: "http://telegram.stand-in",
    },
    outboundService: world.outbound,
  }));
  await mf.ready;
  const ready = performance.now() - started;
  const pid = workerdPids().find((p) => !before.has(p));
  let updateId = 1;
  const timed = async (request) => {
    const t0 = performance.now();
    const res = await request();
    await res.arrayBuffer();
    return performance.now() - t0;
  };
  return {
    ready,
    pid,
    help: () => timed(() => mf.dispatchFetch("http://localhost/", {
      method: "POST",
      headers: { "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET, "Content-Type": "application/json" },
      body: JSON.stringify({ update_id: updateId++, message: { chat: { id: 42, type: "private" }, text: "/help" } }),
    })),
    root: () => timed(() => mf.dispatchFetch("http://localhost/")),
    async stop() {
      await mf.dispose();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const name = (build) => build.replace(/\/build$/, "").split("/").at(-1);

/** p50 and workerd CPU per request of each kind, builds taking turns request by request. */
async function steady(template) {
  const workers = [];
  for (const build of builds) workers.push(await start(build, template));
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
async function cold(template) {
  const samples = builds.map(() => ({ ready: [], root: [], help: [] }));
  for (let i = 0; i < COLD; i++) {
    for (const [k, build] of builds.entries()) {
      const a = await start(build, template);
      samples[k].ready.push(a.ready);
      samples[k].root.push(await a.root());
      await a.stop();
      const b = await start(build, template);
      samples[k].help.push(await b.help());
      await b.stop();
    }
  }
  return samples;
}

const template = migratedTemplate();
console.log(`${N} requests per kind after ${WARMUP} warm-up rounds; cold: median of ${COLD}.`);
console.log("build                kind   p50 ms   workerd CPU ms/request");
for (const [build, kind, p50, cpu] of await steady(template)) {
  console.log(`${build.padEnd(20)} ${kind.padEnd(5)} ${p50.toFixed(3).padStart(7)} ${cpu.toFixed(3).padStart(9)}`);
}
console.log("build                ready ms  first GET / ms  first /help ms");
for (const [k, s] of (await cold(template)).entries()) {
  const cells = [median(s.ready), median(s.root), median(s.help)].map((v, i) => v.toFixed(1).padStart([8, 15, 15][i]));
  console.log(`${name(builds[k]).padEnd(20)} ${cells.join(" ")}`);
}
rmSync(template, { recursive: true, force: true });
