// Injected KV and D1 faults in workerd: both built workers run behind an entry module that hands
// them their real bindings wrapped (bindings.mjs), failing chosen calls. A fault fails one call — a
// KV get, put, delete or list, one D1 statement, or a whole D1 batch — either before the call
// is made or after it ran, its answer lost (a write that landed but is reported failed).
// Faults come at fixed points (the next call matching a store, method and SQL text, after
// `skip` matching calls) and at random, at a seeded rate. `PUT /__faults` sets the plan and
// answers with the counts so far; every response carries `x-faults-injected`, the faults of
// its own invocation before it answered. `soak()` drives a long mixed workload through the
// phases against a model of every write the users were told had landed.
import assert from "node:assert/strict";
import { OPS_WORKER, servedIn, startWorker } from "./harness.mjs";
import { WRAP_BINDINGS } from "./bindings.mjs";
import { createStandIn } from "./stand-in.mjs";

const ENTRY = `
import Worker from "./index.js";
import { WorkerEntrypoint } from "cloudflare:workers";

${WRAP_BINDINGS}

${seeded.toString()}

const NONE = { rate: 0, seed: 1, after: 0.5, stores: ["kv", "d1"], points: [] };
let plan = NONE;
let random = seeded(1);
const counts = { calls: 0, injected: 0, byCall: {} };

function matches(point, { store, method, sql }) {
  return (!point.store || point.store === store) && (!point.method || point.method === method) &&
    (!point.sql || sql.some((text) => text?.includes(point.sql)));
}

/** This call's fault: "before" (not made), "after" (made, its answer lost) or none. */
function faultOf(call) {
  counts.calls += 1;
  const point = plan.points.find((p) => matches(p, call));
  if (point) {
    if (point.skip > 0) point.skip -= 1;
    else {
      plan.points.splice(plan.points.indexOf(point), 1);
      return point.mode ?? "before";
    }
  }
  const spared = (plan.spare ?? []).some((text) => call.sql.some((sql) => sql?.includes(text)));
  if (plan.rate > 0 && plan.stores.includes(call.store) && !spared && random() < plan.rate) {
    return random() < plan.after ? "after" : "before";
  }
  return null;
}

function faulty(invocation) {
  return async (call, run) => {
    const mode = faultOf(call);
    if (!mode) return run();
    const name = call.store + "." + call.method;
    counts.injected += 1;
    counts.byCall[name] = (counts.byCall[name] ?? 0) + 1;
    invocation.faults += 1;
    if (mode === "after") await run().catch(() => {});
    throw new Error("injected fault: " + name + " failed");
  };
}

export default class extends WorkerEntrypoint {
  async fetch(request) {
    if (new URL(request.url).pathname === "/__faults") {
      if (request.method === "PUT") {
        plan = { ...NONE, ...(await request.json()) };
        random = seeded(plan.seed);
      }
      return Response.json({ ...counts, pointsLeft: plan.points.length });
    }
    const invocation = { faults: 0 };
    const response = await new Worker(this.ctx, wrapBindings(this.env, faulty(invocation))).fetch(request);
    const marked = new Response(response.body, response);
    marked.headers.set("x-faults-injected", String(invocation.faults));
    return marked;
  }
  scheduled(controller) {
    return new Worker(this.ctx, wrapBindings(this.env, faulty({ faults: 0 }))).scheduled(controller);
  }
}`;

export const FAULT_ENTRY = { path: "build/faults-entry.mjs", contents: ENTRY };
const MAINTENANCE = "*/5 * * * *";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A worker behind the fault entry, with its stand-in world; faults off until `faults()`. It
 * runs on the real clock: TEST_CLOCK_START_MS starts every request's clock at the same instant,
 * and the repair drain would never see KV's 60 s window pass.
 */
