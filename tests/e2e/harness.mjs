// Shared Miniflare set-up for the workerd suite: the two workers as a deploy ships them (the bot
// from build/, the ops worker from build-ops/, behind the bot's `OPS` service binding), D1
// migrated from migrations/ by wrangler itself, real KV shared by both, the Rate Limiting binding
// of wrangler.ops.toml, and every outbound fetch answered here. Every worker's logs (workerd's console lines and
// Miniflare's own) and every response it gives through `dispatchFetch` are kept, and `stop()`
// fails when any of them holds a secret of the worker's configuration.
import { Log, LogLevel, Miniflare, convertV4MiniflareOptions } from "miniflare";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dirname, "../..");
export const BOT_TOKEN = "123:e2e-token";
export const WEBHOOK_SECRET = "e2e-webhook-secret";
export const ADMIN_TOKEN = "e2e-admin-token";
const WRANGLER = join(ROOT, "node_modules/.bin/wrangler");
/** The two workers (README, "Two workers"): the bot, and the ops worker behind its `OPS` binding. */
export const BOT_WORKER = "fear-greed-bot";
export const OPS_WORKER = "fear-greed-ops";

/** The ops worker's `[[ratelimits]]` binding (wrangler.ops.toml), as Miniflare options. */
function rateLimits() {
  const toml = readFileSync(join(ROOT, "wrangler.ops.toml"), "utf8");
  const [, name, namespace, limit, period] = toml.match(
    /\[\[ratelimits\]\]\nname = "(\w+)"\nnamespace_id = "(\d+)"\nsimple = \{ limit = (\d+), period = (\d+) \}/,
  );
  return { [name]: { namespace_id: namespace, simple: { limit: Number(limit), period: Number(period) } } };
}

/**
 * The secrets among `bindings` (names with TOKEN or SECRET), each with the forms it would take
 * in a URL: `[{ name, value, forms }]`.
 */
function secretsOf(bindings) {
  return Object.entries(bindings)
    .filter(([name, value]) => /TOKEN|SECRET/.test(name) && typeof value === "string" && value !== "")
    .map(([name, value]) => ({ name, value, forms: [...new Set([value, encodeURIComponent(value)])] }));
}

/** Where `texts` hold a secret: `["<where>: <the text with the secret replaced by its name>"]`. */
export function leaksIn(texts, secrets, where) {
  const leaks = [];
  for (const text of texts) {
    for (const { name, forms } of secrets) {
      if (forms.some((form) => text.includes(form))) {
        const shown = forms.reduce((redacted, form) => redacted.replaceAll(form, `<${name}>`), text);
        leaks.push(`${where}: ${shown}`);
      }
    }
  }
  return leaks;
}

/** Miniflare's own log, kept in `lines` rather than printed. */
class KeptLog extends Log {
  constructor(lines) {
    super(LogLevel.DEBUG);
    this.lines = lines;
  }

  log(message) {
    this.lines.push(message);
  }
}

/** Applies every migration in migrations/ to a fresh local D1 under `dir`, as a deploy would. */
function applyMigrations(dir) {
  execFileSync(WRANGLER, ["d1", "migrations", "apply", "FEAR_GREED_D1", "--local", "--persist-to", dir], {
    cwd: ROOT,
    env: { ...process.env, CI: "true", SKIP_WORKER_BUILD: "1" },
    stdio: "pipe",
  });
}

/**
 * Starts the two workers; requests go to the bot. `outbound(request)` answers every fetch
 * either worker makes; by default it fails the test, so no request can leave unnoticed. `entry`
 * (`{ path, contents }`, a module under build/) replaces the entry module of both workers (the
 * ops worker's beside its own build), for a wrapper that imports `./index.js`. `miniflare` adds (v4-style) Miniflare options, e.g.
 * `{ inspectorPort: 0 }` for the profiler. `build` and `opsBuild` are the directories of the two
 * builds (others to compare builds). `bot` adds (v4-style) options to the bot worker alone, e.g. the
 * broadcast's queue producer and consumers (wrangler.toml declares them for the bot only). Returns the Miniflare instance and helpers, among them
 * `url`: Miniflare's loopback HTTP address (`http://127.0.0.1:<port>/`), where a real browser
 * reaches the bot. `rateLimit: false` leaves the Rate Limiting binding out (the isolate counts
 * failed admin attempts); `opsBinding: false` the bot's `OPS` binding. `logs` holds both workers' console lines, `{ level, message }`, in
 * order; `printLogs: false` keeps them there only.
 */
