// Hostile input in workerd. Bodies over the limit (256 KiB, 16 KiB under /admin/) are refused
// 413 before they are read in full: by their Content-Length, and while a chunked body streams
// (an endless one included), with storage unchanged. And updates whose handling differs from the
// native suite's (numbers past 2^53 bound through D1's JavaScript binding, JavaScript's case
// mapping, invalid UTF-8) are answered without a 500, after which the isolate still serves.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { ADMIN_TOKEN, WEBHOOK_SECRET, startWorker } from "./harness.mjs";
import { createStandIn } from "./stand-in.mjs";

const WEBHOOK_LIMIT = 256 * 1024;
const ADMIN_LIMIT = 16 * 1024;
const TOO_LARGE = { ok: false, error: "Payload Too Large" };

let world;
let worker;
before(async () => {
  world = createStandIn();
  worker = await startWorker({ outbound: world.outbound });
  for (const text of ["/start", "/watchlist add AAPL"]) {
    assert.equal((await worker.say(1, text)).status, 200, text);
  }
  world.take();
});
after(async () => {
  await worker?.stop();
});

/** `text`, padded with spaces to `size` bytes. */
function padded(text, size) {
  const bytes = new Uint8Array(size).fill(0x20);
  bytes.set(new TextEncoder().encode(text));
  return bytes;
}

/** `bytes` as a stream of 1 KiB chunks: sent chunked, without a Content-Length. */
function chunked(bytes) {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at + 1024));
      at += 1024;
    },
  });
}

/**
 * POSTs a body that never ends to `path`, chunked, with Node's HTTP client, which reads the
 * answer while it still sends (a `fetch()` would buffer the endless stream): only a worker that
 * stops reading can answer. Resolves to the answer as a `Response`, or to `null` when the
 * worker hung up before the client read one; fails past 64 MiB sent.
 */
function endless(path, headers) {
  return new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(16 * 1024, 0x5b);
    let sent = 0;
    let answered = false;
    const req = httpRequest(new URL(path, worker.url), { method: "POST", headers }, (res) => {
      answered = true;
      const parts = [];
      res.on("data", (part) => parts.push(part));
      res.on("end", () => {
        req.destroy();
        resolve(new Response(Buffer.concat(parts), { status: res.statusCode }));
      });
    });
    req.on("error", (e) => {
      if (answered) return;
      answered = true;
      if (["EPIPE", "ECONNRESET"].includes(e.code)) resolve(null);
      else reject(e);
    });
    const pump = () => {
      while (!answered) {
        if (sent > 64 * 1024 * 1024) {
          answered = true;
          req.destroy();
          return reject(new Error("the worker read on past 64 MiB"));
        }
        sent += chunk.length;
        if (!req.write(chunk)) return req.once("drain", pump);
      }
    };
    pump();
  });
}

/**
 * `request()`'s answer checked to be the 413 (or, for an endless body, the connection closed
 * unanswered), with nothing stored, sent or changed.
 */
async function refusedUnchanged(request) {
  const before = await worker.storage();
  const requests = world.requests.length;
  const res = await request();
  if (res !== null) {
    assert.equal(res.status, 413);
    assert.deepEqual(await res.json(), TOO_LARGE);
  }
  assert.deepEqual(await worker.storage(), before);
  assert.equal(world.requests.length, requests, "nothing went out");
}

