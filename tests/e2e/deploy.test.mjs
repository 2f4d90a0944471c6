// The deploy pipeline (scripts/deploy.sh) of the two workers (README, "Two workers"): every step
// run locally against one `wrangler dev` of both, the local D1 and the offline stand-in
// (scripts/stand-in.mjs); and the remote steps' order, each worker's secrets and the rollback of
// both after a failed health check, with a recording stand-in for wrangler.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
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
// Each worker's secrets (least privilege), in the order deploy.sh puts them.
const WORKER_SECRETS = {
  "fear-greed-ops": ["TELEGRAM_BOT_TOKEN_SECRET", "ADMIN_CHAT_ID", "ADMIN_API_TOKEN"],
  "fear-greed-bot": ["TELEGRAM_BOT_TOKEN_SECRET", "TELEGRAM_WEBHOOK_SECRET", "ADMIN_CHAT_ID"],
};
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

/**
 * A door in front of the stand-in: passes every request on, but holds the first message to a
 * subscriber (the deploy notification, sent while both workers run) until `release()`;
 * `reached` resolves when it is held.
 */
async function door(target) {
  let release, arrived;
  const held = new Promise((resolve) => (release = resolve));
  const reached = new Promise((resolve) => (arrived = resolve));
  let holding = true;
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    if (holding && req.url.endsWith("/sendMessage")) {
      let chat;
      try {
        chat = Number(JSON.parse(body).chat_id);
      } catch {}
      if (SUBSCRIBERS.includes(chat)) {
        holding = false;
        arrived();
        await held;
      }
    }
    const upstream = await fetch(target + req.url, {
      method: req.method,
      headers: { "content-type": req.headers["content-type"] ?? "application/json" },
      body: req.method === "GET" || req.method === "HEAD" ? undefined : body,
    });
    res.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "application/json" });
    res.end(Buffer.from(await upstream.arrayBuffer()));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: server.address().port, reached, release, close: () => server.close() };
}

