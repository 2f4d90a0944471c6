// A scripted conversation with the real worker in workerd: every command and every error path
// of legacy-bot.md, with every outbound request answered by the stand-in and every sendMessage
// body asserted exactly. The worker's clock reads 2026-11-24T00:04Z (a Tuesday) on each request.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { BOT_TOKEN, startWorker, WEBHOOK_SECRET } from "./harness.mjs";
import { BUY_IN_FEAR, createStandIn, header, HOLD_IN_GREED, linear380 } from "./stand-in.mjs";

const CHAT = 123456789;
const ADMIN = 999999999;
const NOV_24_2026_0004 = 1795478640000;
const INVALID_TICKER = (raw) =>
  `❌ Invalid ticker symbol: "${raw}". Please use a valid ticker (1-10 characters, e.g., SPY, TUI1.DE).`;
const VIEW = (lines) =>
  `*Your Watchlist:*\n\n${lines}\n\nUse /watchlist add TICKER to add a ticker.\nUse /watchlist remove TICKER to remove a ticker.`;
const HELP =
  "\nAvailable commands:\n/start - Subscribe to Fear and Greed Index alerts.\n/stop - Unsubscribe from Fear and Greed Index alerts.\n/now - Get trading signals for all tickers in your watchlist.\n/now TICKER - Get trading signal for a specific ticker (e.g., /now AAPL).\n/watchlist - View your watchlist.\n/watchlist add TICKER - Add ticker to your watchlist (e.g., /watchlist add AAPL).\n/watchlist remove TICKER - Remove ticker from your watchlist (e.g., /watchlist remove SPY).\n/execute TICKER PRICE [DATE] - Record execution of a signal at a specific price (e.g., /execute SPY 400.50). Optionally specify date as YYYY-MM-DD (e.g., /execute SPY 400.50 2024-01-15).\n/executions - View your execution history.\n/executions TICKER - View execution history for a specific ticker (e.g., /executions SPY).\n/help - Show this help message.\n\nNote: Scheduled broadcasts automatically skip US stock market holidays. Manual /now requests on holidays will include a market closed notice.\n";
const FORMAT_WATCHLIST =
  "❌ Invalid format. Use:\n/watchlist - View your watchlist\n/watchlist add TICKER - Add ticker to watchlist\n/watchlist remove TICKER - Remove ticker from watchlist";
const FORMAT_EXECUTE =
  "❌ Invalid format. Use: /execute TICKER PRICE [DATE]\nExample: /execute SPY 400.50\nExample: /execute SPY 400.50 2024-01-15";

let worker;
const world = createStandIn();

before(async () => {
  worker = await startWorker({
    outbound: world.outbound,
    vars: { ADMIN_CHAT_ID: String(ADMIN), TEST_CLOCK_START_MS: String(NOV_24_2026_0004) },
  });
});
after(async () => {
  await worker?.stop();
});

/** Sends `text` from `chat`, expects 200 {"ok":true}, and returns the messages it sent. */
async function say(chat, text, options) {
  const res = await worker.say(chat, text, options);
  assert.equal(res.status, 200, text);
  assert.deepEqual(await res.json(), { ok: true }, text);
  return world.take();
}

/** Runs a script of [text, replies] steps for CHAT; replies are texts to CHAT unless pairs. */
async function converse(script) {
  for (const [text, replies] of script) {
    const want = replies.map((r) => (Array.isArray(r) ? r : [CHAT, r]));
    assert.deepEqual(await say(CHAT, text), want, text);
  }
}

test("subscribing, help and the watchlist, with every watchlist error", async () => {
  const kv = await worker.kv();
  await converse([
    ["/start", ["You've subscribed to Fear and Greed Index alerts."]],
    ["/start@SomeBot", []],
    ["  /help  ", [HELP]],
    ["/watchlist", [VIEW("• $SPY")]],
    ["/watchlist add aapl", ["✅ Added AAPL to your watchlist."]],
    ["/watchlist add SPY", ["❌ Ticker SPY is already in your watchlist."]],
    // JavaScript's full Unicode upper-casing: the long s is an S.
    ["/watchlist add \u017Fpy", ["❌ Ticker SPY is already in your watchlist."]],
    ["/watchlist add INVALID_T", [INVALID_TICKER("INVALID\\_T")]],
    ["/watchlist remove MSFT", ["❌ Ticker MSFT is not in your watchlist."]],
    ["/watchlist remove SPY", ["✅ Removed SPY from your watchlist."]],
    [
      "/watchlist remove aapl",
      ["✅ Removed AAPL from your watchlist. SPY has been automatically added back to ensure you always have at least one ticker."],
    ],
    ["/watchlist add", [FORMAT_WATCHLIST]],
    ["/watchlistfoo", [VIEW("• $SPY")]],
    ["/stop", ["You've unsubscribed from Fear and Greed Index alerts."]],
    ["/stop", ["You've unsubscribed from Fear and Greed Index alerts."]],
    ["/start", ["You've subscribed to Fear and Greed Index alerts."]],
  ]);
  assert.equal(await kv.get("chat_ids"), `[${CHAT}]`);
  assert.equal(await kv.get(`watchlist:${CHAT}`), '["SPY"]');
});