export async function startFaulty() {
  const world = createStandIn();
  const worker = await startWorker({ outbound: world.outbound, entry: FAULT_ENTRY });
  const ops = await worker.mf.getWorker(OPS_WORKER);
  const put = async (send, plan) => (await send("http://worker/__faults", { method: "PUT", body: JSON.stringify(plan) })).json();
  /**
   * Sets the fault plan (`{ rate, seed, after, stores, points, spare }`; `spare`: SQL texts the
   * random faults leave alone) of both workers (the fixed points, aimed at requests, the bot's
   * only: the ops worker runs the admin API and the maintenance cron); the counts so far, summed.
   */
  const faults = async (plan) => {
    const [bot, maintenance] = [await put(worker.mf.dispatchFetch.bind(worker.mf), plan), await put(ops.fetch.bind(ops), { ...plan, points: [] })];
    const byCall = { ...bot.byCall };
    for (const [call, n] of Object.entries(maintenance.byCall)) byCall[call] = (byCall[call] ?? 0) + n;
    return { calls: bot.calls + maintenance.calls, injected: bot.injected + maintenance.injected, byCall, pointsLeft: bot.pointsLeft };
  };
  return { world, worker, faults };
}

/** One admin call that must answer 200 (faults are off for the operator's calls). */
async function ok(worker, method, path, body) {
  const [status, answer] = await worker.admin(method, path, body);
  assert.equal(status, 200, `${method} ${path} ${JSON.stringify(body)}: ${JSON.stringify(answer)}`);
  return answer;
}

/** The phase flip of every repository; `force` with a reason for the guard rails that faults hold shut. */
export const moveAll = (worker, value, force = false) =>
  ok(worker, "PUT", "/admin/flags", { key: "storage.phase.all", value, reason: "fault soak", ...(force ? { force } : {}) });

/** What `store` holds for `chat`, as the bot reads it (a missing watchlist reads `["SPY"]`). */
export async function stateOf(worker, chat, store) {
  if (store === "kv") {
    const kv = await worker.kv();
    const json = async (key) => JSON.parse((await kv.get(key)) ?? "null");
    const position = await json(`active_position:${chat}`);
    return {
      subscribed: ((await json("chat_ids")) ?? []).includes(chat),
      watchlist: (await json(`watchlist:${chat}`)) ?? ["SPY"],
      executions: ((await json(`execution_history:${chat}`)) ?? []).map((e) => [e.signalType, e.ticker, e.executionPrice, e.executionDate]),
      position: position && [position.ticker, position.entryPrice],
    };
  }
  const d1 = await worker.d1();
  const rows = async (sql) => (await d1.prepare(sql).bind(String(chat)).all()).results;
  const [user] = await rows("SELECT subscription_status FROM users WHERE chat_id = ?");
  const watchlist = (await rows("SELECT ticker FROM watchlists WHERE chat_id = ? ORDER BY id")).map((r) => r.ticker);
  const [position] = await rows("SELECT ticker, entry_price FROM active_positions WHERE chat_id = ?");
  return {
    subscribed: user?.subscription_status === 1,
    watchlist: watchlist.length ? watchlist : ["SPY"],
    executions: (await rows("SELECT signal_type, ticker, execution_price, execution_date FROM executions WHERE chat_id = ? ORDER BY id")).map(
      (e) => [e.signal_type, e.ticker, e.execution_price, e.execution_date],
    ),
    position: position ? [position.ticker, position.entry_price] : null,
  };
}

const TICKERS = ["AAPL", "MSFT", "NVDA", "TSLA", "QQQ", "IWM"];
const SUBSCRIBED = "You've subscribed to Fear and Greed Index alerts.";
const UNSUBSCRIBED = "You've unsubscribed from Fear and Greed Index alerts.";
const ERRORS = {
  show: "❌ Failed to retrieve watchlist. Please try again.",
  execute: "❌ Failed to record execution. Please try again.",
  executions: "❌ Failed to retrieve execution history. Please try again.",
  // /now's error path: the watchlist read (which stores the default) failed (legacy §3.6, §6.8).
  now: "🟡 *Trading Signal: HOLD*\n\n⚠️ *Data Unavailable*\n\nFear & Greed Index data unavailable.\nMarket data (SPY price and indicators) unavailable.\n\n\n*Reasoning:* HOLD - Insufficient data to evaluate trading conditions. Fear & Greed Index data unavailable.",
};
const MARKET_UNAVAILABLE =
  "🟡 *Trading Signal: HOLD*\n\n⚠️ *Data Unavailable*\n\n*Fear & Greed Index:* Fear (25.12%)\nMarket data (SPY price and indicators) unavailable.\n\n\n*Reasoning:* HOLD - Insufficient data to evaluate trading conditions. Market data (SPY price and indicators) unavailable.";
