// Failed admin bearer attempts in workerd: ten wrong tokens from one client (CF-Connecting-IP)
// are 401s, then that client gets 429s with Retry-After, the right token included, while
// another client passes. Counted by wrangler.toml's Rate Limiting binding, which Miniflare
// simulates, or by the isolate when the binding is left out. Then failures of every kind (wrong
// credentials, Telegram unreachable or answering with its URL) leak no secret into a log line
// or a response (the harness scans both whenever a worker stops; here also at the end).
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { ADMIN_TOKEN, BOT_TOKEN, OPS_WORKER, startWorker, WEBHOOK_SECRET } from "./harness.mjs";

const ATTACKER = "203.0.113.7";
const OPERATOR = "198.51.100.20";
const LIMITED = {
  ok: false,
  error: { code: "too_many_attempts", message: "Too many failed bearer attempts; retry after the Retry-After seconds", details: [] },
};
const workers = [];
after(async () => {
  for (const worker of workers) await worker.stop();
});

async function start(options) {
  const worker = await startWorker(options);
  workers.push(worker);
  return worker;
}

/** `GET /admin/flags` from `ip` with `token`: [status, Retry-After, body]. */
async function attempt(worker, ip, token) {
  const res = await worker.fetch("/admin/flags", { headers: { Authorization: `Bearer ${token}`, "CF-Connecting-IP": ip } });
  return [res.status, res.headers.get("retry-after"), await res.json()];
}

/** Ten wrong tokens, then the eleventh and the right one refused with 429; another client passes. */
async function limitsTheAttacker(worker) {
  for (let i = 0; i < 10; i++) {
    assert.equal((await attempt(worker, ATTACKER, `guess-${i}`))[0], 401, `attempt ${i}`);
  }
  for (const token of ["guess-10", ADMIN_TOKEN]) {
    const [status, retryAfter, body] = await attempt(worker, ATTACKER, token);
    assert.deepEqual([status, body], [429, LIMITED]);
    assert.ok(Number(retryAfter) >= 59 && Number(retryAfter) <= 60, `Retry-After ${retryAfter}`);
  }
  assert.equal((await attempt(worker, OPERATOR, ADMIN_TOKEN))[0], 200);
  const lines = worker.logs.map((line) => line.message);
  const refused = lines.filter((line) => line.includes('"admin request refused"'));
  assert.equal(refused.length, 12);
  assert.ok(refused.every((line) => line.includes(`"client":"${ATTACKER}"`)), refused.join("\n"));
  assert.equal(refused.filter((line) => line.includes("TooManyAttempts")).length, 2);
  assert.deepEqual(lines.filter((line) => /guess-|Bearer/.test(line)), [], "no token is logged");
}

test("with the Rate Limiting binding (Miniflare's), ten wrong tokens and the client is limited", async () => {
  // The binding's windows are aligned to the clock's minutes: start well inside one.
  const left = 60_000 - (Date.now() % 60_000);
  if (left < 20_000) await sleep(left + 100);
  const worker = await start();
  // The worker counts with the binding: a budget spent through it leaves one wrong token a 429.
  const { ADMIN_AUTH_LIMIT } = await worker.mf.getBindings(OPS_WORKER);
  for (let i = 0; i < 10; i++) assert.equal((await ADMIN_AUTH_LIMIT.limit({ key: "192.0.2.1" })).success, true);
  const [status, retryAfter] = await attempt(worker, "192.0.2.1", "guess");
  assert.deepEqual([status, retryAfter], [429, "60"]);
  worker.logs.length = 0;
  await limitsTheAttacker(worker);
});

test("without the binding, the isolate counts: ten wrong tokens and the client is limited", async () => {
  await limitsTheAttacker(await start({ rateLimit: false }));
});

test("failed credentials and a failing Telegram leak no secret into the logs or the responses", async () => {
  // Telegram refusing with the request quoted, token and all.
  const worker = await start({
    outbound: async (request) =>
      Response.json({ ok: false, description: `Bad Request: ${request.url} ${await request.text()}` }, { status: 400 }),
  });
  // fetch() itself failing on the Telegram URL, which the runtime's error quotes (each send is
  // retried for 7 s).
  const unreachable = await start({ vars: { TELEGRAM_API_BASE_URL: "http://telegram stand-in" } });
  const commit = { commitHash: "abc1234", commitMessage: "Ship", commitUrl: "https://github.com/o/r/commit/abc" };
  for (const w of [worker, unreachable]) {
    await (await w.kv()).put("chat_ids", "[111]");
    // Wrong credentials of every kind, some of them close to the real ones.
    for (const secret of ["wrong", WEBHOOK_SECRET.slice(0, -1), `${WEBHOOK_SECRET}x`]) {
      assert.equal((await w.say(111, "/help", { secret })).status, 401);
    }
    for (const token of [BOT_TOKEN.slice(0, -1), `${BOT_TOKEN}x`, ADMIN_TOKEN]) {
      const res = await w.fetch("/deploy-notify", { method: "POST", headers: { Authorization: `Bearer ${token}` }, body: "{}" });
      assert.equal(res.status, 401);
    }
    for (const token of [ADMIN_TOKEN.slice(0, -1), BOT_TOKEN, WEBHOOK_SECRET]) {
      assert.equal((await w.admin("GET", "/admin/migration/status", undefined, token))[0], 401);
    }
    // A reply and a deploy notification that reports its failed send.
    assert.equal((await w.say(111, "/help")).status, 200);
    const notified = await w.fetch("/deploy-notify", { method: "POST", headers: { Authorization: `Bearer ${BOT_TOKEN}` }, body: JSON.stringify(commit) });
    assert.match(await notified.text(), /"failed":1,"errors":\[\{"chatId":111,"error":"[^"]+"\}\]/);
    assert.ok(w.logs.some((line) => line.message.includes('"sendMessage ')), "the failures were logged");
    assert.deepEqual(await w.leaks(), []);
  }
  assert.ok(worker.outboundRequests.some((request) => request.url.includes(BOT_TOKEN)), "the token did go to Telegram");
  assert.deepEqual(unreachable.outboundRequests, [], "no request left the unreachable worker");
});
