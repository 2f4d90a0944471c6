// The webhook in workerd: legacy KV bytes read back through the repositories, replies sent to
// the Telegram stand-in with the exact legacy body, and KV rewritten in the legacy bytes.
import { after, before, beforeEach, test } from "node:test";
import assert from "node:assert/strict";
import { BOT_TOKEN, startWorker } from "./harness.mjs";

const CHAT = 123456789;
let worker;
let sent = [];

before(async () => {
  worker = await startWorker({
    outbound: async (request) => {
      assert.equal(request.url, `http://telegram.stand-in/bot${BOT_TOKEN}/sendMessage`);
      assert.equal(request.method, "POST");
      sent.push(await request.text());
      return Response.json({ ok: true, result: {} });
    },
  });
});
after(async () => {
  await worker?.stop();
});
beforeEach(() => {
  sent = [];
});

const texts = () => sent.map((body) => JSON.parse(body).text);

test("a watchlist written by the legacy bot is read, shown and repaired in legacy bytes", async () => {
  const kv = await worker.kv();
  await kv.put(`watchlist:${CHAT}`, '["SPY","AAPL","spy","MSFT","aapl"]');
  const res = await worker.say(CHAT, "/watchlist");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { ok: true });
  assert.deepEqual(sent, [
    JSON.stringify({
      chat_id: CHAT,
      text: "*Your Watchlist:*\n\n• $SPY\n• $AAPL\n• $MSFT\n\nUse /watchlist add TICKER to add a ticker.\nUse /watchlist remove TICKER to remove a ticker.",
      parse_mode: "Markdown",
    }),
  ]);
  assert.equal(await kv.get(`watchlist:${CHAT}`), '["SPY","AAPL","MSFT"]');
});

test("start, add, remove and stop keep the legacy KV bytes", async () => {
  const kv = await worker.kv();
  const chat = -1001234567890;
  for (const text of ["/start", "/watchlist add brk.b", "/watchlist remove SPY", "/stop"]) {
    assert.equal((await worker.say(chat, text)).status, 200, text);
  }
  assert.deepEqual(texts(), [
    "You've subscribed to Fear and Greed Index alerts.",
    "✅ Added BRK.B to your watchlist.",
    "✅ Removed SPY from your watchlist.",
    "You've unsubscribed from Fear and Greed Index alerts.",
  ]);
  assert.equal(await kv.get(`watchlist:${chat}`), '["BRK.B"]');
  assert.equal(await kv.get("chat_ids"), "[]");
});

test("a wrong secret is refused before anything is read or sent", async () => {
  const res = await worker.say(CHAT, "/start", { secret: "wrong" });
  assert.equal(res.status, 401);
  assert.deepEqual(await res.json(), { ok: false, error: "Unauthorized" });
  assert.deepEqual(sent, []);
});

test("a body that is not JSON is a 400", async () => {
  const res = await worker.fetch("/", {
    method: "POST",
    headers: { "X-Telegram-Bot-Api-Secret-Token": "e2e-webhook-secret" },
    body: "invalid json {",
  });
  assert.equal(res.status, 400);
  assert.deepEqual(await res.json(), { ok: false, error: "Invalid JSON" });
});

test("an invalid ticker is echoed escaped for Markdown", async () => {
  await worker.say(CHAT, "/watchlist add BAD_TICKER");
  assert.deepEqual(texts(), [
    '❌ Invalid ticker symbol: "BAD\\_TICKER". Please use a valid ticker (1-10 characters, e.g., SPY, TUI1.DE).',
  ]);
});