test("/now in fear, outside fear, for a bad ticker, without Yahoo and without CNN", async () => {
  const kv = await worker.kv();
  world.state.index = { rating: "Fear", score: 25.123 };
  await converse([
    ["/now", [`${header("25.12", "FEAR")}\n\n${linear380("SPY", BUY_IN_FEAR("Fear (25.12%)"))}`]],
    ["/now BAD-T", [INVALID_TICKER("BAD-T")]],
  ]);
  await kv.delete("fear_greed_cache");
  world.state.index = { rating: "Greed", score: 70 };
  await converse([
    ["/nowSPY", [linear380("SPY", HOLD_IN_GREED("Greed (70.00%)"))]],
    ["/now@MyBot spy", [`${header("70.00", "GREED")}\n\n${linear380("SPY", HOLD_IN_GREED("Greed (70.00%)"))}`]],
  ]);
  world.state.unknownTickers.add("NOPE");
  await converse([
    [
      "/now nope",
      [
        `${header("70.00", "GREED")}\n\n🟡 *Trading Signal: HOLD*\n\n⚠️ *Data Unavailable*\n\n*Fear & Greed Index:* Greed (70.00%)\nMarket data (NOPE price and indicators) unavailable.\n\n\n*Reasoning:* HOLD - Insufficient data to evaluate trading conditions. Market data (NOPE price and indicators) unavailable.`,
      ],
    ],
  ]);
  await kv.delete("fear_greed_cache");
  world.state.cnnStatus = 418;
  await converse([
    [
      "/now",
      [
        "🟡 *Trading Signal: HOLD*\n\n⚠️ *Data Unavailable*\n\nFear & Greed Index data unavailable.\nMarket data (SPY price and indicators) unavailable.\n\n\n*Reasoning:* HOLD - Insufficient data to evaluate trading conditions. Fear & Greed Index data unavailable.",
        [ADMIN, "An error occurred: Failed to fetch Fear & Greed Index: 418 I'm a teapot"],
      ],
    ],
  ]);
  world.state.cnnStatus = 200;
});

test("/execute with every validation error, the monthly limit and /executions", async () => {
  const kv = await worker.kv();
  await converse([
    ["/execute SPY", [FORMAT_EXECUTE]],
    ["/execute A-B 1", [INVALID_TICKER("A-B")]],
    ["/execute SPY abc", ['❌ Invalid price: "abc". Please provide a positive number.']],
    ["/execute SPY -5", ['❌ Invalid price: "-5". Please provide a positive number.']],
    ["/execute SPY 400.50 2024/01/15", ['❌ Invalid date format: "2024/01/15". Please use YYYY-MM-DD format (e.g., 2024-01-15).']],
    ["/execute SPY 400.50 2024-02-30", ['❌ Invalid date: "2024-02-30". Please provide a valid date.']],
    ["/executions", ["*Your Execution History:*\n\nNo executions recorded."]],
  ]);
  assert.equal(await kv.get(`execution_history:${CHAT}`), null);
  await converse([
    [
      "/execute SPY 400.5",
      ["🟢 *Execution Recorded*\n\n*Signal:* BUY\n*Ticker:* SPY\n*Price:* $400.50\n\nExecution has been recorded in your history."],
    ],
    [
      "/execute SPY 410",
      ["❌ Trading frequency limit: You already executed a signal in November. You can execute again in December (once per calendar month)."],
    ],
    [
      "/executions",
      ["*Your Execution History:*\n\n*Execution History (1 entry):*\n\n\n🟢 *BUY* SPY at $400.50\n   📅 Nov 24, 2026, 12:04 AM"],
    ],
    ["/executions AAPL", ["*Execution History for AAPL:*\n\nNo executions recorded."]],
  ]);
  assert.match(
    await kv.get(`execution_history:${CHAT}`),
    /^\[\{"signalType":"BUY","ticker":"SPY","executionPrice":400\.5,"executionDate":17954786\d{5}\}\]$/,
  );
  assert.equal(await kv.get(`active_position:${CHAT}`), '{"ticker":"SPY","entryPrice":400.5}');
});

test("a SELL closes the position a chat holds", async () => {
  const kv = await worker.kv();
  const seller = 555;
  await kv.put(`active_position:${seller}`, '{"ticker":"SPY","entryPrice":400}');
  await kv.put(
    `execution_history:${seller}`,
    '[{"signalType":"BUY","ticker":"SPY","executionPrice":400,"executionDate":1705276800000}]',
  );
  assert.deepEqual(await say(seller, "/execute spy 450"), [
    [
      seller,
      "🔴 *Execution Recorded*\n\n*Signal:* SELL\n*Ticker:* SPY\n*Price:* $450.00\n\n✅ All open positions for SPY have been closed.\n\nExecution has been recorded in your history.",
    ],
  ]);
  assert.equal(await kv.get(`active_position:${seller}`), null);
  assert.deepEqual(await say(seller, "/executions"), [
    [
      seller,
      "*Your Execution History:*\n\n*Execution History (2 entries):*\n\n\n🔴 *SELL* SPY at $450.00\n   📅 Nov 24, 2026, 12:04 AM\n\n🟢 *BUY* SPY at $400.00\n   📅 Jan 15, 2024, 12:00 AM",
    ],
  ]);
});

