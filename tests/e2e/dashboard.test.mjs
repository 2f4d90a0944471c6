// The on-call dashboard in workerd (migration.md §6), as on-call uses it: the page and script
// the worker serves, opened in headless Chromium (Debian's `chromium`, driven by puppeteer-core)
// over HTTP from Miniflare's loopback address, the token typed in; it shows each repository's
// phase and next move, a divergence with its diff and a fallback, a queued broadcast run and its
// dead-lettered message, and says so when the token is
// refused; the page logs no error and its Content-Security-Policy refuses an inline script.
// Leaves a screenshot of the signed-in page in build/dashboard.png (see SCREENSHOT).
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import puppeteer from "puppeteer-core";
import { ADMIN_TOKEN, ROOT, pastHandover, startWorker } from "./harness.mjs";
import { minified, SHIPPED, SOURCE } from "../../scripts/minify-dashboard.mjs";
import { converse, createStandIn } from "./stand-in.mjs";

/** The browser: Debian's chromium by default, `CHROMIUM` to use another. */
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
/**
 * Where the test leaves the signed-in page's screenshot: build/ (ignored) on every run, so a
 * test run leaves the work tree clean; `DASHBOARD_SCREENSHOT=docs/dashboard.png` refreshes the
 * one the README shows.
 */
const SCREENSHOT = join(ROOT, process.env.DASHBOARD_SCREENSHOT ?? "build/dashboard.png");

const A = 111;
const B = 222;
const TUESDAY = 1795478640000; // 2026-11-24T00:04Z

async function moveAll(worker, phase) {
  const body = { key: "storage.phase.all", value: phase, force: true, reason: "e2e" };
  const [status, answer] = await worker.admin("PUT", "/admin/flags", body);
  assert.equal(status, 200, JSON.stringify(answer));
}

/** Polls `condition` for up to 15 s (an isolate holds its counters for up to 5 s). */
async function until(condition, what) {
  for (let attempt = 0; attempt < 300; attempt++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`never: ${what}`);
}

/**
 * Opens the worker's dashboard page in a fresh headless Chromium tab at the worker's own
 * address. Records the admin API calls the page makes (path and Authorization header), the
 * responses the page loads, and every console error and uncaught page error.
 */
async function openDashboard(worker) {
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // As root in a container: no user namespace for Chromium's sandbox; /dev/shm may be small.
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check"],
  });
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 900 });
  // The page's "now" is the worker's test clock, fixed: its "Updated" time agrees with the rest of
  // the screenshot, which then changes between runs only in the measured ms per read.
  await page.evaluateOnNewDocument((now) => {
    const RealDate = Date;
    globalThis.Date = class extends RealDate {
      constructor(...args) {
        super(...(args.length ? args : [now]));
      }
      static now() {
        return now;
      }
    };
  }, TUESDAY);
  const origin = new URL(worker.url).origin;
  const requests = [];
  const responses = new Map();
  const errors = [];
  page.on("request", (request) => {
    const url = new URL(request.url());
    if (url.origin === origin && url.pathname.startsWith("/admin/") && !url.pathname.startsWith("/admin/dashboard")) {
      requests.push([url.pathname + url.search, request.headers().authorization]);
    }
  });
  page.on("response", (response) => responses.set(new URL(response.url()).pathname, response));
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    const where = message.location().url ?? "";
    // Chromium asks for /favicon.ico on its own (the page names no icon); the worker has none.
    if (where && new URL(where).pathname === "/favicon.ico") return;
    errors.push(`console: ${message.text()} (${where || "?"})`);
  });
  page.on("pageerror", (error) => errors.push(`pageerror: ${error.message}`));
  const loaded = await page.goto(new URL("/admin/dashboard", origin).href, { waitUntil: "networkidle0" });
  assert.equal(loaded.status(), 200);
  const script = responses.get("/admin/dashboard.mjs");
  assert.ok(script, "the page loads its script");
  assert.equal(script.status(), 200);
  assert.equal(script.headers()["content-type"], "text/javascript;charset=UTF-8");
  const dashboard = {
    page,
    requests,
    errors,
    async signIn(token) {
      await page.locator("#login input[name=token]").fill(token);
      await page.locator("#login button").click();
    },
    /** Polls `predicate` (a function run in the page) until it returns true. */
    until: (predicate, what) =>
      page.waitForFunction(predicate, { timeout: 15_000, polling: 50 }).catch((error) => assert.fail(`never: ${what} (${error.message})`)),
    async close() {
      opened.delete(dashboard);
      await browser.close();
    },
  };
  opened.add(dashboard);
  return dashboard;
}

