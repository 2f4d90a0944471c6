// Where each command's CPU time goes inside the worker's isolate: starts the real wasm build in
// Miniflare with V8's inspector open (`inspectorPort: 0`), moves every repository to
// PROFILE_PHASE (default d1_only), warms up, then runs PROFILE_RUNS (default 300) requests per
// command under V8's sampling profiler (Chrome DevTools Protocol over a WebSocket to the target
// `core:user:`) and prints per command the CPU ms per request grouped as JS glue, runtime
// builtins, wasm↔JS transitions and the futures executor, Rust code by module path and GC,
// then the top self-time functions. Samples × a calibrated period: workerd records a sample only
// while the isolate runs, and a second worker that burns CPU in one long stretch gives the
// period actually achieved (≈ 1.1 ms at the default 1,000 µs). Outbound calls are answered
// in-process by the test stand-in. Build with names kept first, then run:
//   CARGO_PROFILE_RELEASE_STRIP=none bash scripts/build-worker.sh
//   source scripts/env.sh && PROFILE_PHASE=kv_only node scripts/profile.mjs
// Options (env): PROFILE_RUNS, PROFILE_WARMUP (300), PROFILE_INTERVAL_US (1000; smaller gives
// more samples but a period that depends on load, so trust its ms less), PROFILE_MS_PER_SAMPLE
// (skip the calibration), PROFILE_ONLY="/help,GET /", PROFILE_TOP (15), PROFILE_OUT=DIR (also
// writes each command's .cpuprofile, for Chrome DevTools).
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BOT_WORKER, startWorker } from "../tests/e2e/harness.mjs";
import { createStandIn } from "../tests/e2e/stand-in.mjs";
import { fixed, median, sleep } from "./bench/stats.mjs";
import { cpuMs, withWorkerdPid } from "./bench/workerd-cpu.mjs";

const PHASE = process.env.PROFILE_PHASE ?? "d1_only";
const RUNS = Number(process.env.PROFILE_RUNS ?? 300);
const WARMUP = Number(process.env.PROFILE_WARMUP ?? 300);
const INTERVAL_US = Number(process.env.PROFILE_INTERVAL_US ?? 1000);
const TOP = Number(process.env.PROFILE_TOP ?? 15);
const ONLY = process.env.PROFILE_ONLY?.split(",");
const OUT = process.env.PROFILE_OUT;
/** After the last request of a window: its after-response work (`wait_until`) finishes inside it. */
const SETTLE_MS = 250;
const PHASES = ["kv_only", "dual_write", "shadow", "d1_only"];
const TUESDAY_0900 = 1795510800000;
if (!PHASES.includes(PHASE)) throw new Error(`PROFILE_PHASE must be one of ${PHASES.join(", ")}`);
if (typeof WebSocket !== "function") throw new Error("needs Node 22's built-in WebSocket: source scripts/env.sh first");

// ---- the Chrome DevTools Protocol, over Node's WebSocket ----

/**
 * Connects to the inspector target of the bot worker (`core:user:fear-greed-bot`; the burner's
 * own worker when it runs alone) of `mf`; returns `send(method, params)`.
 */
async function connectProfiler(mf) {
  const url = await mf.getInspectorURL();
  const targets = await (await fetch(`http://${url.host}/json`)).json();
  const users = targets.filter((t) => t.id.startsWith("core:user:"));
  const target = users.find((t) => t.id === `core:user:${BOT_WORKER}`) ?? users[0];
  if (!target) throw new Error(`no core:user: target among ${targets.map((t) => t.id).join(", ")}`);
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error(`cannot open ${target.webSocketDebuggerUrl}`));
  });
  let nextId = 0;
  const pending = new Map();
  // workerd answers some commands by echoing them (no `result`); `Profiler.stop` carries one.
  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    const waiting = pending.get(message.id);
    if (!waiting) return;
    pending.delete(message.id);
    if (message.error) waiting.reject(new Error(`${waiting.method}: ${JSON.stringify(message.error)}`));
    else waiting.resolve(message.result ?? {});
  };
  const send = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const id = ++nextId;
      pending.set(id, { resolve, reject, method });
      ws.send(JSON.stringify({ id, method, params }));
    });
  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: INTERVAL_US });
  return { send, close: () => ws.close() };
}