/** The commands whose storage failure the spec answers with 500 (legacy §3.6–§3.8). */
const MAY_FAIL_500 = new Set(["add", "remove", "execute", "now"]);
/** The commands that write, and claim their update id. */
const WRITES = new Set(["start", "stop", "add", "remove", "execute"]);

/**
 * What the users were told about one chat: `subscribed`, each ticker's presence on the
 * watchlist, the position's ticker (`null`: none) and its executions by price. `undefined`
 * where an update failed: it may or may not have landed. Acknowledged prices must be in the
 * history once; `maybe` prices (failed attempts) at most once; no other.
 */
function freshChat() {
  return { subscribed: false, watch: Object.fromEntries(TICKERS.map((t) => [t, false])), position: null, acked: new Set(), maybe: new Set() };
}

/** The check of one reply against the model, updating it; a failure's text or null. */
function judge(model, update, messages, status, faulted) {
  const { kind, ticker, price } = update;
  const texts = messages.map(([, text]) => text);
  const one = texts.length === 1 ? texts[0] : null;
  if (status === 500) {
    if (!faulted || !MAY_FAIL_500.has(kind)) return `500 for ${update.text} with ${faulted} faults`;
    if (texts.length) return `500 with replies ${JSON.stringify(texts)}`;
    forget(model, update);
    return null;
  }
  if (status === 503) {
    forget(model, update);
    return null;
  }
  if (status !== 200) return `status ${status} for ${update.text}`;
  switch (kind) {
    case "start":
    case "stop":
      if (one !== (kind === "start" ? SUBSCRIBED : UNSUBSCRIBED)) return `reply ${JSON.stringify(texts)}`;
      model.subscribed = faulted ? undefined : kind === "start";
      model.acknowledged = !faulted;
      return null;
    case "add":
    case "remove": {
      const adding = kind === "add";
      const done = adding ? `✅ Added ${ticker} to your watchlist.` : `✅ Removed ${ticker} from your watchlist.`;
      const noop = adding ? `❌ Ticker ${ticker} is already in your watchlist.` : `❌ Ticker ${ticker} is not in your watchlist.`;
      // Either way the ticker ends present for an add and absent for a remove.
      const was = model.watch[ticker];
      if (one === done && was !== adding) model.acknowledged = true;
      else if (one !== noop || was === !adding) return `reply ${JSON.stringify(texts)} with ${ticker} ${was === undefined ? "unknown" : was ? "present" : "absent"}`;
      model.watch[ticker] = adding;
      return null;
    }
    case "show": {
      if (faulted && one === ERRORS.show) return null;
      const shown = one?.match(/^\*Your Watchlist:\*\n\n((?:• \$[A-Z.]+\n?)+)\n\nUse /);
      if (!shown) return `reply ${JSON.stringify(texts)}`;
      const tickers = shown[1].trim().split("\n").map((line) => line.slice(3));
      if (!tickers.includes("SPY")) return `SPY missing from ${tickers}`;
      for (const t of TICKERS) {
        if (model.watch[t] !== undefined && tickers.includes(t) !== model.watch[t]) return `watchlist ${tickers} against ${t} ${model.watch[t]}`;
      }
      // A read of a fault-free request is the truth: what was unknown is known again.
      if (!faulted) for (const t of TICKERS) model.watch[t] = tickers.includes(t);
      return null;
    }
    case "execute": {
      if (faulted && one === ERRORS.execute) {
        forget(model, update);
        return null;
      }
      const recorded = one?.match(/^(🟢|🔴) \*Execution Recorded\*\n\n\*Signal:\* (BUY|SELL)\n\*Ticker:\* ([A-Z]+)\n\*Price:\* \$([\d.]+)/);
      if (!recorded || recorded[3] !== ticker || recorded[4] !== price) return `reply ${JSON.stringify(texts)}`;
      const sell = recorded[2] === "SELL";
      if (model.position !== undefined && sell !== (model.position === ticker)) return `${recorded[2]} ${ticker} with position ${model.position}`;
      model.position = sell ? null : ticker;
      model.acked.add(price);
      model.maybe.delete(price);
      // A BUY puts its ticker on the watchlist; a watchlist step that failed is not shown.
      if (!sell) model.watch[ticker] = faulted ? (model.watch[ticker] || undefined) : true;
      model.acknowledged = true;
      return null;
    }
    case "executions": {
      if (faulted && one === ERRORS.executions) return null;
      if (one === "*Your Execution History:*\n\nNo executions recorded.") {
        return model.acked.size ? `no executions, ${model.acked.size} acknowledged` : null;
      }
      if (!one?.startsWith("*Your Execution History:*\n\n*Execution History (")) return `reply ${JSON.stringify(texts)}`;
      const listed = [...one.matchAll(/ at \$([\d.]+)\n/g)].map((m) => m[1]);
      return historyFault(model, listed);
    }
    case "now": {
      // A failed position read leaves the signal unevaluated (legacy §3.6, §6.8).
      const header = model.now.slice(0, model.now.indexOf("\n\n"));
      const errors = [ERRORS.now, `${header}\n\n${MARKET_UNAVAILABLE}`];
      return one === model.now || (faulted && errors.includes(one)) ? null : `reply ${JSON.stringify(texts)}`;
    }
  }
  return `unknown command ${kind}`;
}

