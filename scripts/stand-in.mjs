// Offline stand-in for the worker's outbound services during a local run (scripts/dev.sh,
// scripts/deploy.sh --local): Telegram (prints and keeps every message the bot sends, answers
// getChat, records setWebhook), CNN's Fear & Greed index and Yahoo's chart API with canned data
// (scripts/market-data.mjs). Listens on 127.0.0.1:${STAND_IN_PORT:-8788}.
//   GET  /__sent?since=N   messages sent so far (scripts/say.mjs reads them)
//   GET  /__webhook        the last setWebhook: {"bot": <token>, ...its parameters}, or null
//   POST /__market         {"rating":"greed","score":71.2} changes the index the bot sees
import { createServer } from "node:http";
import { cannedChart, fearGreedBody } from "./market-data.mjs";

const port = Number(process.env.STAND_IN_PORT ?? 8788);
const sent = [];
let webhook = null;
let index = { rating: process.env.STAND_IN_RATING ?? "fear", score: Number(process.env.STAND_IN_SCORE ?? 27.4) };

const server = createServer(async (req, res) => {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const body = Buffer.concat(chunks).toString("utf8");
  const url = new URL(req.url, `http://${req.headers.host}`);
  const reply = (status, value) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(value));
  };

  if (url.pathname === "/__sent") return reply(200, sent.slice(Number(url.searchParams.get("since") ?? 0)));
  if (url.pathname === "/__webhook") return reply(200, webhook);
  if (url.pathname === "/__market" && req.method === "POST") {
    index = { ...index, ...JSON.parse(body) };
    console.log(`stand-in: Fear & Greed now ${index.rating} ${index.score}`);
    return reply(200, index);
  }
  const telegram = url.pathname.match(/^\/bot([^/]+)\/(\w+)$/)?.slice(1);
  if (telegram?.[1] === "sendMessage") {
    const message = JSON.parse(body);
    sent.push(message);
    console.log(`bot → ${message.chat_id}:\n${message.text}\n`);
    return reply(200, { ok: true, result: { message_id: sent.length } });
  }
  if (telegram?.[1] === "setWebhook") {
    // Like Telegram: setting the same webhook again is fine and answers the same.
    webhook = { bot: decodeURIComponent(telegram[0]), ...JSON.parse(body) };
    console.log(`stand-in: webhook set to ${webhook.url} for ${(webhook.allowed_updates ?? ["the default updates"]).join(", ")}`);
    return reply(200, { ok: true, result: true, description: "Webhook was set" });
  }
  if (telegram?.[1] === "getChat") {
    const { chat_id } = JSON.parse(body);
    return reply(200, { ok: true, result: { id: chat_id, type: "private", first_name: "Local", last_name: `User ${chat_id}` } });
  }
  if (url.pathname === "/index/fearandgreed/current") return reply(200, fearGreedBody(index));
  const chart = url.pathname.match(/^\/v8\/finance\/chart\/([^/]+)$/);
  if (chart) {
    const ticker = decodeURIComponent(chart[1]);
    if (ticker === "NOTREAL") {
      return reply(404, { chart: { result: null, error: { code: "Not Found", description: "No data found, symbol may be delisted" } } });
    }
    return reply(200, cannedChart(ticker, Number(url.searchParams.get("period2"))));
  }
  console.log(`stand-in: no answer for ${req.method} ${url.pathname}`);
  return reply(404, { ok: false, description: "Not Found" });
});

server.listen(port, "127.0.0.1", () =>
  console.log(`stand-in for Telegram, CNN and Yahoo on http://127.0.0.1:${port} (index: ${index.rating} ${index.score})`),
);