/**
 * Runs `work()` under the sampling profiler; returns the V8 profile and, given the workerd
 * `pid`, that process's CPU ms meanwhile (all isolates and Miniflare's simulators, not the
 * profile's serialisation).
 */
async function profiled(cdp, work, pid) {
  await cdp.send("Profiler.start");
  const before = pid ? cpuMs(pid) : 0;
  await work();
  await sleep(SETTLE_MS);
  const processMs = pid ? cpuMs(pid) - before : NaN;
  return { profile: (await cdp.send("Profiler.stop")).profile, processMs };
}

// ---- the period one sample stands for ----

const BURN_ENTRY = {
  path: "build/profile-burn-entry.mjs",
  contents: `export default { fetch(request) {
  const n = Number(new URL(request.url).searchParams.get("n"));
  let x = 0;
  for (let i = 0; i < n; i++) x = (x * 31 + i) % 1000003;
  return new Response(String(x));
} };`,
};

/**
 * ms of isolate time per sample: the median gap between consecutive samples while a worker
 * burns CPU for ~15 ms per request (the sampler's period plus the cost of taking a sample).
 */
async function calibrate() {
  if (process.env.PROFILE_MS_PER_SAMPLE) return { msPerSample: Number(process.env.PROFILE_MS_PER_SAMPLE), source: "PROFILE_MS_PER_SAMPLE" };
  const burner = await startWorker({ entry: BURN_ENTRY, miniflare: { inspectorPort: 0 } });
  try {
    const cdp = await connectProfiler(burner.mf);
    const burn = async () => (await burner.fetch("/?n=3000000")).text();
    for (let i = 0; i < 5; i++) await burn();
    const { profile } = await profiled(cdp, async () => {
      for (let i = 0; i < 20; i++) await burn();
    });
    cdp.close();
    const idle = idOf(profile, "(idle)");
    const gaps = profile.timeDeltas.filter((_, i) => i > 0 && !idle.has(profile.samples[i]) && !idle.has(profile.samples[i - 1]));
    return { msPerSample: median(gaps) / 1000, source: `calibrated on a CPU-burning worker, ${gaps.length} gaps` };
  } finally {
    await burner.stop();
  }
}

const idOf = (profile, name) => new Set(profile.nodes.filter((n) => n.callFrame.functionName === name).map((n) => n.id));

// ---- classifying a sample by the frame it was taken in ----

const GROUPS = ["JS glue", "runtime builtins", "transitions + executor", "Rust", "GC"];

const isWasm = (frame) => frame.url.startsWith("wasm://");
const isGlue = (frame) => /(^|\/)index\.js$/.test(frame.url);
const isNative = (frame) => frame.url === "" && !frame.functionName.startsWith("(") && frame.functionName !== "wasm-to-js";

/** A Rust symbol without its hash and crate disambiguators. */
const cleanRust = (name) => name.replace(/::h[0-9a-f]{16}$/, "").replace(/\[[0-9a-f]{8,16}\]/g, "");