/** What an update that failed may have left: anything it would have written. */
function forget(model, { kind, ticker, price }) {
  if (kind === "start" || kind === "stop") model.subscribed = undefined;
  if (kind === "add" || kind === "remove") model.watch[ticker] = undefined;
  if (kind === "execute") {
    model.position = undefined;
    if (!model.acked.has(price)) model.maybe.add(price);
    if (model.watch[ticker] === false) model.watch[ticker] = undefined;
  }
}

/** Where a history (its prices) breaks the model: a lost, doubled or unknown execution. */
function historyFault(model, prices) {
  const seen = new Set();
  for (const p of prices) {
    if (seen.has(p)) return `execution at ${p} twice`;
    seen.add(p);
    if (!model.acked.has(p) && !model.maybe.has(p)) return `execution at ${p} never attempted`;
  }
  for (const p of model.acked) if (!seen.has(p)) return `acknowledged execution at ${p} lost`;
  return null;
}

/** The acknowledged writes of `model` that `state` (the authoritative store's) does not hold. */
function lostWrites(model, state) {
  const lost = [];
  if (model.subscribed !== undefined && state.subscribed !== model.subscribed) lost.push(`subscribed ${model.subscribed}`);
  for (const t of TICKERS) {
    if (model.watch[t] !== undefined && state.watchlist.includes(t) !== model.watch[t]) lost.push(`${t} ${model.watch[t] ? "missing" : "present"}`);
  }
  if (model.position !== undefined && (state.position?.[0] ?? null) !== model.position) lost.push(`position ${model.position} is ${state.position}`);
  const history = historyFault(model, state.executions.map(([, , p]) => p.toFixed(2)));
  if (history) lost.push(history);
  return lost;
}

/** The next update of the workload for `chat` (`n`: its sequence number, which makes prices unique). */
function nextUpdate(random, model, n) {
  const pick = (list) => list[Math.floor(random() * list.length)];
  const r = random();
  const ticker = pick(TICKERS);
  if (r < 0.08) return { kind: "start", text: "/start" };
  if (r < 0.12) return { kind: "stop", text: "/stop" };
  if (r < 0.37) return { kind: "add", ticker, text: `/watchlist add ${ticker.toLowerCase()}` };
  if (r < 0.55) return { kind: "remove", ticker, text: `/watchlist remove ${ticker}` };
  if (r < 0.68) return { kind: "show", text: "/watchlist" };
  if (r < 0.88) {
    // Half the trades close the position; dates in the past keep the monthly limit away.
    const traded = model.position && random() < 0.5 ? model.position : pick(TICKERS);
    const price = (100 + n / 100).toFixed(2);
    const day = String(1 + Math.floor(random() * 28)).padStart(2, "0");
    return { kind: "execute", ticker: traded, price, text: `/execute ${traded} ${price} 2024-0${1 + Math.floor(random() * 9)}-${day}` };
  }
  if (r < 0.97) return { kind: "executions", text: "/executions" };
  return { kind: "now", text: "/now SPY" }; // SPY is never traded: the same reply for every chat
}

/**
 * Runs `updates` updates over `chats` chats at fault `rate` (seeded by `seed`) through `steps`,
 * each `{ phase, share, force, reverseSync, settle, sweeps }`: a reverse sync first (through
 * the cron) when asked, the move to `phase` (forced where asked: faults hold the rates of
 * `shadow → d1_only` over its rails), `share` of the updates, the audit of the authoritative
 * store, then with `settle` the queue drained and `sweeps` run by the maintenance cron (faults
 * on) and KV compared with D1. Throws at the first reply or status outside the spec; returns
 * the figures (`writesLost` and `divergencesLeft` are counted, not thrown).
 */
