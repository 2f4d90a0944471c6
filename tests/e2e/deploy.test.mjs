// The deploy pipeline (scripts/deploy.sh): every step run locally against `wrangler dev`, the
// local D1 and the offline stand-in (scripts/stand-in.mjs); and the remote steps' order, their
// secrets and the rollback after a failed health check, with a recording stand-in for wrangler.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Miniflare, convertV4MiniflareOptions } from "miniflare";
import { ROOT } from "./harness.mjs";

const SECRETS = {
  TELEGRAM_BOT_TOKEN_SECRET: "4242:deploy-e2e-bot-token",
  TELEGRAM_WEBHOOK_SECRET: "deploy-e2e-webhook-secret",
  ADMIN_CHAT_ID: "9090",
  ADMIN_API_TOKEN: "deploy-e2e-admin-token",
};
const IDS = { FEAR_GREED_KV_NAMESPACE_ID: "e2e-kv-namespace", FEAR_GREED_D1_DATABASE_ID: "e2e-d1-database" };
const COMMIT = {
  DEPLOY_COMMIT_SHA: "abc1234def5678abc1234def5678abc1234def56",
  DEPLOY_COMMIT_MESSAGE: 'Ship it: "quoted" \\ and more\n\nThe body is not sent.',
  DEPLOY_COMMIT_URL: "https://github.com/o/r/commit/abc1234def5678abc1234def5678abc1234def56",
};
const SUBSCRIBERS = [111, 222];
const dirs = [];
let standIn;

/** A port nothing listens on (the OS picks it). */
async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), "fear-greed-deploy-"));
  dirs.push(dir);
  return dir;
}

/**
 * Runs scripts/deploy.sh with `args` and `env` in its own process group (killed whole if it
 * outlives `timeoutMs`); resolves to { code, output } (stdout and stderr together).
 */
function deploy(args, env, timeoutMs = 120_000) {
  const child = spawn("bash", ["scripts/deploy.sh", ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const timer = setTimeout(() => process.kill(-child.pid, "SIGKILL"), timeoutMs);
  return new Promise((resolve) =>
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    }),
  );
}

/** Opens the local KV and D1 that `wrangler … --persist-to dir` uses, under the given ids. */
async function openState(dir) {
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      modules: true,
      script: "export default { fetch() { return new Response(''); } }",
      compatibilityDate: "2026-11-01",
      kvNamespaces: { KV: IDS.FEAR_GREED_KV_NAMESPACE_ID },
      d1Databases: { D1: IDS.FEAR_GREED_D1_DATABASE_ID },
      resourcePersistencePath: join(dir, "v3"),
    }),
  );
  await mf.ready;
  return mf;
}

function assertNoSecretIn(text, where) {
  for (const [name, value] of Object.entries(SECRETS)) {
    assert.ok(!text.includes(value), `${name} appears in ${where}`);
  }
}