/** The names a local env file (KEY='value' lines) defines. */
function namesIn(file) {
  return readFileSync(file, "utf8").trim().split("\n").map((line) => line.split("=")[0]);
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

test("deploy.sh --local all: both workers under wrangler dev, the admin API and the maintenance cron reached through the bot", async () => {
  const state = tempDir();
  const seed = await openState(state);
  await (await seed.getKVNamespace("KV")).put("chat_ids", JSON.stringify(SUBSCRIBERS));
  await seed.dispose();

  const port = await freePort();
  const bot = `http://127.0.0.1:${port}`;
  const telegram = await door(standIn.url);
  const run = deploy(["--local", "all"], {
    ...SECRETS,
    ...IDS,
    ...COMMIT,
    PORT: String(port),
    // The door answers as the stand-in would: deploy.sh finds it and starts none.
    STAND_IN_PORT: String(telegram.port),
    LOCAL_STATE: state,
    // test.sh built the worker just before the workerd suite.
    SKIP_WORKER_BUILD: "1",
  });
  // While the notification is held both workers run: an admin call and the maintenance cron,
  // both through the bot's port, as an operator and `wrangler dev` make them.
  const during = {};
  try {
    const first = await Promise.race([telegram.reached.then(() => "held"), run.then(() => "ended")]);
    if (first === "held") {
      const flags = await fetch(`${bot}/admin/flags`, { headers: { Authorization: `Bearer ${SECRETS.ADMIN_API_TOKEN}` } });
      during.flags = [flags.status, await flags.json()];
      during.anonymous = (await fetch(`${bot}/admin/flags`)).status;
      const cron = await fetch(`${bot}/__scheduled?cron=*/5+*+*+*+*`);
      during.cron = [cron.status, await cron.text()];
    }
  } finally {
    telegram.release();
  }
  const { code, output } = await run;
  telegram.close();
  assert.equal(code, 0, output);
  assert.ok(during.flags, `the notification was never sent:\n${output}`);

  // Both dry runs bundled their worker with the ids from the environment, not the placeholders.
  assert.equal(output.match(/--dry-run: exiting now/g)?.length, 2, output);
  assert.equal(output.match(new RegExp(`env\\.FEAR_GREED_KV \\(${IDS.FEAR_GREED_KV_NAMESPACE_ID}\\)`, "g"))?.length, 2, output);
  assert.match(output, /env\.ADMIN_AUTH_LIMIT/, "the ops worker's dry run");
  assert.match(output, /env\.OPS \(fear-greed-ops\)/, "the bot's dry run");
  assert.match(output, /health: \{"ok":true,"d1":true,"kv":true\}/);
  assert.match(output, /health: \/admin\/ answered 200 through the bot: the ops worker is reached/);
  // wrangler dev binds wrangler.toml's queue: the notification is enqueued, and the step waits
  // for the run to finish (GET /admin/broadcast, answered by the ops worker through the bot).
  assert.match(output, /notify: 2 subscribers, enqueued as run deploy-\d+-abc1234/);
  assert.match(output, /notify: run deploy-\d+-abc1234 finished: 2 sent, 0 refused/);

  // The admin API answered through the bot with the ops worker's secret token, and only with it.
  assert.equal(during.flags[0], 200, JSON.stringify(during.flags));
  assert.equal(during.anonymous, 401);
  // The maintenance cron fired at the bot ran on the ops worker: only its build maintains.
  assert.equal(during.cron[0], 200, during.cron[1]);
  const log = readFileSync(join(state, "wrangler-dev.log"), "utf8");
  assert.match(log, /cron run finished.*Maintained/, log);
  assert.doesNotMatch(log, /UnknownCron/, log);

  // Each worker got its own secrets and no other, in files only their owner reads.
  for (const [worker, file] of [["fear-greed-bot", "deploy-secrets.bot.env"], ["fear-greed-ops", "deploy-secrets.ops.env"]]) {
    assert.deepEqual(namesIn(join(state, file)), WORKER_SECRETS[worker], file);
    assert.equal(statSync(join(state, file)).mode & 0o777, 0o600, file);
  }

  // setWebhook reached the Telegram stand-in with the worker's URL, the secret and the updates.
  const webhook = await (await fetch(`${standIn.url}/__webhook`)).json();
  assert.deepEqual(webhook, {
    bot: SECRETS.TELEGRAM_BOT_TOKEN_SECRET,
    url: `${bot}/`,
    secret_token: SECRETS.TELEGRAM_WEBHOOK_SECRET,
    allowed_updates: ["message", "edited_message"],
  });

  // The deploy notification went to each seeded subscriber, the subject's first line unescaped.
  const text =
    '🚀 New version deployed!\n\nCommit: `abc1234`\nMessage: Ship it: "quoted" \\ and more\n\n' +
    `🔗 [View on GitHub](${COMMIT.DEPLOY_COMMIT_URL})`;
  // (Sent side by side: the one the door held arrives last.)
  const sent = await (await fetch(`${standIn.url}/__sent`)).json();
  assert.deepEqual(
    sent.map((m) => [m.chat_id, m.text]).sort(([a], [b]) => a - b),
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

  // Nothing left behind: the workers stopped, the generated configs removed, no secret printed.
  await assert.rejects(fetch(`${bot}/healthz`));
  assert.deepEqual(readdirSync(ROOT).filter((f) => f.startsWith(".deploy-wrangler")), []);
  assertNoSecretIn(output, "the output");
  assertNoSecretIn(log, "wrangler dev's log");
});

/**
 * Runs `deploy.sh all` with wrangler replaced by a script that records each call (its
 * arguments, the configuration it was given and, for `secret put`, what it read on stdin) and a
 * "deployed" bot answering as `answer(path)` does; resolves to { code, output, calls, requests,
 * workerUrl, again }, each call as { command, worker, call }: the command without the values of
 * --config, --outdir and --message, and the worker its configuration names. The account holds
 * the broadcast's queue but not its dead-letter queue: `queues info` fails for a queue not in
 * queues.txt, `queues create` adds it there. `again(steps)` runs more steps with the same
 * wrangler and resolves to { code, output, calls } of those alone.
 */
async function remoteDeploy(answer) {
  const dir = tempDir();
  const log = join(dir, "calls.jsonl");
  const queues = join(dir, "queues.txt");
  writeFileSync(queues, "fear-greed-broadcast\n");
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
if (argv[0] === "queues") {
  const known = fs.readFileSync(${JSON.stringify(queues)}, "utf8").split("\\n");
  if (argv[1] === "create") fs.appendFileSync(${JSON.stringify(queues)}, argv[2] + "\\n");
  else if (!known.includes(argv[2])) {
    console.error('Queue "' + argv[2] + '" does not exist.');
    process.exit(1);
  }
}
`,
  );
  chmodSync(stub, 0o755);
  const recorded = () =>
    readFileSync(log, "utf8").trim().split("\n").map((line) => {
      const call = JSON.parse(line);
      const command = call.argv.filter((a, i, all) => !a.match(/^--(config|outdir|message)$/) && !all[i - 1]?.match(/^--(config|outdir|message)$/)).join(" ");
      return { command, worker: call.config?.match(/^name = "(.*)"$/m)?.[1], call };
    });

  const requests = [];
  const worker = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const [status, body] = answer(req.url);
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
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
  const calls = recorded();
  const again = async (more) => {
    rmSync(log);
    const run = await deploy(more, { WRANGLER: stub });
    return { ...run, calls: recorded() };
  };
  return { ...result, calls, requests, workerUrl, again };
}

const ROLLBACK = [
  ["rollback --yes", "fear-greed-bot"],
  ["rollback --yes", "fear-greed-ops"],
];

test("deploy.sh all (remote): both workers, the ops worker first, each its own secrets on stdin, the bot's missing queue created; both rolled back after a failed health check", async () => {
  // The "deployed" bot never becomes healthy.
  const { code, output, calls, requests, workerUrl, again } = await remoteDeploy((path) => [path === "/healthz" ? 503 : 404, { ok: false, d1: false, kv: true }]);
  assert.equal(code, 1, output);
  assert.match(output, /not healthy: rolling back/);
  assert.match(output, /rolled back/);

  assert.deepEqual(calls.map((c) => [c.command, c.worker]), [
    ["deploy --dry-run", "fear-greed-ops"],
    ["deploy --dry-run", "fear-greed-bot"],
    // Once: both workers use the one database.
    ["d1 migrations apply FEAR_GREED_D1 --remote", "fear-greed-bot"],
    // The queues the bot produces and consumes; only the missing one is created.
    ["queues info fear-greed-broadcast", "fear-greed-bot"],
    ["queues info fear-greed-broadcast-dlq", "fear-greed-bot"],
    ["queues create fear-greed-broadcast-dlq", "fear-greed-bot"],
    ...Object.entries(WORKER_SECRETS).flatMap(([worker, names]) => names.map((name) => [`secret put ${name}`, worker])),
    // The bot's OPS binding names the ops worker: it goes first.
    ["deploy", "fear-greed-ops"],
    ["deploy", "fear-greed-bot"],
    ...ROLLBACK,
  ]);

  // The steps that bind storage got the real ids in their configuration, never the placeholders.
  for (const { command, call } of calls.filter((c) => c.command.startsWith("deploy") || c.command.startsWith("d1 "))) {
    assert.match(call.config, new RegExp(`^id = "${IDS.FEAR_GREED_KV_NAMESPACE_ID}"$`, "m"), command);
    assert.match(call.config, new RegExp(`^database_id = "${IDS.FEAR_GREED_D1_DATABASE_ID}"$`, "m"), command);
    assert.ok(!call.config.includes("local-dev-"), call.config);
  }
  // Each secret went to its worker's wrangler on stdin, as it is, never on the command line.
  for (const { call } of calls.filter((c) => c.command.startsWith("secret "))) {
    assert.equal(call.stdin, SECRETS[call.argv[2]]);
    assert.ok(!call.argv.some((a) => Object.values(SECRETS).includes(a)), "a secret on the command line");
  }

  // The webhook points at the bot; no subscriber heard of a version that was rolled back.
  const webhook = await (await fetch(`${standIn.url}/__webhook`)).json();
  assert.equal(webhook.url, `${workerUrl}/`);
  assert.ok(requests.includes("GET /healthz"));
  assert.ok(!requests.some((r) => r.includes("deploy-notify")), requests.join(", "));
  assertNoSecretIn(output, "the output");
  assert.deepEqual(readdirSync(ROOT).filter((f) => f.startsWith(".deploy-wrangler")), []);
  assert.match(output, /queues: fear-greed-broadcast exists/);

  // The queues step again: both queues exist now, nothing is created.
  const queuesAgain = await again(["queues"]);
  assert.equal(queuesAgain.code, 0, queuesAgain.output);
  assert.deepEqual(queuesAgain.calls.map((c) => c.command), ["queues info fear-greed-broadcast", "queues info fear-greed-broadcast-dlq"]);
});

test("deploy.sh all (remote): a bot that does not reach the ops worker (405 on /admin/) is not healthy: both rolled back", async () => {
  const { code, output, calls, requests } = await remoteDeploy((path) =>
    path === "/healthz" ? [200, { ok: true, d1: true, kv: true }] : [405, "Method not allowed"],
  );
  assert.equal(code, 1, output);
  assert.match(output, /health: \{"ok":true,"d1":true,"kv":true\}/);
  assert.match(output, /health check of \/admin\/dashboard failed after 2s: last answer 405/);
  assert.deepEqual(calls.slice(-2).map((c) => [c.command, c.worker]), ROLLBACK);
  assert.ok(requests.includes("GET /admin/dashboard"), requests.join(", "));
  assert.ok(!requests.some((r) => r.includes("deploy-notify")), requests.join(", "));
  assertNoSecretIn(output, "the output");
});