export async function startWorker({
  outbound,
  vars = {},
  entry,
  miniflare = {},
  build = "build",
  opsBuild = "build-ops",
  rateLimit = true,
  opsBinding = true,
  bot = {},
  secretsScan = true,
  printLogs = true,
} = {}) {
  const dir = mkdtempSync(join(tmpdir(), "fear-greed-e2e-"));
  applyMigrations(dir);
  const outboundRequests = [];
  const logs = [];
  const miniflareLines = [];
  const bodies = [];
  const bindings = {
    STORAGE_PHASE_DEFAULT: "kv_only",
    TELEGRAM_BOT_TOKEN_SECRET: BOT_TOKEN,
    TELEGRAM_WEBHOOK_SECRET: WEBHOOK_SECRET,
    TELEGRAM_API_BASE_URL: "http://telegram.stand-in",
    CNN_BASE_URL: "http://cnn.stand-in",
    YAHOO_BASE_URL: "http://yahoo.stand-in",
    ADMIN_API_TOKEN: ADMIN_TOKEN,
    ...vars,
  };
  const starting = performance.now();
  // One worker of the build: its modules from `dir`, the shared storage, every fetch it makes
  // answered here.
  const worker = (name, dir, modules = []) => ({
    name,
    modulesRoot: dir,
    modules: [
      ...modules,
      { type: "ESModule", path: join(dir, "index.js") },
      { type: "CompiledWasm", path: join(dir, "index_bg.wasm") },
    ],
    compatibilityDate: "2026-11-01",
    kvNamespaces: { FEAR_GREED_KV: "local-dev-namespace-id" },
    d1Databases: { FEAR_GREED_D1: "local-dev-database-id" },
    bindings,
    outboundService: async (request) => {
      outboundRequests.push(request);
      if (outbound) return outbound(request);
      return new Response(`unexpected outbound request to ${request.url}`, { status: 599 });
    },
  });
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      rootPath: ROOT,
      resourcePersistencePath: join(dir, "v3"),
      // Printed as Miniflare prints them by default, and kept for the secrets scan.
      handleStructuredLogs: ({ level, message }) => {
        logs.push({ level, message });
        if (printLogs) (level === "error" || level === "warn" ? console.error : console.log)(message);
      },
      // Miniflare at debug level logs every request; the bench (`secretsScan: false`) keeps none.
      ...(secretsScan ? { log: new KeptLog(miniflareLines) } : {}),
      workers: [
        // The first worker is the one `dispatchFetch` reaches: the bot, which hands `/admin/` on.
        {
          ...worker(BOT_WORKER, build, entry ? [{ type: "ESModule", ...entry }] : []),
          serviceBindings: opsBinding ? { OPS: OPS_WORKER } : {},
          ...bot,
        },
        {
          ...worker(OPS_WORKER, opsBuild, entry ? [{ type: "ESModule", path: join(opsBuild, basename(entry.path)), contents: entry.contents }] : []),
          ...(rateLimit ? { ratelimits: rateLimits() } : {}),
        },
      ],
      ...miniflare,
    }),
  );
  const url = await mf.ready;
  const readyMs = performance.now() - starting;
  // Every response's body is read from a copy, after the caller has it (no wait added), unless
  // `secretsScan` is false (the bench: the copy is the test's cost, not the worker's).
  if (secretsScan) {
    const dispatchFetch = mf.dispatchFetch.bind(mf);
    mf.dispatchFetch = async (...args) => {
      const response = await dispatchFetch(...args);
      bodies.push(response.clone().text());
      return response;
    };
  }
  const secrets = secretsOf(bindings);
  const leaks = async () => [
    ...leaksIn(logs.map((line) => line.message), secrets, "worker log"),
    ...leaksIn(miniflareLines, secrets, "Miniflare log"),
    ...leaksIn(await Promise.all(bodies), secrets, "response body"),
  ];
  let nextUpdateId = 1;
  return {
    mf,
    url,
    outboundRequests,
    logs,
    /** Every place so far where a secret shows: a log line or a response body (see `leaksIn`). */
    leaks,
    /** From `new Miniflare` until `mf.ready` resolved (ms): the isolate's start, for the bench. */
    readyMs,
    kv: () => mf.getKVNamespace("FEAR_GREED_KV"),
    d1: () => mf.getD1Database("FEAR_GREED_D1"),
    fetch: (path, init) => mf.dispatchFetch(`http://localhost${path}`, init),
    /**
     * Fires a cron on the bot, as `wrangler dev`'s `/__scheduled` does: the bot runs its
     * broadcasts and hands the maintenance cron to the ops worker (deployed, each worker has
     * its own crons; `worker.mf.getWorker(OPS_WORKER)` fires the ops worker's directly).
     */
    cron: async (cron) => (await mf.getWorker()).scheduled({ cron }),
    /** Posts a Telegram update carrying `text` from `chat` to the webhook (a new update id each time). */
    say: (chat, text, { secret = WEBHOOK_SECRET, updateId = nextUpdateId++ } = {}) =>
      mf.dispatchFetch("http://localhost/", {
        method: "POST",
        headers: { "X-Telegram-Bot-Api-Secret-Token": secret, "Content-Type": "application/json" },
        body: JSON.stringify({ update_id: updateId, message: { chat: { id: chat, type: "private" }, text } }),
      }),
    /** An admin API call; resolves to [status, parsed JSON body]. */
    admin: async (method, path, body, token = ADMIN_TOKEN) => {
      const res = await mf.dispatchFetch(`http://localhost${path}`, {
        method,
        headers: token ? { Authorization: `Bearer ${token}` } : {},
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return [res.status, await res.json()];
    },
    /**
     * Every KV key with its value and every row of every D1 table (Miniflare's own `_cf_`
     * tables aside): equal before and after a request that changed nothing.
     */
    async storage() {
      const kv = await mf.getKVNamespace("FEAR_GREED_KV");
      const d1 = await mf.getD1Database("FEAR_GREED_D1");
      const entries = {};
      let page = { list_complete: false };
      while (!page.list_complete) {
        page = await kv.list({ cursor: page.cursor });
        for (const { name } of page.keys) entries[name] = await kv.get(name);
      }
      const tables = {};
      const names = await d1.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT GLOB '_cf_*' ORDER BY name").all();
      for (const { name } of names.results) {
        tables[name] = (await d1.prepare(`SELECT * FROM "${name}"`).all()).results.map((row) => JSON.stringify(row)).sort();
      }
      return { kv: entries, d1: tables };
    },
    /** Posts any update body to the webhook with the right secret. */
    update: (update) =>
      mf.dispatchFetch("http://localhost/", {
        method: "POST",
        headers: { "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET, "Content-Type": "application/json" },
        body: JSON.stringify(update),
      }),
    /** Stops the worker; throws when a log line or a response held a secret. */
    async stop() {
      const found = await leaks();
      await mf.dispose();
      rmSync(dir, { recursive: true, force: true });
      if (found.length) throw new Error(`secrets leaked:\n${found.join("\n")}`);
    },
  };
}

/**
 * Waits until every repository serves `phase` (`GET /admin/migration/status`): a move between
 * `dual_write` and `shadow` is handed over (MIGRATION.md), and the new phase serves once every
 * isolate has read it, the flag cache's TTL and a second after the move. With `settled`, waits
 * until the handover is over too (two TTLs and 10 s later), when the next move may be made.
 */
export async function servedIn(worker, phase, { settled = false } = {}) {
  let last;
  for (let attempt = 0; attempt < 600; attempt++) {
    const [status, body] = await worker.admin("GET", "/admin/migration/status");
    last = JSON.stringify(body);
    const all = status === 200 ? Object.values(body.repositories) : [];
    if (all.length && all.every((r) => r.serving === phase && (!settled || r.handover === null))) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`not served in ${phase}${settled ? ", handed over," : ""} after 150 s: ${last}`);
}

/**
 * Dates every phase move back `ms` in D1, as if that long had passed since: under
 * TEST_CLOCK_START_MS every request's clock starts at the same instant, so the time a move
 * between `dual_write` and `shadow` is handed over for (see `servedIn`) never passes.
 */
export async function pastHandover(worker, ms = 60_000) {
  const d1 = await worker.d1();
  await d1.prepare("UPDATE settings SET updated_at = updated_at - ?1 WHERE key LIKE 'storage.phase.%'").bind(ms).run();
}

/**
 * POSTs the admin sweep at `path` (`/admin/backfill`, `/admin/validate`, ...) one step at a time
 * until it is finished; the last answer. Throws on an answer other than 200, on a step over a
 * Worker invocation's 1,000-operation budget, and after 50 steps.
 */
export async function sweepToEnd(worker, path, body = {}) {
  for (let step = 0; step < 50; step++) {
    const [status, answer] = await worker.admin("POST", path, body);
    if (status !== 200) throw new Error(`POST ${path} ${JSON.stringify(body)}: ${status} ${JSON.stringify(answer)}`);
    if (!(answer.step.kv_ops < 1000 && answer.step.d1_statements < 1000)) throw new Error(`over budget: ${JSON.stringify(answer.step)}`);
    if (answer.finished) return answer;
  }
  throw new Error(`${path} never finished`);
}