/** The path a Rust symbol belongs to: the self type of `<T as Trait>`, the type of `drop_in_place<T>`. */
function rustPath(name) {
  let s = cleanRust(name);
  const drop = s.match(/^core::ptr::drop_in_place<(.*)>$/);
  if (drop) s = drop[1];
  if (s.startsWith("<")) {
    const asIndex = topLevelAs(s);
    const self = s.slice(1, asIndex === -1 ? undefined : asIndex).replace(/^(&mut |&|\*const |\*mut |dyn |\[)+/, "");
    const trait = asIndex === -1 ? "" : s.slice(asIndex + 4);
    s = /^[a-z_][a-z0-9_]*::/.test(self) ? self : trait;
  }
  return s.split(/[<\s({]/)[0].split("::").filter((part) => part && !part.startsWith("impl"));
}

/** Index of the top-level " as " inside a leading `<…>`, or -1. */
function topLevelAs(s) {
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "<") depth++;
    else if (s[i] === ">") depth--;
    else if (depth === 1 && s.startsWith(" as ", i)) return i;
  }
  return -1;
}

/** [group, subgroup] of a wasm function by its name-section name. */
function classifyWasm(name) {
  if (/^(js-to-wasm|wasm-to-js)/.test(name) || / shim$/.test(name) || /^(Closure\(|Ref\(|Option\(|String\()/.test(name)) {
    return ["transitions + executor", "wasm-bindgen shims (js-to-wasm, externref/multivalue)"];
  }
  if (/^__wbindgen_|^__wbg_|^__externref_/.test(name)) return ["transitions + executor", "wasm-bindgen exports"];
  const clean = cleanRust(name);
  if (/AssertUnwindSafe<F> as core::future::future::Future>::poll/.test(clean)) {
    return ["Rust", "(top-level future poll: the handler's inlined async code)"];
  }
  if (/^__rustc::__r(dl|g|ust)_|^__rust_(alloc|dealloc|realloc)/.test(clean)) return ["Rust", "dlmalloc"];
  const path = rustPath(name);
  if (path.length === 0 || /^(\$|wasm-function|func)/.test(name)) return ["Rust", "(unnamed wasm)"];
  const [crate, module] = path;
  if (crate === "js_sys" && module === "futures") return ["transitions + executor", "js_sys::futures (executor, JsFuture)"];
  if (crate === "wasm_bindgen_futures") return ["transitions + executor", "wasm_bindgen_futures (executor)"];
  if (crate === "wasm_bindgen" || crate === "js_sys" || crate === "web_sys") return ["transitions + executor", `${crate} (bindings)`];
  const twoLevels = ["fear_greed_bot", "core", "alloc", "std"].includes(crate) && module;
  return ["Rust", twoLevels ? `${crate}::${module}` : crate];
}

/**
 * Classifies every node of `profile`: `{ group, sub, label }`. Native (runtime) frames count as
 * JS glue when the nearest non-native frame above them is the glue or wasm (a runtime call made
 * by the glue), as runtime builtins otherwise; they are labelled with that caller.
 */
function classifyNodes(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const caller = (id) => {
    for (let p = parent.get(id); p !== undefined; p = parent.get(p)) {
      const frame = byId.get(p).callFrame;
      if (!isNative(frame)) return frame;
    }
    return null;
  };
  const classes = new Map();
  for (const node of profile.nodes) {
    const frame = node.callFrame;
    const name = frame.functionName || "(anonymous)";
    let cls;
    if (name === "(garbage collector)") cls = { group: "GC", sub: "GC", label: name };
    else if (name === "(program)") cls = { group: "runtime builtins", sub: "(program): workerd/V8 native, no JS frame", label: name };
    else if (name === "(idle)" || name === "(root)") cls = { group: null, sub: name, label: name };
    else if (name === "wasm-to-js") cls = { group: "transitions + executor", sub: "wasm-to-js frames", label: "wasm-to-js" };
    else if (isWasm(frame)) {
      const [group, sub] = classifyWasm(name);
      cls = { group, sub, label: cleanRust(name) };
    } else if (isGlue(frame)) cls = { group: "JS glue", sub: "build/index.js itself", label: `${name} [index.js:${frame.lineNumber + 1}:${frame.columnNumber + 1}]` };
    else if (isNative(frame)) {
      const from = caller(node.id);
      const fromGlue = from && (isGlue(from) || isWasm(from) || from.functionName === "wasm-to-js");
      const fromName = from ? from.functionName || "(anonymous)" : "top level";
      const label = `${name} [runtime] ← ${fromName}`;
      if (fromGlue) cls = { group: "JS glue", sub: "runtime calls made by the glue", label };
      else if (from && from.url) cls = { group: "runtime builtins", sub: `runtime called from ${from.url}`, label };
      else cls = { group: "runtime builtins", sub: "runtime, no JS caller (dispatch, microtasks)", label };
    } else cls = { group: "runtime builtins", sub: `runtime JS ${frame.url}`, label: `${name} [${frame.url}]` };
    classes.set(node.id, cls);
  }
  // Which of the app's functions each sample comes from: the nearest `fear_greed_bot::` frame above.
  const appOf = new Map();
  const app = (id) => {
    if (appOf.has(id)) return appOf.get(id);
    const frame = byId.get(id).callFrame;
    const own = isWasm(frame) && cleanRust(frame.functionName).match(/^<?(fear_greed_bot::[^<\s]*)/);
    const found = own ? own[1].replace(/::\{\{closure\}\}/g, "") : parent.has(id) ? app(parent.get(id)) : null;
    appOf.set(id, found);
    return found;
  };
  for (const [id, cls] of classes) cls.app = app(id);
  return classes;
}

/** Per-request ms by group, subgroup and leaf label, from the self samples of `profile`. */
function analyse(profile, msPerSample, requests) {
  const classes = classifyNodes(profile);
  const perRequest = (count) => (count * msPerSample) / requests;
  const groups = new Map(GROUPS.map((g) => [g, 0]));
  const subs = new Map();
  const labels = new Map();
  let busy = 0;
  let idle = 0;
  for (const id of profile.samples) {
    const cls = classes.get(id);
    if (cls.group === null) {
      idle += cls.sub === "(idle)" ? 1 : 0;
      continue;
    }
    busy += 1;
    groups.set(cls.group, groups.get(cls.group) + 1);
    const subKey = `${cls.group}\u0000${cls.sub}`;
    subs.set(subKey, (subs.get(subKey) ?? 0) + 1);
    const labelKey = `${cls.group}\u0000${cls.label}\u0000${cls.app ?? "-"}`;
    labels.set(labelKey, (labels.get(labelKey) ?? 0) + 1);
  }
  const sorted = (map) => [...map].sort((a, b) => b[1] - a[1]).map(([key, count]) => [...key.split("\u0000"), count, perRequest(count)]);
  // The self samples of a label summed over its app callers, with the callers listed.
  const byLabel = new Map();
  for (const [key, count] of labels) {
    const [group, label, app] = key.split("\u0000");
    const entry = byLabel.get(label) ?? { group, label, count: 0, apps: new Map() };
    entry.count += count;
    entry.apps.set(app, (entry.apps.get(app) ?? 0) + count);
    byLabel.set(label, entry);
  }
  const top = [...byLabel.values()].sort((a, b) => b.count - a.count).map((e) => ({ ...e, ms: perRequest(e.count),
    apps: [...e.apps].sort((x, y) => y[1] - x[1]).map(([app, n]) => `${app} ${n}`).join(", ") }));
  return {
    busy,
    idle,
    total: perRequest(busy),
    groups: new Map([...groups].map(([g, count]) => [g, { count, ms: perRequest(count) }])),
    subs: sorted(subs),
    top,
  };
}

// ---- the worker and the commands ----

/** Every repository into `phase`, one step at a time (forced: the stores start empty), as bench.mjs does. */
async function moveTo(worker, phase) {
  for (const step of PHASES.slice(1, PHASES.indexOf(phase) + 1)) {
    const [status] = await worker.admin("PUT", "/admin/flags", { key: "storage.phase.all", value: step, force: true, reason: "profile" });
    if (status !== 200) throw new Error(`moving to ${step}: ${status}`);
  }
}

const WARM_MIX = ["/help", "/watchlist", "/watchlist add AAPL", "/now AAPL", "/execute SPY 400.5", "/executions", "/start", "/now", "GET /"];

/**
 * Each command: its text (or "GET /") and the texts said from each request's chat beforehand,
 * outside the profiled window. Every request comes from a chat of its own, as in bench.mjs:
 * `/watchlist add AAPL` and `/execute` then write every time.
 */
const COMMANDS = [
  ["/help", []],
  ["/watchlist", []],
  ["/watchlist add AAPL", []],
  ["/now", ["/watchlist add AAPL"]],
  ["/now AAPL", []],
  ["/execute SPY 400.5", []],
  ["/executions", ["/execute SPY 400.5"]],
  ["GET /", []],
].filter(([text]) => !ONLY || ONLY.includes(text));

const world = createStandIn();
const drain = () => {
  world.take();
  world.requests.length = 0;
  world.sentAt.length = 0;
};

const { msPerSample, source } = await calibrate();
const { worker, pid } = await withWorkerdPid(async () => ({
  worker: await startWorker({
    outbound: world.outbound,
    vars: { ADMIN_CHAT_ID: "1", TEST_CLOCK_START_MS: String(TUESDAY_0900) },
    miniflare: { inspectorPort: 0 },
  }),
}));
const send = (chat, text) => (text === "GET /" ? worker.fetch("/") : worker.say(chat, text));

await moveTo(worker, PHASE);
for (let i = 0; i < WARMUP; i++) {
  await (await send(8_000_000 + Math.floor(i / WARM_MIX.length), WARM_MIX[i % WARM_MIX.length])).arrayBuffer();
}
drain();
const cdp = await connectProfiler(worker.mf);

console.log(`Profile of the worker's isolate in workerd, phase ${PHASE}: ${RUNS} requests per command after ${WARMUP} warm-up`);
console.log(`requests, sampling every ${INTERVAL_US} µs; 1 sample = ${fixed(msPerSample, 3)} ms (${source}).`);
console.log("ms = CPU ms per request in the isolate (after-response work included); ± is one sample's Poisson error;");
console.log("workerd = the whole workerd process's CPU ms per request (its other isolates, Miniflare's KV/D1 simulators).");
const summary = [];
let chat = 1_000_000;
for (const [text, setup] of COMMANDS) {
  const chats = Array.from({ length: RUNS }, () => ++chat);
  for (const from of chats) for (const step of setup) await (await send(from, step)).arrayBuffer();
  await sleep(SETTLE_MS);
  drain();
  const statuses = new Map();
  const { profile, processMs } = await profiled(cdp, async () => {
    for (const from of chats) {
      const res = await send(from, text);
      await res.arrayBuffer();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    }
  }, pid);
  const replies = world.take().length;
  drain();
  if (OUT) {
    mkdirSync(OUT, { recursive: true });
    writeFileSync(join(OUT, `${PHASE}-${text.replace(/[^A-Za-z0-9]+/g, "_").replace(/^_|_$/g, "") || "root"}.cpuprofile`), JSON.stringify(profile));
  }
  const a = analyse(profile, msPerSample, RUNS);
  a.processMs = processMs / RUNS;
  summary.push([text, a]);
  const err = (count) => (Math.sqrt(Math.max(count, 1)) * msPerSample) / RUNS;
  const status = [...statuses].map(([s, n]) => `${n}×${s}`).join(", ");
  console.log(`\n== ${text}  (${PHASE}; ${status}; ${replies} sendMessage) — ${fixed(a.total, 3)} ± ${fixed(err(a.busy), 3)} ms per request, ${a.busy} samples (+${a.idle} idle); whole workerd process ${fixed(a.processMs, 2)} ms`);
  for (const group of GROUPS) {
    const { count, ms } = a.groups.get(group);
    console.log(`  ${group.padEnd(24)} ${fixed(ms, 3).padStart(7)} ms  ${fixed((100 * count) / Math.max(a.busy, 1), 0).padStart(3)} %`);
    // Subgroups of at least 0.5 % of the command's samples; the rest on one line.
    const subs = a.subs.filter(([g]) => g === group);
    const shown = subs.filter(([, , n]) => n >= a.busy * 0.005);
    for (const [, sub, , subMs] of shown) console.log(`      ${sub.slice(0, 60).padEnd(60)} ${fixed(subMs, 3).padStart(7)}`);
    const rest = subs.slice(shown.length);
    if (rest.length) {
      const restMs = rest.reduce((sum, [, , , ms]) => sum + ms, 0);
      console.log(`      ${`(${rest.length} more, each < 0.5 %)`.padEnd(60)} ${fixed(restMs, 3).padStart(7)}`);
    }
  }
  console.log(`  top ${TOP} by self time (ms per request, samples, function (group); the app functions above it, samples):`);
  for (const { group, label, count, ms, apps } of a.top.slice(0, TOP)) {
    console.log(`    ${fixed(ms, 3).padStart(6)} ${String(count).padStart(4)}×  ${label.slice(0, 120)}  (${group})`);
    console.log(`${"".padStart(19)}via ${apps.slice(0, 160)}`);
  }
}
cdp.close();
await worker.stop();

console.log(`\nSummary, ${PHASE}: CPU ms per request in the isolate`);
const head = ["command", ...GROUPS, "total", "samples", "workerd"];
const widths = [20, 9, 18, 24, 6, 5, 7, 8, 8];
console.log(head.map((h, i) => (i === 0 ? h.padEnd(widths[i]) : h.padStart(widths[i]))).join(" "));
for (const [text, a] of summary) {
  const cells = [text, ...GROUPS.map((g) => fixed(a.groups.get(g).ms, 3)), fixed(a.total, 3), String(a.busy), fixed(a.processMs, 2)];
  console.log(cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" "));
}