before(async () => {
  // The offline stand-in, as scripts/dev.sh runs it: deploy.sh finds it answering and uses it.
  const port = await freePort();
  const child = spawn("node", ["scripts/stand-in.mjs"], {
    cwd: ROOT,
    env: { ...process.env, STAND_IN_PORT: String(port) },
    stdio: "ignore",
  });
  standIn = { child, url: `http://127.0.0.1:${port}` };
  for (let tries = 0; ; tries++) {
    try {
      await fetch(`${standIn.url}/__sent`);
      break;
    } catch (e) {
      if (tries > 100) throw e;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
});

after(() => {
  standIn?.child.kill("SIGTERM");
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

test("deploy.sh --local all: migrated local D1, dry run, setWebhook, healthz and the deploy notification", async () => {
  const state = tempDir();
  const seed = await openState(state);
  await (await seed.getKVNamespace("KV")).put("chat_ids", JSON.stringify(SUBSCRIBERS));
  await seed.dispose();

  const port = await freePort();
  const { code, output } = await deploy(["--local", "all"], {
    ...SECRETS,
    ...IDS,
    ...COMMIT,
    PORT: String(port),
    STAND_IN_PORT: standIn.url.split(":").pop(),
    LOCAL_STATE: state,
    // test.sh built the worker just before the workerd suite.
    SKIP_WORKER_BUILD: "1",
  });
  assert.equal(code, 0, output);

  // The dry run bundled the worker with the ids from the environment, not wrangler.toml's.
  assert.match(output, /--dry-run: exiting now/);
  assert.match(output, new RegExp(`env\\.FEAR_GREED_KV \\(${IDS.FEAR_GREED_KV_NAMESPACE_ID}\\)`));
  assert.match(output, /health: \{"ok":true,"d1":true,"kv":true\}/);
  assert.match(output, /notify: 2 of 2 subscribers told, 0 failed/);

  // setWebhook reached the Telegram stand-in with the worker's URL, the secret and the updates.
  const webhook = await (await fetch(`${standIn.url}/__webhook`)).json();
  assert.deepEqual(webhook, {
    bot: SECRETS.TELEGRAM_BOT_TOKEN_SECRET,
    url: `http://127.0.0.1:${port}/`,
    secret_token: SECRETS.TELEGRAM_WEBHOOK_SECRET,
    allowed_updates: ["message", "edited_message"],
  });

  // The deploy notification went to each seeded subscriber, the subject's first line unescaped.
  const text =
    '🚀 New version deployed!\n\nCommit: `abc1234`\nMessage: Ship it: "quoted" \\ and more\n\n' +
    `🔗 [View on GitHub](${COMMIT.DEPLOY_COMMIT_URL})`;
  const sent = await (await fetch(`${standIn.url}/__sent`)).json();
  assert.deepEqual(
    sent.map((m) => [m.chat_id, m.text]),
    SUBSCRIBERS.map((chat) => [chat, text]),
  );

  // Every migration was applied to the local D1 under the database id from the environment.
  const inspect = await openState(state);
  try {
    const d1 = await inspect.getD1Database("D1");
    const applied = (await d1.prepare("SELECT name FROM d1_migrations ORDER BY id").all()).results.map((r) => r.name);
    assert.deepEqual(applied, readdirSync(join(ROOT, "migrations")).filter((f) => f.endsWith(".sql")).sort());
    const tables = (await d1.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all()).results.map((r) => r.name);
    for (const table of ["users", "watchlists", "executions", "active_positions", "cache", "settings", "telegram_updates"]) {
      assert.ok(tables.includes(table), `missing table ${table}: ${tables}`);
    }
  } finally {
    await inspect.dispose();
  }

  // Nothing left behind: the worker stopped, the generated config removed, no secret printed.
  await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`));
  assert.deepEqual(readdirSync(ROOT).filter((f) => f.startsWith(".deploy-wrangler")), []);
  assertNoSecretIn(output, "the output");
  assertNoSecretIn(readFileSync(join(state, "wrangler-dev.log"), "utf8"), "wrangler dev's log");
});

test("deploy.sh all (remote): wrangler's steps in order, secrets on stdin, rollback after a failed health check", async () => {
  // wrangler replaced by a script that records each call: its arguments, the configuration it
  // was given and, for `secret put`, what it read on stdin.
  const dir = tempDir();
  const log = join(dir, "calls.jsonl");
  const stub = join(dir, "wrangler");
  writeFileSync(
    stub,
    `#!/usr/bin/env node
const fs = require("node:fs");
const argv = process.argv.slice(2);
const at = argv.indexOf("--config");
const call = { argv, config: at >= 0 ? fs.readFileSync(argv[at + 1], "utf8") : null };
if (argv[0] === "secret") call.stdin = fs.readFileSync(0, "utf8");
fs.appendFileSync(${JSON.stringify(log)}, JSON.stringify(call) + "\\n");
`,
  );
  chmodSync(stub, 0o755);

  // The "deployed" worker never becomes healthy.
  const requests = [];
  const worker = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.writeHead(req.url === "/healthz" ? 503 : 404, { "content-type": "application/json" });
    res.end(JSON.stringify({ ok: false, d1: false, kv: true }));
  });
  await new Promise((resolve) => worker.listen(0, "127.0.0.1", resolve));
  const workerUrl = `http://127.0.0.1:${worker.address().port}`;

  let result;
  try {
    result = await deploy(["all"], {
      ...SECRETS,
      ...IDS,
      ...COMMIT,
      WRANGLER: stub,
      CLOUDFLARE_API_TOKEN: "not-a-real-token",
      CLOUDFLARE_ACCOUNT_ID: "not-a-real-account",
      WORKER_URL: workerUrl,
      TELEGRAM_API_BASE_URL: standIn.url,
      HEALTH_TIMEOUT: "2",
      SKIP_WORKER_BUILD: "1",
    });
  } finally {
    worker.close();
  }
  const { code, output } = result;
  assert.equal(code, 1, output);
  assert.match(output, /not healthy: rolling back/);
  assert.match(output, /rolled back/);

  const calls = readFileSync(log, "utf8").trim().split("\n").map((line) => JSON.parse(line));
  const commands = calls.map((c) => c.argv.filter((a, i, all) => !a.startsWith("--") && !all[i - 1]?.match(/^--(config|outdir|message)$/)).join(" "));
  assert.deepEqual(commands, [
    "deploy",
    "d1 migrations apply FEAR_GREED_D1",
    "secret put TELEGRAM_BOT_TOKEN_SECRET",
    "secret put TELEGRAM_WEBHOOK_SECRET",
    "secret put ADMIN_CHAT_ID",
    "secret put ADMIN_API_TOKEN",
    "deploy",
    "rollback",
  ]);
  assert.ok(calls[0].argv.includes("--dry-run"), "the first deploy is the dry run");
  assert.ok(calls[1].argv.includes("--remote"), "the migrations go to the remote database");
  assert.ok(!calls[6].argv.includes("--dry-run"), "the real deploy");
  assert.ok(calls[7].argv.includes("--yes"), "the rollback asks nothing");

  // The steps that bind storage got the real ids in their configuration, never the placeholders.
  for (const call of [calls[0], calls[1], calls[6]]) {
    assert.match(call.config, new RegExp(`^id = "${IDS.FEAR_GREED_KV_NAMESPACE_ID}"$`, "m"));
    assert.match(call.config, new RegExp(`^database_id = "${IDS.FEAR_GREED_D1_DATABASE_ID}"$`, "m"));
    assert.ok(!call.config.includes("local-dev-"), call.config);
  }
  // Each secret went to wrangler on stdin, as it is.
  for (const call of calls.filter((c) => c.argv[0] === "secret")) {
    assert.equal(call.stdin, SECRETS[call.argv[2]]);
    assert.ok(!call.argv.some((a) => Object.values(SECRETS).includes(a)), "a secret on the command line");
  }

  // The webhook points at the worker; no subscriber heard of a version that was rolled back.
  const webhook = await (await fetch(`${standIn.url}/__webhook`)).json();
  assert.equal(webhook.url, `${workerUrl}/`);
  assert.ok(requests.includes("GET /healthz"));
  assert.ok(!requests.some((r) => r.includes("deploy-notify")), requests.join(", "));
  assertNoSecretIn(output, "the output");
  assert.deepEqual(readdirSync(ROOT).filter((f) => f.startsWith(".deploy-wrangler")), []);
});
