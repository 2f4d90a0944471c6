// The on-call dashboard in workerd (migration.md §6), as on-call uses it: the page and script
// the worker serves, opened in a DOM (jsdom) whose requests go to the worker, the token typed
// in; it shows each repository's phase and next move, a divergence with its diff and a
// fallback, and says so when the token is refused.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { JSDOM } from "jsdom";
import { ADMIN_TOKEN, startWorker } from "./harness.mjs";
import { converse, createStandIn } from "./stand-in.mjs";

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
 * Opens the worker's dashboard page in jsdom and runs the script the worker serves, with the
 * browser globals it uses and `fetch` answered by the worker.
 */
async function openDashboard(worker) {
  const page = await worker.fetch("/admin/dashboard");
  assert.equal(page.status, 200);
  const dom = new JSDOM(await page.text(), { url: "http://localhost/admin/dashboard" });
  const { window } = dom;
  const script = await worker.fetch("/admin/dashboard.mjs");
  assert.equal(script.headers.get("content-type"), "text/javascript;charset=UTF-8");
  const dir = mkdtempSync(join(tmpdir(), "dashboard-"));
  const file = join(dir, "dashboard.mjs");
  writeFileSync(file, await script.text());
  const requests = [];
  Object.assign(globalThis, {
    document: window.document,
    sessionStorage: window.sessionStorage,
    addEventListener: window.addEventListener.bind(window),
    fetch: (path, init) => {
      requests.push([path, init.headers.Authorization]);
      return worker.fetch(path, init);
    },
  });
  await import(pathToFileURL(file));
  const dashboard = {
    document: window.document,
    requests,
    signIn(token) {
      const form = window.document.getElementById("login");
      form.elements.token.value = token;
      form.dispatchEvent(new window.Event("submit", { cancelable: true }));
    },
    close() {
      window.dispatchEvent(new window.Event("pagehide"));
      rmSync(dir, { recursive: true, force: true });
      opened.delete(dashboard);
    },
  };
  opened.add(dashboard);
  return dashboard;
}

/** A table's rows as the text of their cells (a cell's own text, not its trend's title). */
function rows(document, id) {
  return [...document.querySelectorAll(`#${id} tr`)].map((row) =>
    [...row.children].map((cell) => cell.firstChild?.nodeValue ?? cell.textContent),
  );
}

const running = new Set();
const opened = new Set();
after(async () => {
  for (const dashboard of opened) dashboard.close();
  for (const worker of running) await worker.stop();
});

test("the dashboard shows the phases, a divergence with its diff and a fallback; a refused token says so", async () => {
  const world = createStandIn();
  const worker = await startWorker({ outbound: world.outbound, vars: { TEST_CLOCK_START_MS: String(TUESDAY) } });
  running.add(worker);
  const run = { world, worker };
  await moveAll(worker, "dual_write");
  await moveAll(worker, "shadow");
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

  const [set] = await worker.admin("PUT", "/admin/flags", { key: "guard.max_divergence_rate", value: 0.05, reason: "e2e" });
  assert.equal(set, 200);
  const dashboard = await openDashboard(worker);
  const { document } = dashboard;
  assert.equal(dashboard.requests.length, 0, "nothing is asked before a token is typed");
  dashboard.signIn(ADMIN_TOKEN);
  await until(() => document.body.classList.contains("signed-in"), "the page shows the numbers");
  assert.deepEqual(
    dashboard.requests.map(([path, auth]) => [path, auth]),
    [
      ["/admin/migration/status", `Bearer ${ADMIN_TOKEN}`],
      ["/admin/metrics?minutes=60", `Bearer ${ADMIN_TOKEN}`],
      ["/admin/divergences?limit=20", `Bearer ${ADMIN_TOKEN}`],
      ["/admin/flags", `Bearer ${ADMIN_TOKEN}`],
    ],
  );

  const repositories = rows(document, "repositories");
  assert.deepEqual(
    repositories.map(([name, phase, , next]) => [name, phase, next]),
    ["subscriptions", "watchlists", "executions", "positions", "cache"].map((name) => [name, "shadow", "d1_only: refused"]),
  );
  const watchlists = repositories.find(([name]) => name === "watchlists");
  assert.equal(watchlists[6], "1", "one divergence in the last hour");
  const executions = repositories.find(([name]) => name === "executions");
  assert.equal(executions[8], "1", "one fallback in the last hour");
  const reasons = document.querySelectorAll("#repositories tr:nth-child(2) td.refused li");
  assert.ok(reasons.length > 0, "the guard rails' reasons are listed");

  const divergences = rows(document, "divergences").map((cells) => cells.slice(1, 5));
  assert.deepEqual(divergences, [
    ["executions", "missing_in_d1", String(B), "executions.history"],
    ["watchlists", "value_mismatch", String(A), "watchlists.watchlist"],
  ]);
  assert.match(document.querySelectorAll("#divergences pre")[1].textContent, /-  "NVDA"\n\+  "TSLA"/);

  const alerts = [...document.querySelectorAll("#alerts li")].map((li) => li.textContent);
  assert.ok(alerts.includes("watchlists: 100.00 % of compared reads diverged in the last hour (guard rail: 5.00 %)"), alerts.join("\n"));
  assert.ok(alerts.includes("executions: 1 reads fell back to KV in the last hour"), alerts.join("\n"));

  document.getElementById("sign-out").click();
  assert.equal(document.body.classList.contains("signed-in"), false);
  dashboard.signIn("wrong-token");
  await until(() => document.getElementById("problem").textContent === "The token was refused.", "a refused token is shown");
  assert.equal(document.body.classList.contains("signed-in"), false);
  assert.equal(globalThis.sessionStorage.length, 0, "a refused token is not kept");
  dashboard.close();
});