const webhook = (body, headers = {}) =>
  worker.fetch("/", {
    method: "POST",
    headers: { "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET, ...headers },
    body,
    duplex: "half",
  });

const admin = (method, path, body) =>
  worker.fetch(path, { method, headers: { Authorization: `Bearer ${ADMIN_TOKEN}` }, body, duplex: "half" });

const help = (updateId) => JSON.stringify({ update_id: updateId, message: { chat: { id: 1 }, text: "/help" } });

test("a webhook body over the limit is refused 413 by its Content-Length and while it streams", async () => {
  const over = padded(help(100), WEBHOOK_LIMIT + 1);
  await refusedUnchanged(() => webhook(over));
  await refusedUnchanged(() => webhook(chunked(over)));
  await refusedUnchanged(() => endless("/", { "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET }));
  await refusedUnchanged(() => webhook(over, { "X-Telegram-Bot-Api-Secret-Token": "wrong" }));
});

test("a webhook body at the limit is read whole, streamed or not", async () => {
  for (const [updateId, body] of [
    [101, (bytes) => bytes],
    [102, chunked],
  ]) {
    const res = await webhook(body(padded(help(updateId), WEBHOOK_LIMIT)));
    assert.equal(res.status, 200);
    assert.equal(world.take().length, 1, "the /help reply");
  }
});

test("an admin body over 16 KiB is refused 413, with the token or without; at the limit it applies", async () => {
  const move = JSON.stringify({ key: "storage.phase.all", value: "dual_write", reason: "hostile e2e" });
  const over = padded(move, ADMIN_LIMIT + 1);
  await refusedUnchanged(() => admin("PUT", "/admin/flags", over));
  await refusedUnchanged(() => admin("PUT", "/admin/flags", chunked(over)));
  await refusedUnchanged(() => endless("/admin/backfill", { Authorization: `Bearer ${ADMIN_TOKEN}` }));
  await refusedUnchanged(() => worker.fetch("/admin/flags", { method: "PUT", body: over }));
  const res = await admin("PUT", "/admin/flags", chunked(padded(move, ADMIN_LIMIT)));
  assert.equal(res.status, 200, await res.clone().text());
  const [status, flags] = await worker.admin("GET", "/admin/flags");
  assert.equal(status, 200);
  assert.match(JSON.stringify(flags), /dual_write/);
});

test("hostile updates are answered without a 500, refusals change nothing, and the isolate keeps serving", async () => {
  const update = (id, chat, text) => `{"update_id":${id},"message":{"chat":{"id":${chat}},"text":${JSON.stringify(text)}}}`;
  const bodies = [
    update("9223372036854775807", 2, "/watchlist add MSFT"),
    update("-9223372036854775808", 2, "/watchlist add MSFT"),
    update("9007199254740993", 2, "/watchlist remove MSFT"),
    update("1e20", 2, "/start"),
    update("1.5", 2, "/execute SPY 1e308"),
    update("-1", "9223372036854775807", "/start"),
    update(200, "-9223372036854775808", "/watchlist add ﬀ"),
    update(201, "1e400", "/start"),
    update(202, 2, "/watchlist add ß\u0000\u0007\u001b[31m"),
    update(203, 2, `/now ${"\u{1F600}".repeat(3000)}`),
    update(204, 2, `/execute ${"İ".repeat(5000)} 1 2024-02-30`),
    update(205, 2, "/execute SPY 1 +275760-09-13"),
    `{"update_id":206,"message":${"[".repeat(100_000)}}`,
    `{"update_id":207,"message":{"chat":{"id":2},"text":"\\ud800"}}`,
    new Uint8Array([0x7b, 0xff, 0xfe, 0x00, 0x80, 0x7d]),
  ];
  // Test 3 left every repository in dual_write: each write goes to D1 as well.
  assert.match(JSON.stringify(await worker.admin("GET", "/admin/flags")), /dual_write/);
  for (const body of bodies) {
    const before = await worker.storage();
    const res = await webhook(body);
    const answer = await res.text();
    assert.ok([200, 400].includes(res.status), `${res.status} ${answer} for ${String(body).slice(0, 80)}`);
    if (res.status === 400) assert.deepEqual(await worker.storage(), before, answer);
  }
  // Every D1 write went through: D1 mirrors KV and no missed write waits for a repair (writes
  // of one chat this close together are race-checked, reconciliations: MIGRATION.md, "Races").
  const { kv, d1 } = await worker.storage();
  const missed = d1.repair_queue.filter((row) => !JSON.parse(row).reason.startsWith("reconcile: "));
  const rows = d1.watchlists.map((row) => JSON.parse(row)).filter((row) => row.chat_id === "2");
  const tickers = rows.sort((a, b) => a.id - b.id).map((row) => row.ticker);
  assert.deepEqual(tickers, JSON.parse(kv["watchlist:2"]));
  assert.deepEqual(missed, []);
  world.take();
  assert.equal((await webhook(help(300))).status, 200);
  assert.equal(world.take().length, 1, "the isolate still answers /help");
  // Claims still work: a redelivered write is acknowledged, not applied again.
  const add = update(301, 3, "/watchlist add NFLX");
  assert.equal((await webhook(add)).status, 200);
  assert.equal((await webhook(add)).status, 200);
  assert.deepEqual(world.take(), [[3, "✅ Added NFLX to your watchlist."]]);
});