/** A table's rows as the text of their cells (a cell's own text, not its trend's title). */
function rows(page, id) {
  return page.$$eval(`#${id} tr`, (trs) =>
    trs.map((row) => [...row.children].map((cell) => cell.firstChild?.nodeValue ?? cell.textContent)),
  );
}

const running = new Set();
const opened = new Set();
after(async () => {
  for (const dashboard of opened) await dashboard.close();
  for (const worker of running) await worker.stop();
});

test("the dashboard shows the phases, a divergence with its diff and a fallback; a refused token says so", async () => {
  const world = createStandIn();
  const worker = await startWorker({ outbound: world.outbound, vars: { TEST_CLOCK_START_MS: String(TUESDAY) } });
  running.add(worker);
  const run = { world, worker };
  await moveAll(worker, "dual_write");
  await moveAll(worker, "shadow");
  await pastHandover(worker);
  // Chat A's watchlist as KV holds it, and as someone edited it directly in D1.
  const [kv, d1] = [await worker.kv(), await worker.d1()];
  await kv.put(`watchlist:${A}`, '["SPY","TSLA"]');
  await d1.batch([
    d1.prepare("INSERT INTO users (chat_id, subscription_status, created_at, updated_at) VALUES (?1, 0, 0, 0)").bind(String(A)),
    d1.prepare("INSERT INTO watchlists (chat_id, ticker, created_at) VALUES (?1, 'SPY', 0), (?1, 'NVDA', 0)").bind(String(A)),
    // ...longer ago than KV's propagation window: a younger change counts as KV still settling.
    d1.prepare("UPDATE entity_versions SET changed_at = changed_at - 120000"),
  ]);
  // Chat B's history, in KV only.
  await kv.put(`execution_history:${B}`, '[{"signalType":"BUY","ticker":"SPY","executionPrice":400,"executionDate":1705276800000}]');
  await converse(run, [[A, "/watchlist"], [B, "/executions"]]);
  await until(async () => {
    const [, metrics] = await worker.admin("GET", "/admin/metrics?minutes=60");
    return metrics.repositories.watchlists?.divergences === 1 && metrics.repositories.executions?.fallbacks === 1;
  }, "the shadow evidence is published");

  // A queued broadcast run that finished with a dead-lettered message.
  await d1
    .prepare(
      "INSERT INTO broadcast_runs (id, kind, planned_at, started_at, finished_at, chats, messages, chats_done, sent, refused, skipped, failed, retried, dead_lettered) " +
        "VALUES ('broadcast-1795510800000', 'broadcast', 1795510800000, 1795510806000, 1795510872000, 30, 3, 30, 39, 1, 4, 2, 3, 1)",
    )
    .run();

  const [set] = await worker.admin("PUT", "/admin/flags", { key: "guard.max_divergence_rate", value: 0.05, reason: "e2e" });
  assert.equal(set, 200);
  const dashboard = await openDashboard(worker);
  const { page } = dashboard;
  assert.equal(dashboard.requests.length, 0, "nothing is asked before a token is typed");
  await dashboard.signIn(ADMIN_TOKEN);
  await dashboard.until(() => document.body.classList.contains("signed-in"), "the page shows the numbers");
  assert.deepEqual(dashboard.requests, [
    ["/admin/migration/status", `Bearer ${ADMIN_TOKEN}`],
    ["/admin/metrics?minutes=60", `Bearer ${ADMIN_TOKEN}`],
    ["/admin/divergences?limit=20", `Bearer ${ADMIN_TOKEN}`],
    ["/admin/flags", `Bearer ${ADMIN_TOKEN}`],
    ["/admin/broadcast", `Bearer ${ADMIN_TOKEN}`],
  ]);

  const repositories = await rows(page, "repositories");
  assert.deepEqual(
    repositories.map(([name, phase, , next]) => [name, phase, next]),
    ["subscriptions", "watchlists", "executions", "positions", "cache"].map((name) => [name, "shadow", "d1_only: refused"]),
  );
  const watchlists = repositories.find(([name]) => name === "watchlists");
  assert.equal(watchlists[6], "1", "one divergence in the last hour");
  const executions = repositories.find(([name]) => name === "executions");
  assert.equal(executions[8], "1", "one fallback in the last hour");
  const reasons = await page.$$eval("#repositories tr:nth-child(2) td.refused li", (lis) => lis.length);
  assert.ok(reasons > 0, "the guard rails' reasons are listed");

  const divergences = (await rows(page, "divergences")).map((cells) => cells.slice(1, 5));
  assert.deepEqual(divergences, [
    ["executions", "missing_in_d1", String(B), "executions.history"],
    ["watchlists", "value_mismatch", String(A), "watchlists.watchlist"],
  ]);
  const diffs = await page.$$eval("#divergences pre", (pres) => pres.map((pre) => pre.textContent));
  assert.match(diffs[1], /-  "NVDA"\n\+  "TSLA"/);
  assert.ok(await page.$eval("#divergences", (table) => table.checkVisibility()), "the diffs are on screen");

  assert.deepEqual(await rows(page, "broadcasts"), [
    ["broadcast-1795510800000", "2026-11-24 09:00", "30 / 30", "39", "1", "4", "2", "3", "1", "72 s"],
  ]);

  const alerts = await page.$$eval("#alerts li", (lis) => lis.map((li) => li.textContent));
  assert.ok(alerts.includes("watchlists: 100.00 % of compared reads diverged in the last hour (guard rail: 5.00 %)"), alerts.join("\n"));
  assert.ok(alerts.includes("executions: 1 reads fell back to KV in the last hour"), alerts.join("\n"));
  assert.ok(alerts.includes("broadcast-1795510800000: 1 queue messages dead-lettered"), alerts.join("\n"));
  assert.deepEqual(dashboard.errors, [], "the signed-in page logs no error");
  await page.screenshot({ path: SCREENSHOT, fullPage: true });

  // The CSP (script-src 'self') holds: an inline script put on the page does not run, and the
  // browser reports the violation.
  const csp = await page.evaluate(async () => {
    const violations = [];
    document.addEventListener("securitypolicyviolation", (event) => violations.push(event.effectiveDirective));
    const inline = document.createElement("script");
    inline.textContent = "window.inlineScriptRan = true;";
    document.head.append(inline);
    await new Promise((resolve) => setTimeout(resolve, 200));
    return { ran: window.inlineScriptRan === true, violations };
  });
  assert.equal(csp.ran, false, "an inline script is refused");
  assert.deepEqual(csp.violations, ["script-src-elem"]);
  assert.equal(dashboard.errors.length, 1, dashboard.errors.join("\n"));
  assert.match(dashboard.errors[0], /violates the following Content Security Policy directive 'script-src 'self''/);
  dashboard.errors.length = 0;

  await page.locator("#sign-out").click();
  assert.equal(await page.$eval("body", (body) => body.classList.contains("signed-in")), false);
  await dashboard.signIn("wrong-token");
  await dashboard.until(() => document.getElementById("problem").textContent === "The token was refused.", "a refused token is shown");
  assert.equal(await page.$eval("body", (body) => body.classList.contains("signed-in")), false);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, "a refused token is not kept");
  // The refused calls are the browser's only complaints (it logs every 401 it loads).
  assert.equal(dashboard.errors.length, 5, dashboard.errors.join("\n"));
  assert.ok(
    dashboard.errors.every((error) => /status of 401/.test(error)),
    `only the refused calls are logged:\n${dashboard.errors.join("\n")}`,
  );
  await dashboard.close();
});

test("the script the worker ships is the current minified dashboard.mjs", () => {
  assert.equal(readFileSync(SHIPPED, "utf8"), minified(readFileSync(SOURCE, "utf8")),
    "run: node scripts/minify-dashboard.mjs");
});