export async function soak({ updates, chats, rate, seed, steps, log = () => {} }) {
  const { world, worker, faults } = await startFaulty();
  const figures = {
    updates: 0, faultsInjected: 0, writesAcknowledged: 0, writesLost: 0, divergencesLeft: 0,
    errorReplies: 0, http500: 0, http503: 0, held503: 0, redeliveries: 0, duplicates: 0, checkpoints: 0,
  };
  try {
    const random = seeded(seed);
    const ids = Array.from({ length: chats }, (_, i) => 7_000_000 + i * 17);
    const models = new Map(ids.map((id) => [id, freshChat()]));
    await ok(worker, "PUT", "/admin/flags", { key: "flags.cache_ttl_seconds", value: 1, reason: "fault soak" });
    await ok(worker, "PUT", "/admin/flags", { key: "guard.min_compared", value: 1, reason: "fault soak" });
    // The fault-free /now SPY reply, the only one any /now SPY may give.
    assert.equal((await worker.say(ids[0], "/now SPY")).status, 200);
    const now = world.take()[0][1];
    for (const model of models.values()) model.now = now;
    let phase = "kv_only";
    let flippedAt = Date.now();
    let updateId = 1_000; // past the ids the harness gave the set-up
    // Marking an update done or giving its claim up is spared: a claim left running holds the
    // switch of a move between dual_write and shadow until it expires, 15 minutes on
    // (MIGRATION.md, "Handing over"; tests/it/flips.rs proves the wait), and the soak moves on.
    const spare = ["UPDATE telegram_updates SET state = 'done'", "DELETE FROM telegram_updates WHERE update_id"];
    const on = () => faults({ rate, seed: Math.floor(random() * 2 ** 31), after: 0.5, spare });
    const off = async () => {
      const counts = await faults({});
      figures.faultsInjected = counts.injected;
      figures.byCall = counts.byCall;
    };
    /** Sends `update` as Telegram does (again after a 500 or 503) and judges every answer; what broke, if anything. */
    async function deliver(chat, update, id) {
      for (let attempt = 0; attempt < 6; attempt++) {
        const res = await worker.say(chat, update.text, { updateId: id });
        const faulted = Number(res.headers.get("x-faults-injected"));
        await res.arrayBuffer();
        const messages = world.take();
        const where = `update ${id} (${update.text}, chat ${chat}, ${phase}, ${faulted} faults, attempt ${attempt})`;
        if (messages.some(([to]) => to !== chat)) return `${where}: a reply to another chat`;
        if (res.status === 500) figures.http500 += 1;
        if (res.status === 503) {
          figures.http503 += 1;
          // Only a redelivery can find its update in flight, or an attempt that lost the answer
          // of the call carrying its claim and then failed to look the claim up (two faults).
          if (!attempt && !update.duplicate) {
            if (faulted < 2) return `${where}: 503 on the first delivery`;
            figures.held503 += 1;
          }
        }
        const model = models.get(chat);
        model.acknowledged = false;
        model.trace = [...(model.trace ?? []).slice(-12), `${id} ${update.text} → ${res.status}, ${faulted} faults: ${JSON.stringify(messages.map(([, t]) => t.slice(0, 40)))}`];
        // A redelivery of an answered update: acknowledged and not run again (a read may run again elsewhere).
        if (update.duplicate && (WRITES.has(update.kind) || res.status !== 200 || !messages.length)) {
          if (res.status !== 200 || messages.length) return `${where}: the redelivery answered ${res.status} and ran again: ${JSON.stringify(messages)}`;
          return null;
        }
        const broken = judge(model, update, messages, res.status, faulted);
        if (broken) return `${where}: ${broken}\n${model.trace.join("\n")}\n${JSON.stringify({ ...model, trace: undefined, now: undefined, acked: [...model.acked] })}`;
        if (model.acknowledged) figures.writesAcknowledged += 1;
        if (res.status === 200) {
          if (messages.some(([, text]) => Object.values(ERRORS).includes(text))) figures.errorReplies += 1;
          update.answered = true;
          return null;
        }
        figures.redeliveries += 1;
      }
      return null; // Telegram goes on trying; the model already holds the update as unknown
    }
    async function send(count) {
      await on();
      let failure = null;
      for (let i = 0; i < count && !failure; i++) {
        const chat = ids[Math.floor(random() * ids.length)];
        const id = updateId++;
        const update = nextUpdate(random, models.get(chat), id);
        figures.updates += 1;
        failure = await deliver(chat, update, id);
        if (!failure && update.answered && random() < 0.02) {
          figures.duplicates += 1;
          failure = await deliver(chat, { ...update, duplicate: true }, id);
        }
      }
      await off();
      if (failure) throw new Error(failure);
    }
    /** Every acknowledged write of every chat in `store`: counts what is lost. */
    async function audit(store) {
      for (const [chat, model] of models) {
        const lost = lostWrites(model, await stateOf(worker, chat, store));
        figures.writesLost += lost.length;
        if (lost.length) log(`lost in ${store}, chat ${chat}: ${lost.join("; ")}`);
      }
    }
    const d1 = await worker.d1();
    const count = async (sql) => (await d1.prepare(sql).first()).n;
    /**
     * Maintenance cron runs (faults on) until the queue is empty and no sweep runs; a run that
     * moves nothing waits for the oldest repair's KV window (60 s) to pass.
     */
    async function maintain() {
      const started = Date.now();
      let before = null;
      for (;;) {
        await worker.cron(MAINTENANCE);
        const queued = await count("SELECT COUNT(*) AS n FROM repair_queue");
        const running = await count("SELECT COUNT(*) AS n FROM sweeps WHERE finished = 0");
        if (!queued && !running) return;
        if (Date.now() - started > 300_000) throw new Error(`${queued} repairs and ${running} sweeps left after 5 minutes of maintenance runs`);
        const now = JSON.stringify([queued, running, await count("SELECT COALESCE(SUM(attempts), 0) AS n FROM repair_queue")]);
        if (now === before) {
          // A subscription waits for 60 s without any chat's subscription changing in D1.
          const oldest = await count("SELECT MIN(enqueued_at) AS n FROM repair_queue");
          await sleep(Math.max(3_000, (oldest ?? 0) + 61_000 - Date.now()));
        }
        before = now;
      }
    }
    /** Each sweep of `kinds` in turn, started through the admin API and finished by the cron. */
    async function sweep(kinds) {
      for (const kind of kinds) {
        await ok(worker, "POST", `/admin/${kind}`, { repository: "all" });
        await on();
        await maintain();
        await off();
      }
    }
    /** The queue drained and `kinds` swept (a backfill waits out KV's window since the flip); then KV and D1 compared, chat by chat. */
    async function settle(kinds) {
      figures.checkpoints += 1;
      await on();
      await maintain();
      await off();
      if (kinds.includes("backfill")) await sleep(flippedAt + 62_000 - Date.now());
      await sweep(kinds);
      for (const chat of ids) {
        const [kv, d1State] = [await stateOf(worker, chat, "kv"), await stateOf(worker, chat, "d1")];
        if (JSON.stringify(kv) !== JSON.stringify(d1State)) {
          figures.divergencesLeft += 1;
          log(`chat ${chat} after the drain in ${phase}: kv ${JSON.stringify(kv)}, d1 ${JSON.stringify(d1State)}`);
        }
      }
    }
    for (const step of steps) {
      if (step.reverseSync) {
        // KV heard nothing in d1_only; a sync started after the move to shadow took effect.
        await sleep(1_500);
        await sweep(["reverse-sync"]);
      }
      if (step.phase !== phase) {
        await moveAll(worker, step.phase, step.force);
        flippedAt = Date.now();
        phase = step.phase;
        // Every isolate serves the new phase a TTL after the move (a move between dual_write
        // and shadow is handed over, and the next move waits for its end).
        await servedIn(worker, phase, { settled: true });
      }
      await send(Math.round(updates * step.share));
      await audit(phase === "kv_only" || phase === "dual_write" ? "kv" : "d1");
      if (step.settle) await settle(step.sweeps ?? []);
      log(`${phase}: ${JSON.stringify(figures)}`);
    }
    return figures;
  } finally {
    await worker.stop();
  }
}

/** mulberry32: a small seeded generator (also run inside the entry module). */
function seeded(seed) {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