test("/subscribers answers the admin only and prunes chats Telegram cannot find", async () => {
  const kv = await worker.kv();
  await kv.put("chat_ids", `[${CHAT},222,"blocked_user",333]`);
  world.state.missingChats.add(222);
  assert.deepEqual(await say(CHAT, "/subscribers"), []);
  assert.deepEqual(await say(ADMIN, "/subscribers"), [
    [ADMIN, `Total subscribers: 2\n\n1. @user\\_${CHAT}\n2. @user\\_333`],
  ]);
  assert.equal(await kv.get("chat_ids"), `[${CHAT},333]`);
});

test("texts, updates and requests the bot does not act on", async () => {
  await converse([
    ["hello", []],
    ["/unknown", []],
    ["/STOP", []],
  ]);
  const photo = await worker.update({ update_id: 900, message: { chat: { id: CHAT }, photo: [{ file_id: "x" }] } });
  assert.deepEqual([photo.status, await photo.json()], [200, { ok: true }]);
  const edited = await worker.update({ update_id: 901, edited_message: { chat: { id: CHAT }, text: "/help" } });
  assert.equal(edited.status, 200);
  assert.deepEqual(world.take(), [[CHAT, HELP]]);
  const badSecret = await worker.say(CHAT, "/help", { secret: "wrong" });
  assert.deepEqual([badSecret.status, await badSecret.json()], [401, { ok: false, error: "Unauthorized" }]);
  const badJson = await worker.fetch("/", {
    method: "POST",
    headers: { "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET },
    body: "invalid json {",
  });
  assert.deepEqual([badJson.status, await badJson.json()], [400, { ok: false, error: "Invalid JSON" }]);
  assert.deepEqual(world.take(), []);
});

test("a redelivered update is acknowledged and not applied twice", async () => {
  const kv = await worker.kv();
  const chat = 777;
  assert.deepEqual(await say(chat, "/watchlist add TSLA", { updateId: 5000 }), [
    [chat, "✅ Added TSLA to your watchlist."],
  ]);
  assert.deepEqual(await say(chat, "/watchlist add TSLA", { updateId: 5000 }), []);
  assert.equal(await kv.get(`watchlist:${chat}`), '["SPY","TSLA"]');
  // The claim, taken with the first storage call, is marked done after the response.
  const d1 = await worker.d1();
  const state = () => d1.prepare("SELECT state FROM telegram_updates WHERE update_id = ?").bind(5000).first("state");
  for (let i = 0; i < 50 && (await state()) !== "done"; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(await state(), "done");
});

test("/deploy-notify: success, credentials, fields and failed sends", async () => {
  const kv = await worker.kv();
  await kv.put("chat_ids", "[111,222]");
  world.take();
  const post = (body, authorization) =>
    worker.fetch("/deploy-notify", {
      method: "POST",
      headers: authorization ? { Authorization: authorization } : {},
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
  const commit = { commitHash: "abc1234", commitMessage: "Fix things\nmore", commitUrl: "https://github.com/o/r/commit/abc" };
  const ok = await post(commit, `Bearer ${BOT_TOKEN}`);
  assert.equal(ok.status, 200);
  assert.equal(
    await ok.text(),
    '{"success":true,"broadcast":{"totalSubscribers":2,"successful":2,"failed":0,"errors":[]}}',
  );
  const text = "🚀 New version deployed!\n\nCommit: `abc1234`\nMessage: Fix things\n\n🔗 [View on GitHub](https://github.com/o/r/commit/abc)";
  assert.deepEqual(world.take(), [[111, text], [222, text]]);

  world.state.refusingChats.add(222);
  const partial = await post({ ...commit, token: BOT_TOKEN });
  assert.equal(
    await partial.text(),
    '{"success":true,"broadcast":{"totalSubscribers":2,"successful":1,"failed":1,"errors":[{"chatId":222,"error":"Unknown error"}]}}',
  );
  world.state.refusingChats.clear();
  assert.deepEqual(world.take(), [[111, text], [222, text]], "both were attempted");

  const cases = [
    [post(commit, "Bearer invalid-token"), 401, '{"ok":false,"error":"Invalid token"}'],
    [post({}), 401, '{"ok":false,"error":"Invalid token"}'],
    [post("not json"), 500, '{"ok":false,"error":"Internal server error"}'],
    [
      post({ commitHash: "abc1234" }, `Bearer ${BOT_TOKEN}`),
      400,
      '{"ok":false,"error":"Missing required fields: commitHash, commitMessage, commitUrl"}',
    ],
  ];
  for (const [pending, status, body] of cases) {
    const res = await pending;
    assert.deepEqual([res.status, await res.text()], [status, body]);
  }
  assert.deepEqual(world.take(), []);
});
