// The outside world of the workerd suite: Telegram, CNN and Yahoo answered in-process, with
// every request recorded. Tests change the answers through the returned controls.
import assert from "node:assert/strict";
import { BOT_TOKEN } from "./harness.mjs";
import { chartBody, fearGreedBody, linearBars } from "../../scripts/market-data.mjs";

export const TELEGRAM = `http://telegram.stand-in/bot${BOT_TOKEN}`;

export function createStandIn() {
  const state = {
    index: { rating: "Fear", score: 25.123 },
    cnnStatus: 200,
    price: 380,
    /** Tickers Yahoo answers 404 for. */
    unknownTickers: new Set(),
    /** Chat ids whose getChat fails. */
    missingChats: new Set(),
    /** Chat ids whose sendMessage gets a 400. */
    refusingChats: new Set(),
    /** Chat id → retry_after: the chat's next sendMessage gets a 429 (not recorded in `sent`). */
    throttledChats: new Map(),
  };
  /** Each 429 given, as [chat, performance.now()]. */
  const throttled = [];
  const sent = [];
  /** The on-call pages (plain-text sendMessage), as [chat, text] pairs. */
  const pages = [];
  const requests = [];
  /** When each sendMessage arrived (`performance.now()`), for the bench's reply latency. */
  const sentAt = [];
  async function outbound(request) {
    const url = new URL(request.url);
    requests.push(request.url);
    if (request.url === `${TELEGRAM}/sendMessage`) {
      const body = await request.text();
      const message = JSON.parse(body);
      // An on-call page: plain text, no parse_mode, recorded apart from the bot's messages.
      if (body === JSON.stringify({ chat_id: message.chat_id, text: message.text })) {
        pages.push([message.chat_id, message.text]);
        return Response.json({ ok: true, result: { message_id: pages.length } });
      }
      // The legacy wire format, keys in order.
      if (body !== JSON.stringify({ chat_id: message.chat_id, text: message.text, parse_mode: "Markdown" })) {
        throw new Error(`unexpected sendMessage body ${body}`);
      }
      const retryAfter = state.throttledChats.get(message.chat_id);
      if (retryAfter !== undefined) {
        state.throttledChats.delete(message.chat_id);
        throttled.push([message.chat_id, performance.now()]);
        const parameters = { retry_after: retryAfter };
        return Response.json({ ok: false, error_code: 429, description: `Too Many Requests: retry after ${retryAfter}`, parameters }, { status: 429 });
      }
      sent.push([message.chat_id, message.text]);
      sentAt.push(performance.now());
      if (state.refusingChats.has(message.chat_id)) {
        return Response.json({ ok: false, description: "Forbidden: bot was blocked by the user" }, { status: 403 });
      }
      return Response.json({ ok: true, result: { message_id: sent.length } });
    }
    if (request.url === `${TELEGRAM}/getChat`) {
      const { chat_id } = await request.json();
      if (state.missingChats.has(chat_id)) {
        return Response.json({ ok: false, description: "Bad Request: chat not found" }, { status: 400 });
      }
      return Response.json({ ok: true, result: { id: chat_id, type: "private", username: `user_${chat_id}` } });
    }
    if (url.host === "cnn.stand-in" && url.pathname === "/index/fearandgreed/current") {
      if (state.cnnStatus !== 200) return new Response("{}", { status: state.cnnStatus });
      return Response.json(fearGreedBody(state.index));
    }
    const chart = url.host === "yahoo.stand-in" && url.pathname.match(/^\/v8\/finance\/chart\/([^/]+)$/);
    if (chart) {
      const ticker = decodeURIComponent(chart[1]);
      if (state.unknownTickers.has(ticker)) {
        return Response.json({ chart: { result: null, error: { code: "Not Found", description: "No data found" } } }, { status: 404 });
      }
      const end = Number(url.searchParams.get("period2"));
      return Response.json(chartBody(ticker, state.price, linearBars(end)));
    }
    return new Response(`unexpected outbound request to ${request.url}`, { status: 599 });
  }
  return {
    state,
    outbound,
    requests,
    sentAt,
    throttled,
    /** The messages sent since the last call, as [chat, text] pairs. */
    take() {
      return sent.splice(0);
    },
    /** The on-call pages sent since the last call, as [chat, text] pairs. */
    takePages() {
      return pages.splice(0);
    },
  };
}

const CHART_PREFIX =
  "https://quickchart.io/chart?c=%7Btype%3A%27gauge%27%2Cdata%3A%7Bdatasets%3A%5B%7Bvalue%3A%27";
const CHART_SUFFIX =
  "%27%2Cdata%3A%5B25%2C45%2C55%2C75%2C100%5D%2CbackgroundColor%3A%5B%27%23f06c00ff%27%2C%27%23ffb9a180%27%2C%27%23e6e6e6%27%2C%27%23b9ede9%27%2C%27%238cd6c3%27%5D%2CborderWidth%3A0%7D%5D%7D%2Coptions%3A%7BvalueLabel%3A%7BfontSize%3A22%2CbackgroundColor%3A%27transparent%27%2Ccolor%3A%27%23000%27%2Cformatter%3Afunction+%28value%29+%7B%0A++return+value+%2B+%22%25%22%3B%0A%7D%2CbottomMarginPercentage%3A10%7D%7D%7D&w=400&h=250&ref=qc-js&bkg=%23ffffff&f=png&v=2.9.4";

/** The Fear & Greed header of legacy §6.5 for a header score string and an upper-case rating. */
export function header(score, rating) {
  return `⚠️ The current [Fear and Greed Index](${CHART_PREFIX}${score}${CHART_SUFFIX}) rating is ${score}% (*${rating}*).`;
}

/** The signal body for the linear series at 380 (legacy A.1, A.2). */
export function linear380(ticker, { signal, c, index, reasoning }) {
  return `${signal}\n\n💰 Current [${ticker} Price](https://www.tradingview.com/chart/?symbol=${ticker}): $380.00\n\n*Technical Indicators:*\n• SMA 20: $394.75\n• SMA 50: $387.25\n• SMA 100: $374.75\n• SMA 200: $349.75\n• BB Upper: $400.52\n• BB Middle: $394.75\n• BB Lower: $388.98\n\n*Conditions:*\n• Condition A (New BUY formula): ✅\n• Condition B (Price near BB Lower): ✅\n• Condition C (Fear/Extreme Fear): ${c}\n\n*Fear & Greed Index:* ${index}\n\n\n*Reasoning:* ${reasoning}`;
}

export const BUY_IN_FEAR = (index) => ({
  signal: "🟢 *Trading Signal: BUY*",
  c: "✅",
  index,
  reasoning:
    "BUY signal triggered. Entry condition met: Price within 1% of SMA20 (394.75) AND within 1% of BB lower (388.98) OR Price within 1% of SMA50 (387.25). Fear & Greed Index indicates fear/extreme fear.",
});

export const HOLD_IN_GREED = (index) => ({
  signal: "🟡 *Trading Signal: HOLD*",
  c: "❌",
  index,
  reasoning: "HOLD - Entry conditions not met. Fear & Greed Index is not in fear/extreme fear.",
});

/**
 * Says each `[chat, text]` of `script` to `worker` in turn (each update must get a 200) and
 * returns every message the stand-in `world` received meanwhile, as `[chat, text]`.
 */
export async function converse({ world, worker }, script) {
  const messages = [];
  for (const [chat, text] of script) {
    const res = await worker.say(chat, text);
    assert.equal(res.status, 200, text);
    await res.arrayBuffer();
    messages.push(...world.take());
  }
  return messages;
}
